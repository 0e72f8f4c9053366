import { randomInt } from 'node:crypto';
import { BoxError } from '../errors.ts';
import type { ModeratorLeaves, Room } from './types.ts';

/** The one set of room rules; phone codes, the command line and the web page all call these. */

export const ROOM_ID_MIN = 1;
export const ROOM_ID_MAX = 200;
export const DURATION_MIN = 1;
export const DURATION_MAX = 1440;
export const DEFAULT_DURATION = 60;
export const PARTICIPANTS_MIN = 2;
export const PARTICIPANTS_MAX = 32;

const ADDRESS_INCOMPLETE = 484;

function integer(text: string | number, field: string, min: number, max: number, what: string): number {
  const s = String(text).trim();
  const n = /^\d{1,9}$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new BoxError(ADDRESS_INCOMPLETE, `${what} must be a whole number from ${min} to ${max}, not "${clip(s)}"`, field);
  }
  return n;
}

function clip(s: string): string {
  return s.length > 24 ? s.slice(0, 24) + '…' : s;
}

export function parseRoomId(text: string | number): number {
  return integer(text, 'id', ROOM_ID_MIN, ROOM_ID_MAX, 'room number');
}

export function parsePin(text: string): string {
  const s = String(text).trim();
  if (!/^\d{1,16}$/.test(s)) throw new BoxError(ADDRESS_INCOMPLETE, `PIN must be 1 to 16 digits, not "${clip(s)}"`, 'pin');
  return s;
}

/** An optional moderator PIN: empty is none; it must differ from the room's PIN, or nobody could join as a participant only. */
export function parseModeratorPin(text: string | undefined | null, pin: string): string | null {
  if (text === undefined || text === null || String(text).trim() === '') return null;
  const s = String(text).trim();
  if (!/^\d{1,16}$/.test(s)) throw new BoxError(ADDRESS_INCOMPLETE, `moderator PIN must be 1 to 16 digits, not "${clip(s)}"`, 'moderatorPin');
  if (s === pin) throw new BoxError(ADDRESS_INCOMPLETE, 'moderator PIN must differ from the PIN', 'moderatorPin');
  return s;
}

export function parseDuration(text: string | number | undefined | null): number {
  if (text === undefined || text === null || String(text).trim() === '') return DEFAULT_DURATION;
  return integer(text, 'duration', DURATION_MIN, DURATION_MAX, 'duration in minutes');
}

export function parseMaxParticipants(text: string | number | undefined | null): number | null {
  if (text === undefined || text === null || String(text).trim() === '') return null;
  return integer(text, 'maxParticipants', PARTICIPANTS_MIN, PARTICIPANTS_MAX, 'maximum participants');
}

/** Extension numbers: what a desk phone registers as. */
export function parseExtensionNumber(text: string, field = 'number'): string {
  const s = String(text).trim();
  if (!/^[0-9A-Za-z._+-]{1,32}$/.test(s)) {
    throw new BoxError(400, `extension number must be 1 to 32 letters, digits or . _ + -, not "${clip(s)}"`, field);
  }
  return s;
}

export function parseCreator(text: string | undefined | null): string | null {
  if (text === undefined || text === null || String(text).trim() === '') return null;
  return parseExtensionNumber(text, 'creator');
}

export interface RoomInput {
  id: string | number;
  pin: string;
  duration?: string | number | null;
  creator?: string | null;
  maxParticipants?: string | number | null;
  keep?: string | boolean | null;
  moderatorPin?: string | null;
  record?: string | boolean | null;
  waitForModerator?: string | boolean | null;
  moderatorLeaves?: string | null;
}

/** Why a PIN is easy to guess, or null: shorter than 4 digits, one digit repeated, a run up or down, a repeated pair, the room number. */
export function easyPin(pin: string, roomId: number): string | null {
  if (pin.length < 4) return 'it has fewer than 4 digits';
  if (/^(\d)\1*$/.test(pin)) return 'it is one digit repeated';
  const steps = [...pin].slice(1).map((d, i) => (Number(d) - Number(pin[i]) + 10) % 10);
  if (steps.every((s) => s === 1) || steps.every((s) => s === 9)) return 'it is a run of digits';
  if (/^(\d\d)\1+$/.test(pin)) return 'it is a pair of digits repeated';
  if (Number(pin) === roomId || pin === String(roomId).repeat(Math.ceil(pin.length / String(roomId).length)).slice(0, pin.length)) return 'it is made of the room number';
  return null;
}

/** What the add form offers: the lowest free room number (null when all are taken) and a random 6-digit PIN that is not easy. */
export function suggestRoom(taken: Iterable<number>): { id: number | null; pin: string } {
  const used = new Set(taken);
  let id: number | null = null;
  for (let n = ROOM_ID_MIN; n <= ROOM_ID_MAX; n++) if (!used.has(n)) { id = n; break; }
  let pin: string;
  do pin = String(randomInt(0, 1_000_000)).padStart(6, '0');
  while (easyPin(pin, id ?? 0) !== null);
  return { id, pin };
}

/** Refuses an easy PIN (setting refuseEasyPins), naming why. */
export function checkPinStrength(room: Room, refuseEasyPins: boolean): Room {
  if (!refuseEasyPins) return room;
  const why = easyPin(room.pin, room.id);
  if (why) throw new BoxError(400, `PIN ${room.pin} is too easy to guess: ${why} (setting refuseEasyPins is on)`, 'pin');
  const moderatorWhy = room.moderatorPin === null ? null : easyPin(room.moderatorPin, room.id);
  if (moderatorWhy) throw new BoxError(400, `moderator PIN ${room.moderatorPin} is too easy to guess: ${moderatorWhy} (setting refuseEasyPins is on)`, 'moderatorPin');
  return room;
}

/** A room's yes/no option: yes/no, true/false, on/off (a checkbox sends "on"); absent: no. */
function parseYesNo(value: string | boolean | undefined | null, field: 'keep' | 'record' | 'waitForModerator'): boolean {
  if (value === undefined || value === null || value === '') return false;
  if (typeof value === 'boolean') return value;
  const v = String(value).trim().toLowerCase();
  if (['yes', 'true', 'on', '1'].includes(v)) return true;
  if (['no', 'false', 'off', '0'].includes(v)) return false;
  throw new BoxError(400, `${field} must be yes or no, not "${clip(v)}"`, field);
}

/** Keep after the meeting: yes/no, true/false, on/off (a checkbox sends "on"); absent: no. */
export function parseKeep(value: string | boolean | undefined | null): boolean {
  return parseYesNo(value, 'keep');
}

/** What happens when the last moderator leaves: continue (default) or end. */
export function parseModeratorLeaves(value: string | undefined | null): ModeratorLeaves {
  if (value === undefined || value === null || value === '') return 'continue';
  const v = String(value).trim().toLowerCase();
  if (v === 'continue' || v === 'end') return v;
  throw new BoxError(400, `moderatorLeaves must be continue or end, not "${clip(v)}"`, 'moderatorLeaves');
}

/** Waiting for the moderator needs a moderator PIN: otherwise nobody could ever start the meeting. */
function checkWaitForModerator(room: Room): Room {
  if (room.waitForModerator && room.moderatorPin === null) {
    throw new BoxError(400, 'waiting for the moderator needs a moderator PIN: without one the meeting could never start', 'waitForModerator');
  }
  return room;
}

/** Record every meeting: yes/no, true/false, on/off; absent: no. */
export function parseRecord(value: string | boolean | undefined | null): boolean {
  return parseYesNo(value, 'record');
}

/** A room's changes as a technician enters them: only the fields given change; the id and creation stay. */
export interface RoomChanges {
  pin?: string;
  duration?: string | number | null;
  creator?: string | null;
  maxParticipants?: string | number | null;
  keep?: string | boolean | null;
  moderatorPin?: string | null;
  record?: string | boolean | null;
  waitForModerator?: string | boolean | null;
  moderatorLeaves?: string | null;
}

/** The room with the changes applied, each validated as when a room is added; the first bad field is named. */
export function roomWithChanges(room: Room, changes: RoomChanges): Room {
  const out = { ...room };
  if (changes.pin !== undefined) out.pin = parsePin(changes.pin);
  if (changes.duration !== undefined) out.duration = parseDuration(changes.duration);
  if (changes.creator !== undefined) out.creator = parseCreator(changes.creator);
  if (changes.maxParticipants !== undefined) out.maxParticipants = parseMaxParticipants(changes.maxParticipants);
  if (changes.keep !== undefined) out.keep = parseKeep(changes.keep);
  if (changes.record !== undefined) out.record = parseRecord(changes.record);
  if (changes.waitForModerator !== undefined) out.waitForModerator = parseYesNo(changes.waitForModerator, 'waitForModerator');
  if (changes.moderatorLeaves !== undefined) out.moderatorLeaves = parseModeratorLeaves(changes.moderatorLeaves);
  if (changes.moderatorPin !== undefined) out.moderatorPin = parseModeratorPin(changes.moderatorPin, out.pin);
  else if (out.moderatorPin !== null && out.moderatorPin === out.pin) throw new BoxError(ADDRESS_INCOMPLETE, 'the PIN must differ from the moderator PIN', 'pin');
  return checkWaitForModerator(out);
}

/** Validates a whole room as a technician or the web page enters it; the first bad field is named. */
export function roomFromInput(input: RoomInput, via: Room['createdVia'], now: Date): Room {
  const id = parseRoomId(input.id);
  const pin = parsePin(input.pin);
  return checkWaitForModerator({
    id,
    pin,
    duration: parseDuration(input.duration),
    creator: parseCreator(input.creator),
    maxParticipants: parseMaxParticipants(input.maxParticipants),
    createdAt: now,
    createdVia: via,
    keep: parseKeep(input.keep),
    moderatorPin: parseModeratorPin(input.moderatorPin, pin),
    record: parseRecord(input.record),
    waitForModerator: parseYesNo(input.waitForModerator, 'waitForModerator'),
    moderatorLeaves: parseModeratorLeaves(input.moderatorLeaves),
  });
}
