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
  export function create(options: Record<string, unknown>, onRequest: (rq: Message, remote: Remote) => void): Stack;
  export function makeResponse(rq: Message, status: number, reason?: string, ext?: { headers?: Record<string, unknown>; content?: string }): Message;
  export function parse(s: string | Buffer): Message | undefined;
  export function stringify(m: Message): string;
  export function parseUri(s: string | Uri): Uri | undefined;
  export function stringifyUri(u: Uri | string): string;
  export function generateBranch(): string;
  const sip: {
    create: typeof create;
    makeResponse: typeof makeResponse;
    parse: typeof parse;
    stringify: typeof stringify;
    parseUri: typeof parseUri;
    stringifyUri: typeof stringifyUri;
    generateBranch: typeof generateBranch;
  };
  export default sip;
}
