import dgram, { createSocket, type Socket } from 'node:dgram';
import net, { createServer, isIPv6, type Server } from 'node:net';
import tls from 'node:tls';
import sip from 'sip';
import type { Message, Remote, Stack, Uri } from 'sip';
import type { Logger } from '../log.ts';
import { checkRequest, splitRequest, statelessResponse, StreamFraming, type RawRequest, type WireVerdict } from './wire.ts';

export type { WireVerdict };

const UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;

/** What the raw bytes of a UDP request said, beside the package's parse of it. */
export interface Wire {
  verdict: WireVerdict | null;
  raw: RawRequest | null;
}

export type { Message, Remote, Uri };

/** The only module that touches the `sip` package; everything else sees plain messages. */
export interface TransportOptions {
  port: number;
  bind: string;
  /** What goes into Via; the stack also uses it as its own identity for flow tokens. */
  publicAddress: string;
  /** SIP over TLS on its own port, with this certificate; null: UDP and TCP only. */
  tls: { port: number; cert: Buffer; key: Buffer } | null;
  log: Logger;
  /** A TCP or TLS connection idle this long is closed unless a call holds it (keepOpen); default 120 s. */
  idleMs?: number;
}

export class SipTransport {
  private constructor(
    private readonly stack: Stack,
    private readonly log: Logger,
    private readonly udp: Socket[],
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
    // The package parses each datagram synchronously in its own 'message' listener and calls
    // logger.recv for what it accepts; a listener added after it therefore sees what it dropped.
    let accepted = false;
    let wire: Wire | null = null;
    const tlsPort = opts.tls?.port;
    const { result: stack, udp, tcp, tlsServers } = capturingSockets(() => sip.create(
      {
        port: opts.port,
        address: opts.bind,
        // Also the stack's own identity: requests to it are decoded as flow tokens (see request()).
        publicAddress: opts.publicAddress,
        ...(opts.tls ? { tls: { cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }, tls_port: opts.tls.port } : {}),
        logger: {
          error: (e: unknown) => log.warn('sip stack error', { err: e }),
          recv: () => {
            accepted = true;
          },
          // The package writes the UDP/TCP port into the Via of every request; over TLS it is the TLS port.
          send: (m: Message, target: { protocol?: string }) => {
            const via = m.method ? m.headers.via?.[0] : undefined;
            if (via && tlsPort && String(target.protocol).toUpperCase() === 'TLS') via.port = tlsPort;
          },
        },
      },
      (rq, remote) => onRequest(rq, remote, remote.protocol === 'UDP' ? wire : null),
    ));
    const dropped = new DropLog(log);
    for (const s of udp) {
      // Runs before the package's listener: judges the raw bytes the package is about to parse.
      s.prependListener('message', (buf: Buffer) => {
        accepted = false;
        const raw = splitRequest(buf);
        wire = { raw, verdict: raw ? checkRequest(raw) : null };
      });
      s.on('message', (buf: Buffer, rinfo: { address: string; port: number }) => {
        if (accepted) return;
        dropped.note(`udp:${rinfo.address}:${rinfo.port}`, buf);
        // The same datagram the first listener judged: reuse its reading.
        const req = wire?.raw;
        if (!req) return;
        const why = wire?.verdict ?? { status: 400, reason: 'the message could not be parsed' };
        const host = opts.publicAddress;
        const text = statelessResponse(req, why.status, why.status === 400 ? 'Bad Request' : 'Not Implemented', `399 ${host} "${why.reason}"`, crypto.randomUUID().slice(0, 8));
        if (text) s.send(Buffer.from(text, 'latin1'), rinfo.port, rinfo.address);
      });
    }
    // Without listeners these errors would be unhandled 'error' events that end the process.
    for (const s of udp) s.on('error', (e) => log.error('SIP UDP socket error', { err: e }));
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
    await Promise.all([...udp.map((s) => listening(s)), ...tcp.map((s) => listening(s)), ...tlsServers.map((s) => listening(s))]);
    // A burst of REGISTERs overflows the default 208 KB receive buffer long before the CPU is busy.
    for (const s of udp) {
      try {
        s.setRecvBufferSize(UDP_RECEIVE_BUFFER);
      } catch (e) {
        log.debug('could not enlarge the SIP receive buffer', { err: e });
      }
    }
    return new SipTransport(stack, log, udp, held);
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

  /** Answers a datagram outside the package's transactions (for requests it mangled). */
  respondStateless(raw: RawRequest, status: number, reasonPhrase: string, warning: string, remote: Remote): boolean {
    const text = statelessResponse(raw, status, reasonPhrase, warning, crypto.randomUUID().slice(0, 8));
    const socket = this.udp[0];
    if (!text || !socket || remote.protocol !== 'UDP') return false;
    socket.send(Buffer.from(text, 'latin1'), remote.port, remote.address);
    return true;
  }

  /** Sends a response through the server transaction of its request. */
  respond(rs: Message): void {
    try {
      this.stack.send(rs);
    } catch (e) {
      this.log.warn('could not send response', { err: e, status: rs.status });
    }
  }

  /**
   * Sends a request inside a dialog to where the dialog's peer last spoke from (its flow),
   * whatever its Contact says: that reaches phones behind NAT and avoids the package's self-address trap.
   */
  request(rq: Message, flow: Remote, onResponse: (rs: Message) => void): void {
    const route = this.stack.encodeFlowUri(flow);
    route.params.lr = null;
    rq.headers.route = [{ uri: sip.stringifyUri(route), params: {} }, ...(rq.headers.route ?? [])];
    try {
      this.stack.send(rq, onResponse);
    } catch (e) {
      this.log.warn('could not send request', { err: e, method: rq.method });
      onResponse({ status: 503, reason: 'Service Unavailable', headers: {} });
    }
  }

  stop(): void {
    try {
      this.stack.destroy();
    } catch (e) {
      this.log.debug('sip stack destroy', { err: e });
    }
  }
}

function flowKey(protocol: string, address: string, port: number): string {
  return `${protocol.toUpperCase()} ${address} ${port}`;
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

/** Runs fn and returns the UDP sockets, TCP servers and TLS servers it created. */
function capturingSockets<T>(fn: () => T): { result: T; udp: Socket[]; tcp: Server[]; tlsServers: Server[] } {
  const udp: Socket[] = [];
  const tcp: Server[] = [];
  const tlsServers: Server[] = [];
  const origUdp = dgram.createSocket;
  const origTcp = net.createServer;
  const origTls = tls.createServer;
  const d = dgram as unknown as { createSocket: (...a: unknown[]) => Socket };
  const n = net as unknown as { createServer: (...a: unknown[]) => Server };
  const t = tls as unknown as { createServer: (...a: unknown[]) => Server };
  d.createSocket = (...a) => {
    const s = (origUdp as (...x: unknown[]) => Socket)(...a);
    udp.push(s);
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
    d.createSocket = origUdp as unknown as (...a: unknown[]) => Socket;
    n.createServer = origTcp as unknown as (...a: unknown[]) => Server;
    t.createServer = origTls as unknown as (...a: unknown[]) => Server;
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

/** Logs dropped datagrams with their source, at most one line per source every 10 s. */
class DropLog {
  private last = new Map<string, number>();
  private suppressed = new Map<string, number>();

  constructor(private readonly log: Logger) {}

  note(source: string, buf: Buffer): void {
    const now = Date.now();
    const host = source.replace(/:\d+$/, '');
    if ((this.last.get(host) ?? 0) > now - 10_000) {
      this.suppressed.set(host, (this.suppressed.get(host) ?? 0) + 1);
      return;
    }
    if (this.last.size > 1000) this.last.clear();
    this.last.set(host, now);
    const more = this.suppressed.get(host) ?? 0;
    this.suppressed.delete(host);
    this.log.warn('dropped a SIP datagram that is not a valid message', {
      source, bytes: buf.length, start: buf.subarray(0, 40).toString('latin1').replace(/[^\x20-\x7e]/g, '.'), ...(more ? { alsoDropped: more } : {}),
    });
  }
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
