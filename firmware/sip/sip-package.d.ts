// Types for the parts of the `sip` package (node-sip 0.0.6) that firmware/sip/stack.ts uses.
declare module 'sip' {
  export interface Uri {
    schema?: string;
    user?: string;
    password?: string;
    host?: string;
    port?: number;
    params: Record<string, string | null | undefined>;
    headers?: Record<string, string>;
  }
  export interface NameAddr {
    name?: string;
    uri: string;
    params: Record<string, string | null | undefined>;
  }
  export interface Via {
    version?: string;
    protocol?: string;
    host?: string;
    port?: number;
    params: Record<string, string | number | null | undefined>;
  }
  export interface Headers {
    via?: Via[];
    to?: NameAddr;
    from?: NameAddr;
    'call-id'?: string;
    cseq?: { seq: number; method: string };
    contact?: NameAddr[] | '*';
    route?: NameAddr[];
    'record-route'?: NameAddr[];
    'content-length'?: number;
    authorization?: Array<{ scheme: string; [k: string]: string }>;
    'proxy-authorization'?: Array<{ scheme: string; [k: string]: string }>;
    [name: string]: unknown;
  }
  export interface Message {
    method?: string;
    uri?: string;
    status?: number;
    reason?: string;
    version?: string;
    headers: Headers;
    content?: string;
  }
  export interface Remote {
    protocol: string;
    address: string;
    port: number;
    local: { address: string; port: number };
  }
  export interface Stack {
    send(m: Message, cb?: (rs: Message) => void): void;
    destroy(): void;
    encodeFlowUri(flow: Remote): Uri;
    hostname(): string;
  }
  /** One connection or datagram path to a remote, as the package's transports hand it out. */
  export interface Connection {
    send(m: Message): void;
    release(): void;
    protocol: string;
  }
  export interface Transport {
    open(target: Remote, onError?: (e: unknown) => void): Connection;
    get(target: Remote, onError?: (e: unknown) => void): Connection | undefined;
    destroy(): void;
  }
  export interface ServerTransaction {
    send(m: Message): void;
    message?(m: Message, remote?: Remote): void;
    shutdown(): void;
  }
  export interface ClientTransaction {
    message(m: Message, remote?: Remote): void;
    shutdown(): void;
  }
  export interface TransactionLayer {
    createServerTransaction(rq: Message, cn: Connection | undefined): ServerTransaction;
    createClientTransaction(cn: Connection, rq: Message, onResponse: (rs: Message) => void): ClientTransaction;
    getServer(m: Message): ServerTransaction | undefined;
    getClient(m: Message): ClientTransaction | undefined;
    destroy(): void;
  }
  export function makeTransport(options: Record<string, unknown>, onMessage: (m: Message, remote: Remote) => void): Transport;
  export function makeTransactionLayer(options: Record<string, unknown>, open: Transport['open']): TransactionLayer;
  export function create(options: Record<string, unknown>, onRequest: (rq: Message, remote: Remote) => void): Stack;
  export function makeResponse(rq: Message, status: number, reason?: string, ext?: { headers?: Record<string, unknown>; content?: string }): Message;
  export function parse(s: string | Buffer): Message | undefined;
  export function stringify(m: Message): string;
  export function parseUri(s: string | Uri): Uri | undefined;
  export function stringifyUri(u: Uri | string): string;
  export function generateBranch(): string;
  const sip: {
    create: typeof create;
    makeTransport: typeof makeTransport;
    makeTransactionLayer: typeof makeTransactionLayer;
    makeResponse: typeof makeResponse;
    parse: typeof parse;
    stringify: typeof stringify;
    parseUri: typeof parseUri;
    stringifyUri: typeof stringifyUri;
    generateBranch: typeof generateBranch;
  };
  export default sip;
}
