import type { Clock, Timer } from '../clock.ts';
import { headerText } from './auth.ts';
import type { Message } from './stack.ts';

/**
 * Session timers (RFC 4028) for calls the box answers: what the caller asks for in an INVITE, re-INVITE or
 * UPDATE, what the box answers, and the timer that either refreshes the session (the box is the refresher) or
 * ends it with BYE when the other side, the refresher, lets it lapse.
 */

/** The shortest session interval the box accepts (Min-SE), in seconds: the RFC's own floor. */
export const MIN_SE = 90;
/**
 * The interval the box asks for when the caller supports timers but did not ask for one (RFC 4028 9 lets the
 * UAS add it): the caller, who said it can refresh, is the refresher, so a call whose caller vanished (a
 * trunk that restarted while the call was on hold and silent) gives its place in the room back within
 * half an hour, at the cost of one refresh every 15 minutes. A caller that does not support timers gets none.
 */
export const DEFAULT_SE = 1800;

/** Who refreshes: the caller (the peer of the dialog) or the box. */
export type Refresher = 'peer' | 'box';

export interface SessionTimerState {
  interval: number;
  refresher: Refresher;
  /** The refresh (box refresher) or the BYE (peer refresher) to come. */
  timer: Timer | null;
  /** The BYE should a refresh of the box fail to keep the session alive. */
  guard: Timer | null;
}

export type TimerAnswer =
  /** The request is refused: 422 (interval too small) or 400 (the headers make no sense). */
  | { ok: false; status: 400 | 422; reason: string; headers: Record<string, string> }
  /** No session timer for this session. */
  | { ok: true; timer: null; headers: Record<string, string> }
  /** The session runs under this timer; the headers go into the 2xx. */
  | { ok: true; timer: { interval: number; refresher: Refresher }; headers: Record<string, string> };

/** The option tags of a Supported or Require header, lower-case. */
export function optionTags(rq: Message, name: 'supported' | 'require' | 'proxy-require'): string[] {
  const v = headerText(rq, name) ?? (name === 'supported' ? headerText(rq, 'k') : undefined);
  return (v ?? '').split(',').map((t) => t.trim().toLowerCase()).filter(Boolean);
}

/** The option tags the box implements: those it takes in Require and lists in Supported. */
export const SUPPORTED_TAGS = ['timer', '100rel'];
export const SUPPORTED = SUPPORTED_TAGS.join(', ');

/** What of a Require header the box does not implement (for 420 Bad Extension). */
export function unsupportedTags(rq: Message): string[] {
  return optionTags(rq, 'require').filter((t) => !SUPPORTED_TAGS.includes(t));
}

/** Session-Expires (compact form x): its seconds and refresher parameter; undefined when absent. */
function sessionExpires(m: Message): { seconds: number; refresher: 'uac' | 'uas' | null } | { error: string } | undefined {
  const raw = headerText(m, 'session-expires') ?? headerText(m, 'x');
  if (raw === undefined) return undefined;
  const [value = '', ...params] = raw.split(';').map((p) => p.trim());
  if (!/^\d{1,10}$/.test(value)) return { error: `Session-Expires "${raw.slice(0, 40)}" is not a number of seconds` };
  let refresher: 'uac' | 'uas' | null = null;
  for (const p of params) {
    const [k = '', v = ''] = p.split('=').map((s) => s.trim().toLowerCase());
    if (k !== 'refresher') continue;
    if (v !== 'uac' && v !== 'uas') return { error: `Session-Expires refresher "${v.slice(0, 20)}" is neither uac nor uas` };
    refresher = v;
  }
  return { seconds: Number(value), refresher };
}

function minSe(m: Message): number | { error: string } {
  const raw = headerText(m, 'min-se');
  if (raw === undefined) return 0;
  const value = raw.split(';')[0]!.trim();
  if (!/^\d{1,10}$/.test(value)) return { error: `Min-SE "${raw.slice(0, 40)}" is not a number of seconds` };
  return Number(value);
}

/**
 * The box's answer to the session timer part of an INVITE, re-INVITE or UPDATE it received (RFC 4028 9): the
 * caller's interval is taken when it is at least the box's Min-SE (else 422); the refresher is the one the
 * caller named, else the caller when it supports timers, else the box.
 */
export function answerTimer(rq: Message, minimum = MIN_SE, fallback = DEFAULT_SE): TimerAnswer {
  const asked = sessionExpires(rq);
  const floor = minSe(rq);
  if (asked && 'error' in asked) return { ok: false, status: 400, reason: asked.error, headers: {} };
  if (typeof floor !== 'number') return { ok: false, status: 400, reason: floor.error, headers: {} };
  const supported = optionTags(rq, 'supported').includes('timer') || optionTags(rq, 'require').includes('timer');
  if (asked && asked.seconds < minimum) {
    return { ok: false, status: 422, reason: `Session-Expires ${asked.seconds} is below the box's minimum of ${minimum} s`, headers: { 'min-se': String(minimum) } };
  }
  if (!asked && !supported) return { ok: true, timer: null, headers: {} };
  const interval = asked ? asked.seconds : Math.max(fallback, floor, minimum);
  // RFC 4028 9: a caller that does not support timers cannot be made the refresher.
  const refresher: Refresher = !supported ? 'box' : asked?.refresher === 'uas' ? 'box' : 'peer';
  const headers: Record<string, string> = { 'session-expires': `${interval};refresher=${refresher === 'peer' ? 'uac' : 'uas'}` };
  if (supported) headers.require = 'timer';
  return { ok: true, timer: { interval, refresher }, headers };
}

/**
 * What a 2xx to the box's own refresh says: the interval the peer kept (it may only lengthen it) and whether the
 * box is still the refresher. A peer that does not support timers answers without Session-Expires: the box goes
 * on refreshing at the same interval, which still tells it when the peer has lost the call (408, 481).
 */
export function refreshAnswered(rs: Message, current: number): { interval: number; refresher: Refresher } {
  const se = sessionExpires(rs);
  if (!se || 'error' in se) return { interval: current, refresher: 'box' };
  return { interval: Math.max(se.seconds, MIN_SE), refresher: se.refresher === 'uas' ? 'peer' : 'box' };
}

/** How long after a refresh the refresher sends the next one: half the interval (RFC 4028 10). */
export function refreshDelayMs(interval: number): number {
  return (interval * 1000) / 2;
}

/** How long after a refresh the side that does not refresh ends the session: the interval less min(32 s, a third) (RFC 4028 10). */
export function expiryDelayMs(interval: number): number {
  return (interval - Math.min(32, interval / 3)) * 1000;
}

export interface TimerHooks {
  clock: Clock;
  /** The box refreshes the session; resolves with the final response to its UPDATE or re-INVITE. */
  refresh(state: SessionTimerState): Promise<Message>;
  /** The session lapsed: the box ends it with BYE. */
  expire(why: string): void;
}

/**
 * The running timer of one session: (re)started at every accepted refresh, whoever sent it, and stopped when the
 * call ends. As refresher the box refreshes at half the interval; else it ends the call shortly before expiry.
 */
export class SessionTimer {
  state: SessionTimerState;

  constructor(private readonly hooks: TimerHooks, interval: number, refresher: Refresher) {
    this.state = { interval, refresher, timer: null, guard: null };
    this.arm();
  }

  /** A refresh went through (the peer's, or the box's own): the interval restarts, possibly with a new refresher. */
  restart(interval: number, refresher: Refresher): void {
    this.stop();
    this.state.interval = interval;
    this.state.refresher = refresher;
    this.arm();
  }

  stop(): void {
    const { clock } = this.hooks;
    if (this.state.timer) clock.clearTimeout(this.state.timer);
    if (this.state.guard) clock.clearTimeout(this.state.guard);
    this.state.timer = this.state.guard = null;
  }

  private arm(): void {
    const { clock } = this.hooks;
    const { interval, refresher } = this.state;
    this.state.guard = clock.setTimeout(() => {
      this.stop();
      this.hooks.expire(refresher === 'peer' ? `the session timer ran out: no refresh within ${interval} s` : 'the session could not be refreshed');
    }, expiryDelayMs(interval));
    if (refresher === 'box') this.state.timer = clock.setTimeout(() => void this.refresh(), refreshDelayMs(interval));
  }

  private async refresh(): Promise<void> {
    this.state.timer = null;
    let rs: Message;
    try {
      rs = await this.hooks.refresh(this.state);
    } catch {
      return;
    }
    const status = rs.status ?? 0;
    if (status >= 200 && status < 300) {
      const next = refreshAnswered(rs, this.state.interval);
      this.restart(next.interval, next.refresher);
      return;
    }
    // RFC 4028 10: a refresh answered 408 or 481 means the session is gone.
    if (status === 408 || status === 481) {
      this.stop();
      this.hooks.expire(`the refresh was answered ${status}`);
    }
    // Any other failure leaves the session as it was: it ends at the guard unless the peer refreshes it.
  }
}
