import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { BoxError } from '../../firmware/errors.ts';
import { Conferences, type Conference, type ConferenceEvents } from '../../firmware/conference/conferences.ts';
import { parseFeatureCode } from '../../firmware/conference/feature-code.ts';
import { Lockout, type LockoutLimits } from '../../firmware/conference/lockout.ts';
import { DEFAULT_SETTINGS, type Room, type Settings } from '../../firmware/conference/types.ts';

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

joining('room not configured -> 404', () => {
  const b = box();
  const e = rejects(() => b.join(null, 'a', 9, '5678'), 404, /room 9 does not exist/);
  assert.is(e.code, 'not-found');
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
const deleted = suite('deleting a room while people are in it');

deleted('the people stay, a new join is 404, the conference ends when the last leaves without deleting', () => {
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
  rejects(() => b.join(null, 'c', 2, '5678'), 404, /room 2 does not exist/);
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
  });
  const plain = b.confs.decideCreate(createCode('*401*3*1234'), null, '202', now);
  assert.is(plain.duration, 60);
  assert.is(plain.creator, '202');
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

decisions('delete of a room that is not configured -> 404', () => {
  const b = box();
  const e = rejects(() => b.confs.decideDelete(deleteCode('*402*9*5678'), null, '201'), 404, /room 9 does not exist/);
  assert.is(e.code, 'not-found');
});

decisions.run();

// ---------------------------------------------------------------------------------------------
const lockout = suite('brute-force lockout');

function lock(limits: Partial<LockoutLimits> = {}) {
  const clock = new FakeClock();
  const current: LockoutLimits = { failures: 5, windowMinutes: 5, blockMinutes: 15, ...limits };
  const l = new Lockout(clock, () => current);
  return { clock, limits: current, l };
}

lockout('4 failures within 5 minutes do not block; the 5th does, for 15 minutes', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 4; i++) {
    assert.is(l.fail('198.51.100.7'), null);
    assert.is(l.isBlocked('198.51.100.7'), false, `not blocked after ${i + 1} failures`);
    clock.advance(30 * SECOND);
  }
  const block = l.fail('198.51.100.7');
  assert.ok(block, 'the 5th failure blocks');
  assert.is(block.source, '198.51.100.7');
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
    assert.is(l.fail('198.51.100.7'), null, `failure ${i + 1}`);
    clock.advance(90 * SECOND);
  }
  assert.is(l.isBlocked('198.51.100.7'), false);
  assert.equal(l.list(), []);
});

lockout('old failures fall out of the window', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 4; i++) l.fail('198.51.100.7');
  clock.advance(5 * MINUTE + 1);
  assert.is(l.fail('198.51.100.7'), null, 'the 4 earlier failures no longer count');
  for (let i = 0; i < 3; i++) l.fail('198.51.100.7');
  assert.is(l.isBlocked('198.51.100.7'), false);
  assert.ok(l.fail('198.51.100.7'), '5 within the window block');
});

lockout('the block expires after 15 minutes, and counting starts afresh', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 5; i++) l.fail('198.51.100.7');
  assert.is(l.isBlocked('198.51.100.7'), true);
  clock.advance(15 * MINUTE - 1);
  assert.is(l.isBlocked('198.51.100.7'), true, 'still blocked just before 15 minutes');
  assert.is(l.fail('198.51.100.7'), null, 'failures while blocked do not start a new block');
  clock.advance(1);
  assert.is(l.isBlocked('198.51.100.7'), false, 'free after 15 minutes');
  assert.equal(l.list(), []);
  for (let i = 0; i < 4; i++) assert.is(l.fail('198.51.100.7'), null);
  assert.is(l.isBlocked('198.51.100.7'), false);
});

lockout('lift() unblocks at once and forgets the failures', () => {
  const { l } = lock();
  for (let i = 0; i < 5; i++) l.fail('198.51.100.7');
  assert.is(l.isBlocked('198.51.100.7'), true);
  assert.is(l.lift('198.51.100.7'), true);
  assert.is(l.isBlocked('198.51.100.7'), false);
  assert.equal(l.list(), []);
  assert.is(l.lift('198.51.100.7'), false, 'nothing left to lift');
  for (let i = 0; i < 4; i++) assert.is(l.fail('198.51.100.7'), null);
  assert.is(l.isBlocked('198.51.100.7'), false);
});

lockout('lift() of an address with failures but no block clears its count', () => {
  const { l } = lock();
  for (let i = 0; i < 4; i++) l.fail('198.51.100.7');
  assert.is(l.lift('198.51.100.7'), false);
  assert.is(l.fail('198.51.100.7'), null);
  assert.is(l.isBlocked('198.51.100.7'), false);
});

lockout('limits are read from the settings function: changed limits take effect', () => {
  const { clock, limits, l } = lock();
  limits.failures = 3;
  limits.blockMinutes = 2;
  l.fail('a');
  l.fail('a');
  assert.is(l.isBlocked('a'), false);
  const block = l.fail('a');
  assert.ok(block, 'blocked after 3 with the lowered limit');
  assert.is(block.until - block.since, 2 * MINUTE);
  clock.advance(2 * MINUTE);
  assert.is(l.isBlocked('a'), false, 'the shorter block is over');

  limits.failures = 5;
  limits.windowMinutes = 1;
  for (let i = 0; i < 5; i++) {
    l.fail('b');
    clock.advance(20 * SECOND);
  }
  assert.is(l.isBlocked('b'), false, 'a 1-minute window does not hold 5 failures 20 s apart');

  limits.windowMinutes = 10;
  limits.blockMinutes = 15;
  for (let i = 0; i < 4; i++) {
    assert.is(l.fail('c'), null);
    clock.advance(2 * MINUTE);
  }
  const c = l.fail('c');
  assert.ok(c, 'a 10-minute window holds 5 failures 2 minutes apart');
  assert.is(c.until - c.since, 15 * MINUTE);
});

lockout('sources are independent', () => {
  const { l } = lock();
  for (let i = 0; i < 4; i++) {
    l.fail('198.51.100.7');
    l.fail('198.51.100.8');
  }
  assert.is(l.isBlocked('198.51.100.7'), false);
  assert.is(l.isBlocked('198.51.100.8'), false);
  assert.ok(l.fail('198.51.100.7'));
  assert.is(l.isBlocked('198.51.100.7'), true);
  assert.is(l.isBlocked('198.51.100.8'), false, 'the other address is not blocked');
  assert.is(l.isBlocked('203.0.113.1'), false);
  assert.equal(l.list().map((b) => b.source), ['198.51.100.7']);
  l.lift('198.51.100.7');
  assert.ok(l.fail('198.51.100.8'), 'the other address keeps its own count');
});

lockout.run();
