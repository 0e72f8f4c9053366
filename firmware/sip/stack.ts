import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { isIPv6 } from 'node:net';
import sip from 'sip';
import type { Message, Remote, Stack, Uri } from 'sip';
import type { Logger } from '../log.ts';

export type { Message, Remote, Uri };

/** The only module that touches the `sip` package; everything else sees plain messages. */
export interface TransportOptions {
  port: number;
  bind: string;
  /** What goes into Via; the stack also uses it as its own identity for flow tokens. */
  publicAddress: string;
  log: Logger;
}

export class SipTransport {
  private constructor(private readonly stack: Stack, private readonly log: Logger) {}

  /**
   * Binds UDP and TCP on the port. A taken or forbidden port is reported as an Error naming it,
   * instead of the unhandled 'error' event with which the package would take the process down.
   */
  static async start(opts: TransportOptions, onRequest: (rq: Message, remote: Remote) => void): Promise<SipTransport> {
    await probeUdp(opts.bind, opts.port);
    await probeTcp(opts.bind, opts.port);
    const log = opts.log;
    const stack = sip.create(
      {
        port: opts.port,
        address: opts.bind,
        // Also the stack's own identity: requests to it are decoded as flow tokens (see request()).
        publicAddress: opts.publicAddress,
        logger: {
          error: (e: unknown) => log.warn('sip stack error', { err: e }),
        },
      },
      (rq, remote) => onRequest(rq, remote),
    );
    return new SipTransport(stack, log);
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

export const makeResponse = sip.makeResponse;
export const parseUri = (s: string): Uri | undefined => {
  try {
    return sip.parseUri(s);
  } catch {
    return undefined;
  }
};
export const stringifyUri = sip.stringifyUri;
export const parseMessage = sip.parse;
export const stringifyMessage = sip.stringify;
export const generateBranch = (): string => 'z9hG4bK' + crypto.randomUUID().replace(/-/g, '');

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
