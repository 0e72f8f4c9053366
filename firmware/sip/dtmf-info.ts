// Keys sent as SIP INFO, and one digit per key press when a phone sends it more than one way.
//
// Phones and trunks that do not send RFC 4733 events (Cisco, older Poly, some PBX trunks) send each key press as an
// in-dialog INFO: `application/dtmf-relay` ("Signal=5\r\nDuration=160") or `application/dtmf` (a bare "5"). Some send
// the INFO and the RFC 4733 events (or the tones) for the same press; the media engine already makes one digit of
// events and tones, and KeyPresses makes one digit of that and the INFO.

import type { Logger } from '../log.ts';

/** Body types of INFO the box reads keys from, for the Accept header of a 415. */
export const DTMF_INFO_TYPES = ['application/dtmf-relay', 'application/dtmf'];

/** Keys a phone can send, in RFC 4733 event code order (0-9, *, #, A-D). */
const EVENT_KEYS = '0123456789*#ABCD';

/** Longest INFO body read; a key press is a few dozen bytes. */
const MAX_BODY = 1024;

export type DtmfInfo =
  | { ok: true; key: string | null; durationMs: number | null }
  | { ok: false; status: 400 | 415; reason: string; headers?: Record<string, string> };

/** A key as phones write it: one of 0-9 * # A-D (any case), or with `codes` (dtmf-relay's Signal) also its RFC 4733
 *  event code 10-15, as some PBXs send * and #. */
function keyOf(text: string, codes: boolean): string | null {
  const t = text.trim().toUpperCase();
  if (t.length === 1 && EVENT_KEYS.includes(t)) return t;
  if (codes && /^1[0-5]$/.test(t)) return EVENT_KEYS[Number(t)]!;
  return null;
}

function shown(s: string): string {
  const one = s.replace(/[\r\n]+/g, ' ').trim();
  return JSON.stringify(one.length > 40 ? `${one.slice(0, 40)}...` : one);
}

/**
 * Reads the key of an INFO request from its Content-Type and body. An INFO without a body (some phones send one to
 * keep the dialog alive) carries no key and is fine; a body of another type is refused with 415 and the types the
 * box reads; a dtmf body without a valid key is refused with 400 naming what was wrong.
 */
export function parseDtmfInfo(contentType: string | undefined, body: string): DtmfInfo {
  const type = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (body.trim() === '') return { ok: true, key: null, durationMs: null };
  if (!DTMF_INFO_TYPES.includes(type)) {
    return {
      ok: false, status: 415,
      reason: `INFO body type ${type || '(none)'} is not supported; send ${DTMF_INFO_TYPES.join(' or ')}`,
      headers: { accept: DTMF_INFO_TYPES.join(', ') },
    };
  }
  if (body.length > MAX_BODY) return { ok: false, status: 400, reason: `${type} body is longer than ${MAX_BODY} bytes` };
  if (type === 'application/dtmf') {
    const key = keyOf(body, false);
    if (!key) return { ok: false, status: 400, reason: `application/dtmf body ${shown(body)} is not one key (0-9, *, #, A-D)` };
    return { ok: true, key, durationMs: null };
  }
  const fields = new Map<string, string>();
  for (const line of body.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const eq = line.indexOf('=');
    if (eq < 0) return { ok: false, status: 400, reason: `application/dtmf-relay line ${shown(line)} is not Name=value` };
    fields.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  const signal = fields.get('signal');
  if (signal === undefined) return { ok: false, status: 400, reason: 'application/dtmf-relay body has no Signal= line' };
  const key = keyOf(signal, true);
  if (!key) return { ok: false, status: 400, reason: `application/dtmf-relay Signal=${shown(signal)} is not a key (0-9, *, #, A-D)` };
  const duration = fields.get('duration');
  if (duration !== undefined && !/^\d{1,6}$/.test(duration)) {
    return { ok: false, status: 400, reason: `application/dtmf-relay Duration=${shown(duration)} is not a number of milliseconds` };
  }
  return { ok: true, key, durationMs: duration === undefined ? null : Number(duration) };
}

/** Where a key press was heard: the call's media (RFC 4733 events or tones) or an INFO request. */
export type KeySource = 'media' | 'info';

/** How long a press from one source absorbs the same press from the other: INFO and RFC 4733 events leave the phone
 *  together, tones are heard after the jitter buffer, and a proxy may hold the INFO back a little. */
export const PAIR_WINDOW_MS = 1000;

interface Press {
  key: string;
  at: number;
  paired: boolean;
}

/** What KeyPresses needs of a call: it is also the key of the call's presses. */
export interface KeyCall {
  caller: string;
  source: string;
}

/**
 * One digit per key press on each call. A press from one source absorbs the first press of the same key from the other
 * source within PAIR_WINDOW_MS, once; presses from the same source always count, so a key pressed twice is two digits
 * whichever way the phone sends it. Each press is logged at debug level without the key (keys are PINs).
 */
export class KeyPresses {
  private readonly calls = new WeakMap<KeyCall, Record<KeySource, Press | null>>();

  constructor(private readonly now: () => number, private readonly log?: Logger, private readonly windowMs = PAIR_WINDOW_MS) {}

  /** Whether this press of key on call counts (false: the other source already reported it). */
  accept(call: KeyCall, key: string, source: KeySource): boolean {
    let presses = this.calls.get(call);
    if (!presses) this.calls.set(call, presses = { media: null, info: null });
    const now = this.now();
    const other = presses[source === 'media' ? 'info' : 'media'];
    const twin = !!other && !other.paired && other.key === key && now - other.at <= this.windowMs;
    if (twin) other!.paired = true;
    presses[source] = { key, at: now, paired: twin };
    this.log?.debug(twin ? 'key press already counted' : 'key pressed', { source: call.source, caller: call.caller, via: source });
    return !twin;
  }
}
