import dgram, { createSocket, type Socket } from 'node:dgram';
import net, { createServer, isIPv6, type Server } from 'node:net';
import sip from 'sip';
import type { Message, Remote, Uri } from 'sip';
import type { Logger } from '../log.ts';
import { DropLog, ERROR_ANSWER_LIMITS, REPORT_MS, REQUEST_LIMITS, SourceRateLimit, TokenBucket, UNTRUSTED_LIMITS } from './rate-limit.ts';
import { TransactionCore } from './transactions.ts';
import { checkRequest, splitRequest, statelessResponse, StreamFraming, type RawRequest, type WireVerdict } from './wire.ts';

export type { WireVerdict };

const UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;

/** What the raw bytes of a UDP request said, beside the package's parse of it. */
export interface Wire {
  verdict: WireVerdict | null;
  raw: RawRequest | null;
}

export type { Message, Remote, Uri };

/** The only module that touches the `sip` package (with transactions.ts, its private part); everything else sees plain messages. */
export interface TransportOptions {
  port: number;
  bind: string;
  /** What goes into Via. */
  publicAddress: string;
  log: Logger;
  /** Sources that are never rate-limited: the trusted peers, which carry the calls of a whole office. */
  trusted?: (address: string) => boolean;
}

export class SipTransport {
  private constructor(private readonly core: TransactionCore, private readonly log: Logger, private readonly udp: Socket[], private readonly reporter: NodeJS.Timeout) {}

  /**
   * Binds UDP and TCP on the port. A taken or forbidden port is reported as an Error naming it,
   * instead of the unhandled 'error' event with which the package would take the process down.
   */
  static async start(opts: TransportOptions, onRequest: (rq: Message, remote: Remote, wire: Wire | null) => void): Promise<SipTransport> {
    await probeUdp(opts.bind, opts.port);
    await probeTcp(opts.bind, opts.port);
    const log = opts.log;
    // The package parses each datagram synchronously and reports what it accepted (onParsed) before dispatching it.
    let accepted = false;
    let wire: Wire | null = null;
    const trusted = opts.trusted ?? (() => false);
    const requests = new SourceRateLimit(REQUEST_LIMITS);
    const untrusted = new TokenBucket(UNTRUSTED_LIMITS, Date.now());
    /** Whether a request from this address is taken on, noting it when not. */
    const admitted = (remote: { protocol: string; address: string; port: number }, buf: Buffer | null): boolean => {
      if (trusted(remote.address)) return true;
      if (!requests.take(remote.address)) dropped.note('rate', remote, buf);
      else if (!untrusted.take(Date.now())) dropped.note('busy', remote, buf);
      else return true;
      return false;
    };
    const errorAnswers = new SourceRateLimit(ERROR_ANSWER_LIMITS);
    const dropped = new DropLog(log);
    const { result: core, udp, tcp } = capturingSockets(() => new TransactionCore({
      stack: {
        port: opts.port,
        address: opts.bind,
        publicAddress: opts.publicAddress,
      },
      onParsed: () => {
        accepted = true;
      },
      // UDP datagrams were limited before parsing; requests over a connection are limited here, before a transaction.
      admit: (remote) => remote.protocol === 'UDP' || admitted(remote, null),
      onError: (e: unknown) => log.warn('sip stack error', { err: e }),
      onRequest: (rq, remote) => onRequest(rq, remote, remote.protocol === 'UDP' ? wire : null),
    }));
    const reporter = setInterval(() => dropped.report(), REPORT_MS);
    reporter.unref();
    for (const { socket: s, parse } of udp) {
      s.on('message', (buf: Buffer, rinfo: dgram.RemoteInfo) => {
        // Before any parsing: a flood from one address costs a map lookup per datagram.
        if (!admitted({ protocol: 'UDP', ...rinfo }, buf)) return;
        accepted = false;
        const raw = splitRequest(buf);
        const verdict = raw ? checkRequest(raw) : null;
        wire = { raw, verdict };
        parse(buf, rinfo);
        wire = null;
        if (accepted) return;
        dropped.note('invalid', { protocol: 'UDP', ...rinfo }, buf);
        if (!raw || !errorAnswers.take(rinfo.address)) return;
        const why = verdict ?? { status: 400, reason: 'the message could not be parsed' };
        const host = opts.publicAddress;
        const text = statelessResponse(raw, why.status, why.status === 400 ? 'Bad Request' : 'Not Implemented', `399 ${host} "${why.reason}"`, crypto.randomUUID().slice(0, 8));
        if (text) s.send(Buffer.from(text, 'latin1'), rinfo.port, rinfo.address);
      });
    }
    // Without listeners these errors would be unhandled 'error' events that end the process.
    for (const { socket: s } of udp) s.on('error', (e) => log.error('SIP UDP socket error', { err: e }));
    for (const s of tcp) s.on('error', (e) => log.error('SIP TCP server error', { err: e }));
    for (const s of tcp) {
      s.on('connection', (sock: net.Socket) => {
        const framing = new StreamFraming();
        sock.prependListener('data', (chunk: string | Buffer) => {
          const bad = framing.push(typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
          if (!bad) return;
          const source = `tcp:${sock.remoteAddress}:${sock.remotePort}`;
          log.warn('closing a SIP connection whose Content-Length cannot be trusted', { source });
          const text = statelessResponse(bad, 400, 'Bad Request', `399 ${opts.publicAddress} "Content-Length is invalid or repeated"`, crypto.randomUUID().slice(0, 8));
          if (text) sock.end(text, 'latin1');
          else sock.end();
          setTimeout(() => sock.destroy(), 1000).unref();
        });
      });
    }
    // "ready" must mean that phones get answers: wait until both sockets are bound.
    await Promise.all([...udp.map(({ socket }) => listening(socket)), ...tcp.map((s) => listening(s))]);
    // A burst of REGISTERs overflows the default 208 KB receive buffer long before the CPU is busy.
    for (const { socket: s } of udp) {
      try {
        s.setRecvBufferSize(UDP_RECEIVE_BUFFER);
      } catch (e) {
        log.debug('could not enlarge the SIP receive buffer', { err: e });
      }
    }
    return new SipTransport(core, log, udp.map(({ socket }) => socket), reporter);
  }

  /** Answers a datagram outside the package's transactions (for requests it mangled); its transaction is let go. */
  respondStateless(rq: Message, raw: RawRequest, status: number, reasonPhrase: string, warning: string, remote: Remote): boolean {
    const text = statelessResponse(raw, status, reasonPhrase, warning, crypto.randomUUID().slice(0, 8));
    const socket = this.udp[0];
    if (!text || !socket || remote.protocol !== 'UDP') return false;
    socket.send(Buffer.from(text, 'latin1'), remote.port, remote.address);
    this.core.forget(rq);
    return true;
  }

  /** Sends a response through the server transaction of its request. */
  respond(rs: Message): void {
    try {
      this.core.respond(rs);
    } catch (e) {
      this.log.warn('could not send response', { err: e, status: rs.status });
    }
  }

  /**
   * Sends a request inside a dialog to where the dialog's peer last spoke from (its flow),
   * whatever its Contact says: that reaches phones behind NAT and avoids the package's self-address trap.
   */
  request(rq: Message, flow: Remote, onResponse: (rs: Message) => void): void {
    try {
      this.core.request(rq, flow, onResponse);
    } catch (e) {
      this.log.warn('could not send request', { err: e, method: rq.method });
      onResponse({ status: 503, reason: 'Service Unavailable', headers: {} });
    }
  }

  stop(): void {
    clearInterval(this.reporter);
    try {
      this.core.destroy();
    } catch (e) {
      this.log.debug('sip stack destroy', { err: e });
    }
  }
}

export const makeResponse = sip.makeResponse;
export const parseUri = (s: string): Uri | undefined => {
  try {
    return sip.parseUri(s);
  } catch {
    return undefined;
  }
};
export const stringifyUri = sip.stringifyUri;

/** A UDP socket the package made, and its parser: called by our own listener once a datagram passed the limits. */
interface PackageUdp {
  socket: Socket;
  parse: (buf: Buffer, rinfo: dgram.RemoteInfo) => void;
}

/** Runs fn and returns the UDP sockets (without the package's listener) and TCP servers it created. */
function capturingSockets<T>(fn: () => T): { result: T; udp: PackageUdp[]; tcp: Server[] } {
  const udp: PackageUdp[] = [];
  const tcp: Server[] = [];
  const origUdp = dgram.createSocket;
  const origTcp = net.createServer;
  const d = dgram as unknown as { createSocket: (...a: unknown[]) => Socket };
  const n = net as unknown as { createServer: (...a: unknown[]) => Server };
  d.createSocket = (type: unknown, listener?: unknown) => {
    const s = (origUdp as (...x: unknown[]) => Socket)(type);
    udp.push({ socket: s, parse: typeof listener === 'function' ? (listener as PackageUdp['parse']) : () => undefined });
    return s;
  };
  n.createServer = (...a) => {
    const s = (origTcp as (...x: unknown[]) => Server)(...a);
    tcp.push(s);
    return s;
  };
  try {
    return { result: fn(), udp, tcp };
  } finally {
    d.createSocket = origUdp as unknown as (...a: unknown[]) => Socket;
    n.createServer = origTcp as unknown as (...a: unknown[]) => Server;
  }
}

function listening(s: Socket | Server): Promise<void> {
  return new Promise((resolve, reject) => {
    const isUdp = 'send' in s;
    try {
      if (isUdp) {
        (s as Socket).address();
        return resolve();
      }
      if ((s as Server).listening) return resolve();
    } catch {
      // not bound yet
    }
    s.once('listening', () => resolve());
    s.once('error', reject);
  });
}

function probeUdp(bind: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createSocket(isIPv6(bind) ? 'udp6' : 'udp4');
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      reject(new Error(`SIP port ${port}/udp on ${bind} cannot be used: ${portProblem(e)}`));
    });
    s.bind(port, bind, () => s.close(() => resolve()));
  });
}

function probeTcp(bind: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`SIP port ${port}/tcp on ${bind} cannot be used: ${portProblem(e)}`)));
    s.listen(port, bind, () => s.close(() => resolve()));
  });
}

export function portProblem(e: NodeJS.ErrnoException): string {
  if (e.code === 'EADDRINUSE') return 'another program is using it';
  if (e.code === 'EACCES') return 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)';
  if (e.code === 'EADDRNOTAVAIL') return 'the address is not one of this machine\'s';
  return e.message;
}
