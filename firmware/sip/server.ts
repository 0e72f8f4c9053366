import { randomBytes, randomUUID } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { blockedError, parseFeatureCode, targets, type Conference, type FeatureCode } from '../conference/index.ts';
import { BoxError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MediaEngine, MediaLegOptions } from '../media/index.ts';
import type { Phrase, Voice } from '../media/voice.ts';
import { parsePin, parseRoomId } from '../conference/index.ts';
import type { RoomService } from '../rooms.ts';
import type { Status } from '../status.ts';
import { Authenticator, headerText, userOf, type Origin } from './auth.ts';
import { ALLOW } from './wire.ts';
import type { Directory } from './directory.ts';
import type { ContactRequest, Registrar } from './registrar.ts';
import { negotiate, type CodecName, type LocalMedia, type RemoteMedia } from './sdp.ts';
import { makeResponse, parseUri, SipTransport, type Message, type Remote, type Wire } from './stack.ts';

const T1 = 500;
const T2 = 4000;
const TIMER_H = 32_000;
const SERVER = `confbox/${typeof CONFBOX_VERSION === 'string' ? CONFBOX_VERSION : 'dev'}`;
const RETRY_AFTER_S = 30;

declare const CONFBOX_VERSION: string | undefined;

const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 183: 'Session Progress', 200: 'OK', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 407: 'Proxy Authentication Required',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 420: 'Bad Extension', 423: 'Interval Too Brief',
  481: 'Call/Transaction Does Not Exist', 484: 'Address Incomplete', 486: 'Busy Here', 487: 'Request Terminated',
  488: 'Not Acceptable Here', 491: 'Request Pending', 500: 'Server Internal Error', 501: 'Not Implemented',
  503: 'Service Unavailable', 505: 'Version Not Supported',
};

export interface SipServerOptions {
  port: number;
  /** SIP over TLS: its port and the box's certificate; null: UDP and TCP only. */
  tls: { port: number; cert: Buffer; key: Buffer } | null;
  bind: string;
  publicAddress: string;
  codecs: CodecName[];
  /** Secret for stateless digest nonces; the same key keeps challenges valid across a restart. */
  nonceKey: Buffer;
  /** How long a create/delete call stays up for its spoken confirmation before the box hangs up. */
  confirmationMs: number;
  log: Logger;
  clock: Clock;
  rooms: RoomService;
  directory: Directory;
  registrar: Registrar;
  engine: MediaEngine;
  voice: Voice;
  status: Status;
}

/** The voice menu of "*400" alone: room number, then PIN, each ended with #. */
interface Menu {
  stage: 'room' | 'pin';
  digits: string;
  room: number;
  tries: number;
  timer: NodeJS.Timeout | null;
}

const MENU_TRIES = 3;
const MENU_DIGIT_TIMEOUT_MS = 20_000;
/** Longest a rejection's spoken reason may hold the final answer back. */
const EARLY_MEDIA_MAX_MS = 8000;

type CallState = 'proceeding' | 'accepted' | 'confirmed' | 'ended';

/** One call to the box: an INVITE server transaction and, once answered, a UAS dialog. */
interface Call {
  key: string;
  callId: string;
  localTag: string;
  remoteTag: string;
  localUri: string;
  remoteUri: string;
  remoteTarget: string;
  flow: Remote;
  source: string;
  /** Where the call comes from, as the lockout counts it. */
  origin: Origin;
  caller: string;
  displayName: string;
  localSeq: number;
  remoteSeq: number;
  state: CallState;
  /** The INVITE being answered (initial or re-INVITE) and its 2xx, retransmitted until ACK. */
  invite: Message;
  ok: Message | null;
  retransmit: NodeJS.Timeout | null;
  ackTimeout: NodeJS.Timeout | null;
  hangupTimer: NodeJS.Timeout | null;
  cancelled: boolean;
  code: FeatureCode | null;
  /** The previous DTMF digit, for two-key commands like *6. */
  lastDigit: string;
  menu: Menu | null;
  /** The caller's negotiated media, once the offer was accepted. */
  media: RemoteMedia | null;
  leg: number | null;
  localPort: number;
  legOptions: MediaLegOptions | null;
  /** The box's SRTP master key and salt for this call (30 octets), in its answers' a=crypto. */
  srtpKey: Uint8Array;
  /** SRTP keys of this call crossed the network in clear (logged and counted once per call). */
  keysInClear: boolean;
  sdpVersion: number;
  sessionId: string;
  conference: Conference | null;
  /** Lets go of the TCP or TLS connection the call came over (kept open while the call lasts). */
  releaseFlow: (() => void) | null;
}

export class SipServer {
  private transport: SipTransport | null = null;
  private calls = new Map<string, Call>();
  private pending = new Map<string, Call>();
  private byLeg = new Map<number, Call>();
  private auth: Authenticator;
  private accepting = false;

  constructor(private readonly o: SipServerOptions) {
    this.auth = new Authenticator({
      nonceKey: o.nonceKey, clock: o.clock, log: o.log, directory: o.directory, registrar: o.registrar,
      lockout: o.rooms.lockout, settings: () => o.rooms.settings(),
    });
  }

  async start(): Promise<void> {
    this.o.engine.events.on('rtpTimeout', (leg) => {
      const call = this.byLeg.get(leg);
      if (!call) return;
      this.o.log.info('no audio from the phone: hanging up', { source: call.source, caller: call.caller, seconds: this.o.rooms.settings().rtpTimeoutSeconds });
      void this.hangUp(call, 'no audio');
    });
    this.o.engine.events.on('dtmf', (leg, digit) => {
      const call = this.byLeg.get(leg);
      if (call) this.onDigit(call, digit);
    });
    this.transport = await SipTransport.start(
      { port: this.o.port, bind: this.o.bind, publicAddress: this.o.publicAddress, tls: this.o.tls, log: this.o.log, trusted: (a, protocol) => !!this.o.directory.trustedPeer(a, protocol) },
      (rq, remote, wire) => this.onRequest(rq, remote, wire),
    );
    this.accepting = true;
  }

  /** Stops taking calls and hangs up every call in progress, waiting briefly for the BYEs' answers. */
  async stop(): Promise<void> {
    this.accepting = false;
    const byes = [...this.calls.values()].filter((c) => c.state !== 'ended').map((c) => this.hangUp(c, 'the box is shutting down'));
    await Promise.race([Promise.all(byes), new Promise((r) => setTimeout(r, 2000))]);
    for (const c of this.calls.values()) this.end(c, 'shutdown');
    this.transport?.stop();
    this.transport = null;
  }

  /** Hangs up every participant of a conference (expiry, or a technician ending it). */
  hangUpConference(conf: Conference, reason: string): void {
    for (const p of conf.participants.values()) {
      const call = this.calls.get(p.id);
      if (call) void this.hangUp(call, reason);
    }
  }

  /** The web page removes someone: the box hangs up that call. */
  removeParticipant(conf: Conference, participantId: string): boolean {
    const call = this.calls.get(participantId);
    if (!call || call.conference !== conf) return false;
    void this.hangUp(call, 'removed by the administrator');
    return true;
  }

  /** The web page mutes or unmutes someone, who hears the new state as after *6. */
  setParticipantMuted(conf: Conference, participantId: string, muted: boolean): boolean {
    const call = this.calls.get(participantId);
    if (!call || call.conference !== conf || call.leg === null) return false;
    this.applyMute(call, conf, muted);
    return true;
  }

  private applyMute(call: Call, conf: Conference, muted: boolean): void {
    this.o.rooms.conferences.setMuted(conf.key, call.key, muted);
    this.o.engine.setMuted(call.leg!, muted);
    this.o.log.info(muted ? 'participant muted' : 'participant unmuted', { caller: call.caller, room: conf.roomId });
    void this.o.voice.say({ leg: call.leg! }, { kind: 'muted', on: muted });
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
      const warning = `399 ${this.o.publicAddress} "${bad.reason.replace(/["\\]/g, "'")}"`;
      if (wire?.raw && rawCseq !== undefined && rawCseq !== parsed && this.transport?.respondStateless(rq, wire.raw, bad.status, REASONS[bad.status]!, warning, remote)) return;
      this.reply(rq, bad.status, bad.reason);
      return;
    }
    if (method === 'ACK') return this.onAck(rq);
    if (method === 'CANCEL') return this.onCancel(rq);
    const uri = rq.uri ?? '';
    if (!/^sips?:/i.test(uri)) return this.reply(rq, 416, `the request URI scheme of "${uri.slice(0, 40)}" is not sip or sips`);
    const require = headerText(rq, 'require');
    if (require && method !== 'BYE') {
      return this.reply(rq, 420, `extensions not supported: ${require}`, { unsupported: require });
    }
    if (rq.headers.to?.params.tag !== undefined) return this.inDialog(rq, remote);
    switch (method) {
      case 'INVITE': return void this.onInvite(rq, remote, source);
      case 'REGISTER': return void this.onRegister(rq, remote, source);
      case 'OPTIONS': return this.reply(rq, 200, undefined, { accept: 'application/sdp', 'accept-language': 'en' });
      case 'BYE':
      case 'INFO': return this.reply(rq, 481);
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
    const call = this.newCall(rq, remote);
    this.pending.set(pendingKey(rq), call);
    this.publishSetup();
    this.send(this.response(rq, 100));
    try {
      await this.answerInvite(call, rq, source);
    } catch (e) {
      if (e instanceof BoxError) {
        await this.speakRejection(call, e);
        this.reject(call, e.sipStatus, e.message, e.sipStatus === 503 ? { 'retry-after': String(RETRY_AFTER_S) } : {});
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

  private async answerInvite(call: Call, rq: Message, source: string): Promise<void> {
    const rooms = this.o.rooms;
    if (this.auth.isBlocked(call.origin)) throw blockedError();
    const who = await this.auth.identify(rq, call.origin, 'invite');
    if (!who.ok) return this.challenge(rq, 407, who.challenges);
    call.caller = who.caller;
    call.displayName = who.displayName;

    const contentType = headerText(rq, 'content-type')?.toLowerCase().split(';')[0]?.trim();
    if (!rq.content) throw new BoxError(488, 'an SDP offer is required in the INVITE');
    if (contentType !== 'application/sdp') throw new BoxError(415, `body type ${contentType ?? '(none)'} is not supported; send application/sdp`);

    const code = parseFeatureCode(dialedNumber(rq.uri!));
    call.code = code;
    const offer = negotiate(rq.content, this.localMedia(call, 9));
    if (!offer.ok) throw new BoxError(offer.status, offer.reason);
    call.media = offer.remote;

    try {
      if (code.kind === 'menu') call.menu = { stage: 'room', digits: '', room: 0, tries: 0, timer: null };
      else if (code.kind === 'create') await rooms.create(code, call.caller, source);
      else if (code.kind === 'delete') await rooms.delete(code, call.caller, source);
      else call.conference = await rooms.join(code, { id: call.key, caller: call.caller, displayName: call.displayName, source });
    } catch (e) {
      // A wrong PIN (or a room that does not exist) counts against the caller's origin and the room.
      if (e instanceof BoxError && e.code === 'wrong-pin' && code.kind !== 'menu') this.auth.failed(call.origin, [targets.room(code.room)]);
      throw e;
    }
    if (call.cancelled) return this.afterCancel(call);

    const media = offer.remote;
    const settings = rooms.settings();
    const leg = await this.openMedia(call, media, { rtpTimeoutMs: settings.rtpTimeoutSeconds * 1000, symmetric: settings.symmetricRtp });
    if (call.conference) this.o.engine.joinConference(leg, call.conference.key);
    if (call.cancelled) return this.afterCancel(call);

    const answer = negotiate(rq.content, this.localMedia(call, call.localPort));
    if (!answer.ok) throw new BoxError(answer.status, answer.reason);
    this.accept(call, answer.answer);
    this.keysExchanged(call, answer.remote);
  }

  /** The box's side of an SDP answer for this call: address, port, codecs and SRTP policy and key. */
  private localMedia(call: Call, port: number): LocalMedia {
    const srtp = this.o.engine.srtp();
    return {
      address: this.o.publicAddress, port, codecs: this.o.codecs, sessionId: call.sessionId, sessionVersion: call.sdpVersion,
      srtp: { policy: this.o.rooms.settings().srtp, key: call.srtpKey, unavailable: srtp.available ? undefined : srtp.reason },
    };
  }

  /** SDES keys travel in the SDP: over SIP without TLS anyone who captures the signalling can decrypt the audio. */
  private keysExchanged(call: Call, media: RemoteMedia): void {
    if (!media.crypto || call.flow.protocol === 'TLS' || call.keysInClear) return;
    call.keysInClear = true;
    const s = this.o.status.get();
    this.o.status.set({ srtpKeysInClear: s.srtpKeysInClear + 1, srtpKeysInClearAt: this.o.clock.now() });
    this.o.log.warn(`SRTP keys were sent in clear over ${call.flow.protocol}: whoever captures this call's signalling can decrypt its audio; use SIP over TLS`, { source: call.source, caller: call.caller, transport: call.flow.protocol });
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

  private async onRegister(rq: Message, remote: Remote, source: string): Promise<void> {
    try {
      const toUri = parseUri(rq.headers.to!.uri);
      if (!toUri || !/^sips?$/i.test(toUri.schema ?? '')) return this.reply(rq, 400, 'To must be a sip: address of record');
      const origin = this.auth.origin(rq, remote);
      if (this.auth.isBlocked(origin)) throw blockedError();
      const who = await this.auth.identify(rq, origin, 'register');
      if (!who.ok) return this.challenge(rq, 401, who.challenges);
      if (who.caller !== toUri.user) return this.reply(rq, 403, `${who.caller} may not register ${toUri.user ?? ''}`);
      const contactHeader = rq.headers.contact;
      const headerExpires = numberHeader(rq, 'expires');
      let contacts: ContactRequest[] | '*' = [];
      if (contactHeader === '*' || (Array.isArray(contactHeader) && contactHeader.some((c) => c.uri === '*'))) contacts = '*';
      else if (Array.isArray(contactHeader)) {
        contacts = contactHeader.map((c) => ({ uri: c.uri, expires: c.params.expires != null && /^\d{1,10}$/.test(String(c.params.expires)) ? Number(c.params.expires) : null }));
      }
      const res = this.o.registrar.register(who.caller, `${remote.protocol.toLowerCase()}:${remote.address}:${remote.port}`, contacts, headerExpires);
      if (!res.ok) return this.reply(rq, res.status, res.reason, res.minExpires ? { 'min-expires': String(res.minExpires) } : {});
      const contact = res.bindings.map((b) => ({ uri: b.contact, params: { expires: String(b.expires) } }));
      this.reply(rq, 200, undefined, { contact: contact.length ? contact : undefined, date: new Date(this.o.clock.now()).toUTCString() });
    } catch (e) {
      if (e instanceof BoxError) return this.reply(rq, e.sipStatus, e.message);
      throw e;
    }
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
  private afterCancel(call: Call): void {
    this.end(call, 'cancelled');
  }

  private inDialog(rq: Message, remote: Remote): void {
    const key = dialogKey(rq.headers['call-id']!, String(rq.headers.to!.params.tag));
    const call = this.calls.get(key);
    if (!call || call.state === 'ended') return this.reply(rq, 481);
    const seq = rq.headers.cseq!.seq;
    if (seq <= call.remoteSeq && rq.method !== 'ACK') return this.reply(rq, 500, 'CSeq out of order');
    call.remoteSeq = seq;
    call.flow = remote;
    switch (rq.method) {
      case 'BYE':
        this.reply(rq, 200);
        this.o.log.info('caller hung up', { source: call.source, caller: call.caller, room: call.conference?.roomId, transport: remote.protocol.toLowerCase() });
        this.end(call, 'hung up');
        return;
      case 'INVITE':
        return this.reInvite(call, rq);
      case 'OPTIONS':
        return this.reply(rq, 200, undefined, { accept: 'application/sdp' });
      case 'INFO':
        return this.reply(rq, 200);
      default:
        return this.reply(rq, 501, `${rq.method!.slice(0, 32)} is not supported`);
    }
  }

  /** Hold, unhold or new media: a new offer on the same leg and port. */
  private reInvite(call: Call, rq: Message): void {
    if (call.state === 'accepted') return this.reply(rq, 491, 'the previous INVITE is not acknowledged yet');
    call.sdpVersion++;
    let body = call.ok?.content ?? '';
    if (rq.content) {
      let res = negotiate(rq.content, this.localMedia(call, call.localPort));
      if (!res.ok) return this.reply(rq, res.status, res.reason);
      // A key is never used again under another suite or after a stretch of plain RTP: the new stream gets a new one.
      const before = call.legOptions?.srtp ?? null;
      if (res.remote.crypto && (!before || before.suite !== res.remote.crypto.suite)) {
        call.srtpKey = new Uint8Array(randomBytes(30));
        res = negotiate(rq.content, this.localMedia(call, call.localPort));
        if (!res.ok) return this.reply(rq, res.status, res.reason);
      }
      body = res.answer;
      call.legOptions = { ...call.legOptions, ...codecOf(res.remote, call.srtpKey) };
      this.keysExchanged(call, res.remote);
      try {
        if (call.leg !== null) this.o.engine.connectLeg(call.leg, res.remote.address, res.remote.port, call.legOptions);
      } catch (e) {
        return this.reply(rq, 488, `the offered media address cannot be used: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    call.invite = rq;
    const ok = this.response(rq, 200, undefined, { 'content-type': 'application/sdp', contact: [{ uri: this.contactUri(call), params: {} }] }, call.localTag);
    ok.content = body;
    call.ok = ok;
    call.state = 'accepted';
    this.sendOk(call);
  }

  private onAck(rq: Message): void {
    const tag = rq.headers.to?.params.tag;
    if (tag === undefined) return;
    const call = this.calls.get(dialogKey(rq.headers['call-id']!, String(tag)));
    if (!call || call.state !== 'accepted' || rq.headers.cseq!.seq !== call.invite.headers.cseq!.seq) return;
    this.stopRetransmit(call);
    call.state = 'confirmed';
    const code = call.code;
    if (code?.kind === 'create' || code?.kind === 'delete') void this.confirm(call, code);
    else if (call.menu) void this.menuPrompt(call, { kind: 'menuRoom' });
    else if (call.conference) this.joined(call, call.conference);
  }

  /** A create or delete: say what was done, then hang up. */
  private async confirm(call: Call, code: Extract<FeatureCode, { kind: 'create' | 'delete' }>): Promise<void> {
    const phrase: Phrase = code.kind === 'create' ? { kind: 'created', room: code.room, minutes: code.duration } : { kind: 'deleted', room: code.room };
    if (call.leg !== null) await this.o.voice.say({ leg: call.leg }, phrase);
    if (call.state === 'confirmed') call.hangupTimer = setTimeout(() => void this.hangUp(call, 'confirmation played'), this.o.confirmationMs);
  }

  /** A new member: the others hear the join tone; someone alone is told so and hears waiting music. */
  private joined(call: Call, conf: Conference): void {
    if (conf.participants.size === 1) {
      void this.o.voice.say({ leg: call.leg! }, { kind: 'only' }).then(() => {
        if (call.conference === conf && conf.participants.size === 1) this.o.voice.music(conf.key);
      });
      return;
    }
    this.o.voice.stop({ conference: conf.key });
    this.o.voice.tone({ conference: conf.key }, 'join-tone');
  }

  /** Someone left: the leave tone, and waiting music for whoever is now alone. */
  private left(conf: Conference): void {
    if (!this.o.rooms.conferences.get(conf.key)) return;
    this.o.voice.tone({ conference: conf.key }, 'leave-tone');
    if (conf.participants.size === 1) setTimeout(() => {
      if (this.o.rooms.conferences.get(conf.key) && conf.participants.size === 1) this.o.voice.music(conf.key);
    }, 600);
  }

  /** A participant that is not a call (the box's own microphone and speaker) joined: the others hear the join tone. */
  participantJoined(conf: Conference): void {
    this.o.voice.stop({ conference: conf.key });
    this.o.voice.tone({ conference: conf.key }, 'join-tone');
  }

  /** A participant that is not a call left: the leave tone, and waiting music for whoever is now alone. */
  participantLeft(conf: Conference): void {
    this.left(conf);
  }

  /** One minute before the end: everyone hears it. */
  warnConference(conf: Conference): void {
    void this.o.voice.say({ conference: conf.key }, { kind: 'oneMinute' });
  }

  /** Duration over: everyone hears that the conference has ended, then is hung up. */
  async endConference(conf: Conference): Promise<void> {
    await this.o.voice.say({ conference: conf.key }, { kind: 'ended' });
    this.hangUpConference(conf, 'the conference has ended');
  }

  /**
   * Where the caller offered audio and the box knows who it is, the reason is spoken as early
   * media (183 with SDP) before the final answer, so a person on a desk phone hears why.
   */
  private async speakRejection(call: Call, e: BoxError): Promise<void> {
    if (!call.media || !call.caller || call.state !== 'proceeding' || call.cancelled || e.sipStatus === 500) return;
    try {
      const leg = call.leg ?? (await this.openMedia(call, call.media, { rtpTimeoutMs: null }));
      const answer = negotiate(call.invite.content ?? '', this.localMedia(call, call.localPort));
      if (!answer.ok || call.state !== 'proceeding' || call.cancelled) return;
      const early = this.response(call.invite, 183, undefined, { 'content-type': 'application/sdp', contact: [{ uri: this.contactUri(call), params: {} }] }, call.localTag);
      early.content = answer.answer;
      this.send(early);
      this.keysExchanged(call, answer.remote);
      const room = call.code && call.code.kind !== 'menu' ? call.code.room : undefined;
      const said = this.o.voice.say({ leg }, { kind: 'rejection', code: e.code, room });
      await Promise.race([said, new Promise((r) => setTimeout(r, EARLY_MEDIA_MAX_MS))]);
    } catch (err) {
      this.o.log.debug('rejection not spoken', { err });
    }
  }

  /** Opens the call's leg on a port of the range and points it at the caller's media. */
  private async openMedia(call: Call, media: RemoteMedia, extra: Pick<MediaLegOptions, 'rtpTimeoutMs' | 'symmetric'>): Promise<number> {
    call.legOptions = { ...codecOf(media, call.srtpKey), ...extra };
    const { leg, localPort } = await this.o.engine.openLeg(call.legOptions);
    call.leg = leg;
    call.localPort = localPort;
    this.byLeg.set(leg, call);
    try {
      this.o.engine.connectLeg(leg, media.address, media.port, call.legOptions);
    } catch (e) {
      throw new BoxError(488, `the offered media address cannot be used: ${e instanceof Error ? e.message : String(e)}`);
    }
    return leg;
  }

  // --- the voice menu ---

  private async menuPrompt(call: Call, phrase: Phrase): Promise<void> {
    const menu = call.menu;
    if (!menu || call.leg === null) return;
    if (menu.timer) clearTimeout(menu.timer);
    menu.timer = null;
    await this.o.voice.say({ leg: call.leg }, phrase);
    if (call.menu !== menu || call.state !== 'confirmed') return;
    menu.timer = setTimeout(() => void this.menuFailed(call, null), MENU_DIGIT_TIMEOUT_MS);
  }

  private onMenuDigit(call: Call, menu: Menu, digit: string): void {
    if (digit !== '#') {
      if (/^[0-9]$/.test(digit) && menu.digits.length < 16) menu.digits += digit;
      return;
    }
    const digits = menu.digits;
    menu.digits = '';
    try {
      if (menu.stage === 'room') {
        menu.room = parseRoomId(digits);
        menu.stage = 'pin';
        void this.menuPrompt(call, { kind: 'menuPin' });
        return;
      }
      void this.menuJoin(call, menu, parsePin(digits));
    } catch (e) {
      void this.menuFailed(call, e instanceof BoxError ? e : null);
    }
  }

  private async menuJoin(call: Call, menu: Menu, pin: string): Promise<void> {
    if (menu.timer) clearTimeout(menu.timer);
    try {
      const conf = await this.o.rooms.join({ kind: 'join', room: menu.room, pin }, { id: call.key, caller: call.caller, displayName: call.displayName, source: call.source });
      if (call.state !== 'confirmed' || call.leg === null) {
        this.o.rooms.leave(conf, call.key, call.caller, call.source, false);
        return;
      }
      call.menu = null;
      call.conference = conf;
      call.code = { kind: 'join', room: menu.room, pin };
      this.o.engine.joinConference(call.leg, conf.key);
      this.joined(call, conf);
    } catch (e) {
      if (e instanceof BoxError && e.code === 'wrong-pin') this.auth.failed(call.origin, [targets.room(menu.room)]);
      await this.menuFailed(call, e instanceof BoxError ? e : null);
    }
  }

  /** A try went wrong (or timed out): say why and start again, or say goodbye after the third. */
  private async menuFailed(call: Call, e: BoxError | null): Promise<void> {
    const menu = call.menu;
    if (!menu || call.leg === null) return;
    if (menu.timer) clearTimeout(menu.timer);
    menu.timer = null;
    menu.tries++;
    menu.stage = 'room';
    menu.digits = '';
    if (e) this.o.rooms.rejected(call.caller, call.source, menu.room || null, e.sipStatus, `voice menu: ${e.message}`);
    const leg = { leg: call.leg };
    await this.o.voice.say(leg, e ? { kind: 'rejection', code: e.code, room: menu.room || undefined } : { kind: 'menuRetry' });
    if (menu.tries >= MENU_TRIES || this.auth.isBlocked(call.origin)) {
      await this.o.voice.say(leg, { kind: 'goodbye' });
      void this.hangUp(call, 'voice menu: no valid room and PIN');
      return;
    }
    void this.menuPrompt(call, { kind: 'menuRoom' });
  }

  /** In-call keys: *6 mutes or unmutes the caller, # tells how many are in the room. */
  private onDigit(call: Call, digit: string): void {
    const prev = call.lastDigit;
    call.lastDigit = digit;
    if (call.menu && call.state === 'confirmed') return this.onMenuDigit(call, call.menu, digit);
    const conf = call.conference;
    if (!conf || call.state !== 'confirmed' || call.leg === null) return;
    if (digit === '#' && prev !== '*') {
      void this.o.voice.say({ leg: call.leg }, { kind: 'participants', count: conf.participants.size });
      return;
    }
    if (prev === '*' && digit === '6') {
      const p = conf.participants.get(call.key);
      if (!p) return;
      this.applyMute(call, conf, !p.muted);
    }
  }

  // --- answering ---

  private newCall(rq: Message, remote: Remote): Call {
    const localTag = randomUUID().replace(/-/g, '').slice(0, 16);
    const contact = Array.isArray(rq.headers.contact) ? rq.headers.contact[0]?.uri : undefined;
    return {
      key: dialogKey(rq.headers['call-id']!, localTag),
      callId: rq.headers['call-id']!,
      localTag,
      remoteTag: String(rq.headers.from!.params.tag ?? ''),
      localUri: rq.headers.to!.uri,
      remoteUri: rq.headers.from!.uri,
      remoteTarget: contact ?? rq.headers.from!.uri,
      flow: remote,
      source: remote.address,
      origin: this.auth.origin(rq, remote),
      caller: '',
      displayName: '',
      localSeq: 1,
      remoteSeq: rq.headers.cseq!.seq,
      state: 'proceeding',
      invite: rq,
      ok: null,
      retransmit: null,
      ackTimeout: null,
      hangupTimer: null,
      cancelled: false,
      code: null,
      lastDigit: '',
      menu: null,
      media: null,
      leg: null,
      localPort: 0,
      legOptions: null,
      srtpKey: new Uint8Array(randomBytes(30)),
      keysInClear: false,
      sdpVersion: 1,
      sessionId: String(Math.floor(Math.random() * 1e9)),
      conference: null,
      releaseFlow: null,
    };
  }

  private accept(call: Call, sdp: string): void {
    const ok = this.response(call.invite, 200, undefined, { 'content-type': 'application/sdp', contact: [{ uri: this.contactUri(call), params: {} }] }, call.localTag);
    ok.content = sdp;
    call.ok = ok;
    call.state = 'accepted';
    this.calls.set(call.key, call);
    call.releaseFlow ??= this.transport?.keepOpen(call.flow) ?? null;
    this.sendOk(call);
  }

  /** 2xx retransmission (RFC 3261 13.3.1.4): the package does not do it; BYE when no ACK comes. */
  private sendOk(call: Call): void {
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
      this.o.log.warn('no ACK for the 200 OK: hanging up', { source: call.source, caller: call.caller });
      void this.hangUp(call, 'no ACK');
    }, TIMER_H);
  }

  private stopRetransmit(call: Call): void {
    if (call.retransmit) clearTimeout(call.retransmit);
    if (call.ackTimeout) clearTimeout(call.ackTimeout);
    call.retransmit = call.ackTimeout = null;
  }

  /** A final rejection of an INVITE, logged with its source and reason. */
  private reject(call: Call, status: number, reason: string, headers: Record<string, unknown> = {}): void {
    if (call.state !== 'proceeding' || call.cancelled) return;
    const room = call.code && call.code.kind !== 'menu' ? call.code.room : null;
    this.o.rooms.rejected(call.caller || userOf(call.remoteUri), call.source, room, status, reason);
    this.finish(call, status, reason, headers);
    this.end(call, 'rejected');
  }

  private finish(call: Call, status: number, reason?: string, headers: Record<string, unknown> = {}): void {
    if (call.state !== 'proceeding') return;
    this.send(this.response(call.invite, status, reason, headers, call.localTag));
    if (status >= 200) call.state = status < 300 ? 'accepted' : 'ended';
  }

  /** Sends BYE and ends the call; resolves when the phone answers or the transaction times out. */
  private hangUp(call: Call, why: string): Promise<void> {
    if (call.state === 'ended') return Promise.resolve();
    if (call.state === 'proceeding') {
      this.finish(call, 487);
      this.end(call, why);
      return Promise.resolve();
    }
    const bye: Message = {
      method: 'BYE',
      uri: call.remoteTarget,
      version: '2.0',
      headers: {
        via: [],
        to: { uri: call.remoteUri, params: { tag: call.remoteTag } },
        from: { uri: call.localUri, params: { tag: call.localTag } },
        'call-id': call.callId,
        cseq: { seq: ++call.localSeq, method: 'BYE' },
        'max-forwards': '70',
        reason: `SIP;cause=200;text="${why}"`,
        'user-agent': SERVER,
      },
    };
    const flow = call.flow;
    this.end(call, why);
    return new Promise((resolve) => {
      if (!this.transport) return resolve();
      this.transport.request(bye, flow, (rs) => {
        if ((rs.status ?? 0) < 200) return;
        this.o.log.debug('BYE answered', { caller: call.caller, status: rs.status, transport: flow.protocol.toLowerCase() });
        resolve();
      });
    });
  }

  /** Releases everything a call holds; safe to call again when a late decision adds a leg or a place. */
  private end(call: Call, why: string): void {
    if (call.hangupTimer) clearTimeout(call.hangupTimer);
    this.stopRetransmit(call);
    call.state = 'ended';
    this.calls.delete(call.key);
    call.releaseFlow?.();
    call.releaseFlow = null;
    if (call.leg !== null) {
      this.o.engine.closeLeg(call.leg);
      this.byLeg.delete(call.leg);
      call.leg = null;
    }
    if (call.menu?.timer) clearTimeout(call.menu.timer);
    call.menu = null;
    if (call.conference) {
      const conf = call.conference;
      call.conference = null;
      this.o.rooms.leave(conf, call.key, call.caller, call.source, call.ok !== null);
      this.left(conf);
    }
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
    if (status === 405 || status === 501 || (status === 200 && rq.method === 'OPTIONS')) rs.headers.allow = ALLOW;
    if (status >= 300 && reason) rs.headers.warning = `399 ${this.o.publicAddress} "${reason.replace(/["\\\r\n]/g, "'")}"`;
    for (const [k, v] of Object.entries(headers)) if (v !== undefined) rs.headers[k] = v;
    return rs;
  }

  private reply(rq: Message, status: number, reason?: string, headers: Record<string, unknown> = {}): void {
    this.send(this.response(rq, status, reason, headers, randomUUID().slice(0, 8)));
  }

  private send(rs: Message): void {
    this.transport?.respond(rs);
  }

  /**
   * Where the phone sends its in-dialog requests: over TLS the TLS port with transport=tls, or a sips: URI
   * when the phone asked for one (RFC 3261 12.1.1), so that its BYE comes back over TLS too.
   */
  private contactUri(call: Call): string {
    const host = this.o.publicAddress.includes(':') ? `[${this.o.publicAddress}]` : this.o.publicAddress;
    if (call.flow.protocol !== 'TLS' || !this.o.tls) return `sip:confbox@${host}:${this.o.port}`;
    if (/^sips:/i.test(String(call.invite.uri))) return `sips:confbox@${host}:${this.o.tls.port}`;
    return `sip:confbox@${host}:${this.o.tls.port};transport=tls`;
  }

  private publishSetup(): void {
    this.o.status.set({ callsInSetup: this.pending.size });
  }
}

/** What the engine needs of the negotiated media to code (and encrypt) a leg; localKey is the box's SRTP key. */
function codecOf(m: RemoteMedia, localKey: Uint8Array): Pick<MediaLegOptions, 'codec' | 'payloadType' | 'ptime' | 'dtmfPayloadType' | 'srtp'> {
  const srtp = m.crypto ? { suite: m.crypto.suite, local: localKey, remote: m.crypto.key } : null;
  return { codec: m.codec, payloadType: m.payloadType, ptime: m.ptime, dtmfPayloadType: m.dtmfPayloadType, srtp };
}

function dialogKey(callId: string, localTag: string): string {
  return `${callId}\n${localTag}`;
}

/** CANCEL carries the INVITE's Call-ID and top Via branch. */
function pendingKey(rq: Message): string {
  return `${rq.headers['call-id']}\n${rq.headers.via?.[0]?.params.branch ?? ''}`;
}

function numberHeader(rq: Message, name: string): number | null {
  const v = headerText(rq, name)?.trim();
  return v && /^\d{1,10}$/.test(v) ? Number(v) : null;
}

/** The dialed number: the Request-URI's user part, percent-decoded (%2A is *). */
function dialedNumber(uri: string): string {
  const u = parseUri(uri);
  const user = u?.user ?? '';
  try {
    return decodeURIComponent(user);
  } catch {
    throw new BoxError(484, 'the dialed number has a broken %-escape');
  }
}

/** A challenge header value back into the package's object form, so it stringifies it. */
function authObject(value: string): Record<string, string> {
  const sp = value.indexOf(' ');
  const out: Record<string, string> = { scheme: value.slice(0, sp) };
  for (const m of value.slice(sp + 1).matchAll(/([A-Za-z0-9-]+)=("(?:[^"\\]|\\.)*"|[^,\s]*)/g)) out[m[1]!] = m[2]!;
  return out;
}
