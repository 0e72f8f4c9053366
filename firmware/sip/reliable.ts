import type { Clock, Timer } from '../clock.ts';
import { headerText } from './auth.ts';
import { optionTags } from './session-timer.ts';
import type { Message } from './stack.ts';

/**
 * Reliable provisional responses (RFC 3262) for the early media the box sends: a caller that requires 100rel
 * gets its 183 with Require: 100rel and an RSeq, sent again at T1, 2*T1, 4*T1... until the caller's PRACK
 * acknowledges it, for at most 64*T1.
 */

const T1 = 500;
const GIVE_UP_MS = 64 * T1;

/** The caller cannot do without reliable provisional responses. */
export function requiresReliable(invite: Message): boolean {
  return optionTags(invite, 'require').includes('100rel');
}

/** RAck (RFC 3262 7.2): the RSeq acknowledged, and the CSeq number and method of the request it belongs to. */
export function parseRAck(rq: Message): { rseq: number; cseq: number; method: string } | null {
  const m = /^\s*(\d{1,10})\s+(\d{1,10})\s+([A-Za-z]+)\s*$/.exec(headerText(rq, 'rack') ?? '');
  return m ? { rseq: Number(m[1]), cseq: Number(m[2]), method: m[3]!.toUpperCase() } : null;
}

/** The first RSeq of a call: random, and small enough that it never wraps (RFC 3262 3). */
export function firstRSeq(): number {
  return 1 + Math.floor(Math.random() * 0x7fffffff);
}

/** One reliable provisional response in flight: sent, retransmitted, acknowledged or given up. */
export class ReliableProvisional {
  readonly rseq: number;
  private timer: Timer | null = null;
  private acked = false;
  private readonly started: number;
  private settle: () => void = () => undefined;
  /** Resolves when the PRACK came, the retransmissions gave up, or the response was stopped. */
  readonly settled = new Promise<void>((resolve) => {
    this.settle = resolve;
  });

  constructor(
    private readonly clock: Clock,
    private readonly send: (rs: Message) => void,
    private readonly rs: Message,
    rseq: number,
  ) {
    this.rseq = rseq;
    rs.headers.require = '100rel';
    rs.headers.RSeq = String(rseq);
    this.started = clock.now();
    send(rs);
    this.schedule(T1);
  }

  get acknowledged(): boolean {
    return this.acked;
  }

  /** A PRACK came: true when its RAck names this response (same RSeq, the INVITE's CSeq); retransmission stops. */
  prack(rack: { rseq: number; cseq: number; method: string }): boolean {
    const cseq = this.rs.headers.cseq;
    if (rack.rseq !== this.rseq || rack.method !== 'INVITE' || !cseq || rack.cseq !== cseq.seq) return false;
    this.acked = true;
    this.stop();
    return true;
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.settle();
  }

  private schedule(interval: number): void {
    if (this.clock.now() + interval - this.started >= GIVE_UP_MS) return this.settle();
    this.timer = this.clock.setTimeout(() => {
      if (this.acked) return;
      this.send(this.rs);
      this.schedule(interval * 2);
    }, interval);
  }
}
