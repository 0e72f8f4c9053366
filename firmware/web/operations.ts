import { isIPv4 } from 'node:net';
import type { Readable } from 'node:stream';
import { loadavg } from 'node:os';
import {
  ALSA_DEVICE_SETTINGS, checkAlsaDevice, describeBlock, isSettingName, parseExtensionNumber, parseRoomId, parseSetting, roomFromInput, SETTINGS,
  type Conference, type Extension, type RoomChanges, type RoomInput, type Settings,
} from '../conference/index.ts';
import { BoxError } from '../errors.ts';
import type { LedPatterns } from '../hw/patterns.ts';
import type { Logger } from '../log.ts';
import { LOCAL_PARTICIPANT } from '../local-audio.ts';
import { extensionRecord, parseCidrField, peerRecord, validateExtensionPassword, validateText } from '../records.ts';
import type { RoomService } from '../rooms.ts';
import type { Directory } from '../sip/directory.ts';
import type { Registrar } from '../sip/registrar.ts';
import type { AuthFailureReason, AuthRecords } from '../sip/auth-records.ts';
import type { DigestAlgorithm } from '../sip/digest.ts';
import { lockoutSource } from '../sip/netmatch.ts';
import type { ConferenceCalls } from '../calls/index.ts';
import type { RecordingFile, RecordingLibrary } from '../recordings/index.ts';
import { readBackup, summary, writeBackup, type BackupSummary } from '../backup/index.ts';
import type { Status, StatusSnapshot } from '../status.ts';
import type { Updater, UpdateView } from '../update/index.ts';
import type { ClusterSnapshot } from '../cluster-view.ts';
import type { Store } from '../store/types.ts';
import { describeTarget, probeDatabase, readOfficeDatabase, type OfficeDatabase, type ProbeResult } from '../store/probe.ts';
import type { DatabasePlace, DatabaseView } from './database-page.ts';
import { officeConnection, readDatabaseChoice, writeDatabaseChoice } from '../store/database-choice.ts';
import { openStore } from '../store/mysql.ts';
import { callLogRow, parseDayRange, type CallLogRow, type DayRange } from './call-log.ts';
import { explainFaults, type FaultExplanation } from './faults.ts';

export interface RoomRow {
  id: number;
  pin: string;
  duration: number;
  creator: string | null;
  maxParticipants: number | null;
  createdAt: string;
  createdVia: string;
  /** Kept after its meeting; false: deleted when its last participant leaves. */
  keep: boolean;
  /** Joining with it makes a caller the meeting's moderator; null: the room has none. */
  moderatorPin: string | null;
  /** Every meeting in the room is recorded. */
  record: boolean;
  /** Callers wait for a moderator; what happens when the last moderator leaves (continue, end). */
  waitForModerator: boolean;
  moderatorLeaves: string;
  active: boolean;
  participants: number;
}

export interface ParticipantRow {
  id: string;
  /** The box's own microphone and speaker rather than a call. */
  local: boolean;
  caller: string;
  displayName: string;
  joinedAt: string;
  muted: boolean;
  /** The caller has the call on hold. */
  onHold: boolean;
  /** The caller speaks now (the box hears it also while muted). */
  talking: boolean;
  /** A steady noise on the caller's line. */
  noisy: boolean;
  /** Joined with the moderator PIN (or is the room's creator): may lock, mute all, remove and end from the keypad. */
  moderator: boolean;
  /** Waiting for the moderator to join. */
  waiting: boolean;
}

export interface ConferenceRow {
  key: string;
  roomId: number;
  startedAt: string;
  endsAt: string;
  secondsLeft: number;
  maxParticipants: number;
  roomDeleted: boolean;
  /** Nobody new gets in but a moderator. */
  locked: boolean;
  /** Its mix is being recorded now. */
  recording: boolean;
  /** No moderator has come yet: the callers hear music, not each other. */
  waiting: boolean;
  participants: ParticipantRow[];
}

/** A recording on the box's disk. */
export interface RecordingRow {
  name: string;
  room: number;
  startedAt: string;
  seconds: number;
  bytes: number;
  /** Being written now. */
  active: boolean;
  /** Where the page and the API download it. */
  url: string;
}

/** One phone registered for an extension. */
export interface RegisteredPhoneRow {
  /** The Contact URI the phone registered. */
  contact: string;
  /** Where its REGISTER came from: "udp:192.168.1.20:5060". */
  source: string;
  /** What it calls itself (its User-Agent header), empty when it sent none. */
  userAgent: string;
  /** Seconds until the registration ends unless the phone refreshes it. */
  expires: number;
  expiresAt: string;
}

export interface ExtensionRow {
  number: string;
  displayName: string;
  registered: boolean;
  contacts: RegisteredPhoneRow[];
  /** The password was hashed for another realm than the box's: the phone cannot log in until it is set again. */
  realmMismatch: boolean;
  /** The digest algorithm of the phone's last accepted answer, null before the first. */
  algorithm: DigestAlgorithm | null;
  /** The extension's last refused registration or call attempt, with why, null when none. */
  lastFailure: { at: string; reason: AuthFailureReason; source: string; method: string } | null;
}

/** What a technician types into a phone's SIP account screen, apart from the extension's own number and password. */
export interface PhoneSetup {
  /** The addresses the box announces to phones (--public-address, --public-address-v6), IPv4 first. */
  addresses: Array<{ address: string; family: 'IPv4' | 'IPv6' | 'name' }>;
  /** UDP and TCP. */
  sipPort: number;
  sipTlsPort: number;
  realm: string;
}

export interface StatusView extends StatusSnapshot {
  version: string;
  /** The database the configuration is kept in: "the embedded MariaDB", or its server and name. */
  databaseWhere: string;
  uptimeSeconds: number;
  load: [number, number, number];
  memoryMb: number;
  sipPort: number;
  sipTlsPort: number;
  httpPort: number;
  httpsPort: number;
  leds: LedPatterns;
}

export interface BoxParts {
  store: Store;
  rooms: RoomService;
  sip: ConferenceCalls;
  directory: Directory;
  registrar: Registrar;
  authRecords: AuthRecords;
  recordings: RecordingLibrary;
  status: Status;
  leds: () => LedPatterns;
  version: string;
  sipPort: number;
  sipTlsPort: number;
  httpPort: number;
  httpsPort: number;
  /** The box's address for IPv4 phones (or its host name) and for IPv6 phones, null where it has none. */
  publicAddresses: { v4: string | null; v6: string | null };
  log: Logger;
  /** The box's own microphone and speaker, a participant like the callers. */
  localAudio: { setMuted(muted: boolean): boolean } | null;
  /** The sound devices ALSA lists on this box: device settings may name them. */
  alsaDevices: () => string[];
  /** Firmware updates into the other root slot. */
  updater: Updater;
  /** This box's name among boxes sharing its database. */
  boxId: string;
  /** Where the configuration is kept now, who chose it, and the data directory that keeps the page's choice. */
  /** The database in use since start-up; `own`: the box's own when it is a server of its own (--own-db) and not the embedded MariaDB. */
  database: {
    inUse: DatabasePlace & { setBy: DatabaseView['setBy'] };
    dataDir: string;
    own?: { where: string; database: string };
    /**
     * Moves the running box to an office's database, or with null to its own, `prepare` run on it before any call
     * goes there; absent where the box cannot (tests of the page alone).
     */
    switchTo?: (office: OfficeDatabase | null, prepare?: (to: Store) => Promise<void>) => Promise<{ ms: number }>;
  };
}

/** A change of database as the page and the API answer it: where the box is now, what was copied, how long it took. */
export type DatabaseChange = DatabaseView & { message: string; copied: BackupSummary | null; switchedInMs: number | null };

/** Who asked, for the call log: "web" plus the address of the browser or script. */
export interface Actor {
  name: string;
  source: string;
}

/**
 * What the web page and the JSON API can do to the box. Both call these, with the same validation
 * as the phone codes and the command line; every change reaches the running box at once.
 */
export class Operations {
  constructor(private readonly box: BoxParts) {}

  get sipPort(): number {
    return this.box.sipPort;
  }

  /** Where the box keeps its configuration now, and from its next start (never a password). */
  database(): DatabaseView {
    const { inUse, dataDir } = this.box.database;
    if (inUse.setBy === 'start-up option') return { ...inUse, nextStart: placeOf(inUse) };
    let chosen: OfficeDatabase | null = null;
    try {
      chosen = readDatabaseChoice(dataDir);
    } catch (err) {
      this.box.log.warn('the database chosen on the page cannot be read', { err });
    }
    return { ...inUse, nextStart: chosen ? officePlace(chosen) : this.ownPlace() };
  }

  /**
   * Moves the box to an office's database, after a connection test that must succeed (a database of a newer firmware
   * is refused): at once, calls going on, and from every start after. The password is kept under the data directory,
   * never in a table or a reply. Under a start-up option (--db) that wins, the choice is only kept.
   */
  async saveDatabase(input: Record<string, unknown>, by: Actor): Promise<DatabaseChange> {
    const target = readOfficeDatabase(input);
    const copy = yesNo(input.copy, 'copy');
    const replace = yesNo(input.replace, 'replace');
    const result = await probeDatabase(target);
    if (!result.ok) throw new BoxError(409, result.message, undefined, result.code);
    if (result.contents === 'newer-confbox') throw new BoxError(409, result.message, undefined, 'newer-schema');
    const { database } = this.box;
    const describe = { server: describeTarget(target), database: target.database, user: target.user, tls: target.tls, contents: result.contents, by: by.name, from: by.source };
    if (database.inUse.setBy === 'start-up option' || !database.switchTo) {
      const copied = copy ? await this.copyInto(target, replace) : null;
      writeDatabaseChoice(database.dataDir, target);
      this.box.log.info('database chosen for the next start', describe);
      const what = copied ? ` ${describeCopy(copied)} copied there.` : '';
      const when = database.inUse.setBy === 'start-up option' ? 'but a start-up option (--db or CONFBOX_DB) is in force and wins over the page' : 'from its next start: restart the box to switch';
      return { ...this.database(), copied, switchedInMs: null, message: `${result.message}.${what} The box keeps its configuration there ${when}.` };
    }
    const { copied, ms } = await this.switchDatabase(target, copy, replace);
    this.box.log.info('database switched to the office\'s', { ...describe, ms, copied: copied ? describeCopy(copied) : null });
    const what = copied ? ` ${describeCopy(copied)} copied there.` : '';
    return { ...this.database(), copied, switchedInMs: ms, message: `${result.message}.${what} The box keeps its configuration there from now on: ${describeSwitch(ms)}.` };
  }

  /**
   * Back to the box's own database: at once, calls going on (the configuration copied back when asked), and from
   * every start after. Under a start-up option that wins, the choice is only undone for the next start.
   */
  async useEmbeddedDatabase(input: Record<string, unknown>, by: Actor): Promise<DatabaseChange> {
    const copy = yesNo(input.copy, 'copy');
    const replace = yesNo(input.replace, 'replace');
    const { database } = this.box;
    if (database.inUse.kind === 'embedded' || database.inUse.setBy === 'start-up option' || !database.switchTo) {
      writeDatabaseChoice(database.dataDir, null);
      this.box.log.info('embedded database chosen for the next start', { by: by.name, from: by.source });
      const when = database.inUse.kind === 'embedded' ? 'already' : database.inUse.setBy === 'start-up option' ? 'from its next start without the start-up option (--db or CONFBOX_DB) that is in force' : 'from its next start: restart it to switch';
      return { ...this.database(), copied: null, switchedInMs: null, message: `The box uses its own database ${when}.` };
    }
    const { copied, ms } = await this.switchDatabase(null, copy, replace);
    this.box.log.info('database switched back to the box\'s own', { by: by.name, from: by.source, ms, copied: copied ? describeCopy(copied) : null });
    const what = copied ? ` ${describeCopy(copied)} copied back.` : '';
    return { ...this.database(), copied, switchedInMs: ms, message: `The box uses its own database again.${what} ${capitalise(describeSwitch(ms))}.` };
  }

  /**
   * The running box onto another database (null: its own), the configuration copied there first when asked; the
   * choice kept for the next starts once the switch is done, and the place in use told to the page.
   */
  private async switchDatabase(target: OfficeDatabase | null, copy: boolean, replace: boolean): Promise<{ copied: BackupSummary | null; ms: number }> {
    const { database } = this.box;
    let copied: BackupSummary | null = null;
    const name = target?.database ?? database.own?.database ?? 'confbox';
    const { ms } = await database.switchTo!(target, async (to) => {
      if (copy) copied = await this.copyConfiguration(to, name, replace);
      else await keepAdministratorPassword(this.box.store, to);
    });
    writeDatabaseChoice(database.dataDir, target);
    database.inUse = target
      ? { kind: 'server', where: describeTarget(target), database: target.database, tls: target.tls, setBy: 'page' }
      : { ...this.ownPlace(), setBy: 'default' };
    return { copied, ms };
  }

  /** Into an office's database the box does not use yet (only kept for the next start): opened for the copy alone. */
  private async copyInto(target: OfficeDatabase, replace: boolean): Promise<BackupSummary> {
    const office = await openStore({ ...officeConnection(target), log: this.box.log, boxId: this.box.boxId });
    try {
      return await this.copyConfiguration(office, target.database, replace);
    } finally {
      await office.close();
    }
  }

  /**
   * This box's configuration (rooms, extensions, peers, settings, the administrator password's hash, API tokens) into
   * another database, its tables made already. What is there already is replaced only when asked, and is listed.
   */
  private async copyConfiguration(to: Store, name: string, replace: boolean): Promise<BackupSummary> {
    const there = await to.configuration.read();
    if (!replace && (there.rooms.length || there.extensions.length || there.peers.length)) {
      const rooms = there.rooms.map((r) => r.id).slice(0, 10).join(', ');
      throw new BoxError(409, `database ${name} already holds ${describeCopy(summary(there))}${rooms ? ` (rooms ${rooms})` : ''}: copying would replace them; ask to replace what is there, or switch without copying to use them as they are`, 'replace', 'conflict');
    }
    const mine = await this.box.store.configuration.read();
    await to.configuration.replace(mine);
    return summary(mine);
  }

  /** The box's own database: the embedded MariaDB, or the server of its own (the board's). */
  private ownPlace(): DatabasePlace {
    return this.box.database.own ? { kind: 'embedded', own: this.box.database.own } : { kind: 'embedded' };
  }

  /** Connects to an office's database server with the details given and says what the box would find; changes nothing. */
  async testDatabase(input: Record<string, unknown>, by: Actor): Promise<ProbeResult> {
    const target = readOfficeDatabase(input);
    const result = await probeDatabase(target);
    this.box.log.info('database connection tested', {
      server: describeTarget(target), database: target.database, user: target.user, tls: target.tls, by: by.name, from: by.source,
      result: result.ok ? result.contents : result.code,
    });
    return result;
  }

  async rooms(): Promise<RoomRow[]> {
    return (await this.box.rooms.listRooms()).map((r) => ({
      id: r.id, pin: r.pin, duration: r.duration, creator: r.creator, maxParticipants: r.maxParticipants,
      createdAt: r.createdAt.toISOString(), createdVia: r.createdVia, keep: r.keep, moderatorPin: r.moderatorPin, record: r.record, waitForModerator: r.waitForModerator, moderatorLeaves: r.moderatorLeaves, active: r.active, participants: r.participants,
    }));
  }

  /** Changes a room; a room in use keeps its meeting, and new joiners get the change. */
  async editRoom(id: string | number, changes: RoomChanges, by: Actor): Promise<RoomRow & { appliesToNewJoiners: boolean }> {
    const roomId = parseRoomId(id);
    const { inUse } = await this.box.rooms.editRoom(roomId, changes, by.name, by.source);
    const row = (await this.rooms()).find((r) => r.id === roomId)!;
    return { ...row, appliesToNewJoiners: inUse };
  }

  async addRoom(input: RoomInput, by: Actor): Promise<RoomRow> {
    const room = roomFromInput(input, 'web', new Date());
    await this.box.rooms.addRoom(room, by.name, by.source);
    return { ...room, createdAt: room.createdAt.toISOString(), active: false, participants: 0 };
  }

  /** Resolves with how many people were in the room; they stay until they hang up. */
  async deleteRoom(id: string | number, by: Actor): Promise<number> {
    const roomId = parseRoomId(id);
    const people = this.box.rooms.conferences.inRoom(roomId)?.participants.size ?? 0;
    await this.box.rooms.deleteRoom(roomId, by.name, by.source);
    return people;
  }

  /** People in conferences now, the box's own microphone included: the menu shows the number. */
  peopleInConferences(): number {
    let n = 0;
    for (const c of this.box.rooms.conferences.list()) n += c.participants.size;
    return n;
  }

  /** What the fault LED blinks for, in words. */
  faults(): FaultExplanation[] {
    return explainFaults(this.box.status.get());
  }

  conferences(): ConferenceRow[] {
    const now = Date.now();
    return this.box.rooms.conferences.list()
      .sort((a, b) => a.roomId - b.roomId || a.startedAt - b.startedAt)
      .map((c) => ({
        key: c.key, roomId: c.roomId, startedAt: new Date(c.startedAt).toISOString(), endsAt: new Date(c.endsAt).toISOString(),
        secondsLeft: Math.max(0, Math.round((c.endsAt - now) / 1000)), maxParticipants: c.maxParticipants, roomDeleted: c.roomDeleted, locked: c.locked, recording: c.recording, waiting: c.waiting,
        participants: [...c.participants.values()].map((p) => ({
          id: p.id, local: p.id === LOCAL_PARTICIPANT.id, caller: p.caller, displayName: p.displayName, joinedAt: new Date(p.joinedAt).toISOString(), muted: p.muted, onHold: p.onHold === true,
          talking: p.talking === true, noisy: p.noisy === true, moderator: p.moderator === true, waiting: c.waiting && p.moderator !== true,
        })),
      }));
  }

  private conference(key: string): Conference {
    const c = this.box.rooms.conferences.get(String(key));
    if (!c) throw new BoxError(404, `conference ${key} is not running`, 'key', 'not-found');
    return c;
  }

  private participant(key: string, id: string): Conference {
    const c = this.conference(key);
    if (!c.participants.has(String(id))) throw new BoxError(404, `participant ${id} is not in conference ${key}`, 'participant', 'not-found');
    return c;
  }

  /** Who a participant is, in words: "Ben Okafor (102)", or the caller alone when the phone sent no name. */
  describeParticipant(key: string, id: string): { who: string; roomId: number } {
    const c = this.participant(key, id);
    const p = c.participants.get(String(id))!;
    return { who: participantName(p), roomId: c.roomId };
  }

  setMuted(key: string, id: string, muted: unknown, by: Actor): void {
    if (typeof muted !== 'boolean') throw new BoxError(400, 'muted must be true or false', 'muted');
    const c = this.participant(key, id);
    if (id === LOCAL_PARTICIPANT.id) {
      if (!this.box.localAudio?.setMuted(muted)) throw new BoxError(409, 'the room microphone is not in this conference now', 'participant', 'not-ready');
      return;
    }
    if (!this.box.sip.setParticipantMuted(c, id, muted)) throw new BoxError(409, `participant ${id} has no audio to mute yet`, 'participant', 'not-ready');
    this.box.log.info(muted ? 'participant muted on the web page' : 'participant unmuted on the web page', { room: c.roomId, by: by.source });
  }

  removeParticipant(key: string, id: string, by: Actor): void {
    const c = this.participant(key, id);
    const p = c.participants.get(id)!;
    if (id === LOCAL_PARTICIPANT.id) {
      throw new BoxError(409, 'the room microphone and speaker cannot be hung up; mute them, or set localAudioRoom to another room or off', 'participant', 'local');
    }
    if (!this.box.sip.removeParticipant(c, id)) throw new BoxError(404, `participant ${id} is not in conference ${key}`, 'participant', 'not-found');
    this.box.log.info('participant removed on the web page', { room: c.roomId, caller: p.caller, by: by.source });
  }

  /** Locks the conference (nobody new gets in but a moderator) or opens it again; everyone in it hears which. */
  lockConference(key: string, locked: unknown, by: Actor): ConferenceRow {
    if (typeof locked !== 'boolean') throw new BoxError(400, 'locked must be true or false', 'locked');
    const c = this.conference(key);
    this.box.sip.lockConference(c, locked, { administrator: `the web page (${by.source})` });
    return this.conferences().find((row) => row.key === c.key)!;
  }

  /** Mutes or unmutes everyone in the conference but its moderators; each hears it as after *6. Resolves with how many changed. */
  muteAll(key: string, muted: unknown, by: Actor): { changed: number; conference: ConferenceRow } {
    if (typeof muted !== 'boolean') throw new BoxError(400, 'muted must be true or false', 'muted');
    const c = this.conference(key);
    const changed = this.box.sip.muteAll(c, muted, { administrator: `the web page (${by.source})` });
    return { changed, conference: this.conferences().find((row) => row.key === c.key)! };
  }

  /** Starts or stops recording a conference; everyone in it hears which. Refused (507) when the disk is short of space. */
  recordConference(key: string, on: unknown, by: Actor): ConferenceRow {
    if (typeof on !== 'boolean') throw new BoxError(400, 'recording must be true or false', 'recording');
    const c = this.conference(key);
    const who = { administrator: `the web page (${by.source})` };
    if (on) this.box.sip.startRecording(c, who);
    else this.box.sip.stopRecording(c, who);
    return this.conferences().find((row) => row.key === c.key)!;
  }

  /**
   * Calls an extension's phone into the conference for the page or a script: resolves when the phone answered (it
   * then hears the invitation and joins on 1) or did not (busy, declined, no-answer, unreachable, failed).
   */
  async invite(key: string, extension: unknown, by: Actor): Promise<{ extension: string; answered: boolean; why: string | null; reason: string | null }> {
    if (typeof extension !== 'string' && typeof extension !== 'number') throw new BoxError(400, 'extension is required', 'extension');
    const c = this.conference(key);
    const number = String(extension).trim();
    const outcome = await this.box.sip.invite(c, number, { administrator: `the web page (${by.source})` });
    return outcome.answered ? { extension: number, answered: true, why: null, reason: null } : { extension: number, answered: false, why: outcome.why, reason: outcome.reason };
  }

  /** The configuration as a backup file (sealed with the passphrase when one is given) and its file name. */
  async backup(passphrase: unknown): Promise<{ text: string; name: string; summary: BackupSummary }> {
    const secret = backupPassphrase(passphrase);
    const configuration = await this.box.store.configuration.read();
    const now = new Date();
    const text = writeBackup(configuration, { firmware: this.box.version, now, passphrase: secret });
    return { text, name: `confbox-backup-${now.toISOString().slice(0, 10)}.json`, summary: summary(configuration) };
  }

  /** Replaces the configuration with a backup's, all or nothing, after checking every value; the box takes it at once. */
  async restore(text: unknown, passphrase: unknown, by: Actor): Promise<BackupSummary & { firmware: string; createdAt: string }> {
    if (typeof text !== 'string' || text.trim() === '') throw new BoxError(400, 'choose a backup file', 'backup');
    const backup = readBackup(text, backupPassphrase(passphrase));
    await this.box.store.configuration.replace(backup.configuration);
    await Promise.all([this.box.rooms.reload(), this.box.directory.refresh()]);
    const s = summary(backup.configuration);
    this.box.log.warn('configuration restored from a backup', { by: by.source, firmware: backup.firmware, writtenAt: backup.createdAt, ...s });
    return { ...s, firmware: backup.firmware, createdAt: backup.createdAt };
  }

  /** The recordings on the disk, newest first. */
  recordings(): RecordingRow[] {
    return this.box.recordings.list().map(recordingRow);
  }

  /** One recording and where its file is, for a download; 404 naming it when there is none by that name. */
  recording(name: string): RecordingRow & { path: string } {
    const r = this.box.recordings.get(name);
    return { ...recordingRow(r), path: r.path };
  }

  /** Deletes a recording (not one being written: 409). */
  deleteRecording(name: string, by: Actor): RecordingRow {
    const r = this.box.recordings.delete(name);
    this.box.log.info('recording deleted on the web page', { name: r.name, room: r.room, by: by.source });
    return recordingRow(r);
  }

  endConference(key: string, by: Actor): void {
    const c = this.conference(key);
    this.box.log.info('conference ended on the web page', { room: c.roomId, participants: c.participants.size, by: by.source });
    void this.box.sip.endConference(c, 'the conference was ended on the web page');
  }

  async extensions(): Promise<ExtensionRow[]> {
    const realm = this.box.rooms.settings().realm;
    return (await this.box.store.extensions.list()).map((e) => this.extensionRow(e, realm));
  }

  /**
   * The extensions as the box holds them in memory (its directory): the live view reads no database on every
   * registration, and still shows phones coming and going while the database is away.
   */
  extensionsInMemory(): ExtensionRow[] {
    const realm = this.box.rooms.settings().realm;
    return this.box.directory.extensionList().map((e) => this.extensionRow(e, realm));
  }

  private extensionRow(e: Extension, realm: string): ExtensionRow {
    const contacts = this.registeredPhones(e.number);
    return { number: e.number, displayName: e.displayName, registered: contacts.length > 0, contacts, realmMismatch: e.realm !== realm, ...this.authView(e.number) };
  }

  /** Adds an extension, or edits one: an empty password on an existing extension keeps its password. */
  async putExtension(input: { number: string; displayName?: string | null; password?: string | null }): Promise<ExtensionRow> {
    const number = parseExtensionNumber(String(input.number ?? ''));
    const displayName = validateText(input.displayName, 'displayName', 'display name');
    const realm = this.box.rooms.settings().realm;
    const existing = await this.box.store.extensions.get(number);
    let record;
    if (!input.password && existing) {
      record = { ...existing, displayName };
    } else {
      record = extensionRecord(number, validateExtensionPassword(input.password, ' for a new extension'), displayName, realm);
    }
    await this.box.store.extensions.put(record);
    await this.box.directory.refresh();
    // A new password is often a new phone: what the box learnt of the old one no longer holds.
    if (record !== existing && record.ha1Md5 !== existing?.ha1Md5) this.box.authRecords.forget(number);
    const contacts = this.registeredPhones(number);
    return { number, displayName, registered: contacts.length > 0, contacts, realmMismatch: record.realm !== realm, ...this.authView(number) };
  }

  private registeredPhones(number: string): RegisteredPhoneRow[] {
    return this.box.registrar.current(number).map((b) => ({ contact: b.contact, source: b.source, userAgent: b.userAgent, expires: b.expires, expiresAt: b.expiresAt.toISOString() }));
  }

  phoneSetup(): PhoneSetup {
    const { v4, v6 } = this.box.publicAddresses;
    const addresses: PhoneSetup['addresses'] = [];
    if (v4 !== null) addresses.push({ address: v4, family: isIPv4(v4) ? 'IPv4' : 'name' });
    if (v6 !== null) addresses.push({ address: v6, family: 'IPv6' });
    return { addresses, sipPort: this.box.sipPort, sipTlsPort: this.box.sipTlsPort, realm: this.box.rooms.settings().realm };
  }

  private authView(number: string): Pick<ExtensionRow, 'algorithm' | 'lastFailure'> {
    const r = this.box.authRecords.get(number);
    const f = r?.lastFailure;
    return { algorithm: r?.algorithm ?? null, lastFailure: f ? { at: f.at.toISOString(), reason: f.reason, source: f.source, method: f.method } : null };
  }

  async deleteExtension(number: string): Promise<void> {
    const n = parseExtensionNumber(String(number ?? ''));
    if (!(await this.box.store.extensions.delete(n))) throw new BoxError(404, `extension ${n} does not exist`, 'number', 'not-found');
    await this.box.directory.refresh();
    this.box.authRecords.forget(n);
  }

  peers() {
    return this.box.store.peers.list();
  }

  async putPeer(input: { cidr: string; description?: string | null; transport?: string | null; outboundPort?: string | number | boolean | null }) {
    const peer = peerRecord(String(input.cidr ?? ''), input.description, input.transport, input.outboundPort);
    await this.box.store.peers.put(peer);
    await this.box.directory.refresh();
    return peer;
  }

  async deletePeer(cidr: string): Promise<void> {
    const c = parseCidrField(String(cidr ?? ''));
    if (!(await this.box.store.peers.delete(c))) throw new BoxError(404, `trusted peer ${c} does not exist`, 'cidr', 'not-found');
    await this.box.directory.refresh();
  }

  settings(): Settings {
    return this.box.rooms.settings();
  }

  /** Every value is checked before any is stored; the first bad one is named. */
  /**
   * Reads settings sent by a form or the API and returns those that differ from the stored ones, storing nothing.
   * A bad value throws a BoxError for its setting; `subjectOf` says what its message calls the setting (its name unless told).
   */
  settingsChanges(input: Record<string, unknown>, subjectOf: (name: keyof Settings) => string = (name) => name): Partial<Settings> {
    const patch: Partial<Record<keyof Settings, unknown>> = {};
    for (const [name, value] of Object.entries(input)) {
      if (!isSettingName(name)) throw new BoxError(400, `unknown setting "${name}"; known: ${Object.keys(SETTINGS).join(', ')}`, name);
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') throw new BoxError(400, `${subjectOf(name)} needs a value`, name);
      patch[name] = parseSetting(name, String(value), subjectOf(name));
    }
    for (const name of ALSA_DEVICE_SETTINGS) {
      if (patch[name] !== undefined) checkAlsaDevice(name, String(patch[name]), this.box.alsaDevices(), subjectOf(name));
    }
    const current = this.box.rooms.settings();
    return Object.fromEntries(Object.entries(patch).filter(([k, v]) => current[k as keyof Settings] !== v)) as Partial<Settings>;
  }

  async updateSettings(input: Record<string, unknown>, subjectOf?: (name: keyof Settings) => string): Promise<Settings> {
    const changed = this.settingsChanges(input, subjectOf);
    if (Object.keys(changed).length === 0) return this.box.rooms.settings();
    const next = await this.box.rooms.updateSettings(changed);
    this.box.log.info('settings changed on the web page', { changed });
    return next;
  }

  /** Who joined and left which room in a range of days (?from=&to=, YYYY-MM-DD), newest first, at most `limit`. */
  async callLog(from: string | null, to: string | null, limit: number): Promise<{ range: DayRange; rows: CallLogRow[] }> {
    const range = parseDayRange(from, to, new Date());
    const entries = await this.box.store.callLog.between(range.start, range.end, limit, ['join', 'leave']);
    return { range, rows: entries.map(callLogRow) };
  }

  blocked() {
    return this.box.rooms.lockout.list().map((b) => ({
      address: b.key, kind: b.kind, label: describeBlock(b),
      since: new Date(b.since).toISOString(), until: new Date(b.until).toISOString(), failures: b.failures,
    }));
  }

  liftBlock(address: string, by: Actor): void {
    const a = String(address ?? '').trim();
    // An IPv6 source is blocked by its /64: any address in it names that block.
    if (!this.box.rooms.lockout.lift(a) && !this.box.rooms.lockout.lift(lockoutSource(a))) throw new BoxError(404, `${a.slice(0, 64)} is not blocked`, 'address', 'not-found');
    this.box.log.info('block lifted on the web page', { address: a, by: by.source });
  }

  /** Every box on this box's database with its conferences, and the database's nodes (a box alone: itself). */
  cluster(): ClusterSnapshot {
    const shared = this.box.status.get().cluster;
    if (shared) return shared;
    const self = this.conferences().map((c) => ({ roomId: c.roomId, participants: c.participants.length, startedAt: c.startedAt }));
    return { box: this.box.boxId, boxes: [{ box: this.box.boxId, self: true, conferences: self }], databaseNodes: [] };
  }

  /** The root slots and an update under way. */
  update(): UpdateView {
    return this.box.updater.state;
  }

  /** A bundle sent by the page or the API: stored, then installed; the box restarts when it is in. */
  async installUpdate(body: Readable, declaredBytes: number | null, by: Actor): Promise<UpdateView> {
    this.box.log.info('firmware update sent', { by: by.name, from: by.source, bytes: declaredBytes });
    return this.box.updater.receive(body, declaredBytes);
  }

  status(): StatusView {
    const s = this.box.status.get();
    return {
      ...s,
      version: this.box.version,
      databaseWhere: databaseWhere(this.box.database.inUse),
      uptimeSeconds: Math.round((Date.now() - s.startedAt) / 1000),
      load: loadavg().map((n) => Math.round(n * 100) / 100) as [number, number, number],
      memoryMb: Math.round(process.memoryUsage.rss() / 1048576),
      sipPort: this.box.sipPort,
      sipTlsPort: this.box.sipTlsPort,
      httpPort: this.box.httpPort,
      httpsPort: this.box.httpsPort,
      leds: this.box.leds(),
    };
  }
}

/** A participant as people name them: the display name with the number, or the number alone. */
export function participantName(p: { caller: string; displayName: string }): string {
  return p.displayName && p.displayName !== p.caller ? `${p.displayName} (${p.caller})` : p.caller;
}

function recordingRow(r: RecordingFile): RecordingRow {
  return {
    name: r.name, room: r.room, startedAt: r.startedAt.toISOString(), seconds: Math.round(r.seconds * 10) / 10, bytes: r.bytes, active: r.active,
    url: `/api/recordings/${encodeURIComponent(r.name)}`,
  };
}

/** A backup's passphrase as typed: none (empty), or at least 8 characters. */
function backupPassphrase(p: unknown): string | null {
  if (p === undefined || p === null || p === '') return null;
  if (typeof p !== 'string') throw new BoxError(400, 'the passphrase must be text', 'passphrase');
  if (p.length < 8) throw new BoxError(400, 'the passphrase must have at least 8 characters', 'passphrase');
  return p;
}

/** How long a switch took, and that calls were not touched: "switched in 0.4 s; calls in progress went on". */
function describeSwitch(ms: number): string {
  return `switched in ${(ms / 1000).toFixed(1)} s; calls in progress went on`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/**
 * Switching without copying: the administrator password comes along anyway when the other database has none, so that
 * whoever switched can still log in to the page.
 */
async function keepAdministratorPassword(from: Store, to: Store): Promise<void> {
  const hash = await from.admin.passwordHash().catch(() => null);
  if (hash !== null && (await to.admin.passwordHash()) === null) await to.admin.setFirstPasswordHash(hash);
}

/** The Status page's words for the database: "the embedded MariaDB", or its server and name. */
function databaseWhere(p: DatabasePlace): string {
  if (p.kind === 'embedded') return p.own ? `${p.own.where}, database ${p.own.database}` : 'the embedded MariaDB';
  return `${p.where}, database ${p.database}`;
}

/** A database as the page shows it, without its setBy or password. */
function placeOf(p: DatabasePlace): DatabasePlace {
  return p.kind === 'embedded' ? { kind: 'embedded', ...(p.own ? { own: p.own } : {}) } : { kind: 'server', where: p.where, database: p.database, ...(p.tls ? { tls: p.tls } : {}) };
}

function officePlace(o: OfficeDatabase): DatabasePlace {
  return { kind: 'server', where: describeTarget(o), database: o.database, tls: o.tls };
}

/** "3 rooms, 2 extensions, 1 trusted peer and 4 settings" */
function describeCopy(s: BackupSummary): string {
  const n = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;
  return `${n(s.rooms, 'room')}, ${n(s.extensions, 'extension')}, ${n(s.peers, 'trusted peer')} and ${n(s.settings, 'setting')}`;
}

/** A yes/no field of a form or a JSON body (absent: no). */
function yesNo(v: unknown, field: string): boolean {
  if (v === undefined || v === null || v === '' || v === false || v === 'no') return false;
  if (v === true || v === 'yes') return true;
  throw new BoxError(400, `${field} must be yes or no`, field);
}
