/**
 * Overload control: the box refuses new calls (503 with Retry-After) before it saturates, so that the calls it has
 * keep their signalling on time and its own health checks stay truthful. Two signs of saturation are watched: how
 * late its event loop runs (the p99 of the loop's delay over each half second, from node:perf_hooks), and how many
 * calls are being set up at once. Refusing starts when the delay passes SHED_ABOVE_MS and stops once it is back
 * under RESUME_BELOW_MS, so that the box does not flap at the edge; a late loop refuses calls only while several are
 * being set up (it is their setup that makes it late): a flood of junk datagrams, which the rate limits deal with,
 * must not turn into the box refusing the office's calls.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from '../log.ts';
import type { Status } from '../status.ts';

export const SHED_ABOVE_MS = 150;
export const RESUME_BELOW_MS = 50;
export const WINDOW_MS = 500;
/** Calls being set up at once beyond which new ones are refused (each holds a transaction, a leg and a database round trip). */
export const MAX_CALLS_IN_SETUP = 200;
/** Calls being set up at once from which a late loop is taken for setup load. */
export const SETUP_LOAD = 10;
/** What a refused caller (or its PBX) is told to wait before trying again. */
export const OVERLOAD_RETRY_AFTER_S = 5;

export interface OverloadOptions {
  log: Logger;
  status: Status;
  /** The p99 event-loop delay of the last window in ms; default: measured with monitorEventLoopDelay. */
  delaySampler?: () => number;
}

export class Overload {
  private shedding = false;
  private lateMs = 0;
  private timer: NodeJS.Timeout | null = null;
  private histogram: IntervalHistogram | null = null;

  constructor(private readonly o: OverloadOptions) {}

  start(): void {
    if (this.timer) return;
    let sampler = this.o.delaySampler;
    if (!sampler) {
      const h = monitorEventLoopDelay({ resolution: 10 });
      h.enable();
      this.histogram = h;
      sampler = () => {
        const p99 = h.percentile(99) / 1e6;
        h.reset();
        return p99;
      };
    }
    const sample = sampler;
    this.timer = setInterval(() => this.sample(sample()), WINDOW_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.histogram?.disable();
    this.histogram = null;
  }

  /** One window's p99 loop delay, in ms. */
  sample(delayMs: number): void {
    this.lateMs = delayMs;
    if (!this.shedding && delayMs > SHED_ABOVE_MS) {
      this.shedding = true;
      this.o.log.warn('the box is overloaded: new calls are refused with 503 until it catches up', { eventLoopDelayMs: Math.round(delayMs) });
      this.o.status.set({ overloaded: true });
    } else if (this.shedding && delayMs < RESUME_BELOW_MS) {
      this.shedding = false;
      this.o.log.info('the box caught up: new calls are taken again', { eventLoopDelayMs: Math.round(delayMs), refused: this.o.status.get().overloadRefusals });
      this.o.status.set({ overloaded: false });
    }
  }

  /** Why a new call is refused now (counted), or null when the box takes it. */
  refusal(callsInSetup: number): string | null {
    let why: string | null = null;
    if (this.shedding && callsInSetup >= SETUP_LOAD) why = `the box is overloaded (its event loop runs ${Math.round(this.lateMs)} ms late): try again in a few seconds`;
    else if (callsInSetup >= MAX_CALLS_IN_SETUP) why = `the box is overloaded (${callsInSetup} calls are being set up): try again in a few seconds`;
    if (why) this.o.status.set({ overloadRefusals: this.o.status.get().overloadRefusals + 1 });
    return why;
  }
}
