import type { Logger } from '../log.ts';

/**
 * Limits on what source addresses may send to the SIP port, checked before a datagram is parsed,
 * so that a flood costs the box a map lookup per datagram and no memory that grows with it.
 */

export interface BucketLimits {
  /** Tokens added per second: the sustained rate. */
  perSecond: number;
  /** Bucket size: the burst a source may send at once. */
  burst: number;
}

/**
 * Requests per source address. A desk phone sends a few requests a minute; an office NAT address with
 * a few hundred phones behind it sends a registration burst of a few hundred after a power cut, and a few
 * requests a second at the busiest hour. 200 a second with bursts of 1000 leaves such an address untouched,
 * while one address cannot make the box parse thousands a second. Trusted peers (the office PBX, which
 * carries every call of its phones) are not limited at all.
 */
export const REQUEST_LIMITS: BucketLimits = { perSecond: 200, burst: 1000 };
/**
 * Stateless error answers to datagrams that are not valid SIP, per source address: enough for a phone with
 * a bug to read why, too few for forged sources to turn the box into a reflector of them.
 */
export const ERROR_ANSWER_LIMITS: BucketLimits = { perSecond: 5, burst: 20 };
/**
 * Requests from all addresses that are not trusted peers, together. A forged flood can come from every
 * address of the LAN, each under its own limit; this bounds the work (and the memory that work holds) any
 * flood can make the box do. It is several times what the phones of an office send in a registration
 * storm, and below what the box handles with its calls' audio still on time.
 */
export const UNTRUSTED_LIMITS: BucketLimits = { perSecond: 1000, burst: 2000 };
/** Source addresses tracked at once; the least recently seen is forgotten first (it then starts with a full bucket). */
export const MAX_SOURCES = 10_000;

/** One token bucket. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(private readonly limits: BucketLimits, now: number) {
    this.tokens = limits.burst;
    this.at = now;
  }

  /** Takes a token; false when the bucket is empty. */
  take(now: number): boolean {
    this.tokens = Math.min(this.limits.burst, this.tokens + (Math.max(0, now - this.at) / 1000) * this.limits.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** A token bucket per source address, in a map of bounded size. */
export class SourceRateLimit {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(private readonly limits: BucketLimits, private readonly now: () => number = Date.now, private readonly maxSources = MAX_SOURCES) {}

  /** Takes a token for this source; false when its bucket is empty. */
  take(source: string): boolean {
    const now = this.now();
    let b = this.buckets.get(source);
    if (b) this.buckets.delete(source);
    else {
      b = new TokenBucket(this.limits, now);
      if (this.buckets.size >= this.maxSources) this.buckets.delete(this.buckets.keys().next().value!);
    }
    // Re-inserted: the map's order is least recently seen first.
    this.buckets.set(source, b);
    return b.take(now);
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** At most this many detailed lines per report period; the rest are counted. */
const DETAILED_PER_PERIOD = 5;
export const REPORT_MS = 10_000;
/** Distinct sources counted per period; past this the summary says "at least". */
const MAX_COUNTED_SOURCES = 1000;

/** Not SIP; over its address's limit; over the limit of all untrusted addresses together. */
export type DropReason = 'invalid' | 'rate' | 'busy';

const DETAIL: Record<DropReason, string> = {
  invalid: 'dropped a SIP datagram that is not a valid message',
  rate: 'dropped a SIP datagram over the per-address rate limit',
  busy: 'dropped a SIP datagram over the limit for all untrusted addresses',
};

/**
 * Logs dropped datagrams in a bounded way: a few with their source and first bytes, then one summary
 * per period with how many more were dropped, why, and from how many addresses.
 */
export class DropLog {
  private periodStart = 0;
  private detailed = 0;
  private counts: Record<DropReason, number> = { invalid: 0, rate: 0, busy: 0 };
  private sources = new Set<string>();
  /** Everything dropped since the start, by reason. */
  readonly totals: Record<DropReason, number> = { invalid: 0, rate: 0, busy: 0 };

  constructor(private readonly log: Logger, private readonly now: () => number = Date.now) {}

  /** A dropped datagram, or (buf null) a request dropped from a connection. */
  note(reason: DropReason, from: { protocol: string; address: string; port: number }, buf: Buffer | null): void {
    const { address, port } = from;
    const now = this.now();
    this.totals[reason]++;
    this.reportIfDue(now);
    if (this.sources.size < MAX_COUNTED_SOURCES) this.sources.add(address);
    if (this.detailed < DETAILED_PER_PERIOD) {
      this.detailed++;
      this.log.warn(DETAIL[reason], {
        source: `${from.protocol.toLowerCase()}:${address}:${port}`,
        ...(buf ? { bytes: buf.length, start: buf.subarray(0, 40).toString('latin1').replace(/[^\x20-\x7e]/g, '.') } : {}),
      });
      return;
    }
    this.counts[reason]++;
  }

  /**
   * Called by a timer: reports once the period has lasted REPORT_MS. A timer firing late must not start a second
   * period just after a drop started one, or that moment would get twice the detailed lines.
   */
  reportIfDue(now = this.now()): void {
    if (now - this.periodStart >= REPORT_MS) this.report(now);
  }

  /** Logs what the period dropped beyond its detailed lines, then starts a new period. */
  report(now = this.now()): void {
    const { invalid, rate, busy } = this.counts;
    if (invalid + rate + busy > 0) {
      const atLeast = this.sources.size >= MAX_COUNTED_SOURCES ? 'at least ' : '';
      this.log.warn('dropped more SIP datagrams', {
        invalid, overRateLimit: rate, overUntrustedLimit: busy, sources: `${atLeast}${this.sources.size}`, seconds: Math.round((now - this.periodStart) / 1000),
      });
    }
    this.periodStart = now;
    this.detailed = 0;
    this.counts = { invalid: 0, rate: 0, busy: 0 };
    this.sources.clear();
  }
}
