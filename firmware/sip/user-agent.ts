import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { blockedError, targets, type Lockout } from '../conference/index.ts';
import type { Settings } from '../conference/types.ts';
import { BoxError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MediaEngine } from '../media/index.ts';
import type { Status } from '../status.ts';
import type { AuthRecords } from './auth-records.ts';
import { Authenticator, headerText } from './auth.ts';
import type { Directory } from './directory.ts';
import { KeyPresses, parseDtmfInfo } from './dtmf-info.ts';
import { authObject, codecOf, REASONS, SERVER } from './messages.ts';
import type { Registrar } from './registrar.ts';
import { HoldTracker } from './hold.ts';
import { inviteRejection } from './rejections.ts';
import type { DialogJournal } from './dialog-journal.ts';
import { copiedRecordRoute, dialogPath, hopAddress } from './routes.ts';
import { acceptAnswer, makeOffer, negotiate, type CodecName, type RemoteMedia } from './sdp.ts';
import { answerDialog, dialedNumber, dialogKey, pendingKey, type Call, type CallApplication, type DialogState, type Session } from './session.ts';
import { hostText, makeResponse, parseUri, SipTransport, stringifyUri, type Message, type Remote, type Wire } from './stack.ts';
import { ALLOW } from './wire.ts';
import { DialogExtensions } from './dialog-extensions.ts';
import { SUPPORTED, unsupportedTags } from './session-timer.ts';
import { ALLOW_EVENTS, RoomSubscriptions, type RoomPresence } from './subscriptions.ts';
import { ackOf, InviteClient, pbxTarget, registeredTarget, type InviteOutcome } from './invite-client.ts';
import { CallMedia } from './call-media.ts';
import { answerRegister, type RegisterRequestOptions } from './register-request.ts';
import { Transfers, type TransferOutcome } from './transfer.ts';
import { Overload, OVERLOAD_RETRY_AFTER_S } from './overload.ts';

const T1 = 500;
const T2 = 4000;
const TIMER_H = 32_000;
const RETRY_AFTER_S = 30;
/** Longest a rejection's spoken reason may hold the final answer back. */
const EARLY_MEDIA_MAX_MS = 8000;

/** Headers that tell the caller what to do about a rejection: when to try again, which body to send. */
const REJECTION_HEADERS: Record<number, Record<string, string>> = {
  503: { 'retry-after': String(RETRY_AFTER_S) },
  415: { accept: 'application/sdp' },
};

/** Whether an Accept header (RFC 3261 20.1) allows application/sdp; an empty one allows no body at all. */
function acceptsSdp(accept: string): boolean {
  return accept.split(',').some((range) => {
    const [type = '', ...params] = range.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q\s*=\s*([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    return ['application/sdp', 'application/*', '*/*'].includes(type.trim()) && (q === undefined || Number(q) > 0);
  });
}

export interface UserAgentOptions {
  port: number;
  /** SIP over TLS: its port and the box's certificate; null: UDP and TCP only. */
  tls: { port: number; cert: Buffer; key: Buffer } | null;
  bind: string;
  publicAddress: string;
  /** The box's address for a phone at this address (Via, Contact, SDP); default: publicAddress. */
  addressFor?: (remote: string) => string;
  codecs: CodecName[];
  /** Secret for stateless digest nonces; the same key keeps challenges valid across a restart. */
  nonceKey: Buffer;
  log: Logger;
  clock: Clock;
  settings: () => Settings;
  lockout: Lockout;
  directory: Directory;
  registrar: Registrar;
  /** What each extension's phone authenticates with, and its last refusal (shown on the Extensions page). */
  authRecords: AuthRecords;
  engine: MediaEngine;
  status: Status;
  /** Where answered calls are written down, so that the next run can hang up what a crash left; absent: nowhere. */
  journal?: DialogJournal;
  /** The rooms whose state phones may subscribe to (BLF); absent: every room subscription gets 404. */
  rooms?: RoomPresence;
}

/**
 * The box's SIP layer: transports, transactions, the registrar, authentication, dialogs, offer/answer and the
 * calls' media legs. What a call is for is the application's (CallApplication), which sees only answered or
 * answerable calls and the keys pressed in them.
 */
export class SipUserAgent {
  private transport: SipTransport | null = null;
  private calls = new Map<string, Session>();
  private pending = new Map<string, Session>();
  private auth: Authenticator;
  private accepting = false;
  private app: CallApplication | null = null;
  private ext: DialogExtensions;
  private holds: HoldTracker;
  /** Phones' subscriptions to the rooms' state (BLF). */
  readonly subscriptions: RoomSubscriptions;

  private keys: KeyPresses;
  private readonly inviter: InviteClient;
  /** The calls' media legs. */
  private readonly media: CallMedia;
  /** Callers the box sends on to another address (REFER). */
  private readonly transfers: Transfers;
  /** Refuses new calls while the box is overloaded. */
  private readonly overload: Overload;
  /** What answering a REGISTER needs (register-request.ts). */
  private readonly registers: RegisterRequestOptions;

  constructor(private readonly o: UserAgentOptions) {
    this.media = new CallMedia({
      engine: o.engine, codecs: o.codecs, settings: o.settings, status: o.status, clock: o.clock, log: o.log, addressOf: (call) => this.addressOf(call),
    });
    this.keys = new KeyPresses(() => o.clock.now(), o.log);
    this.auth = new Authenticator({
      nonceKey: o.nonceKey, clock: o.clock, log: o.log, directory: o.directory, registrar: o.registrar,
      lockout: o.lockout, settings: o.settings, records: o.authRecords,
    });
    this.ext = new DialogExtensions({
      clock: o.clock, log: o.log, send: (rs) => this.send(rs), contactUri: (call) => this.contactUri(call),
      reply: (rq, status, reason, headers) => this.reply(rq, status, reason, headers),
      ok: (call, rq, headers, body) => {
        const rs = this.response(rq, 200, undefined, headers, call.localTag);
        if (body !== undefined) rs.content = body;
        this.send(rs);
      },
      dialogRequest: (call, method, headers, body) => this.dialogRequest(call, method, headers, call.flow, body),
      hangUp: (call, why) => void this.hangUp(call, why),
    });
    this.overload = new Overload({ log: o.log, status: o.status });
    this.registers = {
      auth: this.auth, registrar: o.registrar, clock: o.clock,
      reply: (r, status, reason, headers) => this.reply(r, status, reason, headers), challenge: (r, status, values) => this.challenge(r, status, values),
    };
    this.transfers = new Transfers({
      log: o.log, contactUri: (call) => this.contactUri(call),
      dialogRequest: (call, method, headers) => this.dialogRequest(call, method, headers),
      reply: (call, rq, status, reason) => this.send(this.response(rq, status, reason, {}, call.localTag)),
    });
    this.holds = new HoldTracker({
      limitSeconds: () => o.settings().holdLimitSeconds, now: () => o.clock.now(), log: o.log,
      changed: (call, onHold) => this.app?.held(call, onHold), hangUp: (call, why) => void this.hangUp(call, why),
    });
    this.subscriptions = new RoomSubscriptions({
      clock: o.clock, log: o.log, auth: this.auth, rooms: () => o.rooms ?? null,
      respond: (rq, status, reason, headers, toTag) => this.send(this.response(rq, status, reason, headers, toTag ?? randomUUID().slice(0, 8))),
      dialogRequest: (dialog, method, headers, body) => this.dialogRequest(dialog, method, headers, dialog.flow, body),
      contactUri: (flow, requestUri) => this.contactUri({ flow, invite: { uri: requestUri } }),
    });
    this.inviter = new InviteClient({
      transport: () => this.transport, log: o.log,
      openLeg: (call, options) => this.media.openLeg(call, options),
      provisionalCodec: () => this.media.provisionalCodec(),
      localMedia: (call, port) => this.media.local(call, port),
      contactUri: (call) => this.contactUri(call),
      addressOf: (call) => this.addressOf(call),
      connect: (call, remote) => {
        const problem = this.media.connect(call, remote, this.legTiming());
        if (problem) {
          this.o.log.warn(`the invited phone's answer: ${problem}`, { caller: call.caller });
          return false;
        }
        this.holds.update(call);
        return true;
      },
      adopt: (call) => {
        this.calls.set(call.key, call);
        this.journal(call);
        call.releaseFlow ??= this.transport?.keepOpen(call.flow) ?? null;
      },
      release: (call, why) => this.end(call, why),
      bye: (call, why) => void this.hangUp(call, why),
    });
  }

  /**
   * Calls an extension's registered phone for the application (an invitation), or a number that is not an extension
   * through the outbound PBX, showing `displayName` as the caller: resolves when it answers (the call is up; its keys
   * and its end reach the application like any call's), refuses or rings ringMs without an answer. An extension
   * without a registered phone, or another number without an outbound PBX, is 'unreachable' at once.
   */
  async invite(extension: string, displayName: string, ringMs: number): Promise<InviteOutcome> {
    const known = this.o.directory.extension(extension);
    const pbx = known ? undefined : this.o.directory.outboundPbx();
    const target = known
      ? registeredTarget(extension, await this.o.registrar.lookup(extension), (a) => this.o.addressFor?.(a) ?? this.o.publicAddress, known.displayName)
      : pbx ? pbxTarget(extension, pbx) : null;
    if (!target) {
      const reason = known ? `extension ${extension} has no registered phone` : `${extension} is not an extension, and no trusted peer is the outbound PBX`;
      return { ok: false, why: 'unreachable', status: 480, reason };
    }
    // A phone registered through a proxy that asked to stay on its way (Path) is called through that proxy.
    if (target.route?.[0]) {
      try {
        target.flow = { ...(await hopAddress(target.route[0])), local: target.flow.local };
      } catch (e) {
        return { ok: false, why: 'unreachable', status: 480, reason: `the proxy extension ${extension} registered through cannot be found: ${(e as Error).message}` };
      }
    }
    this.o.log.info('inviting a phone', { extension, contact: target.uri, transport: target.flow.protocol.toLowerCase(), address: target.flow.address, port: target.flow.port });
    const outcome = await this.inviter.call(target, { user: 'confbox', displayName }, ringMs);
    if (outcome.ok) this.o.log.info('the invited phone answered', { extension, callId: outcome.call.callId });
    else this.o.log.info('the invitation was not answered', { extension, why: outcome.why, status: outcome.status, reason: outcome.reason });
    return outcome;
  }

  /** How a call's leg times out and answers, from the settings: its audio timeout and symmetric RTP. */
  private legTiming(): { rtpTimeoutMs: number; symmetric: boolean } {
    const settings = this.o.settings();
    return { rtpTimeoutMs: settings.rtpTimeoutSeconds * 1000, symmetric: settings.symmetricRtp };
  }

  /** Starts taking requests; calls go to the application. */
  async start(app: CallApplication): Promise<void> {
    this.app = app;
    this.o.engine.events.on('rtpTimeout', (leg) => {
      const call = this.media.callOf(leg);
      if (!call) return;
      this.o.log.info('no audio from the phone: hanging up', { source: call.source, caller: call.caller, ...this.app?.describe(call), seconds: this.o.settings().rtpTimeoutSeconds });
      void this.hangUp(call, 'no audio');
    });
    this.o.engine.events.on('talk', (leg, state) => {
      const call = this.media.callOf(leg);
      if (call) this.app?.talk(call, state);
    });
    this.o.engine.events.on('dtmf', (leg, digit) => {
      const call = this.media.callOf(leg);
      if (call && call.state === 'confirmed' && this.keys.accept(call, digit, 'media')) this.app?.digit(call, digit);
    });
    this.transport = await SipTransport.start(
      { port: this.o.port, bind: this.o.bind, publicAddress: this.o.publicAddress, addressFor: this.o.addressFor, tls: this.o.tls, log: this.o.log, trusted: (a, protocol) => !!this.o.directory.trustedPeer(a, protocol) },
      (rq, remote, wire) => this.onRequest(rq, remote, wire),
    );
    this.accepting = true;
    this.overload.start();
    this.hangUpLeftovers();
  }

  /** The calls a crashed run left behind get their BYE, so that no phone sits in a silent call. */
  private hangUpLeftovers(): void {
    const left = this.o.journal?.leftover() ?? [];
    if (left.length === 0) return;
    this.o.log.warn('hanging up the calls the previous run left (it did not stop cleanly)', { calls: left.length });
    for (const entry of left) {
      const dialog: DialogState = { ...entry, flow: { ...entry.flow, local: { address: '', port: 0 } } };
      void this.dialogRequest(dialog, 'BYE', { reason: 'SIP;cause=200;text="the box restarted"' }).then((rs) => {
        this.o.log.info('call of the previous run hung up', { callId: entry.callId, status: rs.status });
      });
    }
  }

  /** What the next run needs to hang this call up. */
  private journal(call: Session): void {
    this.o.journal?.put(call.key, {
      callId: call.callId, localTag: call.localTag, remoteTag: call.remoteTag, localUri: call.localUri, remoteUri: call.remoteUri,
      remoteTarget: call.remoteTarget, routeSet: call.routeSet, flow: { protocol: call.flow.protocol, address: call.flow.address, port: call.flow.port },
      // Above any CSeq this run may still send in the call (refreshes every few minutes for a day).
      localSeq: call.localSeq + 10_000,
    });
  }

  /** Stops taking calls and hangs up every call in progress, waiting briefly for the BYEs' answers. */
  async stop(): Promise<void> {
    this.accepting = false;
    this.overload.stop();
    this.subscriptions.stop();
    const byes = [...this.calls.values()].filter((c) => c.state !== 'ended').map((c) => this.hangUp(c, 'the box is shutting down'));
    await Promise.race([Promise.all(byes), new Promise((r) => setTimeout(r, 2000))]);
    for (const c of this.calls.values()) this.end(c, 'shutdown');
    this.transport?.stop();
    this.transport = null;
  }

  /** The call by its key, while it lasts. */
  call(key: string): Call | undefined {
    return this.calls.get(key) ?? [...this.pending.values()].find((c) => c.key === key);
  }

  /** A wrong PIN (or a room that does not exist) counts against the caller's origin and the room. */
  wrongPin(call: Session, room: number): void {
    this.auth.failed(call.origin, [targets.room(room)]);
  }

  /** The caller's origin is blocked by the lockout. */
  isBlocked(call: Session): boolean {
    return this.auth.isBlocked(call.origin);
  }

  // --- requests ---

  private onRequest(rq: Message, remote: Remote, wire: Wire | null): void {
    try {
      this.dispatch(rq, remote, wire);
    } catch (e) {
      this.o.log.error('request handling failed', { err: e, method: rq.method, source: `${remote.address}:${remote.port}` });
      if (rq.method !== 'ACK') this.reply(rq, 500);
    }
  }

  private dispatch(rq: Message, remote: Remote, wire: Wire | null): void {
    const method = rq.method!;
    const source = remote.address;
    const bad = wire?.verdict ?? this.malformed(rq);
    if (bad) {
      this.o.log.warn('malformed request', { source: `${remote.protocol}:${remote.address}:${remote.port}`, method, reason: bad.reason });
      if (method === 'ACK') return;
      // The package rewrote the CSeq (unescaped its method, rounded its number): echo the bytes that came.
      const rawCseq = wire?.raw?.headers.find((h) => h.name === 'cseq')?.value.replace(/\s+/g, ' ');
      const parsed = rq.headers.cseq ? `${rq.headers.cseq.seq} ${rq.headers.cseq.method}` : '';
      const warning = `399 ${hostText(this.o.publicAddress)} "${bad.reason.replace(/["\\]/g, "'")}"`;
      if (wire?.raw && rawCseq !== undefined && rawCseq !== parsed && this.transport?.respondStateless(rq, wire.raw, bad.status, REASONS[bad.status]!, warning, remote)) return;
      this.reply(rq, bad.status, bad.reason);
      return;
    }
    if (method === 'ACK') return this.onAck(rq);
    if (method === 'CANCEL') return this.onCancel(rq);
    const uri = rq.uri ?? '';
    if (!/^sips?:/i.test(uri)) return this.reply(rq, 416, `the request URI scheme of "${uri.slice(0, 40)}" is not sip or sips`);
    const unsupported = unsupportedTags(rq).join(', ');
    if (unsupported && method !== 'BYE') {
      return this.reply(rq, 420, `extensions not supported: ${unsupported}`, { unsupported });
    }
    if (method === 'SUBSCRIBE') {
      return void this.subscriptions.receive(rq, remote).catch((err) => {
        this.o.log.error('request handling failed', { err, method, source });
        this.reply(rq, 500);
      });
    }
    if (rq.headers.to?.params.tag !== undefined) return this.inDialog(rq, remote);
    switch (method) {
      case 'INVITE': return void this.onInvite(rq, remote, source);
      case 'REGISTER': return void answerRegister(this.registers, rq, remote);
      case 'OPTIONS': return this.reply(rq, 200, undefined, { accept: 'application/sdp', 'accept-language': 'en' });
      case 'BYE':
      case 'INFO':
      case 'UPDATE':
      case 'PRACK': return this.reply(rq, 481);
      default: return this.reply(rq, 501, `${method.slice(0, 32)} is not supported`);
    }
  }

  /** Checks the package leaves to us: version, CSeq method, scalar ranges, body length. */
  private malformed(rq: Message): { status: number; reason: string } | null {
    if (rq.version !== '2.0') return { status: 505, reason: `SIP version ${String(rq.version).slice(0, 16)} is not supported` };
    const cseq = rq.headers.cseq;
    if (!cseq || !Number.isInteger(cseq.seq) || cseq.seq < 0 || cseq.seq > 0xffffffff) return { status: 400, reason: 'CSeq number is invalid' };
    if (cseq.method !== rq.method) return { status: 400, reason: 'CSeq method does not match the request method' };
    const cl = rq.headers['content-length'];
    if (cl !== undefined && (!Number.isFinite(cl) || cl < 0 || cl > Buffer.byteLength(rq.content ?? '', 'utf8'))) return { status: 400, reason: 'Content-Length does not match the body' };
    const callId = rq.headers['call-id'];
    if (typeof callId !== 'string' || callId.includes(',')) return { status: 400, reason: 'Call-ID is missing or repeated' };
    if (!rq.headers.to?.uri || !rq.headers.from?.uri) return { status: 400, reason: 'To or From is invalid' };
    const mf = rq.headers['max-forwards'];
    if (mf !== undefined && !/^\s*\d{1,10}\s*$/.test(String(mf))) return { status: 400, reason: 'Max-Forwards is invalid' };
    return null;
  }

  private async onInvite(rq: Message, remote: Remote, source: string): Promise<void> {
    if (!this.accepting) return this.reply(rq, 503, 'the box is shutting down', { 'retry-after': String(RETRY_AFTER_S) });
    const overloaded = this.overload.refusal(this.pending.size);
    if (overloaded) return this.reply(rq, 503, overloaded, { 'retry-after': String(OVERLOAD_RETRY_AFTER_S) });
    const call = this.newCall(rq, remote);
    this.pending.set(pendingKey(rq), call);
    this.publishSetup();
    this.send(this.response(rq, 100));
    try {
      await this.answerInvite(call, rq);
    } catch (e) {
      if (e instanceof BoxError) {
        await this.speakRejection(call, e);
        const answer = inviteRejection(e, RETRY_AFTER_S);
        this.reject(call, answer.status, e.message, { ...answer.headers, ...(REJECTION_HEADERS[e.sipStatus] ?? {}) });
      }
      else {
        this.o.log.error('call failed', { err: e, source });
        this.reject(call, 500, 'internal error');
      }
    } finally {
      this.pending.delete(pendingKey(rq));
      this.publishSetup();
    }
  }

  private async answerInvite(call: Session, rq: Message): Promise<void> {
    const app = this.app!;
    if (this.auth.inviteBlocked(call.origin, rq)) throw blockedError();
    const who = await this.auth.identify(rq, call.origin, 'invite');
    if (!who.ok) return this.challenge(rq, 407, who.challenges);
    call.caller = who.caller;
    call.displayName = who.displayName;
    const timer = this.ext.timer(rq);
    if (!timer.ok) return this.reject(call, timer.status, timer.reason, timer.headers);

    const contentType = headerText(rq, 'content-type')?.toLowerCase().split(';')[0]?.trim();
    // No body: a delayed offer (RFC 3261 13.2.1, as CUCM and many trunks send it); the box offers in its 200.
    const delayed = !rq.content;
    if (!delayed && contentType !== 'application/sdp') throw new BoxError(415, `body type ${contentType ?? '(none)'} is not supported; send application/sdp`);
    const accept = headerText(rq, 'accept');
    if (accept !== undefined && !acceptsSdp(accept)) throw new BoxError(406, `the box answers in application/sdp, which the INVITE's Accept (${accept.slice(0, 60)}) leaves out`);

    const dialed = dialedNumber(rq.uri!);
    if (dialed === null) throw new BoxError(484, 'the dialed number has a broken %-escape');
    call.dialed = dialed;
    app.route(call);
    if (!delayed) {
      const offer = negotiate(rq.content!, this.media.local(call, 9));
      if (!offer.ok) throw new BoxError(offer.status, offer.reason);
      call.media = offer.remote;
    }

    await app.decide(call);
    if (call.cancelled) return this.afterCancel(call);

    const timing = this.legTiming();
    if (call.media) await this.media.open(call, call.media, timing);
    else await this.media.openLeg(call, { ...this.media.provisionalCodec(), ...timing });
    app.answering(call);
    if (call.cancelled) return this.afterCancel(call);

    if (delayed) {
      call.offerPending = true;
      return this.accept(call, makeOffer(this.media.local(call, call.localPort)));
    }
    const answer = negotiate(rq.content!, this.media.local(call, call.localPort));
    if (!answer.ok) throw new BoxError(answer.status, answer.reason);
    this.accept(call, answer.answer);
    this.media.keysExchanged(call, answer.remote);
    this.holds.update(call);
  }

  private challenge(rq: Message, status: 401 | 407, values: string[]): void {
    const name = status === 401 ? 'www-authenticate' : 'proxy-authenticate';
    const call = rq.method === 'INVITE' ? this.pending.get(pendingKey(rq)) : undefined;
    if (call) {
      this.finish(call, status, undefined, { [name]: values.map(authObject) });
      return;
    }
    this.reply(rq, status, undefined, { [name]: values.map(authObject) });
  }

  private onCancel(rq: Message): void {
    const call = this.pending.get(pendingKey(rq));
    if (!call) return this.reply(rq, 481);
    this.reply(rq, 200);
    if (call.state !== 'proceeding' || call.cancelled) return;
    call.cancelled = true;
    this.o.log.info('call cancelled by the caller', { source: call.source, callId: call.callId });
    this.finish(call, 487);
    this.end(call, 'cancelled');
  }

  /** The caller cancelled while the box was deciding: undo what the call started. */
  private afterCancel(call: Session): void {
    this.end(call, 'cancelled');
  }

  private inDialog(rq: Message, remote: Remote): void {
    const key = dialogKey(rq.headers['call-id']!, String(rq.headers.to!.params.tag));
    const call = this.calls.get(key) ?? (rq.method === 'PRACK' || rq.method === 'UPDATE' ? [...this.pending.values()].find((p) => p.key === key) : undefined);
    if (!call || call.state === 'ended') return this.reply(rq, 481);
    const seq = rq.headers.cseq!.seq;
    if (seq <= call.remoteSeq && rq.method !== 'ACK') return this.reply(rq, 500, 'CSeq out of order');
    call.remoteSeq = seq;
    call.flow = remote;
    switch (rq.method) {
      case 'BYE':
        this.reply(rq, 200);
        this.o.log.info('caller hung up', { source: call.source, caller: call.caller, ...this.app?.describe(call), transport: remote.protocol.toLowerCase() });
        this.end(call, 'hung up');
        return;
      case 'INVITE':
        return this.reInvite(call, rq);
      case 'OPTIONS':
        return this.reply(rq, 200, undefined, { accept: 'application/sdp' });
      case 'INFO': {
        const info = parseDtmfInfo(headerText(rq, 'content-type'), rq.content ?? '');
        if (!info.ok) {
          this.o.log.warn('INFO refused', { source: call.source, caller: call.caller, status: info.status, reason: info.reason });
          return this.reply(rq, info.status, info.reason, info.headers);
        }
        this.reply(rq, 200);
        if (info.key && call.state === 'confirmed' && this.keys.accept(call, info.key, 'info')) this.app?.digit(call, info.key);
        return;
      }
      case 'NOTIFY':
        return this.transfers.notify(call, rq);
      case 'PRACK':
        return this.ext.prack(call, rq);
      case 'UPDATE':
        return call.state === 'proceeding' ? this.ext.earlyUpdate(call, rq) : this.reInvite(call, rq);
      default:
        return this.reply(rq, 501, `${rq.method!.slice(0, 32)} is not supported`);
    }
  }

  /** Hold, unhold or new media: a new offer on the same leg and port, by re-INVITE or by UPDATE (RFC 3311); either may also refresh the session timer. */
  private reInvite(call: Session, rq: Message): void {
    if (call.state === 'accepted') return this.reply(rq, 491, 'the previous INVITE is not acknowledged yet');
    const timer = this.ext.timer(rq);
    if (!timer.ok) return this.reply(rq, timer.status, timer.reason, timer.headers);
    call.sdpVersion++;
    let body = call.ok?.content ?? '';
    if (!rq.content) {
      // RFC 6337 5.3: an offer of what the call has now (its codec, telephone-event), answered in the ACK.
      const local = this.media.local(call, call.localPort);
      body = makeOffer(call.media ? { ...local, codecs: [call.media.codec] } : local);
      call.offerPending = true;
    } else {
      let res = negotiate(rq.content, this.media.local(call, call.localPort));
      if (!res.ok) return this.reply(rq, res.status, res.reason);
      // A key is never used again under another suite or after a stretch of plain RTP: the new stream gets a new one.
      const before = call.legOptions?.srtp ?? null;
      if (res.remote.crypto && (!before || before.suite !== res.remote.crypto.suite)) {
        call.srtpKey = new Uint8Array(randomBytes(30));
        res = negotiate(rq.content, this.media.local(call, call.localPort));
        if (!res.ok) return this.reply(rq, res.status, res.reason);
      }
      body = res.answer;
      call.legOptions = { ...call.legOptions, ...codecOf(res.remote, call.srtpKey) };
      this.media.keysExchanged(call, res.remote);
      try {
        if (call.leg !== null) this.o.engine.connectLeg(call.leg, res.remote.address, res.remote.port, call.legOptions);
      } catch (e) {
        return this.reply(rq, 488, `the offered media address cannot be used: ${e instanceof Error ? e.message : String(e)}`);
      }
      call.media = res.remote;
      this.holds.update(call);
    }
    const contact = Array.isArray(rq.headers.contact) ? rq.headers.contact[0]?.uri : undefined;
    if (contact) call.remoteTarget = contact;
    if (this.calls.has(call.key)) this.journal(call);
    if (rq.method === 'UPDATE') return this.ext.updated(call, rq, rq.content ? body : null, timer);
    call.invite = rq;
    const ok = this.response(rq, 200, undefined, { 'content-type': 'application/sdp', contact: [{ uri: this.contactUri(call), params: {} }], ...timer.headers }, call.localTag);
    ok.content = body;
    call.ok = ok;
    call.state = 'accepted';
    this.sendOk(call);
    this.ext.reinvited(call, timer);
  }

  private onAck(rq: Message): void {
    const tag = rq.headers.to?.params.tag;
    if (tag === undefined) return;
    const call = this.calls.get(dialogKey(rq.headers['call-id']!, String(tag)));
    if (!call || call.state !== 'accepted' || rq.headers.cseq!.seq !== call.invite.headers.cseq!.seq) return;
    this.stopRetransmit(call);
    if (call.offerPending) {
      call.offerPending = false;
      if (!this.takeAnswer(call, rq)) return;
    }
    call.state = 'confirmed';
    // The ACK of a re-INVITE's 200 changes nothing for the application.
    if (call.acknowledged) return;
    call.acknowledged = true;
    this.app?.confirmed(call);
  }

  /**
   * Where the caller offered audio and the box knows who it is, the reason is spoken as early
   * media (183 with SDP) before the final answer, so a person on a desk phone hears why.
   */
  private async speakRejection(call: Session, e: BoxError): Promise<void> {
    if (!call.media || !call.caller || call.state !== 'proceeding' || call.cancelled || e.sipStatus === 500) return;
    try {
      const leg = call.leg ?? (await this.media.open(call, call.media, { rtpTimeoutMs: null }, 'refusal'));
      const answer = negotiate(call.invite.content ?? '', this.media.local(call, call.localPort));
      if (!answer.ok || call.state !== 'proceeding' || call.cancelled) return;
      const early = this.response(call.invite, 183, undefined, this.dialogHeaders(call), call.localTag);
      early.content = answer.answer;
      this.ext.provisional(call, early);
      this.media.keysExchanged(call, answer.remote);
      if (leg === null) return;
      await Promise.race([Promise.all([this.app!.explain(call, e), this.ext.acknowledged(call)]), new Promise((r) => setTimeout(r, EARLY_MEDIA_MAX_MS))]);
    } catch (err) {
      this.o.log.debug('rejection not spoken', { err });
    }
  }

  /**
   * The caller's answer to the box's offer, in the ACK (delayed offer, or an offerless re-INVITE): the leg is pointed at
   * it. Without a usable answer a new call is ended with BYE; a running call keeps the media it had.
   */
  private takeAnswer(call: Session, ack: Message): boolean {
    const contentType = headerText(ack, 'content-type')?.toLowerCase().split(';')[0]?.trim();
    let problem: string | null = null;
    if (!ack.content) problem = 'the ACK carries no SDP answer to the box\'s offer';
    else if (contentType !== 'application/sdp') problem = `the ACK's body is ${contentType ?? '(untyped)'}, not an SDP answer`;
    let remote: RemoteMedia | null = null;
    if (!problem) {
      const res = acceptAnswer(ack.content!, this.media.local(call, call.localPort));
      if (res.ok) remote = res.remote;
      else problem = `the SDP answer in the ACK cannot be used: ${res.reason}`;
    }
    if (remote) {
      problem = this.media.connect(call, remote);
      if (!problem) {
        this.holds.update(call);
        return true;
      }
    }
    const established = call.media !== null;
    this.o.log.warn(established ? `${problem}: the call keeps its media` : `${problem}: hanging up`, { source: call.source, caller: call.caller, ...this.app?.describe(call) });
    if (!established) void this.hangUp(call, problem!);
    return established;
  }

  // --- answering ---

  private newCall(rq: Message, remote: Remote): Session {
    // The dialog's fields written out rather than spread in: V8 gives an object made by spreading another a hidden class
    // of its own, about 1 KB for every call in progress.
    const d = answerDialog(rq, remote);
    return {
      key: d.key,
      callId: d.callId,
      localTag: d.localTag,
      remoteTag: d.remoteTag,
      localUri: d.localUri,
      remoteUri: d.remoteUri,
      remoteTarget: d.remoteTarget,
      routeSet: d.routeSet,
      flow: d.flow,
      source: remote.address,
      origin: this.auth.origin(rq, remote),
      caller: '',
      displayName: '',
      dialed: '',
      requestUri: rq.uri!,
      localSeq: 1,
      remoteSeq: rq.headers.cseq!.seq,
      state: 'proceeding',
      invite: rq,
      ok: null,
      retransmit: null,
      ackTimeout: null,
      cancelled: false,
      media: null,
      heldSince: null,
      leg: null,
      localPort: 0,
      legOptions: null,
      srtpKey: new Uint8Array(randomBytes(30)),
      keysInClear: false,
      sdpVersion: 1,
      sessionId: String(Math.floor(Math.random() * 1e9)),
      releaseFlow: null,
      offerPending: false,
      acknowledged: false,
    };
  }

  /** Headers of a response that makes the dialog (183, 200): the box's Contact and the route set the caller's proxies asked for. */
  private dialogHeaders(call: Session): Record<string, unknown> {
    return { 'content-type': 'application/sdp', contact: [{ uri: this.contactUri(call), params: {} }], 'record-route': copiedRecordRoute(call.invite) };
  }

  private accept(call: Session, sdp: string): void {
    const timer = this.ext.timer(call.invite);
    const ok = this.response(call.invite, 200, undefined, { ...this.dialogHeaders(call), ...(timer.ok ? timer.headers : {}) }, call.localTag);
    ok.content = sdp;
    call.ok = ok;
    call.state = 'accepted';
    this.calls.set(call.key, call);
    this.journal(call);
    call.releaseFlow ??= this.transport?.keepOpen(call.flow) ?? null;
    this.sendOk(call);
    this.ext.answered(call, timer);
  }

  /** 2xx retransmission (RFC 3261 13.3.1.4): the package does not do it; BYE when no ACK comes. */
  private sendOk(call: Session): void {
    this.send(call.ok!);
    if (call.flow.protocol === 'UDP') {
      let interval = T1;
      const again = () => {
        if (call.state !== 'accepted') return;
        this.send(call.ok!);
        interval = Math.min(interval * 2, T2);
        call.retransmit = setTimeout(again, interval);
      };
      call.retransmit = setTimeout(again, interval);
    }
    call.ackTimeout = setTimeout(() => {
      if (call.state !== 'accepted') return;
      this.o.log.warn('no ACK for the 200 OK: hanging up', { source: call.source, caller: call.caller, ...this.app?.describe(call) });
      void this.hangUp(call, 'no ACK');
    }, TIMER_H);
  }

  private stopRetransmit(call: Session): void {
    if (call.retransmit) clearTimeout(call.retransmit);
    if (call.ackTimeout) clearTimeout(call.ackTimeout);
    call.retransmit = call.ackTimeout = null;
  }

  /** A final rejection of an INVITE, logged with its source and reason. */
  private reject(call: Session, status: number, reason: string, headers: Record<string, unknown> = {}): void {
    if (call.state !== 'proceeding' || call.cancelled) return;
    this.app?.rejected(call, status, reason);
    this.finish(call, status, reason, headers);
    this.end(call, 'rejected');
  }

  private finish(call: Session, status: number, reason?: string, headers: Record<string, unknown> = {}): void {
    if (call.state !== 'proceeding') return;
    this.send(this.response(call.invite, status, reason, headers, call.localTag));
    if (status >= 200) call.state = status < 300 ? 'accepted' : 'ended';
  }

  /** Sends BYE and ends the call (or rejects it while it is still being set up); resolves when the phone answers or the transaction times out. */
  hangUp(c: Call, why: string): Promise<void> {
    const call = this.calls.get(c.key) ?? [...this.pending.values()].find((p) => p.key === c.key);
    if (!call) return Promise.resolve();
    if (call.state === 'ended') return Promise.resolve();
    if (call.state === 'proceeding') {
      this.finish(call, 487);
      this.end(call, why);
      return Promise.resolve();
    }
    const flow = call.flow;
    const sent = this.dialogRequest(call, 'BYE', { reason: `SIP;cause=200;text="${why}"` }, flow);
    this.end(call, why);
    return sent.then((rs) => {
      this.o.log.debug('BYE answered', { caller: call.caller, status: rs.status, transport: flow.protocol.toLowerCase() });
    });
  }

  /**
   * Asks the caller's phone to call `dialed` at the address it called, and to end this call (a blind transfer):
   * only for a call that came through a proxy that stays in the dialog (record-routed), the proxy in front of
   * several boxes, which then routes the new call by what it dials. Resolves when the new call was answered, or
   * with why the caller was not sent on; the box hangs this call up itself after a success.
   */
  sendOn(c: Call, dialed: string): Promise<TransferOutcome> {
    const call = this.calls.get(c.key);
    if (!call || call.state !== 'confirmed') return Promise.resolve({ ok: false, why: 'the call is not up' });
    if (!call.routeSet.length) return Promise.resolve({ ok: false, why: 'the call did not come through a proxy' });
    const called = parseUri(call.requestUri);
    if (!called) return Promise.resolve({ ok: false, why: 'the address the caller called cannot be read' });
    const referTo = stringifyUri({ ...called, user: dialed, password: undefined, headers: {} });
    this.o.log.info('sending the caller on', { source: call.source, caller: call.caller, to: referTo.replace(/\*[0-9]+@/, '*…@') });
    return this.transfers.refer(call, referTo);
  }

  /**
   * Sends a request of the box within a dialog (RFC 3261 12.2.1.1): through the dialog's route set when proxies
   * record-routed it, otherwise back where the caller last spoke from. Resolves with the final response (a 408 or
   * 503 made up here when none comes).
   */
  private async dialogRequest(call: DialogState, method: string, headers: Record<string, unknown>, flow = call.flow, body?: { type: string; content: string }): Promise<Message> {
    const path = dialogPath(call.routeSet, call.remoteTarget);
    const rq: Message = {
      method,
      uri: path.uri,
      version: '2.0',
      headers: {
        via: [],
        to: { uri: call.remoteUri, params: { tag: call.remoteTag } },
        from: { uri: call.localUri, params: { tag: call.localTag } },
        'call-id': call.callId,
        cseq: { seq: ++call.localSeq, method },
        'max-forwards': '70',
        ...(path.route.length ? { route: path.route.map((uri) => ({ uri, params: {} })) } : {}),
        ...headers,
        'user-agent': SERVER,
        ...(body ? { 'content-type': body.type } : {}),
      },
      ...(body ? { content: body.content } : {}),
    };
    let target: Remote = flow;
    if (path.nextHop) {
      try {
        const hop = await hopAddress(path.nextHop);
        if (hop.protocol !== flow.protocol || hop.address !== flow.address || hop.port !== flow.port) target = { ...hop, local: flow.local };
      } catch (e) {
        this.o.log.warn('the route of the dialog cannot be resolved: sending where the caller last spoke from', { err: e, method, route: path.nextHop });
      }
    }
    return new Promise((resolve) => {
      if (!this.transport) return resolve({ status: 503, reason: 'Service Unavailable', headers: {} });
      this.transport.request(rq, target, (rs) => {
        const status = rs.status ?? 0;
        // Every 2xx to the box's re-INVITE, retransmissions included, is acknowledged.
        if (method === 'INVITE' && status >= 200 && status < 300) this.transport?.ack(ackOf(rq, rs), target);
        if (status >= 200) resolve(rs);
      });
    });
  }

  /** Releases everything a call holds; safe to call again when a late decision adds a leg or a place. */
  private end(call: Session, why: string): void {
    this.stopRetransmit(call);
    this.transfers.ended(call, why);
    this.ext.ended(call);
    this.holds.clear(call);
    this.o.journal?.remove(call.key);
    call.state = 'ended';
    this.calls.delete(call.key);
    call.releaseFlow?.();
    call.releaseFlow = null;
    this.media.close(call);
    this.app?.ended(call, why, call.ok !== null);
    this.o.log.debug('call ended', { callId: call.callId, why });
  }

  // --- messages ---

  private response(rq: Message, status: number, reason?: string, headers: Record<string, unknown> = {}, toTag?: string): Message {
    const rs = makeResponse(rq, status, REASONS[status] ?? 'Unknown');
    // A 505 must still be readable by a SIP/2.0 client.
    rs.version = '2.0';
    rs.headers.to = { ...rq.headers.to!, params: { ...rq.headers.to!.params } };
    if (toTag && status > 100 && rs.headers.to.params.tag === undefined) rs.headers.to.params.tag = toTag;
    rs.headers.server = SERVER;
    if (status === 405 || status === 501 || (status === 200 && rq.method === 'OPTIONS') || (rq.method === 'INVITE' && status > 100 && status < 300)) {
      rs.headers.allow = ALLOW;
      rs.headers['allow-events'] = ALLOW_EVENTS;
    }
    if (status < 300 && (rq.method === 'INVITE' || rq.method === 'OPTIONS' || rq.method === 'UPDATE')) rs.headers.supported = SUPPORTED;
    if (status >= 300 && reason) rs.headers.warning = `399 ${hostText(this.o.publicAddress)} "${reason.replace(/["\\\r\n]/g, "'")}"`;
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) rs.headers[k] = v;
    return rs;
  }

  private reply(rq: Message, status: number, reason?: string, headers: Record<string, unknown> = {}): void {
    this.send(this.response(rq, status, reason, headers, randomUUID().slice(0, 8)));
  }

  private send(rs: Message): void {
    this.transport?.respond(rs);
  }

  /** The box's address as this call's phone reaches it: of the phone's family. */
  private addressOf(call: { flow: Remote }): string {
    return this.o.addressFor?.(call.flow.address) ?? this.o.publicAddress;
  }

  /**
   * Where the phone sends its in-dialog requests: over TCP with transport=tcp, over TLS the TLS port with transport=tls, or a sips: URI
   * when the phone asked for one (RFC 3261 12.1.1), so that its BYE comes back over TLS too.
   */
  private contactUri(call: { flow: Remote; invite: Pick<Message, 'uri'> }): string {
    const address = this.addressOf(call);
    const host = address.includes(':') ? `[${address}]` : address;
    if (call.flow.protocol === 'TCP') return `sip:confbox@${host}:${this.o.port};transport=tcp`;
    if (call.flow.protocol !== 'TLS' || !this.o.tls) return `sip:confbox@${host}:${this.o.port}`;
    if (/^sips:/i.test(String(call.invite.uri))) return `sips:confbox@${host}:${this.o.tls.port}`;
    return `sip:confbox@${host}:${this.o.tls.port};transport=tls`;
  }

  private publishSetup(): void {
    this.o.status.set({ callsInSetup: this.pending.size });
  }
}

