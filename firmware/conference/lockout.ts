import type { Clock } from '../clock.ts';

export interface LockoutLimits {
  failures: number;
  windowMinutes: number;
  blockMinutes: number;
}

export interface Block {
  source: string;
  since: number;
  until: number;
  failures: number;
}

const MINUTE = 60_000;
/** Bounds memory when a flood comes from many addresses. */
const MAX_TRACKED = 10_000;

/**
 * Brute-force limiter: too many failed digest or PIN attempts from one address within the
 * window block that address. Counts are per source address (no port), as an attacker picks ports.
 */
export class Lockout {
  private failures = new Map<string, number[]>();
  private blocked = new Map<string, Block>();

  constructor(private readonly clock: Clock, private readonly limits: () => LockoutLimits) {}

  /** Records a failure; returns the new block when this failure triggered one. */
  fail(source: string): Block | null {
    const now = this.clock.now();
    if (this.isBlocked(source)) return null;
    const { failures, windowMinutes, blockMinutes } = this.limits();
    const since = now - windowMinutes * MINUTE;
    const list = (this.failures.get(source) ?? []).filter((t) => t > since);
    list.push(now);
    this.failures.delete(source);
    if (list.length >= failures) {
      const block = { source, since: now, until: now + blockMinutes * MINUTE, failures: list.length };
      this.blocked.set(source, block);
      return block;
    }
    this.failures.set(source, list);
    if (this.failures.size > MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!);
    return null;
  }

  /** A success does not erase failures: an attacker who knows one PIN must not reset the count. */
  isBlocked(source: string): boolean {
    const b = this.blocked.get(source);
    if (!b) return false;
    if (b.until > this.clock.now()) return true;
    this.blocked.delete(source);
    return false;
  }

  list(): Block[] {
    const now = this.clock.now();
    for (const [k, b] of this.blocked) if (b.until <= now) this.blocked.delete(k);
    return [...this.blocked.values()];
  }

  lift(source: string): boolean {
    this.failures.delete(source);
    return this.blocked.delete(source);
  }
}
