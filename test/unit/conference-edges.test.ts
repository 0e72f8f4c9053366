// Conferences at their edges, as callers and the page meet them: who is the moderator and who is refused, the words
// of each refusal, a participant's talking state, and the key a conference is known by on the page and the API.
// (test/unit/conference.test.ts has the rules as the README and SPEC.md state them.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { refusal } from '../support/refusal.ts';
import { Conferences } from '../../firmware/conference/conferences.ts';
import { parseFeatureCode } from '../../firmware/conference/feature-code.ts';
import { DEFAULT_SETTINGS, type Room } from '../../firmware/conference/types.ts';

function setup() {
  const clock = new FakeClock();
  let changed = 0;
  const confs = new Conferences(clock, () => ({ ...DEFAULT_SETTINGS, maxParticipants: 3 }), { warning: () => undefined, expired: () => undefined, changed: () => { changed++; } });
  return { clock, confs, changes: () => changed };
}

const room = (extra: Partial<Room> = {}): Room => ({
  id: 5, pin: '5839', duration: 60, creator: '201', maxParticipants: null, createdAt: new Date(0), createdVia: 'phone', keep: false,
  moderatorPin: '7410', record: false, waitForModerator: false, moderatorLeaves: 'continue', ...extra,
});

const who = (id: string, caller: string) => ({ id, caller, displayName: caller, source: '192.0.2.10' });

test('the moderator: the moderator PIN from anyone, the room PIN from its creator only; the creator with a wrong PIN is refused', () => {
  const { confs } = setup();
  const r = room();
  assert.is(confs.checkPin(r, 5, '7410', '305'), true, 'the moderator PIN');
  assert.is(confs.checkPin(r, 5, '5839', '201'), true, 'the room PIN from the creator\'s extension');
  assert.is(confs.checkPin(r, 5, '5839', '305'), false, 'the room PIN from another extension: a participant');
  assert.is(refusal(() => confs.checkPin(r, 5, '0000', '201')).message, 'wrong PIN for room 5', 'the creator with a wrong PIN');
  assert.is(confs.checkPin(room({ creator: null }), 5, '5839', '201'), false, 'a room nobody created by phone has no creator to be moderator');
  assert.is(confs.checkPin(room({ moderatorPin: null }), 5, '5839', '201'), false, 'no moderator PIN: nobody is moderator');
});

test('a room that does not exist is refused as a wrong PIN is, in words and status', () => {
  const { confs } = setup();
  const e = refusal(() => confs.checkPin(null, 9, '5839', '201'));
  assert.equal([e.sipStatus, e.code, e.message], [403, 'wrong-pin', 'wrong PIN for room 9']);
  assert.equal(refusal(() => confs.join(null, 9, '5839', who('a', '201'))).message, 'wrong PIN for room 9');
});

test('the words of each refusal: not the creator, no conference in progress, locked, full', () => {
  const { confs } = setup();
  const code = parseFeatureCode('*402*5*5839');
  if (code.kind !== 'delete') throw new Error('a delete code');
  const notCreator = refusal(() => confs.decideDelete(code, room(), '305'));
  assert.equal([notCreator.message, notCreator.field], ['only the creator of room 5 can delete it', 'creator']);
  const none = refusal(() => confs.joinInProgress(5, { ...who('local', 'box'), moderator: false }));
  assert.equal([none.message, none.field], ['room 5 has no conference in progress', 'id']);
  const conf = confs.join(room(), 5, '5839', who('a', '301'));
  confs.setLocked(conf.key, true);
  const locked = refusal(() => confs.join(room(), 5, '5839', who('b', '302')));
  assert.equal([locked.message, locked.field], ['this conference is locked (room 5)', 'id']);
  confs.setLocked(conf.key, false);
  confs.join(room(), 5, '5839', who('b', '302'));
  confs.join(room(), 5, '5839', who('c', '303'));
  const full = refusal(() => confs.join(room(), 5, '5839', who('d', '304')));
  assert.equal([full.sipStatus, full.message, full.field], [486, 'room 5 is full (3 participants)', 'id']);
});

test('talking: a change is kept and told, the same state again is not; a conference that ended is answered false', () => {
  const { confs, changes } = setup();
  const conf = confs.join(room(), 5, '5839', who('a', '301'));
  const before = changes();
  assert.is(confs.setTalk(conf.key, 'a', { talking: true, noisy: false }), true);
  assert.equal([conf.participants.get('a')!.talking, changes()], [true, before + 1]);
  assert.is(confs.setTalk(conf.key, 'a', { talking: true, noisy: false }), true);
  assert.is(changes(), before + 1, 'nothing new: the page is not told');
  confs.setTalk(conf.key, 'a', { talking: true, noisy: true });
  confs.setTalk(conf.key, 'a', { talking: false, noisy: true });
  assert.equal([conf.participants.get('a')!.talking, conf.participants.get('a')!.noisy, changes()], [false, true, before + 3], 'talking stopped on a noisy line');
  assert.is(confs.setTalk('5.999', 'a', { talking: false, noisy: false }), false);
  assert.is(confs.setTalk(conf.key, 'nobody', { talking: false, noisy: false }), false);
});

test('a conference is known by its room and a count: 5.1, then 5.2 for the next one in the same room', () => {
  const { confs } = setup();
  const first = confs.join(room(), 5, '5839', who('a', '301'));
  assert.is(first.key, '5.1');
  confs.leave(first.key, 'a');
  assert.is(confs.join(room(), 5, '5839', who('b', '302')).key, '5.2');
});

test.run();
