import { parseFeatureCode, type Conference, type FeatureCode } from '../conference/index.ts';
import { BoxError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MediaEngine, TalkState } from '../media/index.ts';
import type { Phrase, Voice } from '../media/voice.ts';
import { RecordingRefused, type RecordingInfo } from '../recordings/index.ts';
import type { RoomService } from '../rooms.ts';
import { userOf } from '../sip/auth.ts';
import type { InviteFailure } from '../sip/invite-client.ts';
import type { Call, CallApplication } from '../sip/session.ts';
import { VoiceMenu, type MenuHost } from './voice-menu.ts';

/** What the application needs of the SIP layer under it. */
export interface CallControl {
  /** Sends BYE (or rejects a call still being set up). */
  hangUp(call: Call, why: string): Promise<void>;
  /**
   * Asks the caller's phone to call `dialed` through the proxy it called, and to end this call (a blind transfer);
   * resolves when the new call was answered, or with why the caller was not sent on.
   */
  sendOn(call: Call, dialed: string): Promise<{ ok: true } | { ok: false; why: string }>;
  call(key: string): Call | undefined;
  wrongPin(call: Call, room: number): void;
  isBlocked(call: Call): boolean;
  /** Calls an extension's phone as `displayName`: the answered call, or why it did not answer (see sip/invite-client.ts). */
  invite(extension: string, displayName: string, ringMs: number): Promise<{ ok: true; call: Call } | { ok: false; why: InviteFailure; status: number; reason: string }>;
}

/** How long an invited phone rings before the box gives up; how long its user has to press 1. */
const INVITE_RING_MS = 30_000;
const INVITE_ANSWER_MS = 30_000;

export interface ConferenceCallsOptions {
  rooms: RoomService;
  engine: MediaEngine;
  voice: Voice;
  log: Logger;
  /** How long a create/delete call stays up for its spoken confirmation before the box hangs up. */
  confirmationMs: number;
  /** Mutes a participant that is not a call (the room's own microphone); false when there is none by that id. */
  muteOther?(participantId: string, muted: boolean): boolean;
  /** How many other boxes share the database and run now; absent or 0: the box is alone. */
  otherBoxes?(): number;
  /** Writes conferences' mixes to files (see recordings/recorder.ts). */
  recorder: Recorder;
}

/** What the application needs of the recorder: start (may throw RecordingRefused) and stop a conference's recording. */
export interface Recorder {
  start(conference: string, room: number): RecordingInfo;
  stop(conference: string): RecordingInfo | null;
}

/**
 * Who asked for a moderator's action: a moderator's call (keys), or the page, the API and the room's own options
 * (an administrator, named in words).
 */
export type Moderator = { call: Call } | { administrator: string };

/** How long a conference whose room ends meetings without a moderator goes on after the last moderator left. */
const MODERATOR_GONE_MS = 60_000;

/** The keys after * that only a moderator may press. */
const MODERATOR_KEYS = ['1', '2', '3', '4', '5', '9'];

function describe(by: Moderator): string {
  return 'call' in by ? `moderator ${by.call.caller}` : by.administrator;
}

/** What the application keeps of one call. */
interface CallPlace {
  code: FeatureCode;
  /** The previous DTMF digit, for two-key commands like *6. */
  lastDigit: string;
  menu: VoiceMenu | null;
  conference: Conference | null;
  hangupTimer: NodeJS.Timeout | null;
  /** A moderator keying in an extension to invite (after *5), until #. */
  dialing?: string | null;
  /** A phone the box called for a moderator: the conference it may join by pressing 1, and who invited it. */
  invitedTo?: { conf: Conference; by: string } | null;
}

/**
 * The conference box as a call application: feature codes (*400 join, *401 create, *402 delete), the voice menu,
 * the in-call keys, the prompts and tones, and what the web page does to calls. Knows nothing of SIP dialects.
 */
export class ConferenceCalls implements CallApplication {
  private places = new Map<string, CallPlace>();
  private sip: CallControl | null = null;
  /** Conferences ending because their last moderator left, by key: the minute's timer. */
  private readonly moderatorGone = new Map<string, NodeJS.Timeout>();

  constructor(private readonly o: ConferenceCallsOptions) {}

  /** The SIP layer this application hangs calls up through. */
  attach(sip: CallControl): void {
    this.sip = sip;
  }

  route(call: Call): void {
    this.places.set(call.key, { code: parseFeatureCode(call.dialed), lastDigit: '', menu: null, conference: null, hangupTimer: null });
  }

  async decide(call: Call): Promise<void> {
    const place = this.place(call);
    const code = place.code;
    const rooms = this.o.rooms;
    try {
      if (code.kind === 'menu') place.menu = new VoiceMenu(call, this.menuHost());
      else if (code.kind === 'create') await rooms.create(code, call.caller, call.source);
      else if (code.kind === 'delete') await rooms.delete(code, call.caller, call.source);
      else place.conference = await rooms.join(code, { id: call.key, caller: call.caller, displayName: call.displayName, source: call.source });
    } catch (e) {
      if (e instanceof BoxError && e.code === 'wrong-pin' && code.kind !== 'menu') this.sip?.wrongPin(call, code.room);
      throw e;
    }
  }

  answering(call: Call): void {
    const place = this.places.get(call.key);
    if (place?.conference) this.enterMix(call, place.conference);
  }

  async explain(call: Call, e: BoxError): Promise<void> {
    if (call.leg === null) return;
    const code = this.places.get(call.key)?.code;
    const room = code && code.kind !== 'menu' ? code.room : undefined;
    await this.o.voice.say({ leg: call.leg }, { kind: 'rejection', code: e.code, room });
  }

  rejected(call: Call, status: number, reason: string): void {
    const code = this.places.get(call.key)?.code;
    const room = code && code.kind !== 'menu' ? code.room : null;
    this.o.rooms.rejected(call.caller || userOf(call.remoteUri), call.source, room, status, reason);
  }

  confirmed(call: Call): void {
    const place = this.places.get(call.key);
    if (!place) return;
    const code = place.code;
    if (code.kind === 'create' || code.kind === 'delete') void this.confirm(call, place, code);
    else if (place.menu) void place.menu.start();
    else if (place.conference) this.joined(call, place.conference);
  }

  /**
   * In-call keys: *6 mutes or unmutes the caller, # tells how many are in the room, *0 says the keys; a moderator's
   * *1 locks or unlocks, *2 mutes or unmutes everyone else, *3 removes the last to join, *4 starts or stops
   * recording, *9 ends the conference.
   * In the voice menu, its digits.
   */
  digit(call: Call, digit: string): void {
    const place = this.places.get(call.key);
    if (!place) return;
    const prev = place.lastDigit;
    place.lastDigit = digit;
    if (place.menu) return place.menu.digit(digit);
    if (place.invitedTo) {
      if (digit === '1') this.acceptInvitation(call, place);
      return;
    }
    if (place.dialing !== undefined && place.dialing !== null) return this.dialingDigit(call, place, digit);
    const conf = place.conference;
    if (!conf || call.leg === null) return;
    if (digit === '#' && prev !== '*') {
      const onHold = [...conf.participants.values()].filter((p) => p.onHold).length;
      void this.o.voice.say({ leg: call.leg }, { kind: 'participants', count: conf.participants.size, onHold });
      return;
    }
    const me = conf.participants.get(call.key);
    if (prev !== '*' || !me) return;
    if (digit === '6') return this.applyMute(call, conf, !me.muted);
    if (digit === '0') return void this.o.voice.say({ leg: call.leg }, { kind: 'help', moderator: me.moderator === true });
    if (!MODERATOR_KEYS.includes(digit)) return;
    if (!me.moderator) return void this.o.voice.say({ leg: call.leg }, { kind: 'moderatorOnly' });
    const by = { call };
    if (digit === '1') this.lockConference(conf, !conf.locked, by);
    else if (digit === '2') this.muteAll(conf, !this.othersMuted(conf, call.key), by);
    else if (digit === '3') this.removeLastJoined(conf, call);
    else if (digit === '4') this.toggleRecording(conf, by);
    else if (digit === '5') {
      place.dialing = '';
      void this.o.voice.say({ leg: call.leg }, { kind: 'inviteNumber' });
    }
    else if (digit === '9') void this.endConference(conf, 'the moderator ended the conference', { kind: 'endedByModerator' });
  }

  /** A caller on hold is in the room but not heard (the engine keeps it out of the mix); the others see and hear so. */
  held(call: Call, onHold: boolean): void {
    const conf = this.places.get(call.key)?.conference;
    if (conf) this.o.rooms.conferences.setOnHold(conf.key, call.key, onHold);
  }

  /** Who is talking, and whose line is noisy: the live view shows it. */
  talk(call: Call, state: TalkState): void {
    const conf = this.places.get(call.key)?.conference;
    if (conf) this.o.rooms.conferences.setTalk(conf.key, call.key, state);
  }

  describe(call: Call): Record<string, unknown> {
    const room = this.places.get(call.key)?.conference?.roomId;
    return room === undefined ? {} : { room };
  }

  ended(call: Call, why: string, answered: boolean): void {
    const place = this.places.get(call.key);
    if (!place) return;
    this.places.delete(call.key);
    if (place.hangupTimer) clearTimeout(place.hangupTimer);
    place.menu?.close();
    place.menu = null;
    if (place.conference) {
      const conf = place.conference;
      place.conference = null;
      const wasModerator = conf.participants.get(call.key)?.moderator === true;
      this.o.rooms.leave(conf, call.key, call.caller, call.source, answered, why);
      this.left(conf);
      if (wasModerator) this.moderatorLeft(conf);
    }
  }

  // --- what the rest of the box does to calls ---

  /** Hangs up every participant of a conference and every phone still being invited to it (expiry, or a technician ending it). */
  hangUpConference(conf: Conference, reason: string): void {
    for (const p of conf.participants.values()) {
      const call = this.sip?.call(p.id);
      if (call) void this.sip!.hangUp(call, reason);
    }
    // A phone still hearing an invitation to it is hung up too: there is nothing left to join.
    for (const [key, place] of this.places) {
      if (place.invitedTo?.conf !== conf) continue;
      place.invitedTo = null;
      const call = this.sip?.call(key);
      if (call) void this.sip!.hangUp(call, reason);
    }
  }

  /** The web page removes someone: the box hangs up that call. */
  removeParticipant(conf: Conference, participantId: string): boolean {
    const call = this.sip?.call(participantId);
    if (!call || this.places.get(call.key)?.conference !== conf) return false;
    void this.sip!.hangUp(call, 'removed by the administrator');
    return true;
  }

  /** The web page mutes or unmutes someone, who hears the new state as after *6. */
  setParticipantMuted(conf: Conference, participantId: string, muted: boolean): boolean {
    const call = this.sip?.call(participantId);
    if (!call || this.places.get(call.key)?.conference !== conf || call.leg === null) return false;
    this.applyMute(call, conf, muted);
    return true;
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

  /** A moderator (keys) or an administrator (page, API) locks or unlocks the conference; everyone hears it. */
  lockConference(conf: Conference, locked: boolean, by: Moderator): void {
    if (!this.o.rooms.conferences.setLocked(conf.key, locked)) return;
    this.o.log.info(locked ? 'conference locked' : 'conference unlocked', { room: conf.roomId, by: describe(by) });
    void this.o.voice.say({ conference: conf.key }, { kind: 'locked', on: locked });
  }

  /**
   * Mutes or unmutes everyone but the moderators (each hears "you are muted" as after *6); the moderator who pressed
   * the key hears that it was done. Returns how many changed.
   */
  muteAll(conf: Conference, muted: boolean, by: Moderator): number {
    let changed = 0;
    for (const p of [...conf.participants.values()]) {
      if (p.moderator || p.muted === muted) continue;
      const call = this.sip?.call(p.id);
      if (call && call.leg !== null && this.places.get(call.key)?.conference === conf) this.applyMute(call, conf, muted);
      else if (!this.o.muteOther?.(p.id, muted)) continue;
      changed++;
    }
    this.o.log.info(muted ? 'everyone muted' : 'everyone unmuted', { room: conf.roomId, participants: changed, by: describe(by) });
    if ('call' in by && by.call.leg !== null) void this.o.voice.say({ leg: by.call.leg }, { kind: 'allMuted', on: muted });
    return changed;
  }

  /**
   * Starts recording the conference's mix; everyone hears "this conference is being recorded" (and so does the
   * recording). Refused with a BoxError (507) when the disk is short of space: a moderator who pressed the key hears
   * why. Returns the recording, or null when it was being recorded already.
   */
  startRecording(conf: Conference, by: Moderator): RecordingInfo | null {
    return this.beginRecording(conf, by)?.info ?? null;
  }

  /** startRecording, also giving the announcement's end. */
  private beginRecording(conf: Conference, by: Moderator): { info: RecordingInfo; announced: Promise<void> } | null {
    if (conf.recording) return null;
    let info: RecordingInfo;
    try {
      info = this.o.recorder.start(conf.key, conf.roomId);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.o.log.warn('recording refused', { room: conf.roomId, why, by: describe(by) });
      if ('call' in by && by.call.leg !== null) void this.o.voice.say({ leg: by.call.leg }, { kind: 'recordingRefused' });
      if (e instanceof RecordingRefused) throw new BoxError(507, `room ${conf.roomId} cannot be recorded: ${why}`, 'recording', 'recording-refused');
      throw new BoxError(500, `room ${conf.roomId} cannot be recorded: ${why}`, 'recording', 'recording-refused');
    }
    this.o.rooms.conferences.setRecording(conf.key, true);
    this.o.log.info('recording started', { room: conf.roomId, file: info.file, by: describe(by) });
    return { info, announced: this.o.voice.say({ conference: conf.key }, { kind: 'recording', on: true }) };
  }

  /** Stops recording the conference; everyone hears it. Returns the finished recording, or null when there was none. */
  stopRecording(conf: Conference, by: Moderator): RecordingInfo | null {
    const info = this.finishRecording(conf, describe(by));
    if (info && this.o.rooms.conferences.get(conf.key)) void this.o.voice.say({ conference: conf.key }, { kind: 'recording', on: false });
    return info;
  }

  /**
   * Invites a phone into the conference: the box calls the extension's registered phone (the room as caller name),
   * which hears where it is invited and joins on 1. A moderator who keyed it hears "calling …" and, when it does
   * not answer, why (busy, declined, no answer, cannot be reached). Resolves with what became of the call.
   */
  async invite(conf: Conference, extension: string, by: Moderator): Promise<{ answered: true } | { answered: false; why: InviteFailure; reason: string }> {
    if (!/^[0-9A-Za-z._+-]{1,32}$/.test(extension)) throw new BoxError(400, `extension must be 1 to 32 letters, digits or . _ + -, not "${extension.slice(0, 40)}"`, 'extension');
    if (!this.sip) throw new BoxError(503, 'the box is starting', undefined, 'unavailable');
    const moderator = 'call' in by ? by.call : null;
    if (moderator?.leg != null) void this.o.voice.say({ leg: moderator.leg }, { kind: 'calling', number: extension });
    this.o.log.info('inviting into the conference', { room: conf.roomId, extension, by: describe(by) });
    const outcome = await this.sip.invite(extension, `Conference room ${conf.roomId}`, INVITE_RING_MS);
    if (!outcome.ok) {
      // The moderator's leg is read again: the moderator may have hung up while the phone rang.
      if (moderator?.leg != null) void this.o.voice.say({ leg: moderator.leg }, { kind: 'inviteFailed', why: outcome.why });
      return { answered: false, why: outcome.why, reason: outcome.reason };
    }
    const call = outcome.call;
    const inviter = moderator?.caller ?? '';
    const place: CallPlace = { code: { kind: 'join', room: conf.roomId, pin: '' }, lastDigit: '', menu: null, conference: null, hangupTimer: null, invitedTo: { conf, by: describe(by) } };
    this.places.set(call.key, place);
    place.hangupTimer = setTimeout(() => {
      if (place.invitedTo) void this.sip?.hangUp(call, 'the invitation was not accepted');
    }, INVITE_ANSWER_MS);
    if (call.leg !== null) {
      const phrase: Phrase = { kind: 'invited', room: conf.roomId, by: /^\d{1,16}$/.test(inviter) ? inviter : null };
      void this.o.voice.say({ leg: call.leg }, phrase).then(async () => {
        await new Promise((r) => setTimeout(r, 3000));
        if (place.invitedTo && call.leg !== null && call.state === 'confirmed') await this.o.voice.say({ leg: call.leg }, phrase);
      });
    }
    return { answered: true };
  }

  /** One minute before the end: everyone hears it. */
  warnConference(conf: Conference): void {
    void this.o.voice.say({ conference: conf.key }, { kind: 'oneMinute' });
  }

  /**
   * Duration over, or ended on the web page: everyone hears that the conference has ended, then is hung up;
   * `why` is what the BYE and the call log say.
   */
  async endConference(conf: Conference, why = 'the conference has ended: its time was up', phrase: Phrase = { kind: 'ended' }): Promise<void> {
    await this.o.voice.say({ conference: conf.key }, phrase);
    this.hangUpConference(conf, why);
  }

  // --- inside ---

  private place(call: Call): CallPlace {
    const place = this.places.get(call.key);
    if (!place) throw new Error(`call ${call.callId} was not routed`);
    return place;
  }

  /** Whether everyone but the moderators is muted already (then *2 unmutes). */
  private othersMuted(conf: Conference, except: string): boolean {
    const others = [...conf.participants.values()].filter((p) => p.id !== except && !p.moderator);
    return others.length > 0 && others.every((p) => p.muted);
  }

  /** A digit of the extension a moderator keys in after *5: # calls it, * gives up. */
  private dialingDigit(call: Call, place: CallPlace, digit: string): void {
    const number = place.dialing ?? '';
    if (digit === '*') {
      place.dialing = null;
      return;
    }
    if (digit !== '#') {
      if (number.length < 32) place.dialing = number + digit;
      return;
    }
    place.dialing = null;
    const conf = place.conference;
    if (!conf || number === '') return;
    void this.invite(conf, number, { call }).catch((e: unknown) => this.o.log.warn('invitation failed', { err: e, room: conf.roomId }));
  }

  /** The invited phone pressed 1: it joins the conference it was invited to, if that still runs and has room. */
  private acceptInvitation(call: Call, place: CallPlace): void {
    const invitation = place.invitedTo!;
    place.invitedTo = null;
    if (place.hangupTimer) clearTimeout(place.hangupTimer);
    place.hangupTimer = null;
    const conf = invitation.conf;
    if (call.leg === null) return;
    this.o.voice.stop({ leg: call.leg });
    if (!this.o.rooms.conferences.get(conf.key)) {
      void this.o.voice.say({ leg: call.leg }, { kind: 'ended' }).then(() => this.sip?.hangUp(call, 'the conference had ended'));
      return;
    }
    try {
      this.o.rooms.joinInvited(conf.roomId, { id: call.key, caller: call.caller, displayName: call.displayName, source: call.source }, invitation.by);
    } catch (e) {
      const code = e instanceof BoxError ? e.code : 'unavailable';
      void this.o.voice.say({ leg: call.leg }, { kind: 'rejection', code, room: conf.roomId }).then(() => this.sip?.hangUp(call, e instanceof Error ? e.message : 'could not join'));
      return;
    }
    place.conference = conf;
    this.o.log.info('the invited phone joined', { room: conf.roomId, caller: call.caller, by: invitation.by });
    this.enterMix(call, conf);
    this.joined(call, conf);
  }

  /** *4: recording on or off; a refusal is spoken to the moderator by startRecording. */
  private toggleRecording(conf: Conference, by: Moderator): void {
    if (conf.recording) {
      this.stopRecording(conf, by);
      return;
    }
    try {
      this.startRecording(conf, by);
    } catch {
      // logged and spoken by startRecording
    }
  }

  /** Closes the conference's recording file without a word (also when the conference has ended). */
  private finishRecording(conf: Conference, by: string): RecordingInfo | null {
    const info = this.o.recorder.stop(conf.key);
    if (!this.o.rooms.conferences.setRecording(conf.key, false)) conf.recording = false;
    if (info) this.o.log.info('recording stopped', { room: conf.roomId, file: info.file, seconds: Math.round(info.seconds), bytes: info.bytes, by });
    return info;
  }

  /** *3: the last caller who joined hears why and is hung up; the moderator hears that it was done. */
  private removeLastJoined(conf: Conference, moderator: Call): void {
    const last = this.o.rooms.conferences.lastJoined(conf.key, moderator.key);
    const call = last && this.sip?.call(last.id);
    if (!last || !call || this.places.get(call.key)?.conference !== conf) {
      if (moderator.leg !== null) void this.o.voice.say({ leg: moderator.leg }, { kind: 'nobodyToRemove' });
      return;
    }
    this.o.log.info('participant removed by the moderator', { room: conf.roomId, caller: last.caller, by: moderator.caller });
    if (moderator.leg !== null) void this.o.voice.say({ leg: moderator.leg }, { kind: 'removedLast' });
    const hangUp = () => void this.sip?.hangUp(call, 'removed by the moderator');
    if (call.leg === null) return hangUp();
    void this.o.voice.say({ leg: call.leg }, { kind: 'removedByModerator' }).then(hangUp);
  }

  private applyMute(call: Call, conf: Conference, muted: boolean): void {
    this.o.rooms.conferences.setMuted(conf.key, call.key, muted);
    this.o.engine.setMuted(call.leg!, muted);
    this.o.log.info(muted ? 'participant muted' : 'participant unmuted', { caller: call.caller, room: conf.roomId });
    void this.o.voice.say({ leg: call.leg! }, { kind: 'muted', on: muted });
  }

  /** A create or delete: say what was done, then hang up. */
  private async confirm(call: Call, place: CallPlace, code: Extract<FeatureCode, { kind: 'create' | 'delete' }>): Promise<void> {
    const phrase: Phrase = code.kind === 'create' ? { kind: 'created', room: code.room, minutes: code.duration } : { kind: 'deleted', room: code.room };
    if (call.leg !== null) await this.o.voice.say({ leg: call.leg }, phrase);
    if (call.state === 'confirmed') place.hangupTimer = setTimeout(() => void this.sip?.hangUp(call, 'confirmation played'), this.o.confirmationMs);
  }

  /**
   * A new member: the others hear the join tone; someone alone is told so and hears waiting music. In a room that
   * records its meetings, the first member starts the recording (and hears that it runs); later members hear that
   * the conference is being recorded.
   */
  private joined(call: Call, conf: Conference): void {
    const moderator = conf.participants.get(call.key)?.moderator === true;
    if (this.waits(conf, call.key)) return this.waitForModerator(call, conf);
    const waited = moderator ? this.moderatorArrived(conf, call) : 0;
    if (waited > 0) {
      this.o.voice.stop({ conference: conf.key });
      void this.recordIfTheRoomSays(conf).then(() => this.o.voice.say({ conference: conf.key }, { kind: 'moderatorJoined' }));
      return;
    }
    if (conf.participants.size === 1) {
      const told = this.recordIfTheRoomSays(conf).then(() => (moderator ? this.o.voice.say({ leg: call.leg! }, { kind: 'youAreModerator' }) : undefined));
      void told.then(() => this.o.voice.say({ leg: call.leg! }, { kind: 'only' })).then(() => {
        if (this.places.get(call.key)?.conference === conf && conf.participants.size === 1) this.o.voice.music(conf.key);
      });
      return;
    }
    this.o.voice.stop({ conference: conf.key });
    this.o.voice.tone({ conference: conf.key }, 'join-tone');
    const notice = conf.recording ? this.o.voice.say({ leg: call.leg! }, { kind: 'recording', on: true }) : Promise.resolve();
    if (moderator) void notice.then(() => this.o.voice.say({ leg: call.leg! }, { kind: 'youAreModerator' }));
  }

  /** In a room that records its meetings, the meeting's start starts the recording; resolves when it has been announced. */
  private recordIfTheRoomSays(conf: Conference): Promise<void> {
    if (!conf.recordMeetings || conf.recording) return Promise.resolve();
    try {
      return this.beginRecording(conf, { administrator: `the room's record option` })?.announced ?? Promise.resolve();
    } catch {
      return Promise.resolve(); // logged by startRecording; the meeting goes on unrecorded
    }
  }

  /** A member's leg joins the conference's mix, unless it is kept waiting for the moderator. */
  private enterMix(call: Call, conf: Conference): void {
    if (call.leg !== null && !this.waits(conf, call.key)) this.o.engine.joinConference(call.leg, conf.key);
  }

  /** Whether this member of the conference is kept waiting for the moderator (out of the mix, hearing music). */
  private waits(conf: Conference, id: string): boolean {
    return conf.waiting && conf.participants.get(id)?.moderator !== true;
  }

  /** A caller in a room that waits for its moderator: told so, then music of its own until the moderator comes. */
  private waitForModerator(call: Call, conf: Conference): void {
    this.o.log.info('waiting for the moderator', { room: conf.roomId, caller: call.caller, waiting: conf.participants.size });
    void this.o.voice.say({ leg: call.leg! }, { kind: 'waitingForModerator' }).then(() => {
      if (call.leg !== null && this.places.get(call.key)?.conference === conf && this.waits(conf, call.key)) this.o.voice.musicFor({ leg: call.leg });
    });
  }

  /**
   * A moderator joined: the meeting begins (the callers waiting stop their music and join the mix), and a meeting
   * that was to end for want of a moderator goes on. Returns how many callers had been waiting.
   */
  private moderatorArrived(conf: Conference, moderator: Call): number {
    if (this.cancelEnding(conf)) this.o.log.info('a moderator is back: the conference goes on', { room: conf.roomId, caller: moderator.caller });
    if (!conf.waiting) return 0;
    this.o.rooms.conferences.setWaiting(conf.key, false);
    let waited = 0;
    for (const p of conf.participants.values()) {
      const call = p.id === moderator.key ? undefined : this.sip?.call(p.id);
      if (!call || call.leg === null || this.places.get(call.key)?.conference !== conf) continue;
      this.o.voice.stop({ leg: call.leg });
      this.o.engine.joinConference(call.leg, conf.key);
      waited++;
    }
    this.o.log.info('the moderator joined: the conference begins', { room: conf.roomId, caller: moderator.caller, waited });
    return waited;
  }

  /**
   * A moderator left. In a room that ends meetings without one, when no moderator is left, everyone hears that the
   * conference ends in a minute, and it does unless a moderator joins meanwhile.
   */
  private moderatorLeft(conf: Conference): void {
    if (conf.moderatorLeaves !== 'end' || !this.o.rooms.conferences.get(conf.key) || this.moderatorGone.has(conf.key)) return;
    if ([...conf.participants.values()].some((p) => p.moderator)) return;
    this.o.log.info('the last moderator left: the conference ends in one minute', { room: conf.roomId, participants: conf.participants.size });
    void this.o.voice.say({ conference: conf.key }, { kind: 'moderatorLeft' });
    const timer = setTimeout(() => {
      this.moderatorGone.delete(conf.key);
      if (!this.o.rooms.conferences.get(conf.key)) return;
      this.o.log.info('conference ended: no moderator came back', { room: conf.roomId, participants: conf.participants.size });
      void this.endConference(conf, 'the conference has ended: the moderator left');
    }, MODERATOR_GONE_MS);
    this.moderatorGone.set(conf.key, timer);
  }

  /** Stops the minute after which a conference without its moderator ends; whether one was running. */
  private cancelEnding(conf: Conference): boolean {
    const timer = this.moderatorGone.get(conf.key);
    if (!timer) return false;
    clearTimeout(timer);
    this.moderatorGone.delete(conf.key);
    return true;
  }

  /** Someone left: the leave tone, and waiting music for whoever is now alone; the last one out ends the recording. */
  private left(conf: Conference): void {
    if (!this.o.rooms.conferences.get(conf.key)) {
      if (conf.recording) this.finishRecording(conf, 'the conference ended');
      this.cancelEnding(conf);
      return;
    }
    if (conf.waiting) return;
    this.o.voice.tone({ conference: conf.key }, 'leave-tone');
    if (conf.participants.size === 1) setTimeout(() => {
      if (this.o.rooms.conferences.get(conf.key) && conf.participants.size === 1) this.o.voice.music(conf.key);
    }, 600);
  }

  /**
   * Where several boxes share the database behind a proxy, the proxy picks a room's box by its number; the voice
   * menu's caller reached any box before it said which room. When the room has no conference here, the caller (its
   * PIN checked here, so that a wrong one is counted and said at once) is sent on through the proxy with the room's
   * full code and meets the room's other callers on the room's box. A phone that cannot be sent on (it refuses
   * REFER, or called the box directly) is hosted here. True when nothing is left to do with the call.
   */
  private async sendOnToRoomBox(call: Call, room: number, pin: string): Promise<boolean> {
    if (!this.sip || !(this.o.otherBoxes?.() ?? 0) || this.o.rooms.conferences.inRoom(room)) return false;
    await this.o.rooms.admits({ kind: 'join', room, pin }, call.caller);
    const sent = await this.sip.sendOn(call, `*400*${room}*${pin}`);
    if (sent.ok) {
      this.o.log.info('voice menu: the caller was sent on to the room\'s box', { caller: call.caller, room });
      void this.sip.hangUp(call, 'sent on to the room\'s box');
      return true;
    }
    if (call.state !== 'confirmed') return true;
    this.o.log.info('voice menu: the caller stays on this box', { caller: call.caller, room, why: sent.why });
    return false;
  }

  /** What the voice menu needs: speaking, joining, counting wrong PINs and hanging up. */
  private menuHost(): MenuHost {
    return {
      say: (call, phrase) => (call.leg === null ? Promise.resolve() : this.o.voice.say({ leg: call.leg }, phrase)),
      join: async (call, room, pin) => {
        if (await this.sendOnToRoomBox(call, room, pin)) return;
        const conf = await this.o.rooms.join({ kind: 'join', room, pin }, { id: call.key, caller: call.caller, displayName: call.displayName, source: call.source });
        const place = this.places.get(call.key);
        if (!place || call.state !== 'confirmed' || call.leg === null) {
          this.o.rooms.leave(conf, call.key, call.caller, call.source, false);
          return;
        }
        place.menu = null;
        place.conference = conf;
        place.code = { kind: 'join', room, pin };
        this.enterMix(call, conf);
        this.joined(call, conf);
      },
      wrongPin: (call, room) => this.sip?.wrongPin(call, room),
      rejected: (call, room, e) => this.o.rooms.rejected(call.caller, call.source, room, e.sipStatus, `voice menu: ${e.message}`),
      isBlocked: (call) => this.sip?.isBlocked(call) ?? false,
      hangUp: (call, why) => void this.sip?.hangUp(call, why),
    };
  }
}
