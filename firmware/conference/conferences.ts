import type { Clock, Timer } from '../clock.ts';
import { BoxError } from '../errors.ts';
import type { FeatureCode } from './feature-code.ts';
import type { ModeratorLeaves, Room, Settings } from './types.ts';

const MINUTE = 60_000;
const WARNING_BEFORE_END = MINUTE;

/**
 * A participant as it joins, its fields written out: V8 gives an object made by spreading another a hidden class of its
 * own, some 300 bytes for every caller in a conference.
 */
function participant(who: Omit<Participant, 'joinedAt' | 'muted' | 'moderator'>, joinedAt: number, moderator: boolean | undefined): Participant {
  const p: Participant = { id: who.id, caller: who.caller, displayName: who.displayName, source: who.source, joinedAt, muted: false };
  if (moderator !== undefined) p.moderator = moderator;
  if (who.onHold !== undefined) p.onHold = who.onHold;
  if (who.talking !== undefined) p.talking = who.talking;
  if (who.noisy !== undefined) p.noisy = who.noisy;
  return p;
}

export interface Participant {
  /** Unique per call leg (the SIP side uses its dialog id). */
  id: string;
  /** Extension number or asserted identity of the caller. */
  caller: string;
  displayName: string;
  source: string;
  joinedAt: number;
  muted: boolean;
  /** The caller has the call on hold: the room does not hear it, it hears nothing. */
  onHold?: boolean;
  /** The engine hears the caller speak now (also while muted). */
  talking?: boolean;
  /** A steady noise on the caller's line: the others hear it whenever it is not muted. */
  noisy?: boolean;
  /** Joined with the room's moderator PIN (or is the room's creator, in a room that has one): may lock, mute all, remove, end. */
  moderator?: boolean;
}

/** A room in use. Survives the deletion of its room until the last participant leaves. */
export interface Conference {
  /** Unique for the life of the box: a room id reused after deletion gets a new key. */
  readonly key: string;
  readonly roomId: number;
  readonly startedAt: number;
  readonly endsAt: number;
  readonly maxParticipants: number;
  /** The room's configuration was deleted while people were in it. */
  roomDeleted: boolean;
  /** A moderator locked it: nobody new gets in but another moderator. */
  locked: boolean;
  /** The room records its meetings: recording starts with the first caller. */
  readonly recordMeetings: boolean;
  /** Its mix is being written to a recording now. */
  recording: boolean;
  /** The room makes callers wait for a moderator; what happens when the last moderator leaves. */
  readonly waitForModerator: boolean;
  readonly moderatorLeaves: ModeratorLeaves;
  /** No moderator has joined yet: callers hear music and not each other. */
  waiting: boolean;
  readonly participants: Map<string, Participant>;
}

export interface ConferenceEvents {
  /** One minute before the end: everyone hears a warning. */
  warning(conf: Conference): void;
  /** Duration over: the SIP side hangs everyone up (each leave() follows). */
  expired(conf: Conference): void;
  /** Participants changed or a conference started or ended. */
  changed(conf: Conference): void;
}

export type LeaveOutcome = { conference: Conference; ended: boolean; deleteRoom: number | null };

/**
 * The rules of rooms (SPEC.md sections 1–2), pure: rooms come in as data, decisions come out,
 * time comes from the clock. Storage and SIP carry the decisions out.
 */
export class Conferences {
  private readonly byRoom = new Map<number, Conference>();
  private readonly all = new Map<string, Conference>();
  private readonly timers = new Map<string, Timer[]>();
  private seq = 0;

  constructor(
    private readonly clock: Clock,
    private readonly settings: () => Settings,
    private readonly events: ConferenceEvents,
  ) {}

  /** The conference in progress in a configured room, if any. */
  inRoom(roomId: number): Conference | undefined {
    return this.byRoom.get(roomId);
  }

  get(key: string): Conference | undefined {
    return this.all.get(key);
  }

  list(): Conference[] {
    return [...this.all.values()];
  }

  /** A create request: the room to store, or the reason it cannot be. */
  decideCreate(code: Extract<FeatureCode, { kind: 'create' }>, existing: Room | null, caller: string, now: Date): Room {
    if (existing) throw new BoxError(403, `room ${code.room} already exists`, 'id', 'exists');
    return {
      id: code.room, pin: code.pin, duration: code.duration, creator: caller, maxParticipants: null, createdAt: now, createdVia: 'phone', keep: false, moderatorPin: code.moderatorPin, record: false, waitForModerator: false, moderatorLeaves: 'continue',
    };
  }

  /** A delete request from a phone: throws the rejection, or returns normally when allowed. */
  decideDelete(code: Extract<FeatureCode, { kind: 'delete' }>, room: Room | null, caller: string): void {
    if (!room) throw notConfigured(code.room);
    if (room.pin !== code.pin) throw wrongPin(code.room);
    if (room.creator !== null && room.creator !== caller) {
      throw new BoxError(403, `only the creator of room ${code.room} can delete it`, 'creator', 'not-creator');
    }
  }

  /** The configuration is gone: the people in it stay, nobody new gets in, the id is free again. */
  roomDeleted(roomId: number): void {
    const conf = this.byRoom.get(roomId);
    if (!conf) return;
    conf.roomDeleted = true;
    this.byRoom.delete(roomId);
    this.events.changed(conf);
  }

  /**
   * A join request: admits the participant (starting the conference if needed) or throws why not. The room's moderator
   * PIN, or its PIN from the creator's extension in a room that has a moderator PIN, admits as moderator.
   */
  join(room: Room | null, roomId: number, pin: string, who: Omit<Participant, 'joinedAt' | 'muted' | 'moderator'>): Conference {
    if (!room) throw notConfigured(roomId);
    const moderator = this.checkPin(room, roomId, pin, who.caller);
    let conf = this.byRoom.get(roomId);
    if (conf?.locked && !moderator) throw locked(roomId);
    if (conf && conf.participants.size >= conf.maxParticipants) throw full(roomId, conf.maxParticipants);
    if (!conf) conf = this.start(room);
    conf.participants.set(who.id, participant(who, this.clock.now(), moderator));
    this.events.changed(conf);
    return conf;
  }

  /** Whether the PIN opens the room (throws the rejection when not); true: it is the room's moderator PIN for this caller. */
  checkPin(room: Room | null, roomId: number, pin: string, caller: string): boolean {
    if (!room) throw notConfigured(roomId);
    const moderator = isModerator(room, pin, caller);
    if (room.pin !== pin && !moderator) throw wrongPin(roomId);
    return moderator;
  }

  /**
   * The box's own microphone and speaker join the conference in progress in a room (SPEC.md section 4): no PIN (a
   * technician attached them to the room), the participant limit applies. Throws 404 when no conference runs there.
   */
  joinInProgress(roomId: number, who: Omit<Participant, 'joinedAt' | 'muted'>): Conference {
    const conf = this.byRoom.get(roomId);
    if (!conf) throw new BoxError(404, `room ${roomId} has no conference in progress`, 'id', 'not-found');
    if (conf.participants.has(who.id)) return conf;
    if (conf.participants.size >= conf.maxParticipants) throw full(roomId, conf.maxParticipants);
    conf.participants.set(who.id, participant(who, this.clock.now(), who.moderator));
    this.events.changed(conf);
    return conf;
  }

  /** A participant left (hung up, was removed, or was hung up at expiry). */
  leave(key: string, participantId: string): LeaveOutcome | null {
    const conf = this.all.get(key);
    if (!conf || !conf.participants.delete(participantId)) return null;
    if (conf.participants.size > 0) {
      this.events.changed(conf);
      return { conference: conf, ended: false, deleteRoom: null };
    }
    this.end(conf);
    // Last one out deletes the room, unless it was deleted already (its id may belong to a new room).
    return { conference: conf, ended: true, deleteRoom: conf.roomDeleted ? null : conf.roomId };
  }

  /** A caller put its call on hold or resumed it (the live view and the # count say so). */
  setOnHold(key: string, participantId: string, onHold: boolean): boolean {
    const p = this.all.get(key)?.participants.get(participantId);
    if (!p) return false;
    p.onHold = onHold;
    this.events.changed(this.all.get(key)!);
    return true;
  }

  setTalk(key: string, participantId: string, state: { talking: boolean; noisy: boolean }): boolean {
    const p = this.all.get(key)?.participants.get(participantId);
    if (!p) return false;
    if (p.talking === state.talking && p.noisy === state.noisy) return true;
    p.talking = state.talking;
    p.noisy = state.noisy;
    this.events.changed(this.all.get(key)!);
    return true;
  }

  /** A moderator locks or unlocks the conference; false when it is not running. */
  setLocked(key: string, locked: boolean): boolean {
    const conf = this.all.get(key);
    if (!conf) return false;
    conf.locked = locked;
    this.events.changed(conf);
    return true;
  }

  /** The participant who joined last, leaving out one (the moderator who asks), or null. */
  lastJoined(key: string, except: string): Participant | null {
    let last: Participant | null = null;
    for (const p of this.all.get(key)?.participants.values() ?? []) {
      if (p.id !== except && (last === null || p.joinedAt >= last.joinedAt)) last = p;
    }
    return last;
  }

  /** The moderator has come (the meeting begins), or the conference waits again; false when nothing changed. */
  setWaiting(key: string, waiting: boolean): boolean {
    const conf = this.all.get(key);
    if (!conf || conf.waiting === waiting) return false;
    conf.waiting = waiting;
    this.events.changed(conf);
    return true;
  }

  /** Marks the conference as being recorded or not; false when nothing changed. */
  setRecording(key: string, recording: boolean): boolean {
    const conf = this.all.get(key);
    if (!conf || conf.recording === recording) return false;
    conf.recording = recording;
    this.events.changed(conf);
    return true;
  }

  setMuted(key: string, participantId: string, muted: boolean): boolean {
    const p = this.all.get(key)?.participants.get(participantId);
    if (!p) return false;
    p.muted = muted;
    this.events.changed(this.all.get(key)!);
    return true;
  }

  private start(room: Room): Conference {
    const now = this.clock.now();
    const conf: Conference = {
      key: `${room.id}.${++this.seq}`,
      roomId: room.id,
      startedAt: now,
      endsAt: now + room.duration * MINUTE,
      maxParticipants: room.maxParticipants ?? this.settings().maxParticipants,
      roomDeleted: false,
      locked: false,
      recordMeetings: room.record,
      recording: false,
      waitForModerator: room.waitForModerator,
      moderatorLeaves: room.moderatorLeaves,
      waiting: room.waitForModerator,
      participants: new Map(),
    };
    this.byRoom.set(room.id, conf);
    this.all.set(conf.key, conf);
    const timers: Timer[] = [];
    if (room.duration * MINUTE > WARNING_BEFORE_END) {
      timers.push(this.clock.setTimeout(() => this.events.warning(conf), room.duration * MINUTE - WARNING_BEFORE_END));
    }
    timers.push(this.clock.setTimeout(() => this.events.expired(conf), room.duration * MINUTE));
    this.timers.set(conf.key, timers);
    return conf;
  }

  private end(conf: Conference): void {
    for (const t of this.timers.get(conf.key) ?? []) this.clock.clearTimeout(t);
    this.timers.delete(conf.key);
    this.all.delete(conf.key);
    if (this.byRoom.get(conf.roomId) === conf) this.byRoom.delete(conf.roomId);
    this.events.changed(conf);
  }
}

function isModerator(room: Room, pin: string, caller: string): boolean {
  if (room.moderatorPin === null) return false;
  return pin === room.moderatorPin || (pin === room.pin && room.creator !== null && caller === room.creator);
}

function locked(roomId: number): BoxError {
  return new BoxError(403, `this conference is locked (room ${roomId})`, 'id', 'locked');
}

/** A room that does not exist is answered like a wrong PIN, so that rooms cannot be found by trying numbers. */
function notConfigured(roomId: number): BoxError {
  return wrongPin(roomId);
}

function full(roomId: number, max: number): BoxError {
  return new BoxError(486, `room ${roomId} is full (${max} participants)`, 'id', 'full');
}

function wrongPin(roomId: number): BoxError {
  return new BoxError(403, `wrong PIN for room ${roomId}`, 'pin', 'wrong-pin');
}
