import dgram, { createSocket, type Socket } from 'node:dgram';
import net, { createServer, isIPv6, type Server } from 'node:net';
import tls from 'node:tls';
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
  /** Sources that are never rate-limited: the trusted peers (over the transports they are trusted on), which carry the calls of a whole office. */
  trusted?: (address: string, protocol: string) => boolean;
  /** SIP over TLS on its own port, with this certificate; null: UDP and TCP only. */
  tls: { port: number; cert: Buffer; key: Buffer } | null;
  /** A TCP or TLS connection idle this long is closed unless a call holds it (keepOpen); default 120 s. */
  idleMs?: number;
}

export class SipTransport {
  private constructor(
    private readonly core: TransactionCore,
    private readonly log: Logger,
    private readonly udp: Socket[],
    private readonly reporter: NodeJS.Timeout,
    /** Connections (by flowKey) that calls still need, with how many calls hold each. */
    private readonly held: Map<string, number>,
  ) {}

  /**
   * Binds UDP and TCP on the port, and TLS on its own when given. A taken or forbidden port is reported as an Error naming it,
   * instead of the unhandled 'error' event with which the package would take the process down.
   */
  static async start(opts: TransportOptions, onRequest: (rq: Message, remote: Remote, wire: Wire | null) => void): Promise<SipTransport> {
    await probeUdp(opts.bind, opts.port);
    await probeTcp(opts.bind, opts.port, 'SIP port');
    if (opts.tls) await probeTcp(opts.bind, opts.tls.port, 'SIP TLS port', '--sip-tls-port');
    const log = opts.log;
    // The package parses each datagram synchronously and reports what it accepted (onParsed) before dispatching it.
    let accepted = false;
    let wire: Wire | null = null;
    const trusted = opts.trusted ?? (() => false);
    const requests = new SourceRateLimit(REQUEST_LIMITS);
    const untrusted = new TokenBucket(UNTRUSTED_LIMITS, Date.now());
    /** Whether a request from this address is taken on, noting it when not. */
    const admitted = (remote: { protocol: string; address: string; port: number }, buf: Buffer | null): boolean => {
      if (trusted(remote.address, remote.protocol)) return true;
      if (!requests.take(remote.address)) dropped.note('rate', remote, buf);
      else if (!untrusted.take(Date.now())) dropped.note('busy', remote, buf);
      else return true;
      return false;
    };
    const errorAnswers = new SourceRateLimit(ERROR_ANSWER_LIMITS);
    const dropped = new DropLog(log);
    const tlsPort = opts.tls?.port;
    const { result: core, udp, tcp, tlsServers } = capturingSockets(() => new TransactionCore({
      stack: {
        port: opts.port,
        address: opts.bind,
        publicAddress: opts.publicAddress,
        ...(opts.tls ? { tls: { cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, tls_port: opts.tls.port } : {}),
        logger: {
          // The package writes the UDP/TCP port into the Via of every request; over TLS it is the TLS port.
          send: (m: Message, target: { protocol?: string }) => {
            const via = m.method ? m.headers.via?.[0] : undefined;
            if (via && tlsPort && String(target.protocol).toUpperCase() === 'TLS') via.port = tlsPort;
          },
        },
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
    for (const s of tlsServers) s.on('error', (e) => log.error('SIP TLS server error', { err: e }));
    // A phone that refuses the certificate, or a scan, ends in a failed handshake: no fault of the box.
    for (const s of tlsServers) s.on('tlsClientError', (e: Error, sock: tls.TLSSocket) => log.debug('SIP TLS handshake failed', { source: `${sock.remoteAddress}:${sock.remotePort}`, err: e.message }));
    const held = new Map<string, number>();
    const streams: ReadonlyArray<readonly [Server, string, 'connection' | 'secureConnection']> = [...tcp.map((s) => [s, 'tcp', 'connection'] as const), ...tlsServers.map((s) => [s, 'tls', 'secureConnection'] as const)];
    for (const [s, protocol, event] of streams) {
      s.on(event, (sock: net.Socket) => {
        // The package closes a connection after 120 s without data. One that carries a call stays open until the
        // call ends: the box's BYE goes over it, and the phone's source port behind it cannot be reached otherwise.
        const key = flowKey(protocol, sock.remoteAddress ?? '', sock.remotePort ?? 0);
        const idleMs = opts.idleMs ?? 120_000;
        sock.removeAllListeners('timeout');
        sock.setTimeout(idleMs);
        sock.on('timeout', () => {
          if (held.has(key)) sock.setTimeout(idleMs);
          else sock.destroy();
        });
        const framing = new StreamFraming();
        sock.prependListener('data', (chunk: string | Buffer) => {
          const bad = framing.push(typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
          if (!bad) return;
          const source = `${protocol}:${sock.remoteAddress}:${sock.remotePort}`;
          log.warn('closing a SIP connection whose Content-Length cannot be trusted', { source });
          const text = statelessResponse(bad, 400, 'Bad Request', `399 ${opts.publicAddress} "Content-Length is invalid or repeated"`, crypto.randomUUID().slice(0, 8));
          if (text) sock.end(text, 'latin1');
          else sock.end();
          setTimeout(() => sock.destroy(), 1000).unref();
        });
      });
    }
    // "ready" must mean that phones get answers: wait until both sockets are bound.
    await Promise.all([...udp.map(({ socket }) => listening(socket)), ...tcp.map((s) => listening(s)), ...tlsServers.map((s) => listening(s))]);
    // A burst of REGISTERs overflows the default 208 KB receive buffer long before the CPU is busy.
    for (const { socket: s } of udp) {
      try {
        s.setRecvBufferSize(UDP_RECEIVE_BUFFER);
      } catch (e) {
        log.debug('could not enlarge the SIP receive buffer', { err: e });
      }
    }
    return new SipTransport(core, log, udp.map(({ socket }) => socket), reporter, held);
  }

  /** Keeps the TCP or TLS connection a call came over open until the returned function is called (once is enough). */
  keepOpen(flow: Remote): () => void {
    if (flow.protocol !== 'TCP' && flow.protocol !== 'TLS') return () => undefined;
    const key = flowKey(flow.protocol, flow.address, flow.port);
    this.held.set(key, (this.held.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.held.get(key) ?? 1) - 1;
      if (n > 0) this.held.set(key, n);
      else this.held.delete(key);
    };
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

  /** Acknowledges a 2xx to the box's own re-INVITE, to the same place the re-INVITE went. */
  ack(rq: Message, flow: Remote): void {
    try {
      this.core.ack(rq, flow);
    } catch (e) {
      this.log.warn('could not send ACK', { err: e });
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

function flowKey(protocol: string, address: string, port: number): string {
  return `${protocol.toUpperCase()} ${address} ${port}`;
}

/** A UDP socket the package made, and its parser: called by our own listener once a datagram passed the limits. */
interface PackageUdp {
  socket: Socket;
  parse: (buf: Buffer, rinfo: dgram.RemoteInfo) => void;
}

/** Runs fn and returns the UDP sockets (without the package's listener), TCP servers and TLS servers it created. */
function capturingSockets<T>(fn: () => T): { result: T; udp: PackageUdp[]; tcp: Server[]; tlsServers: Server[] } {
  const udp: PackageUdp[] = [];
  const tcp: Server[] = [];
  const tlsServers: Server[] = [];
  const origTls = tls.createServer;
  const t = tls as unknown as { createServer: (...a: unknown[]) => Server };
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
  t.createServer = (...a) => {
    const s = (origTls as (...x: unknown[]) => Server)(...a);
    tlsServers.push(s);
    return s;
  };
  try {
    return { result: fn(), udp, tcp, tlsServers };
  } finally {
    t.createServer = origTls as unknown as (...a: unknown[]) => Server;
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

function probeTcp(bind: string, port: number, what: string, option?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`${what} ${port}/tcp on ${bind} cannot be used${option ? ` (${option})` : ''}: ${portProblem(e)}`)));
    s.listen(port, bind, () => s.close(() => resolve()));
  });
}

export function portProblem(e: NodeJS.ErrnoException): string {
  if (e.code === 'EADDRINUSE') return 'another program is using it';
  if (e.code === 'EACCES') return 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)';
  if (e.code === 'EADDRNOTAVAIL') return 'the address is not one of this machine\'s';
  return e.message;
}
