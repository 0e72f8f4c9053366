import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { BoxError } from '../../firmware/errors.ts';
import { Conferences, type Conference, type ConferenceEvents } from '../../firmware/conference/conferences.ts';
import { parseFeatureCode } from '../../firmware/conference/feature-code.ts';
import { Lockout, MAX_TRACKED, PEER_FACTOR, TARGET_FACTOR, describeBlock, targets, type Block, type LockoutLimits } from '../../firmware/conference/lockout.ts';
import { DEFAULT_SETTINGS, PEER_TRANSPORTS, peerAccepts, type Peer, type Room, type Settings } from '../../firmware/conference/types.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

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

type Event = { kind: 'warning' | 'expired' | 'changed'; key: string; at: number; size: number };

interface Box {
  clock: FakeClock;
  settings: Settings;
  events: Event[];
  confs: Conferences;
  /** Set by a test to act like the SIP side when a conference expires. */
  onExpired?: (conf: Conference) => void;
  room(id: number, extra?: Partial<Room>): Room;
  /** Joins participant `p` with the room's PIN. */
  join(room: Room | null, p: string, roomId?: number, pin?: string): Conference;
  count(kind: Event['kind'], key?: string): number;
}

function box(settingsOverride: Partial<Settings> = {}): Box {
  const clock = new FakeClock();
  const settings: Settings = { ...DEFAULT_SETTINGS, ...settingsOverride };
  const events: Event[] = [];
  const b: Box = {
    clock,
    settings,
    events,
    confs: undefined as unknown as Conferences,
    room(id, extra = {}) {
      return {
        id,
        pin: '5678',
        duration: 60,
        creator: null,
        maxParticipants: null,
        createdAt: new Date(clock.now()),
        createdVia: 'web',
        keep: false,
        moderatorPin: null,
        record: false,
        waitForModerator: false,
        moderatorLeaves: 'continue',
        ...extra,
      };
    },
    join(room, p, roomId, pin) {
      return b.confs.join(room, roomId ?? room?.id ?? 0, pin ?? room?.pin ?? '', {
        id: p,
        caller: `ext-${p}`,
        displayName: `Person ${p}`,
        source: '192.0.2.10',
      });
    },
    count(kind, key) {
      return events.filter((e) => e.kind === kind && (key === undefined || e.key === key)).length;
    },
  };
  const record = (kind: Event['kind']) => (conf: Conference) =>
    events.push({ kind, key: conf.key, at: clock.now(), size: conf.participants.size });
  const handlers: ConferenceEvents = {
    warning: record('warning'),
    expired: (conf) => {
      record('expired')(conf);
      b.onExpired?.(conf);
    },
    changed: record('changed'),
  };
  b.confs = new Conferences(clock, () => settings, handlers);
  return b;
}

function createCode(dialed: string) {
  const code = parseFeatureCode(dialed);
  if (code.kind !== 'create') throw new Error(`not a create code: ${dialed}`);
  return code;
}

function deleteCode(dialed: string) {
  const code = parseFeatureCode(dialed);
  if (code.kind !== 'delete') throw new Error(`not a delete code: ${dialed}`);
  return code;
}

// ---------------------------------------------------------------------------------------------
const joining = suite('joining a room');

joining('join accepted: the conference starts and the participant is in it', () => {
  const b = box();
  const room = b.room(2);
  assert.is(b.confs.inRoom(2), undefined);
  const conf = b.join(room, 'a');
  assert.is(conf.roomId, 2);
  assert.is(conf.startedAt, b.clock.now());
  assert.is(conf.roomDeleted, false);
  assert.ok(conf.participants.has('a'));
  const p = conf.participants.get('a')!;
  assert.is(p.caller, 'ext-a');
  assert.is(p.joinedAt, b.clock.now());
  assert.is(p.muted, false);
  assert.is(b.confs.inRoom(2), conf);
  assert.is(b.confs.get(conf.key), conf);
  assert.equal(b.confs.list(), [conf]);
});

joining('a second participant joins the same conference', () => {
  const b = box();
  const room = b.room(2);
  const first = b.join(room, 'a');
  b.clock.advance(10 * SECOND);
  const second = b.join(room, 'b');
  assert.is(second, first);
  assert.equal([...first.participants.keys()], ['a', 'b']);
  assert.is(first.startedAt + 10 * SECOND, first.participants.get('b')!.joinedAt);
});

joining('room not configured: answered exactly like a wrong PIN (403, same text, same code), so rooms cannot be found by trying', () => {
  const b = box();
  const e = rejects(() => b.join(null, 'a', 9, '5678'), 403, /^wrong PIN for room 9$/);
  assert.is(e.code, 'wrong-pin');
  assert.is(b.confs.inRoom(9), undefined);
  assert.is(b.confs.list().length, 0);
});

joining('wrong PIN -> 403, nobody gets in', () => {
  const b = box();
  const room = b.room(2);
  const e = rejects(() => b.join(room, 'a', 2, '0000'), 403, /wrong PIN for room 2/);
  assert.is(e.code, 'wrong-pin');
  assert.is(e.field, 'pin');
  assert.is(b.confs.inRoom(2), undefined);
  assert.is(b.clock.pending(), 0, 'no conference started, no timers');
  // Also when a conference is already running.
  const conf = b.join(room, 'a');
  rejects(() => b.join(room, 'b', 2, '5679'), 403);
  assert.is(conf.participants.size, 1);
});

joining('default maxParticipants is 3: the 4th caller gets 486', () => {
  const b = box();
  const room = b.room(2);
  const conf = b.join(room, 'a');
  b.join(room, 'b');
  b.join(room, 'c');
  const e = rejects(() => b.join(room, 'd'), 486, /room 2 is full/);
  assert.is(e.code, 'full');
  assert.is(conf.participants.size, 3);
  assert.not.ok(conf.participants.has('d'));
});

joining('a place freed by someone leaving can be taken again', () => {
  const b = box();
  const room = b.room(2);
  const conf = b.join(room, 'a');
  b.join(room, 'b');
  b.join(room, 'c');
  b.confs.leave(conf.key, 'b');
  b.join(room, 'd');
  assert.equal([...conf.participants.keys()].sort(), ['a', 'c', 'd']);
  rejects(() => b.join(room, 'e'), 486);
});

joining('per-room maxParticipants override: a room with 5 admits 5 and rejects the 6th', () => {
  const b = box();
  const room = b.room(4, { maxParticipants: 5 });
  for (const p of ['a', 'b', 'c', 'd', 'e']) b.join(room, p);
  const conf = b.confs.inRoom(4)!;
  assert.is(conf.participants.size, 5);
  assert.is(conf.maxParticipants, 5);
  rejects(() => b.join(room, 'f'), 486, /full/);
  assert.is(conf.participants.size, 5);
  // Other rooms keep the box setting.
  const other = b.room(5);
  for (const p of ['x', 'y', 'z']) b.join(other, p);
  rejects(() => b.join(other, 'w'), 486);
});

joining('box-level (settings) maxParticipants override applies to rooms without their own', () => {
  const b = box({ maxParticipants: 4 });
  const room = b.room(2);
  for (const p of ['a', 'b', 'c', 'd']) b.join(room, p);
  rejects(() => b.join(room, 'e'), 486);
  assert.is(b.confs.inRoom(2)!.participants.size, 4);
});

joining('the box setting is read live: a raised limit applies to the next conference', () => {
  const b = box();
  b.settings.maxParticipants = 6;
  const room = b.room(2);
  for (const p of ['a', 'b', 'c', 'd', 'e', 'f']) b.join(room, p);
  rejects(() => b.join(room, 'g'), 486);
});

joining('32 participants in one room when configured so', () => {
  const b = box();
  const room = b.room(2, { maxParticipants: 32 });
  for (let i = 0; i < 32; i++) b.join(room, `p${i}`);
  assert.is(b.confs.inRoom(2)!.participants.size, 32);
  rejects(() => b.join(room, 'p32'), 486);
});

joining('200 rooms can be active at once', () => {
  const b = box();
  const rooms: Room[] = [];
  for (let id = 1; id <= 200; id++) rooms.push(b.room(id, { pin: String(1000 + id) }));
  for (const r of rooms) {
    b.join(r, `first-${r.id}`);
    b.join(r, `second-${r.id}`);
  }
  const list = b.confs.list();
  assert.is(list.length, 200);
  assert.is(new Set(list.map((c) => c.key)).size, 200, 'each conference has its own key');
  for (let id = 1; id <= 200; id++) {
    const c = b.confs.inRoom(id);
    assert.ok(c, `room ${id} active`);
    assert.is(c.roomId, id);
    assert.equal([...c.participants.keys()], [`first-${id}`, `second-${id}`]);
  }
  // Ending one leaves the 199 others running.
  const c7 = b.confs.inRoom(7)!;
  b.confs.leave(c7.key, 'first-7');
  assert.is(b.confs.leave(c7.key, 'second-7')!.deleteRoom, 7);
  assert.is(b.confs.list().length, 199);
  assert.is(b.confs.inRoom(8)!.participants.size, 2);
});

joining('events.changed fires on join and on leave', () => {
  const b = box();
  const room = b.room(2);
  const conf = b.join(room, 'a');
  assert.is(b.count('changed', conf.key), 1);
  b.join(room, 'b');
  assert.is(b.count('changed', conf.key), 2);
  assert.is(b.events.at(-1)!.size, 2);
  b.confs.leave(conf.key, 'a');
  assert.is(b.count('changed', conf.key), 3);
  assert.is(b.events.at(-1)!.size, 1);
  b.confs.leave(conf.key, 'b');
  assert.ok(b.count('changed', conf.key) >= 4, 'the end of the conference is reported');
  assert.is(b.events.at(-1)!.size, 0);
  // A rejected join changes nothing and reports nothing.
  const before = b.events.length;
  rejects(() => b.join(room, 'c', 2, '1'), 403);
  assert.is(b.events.length, before);
});

joining.run();

// ---------------------------------------------------------------------------------------------
const leaving = suite('leaving and automatic deletion');

leaving('people leaving one by one: only the last one out deletes the room', () => {
  const b = box();
  const room = b.room(2);
  const conf = b.join(room, 'a');
  b.join(room, 'b');
  assert.equal(b.confs.leave(conf.key, 'a'), { conference: conf, ended: false, deleteRoom: null });
  const last = b.confs.leave(conf.key, 'b');
  assert.ok(last);
  assert.is(last.ended, true);
  assert.is(last.deleteRoom, 2);
  assert.is(b.confs.inRoom(2), undefined);
  assert.is(b.confs.get(conf.key), undefined);
  assert.is(b.confs.list().length, 0);
});

leaving('leaving twice, or an unknown participant or conference, is ignored', () => {
  const b = box();
  const room = b.room(2);
  const conf = b.join(room, 'a');
  b.join(room, 'b');
  assert.is(b.confs.leave(conf.key, 'zz'), null);
  assert.is(b.confs.leave('nope', 'a'), null);
  b.confs.leave(conf.key, 'a');
  assert.is(b.confs.leave(conf.key, 'a'), null);
  assert.is(conf.participants.size, 1);
  b.confs.leave(conf.key, 'b');
  assert.is(b.confs.leave(conf.key, 'b'), null);
});

leaving('a conference that ends before expiry cancels its timers: no warning or expiry afterwards', () => {
  const b = box();
  const room = b.room(2, { duration: 5 });
  const conf = b.join(room, 'a');
  assert.is(b.clock.pending(), 2, 'warning and expiry are scheduled');
  b.clock.advance(2 * MINUTE);
  b.confs.leave(conf.key, 'a');
  assert.is(b.clock.pending(), 0);
  b.clock.advance(10 * MINUTE);
  assert.is(b.count('warning'), 0);
  assert.is(b.count('expired'), 0);
});

leaving('after the room is emptied and deleted, a new room with that id starts afresh', () => {
  const b = box();
  const first = b.join(b.room(2), 'a');
  b.confs.leave(first.key, 'a');
  const second = b.join(b.room(2, { pin: '1111' }), 'b');
  assert.is.not(second.key, first.key);
  assert.is(second.participants.size, 1);
});

leaving.run();

// ---------------------------------------------------------------------------------------------
const moderating = suite('the moderator PIN, and a locked conference');

moderating('the moderator PIN admits as moderator, the PIN as participant; a room without one has no moderator', () => {
  const b = box();
  const room = b.room(2, { moderatorPin: '9911' });
  const conf = b.join(room, 'chair', 2, '9911');
  b.join(room, 'guest', 2, '5678');
  assert.is(conf.participants.get('chair')!.moderator, true);
  assert.is(conf.participants.get('guest')!.moderator, false);
  const plain = b.room(3);
  const other = b.join(plain, 'a', 3, '5678');
  assert.is(other.participants.get('a')!.moderator, false);
  const e = rejects(() => b.join(plain, 'b', 3, '9911'), 403, /wrong PIN/);
  assert.is(e.code, 'wrong-pin', 'another room\'s moderator PIN is just a wrong PIN');
});

moderating('the creator calling from its extension with the PIN is moderator, in a room that has a moderator PIN', () => {
  const b = box();
  const room = b.room(4, { moderatorPin: '9911', creator: 'ext-owner' });
  const conf = b.join(room, 'owner');
  assert.is(conf.participants.get('owner')!.moderator, true);
  const plain = b.room(5, { creator: 'ext-owner' });
  assert.is(b.join(plain, 'owner').participants.get('owner')!.moderator, false, 'no moderator PIN: today\'s behaviour');
});

moderating('locked: a new caller gets 403 "this conference is locked", a moderator still gets in, unlocking opens it again', () => {
  const b = box({ maxParticipants: 5 });
  const room = b.room(2, { moderatorPin: '9911' });
  const conf = b.join(room, 'chair', 2, '9911');
  b.join(room, 'guest', 2, '5678');
  const changes = b.count('changed', conf.key);
  assert.ok(b.confs.setLocked(conf.key, true));
  assert.is(conf.locked, true);
  assert.is(b.count('changed', conf.key), changes + 1, 'the live view hears of the lock');
  const e = rejects(() => b.join(room, 'late', 2, '5678'), 403, /this conference is locked/);
  assert.is(e.code, 'locked');
  assert.not.ok(conf.participants.has('late'));
  b.join(room, 'co-chair', 2, '9911');
  assert.ok(conf.participants.has('co-chair'), 'a moderator gets into a locked conference');
  b.confs.setLocked(conf.key, false);
  b.join(room, 'late', 2, '5678');
  assert.ok(conf.participants.has('late'));
  assert.not.ok(b.confs.setLocked('nothing.1', true), 'no such conference');
});

moderating('a locked conference that ends is gone: the next meeting in the room starts unlocked', () => {
  const b = box();
  const room = b.room(6, { moderatorPin: '9911', keep: true });
  const conf = b.join(room, 'chair', 6, '9911');
  b.confs.setLocked(conf.key, true);
  b.confs.leave(conf.key, 'chair');
  const next = b.join(room, 'guest', 6, '5678');
  assert.is(next.locked, false);
});

moderating('the last joiner, leaving out the moderator who asks', () => {
  const b = box({ maxParticipants: 5 });
  const room = b.room(2, { moderatorPin: '9911' });
  const conf = b.join(room, 'a');
  b.clock.advance(SECOND);
  b.join(room, 'chair', 2, '9911');
  b.clock.advance(SECOND);
  b.join(room, 'b');
  assert.is(b.confs.lastJoined(conf.key, 'chair')!.id, 'b');
  b.confs.leave(conf.key, 'b');
  assert.is(b.confs.lastJoined(conf.key, 'chair')!.id, 'a', 'the moderator is never its own last joiner');
  b.confs.leave(conf.key, 'a');
  assert.is(b.confs.lastJoined(conf.key, 'chair'), null);
});

moderating.run();

// ---------------------------------------------------------------------------------------------
const deleted = suite('deleting a room while people are in it');

deleted('the people stay, a new join is refused like a wrong PIN, the conference ends when the last leaves without deleting', () => {
  const b = box();
  const room = b.room(2);
  const conf = b.join(room, 'a');
  b.join(room, 'b');
  const changedBefore = b.count('changed', conf.key);

  b.confs.roomDeleted(2);
  assert.is(conf.roomDeleted, true);
  assert.equal([...conf.participants.keys()], ['a', 'b'], 'participants unchanged');
  assert.is(b.confs.get(conf.key), conf, 'conference still running');
  assert.is(b.confs.inRoom(2), undefined, 'the room id is free');
  assert.ok(b.count('changed', conf.key) > changedBefore, 'the change is reported');

  // The storage no longer has the room: the SIP side passes null.
  rejects(() => b.join(null, 'c', 2, '5678'), 403, /^wrong PIN for room 2$/);
  assert.is(conf.participants.size, 2);

  assert.equal(b.confs.leave(conf.key, 'a'), { conference: conf, ended: false, deleteRoom: null });
  const last = b.confs.leave(conf.key, 'b');
  assert.ok(last);
  assert.is(last.ended, true);
  assert.is(last.deleteRoom, null, 'nothing left to delete');
  assert.is(b.confs.get(conf.key), undefined);
  assert.is(b.clock.pending(), 0);
});

deleted('id reuse: a new room with the same id is a new conference; the old one\'s last leave does not delete it', () => {
  const b = box();
  const oldConf = b.join(b.room(2), 'a');
  b.join(b.room(2), 'b');
  b.confs.roomDeleted(2);

  const newRoom = b.room(2, { pin: '9999', duration: 30 });
  const newConf = b.join(newRoom, 'c');
  assert.is.not(newConf, oldConf);
  assert.is.not(newConf.key, oldConf.key);
  assert.is(newConf.roomDeleted, false);
  assert.is(b.confs.inRoom(2), newConf);
  assert.equal([...oldConf.participants.keys()], ['a', 'b'], 'old conference still runs');
  assert.equal([...newConf.participants.keys()], ['c']);
  assert.is(b.confs.list().length, 2);

  // A join to room 2 now goes to the new conference (new PIN).
  b.join(newRoom, 'd');
  assert.is(newConf.participants.size, 2);
  assert.is(oldConf.participants.size, 2);

  // The old conference ends: it must not delete the new room nor end the new conference.
  b.confs.leave(oldConf.key, 'a');
  const oldLast = b.confs.leave(oldConf.key, 'b');
  assert.ok(oldLast);
  assert.is(oldLast.ended, true);
  assert.is(oldLast.deleteRoom, null);
  assert.is(b.confs.inRoom(2), newConf, 'new conference still reachable by room id');
  assert.is(newConf.participants.size, 2);

  // The new conference's own last leave deletes the new room.
  b.confs.leave(newConf.key, 'c');
  assert.is(b.confs.leave(newConf.key, 'd')!.deleteRoom, 2);
});

deleted('the old conference keeps its own timers and limit after the id is reused', () => {
  const b = box();
  const oldConf = b.join(b.room(2, { duration: 3 }), 'a');
  b.confs.roomDeleted(2);
  b.clock.advance(1 * MINUTE);
  const newConf = b.join(b.room(2, { duration: 10 }), 'b');
  b.clock.advance(2 * MINUTE); // old: 3 min since start
  assert.is(b.count('expired', oldConf.key), 1);
  assert.is(b.count('expired', newConf.key), 0);
  assert.is(b.count('warning', newConf.key), 0);
  b.clock.advance(8 * MINUTE); // new: 10 min since its start
  assert.is(b.count('warning', newConf.key), 1);
  assert.is(b.count('expired', newConf.key), 1);
});

deleted('deleting a room that is not in use changes nothing', () => {
  const b = box();
  b.confs.roomDeleted(5);
  assert.is(b.events.length, 0);
  assert.is(b.confs.list().length, 0);
});

deleted.run();

// ---------------------------------------------------------------------------------------------
const expiry = suite('duration and expiry');

expiry('2-minute room: warning at 1 minute after start, expired at 2 minutes, not before', () => {
  const b = box();
  const conf = b.join(b.room(2, { duration: 2 }), 'a');
  const start = b.clock.now();
  assert.is(conf.endsAt, start + 2 * MINUTE);

  b.clock.advance(1 * MINUTE - 1);
  assert.is(b.count('warning'), 0, 'no warning before 1 minute');
  b.clock.advance(1);
  assert.is(b.count('warning'), 1, 'warning at 1 minute');
  assert.is(b.events.find((e) => e.kind === 'warning')!.at, start + 1 * MINUTE);
  assert.is(b.count('expired'), 0);

  b.clock.advance(1 * MINUTE - 1);
  assert.is(b.count('expired'), 0, 'not expired before 2 minutes');
  b.clock.advance(1);
  assert.is(b.count('expired'), 1, 'expired at 2 minutes');
  assert.is(b.events.find((e) => e.kind === 'expired')!.at, start + 2 * MINUTE);
  assert.is(b.count('warning'), 1, 'one warning only');
});

expiry('duration counts from the conference start, not from the room\'s creation', () => {
  const b = box();
  const room = b.room(2, { duration: 5 }); // created now
  b.clock.advance(30 * MINUTE); // nobody joins for half an hour
  const conf = b.join(room, 'a');
  assert.is(conf.startedAt, room.createdAt.getTime() + 30 * MINUTE);
  assert.is(conf.endsAt, conf.startedAt + 5 * MINUTE);
  b.clock.advance(4 * MINUTE - 1);
  assert.is(b.count('warning'), 0);
  b.clock.advance(1);
  assert.is(b.count('warning'), 1);
  b.clock.advance(1 * MINUTE - 1);
  assert.is(b.count('expired'), 0);
  b.clock.advance(1);
  assert.is(b.count('expired'), 1);
});

expiry('later joiners do not extend the conference', () => {
  const b = box();
  const room = b.room(2, { duration: 3 });
  const conf = b.join(room, 'a');
  b.clock.advance(2 * MINUTE + 30 * SECOND);
  b.join(room, 'b');
  b.clock.advance(30 * SECOND);
  assert.is(b.count('expired', conf.key), 1);
});

expiry('a 1-minute room gets no warning but expires at 1 minute', () => {
  const b = box();
  b.join(b.room(2, { duration: 1 }), 'a');
  assert.is(b.clock.pending(), 1, 'only the expiry is scheduled');
  b.clock.advance(1 * MINUTE - 1);
  assert.is(b.count('expired'), 0);
  assert.is(b.count('warning'), 0);
  b.clock.advance(1);
  assert.is(b.count('expired'), 1);
  b.clock.advance(10 * MINUTE);
  assert.is(b.count('warning'), 0);
});

expiry('default 60-minute room: warning at 59, expired at 60', () => {
  const b = box();
  b.join(b.room(2), 'a');
  b.clock.advance(59 * MINUTE - 1);
  assert.is(b.count('warning'), 0);
  b.clock.advance(1);
  assert.is(b.count('warning'), 1);
  b.clock.advance(1 * MINUTE - 1);
  assert.is(b.count('expired'), 0);
  b.clock.advance(1);
  assert.is(b.count('expired'), 1);
});

expiry('expiry hangs everyone up: the room empties and is deleted, timers are gone', () => {
  const b = box();
  const room = b.room(2, { duration: 2 });
  const outcomes: ({ deleteRoom: number | null; ended: boolean } | null)[] = [];
  b.onExpired = (conf) => {
    for (const id of [...conf.participants.keys()]) outcomes.push(b.confs.leave(conf.key, id));
  };
  const conf = b.join(room, 'a');
  b.join(room, 'b');
  b.clock.advance(2 * MINUTE);
  assert.is(outcomes.length, 2);
  assert.is(outcomes[0]!.ended, false);
  assert.is(outcomes[1]!.ended, true);
  assert.is(outcomes[1]!.deleteRoom, 2);
  assert.is(conf.participants.size, 0);
  assert.is(b.confs.list().length, 0);
  assert.is(b.clock.pending(), 0);
  b.clock.advance(60 * MINUTE);
  assert.is(b.count('expired'), 1);
});

expiry('each of many conferences expires on its own schedule', () => {
  const b = box();
  const c1 = b.join(b.room(1, { duration: 2 }), 'a');
  b.clock.advance(1 * MINUTE);
  const c2 = b.join(b.room(2, { duration: 2 }), 'b');
  b.clock.advance(1 * MINUTE);
  assert.is(b.count('expired', c1.key), 1);
  assert.is(b.count('expired', c2.key), 0);
  assert.is(b.count('warning', c2.key), 1);
  b.clock.advance(1 * MINUTE);
  assert.is(b.count('expired', c2.key), 1);
});

expiry.run();

// ---------------------------------------------------------------------------------------------
const inCall = suite('in a call: hold, talking, mute, lock, waiting, recording, the box\'s own microphone');

inCall('hold, talking and mute change the participant and tell the page; an unknown call or conference changes nothing', () => {
  const b = box();
  const conf = b.join(b.room(2), 'a');
  b.join(b.room(2), 'b');
  const changes = () => b.count('changed', conf.key);
  let before = changes();
  assert.ok(b.confs.setOnHold(conf.key, 'a', true));
  assert.is(conf.participants.get('a')!.onHold, true);
  assert.is(changes(), before + 1, 'the page hears of the hold');
  assert.ok(b.confs.setOnHold(conf.key, 'a', false));
  assert.is(conf.participants.get('a')!.onHold, false);
  assert.not.ok(b.confs.setOnHold(conf.key, 'nobody', true));
  assert.not.ok(b.confs.setOnHold('9.9', 'a', true));

  before = changes();
  assert.ok(b.confs.setTalk(conf.key, 'b', { talking: true, noisy: false }));
  assert.equal([conf.participants.get('b')!.talking, conf.participants.get('b')!.noisy], [true, false]);
  assert.is(changes(), before + 1);
  assert.ok(b.confs.setTalk(conf.key, 'b', { talking: true, noisy: false }), 'the same state again is no news');
  assert.is(changes(), before + 1, 'and the page is not told again');
  assert.ok(b.confs.setTalk(conf.key, 'b', { talking: true, noisy: true }));
  assert.is(conf.participants.get('b')!.noisy, true);
  assert.is(changes(), before + 2, 'a line turning noisy is news');
  assert.not.ok(b.confs.setTalk(conf.key, 'nobody', { talking: true, noisy: false }));

  before = changes();
  assert.ok(b.confs.setMuted(conf.key, 'b', true));
  assert.is(conf.participants.get('b')!.muted, true);
  assert.ok(b.confs.setMuted(conf.key, 'b', false));
  assert.is(conf.participants.get('b')!.muted, false);
  assert.is(changes(), before + 2);
  assert.not.ok(b.confs.setMuted(conf.key, 'nobody', true));
  assert.not.ok(b.confs.setMuted('9.9', 'b', true));
});

inCall('locking, waiting and recording report whether anything changed', () => {
  const b = box();
  const conf = b.join(b.room(3, { waitForModerator: true, moderatorPin: '9999', record: true }), 'a');
  assert.is(conf.waiting, true, 'a room that waits for its moderator starts waiting');
  assert.is(conf.recordMeetings, true);
  let before = b.count('changed', conf.key);
  assert.ok(b.confs.setLocked(conf.key, true));
  assert.is(conf.locked, true);
  assert.ok(b.confs.setLocked(conf.key, false));
  assert.is(conf.locked, false);
  assert.not.ok(b.confs.setLocked('9.9', true));
  assert.is(b.count('changed', conf.key), before + 2);

  before = b.count('changed', conf.key);
  assert.not.ok(b.confs.setWaiting(conf.key, true), 'already waiting');
  assert.ok(b.confs.setWaiting(conf.key, false));
  assert.is(conf.waiting, false);
  assert.not.ok(b.confs.setWaiting(conf.key, false));
  assert.not.ok(b.confs.setWaiting('9.9', true));
  assert.is(b.count('changed', conf.key), before + 1);

  before = b.count('changed', conf.key);
  assert.not.ok(b.confs.setRecording(conf.key, false), 'not recording yet');
  assert.ok(b.confs.setRecording(conf.key, true));
  assert.is(conf.recording, true);
  assert.not.ok(b.confs.setRecording(conf.key, true));
  assert.not.ok(b.confs.setRecording('9.9', true));
  assert.is(b.count('changed', conf.key), before + 1);
});

inCall('the last to join, leaving out the moderator who asks', () => {
  const b = box({ maxParticipants: 5 });
  const conf = b.join(b.room(4), 'a');
  b.clock.advance(SECOND);
  b.join(b.room(4), 'b');
  b.clock.advance(SECOND);
  b.join(b.room(4), 'c');
  assert.is(b.confs.lastJoined(conf.key, 'x')!.id, 'c');
  assert.is(b.confs.lastJoined(conf.key, 'c')!.id, 'b', 'the moderator asking is left out');
  b.join(b.room(4), 'd');
  assert.is(b.confs.lastJoined(conf.key, 'x')!.id, 'd', 'of two who joined at the same moment, the later one');
  assert.is(b.confs.lastJoined('9.9', 'x'), null);
  const alone = box();
  const only = alone.join(alone.room(5), 'm');
  assert.is(alone.confs.lastJoined(only.key, 'm'), null, 'nobody but the one asking');
});

inCall('the box\'s own microphone joins the conference in progress without a PIN, within the limit, once', () => {
  const b = box({ maxParticipants: 3 });
  const local = { id: 'local', caller: 'local', displayName: 'Room microphone', source: 'local' };
  const notFound = rejects(() => b.confs.joinInProgress(6, local), 404, /^room 6 has no conference in progress$/);
  assert.is(notFound.code, 'not-found');
  const conf = b.join(b.room(6), 'a');
  const before = b.count('changed', conf.key);
  b.clock.advance(5 * SECOND);
  assert.is(b.confs.joinInProgress(6, local), conf);
  const p = conf.participants.get('local')!;
  assert.equal([p.muted, p.joinedAt, p.displayName], [false, b.clock.now(), 'Room microphone']);
  assert.is(b.count('changed', conf.key), before + 1);
  assert.is(b.confs.joinInProgress(6, local), conf, 'joining again is no new participant');
  assert.is(conf.participants.size, 2);
  assert.is(b.count('changed', conf.key), before + 1);
  b.join(b.room(6), 'b');
  const full = rejects(() => b.confs.joinInProgress(6, { ...local, id: 'local-2' }), 486, /^room 6 is full \(3 participants\)$/);
  assert.is(full.code, 'full');
});

inCall('a trusted peer is trusted over the transports it was given: any, TCP (and TLS), or TLS alone', () => {
  assert.equal([...PEER_TRANSPORTS], ['any', 'tcp', 'tls'], 'the choices the page and the command line offer');
  const peer = (transport: Peer['transport']): Peer => ({ cidr: '192.0.2.0/24', description: 'PBX', transport, outboundPort: null });
  const over = (transport: Peer['transport']) => ['UDP', 'TCP', 'TLS', 'tls', 'WS'].filter((p) => peerAccepts(peer(transport), p));
  assert.equal(over('any'), ['UDP', 'TCP', 'TLS', 'tls', 'WS']);
  assert.equal(over('tcp'), ['TCP', 'TLS', 'tls'], 'TCP, and TLS which runs over it; never UDP, where a source address is easily forged');
  assert.equal(over('tls'), ['TLS', 'tls'], 'TLS alone, in any case the SIP stack names it');
});

inCall.run();

// ---------------------------------------------------------------------------------------------
const decisions = suite('create and delete decisions');

decisions('create sets creator = caller, createdVia phone, the dialed duration and no per-room limit', () => {
  const b = box();
  const now = new Date(b.clock.now());
  const room = b.confs.decideCreate(createCode('*401*2*5678*120'), null, '201', now);
  assert.equal(room, {
    id: 2,
    pin: '5678',
    duration: 120,
    creator: '201',
    maxParticipants: null,
    createdAt: now,
    createdVia: 'phone',
    keep: false,
    moderatorPin: null,
    record: false,
    waitForModerator: false,
    moderatorLeaves: 'continue',
  });
  const plain = b.confs.decideCreate(createCode('*401*3*1234'), null, '202', now);
  assert.is(plain.duration, 60);
  assert.is(plain.creator, '202');
  const chaired = b.confs.decideCreate(createCode('*401*4*1234*30*8642'), null, '203', now);
  assert.is(chaired.moderatorPin, '8642', 'the fifth field is the moderator PIN');
});

decisions('create for an id already configured -> 403 "room 2 already exists" (code exists)', () => {
  const b = box();
  const existing = b.room(2, { pin: '1111' });
  const e = rejects(() => b.confs.decideCreate(createCode('*401*2*5678'), existing, '201', new Date()), 403);
  assert.match(e.message, /room 2 already exists/);
  assert.is(e.code, 'exists');
  assert.is(e.field, 'id');
});

decisions('delete by the creator with the right PIN is allowed', () => {
  const b = box();
  const room = b.room(2, { creator: '201' });
  b.confs.decideDelete(deleteCode('*402*2*5678'), room, '201');
});

decisions('delete by someone other than the creator -> 403', () => {
  const b = box();
  const room = b.room(2, { creator: '201' });
  const e = rejects(() => b.confs.decideDelete(deleteCode('*402*2*5678'), room, '202'), 403, /only the creator/);
  assert.is(e.code, 'not-creator');
});

decisions('delete with the wrong PIN -> 403 (even by the creator)', () => {
  const b = box();
  const room = b.room(2, { creator: '201' });
  const e = rejects(() => b.confs.decideDelete(deleteCode('*402*2*0000'), room, '201'), 403, /wrong PIN/);
  assert.is(e.code, 'wrong-pin');
  const noCreator = b.room(3);
  rejects(() => b.confs.decideDelete(deleteCode('*402*3*0000'), noCreator, 'anyone'), 403, /wrong PIN/);
});

decisions('delete of a room without creator by anyone with the PIN is allowed', () => {
  const b = box();
  const room = b.room(2, { creator: null });
  b.confs.decideDelete(deleteCode('*402*2*5678'), room, '202');
  b.confs.decideDelete(deleteCode('*402*2*5678'), room, 'pbx-user-77');
});

decisions('delete of a room that is not configured: answered like a wrong PIN (403)', () => {
  const b = box();
  const e = rejects(() => b.confs.decideDelete(deleteCode('*402*9*5678'), null, '201'), 403, /^wrong PIN for room 9$/);
  assert.is(e.code, 'wrong-pin');
});

decisions.run();

// ---------------------------------------------------------------------------------------------
const lockout = suite('brute-force lockout');

function lock(limits: Partial<LockoutLimits> = {}) {
  const clock = new FakeClock();
  const current: LockoutLimits = { failures: 5, windowMinutes: 5, blockMinutes: 15, ...limits };
  const events: string[] = [];
  const l = new Lockout(clock, () => current, { blocked: (b) => events.push(`blocked ${b.key}`), lifted: (k) => events.push(`lifted ${k}`) });
  return { clock, limits: current, l, events };
}

const addr = (a: string) => targets.address(a);

lockout('4 failures within 5 minutes do not block; the 5th does, for 15 minutes', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 4; i++) {
    assert.equal(l.fail(addr('198.51.100.7')), []);
    assert.is(l.isBlocked('198.51.100.7'), false, `not blocked after ${i + 1} failures`);
    clock.advance(30 * SECOND);
  }
  const [block] = l.fail(addr('198.51.100.7'));
  assert.ok(block, 'the 5th failure blocks');
  assert.is(block.key, '198.51.100.7');
  assert.is(block.failures, 5);
  assert.is(block.since, clock.now());
  assert.is(block.until, clock.now() + 15 * MINUTE);
  assert.is(l.isBlocked('198.51.100.7'), true);
  assert.equal(l.list(), [block]);
});

lockout('the default settings give 5 failures / 5 minutes / 15 minutes', () => {
  assert.is(DEFAULT_SETTINGS.lockoutFailures, 5);
  assert.is(DEFAULT_SETTINGS.lockoutWindowMinutes, 5);
  assert.is(DEFAULT_SETTINGS.lockoutBlockMinutes, 15);
});

lockout('failures spread over more than the window do not block', () => {
  const { clock, l } = lock();
  // One failure every 90 s: never 5 within any 5-minute window.
  for (let i = 0; i < 20; i++) {
    assert.equal(l.fail(addr('198.51.100.7')), [], `failure ${i + 1}`);
    clock.advance(90 * SECOND);
  }
  assert.is(l.isBlocked('198.51.100.7'), false);
  assert.equal(l.list(), []);
});

lockout('old failures fall out of the window', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 4; i++) l.fail(addr('198.51.100.7'));
  clock.advance(5 * MINUTE + 1);
  assert.equal(l.fail(addr('198.51.100.7')), [], 'the 4 earlier failures no longer count');
  for (let i = 0; i < 3; i++) l.fail(addr('198.51.100.7'));
  assert.is(l.isBlocked('198.51.100.7'), false);
  assert.is(l.fail(addr('198.51.100.7')).length, 1, '5 within the window block');
});

lockout('the block expires after 15 minutes, and counting starts afresh', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 5; i++) l.fail(addr('198.51.100.7'));
  assert.is(l.isBlocked('198.51.100.7'), true);
  clock.advance(15 * MINUTE - 1);
  assert.is(l.isBlocked('198.51.100.7'), true, 'still blocked just before 15 minutes');
  assert.equal(l.fail(addr('198.51.100.7')), [], 'failures while blocked do not start a new block');
  clock.advance(1);
  assert.is(l.isBlocked('198.51.100.7'), false, 'free after 15 minutes');
  assert.equal(l.list(), []);
  for (let i = 0; i < 4; i++) assert.equal(l.fail(addr('198.51.100.7')), []);
  assert.is(l.isBlocked('198.51.100.7'), false);
});

lockout('lift() unblocks at once and forgets the failures', () => {
  const { l } = lock();
  for (let i = 0; i < 5; i++) l.fail(addr('198.51.100.7'));
  assert.is(l.isBlocked('198.51.100.7'), true);
  assert.is(l.lift('198.51.100.7'), true);
  assert.is(l.isBlocked('198.51.100.7'), false);
  assert.equal(l.list(), []);
  assert.is(l.lift('198.51.100.7'), false, 'nothing left to lift');
  for (let i = 0; i < 4; i++) assert.equal(l.fail(addr('198.51.100.7')), []);
  assert.is(l.isBlocked('198.51.100.7'), false);
});

lockout('lift() of an address with failures but no block clears its count', () => {
  const { l } = lock();
  for (let i = 0; i < 4; i++) l.fail(addr('198.51.100.7'));
  assert.is(l.lift('198.51.100.7'), false);
  assert.equal(l.fail(addr('198.51.100.7')), []);
  assert.is(l.isBlocked('198.51.100.7'), false);
});

lockout('limits are read from the settings function: changed limits take effect', () => {
  const { clock, limits, l } = lock();
  limits.failures = 3;
  limits.blockMinutes = 2;
  l.fail(addr('a'));
  l.fail(addr('a'));
  assert.is(l.isBlocked('a'), false);
  const [block] = l.fail(addr('a'));
  assert.ok(block, 'blocked after 3 with the lowered limit');
  assert.is(block.until - block.since, 2 * MINUTE);
  clock.advance(2 * MINUTE);
  assert.is(l.isBlocked('a'), false, 'the shorter block is over');

  limits.failures = 5;
  limits.windowMinutes = 1;
  for (let i = 0; i < 5; i++) {
    l.fail(addr('b'));
    clock.advance(20 * SECOND);
  }
  assert.is(l.isBlocked('b'), false, 'a 1-minute window does not hold 5 failures 20 s apart');

  limits.windowMinutes = 10;
  limits.blockMinutes = 15;
  for (let i = 0; i < 4; i++) {
    assert.equal(l.fail(addr('c')), []);
    clock.advance(2 * MINUTE);
  }
  const [c] = l.fail(addr('c'));
  assert.ok(c, 'a 10-minute window holds 5 failures 2 minutes apart');
  assert.is(c.until - c.since, 15 * MINUTE);
});

lockout('sources are independent', () => {
  const { l } = lock();
  for (let i = 0; i < 4; i++) {
    l.fail(addr('198.51.100.7'));
    l.fail(addr('198.51.100.8'));
  }
  assert.is(l.isBlocked('198.51.100.7'), false);
  assert.is(l.isBlocked('198.51.100.8'), false);
  assert.is(l.fail(addr('198.51.100.7')).length, 1);
  assert.is(l.isBlocked('198.51.100.7'), true);
  assert.is(l.isBlocked('198.51.100.8'), false, 'the other address is not blocked');
  assert.is(l.isBlocked('203.0.113.1'), false);
  assert.equal(l.list().map((b) => b.key), ['198.51.100.7']);
  l.lift('198.51.100.7');
  assert.is(l.fail(addr('198.51.100.8')).length, 1, 'the other address keeps its own count');
});

lockout('behind a trusted peer each caller is blocked after 5 failures, the peer as a whole only after 10 times as many', () => {
  const { l } = lock();
  assert.is(PEER_FACTOR, 10);
  const pbx = '192.0.2.10';
  const from = (caller: string) => [targets.caller(pbx, caller), targets.peer(pbx)];
  for (let i = 0; i < 4; i++) assert.equal(l.fail(from('104')), []);
  const [block] = l.fail(from('104'));
  assert.equal([block?.key, block?.kind], ['192.0.2.10/104', 'caller']);
  assert.is(l.blockOf(from('104'))?.key, '192.0.2.10/104', 'the guessing caller is blocked');
  assert.is(l.blockOf(from('105')), null, 'another caller through the same peer is not');
  // 45 more failures from 9 more callers (5 each) make 50 against the peer.
  let peerBlock: Block | undefined;
  for (let c = 0; c < 9; c++) for (let i = 0; i < 5; i++) peerBlock = l.fail(from(`2${c}`)).find((b) => b.kind === 'peer') ?? peerBlock;
  assert.ok(peerBlock, 'the peer is blocked after 50 failures in the window');
  assert.is(peerBlock.failures, 5 * PEER_FACTOR);
  assert.is(l.blockOf(from('105'))?.kind, 'peer', 'now every caller through it is refused');
  assert.is(peerBlock.until - peerBlock.since, 15 * MINUTE);
});

lockout('an address and a peer at the same address over a forgeable transport are counted apart', () => {
  const { l } = lock();
  for (let i = 0; i < 5; i++) l.fail(targets.udpAddress('192.0.2.10'));
  assert.is(l.isBlocked('udp:192.0.2.10'), true);
  assert.is(l.blockOf([targets.caller('192.0.2.10', '104'), targets.peer('192.0.2.10')]), null, 'forged UDP guesses do not block the peer');
});

lockout('an extension or a room is blocked after 10 failures from anywhere, first for 1 minute, then 2, 4, 8, then the block setting', () => {
  const { clock, l } = lock();
  assert.is(TARGET_FACTOR, 2);
  const ext = targets.extension('100');
  const lengths: number[] = [];
  for (let round = 0; round < 6; round++) {
    let block: Block | undefined;
    for (let i = 0; i < 10; i++) {
      assert.is(l.isBlocked('extension 100'), false, `open before failure ${i + 1}`);
      block = l.fail([targets.address(`198.51.100.${round * 10 + i}`), ext])[0] ?? block;
    }
    assert.ok(block, `round ${round + 1} blocks`);
    assert.is(block.kind, 'extension');
    lengths.push((block.until - block.since) / MINUTE);
    assert.is(l.isBlocked('extension 100'), true);
    for (let i = 0; i < 10; i++) assert.is(l.isBlocked(`198.51.100.${round * 10 + i}`), false, 'one failure per address blocks no address');
    clock.advance(block.until - clock.now());
    assert.is(l.isBlocked('extension 100'), false, `free after ${lengths.at(-1)} minutes`);
  }
  assert.equal(lengths, [1, 2, 4, 8, 15, 15]);
  clock.advance(24 * 60 * MINUTE);
  for (let i = 0; i < 10; i++) l.fail([targets.address(`203.0.113.${i}`), ext]);
  const again = l.list().find((b) => b.key === 'extension 100');
  assert.is(again && (again.until - again.since) / MINUTE, 1, 'a day without blocks starts again at 1 minute');

  const room = targets.room(2);
  for (let i = 0; i < 5; i++) l.fail([addr('192.0.2.50'), room]);
  assert.is(l.isBlocked('192.0.2.50'), true, 'one guesser is blocked after 5 ...');
  assert.is(l.isBlocked('room 2'), false, '... and the room stays open to everyone else');
  for (let i = 0; i < 5; i++) l.fail(room);
  const rb = l.list().find((b) => b.key === 'room 2');
  assert.is(rb && (rb.until - rb.since) / MINUTE, 1);
});

lockout('restore(): blocks from before a restart hold again, and a finished one keeps the next block of its target longer', () => {
  const { clock, l, events } = lock();
  for (let i = 0; i < 10; i++) l.fail([addr('198.51.100.7'), targets.room(3)]);
  assert.equal(events, ['blocked 198.51.100.7', 'blocked room 3']);
  const saved = l.list();
  clock.advance(2 * MINUTE);
  const restarted = new Lockout(clock, () => ({ failures: 5, windowMinutes: 5, blockMinutes: 15 }));
  restarted.restore(saved);
  assert.is(restarted.isBlocked('198.51.100.7'), true, 'the address block holds after the restart');
  assert.is(restarted.isBlocked('room 3'), false, 'the 1-minute room block is over');
  for (let i = 0; i < 10; i++) restarted.fail(targets.room(3));
  const rb = restarted.list().find((b) => b.key === 'room 3');
  assert.is(rb && (rb.until - rb.since) / MINUTE, 2, 'the next room block is 2 minutes');
  assert.is(rb?.level, 2);
});

lockout('sync(): a block another box stored holds here; one lifted there goes here, unless it is newer than the grace', () => {
  const { clock, l } = lock();
  const other = new Lockout(clock, () => ({ failures: 5, windowMinutes: 5, blockMinutes: 15 }));
  for (let i = 0; i < 5; i++) other.fail(addr('198.51.100.9'));
  l.sync(other.list(), 10_000);
  assert.is(l.isBlocked('198.51.100.9'), true, 'the other box\'s block holds here');
  for (let i = 0; i < 5; i++) l.fail(addr('198.51.100.10'));
  l.sync(other.list(), 10_000);
  assert.is(l.isBlocked('198.51.100.10'), true, 'a block made here a moment ago, not stored yet, stays');
  clock.advance(11_000);
  l.sync([], 10_000);
  assert.equal([l.isBlocked('198.51.100.9'), l.isBlocked('198.51.100.10')], [false, false], 'lifted elsewhere: gone here too');
});

lockout('shared failure counts: guesses another box counted add to this box\'s, and each box tells only its own', () => {
  const { clock, l, events } = lock();
  const other = new Lockout(clock, () => ({ failures: 5, windowMinutes: 5, blockMinutes: 15 }));
  for (let i = 0; i < 3; i++) other.fail([addr('198.51.100.11'), targets.room(4)]);
  const told = other.takeFailureCounts();
  assert.equal(told?.map((c) => [c.key, c.failures]), [['198.51.100.11', 3], ['room 4', 3]], 'the other box tells its counts');
  assert.is(other.takeFailureCounts(), null, 'nothing new to tell');
  l.syncFailures(told!);
  l.fail(addr('198.51.100.11'));
  assert.equal(events, [], 'four failures in all: not yet');
  l.fail(addr('198.51.100.11'));
  assert.equal(events, ['blocked 198.51.100.11'], 'the fifth failure, on this box, blocks: the guesses were counted once');
  assert.equal(l.takeFailureCounts()?.map((c) => [c.key, c.failures]), [], 'this box tells no count of its own for a target now blocked');
  for (let i = 0; i < 4; i++) other.fail(addr('198.51.100.12'));
  const later = other.takeFailureCounts()!;
  clock.advance(6 * MINUTE);
  l.syncFailures(later);
  l.fail(addr('198.51.100.12'));
  assert.equal(events, ['blocked 198.51.100.11'], 'counts older than the window count no more');
});

lockout('blocks of forged addresses stay bounded in number; an extension\'s block is never the one let go', () => {
  const { l } = lock();
  for (let i = 0; i < 10; i++) l.fail(targets.extension('100'));
  for (let n = 0; n < MAX_TRACKED + 500; n++) {
    const a = addr(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`);
    for (let i = 0; i < 5; i++) l.fail(a);
  }
  const blocks = l.list();
  assert.ok(blocks.length <= MAX_TRACKED, `${blocks.length} blocks kept`);
  assert.ok(blocks.length >= MAX_TRACKED - 1, 'as many as may be kept');
  assert.is(l.isBlocked('extension 100'), true, 'the extension stays blocked');
  assert.is(l.isBlocked(`10.0.${(MAX_TRACKED + 499) >> 8 & 255}.${(MAX_TRACKED + 499) & 255}`), true, 'the newest address is blocked');
  assert.is(l.isBlocked('10.0.0.0'), false, 'the oldest address block made room');
});

lockout('lift() reports the lifted block; describeBlock() names each kind for the web page', () => {
  const { l, events } = lock();
  for (let i = 0; i < 10; i++) l.fail(targets.extension('100'));
  assert.is(l.lift('extension 100'), true);
  assert.equal(events, ['blocked extension 100', 'lifted extension 100']);
  assert.is(describeBlock(targets.address('198.51.100.7')), '198.51.100.7');
  assert.is(describeBlock(targets.udpAddress('192.0.2.10')), '192.0.2.10 over UDP');
  assert.is(describeBlock(targets.peer('192.0.2.10')), 'trusted peer 192.0.2.10');
  assert.is(describeBlock(targets.caller('192.0.2.10', '104')), 'caller 104 via 192.0.2.10');
  assert.is(describeBlock(targets.extension('100')), 'extension 100');
  assert.is(describeBlock(targets.room(2)), 'room 2');
});

lockout.run();
