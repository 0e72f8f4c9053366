import type { Clock } from '../clock.ts';
import type { DigestAlgorithm } from './digest.ts';

/** Why an extension's phone was turned away, in words for the Extensions page and the API. */
export type AuthFailureReason =
  | 'wrong password'
  | 'phone answered the SHA-256 challenge wrongly'
  | 'phone answered with an algorithm the box does not offer'
  | 'phone answered for another realm'
  | 'phone answered an expired or foreign challenge'
  | 'answer was made for another address'
  | 'password was set for another realm'
  | 'blocked'
  | 'registered another extension';

export interface AuthFailure {
  at: Date;
  reason: AuthFailureReason;
  /** The address the request came from. */
  source: string;
  method: string;
}

/** What the box knows of how an extension's phone authenticates. */
export interface AuthRecord {
  /** The algorithm of the phone's last accepted answer; null before the first. */
  algorithm: DigestAlgorithm | null;
  /** The address that answer came from. */
  address: string;
  /** The Call-ID of the last accepted REGISTER: a phone refreshes its registration under the same one. */
  registerCallId: string;
  /** The box offered SHA-256 first once to a phone that had answered MD5 (see autoChallenge). */
  probed: boolean;
  lastFailure: AuthFailure | null;
}

/** Most extensions a box serves are far below this; the memory of made-up names must stay bounded too. */
const MAX_RECORDS = 2000;

/**
 * Per extension: the digest algorithm its phone last succeeded with, and its last failed attempt. The algorithm
 * decides which challenge comes first (many phones read only the first), the failure is shown to the admin.
 */
export class AuthRecords {
  private records = new Map<string, AuthRecord>();

  /** onChange: told after every change, to keep a copy (AuthRecordsFile). */
  constructor(private readonly clock: Pick<Clock, 'now'>, private readonly onChange: () => void = () => undefined) {}

  /** Every record, most recently used last, as JSON can hold it. */
  entries(): Array<[string, AuthRecord]> {
    return [...this.records];
  }

  /** Takes back what entries() gave (from a file of an earlier run); anything malformed is skipped. Returns how many. */
  restore(entries: unknown): number {
    if (!Array.isArray(entries)) return 0;
    let n = 0;
    for (const e of entries.slice(-MAX_RECORDS)) {
      const r = parseEntry(e);
      if (!r) continue;
      this.records.delete(r[0]);
      this.records.set(r[0], r[1]);
      n++;
    }
    return n;
  }

  get(number: string): AuthRecord | undefined {
    return this.records.get(number);
  }

  /**
   * The challenges for a request of this extension when the setting digestAlgorithms is "auto":
   * - MD5 alone to a phone not seen yet (or from another address than its last success), as to any stranger, so the
   *   answer never tells which numbers exist: SIPp and other phones read only the first challenge, and baresip 1.0
   *   gives up on a 401 that lists SHA-256 anywhere;
   * - SHA-256 first (MD5 second) to a phone that last answered SHA-256;
   * - once per phone, on a refresh of a registration that is alive from the same address, SHA-256 first to find out
   *   whether the phone can do it: one that can answers it and keeps SHA-256 from then on; one that cannot gives up on
   *   that refresh only, is still registered (its binding has not expired), and gets MD5 alone when it tries again.
   */
  autoChallenge(number: string | null, opts: { address: string; boundFromAddress: boolean }): DigestAlgorithm[] {
    const r = number === null ? undefined : this.records.get(number);
    if (!r || r.algorithm === null || r.address !== opts.address) return ['MD5'];
    if (r.algorithm === 'SHA-256') return ['SHA-256', 'MD5'];
    if (!r.probed && opts.boundFromAddress) {
      r.probed = true;
      this.onChange();
      return ['SHA-256', 'MD5'];
    }
    return ['MD5'];
  }

  succeeded(number: string, algorithm: DigestAlgorithm, address: string, registerCallId: string | null): void {
    const r = this.record(number);
    const before = JSON.stringify(r);
    if (algorithm === 'SHA-256' || r.address !== address) r.probed = algorithm === 'SHA-256';
    r.algorithm = algorithm;
    r.address = address;
    if (registerCallId !== null) r.registerCallId = registerCallId;
    // Refreshes are frequent and mostly change nothing.
    if (JSON.stringify(r) !== before) this.onChange();
  }

  /** Whether a REGISTER continues the registration the phone last made from this address (same Call-ID). */
  isRefresh(number: string, address: string, callId: string): boolean {
    const r = this.records.get(number);
    return r !== undefined && r.registerCallId !== '' && r.address === address && r.registerCallId === callId;
  }

  failed(number: string, reason: AuthFailureReason, source: string, method: string): void {
    const r = this.record(number);
    // A phone that answers SHA-256 wrongly is asked in MD5 alone from now on.
    if (reason === 'phone answered the SHA-256 challenge wrongly') {
      r.algorithm = 'MD5';
      r.probed = true;
    }
    r.lastFailure = { at: new Date(this.clock.now()), reason, source, method };
    this.onChange();
  }

  /** Forgets an extension (removed, or its password changed: the next phone may be another one). */
  forget(number: string): void {
    if (this.records.delete(number)) this.onChange();
  }

  private record(number: string): AuthRecord {
    let r = this.records.get(number);
    if (r) {
      this.records.delete(number);
    } else {
      r = { algorithm: null, address: '', registerCallId: '', probed: false, lastFailure: null };
    }
    this.records.set(number, r);
    if (this.records.size > MAX_RECORDS) {
      const oldest = this.records.keys().next();
      if (!oldest.done) this.records.delete(oldest.value);
    }
    return r;
  }
}

const REASONS: ReadonlySet<string> = new Set<AuthFailureReason>([
  'wrong password', 'phone answered the SHA-256 challenge wrongly', 'phone answered with an algorithm the box does not offer',
  'phone answered for another realm', 'phone answered an expired or foreign challenge', 'answer was made for another address',
  'password was set for another realm', 'blocked', 'registered another extension',
]);

const text = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;

/** One [number, record] of entries(), or null when any part of it is not what entries() writes. */
function parseEntry(e: unknown): [string, AuthRecord] | null {
  if (!Array.isArray(e) || e.length !== 2 || !text(e[0], 64) || e[0] === '') return null;
  const r = e[1] as Record<string, unknown> | null;
  if (typeof r !== 'object' || r === null) return null;
  if (r.algorithm !== null && r.algorithm !== 'MD5' && r.algorithm !== 'SHA-256') return null;
  if (!text(r.address, 64) || !text(r.registerCallId, 256) || typeof r.probed !== 'boolean') return null;
  let lastFailure: AuthFailure | null = null;
  if (r.lastFailure !== null) {
    const f = r.lastFailure as Record<string, unknown> | undefined;
    const at = typeof f?.at === 'string' ? new Date(f.at) : null;
    if (!f || !at || Number.isNaN(at.getTime()) || !text(f.reason, 80) || !REASONS.has(f.reason) || !text(f.source, 64) || !text(f.method, 16)) return null;
    lastFailure = { at, reason: f.reason as AuthFailureReason, source: f.source, method: f.method };
  }
  return [e[0], { algorithm: r.algorithm, address: r.address, registerCallId: r.registerCallId, probed: r.probed, lastFailure }];
}
