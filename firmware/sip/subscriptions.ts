/**
 * Room lamps on desk phones (BLF): the notifier side of the dialog event package (RFC 6665, RFC 4235). A phone
 * subscribes to a room's number (*400*<room> or room<room>) and is told, in a dialog-info document, whether a
 * conference runs in that room ("confirmed") or not ("terminated"). Subscriptions live in memory only: after a
 * restart the phones subscribe again when their refresh fails.
 */
import type { Clock, Timer } from '../clock.ts';
import { ROOM_ID_MAX, ROOM_ID_MIN } from '../conference/validate.ts';
import { BoxError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { headerText, type Authenticator } from './auth.ts';
import { authObject, numberHeader } from './messages.ts';
import { copiedRecordRoute } from './routes.ts';
import { answerDialog, dialedNumber, dialogKey, type DialogState } from './session.ts';
import type { Message, Remote } from './stack.ts';

/** The event packages the box notifies (Allow-Events). */
export const ALLOW_EVENTS = 'dialog';
export const DIALOG_INFO_TYPE = 'application/dialog-info+xml';
export const DEFAULT_EXPIRES_S = 3600;
export const MIN_EXPIRES_S = 60;
export const MAX_EXPIRES_S = 3600;
/** At most this many subscriptions from one address, and in all. */
export const MAX_PER_SOURCE = 50;
export const MAX_TOTAL = 2000;

/** What the box knows of a room, for its lamp. */
export interface RoomPresence {
  /** Whether the room exists (configured, or a conference runs in it). */
  exists(room: number): boolean;
  /** Whether a conference runs in the room now. */
  busy(room: number): boolean;
}

/** A subscription: its dialog (RFC 6665 4.1.2.1: the SUBSCRIBE's 200 makes it), as the box's NOTIFYs need it, and its state. */
export interface Subscription extends DialogState {
  key: string;
  room: number;
  /** Who subscribed: the extension, or the caller a trusted peer asserted. */
  subscriber: string;
  source: string;
  remoteSeq: number;
  /** The subscribed URI, as the dialog-info's entity. */
  entity: string;
  /** The version of the next dialog-info document (RFC 4235 4.1: one more for each NOTIFY). */
  version: number;
  /** The state last sent; null before the first NOTIFY. */
  notifiedBusy: boolean | null;
  expiresAt: number;
  expiry: Timer | null;
  ended: boolean;
  /** NOTIFYs of one subscription go one after another: the next waits for the last one's answer. */
  queue: Promise<void>;
}

export interface SubscriptionOptions {
  clock: Clock;
  log: Logger;
  auth: Pick<Authenticator, 'origin' | 'inviteBlocked' | 'identify'>;
  /** The rooms; null while the box has none to tell about. */
  rooms: () => RoomPresence | null;
  /** Sends a response to the request; toTag is the box's tag when the response makes a dialog. */
  respond(rq: Message, status: number, reason?: string, headers?: Record<string, unknown>, toTag?: string): void;
  /** Sends a request within the subscription's dialog; resolves with its final response (408 when none came). */
  dialogRequest(dialog: DialogState, method: string, headers: Record<string, unknown>, body: { type: string; content: string }): Promise<Message>;
  /** The box's Contact for a peer at this flow that sent this Request-URI. */
  contactUri(flow: Remote, requestUri: string): string;
  limits?: { perSource: number; total: number };
}

/** The room a SUBSCRIBE's Request-URI names: *400*<room> (the join code without its PIN) or room<room>; null for anything else. */
export function roomOfTarget(requestUri: string): number | null {
  const user = dialedNumber(requestUri);
  if (user === null) return null;
  const m = /^(?:\*400\*|room)(\d{1,3})#?$/i.exec(user.trim());
  if (!m) return null;
  const room = Number(m[1]);
  return room >= ROOM_ID_MIN && room <= ROOM_ID_MAX ? room : null;
}

/** The dialog-info document (RFC 4235) of a room: one dialog, confirmed while a conference runs, else terminated. */
export function dialogInfo(o: { entity: string; version: number; room: number; busy: boolean }): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="${o.version}" state="full" entity="${xmlText(o.entity)}">`,
    `  <dialog id="room${o.room}">`,
    `    <state>${o.busy ? 'confirmed' : 'terminated'}</state>`,
    '  </dialog>',
    '</dialog-info>',
    '',
  ].join('\r\n');
}

/** Text for an XML attribute or element: markup characters and anything outside printable ASCII as references. */
function xmlText(s: string): string {
  return s.replace(/[&<>"'\u0000-\u001f\u007f-\uffff]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The event package an Event header names (RFC 6665 8.2.1), lower-cased; '' when none. */
export function eventPackage(rq: Message): string {
  const value = headerText(rq, 'event') ?? headerText(rq, 'o') ?? '';
  return value.split(';')[0]!.trim().toLowerCase();
}

type Granted = { ok: true; seconds: number } | { ok: false; status: number; reason: string; headers?: Record<string, unknown> };

/** The expiry the box grants for a SUBSCRIBE: its Expires (default 3600), at most 3600; 423 below 60, 0 unsubscribes. */
export function grantedExpires(rq: Message): Granted {
  const raw = rq.headers.expires;
  if (raw === undefined) return { ok: true, seconds: DEFAULT_EXPIRES_S };
  const asked = numberHeader(rq, 'expires') ?? (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0 ? raw : null);
  if (asked === null) return { ok: false, status: 400, reason: `Expires "${String(raw).slice(0, 20)}" is not a number of seconds` };
  if (asked === 0) return { ok: true, seconds: 0 };
  if (asked < MIN_EXPIRES_S) return { ok: false, status: 423, reason: `subscriptions last at least ${MIN_EXPIRES_S} seconds`, headers: { 'min-expires': String(MIN_EXPIRES_S) } };
  return { ok: true, seconds: Math.min(asked, MAX_EXPIRES_S) };
}

/** Whether an Accept header allows dialog-info documents; no Accept means the package's default, which is it. */
function acceptsDialogInfo(accept: string | undefined): boolean {
  if (accept === undefined) return true;
  return accept.split(',').some((range) => ['application/dialog-info+xml', 'application/*', '*/*'].includes(range.split(';')[0]!.trim().toLowerCase()));
}

/** The box's subscriptions to its rooms' state: SUBSCRIBE answered, NOTIFY sent at the start, on each change and at the end. */
export class RoomSubscriptions {
  private subs = new Map<string, Subscription>();
  private stopped = false;

  constructor(private readonly o: SubscriptionOptions) {}

  get count(): number {
    return this.subs.size;
  }

  /** The subscriptions in effect (for tests and diagnostics). */
  list(): readonly Subscription[] {
    return [...this.subs.values()];
  }

  /** A SUBSCRIBE: a new subscription, or (with a To tag) the refresh or end of one. */
  async receive(rq: Message, remote: Remote): Promise<void> {
    try {
      if (rq.headers.to?.params.tag !== undefined) return this.inDialog(rq, remote);
      return await this.subscribe(rq, remote);
    } catch (e) {
      if (e instanceof BoxError) return this.o.respond(rq, e.sipStatus, e.message);
      throw e;
    }
  }

  /** A conference started or ended in this room, or the room went away: its subscribers are told. */
  roomChanged(room: number): void {
    const rooms = this.o.rooms();
    const gone = rooms !== null && !rooms.exists(room);
    for (const sub of this.subs.values()) {
      if (sub.room !== room || sub.ended) continue;
      if (gone) this.end(sub, 'noresource');
      else if (sub.notifiedBusy !== (rooms?.busy(room) ?? false)) this.notify(sub, 'if changed');
    }
  }

  /** The box stops: timers are let go; phones subscribe again when their refreshes fail. */
  stop(): void {
    this.stopped = true;
    for (const sub of this.subs.values()) this.forget(sub);
  }

  private async subscribe(rq: Message, remote: Remote): Promise<void> {
    if (this.stopped) return this.o.respond(rq, 503, 'the box is shutting down', { 'retry-after': '30' });
    const event = eventPackage(rq);
    if (event !== 'dialog') return this.o.respond(rq, 489, `the box has no "${event.slice(0, 32) || '(no Event header)'}" events; subscribe to dialog`, { 'allow-events': ALLOW_EVENTS });
    const room = roomOfTarget(rq.uri ?? '');
    if (room === null) return this.o.respond(rq, 404, 'subscribe to a room as *400*<room> or room<room>');
    const origin = this.o.auth.origin(rq, remote);
    if (this.o.auth.inviteBlocked(origin, rq)) return this.o.respond(rq, 403, 'too many failed attempts; try again later');
    const who = await this.o.auth.identify(rq, origin, 'invite');
    if (!who.ok) return this.o.respond(rq, 407, undefined, { 'proxy-authenticate': who.challenges.map(authObject) });
    const rooms = this.o.rooms();
    if (!rooms?.exists(room)) return this.o.respond(rq, 404, `room ${room} does not exist`);
    if (!acceptsDialogInfo(headerText(rq, 'accept'))) return this.o.respond(rq, 406, `the box notifies ${DIALOG_INFO_TYPE}, which the Accept header leaves out`, { accept: DIALOG_INFO_TYPE });
    const granted = grantedExpires(rq);
    if (!granted.ok) return this.o.respond(rq, granted.status, granted.reason, granted.headers);
    const limits = this.o.limits ?? { perSource: MAX_PER_SOURCE, total: MAX_TOTAL };
    const fromSource = [...this.subs.values()].filter((s) => s.source === remote.address).length;
    if (fromSource >= limits.perSource) return this.o.respond(rq, 503, `too many subscriptions from ${remote.address} (at most ${limits.perSource})`, { 'retry-after': '300' });
    if (this.subs.size >= limits.total) return this.o.respond(rq, 503, `the box holds as many subscriptions as it can (${limits.total})`, { 'retry-after': '300' });

    const sub: Subscription = {
      ...answerDialog(rq, remote),
      room,
      subscriber: who.caller,
      source: remote.address,
      remoteSeq: rq.headers.cseq!.seq,
      entity: rq.uri ?? '',
      version: 0,
      notifiedBusy: null,
      expiresAt: 0,
      expiry: null,
      ended: false,
      queue: Promise.resolve(),
    };
    this.subs.set(sub.key, sub);
    this.o.respond(rq, 200, undefined, {
      expires: String(granted.seconds), contact: [{ uri: this.o.contactUri(remote, rq.uri ?? ''), params: {} }], 'record-route': copiedRecordRoute(rq),
    }, sub.localTag);
    this.o.log.info('room subscription', { subscriber: who.caller, source: remote.address, room, seconds: granted.seconds });
    this.grant(sub, granted.seconds);
  }

  private inDialog(rq: Message, remote: Remote): void {
    const sub = this.subs.get(dialogKey(rq.headers['call-id']!, String(rq.headers.to!.params.tag)));
    if (!sub || sub.ended) return this.o.respond(rq, 481, 'no such subscription');
    const seq = rq.headers.cseq!.seq;
    if (seq <= sub.remoteSeq) return this.o.respond(rq, 500, 'CSeq out of order');
    sub.remoteSeq = seq;
    const event = eventPackage(rq);
    if (event !== 'dialog') return this.o.respond(rq, 489, `the subscription is to dialog events, not "${event.slice(0, 32)}"`, { 'allow-events': ALLOW_EVENTS });
    const granted = grantedExpires(rq);
    if (!granted.ok) return this.o.respond(rq, granted.status, granted.reason, granted.headers);
    sub.flow = remote;
    const contact = Array.isArray(rq.headers.contact) ? rq.headers.contact[0]?.uri : undefined;
    if (contact) sub.remoteTarget = contact;
    this.o.respond(rq, 200, undefined, { expires: String(granted.seconds), contact: [{ uri: this.o.contactUri(remote, sub.entity), params: {} }] }, sub.localTag);
    this.grant(sub, granted.seconds);
  }

  /** Sets the subscription's expiry and sends the NOTIFY that follows every accepted SUBSCRIBE (RFC 6665 4.2.1). */
  private grant(sub: Subscription, seconds: number): void {
    if (sub.expiry) this.o.clock.clearTimeout(sub.expiry);
    sub.expiry = null;
    if (seconds === 0) return this.end(sub, 'timeout');
    sub.expiresAt = this.o.clock.now() + seconds * 1000;
    sub.expiry = this.o.clock.setTimeout(() => this.end(sub, 'timeout'), seconds * 1000);
    this.notify(sub, 'always');
  }

  /** The final NOTIFY (Subscription-State: terminated with the reason), and the subscription is gone. */
  private end(sub: Subscription, reason: 'timeout' | 'noresource'): void {
    if (sub.ended) return;
    this.notify(sub, 'always', reason);
    this.forget(sub);
  }

  private forget(sub: Subscription): void {
    sub.ended = true;
    if (sub.expiry) this.o.clock.clearTimeout(sub.expiry);
    sub.expiry = null;
    this.subs.delete(sub.key);
  }

  /**
   * Queues a NOTIFY with the room's state as it is when the NOTIFY goes out ('if changed': only when that differs from
   * the last one sent); with a reason, the subscription's last.
   */
  private notify(sub: Subscription, when: 'always' | 'if changed', terminated?: 'timeout' | 'noresource'): void {
    sub.queue = sub.queue.then(async () => {
      if (sub.ended && !terminated) return;
      const busy = terminated === 'noresource' ? false : (this.o.rooms()?.busy(sub.room) ?? false);
      // A change undone before its turn came needs no NOTIFY.
      if (when === 'if changed' && sub.notifiedBusy === busy) return;
      const left = Math.max(0, Math.ceil((sub.expiresAt - this.o.clock.now()) / 1000));
      const state = terminated ? `terminated;reason=${terminated}` : `active;expires=${left}`;
      const body = dialogInfo({ entity: sub.entity, version: sub.version++, room: sub.room, busy });
      sub.notifiedBusy = busy;
      const rs = await this.o.dialogRequest(sub, 'NOTIFY', {
        event: 'dialog', 'subscription-state': state, contact: [{ uri: this.o.contactUri(sub.flow, sub.entity), params: {} }],
      }, { type: DIALOG_INFO_TYPE, content: body });
      const status = rs.status ?? 0;
      if ((status === 481 || status === 408) && !sub.ended) {
        this.o.log.info('room subscription ended: the phone did not take its NOTIFY', { subscriber: sub.subscriber, source: sub.source, room: sub.room, status });
        this.forget(sub);
      }
    }).catch((e: unknown) => {
      this.o.log.warn('NOTIFY of a room subscription failed', { err: e, room: sub.room, source: sub.source });
    });
  }
}
