import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BoxError } from '../../firmware/errors.ts';
import { parseFeatureCode } from '../../firmware/conference/feature-code.ts';
import {
  DEFAULT_DURATION,
  parseDuration,
  parseMaxParticipants,
  parsePin,
  parseRoomId,
  roomFromInput,
  roomWithChanges,
  checkPinStrength,
  easyPin,
  suggestRoom,
} from '../../firmware/conference/validate.ts';
import type { Room } from '../../firmware/conference/types.ts';

/** Runs fn, expects a BoxError with that SIP status, and returns it for further checks. */
function rejects(fn: () => unknown, sipStatus: number, message?: RegExp): BoxError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught !== undefined, `expected a BoxError ${sipStatus}, but nothing was thrown`);
  assert.instance(caught, BoxError);
  const err = caught as BoxError;
  assert.is(err.sipStatus, sipStatus, `status for "${err.message}"`);
  if (message) assert.match(err.message, message);
  return err;
}

// ---------------------------------------------------------------------------------------------
const dial = suite('feature codes: the dial forms of SPEC section 2');

dial('*400*room*PIN joins a room', () => {
  assert.equal(parseFeatureCode('*400*2*5678'), { kind: 'join', room: 2, pin: '5678' });
});

dial('*401*room*PIN creates a room for 60 minutes', () => {
  assert.equal(parseFeatureCode('*401*2*5678'), { kind: 'create', room: 2, pin: '5678', duration: 60, moderatorPin: null });
});

dial('*401*room*PIN*minutes creates a room with that duration', () => {
  assert.equal(parseFeatureCode('*401*2*5678*120'), { kind: 'create', room: 2, pin: '5678', duration: 120, moderatorPin: null });
});

dial('*402*room*PIN deletes a room', () => {
  assert.equal(parseFeatureCode('*402*2*5678'), { kind: 'delete', room: 2, pin: '5678' });
});

dial('*400 alone opens the voice menu', () => {
  assert.equal(parseFeatureCode('*400'), { kind: 'menu' });
});

dial('a trailing # is ignored on every form', () => {
  assert.equal(parseFeatureCode('*400*2*5678#'), { kind: 'join', room: 2, pin: '5678' });
  assert.equal(parseFeatureCode('*401*2*5678#'), { kind: 'create', room: 2, pin: '5678', duration: 60, moderatorPin: null });
  assert.equal(parseFeatureCode('*401*2*5678*120#'), { kind: 'create', room: 2, pin: '5678', duration: 120, moderatorPin: null });
  assert.equal(parseFeatureCode('*402*2*5678#'), { kind: 'delete', room: 2, pin: '5678' });
  assert.equal(parseFeatureCode('*400#'), { kind: 'menu' });
});

dial('the PIN keeps its leading zeros (it is a string of digits, not a number)', () => {
  assert.equal(parseFeatureCode('*400*7*0042'), { kind: 'join', room: 7, pin: '0042' });
});

dial('bounds are accepted: room 1 and 200, 1- and 16-digit PINs, 1 and 1440 minutes', () => {
  assert.equal(parseFeatureCode('*400*1*1'), { kind: 'join', room: 1, pin: '1' });
  assert.equal(parseFeatureCode('*400*200*1234567890123456'), { kind: 'join', room: 200, pin: '1234567890123456' });
  assert.equal(parseFeatureCode('*401*3*9*1'), { kind: 'create', room: 3, pin: '9', duration: 1, moderatorPin: null });
  assert.equal(parseFeatureCode('*401*3*9*1440'), { kind: 'create', room: 3, pin: '9', duration: 1440, moderatorPin: null });
});

dial('a fifth field on *401 is the moderator PIN: *401*room*PIN*minutes*moderatorPIN', () => {
  assert.equal(parseFeatureCode('*401*2*5678*120*9911'), { kind: 'create', room: 2, pin: '5678', duration: 120, moderatorPin: '9911' });
  assert.equal(parseFeatureCode('*401*2*5678*120*0042#'), { kind: 'create', room: 2, pin: '5678', duration: 120, moderatorPin: '0042' });
});

dial.run();

// ---------------------------------------------------------------------------------------------
const bad = suite('feature codes: malformed or out of range -> 484 naming the problem');

bad('room 0 is out of range', () => {
  const e = rejects(() => parseFeatureCode('*400*0*5678'), 484, /room number/);
  assert.match(e.message, /1 to 200/);
  assert.match(e.message, /"0"/);
  assert.is(e.field, 'id');
});

bad('room 201 is out of range (join, create and delete alike)', () => {
  for (const code of ['*400*201*5678', '*401*201*5678', '*401*201*5678*30', '*402*201*5678']) {
    const e = rejects(() => parseFeatureCode(code), 484, /room number/);
    assert.match(e.message, /201/);
    assert.is(e.field, 'id');
  }
});

bad('a room that is not a number is rejected', () => {
  rejects(() => parseFeatureCode('*400*a*5678'), 484, /room number/);
  rejects(() => parseFeatureCode('*400*-1*5678'), 484, /room number/);
});

bad('a PIN with letters is rejected', () => {
  const e = rejects(() => parseFeatureCode('*400*2*12ab'), 484, /PIN/);
  assert.match(e.message, /1 to 16 digits/);
  assert.is(e.field, 'pin');
});

bad('a 17-digit PIN is rejected', () => {
  const e = rejects(() => parseFeatureCode('*401*2*12345678901234567'), 484, /PIN/);
  assert.match(e.message, /1 to 16 digits/);
  assert.is(e.field, 'pin');
});

bad('duration 0 is rejected', () => {
  const e = rejects(() => parseFeatureCode('*401*2*5678*0'), 484, /duration/);
  assert.match(e.message, /1 to 1440/);
  assert.is(e.field, 'duration');
});

bad('duration 1441 is rejected', () => {
  const e = rejects(() => parseFeatureCode('*401*2*5678*1441'), 484, /duration/);
  assert.match(e.message, /1441/);
  assert.is(e.field, 'duration');
});

bad('a duration that is not a whole number is rejected', () => {
  rejects(() => parseFeatureCode('*401*2*5678*1x'), 484, /duration/);
});

bad('missing fields: the message shows the form to dial', () => {
  rejects(() => parseFeatureCode('*400*2'), 484, /\*400\*room\*PIN/);
  rejects(() => parseFeatureCode('*401*2'), 484, /\*401\*room\*PIN/);
  rejects(() => parseFeatureCode('*402*2'), 484, /\*402\*room\*PIN/);
  rejects(() => parseFeatureCode('*401'), 484, /\*401\*room\*PIN/);
  rejects(() => parseFeatureCode('*402'), 484, /\*402\*room\*PIN/);
});

bad('extra fields: the message shows the form to dial', () => {
  rejects(() => parseFeatureCode('*400*2*5678*9'), 484, /\*400\*room\*PIN/);
  rejects(() => parseFeatureCode('*402*2*5678*9'), 484, /\*402\*room\*PIN/);
  rejects(() => parseFeatureCode('*401*2*5678*120*1*1'), 484, /\*401\*room\*PIN\*minutes\*moderatorPIN/);
});

bad('a moderator PIN equal to the PIN, or not digits, is refused naming it', () => {
  const same = rejects(() => parseFeatureCode('*401*2*5678*120*5678'), 484, /moderator PIN must differ from the PIN/);
  assert.is(same.field, 'moderatorPin');
  const letters = rejects(() => parseFeatureCode('*401*2*5678*120*12ab'), 484, /moderator PIN must be 1 to 16 digits/);
  assert.is(letters.field, 'moderatorPin');
});

bad('empty fields are rejected, not silently defaulted', () => {
  const e = rejects(() => parseFeatureCode('*401*2*5678*'), 484, /\*401\*room\*PIN/);
  assert.match(e.message, /\*401\*2\*5678\*/, 'the message quotes what was dialed');
  rejects(() => parseFeatureCode('*400*'), 484, /\*400\*room\*PIN/);
  rejects(() => parseFeatureCode('*400**5678'), 484, /\*400\*room\*PIN/);
  rejects(() => parseFeatureCode('*400*2*'), 484, /\*400\*room\*PIN/);
  rejects(() => parseFeatureCode('*402*2**'), 484, /\*402\*room\*PIN/);
});

bad('an unknown star code (*403*1*1) is a malformed conference code', () => {
  const e = rejects(() => parseFeatureCode('*403*1*1'), 484, /not a conference code/);
  assert.match(e.message, /\*403\*1\*1/);
  assert.match(e.message, /\*400, \*401 or \*402/);
  rejects(() => parseFeatureCode('*4000*1*1'), 484, /not a conference code/);
  rejects(() => parseFeatureCode('*'), 484);
});

bad('a plain number is not a feature code at all: 404', () => {
  const e = rejects(() => parseFeatureCode('1234'), 404, /1234/);
  assert.is(e.code, 'not-found');
  rejects(() => parseFeatureCode('400*2*5678'), 404);
});

bad('a code counts from its first key: digits before the star make a plain number (404), a # anywhere but at the end is refused', () => {
  assert.is(rejects(() => parseFeatureCode('9*400*2*5678'), 404).field, 'code');
  assert.is(rejects(() => parseFeatureCode('*40#0*2*5678'), 484, /not a conference code/).field, 'code');
  assert.is(rejects(() => parseFeatureCode('*400*2*5678*9'), 484).field, 'code');
  assert.equal(parseFeatureCode(' *400*2*5678# '), { kind: 'join', room: 2, pin: '5678' }, 'spaces around it and a closing # are not part of it');
});

bad('what was dialled is quoted back printable and cut at 40 characters', () => {
  const long = `*409${'1'.repeat(60)}`;
  assert.ok(rejects(() => parseFeatureCode(long), 484).message.includes(`"${long.slice(0, 40)}…"`), 'cut at 40 with an ellipsis');
  const forty = long.slice(0, 40);
  assert.ok(rejects(() => parseFeatureCode(forty), 484).message.includes(`"${forty}"`), 'exactly 40: quoted whole');
  assert.match(rejects(() => parseFeatureCode('*40\u00079'), 484).message, /"\*40\?9"/, 'a control character shows as ?');
});

bad.run();

// ---------------------------------------------------------------------------------------------
const val = suite('shared validators');

val('parseRoomId accepts 1..200 as text or number', () => {
  assert.is(parseRoomId('1'), 1);
  assert.is(parseRoomId('200'), 200);
  assert.is(parseRoomId(' 42 '), 42);
  assert.is(parseRoomId(17), 17);
});

val('parseRoomId rejects 0, 201, fractions, words and empty with 484 on field id', () => {
  for (const v of ['0', '201', '1.5', 'abc', '', '-3', 2.5, 1e12]) {
    const e = rejects(() => parseRoomId(v), 484, /room number must be a whole number from 1 to 200/);
    assert.is(e.field, 'id');
  }
});

val('parsePin accepts 1..16 digits and keeps them as text', () => {
  assert.is(parsePin('0'), '0');
  assert.is(parsePin('0007'), '0007');
  assert.is(parsePin('1234567890123456'), '1234567890123456');
});

val('parsePin rejects letters, 17 digits, empty and signs with 484 on field pin', () => {
  for (const v of ['12ab', '12345678901234567', '', '-1', '12 34', '1.5']) {
    const e = rejects(() => parsePin(v), 484, /PIN must be 1 to 16 digits/);
    assert.is(e.field, 'pin');
  }
});

val('parseDuration defaults to 60 minutes when not given', () => {
  assert.is(DEFAULT_DURATION, 60);
  assert.is(parseDuration(undefined), 60);
  assert.is(parseDuration(null), 60);
  assert.is(parseDuration(''), 60);
  assert.is(parseDuration('  '), 60);
});

val('parseDuration accepts 1..1440', () => {
  assert.is(parseDuration('1'), 1);
  assert.is(parseDuration(1440), 1440);
  assert.is(parseDuration('120'), 120);
});

val('parseDuration rejects 0, 1441 and non-integers with 484 on field duration', () => {
  for (const v of ['0', '1441', 0, 1441, '1.5', 'abc', '-5']) {
    const e = rejects(() => parseDuration(v), 484, /duration in minutes must be a whole number from 1 to 1440/);
    assert.is(e.field, 'duration');
  }
});

val('parseMaxParticipants: empty means "use the box setting" (null), otherwise 2..32', () => {
  assert.is(parseMaxParticipants(undefined), null);
  assert.is(parseMaxParticipants(null), null);
  assert.is(parseMaxParticipants(''), null);
  assert.is(parseMaxParticipants('2'), 2);
  assert.is(parseMaxParticipants(32), 32);
  for (const v of ['1', '33', 0, 'many']) {
    const e = rejects(() => parseMaxParticipants(v), 484, /maximum participants/);
    assert.is(e.field, 'maxParticipants');
  }
});

val('easy PINs are named: short, one digit, runs, repeated pairs, the room number; others are not', () => {
  for (const [pin, why] of [['123', /fewer than 4/], ['0000', /one digit/], ['1234', /run/], ['9876', /run/], ['7890', /run/], ['1212', /pair/], ['4040', /pair/], ['2525', /pair/], ['0025', null], ['25251', null]] as const) {
    const said = easyPin(pin, 77);
    if (why === null) assert.is(said, null, pin);
    else assert.match(String(said), why, pin);
  }
  assert.match(String(easyPin('1231', 123)), /room number/);
  assert.match(String(easyPin('0077', 77)), /room number/);
  assert.is(easyPin('583920', 12), null);
  assert.throws(() => checkPinStrength({ id: 5, pin: '1111' } as Room, true), /PIN 1111 is too easy to guess: it is one digit repeated \(setting refuseEasyPins is on\)/);
  assert.not.throws(() => checkPinStrength({ id: 5, pin: '1111' } as Room, false));
});

val('the add form suggests the lowest free room number and a random 6-digit PIN that is not easy', () => {
  for (let i = 0; i < 200; i++) {
    const s = suggestRoom([1, 2, 4]);
    assert.is(s.id, 3);
    assert.match(s.pin, /^\d{6}$/);
    assert.is(easyPin(s.pin, 3), null);
  }
  assert.is(suggestRoom(Array.from({ length: 200 }, (_, i) => i + 1)).id, null);
});

val('a moderator PIN is optional, digits only, and differs from the PIN, on adding and on editing', () => {
  const now = new Date(Date.UTC(2026, 0, 1, 9, 0));
  assert.is(roomFromInput({ id: 4, pin: '1234', moderatorPin: ' 9911 ' }, 'web', now).moderatorPin, '9911');
  assert.is(roomFromInput({ id: 4, pin: '1234', moderatorPin: '' }, 'web', now).moderatorPin, null);
  const same = rejects(() => roomFromInput({ id: 4, pin: '1234', moderatorPin: '1234' }, 'web', now), 484, /moderator PIN must differ from the PIN/);
  assert.is(same.field, 'moderatorPin');
  const room = roomFromInput({ id: 4, pin: '1234', moderatorPin: '9911' }, 'web', now);
  const clash = rejects(() => roomWithChanges(room, { pin: '9911' }), 484, /PIN must differ from the moderator PIN/);
  assert.is(clash.field, 'pin');
  assert.is(roomWithChanges(room, { moderatorPin: null }).moderatorPin, null, 'removed');
  assert.is(roomWithChanges(room, { pin: '9911', moderatorPin: '5555' }).pin, '9911', 'both changed together');
  const easy = rejects(() => checkPinStrength({ ...room, pin: '5829', moderatorPin: '1111' }, true), 400, /moderator PIN 1111 is too easy to guess/);
  assert.is(easy.field, 'moderatorPin');
});

val('roomFromInput builds a complete room with defaults', () => {
  const now = new Date(Date.UTC(2026, 0, 1, 9, 0));
  const room = roomFromInput({ id: '12', pin: '0042' }, 'web', now);
  assert.equal(room, {
    id: 12,
    pin: '0042',
    duration: 60,
    creator: null,
    maxParticipants: null,
    createdAt: now,
    createdVia: 'web',
    keep: false,
    moderatorPin: null,
    record: false,
    waitForModerator: false,
    moderatorLeaves: 'continue',
  });
  const full = roomFromInput({ id: 3, pin: '1', duration: '90', creator: '201', maxParticipants: '5' }, 'phone', now);
  assert.is(full.duration, 90);
  assert.is(full.creator, '201');
  assert.is(full.maxParticipants, 5);
  assert.is(roomFromInput({ id: 3, pin: '1', keep: 'yes' }, 'web', now).keep, true);
  assert.is(roomFromInput({ id: 3, pin: '1', keep: true }, 'web', now).keep, true);
  assert.is(roomFromInput({ id: 3, pin: '1', keep: 'off' }, 'web', now).keep, false);
  assert.throws(() => roomFromInput({ id: 3, pin: '1', keep: 'sometimes' }, 'web', now), /keep must be yes or no/);
  assert.is(full.createdVia, 'phone');
});

val('roomFromInput names the bad field in .field', () => {
  const now = new Date(0);
  const ok = { id: '2', pin: '5678' };
  assert.is(rejects(() => roomFromInput({ ...ok, id: '201' }, 'web', now), 484).field, 'id');
  assert.is(rejects(() => roomFromInput({ ...ok, pin: 'abcd' }, 'web', now), 484).field, 'pin');
  assert.is(rejects(() => roomFromInput({ ...ok, duration: '1441' }, 'web', now), 484).field, 'duration');
  assert.is(rejects(() => roomFromInput({ ...ok, maxParticipants: '99' }, 'web', now), 484).field, 'maxParticipants');
  assert.is(rejects(() => roomFromInput({ ...ok, creator: 'bad number!' }, 'web', now), 400).field, 'creator');
});

val('roomFromInput names the first bad field when several are bad', () => {
  const e = rejects(() => roomFromInput({ id: '0', pin: 'x', duration: '0' }, 'web', new Date(0)), 484);
  assert.is(e.field, 'id');
});

val('room options: record, wait for the moderator (only with a moderator PIN), what happens when the moderator leaves', () => {
  const now = new Date('2026-01-01T09:00:00Z');
  const room = roomFromInput({ id: 4, pin: '5829', moderatorPin: '7316', record: 'yes', waitForModerator: true, moderatorLeaves: 'end' }, 'web', now);
  assert.equal([room.record, room.waitForModerator, room.moderatorLeaves], [true, true, 'end']);
  const refuses = (fn: () => unknown, field: string, message: RegExp) => assert.throws(fn, (e: unknown) => e instanceof BoxError && e.field === field && message.test(e.message));
  refuses(() => roomFromInput({ id: 4, pin: '5829', waitForModerator: 'yes' }, 'web', now), 'waitForModerator', /needs a moderator PIN/);
  refuses(() => roomFromInput({ id: 4, pin: '5829', moderatorLeaves: 'later' }, 'web', now), 'moderatorLeaves', /moderatorLeaves must be continue or end, not "later"/);
  refuses(() => roomFromInput({ id: 4, pin: '5829', record: 'maybe' }, 'web', now), 'record', /record must be yes or no/);
  refuses(() => roomWithChanges(room, { moderatorPin: null }), 'waitForModerator', /needs a moderator PIN/);
  assert.is(roomWithChanges(room, { waitForModerator: 'no', moderatorPin: null }).waitForModerator, false, 'both at once');
  assert.is(roomWithChanges(room, { moderatorLeaves: 'continue' }).moderatorLeaves, 'continue');
});

val.run();
