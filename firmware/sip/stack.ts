import dgram, { createSocket, type Socket } from 'node:dgram';
import net, { createServer, isIPv4, isIPv6, type Server } from 'node:net';
import tls from 'node:tls';
import sip from './vendor/sip.js';
import type { Message, Remote, Uri } from './vendor/sip.js';
import type { Logger } from '../log.ts';
import { DropLog, ERROR_ANSWER_LIMITS, REQUEST_LIMITS, SourceRateLimit, TokenBucket, UNTRUSTED_LIMITS } from './rate-limit.ts';
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
  /** What goes into Via and Warning. */
  publicAddress: string;
  /** The box's address for a peer at this address (its IPv6 address for IPv6 peers when bound to both families); default: publicAddress. */
  addressFor?: (remote: string) => string;
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
    private readonly udp: Socket,
    /** 6: the UDP socket is IPv6 (dual-stack when bound to ::), and reaches IPv4 peers v4-mapped. */
    private readonly family: 4 | 6,
    private readonly reporter: NodeJS.Timeout,
    /** Connections (by flowKey) that calls still need, with how many calls hold each. */
    private readonly held: Map<string, number>,
  ) {}

  /**
   * Binds UDP and TCP on the port, and TLS on its own when given. A taken or forbidden port is reported as an Error naming it,
   * instead of the unhandled 'error' event with which the package would take the process down.
   */
  static async start(opts: TransportOptions, onRequest: (rq: Message, remote: Remote, wire: Wire | null) => void): Promise<SipTransport> {
    // The box's own sockets, bound before anything else: a taken port is reported here, naming it.
    const family = isIPv6(opts.bind) ? 6 : 4;
    const socket = await bindUdp(opts.bind, opts.port);
    const servers: Server[] = [];
    try {
      servers.push(await listenStream(createServer(), opts.bind, opts.port, 'SIP port'));
      if (opts.tls) servers.push(await listenStream(tls.createServer({ cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' }), opts.bind, opts.tls.port, 'SIP TLS port', '--sip-tls-port'));
    } catch (e) {
      socket.close();
      for (const s of servers) s.close();
      throw e;
    }
    const [tcp, tlsServer] = servers as [Server, tls.Server | undefined];
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
    const addressFor = opts.addressFor ?? (() => opts.publicAddress);
    const warnAgent = sip.hostText(opts.publicAddress);
    const held = new Map<string, number>();
    const idleMs = opts.idleMs ?? 120_000;
    const core = new TransactionCore({
      transport: {
        udp: socket,
        udpFamily: family,
        tcp,
        tls: tlsServer,
        tlsConnect: opts.tls ? { cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' } : undefined,
        // Over TLS the Via names the TLS port; the host is the box's address in the peer's family.
        via: (target, protocol) => ({ host: addressFor(sip.plainAddress(target.address)), port: protocol === 'TLS' && opts.tls ? opts.tls.port : opts.port }),
        onStream: (sock, protocol, incoming) => watchStream(sock, protocol.toLowerCase(), incoming),
      },
      onParsed: () => {
        accepted = true;
      },
      // UDP datagrams were limited before parsing; requests over a connection are limited here, before a transaction.
      admit: (remote) => remote.protocol === 'UDP' || admitted(remote, null),
      onError: (e: unknown) => log.warn('sip stack error', { err: e }),
      onRequest: (rq, remote) => onRequest(rq, remote, remote.protocol === 'UDP' ? wire : null),
    });
    /**
     * A connection idle this long is closed unless a call holds it: the box's BYE goes over it, and the phone's
     * source port behind it cannot be reached otherwise. What phones send is framed before the package reads it.
     */
    function watchStream(sock: net.Socket, protocol: string, incoming: boolean): void {
      const key = flowKey(protocol, sip.plainAddress(sock.remoteAddress), sock.remotePort ?? 0);
      sock.setTimeout(idleMs);
      sock.on('timeout', () => {
        if (held.has(key)) sock.setTimeout(idleMs);
        else sock.destroy();
      });
      if (!incoming) return;
      const framing = new StreamFraming();
      sock.on('data', (chunk: string | Buffer) => {
        const bad = framing.push(typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
        if (!bad) return;
        const source = `${protocol}:${sip.plainAddress(sock.remoteAddress)}:${sock.remotePort}`;
        log.warn('closing a SIP connection whose Content-Length cannot be trusted', { source });
        const text = statelessResponse(bad, 400, 'Bad Request', `399 ${warnAgent} "Content-Length is invalid or repeated"`, crypto.randomUUID().slice(0, 8));
        if (text) sock.end(text, 'latin1');
        else sock.end();
        setTimeout(() => sock.destroy(), 1000).unref();
      });
    }
    socket.on('message', (buf: Buffer, from: dgram.RemoteInfo) => {
      const rinfo = { ...from, address: sip.plainAddress(from.address) };
      // Before any parsing: a flood from one address costs a map lookup per datagram.
      if (!admitted({ protocol: 'UDP', ...rinfo }, buf)) return;
      accepted = false;
      const raw = splitRequest(buf);
      const verdict = raw ? checkRequest(raw) : null;
      wire = { raw, verdict };
      core.receive(buf, rinfo);
      wire = null;
      if (accepted) return;
      dropped.note('invalid', { protocol: 'UDP', ...rinfo }, buf);
      if (!raw || !errorAnswers.take(rinfo.address)) return;
      const why = verdict ?? { status: 400, reason: 'the message could not be parsed' };
      const text = statelessResponse(raw, why.status, why.status === 400 ? 'Bad Request' : 'Not Implemented', `399 ${warnAgent} "${why.reason}"`, crypto.randomUUID().slice(0, 8));
      if (text) socket.send(Buffer.from(text, 'latin1'), from.port, from.address);
    });
    // Without listeners these errors would be unhandled 'error' events that end the process.
    socket.on('error', (e) => log.error('SIP UDP socket error', { err: e }));
    tcp.on('error', (e) => log.error('SIP TCP server error', { err: e }));
    tlsServer?.on('error', (e) => log.error('SIP TLS server error', { err: e }));
    // A phone that refuses the certificate, or a scan, ends in a failed handshake: no fault of the box.
    tlsServer?.on('tlsClientError', (e: Error, sock: tls.TLSSocket) => log.debug('SIP TLS handshake failed', { source: `${sip.plainAddress(sock.remoteAddress)}:${sock.remotePort}`, err: e.message }));
    // Checked every second, so a period's summary comes within a second of its end.
    const reporter = setInterval(() => dropped.reportIfDue(), 1000);
    reporter.unref();
    // A burst of REGISTERs overflows the default 208 KB receive buffer long before the CPU is busy.
    try {
      socket.setRecvBufferSize(UDP_RECEIVE_BUFFER);
    } catch (e) {
      log.debug('could not enlarge the SIP receive buffer', { err: e });
    }
    return new SipTransport(core, log, socket, family, reporter, held);
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
    if (!text || remote.protocol !== 'UDP') return false;
    const address = this.family === 6 && isIPv4(remote.address) ? `::ffff:${remote.address}` : remote.address;
    this.udp.send(Buffer.from(text, 'latin1'), remote.port, address);
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
  request(rq: Message, flow: Remote, onResponse: (rs: Message) => void): Message | null {
    try {
      return this.core.request(rq, flow, onResponse);
    } catch (e) {
      this.log.warn('could not send request', { err: e, method: rq.method });
      onResponse({ status: 503, reason: 'Service Unavailable', headers: {} });
      return null;
    }
  }

  /** Cancels an INVITE of the box's that has no final answer yet (sent: what request() returned for it). */
  cancel(sent: Message, flow: Remote): void {
    try {
      this.core.cancel(sent, flow);
    } catch (e) {
      this.log.warn('could not send CANCEL', { err: e });
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
export const hostText = sip.hostText;
export const plainAddress = sip.plainAddress;
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

/** The box's SIP UDP socket, bound; an IPv6 one bound to :: takes IPv4 peers as well. */
function bindUdp(bind: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createSocket({ type: isIPv6(bind) ? 'udp6' : 'udp4', ipv6Only: false });
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      reject(new Error(`SIP port ${port}/udp on ${bind} cannot be used: ${portProblem(e)}`));
    });
    s.bind(port, bind, () => {
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}

/** A TCP or TLS server listening on the port. */
function listenStream<S extends Server>(s: S, bind: string, port: number, what: string, option?: string): Promise<S> {
  return new Promise((resolve, reject) => {
    s.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`${what} ${port}/tcp on ${bind} cannot be used${option ? ` (${option})` : ''}: ${portProblem(e)}`)));
    s.listen({ port, host: bind, ipv6Only: false }, () => {
      s.removeAllListeners('error');
      resolve(s);
    });
  });
}

export function portProblem(e: NodeJS.ErrnoException): string {
  if (e.code === 'EADDRINUSE') return 'another program is using it';
  if (e.code === 'EACCES') return 'permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)';
  if (e.code === 'EADDRNOTAVAIL') return 'the address is not one of this machine\'s';
  return e.message;
}
