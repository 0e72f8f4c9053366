// Types of the patched copy of the `sip` package (node-sip 0.0.6) beside this file.
import type { Server } from 'node:net';
import type { Socket as UdpSocket } from 'node:dgram';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import type { Socket as NetSocket } from 'node:net';

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
/** One connection or datagram path to a remote, as the package's transports hand it out. */
export interface Connection {
  send(m: Message): void;
  release(): void;
  protocol: string;
}
export interface Transport {
  open(target: Remote, onError?: (e: unknown) => void): Connection;
  get(target: Remote, onError?: (e: unknown) => void): Connection | undefined;
  /** Hands the transport a UDP datagram the box has admitted. */
  receive(data: Buffer, rinfo: { address: string; port: number }): void;
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
export interface TransportOptions {
  /** The box's bound UDP socket, and its family (6: dual-stack, IPv4 peers are reached v4-mapped). */
  udp?: UdpSocket;
  udpFamily?: 4 | 6;
  /** The box's listening TCP and TLS servers. */
  tcp?: Server;
  tls?: Server;
  /** Options of the TLS connections the box opens. */
  tlsConnect?: ConnectionOptions;
  /** Host and port for the Via of a request sent to target over protocol. */
  via(target: Remote, protocol: string): { host: string; port: number };
  /** Each new stream, accepted (incoming) or opened, before the transport reads from it. */
  onStream?(stream: NetSocket | TLSSocket, protocol: string, incoming: boolean): void;
  rport?: boolean;
  maxBytesHeaders?: number;
  maxContentLength?: number;
}
export function makeTransport(options: TransportOptions, onMessage: (m: Message, remote: Remote) => void): Transport;
export function makeTransactionLayer(options: Record<string, unknown>): TransactionLayer;
export function makeResponse(rq: Message, status: number, reason?: string, ext?: { headers?: Record<string, unknown>; content?: string }): Message;
export function parse(s: string | Buffer): Message | undefined;
export function stringify(m: Message): string;
export function parseUri(s: string | Uri): Uri | undefined;
export function stringifyUri(u: Uri | string): string;
export function generateBranch(): string;
/** An IPv4 peer seen through a dual-stack socket (::ffff:a.b.c.d) as its plain IPv4 address. */
export function plainAddress(address: string | undefined): string;
/** A host as written in a URI or Via: IPv6 addresses in brackets. */
export function hostText(host: string): string;
declare const sip: {
  makeTransport: typeof makeTransport;
  makeTransactionLayer: typeof makeTransactionLayer;
  makeResponse: typeof makeResponse;
  parse: typeof parse;
  stringify: typeof stringify;
  parseUri: typeof parseUri;
  stringifyUri: typeof stringifyUri;
  generateBranch: typeof generateBranch;
  plainAddress: typeof plainAddress;
  hostText: typeof hostText;
};
export default sip;
