import type { Clock } from './clock.ts';
import {
  Conferences, Lockout, blockedError, checkPinStrength, describeBlock, roomWithChanges, targets,
  type CallLogEntry, type Conference, type ConferenceEvents, type FeatureCode, type Participant, type Room, type RoomChanges, type Settings,
  DEFAULT_SETTINGS,
} from './conference/index.ts';
import { BoxError, StoreUnavailable } from './errors.ts';
import type { Logger } from './log.ts';
import type { Status } from './status.ts';
import type { Store } from './store/types.ts';

const HEALTH_INTERVAL_MS = 2000;
/** Call log lines kept in memory while the database is away. */
const MAX_PENDING_LOG = 5000;

export interface RoomView extends Room {
  active: boolean;
  participants: number;
}

/**
 * Carries out the rules' decisions against storage: writes go to the database first and to the
 * cache after they succeed; joins read the database when it answers and the cache when it does not.
 */
export class RoomService {
  readonly conferences: Conferences;
  readonly lockout: Lockout;
  private rooms = new Map<number, Room>();
  /** The room each conference started from, so that last-out deletes that room and no newer one. */
  private origin = new Map<string, Room>();
  private settingsCache: Settings = { ...DEFAULT_SETTINGS };
  private healthTimer: NodeJS.Timeout | null = null;
  private dbUp = false;
  /** Counts the databases the box moved to while it runs (a switch on the page). */
  private databaseGeneration = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly status: Status,
    events: ConferenceEvents,
  ) {
    this.conferences = new Conferences(clock, () => this.settingsCache, {
      warning: (c) => events.warning(c),
      expired: (c) => events.expired(c),
      changed: (c) => {
        this.status.set({ activeConferences: this.conferences.list().length });
        this.publishLive(c);
        events.changed(c);
      },
    });
    this.lockout = new Lockout(clock, () => ({
      failures: this.settingsCache.lockoutFailures,
      windowMinutes: this.settingsCache.lockoutWindowMinutes,
      blockMinutes: this.settingsCache.lockoutBlockMinutes,
    }), {
      blocked: (b) => {
        this.log.warn('blocked after repeated failures', { target: describeBlock(b), key: b.key, failures: b.failures, minutes: Math.round((b.until - b.since) / 60_000) });
        this.store.blocks.put(b).catch((err) => this.log.warn('a block could not be stored; it holds until the box restarts', { target: b.key, err }));
      },
      lifted: (key) => {
        this.store.blocks.delete(key).catch((err) => this.log.warn('a lifted block could not be removed from the database', { target: key, err }));
      },
    });
  }

  async start(): Promise<void> {
    await this.reload();
    this.lockout.restore(await this.store.blocks.list(new Date(this.clock.now())));
    await this.store.live.clear().catch(() => undefined);
    this.setDb(true);
    this.healthTimer = setInterval(() => void this.checkHealth(), HEALTH_INTERVAL_MS);
    this.healthTimer.unref();
  }

  /**
   * The box is stopping (shutdown, restart, update): people are hung up because the box goes, not because they
   * left, so the rooms they were in stay (SPEC.md 1 deletes a room when its last participant leaves).
   */
  closing(): void {
    this.isClosing = true;
  }

  private isClosing = false;

  stop(): void {
    if (this.healthTimer) clearInterval(this.healthTimer);
    this.healthTimer = null;
  }

  settings(): Settings {
    return this.settingsCache;
  }

  get databaseUp(): boolean {
    return this.dbUp;
  }

  /** A phone's create code. */
  async create(code: Extract<FeatureCode, { kind: 'create' }>, caller: string, source: string): Promise<Room> {
    const existing = await this.write(() => this.store.rooms.get(code.room));
    const room = this.conferences.decideCreate(code, existing, caller, new Date(this.clock.now()));
    await this.write(() => this.store.rooms.insert(room));
    this.rooms.set(room.id, room);
    this.record('create', caller, source, room.id, 200, `created for ${room.duration} minutes`);
    return room;
  }

  /** A phone's delete code. */
  async delete(code: Extract<FeatureCode, { kind: 'delete' }>, caller: string, source: string): Promise<void> {
    const room = await this.write(() => this.store.rooms.get(code.room));
    this.checkRoomBlock(code.room, room, caller);
    this.conferences.decideDelete(code, room, caller);
    await this.removeRoom(code.room);
    this.record('delete', caller, source, code.room, 200, 'deleted');
  }

  /** A room a technician added on the web page. */
  async addRoom(room: Room, who: string, source: string): Promise<void> {
    checkPinStrength(room, this.settingsCache.refuseEasyPins);
    await this.write(() => this.store.rooms.insert(room));
    this.rooms.set(room.id, room);
    this.record('create', who, source, room.id, 200, `created on the web page for ${room.duration} minutes`);
  }

  /**
   * A technician's change to a room (PIN, duration, creator, maximum, keep), validated as when it is added. A room in
   * use keeps its running meeting (its end and who is in it); new joiners need the new PIN, and the keep option
   * decides what happens when the meeting ends. Resolves with the room as stored.
   */
  async editRoom(id: number, changes: RoomChanges, who: string, source: string): Promise<{ room: Room; inUse: boolean }> {
    const current = await this.write(() => this.store.rooms.get(id));
    if (!current) throw new BoxError(404, `room ${id} does not exist`, 'id', 'not-found');
    const room = roomWithChanges(current, changes);
    if (changes.pin !== undefined) checkPinStrength(room, this.settingsCache.refuseEasyPins);
    if (!(await this.write(() => this.store.rooms.update(room)))) throw new BoxError(404, `room ${id} does not exist`, 'id', 'not-found');
    this.rooms.set(id, room);
    const conf = this.conferences.inRoom(id);
    if (conf && this.origin.get(conf.key)?.createdAt.getTime() === room.createdAt.getTime()) this.origin.set(conf.key, room);
    const changed = (Object.keys(changes) as Array<keyof RoomChanges>).filter((k) => changes[k] !== undefined).join(', ');
    this.record('edit', who, source, id, 200, `changed ${changed || 'nothing'}${conf ? ' (applies to new joiners; the meeting in progress keeps its end)' : ''}`);
    return { room, inUse: conf !== undefined };
  }

  /** A technician's delete: no PIN or creator check; people in the room stay until they hang up. */
  async deleteRoom(id: number, who: string, source: string): Promise<void> {
    await this.removeRoom(id);
    this.record('delete', who, source, id, 200, 'deleted on the web page');
  }

  /** Stores the changed settings, then the running box uses them. */
  async updateSettings(patch: Partial<Settings>): Promise<Settings> {
    await this.write(async () => {
      for (const [k, v] of Object.entries(patch) as Array<[keyof Settings, Settings[keyof Settings]]>) await this.store.settings.set(k, v);
    });
    this.settingsCache = await this.write(() => this.store.settings.get());
    return this.settingsCache;
  }

  /** A phone's join code: admits the participant or throws the rejection. */
  async join(code: Extract<FeatureCode, { kind: 'join' }>, who: Omit<Participant, 'joinedAt' | 'muted'>): Promise<Conference> {
    const room = await this.lookup(code.room);
    this.checkRoomBlock(code.room, room, who.caller);
    this.forgetReplacedRoom(code.room, room);
    const before = this.conferences.inRoom(code.room);
    const conf = this.conferences.join(room, code.room, code.pin, who);
    if (conf !== before && room) this.origin.set(conf.key, room);
    this.record('join', who.caller, who.source, code.room, 200, `joined (${conf.participants.size} in the room)`, { displayName: who.displayName });
    return conf;
  }

  /**
   * Whether a phone's join code would be admitted by the room's PIN, without joining (the box that hosts the room
   * decides the rest): throws the rejection when not.
   */
  async admits(code: Extract<FeatureCode, { kind: 'join' }>, caller: string): Promise<void> {
    const room = await this.lookup(code.room);
    this.checkRoomBlock(code.room, room, caller);
    this.conferences.checkPin(room, code.room, code.pin, caller);
  }

  /**
   * A room whose PIN is being guessed is closed for a short while; its creator still gets in, so a stranger's
   * guesses cannot keep the owner out. A room that does not exist is closed the same way (no enumeration).
   */
  private checkRoomBlock(id: number, room: Room | null, caller: string): void {
    if (!this.lockout.isBlocked(targets.room(id).key)) return;
    if (room?.creator && room.creator === caller) return;
    throw blockedError();
  }

  /** The box's own microphone and speaker join the conference in progress in a room (see Conferences.joinInProgress). */
  joinLocal(roomId: number, who: Omit<Participant, 'joinedAt' | 'muted'>): Conference {
    return this.joinWithoutPin(roomId, who, 'joined');
  }

  /** A phone a moderator invited joins the conference in progress: no PIN, a locked room too, the participant limit applies. */
  joinInvited(roomId: number, who: Omit<Participant, 'joinedAt' | 'muted'>, by: string): Conference {
    return this.joinWithoutPin(roomId, who, `joined, invited by ${by}`);
  }

  private joinWithoutPin(roomId: number, who: Omit<Participant, 'joinedAt' | 'muted'>, what: string): Conference {
    const conf = this.conferences.joinInProgress(roomId, who);
    this.record('join', who.caller, who.source, roomId, 200, `${what} (${conf.participants.size} in the room)`, { displayName: who.displayName });
    return conf;
  }

  /**
   * A participant is gone; the last one out deletes the room. A caller whose call was never
   * answered (cancelled while the box decided) gives the place back without deleting anything.
   * `how` is how the participant left ("hung up", "removed by the administrator", "no audio", …).
   */
  leave(conf: Conference, participantId: string, caller: string, source: string, answered = true, how = 'left'): void {
    const participant = conf.participants.get(participantId);
    const out = this.conferences.leave(conf.key, participantId);
    if (!out) return;
    const why = this.isClosing ? 'hung up: the box is stopping' : how;
    const durationSeconds = participant ? Math.max(0, Math.round((this.clock.now() - participant.joinedAt) / 1000)) : null;
    if (answered) {
      this.record('leave', caller, source, conf.roomId, 200, out.ended ? `${why}; conference ended` : why, { displayName: participant?.displayName ?? null, durationSeconds });
    }
    const origin = this.origin.get(conf.key);
    if (!out.ended) return;
    this.origin.delete(conf.key);
    if (answered && !this.isClosing && out.deleteRoom !== null && origin) void this.deleteAfterLastLeft(origin);
  }

  /**
   * The database no longer has the room this conference started from (a technician or another
   * box deleted or replaced it): the conference carries on, but as a deleted room's.
   */
  private forgetReplacedRoom(id: number, current: Room | null): void {
    const conf = this.conferences.inRoom(id);
    const origin = conf && this.origin.get(conf.key);
    if (!origin || (current && current.createdAt.getTime() === origin.createdAt.getTime())) return;
    this.conferences.roomDeleted(id);
  }

  /** Expiry: recorded once per conference; the SIP side hangs everyone up. */
  expired(conf: Conference): void {
    this.record('expire', null, '', conf.roomId, 200, `duration over; ${conf.participants.size} hung up`);
  }

  /** A rejected call, with the reason the caller got. */
  rejected(caller: string | null, source: string, room: number | null, status: number, reason: string): void {
    this.record('reject', caller, source, room, status, reason);
  }

  private async removeRoom(id: number): Promise<void> {
    const removed = await this.write(() => this.store.rooms.delete(id));
    this.rooms.delete(id);
    this.conferences.roomDeleted(id);
    this.roomRemoved(id);
    if (!removed) throw new BoxError(404, `room ${id} does not exist`, 'id', 'not-found');
  }

  async listRooms(): Promise<RoomView[]> {
    const rooms = this.dbUp ? await this.store.rooms.list().catch(() => [...this.rooms.values()]) : [...this.rooms.values()];
    return rooms.map((r) => {
      const c = this.conferences.inRoom(r.id);
      return { ...r, active: !!c, participants: c?.participants.size ?? 0 };
    });
  }

  /** Re-reads rooms and settings (at start-up and when the database comes back). */
  async reload(): Promise<void> {
    const [rooms, settings] = await Promise.all([this.store.rooms.list(), this.store.settings.get()]);
    this.rooms = new Map(rooms.map((r) => [r.id, r]));
    this.settingsCache = settings;
  }

  private async lookup(id: number): Promise<Room | null> {
    if (!this.dbUp) return this.rooms.get(id) ?? null;
    const asked = this.databaseGeneration;
    try {
      const room = await this.store.rooms.get(id);
      if (room) this.rooms.set(id, room);
      else this.rooms.delete(id);
      return room;
    } catch (e) {
      if (!(e instanceof StoreUnavailable)) throw e;
      if (asked === this.databaseGeneration) this.setDb(false);
      return this.rooms.get(id) ?? null;
    }
  }

  /** Changes need the database: while it is away they are refused with 503. */
  private async write<T>(op: () => Promise<T>): Promise<T> {
    if (!this.dbUp) throw unavailable();
    const asked = this.databaseGeneration;
    try {
      return await op();
    } catch (e) {
      if (e instanceof StoreUnavailable) {
        if (asked === this.databaseGeneration) this.setDb(false);
        throw unavailable();
      }
      throw e;
    }
  }

  private async deleteAfterLastLeft(origin: Room): Promise<void> {
    try {
      const current = await this.store.rooms.get(origin.id);
      // Another box or a technician may have replaced the room meanwhile; delete only the one this conference used.
      if (current?.keep || (!current && origin.keep)) {
        this.log.info('room kept after its meeting', { room: origin.id });
        return;
      }
      if (current && current.createdAt.getTime() === origin.createdAt.getTime()) await this.store.rooms.delete(origin.id);
      if (this.rooms.get(origin.id)?.createdAt.getTime() === origin.createdAt.getTime()) this.rooms.delete(origin.id);
      this.log.info('room deleted: last participant left', { room: origin.id });
      this.roomRemoved(origin.id);
    } catch (e) {
      this.rooms.delete(origin.id);
      this.log.warn('room could not be deleted after the last participant left; retried when the database is back', { room: origin.id, err: e });
      this.pendingDeletes.push(origin);
    }
  }

  private pendingDeletes: Room[] = [];

  /** Whether the room exists as far as this box knows: configured, or a conference runs in it. */
  hasRoom(id: number): boolean {
    return this.rooms.has(id) || this.conferences.inRoom(id) !== undefined;
  }

  /** Whether a conference runs in the room. */
  isBusy(id: number): boolean {
    return this.conferences.inRoom(id) !== undefined;
  }

  private removedListeners: Array<(id: number) => void> = [];

  /** Calls the listener with a room's number whenever the room is deleted (phone, web page, last participant out). */
  onRoomRemoved(listener: (id: number) => void): void {
    this.removedListeners.push(listener);
  }

  private roomRemoved(id: number): void {
    for (const listener of this.removedListeners) {
      try {
        listener(id);
      } catch (e) {
        this.log.warn('a listener for deleted rooms failed', { room: id, err: e });
      }
    }
  }

  /** Whether the database answers, now: the same check the box makes every few seconds. */
  checkDatabase(): Promise<void> {
    return this.checkHealth();
  }

  /**
   * Calls go to another database now (a switch on the page): its rooms and settings are read, this box's
   * conferences written there, and what waited for a database (call log lines, rooms deleted by their last caller)
   * goes there.
   */
  async databaseSwitched(): Promise<void> {
    this.databaseGeneration++;
    await this.reload();
    if (!this.dbUp) this.log.info('database reachable: the box moved to another one');
    this.dbUp = true;
    this.status.set({ database: 'ok' });
    if (this.pendingLog.length > 0) await this.flushCallLog();
    for (const r of this.pendingDeletes.splice(0)) await this.deleteAfterLastLeft(r);
    for (const c of this.conferences.list()) this.publishLive(c);
  }

  private async checkHealth(): Promise<void> {
    const asked = this.databaseGeneration;
    const up = await this.store.ping();
    // The answer of a database the box has since moved away from says nothing about the one it uses now.
    if (asked !== this.databaseGeneration) return;
    // Technicians change settings from the command line or another box: pick them up.
    if (up && this.dbUp) this.settingsCache = await this.store.settings.get().catch(() => this.settingsCache);
    if (up && this.pendingLog.length > 0) await this.flushCallLog();
    if (up && !this.dbUp) {
      try {
        await this.reload();
        const pending = this.pendingDeletes.splice(0);
        for (const r of pending) await this.deleteAfterLastLeft(r);
        for (const c of this.conferences.list()) this.publishLive(c);
      } catch {
        return;
      }
    }
    this.setDb(up);
  }

  private setDb(up: boolean): void {
    if (up === this.dbUp && this.status.get().database !== 'starting') return;
    if (up !== this.dbUp && this.status.get().database !== 'starting') this.log[up ? 'info' : 'error'](up ? 'database reachable again' : 'database unreachable: joins use the last-known rooms, changes get 503');
    this.dbUp = up;
    this.status.set({ database: up ? 'ok' : 'down' });
  }

  /**
   * Writes a room's live row. Writes of one room go one after another and each writes the room's
   * state when it runs: a join's row can never land after the leave that followed it.
   */
  private publishLive(c: Conference): void {
    if (c.roomDeleted || !this.dbUp) return;
    const id = c.roomId;
    if (this.liveQueued.has(id)) return;
    this.liveQueued.add(id);
    const run = (this.liveWrites.get(id) ?? Promise.resolve()).then(async () => {
      this.liveQueued.delete(id);
      const now = this.conferences.inRoom(id);
      const n = now ? now.participants.size : 0;
      await this.store.live.set(id, n, now && n ? new Date(now.startedAt) : null).catch(() => undefined);
    });
    this.liveWrites.set(id, run);
    void run.then(() => {
      if (this.liveWrites.get(id) === run) this.liveWrites.delete(id);
    });
  }

  private liveWrites = new Map<number, Promise<void>>();
  private liveQueued = new Set<number>();

  /**
   * Writes a call log line without holding up the call. While the database is away, lines wait here (the oldest
   * are dropped past MAX_PENDING_LOG) and are written when it answers again.
   */
  private record(
    action: CallLogEntry['action'], caller: string | null, source: string, room: number | null, status: number, reason: string,
    who: Pick<CallLogEntry, 'displayName' | 'durationSeconds'> = {},
  ): void {
    const entry: CallLogEntry = { at: new Date(this.clock.now()), action, caller, source, room, status, reason, displayName: who.displayName ?? null, durationSeconds: who.durationSeconds ?? null };
    this.log.info(`call ${action}`, { caller, source, room, status, reason, ...who });
    if (!this.dbUp || this.pendingLog.length > 0) return this.keepForLater(entry);
    this.store.callLog.append(entry).catch((err) => {
      this.log.warn('a call log line could not be stored; it is retried when the database answers', { action, caller, room, err });
      this.keepForLater(entry);
    });
  }

  private pendingLog: CallLogEntry[] = [];

  private keepForLater(entry: CallLogEntry): void {
    this.pendingLog.push(entry);
    if (this.pendingLog.length > MAX_PENDING_LOG) {
      this.pendingLog.shift();
      if (!this.warnedLogDropped) this.log.warn('the call log lost lines: the database was away too long', { kept: MAX_PENDING_LOG });
      this.warnedLogDropped = true;
    }
  }

  private warnedLogDropped = false;

  /** Writes the lines kept while the database was away, oldest first; stops at the first failure. */
  private async flushCallLog(): Promise<void> {
    if (this.flushingLog) return;
    this.flushingLog = true;
    try {
      await this.writePendingLog();
    } finally {
      this.flushingLog = false;
    }
  }

  private flushingLog = false;

  private async writePendingLog(): Promise<void> {
    while (this.pendingLog.length > 0) {
      try {
        await this.store.callLog.append(this.pendingLog[0]!);
      } catch (err) {
        this.log.warn('the call log lines kept while the database was away could not be stored yet', { pending: this.pendingLog.length, err });
        return;
      }
      this.pendingLog.shift();
    }
    this.warnedLogDropped = false;
  }
}

function unavailable(): BoxError {
  return new BoxError(503, 'the box cannot change rooms right now: its database is unreachable', undefined, 'unavailable');
}
