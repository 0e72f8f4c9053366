// The room rules' checks of what a technician or a phone types (firmware/conference/validate.ts), at their edges:
// what is taken once spaces are trimmed, what is refused however much of it looks right, the words of each refusal,
// and that editing a room changes only what was given.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { refusal } from '../support/refusal.ts';
import type { Room } from '../../firmware/conference/types.ts';
import {
  checkPinStrength, easyPin, parseCreator, parseDuration, parseExtensionNumber, parseKeep, parseMaxParticipants, parseModeratorLeaves, parseModeratorPin,
  parsePin, parseRecord, parseRoomId, roomFromInput, roomWithChanges, suggestRoom,
} from '../../firmware/conference/validate.ts';

const room: Room = {
  id: 12, pin: '583920', duration: 90, creator: '201', maxParticipants: 10, createdAt: new Date('2026-01-02T03:04:05Z'), createdVia: 'web', keep: true,
  moderatorPin: '774411', record: true, waitForModerator: true, moderatorLeaves: 'end',
};

test('numbers: only digits, the whole text: hexadecimal, exponents and trailing words are refused', () => {
  for (const text of ['0x10', '1e2', '12abc', 'x12', '+5', '-3', '2.0']) {
    const e = refusal(() => parseRoomId(text));
    assert.equal([e.field, e.message], ['id', `room number must be a whole number from 1 to 200, not "${text}"`], text);
  }
  assert.is(refusal(() => parseDuration('1e2')).field, 'duration');
  assert.is(parseRoomId(' 7 '), 7);
});

test('what was typed is shown back in a refusal up to 24 characters, longer text cut with an ellipsis', () => {
  assert.is(refusal(() => parsePin('123456789012345678901234')).message, 'PIN must be 1 to 16 digits, not "123456789012345678901234"');
  assert.is(refusal(() => parsePin('1234567890123456789012345')).message, 'PIN must be 1 to 16 digits, not "123456789012345678901234…"');
});

test('PINs and moderator PINs: spaces around are dropped, a blank moderator PIN is none, only digits from start to end', () => {
  assert.is(parsePin(' 1234 '), '1234');
  assert.is(parseModeratorPin('   ', '1234'), null);
  assert.is(parseModeratorPin(' 9876 ', '1234'), '9876');
  for (const text of ['x9876', '9876x']) assert.equal(refusal(() => parseModeratorPin(text, '1234')).field, 'moderatorPin', text);
});

test('maximum participants and creators: blank is none; a creator is an extension number, spaces dropped', () => {
  assert.is(parseMaxParticipants('  '), null);
  for (const blank of [undefined, null, '', '   ']) assert.is(parseCreator(blank), null, JSON.stringify(blank));
  assert.is(parseCreator(' 201 '), '201');
  assert.is(parseExtensionNumber(' 100 '), '100');
  const e = refusal(() => parseExtensionNumber('!100'));
  assert.equal([e.field, e.message], ['number', 'extension number must be 1 to 32 letters, digits or . _ + -, not "!100"']);
  assert.is(refusal(() => parseCreator('ext 1')).field, 'creator');
});

test('yes/no options: the words a form or a script sends, in any case and with spaces; blank is no', () => {
  for (const yes of ['yes', 'true', 'on', '1', ' YES ', 'On', true]) assert.is(parseKeep(yes), true, String(yes));
  for (const no of ['no', 'false', 'off', '0', ' No ', false, undefined, null, '']) assert.is(parseRecord(no), false, String(no));
  const e = refusal(() => parseKeep('maybe'));
  assert.equal([e.field, e.message], ['keep', 'keep must be yes or no, not "maybe"']);
  assert.is(refusal(() => roomFromInput({ id: 3, pin: '5839', waitForModerator: 'perhaps' }, 'web', new Date())).field, 'waitForModerator');
  assert.is(refusal(() => roomWithChanges(room, { waitForModerator: 'perhaps' })).field, 'waitForModerator');
});

test('what happens when the moderator leaves: continue unless end is chosen, in any case', () => {
  for (const blank of [undefined, null, '']) assert.is(parseModeratorLeaves(blank), 'continue');
  assert.is(parseModeratorLeaves(' END '), 'end');
});

test('easy PINs: a pair repeated from the start to the end, and not a PIN that merely ends in one', () => {
  assert.is(easyPin('121212', 9), 'it is a pair of digits repeated');
  assert.is(easyPin('51212', 9), null);
  assert.is(easyPin('12125', 9), null);
});

test('refusing easy PINs: the words say which PIN and why; a room without a moderator PIN, or with a good one, passes', () => {
  const e = refusal(() => checkPinStrength({ ...room, pin: '1111' }, true));
  assert.equal([e.field, e.message], ['pin', 'PIN 1111 is too easy to guess: it is one digit repeated (setting refuseEasyPins is on)']);
  assert.is(checkPinStrength({ ...room, moderatorPin: null, waitForModerator: false }, true).pin, '583920');
  assert.is(checkPinStrength(room, true).moderatorPin, '774411');
  assert.is(refusal(() => checkPinStrength({ ...room, moderatorPin: '2222' }, true)).field, 'moderatorPin');
});

test('the add form\'s suggestion: the lowest free room number, the last one too', () => {
  const taken = Array.from({ length: 199 }, (_, i) => i + 1);
  assert.is(suggestRoom(taken).id, 200);
  assert.is(suggestRoom([...taken, 200]).id, null);
});

test('editing a room changes what was given and nothing else', () => {
  assert.equal(roomWithChanges(room, {}), room, 'no change given: the room as it was');
  assert.equal(roomWithChanges(room, { duration: '30' }), { ...room, duration: 30 });
  assert.equal(roomWithChanges(room, { creator: '305' }), { ...room, creator: '305' });
  assert.equal(roomWithChanges(room, { maxParticipants: '4' }), { ...room, maxParticipants: 4 });
  assert.equal(roomWithChanges(room, { keep: 'no' }), { ...room, keep: false });
  assert.equal(roomWithChanges(room, { record: 'no' }), { ...room, record: false });
  assert.equal(roomWithChanges(room, { moderatorLeaves: 'continue' }), { ...room, moderatorLeaves: 'continue' });
  assert.equal(roomWithChanges(room, { duration: '' }), { ...room, duration: 60 }, 'a duration emptied: the default');
});

test.run();
