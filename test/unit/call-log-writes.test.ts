import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { DEFAULT_SETTINGS, type CallLogEntry, type Room } from '../../firmware/conference/types.ts';
import { StoreUnavailable } from '../../firmware/errors.ts';
import { createLogger } from '../../firmware/log.ts';
import { RoomService } from '../../firmware/rooms.ts';
import { Status } from '../../firmware/status.ts';
import type { Store } from '../../firmware/store/types.ts';

const ROOM: Room = { id: 5, pin: '1234', duration: 60, creator: null, maxParticipants: null, createdAt: new Date('2026-01-01T00:00:00Z'), createdVia: 'web', keep: true, moderatorPin: null, record: false, waitForModerator: false, moderatorLeaves: 'continue' };

/** A database that can be taken away: while `up` is false every call rejects with StoreUnavailable. */
function flakyStore() {
  const written: CallLogEntry[] = [];
  const state = { up: true, logFails: false, written };
  const answer = <T>(value: T) => (state.up ? Promise.resolve(value) : Promise.reject(new StoreUnavailable()));
  const store = {
    rooms: { list: () => answer([ROOM]), get: () => answer(ROOM), delete: () => answer(true) },
    settings: { get: () => answer({ ...DEFAULT_SETTINGS }) },
    blocks: { list: () => answer([]), put: () => answer(undefined), delete: () => answer(undefined) },
    live: { clear: () => answer(undefined), set: () => answer(undefined) },
    callLog: { append: (e: CallLogEntry) => (state.logFails ? Promise.reject(new StoreUnavailable()) : answer(undefined)).then(() => void written.push(e)) },
    ping: () => Promise.resolve(state.up),
  } as unknown as Store;
  return { store, state };
}

test('joins and leaves while the database is away never throw into the call, are logged, and are written when it is back', async () => {
  const lines: string[] = [];
  const clock = new FakeClock();
  const { store, state } = flakyStore();
  const rooms = new RoomService(store, clock, createLogger('info', {}, (l) => lines.push(l)), new Status(), { warning: () => undefined, expired: () => undefined, changed: () => undefined });
  await rooms.start();
  try {
    state.logFails = true;
    const conf = await rooms.join({ kind: 'join', room: 5, pin: '1234' }, { id: 'a', caller: '201', displayName: 'Ann', source: 'udp:192.0.2.1:5060' });
    await new Promise((r) => setImmediate(r));
    assert.ok(lines.some((l) => l.includes('a call log line could not be stored')), lines.join('\n'));
    state.logFails = false;
    state.up = false;
    await rooms.checkDatabase();
    assert.not.ok(rooms.databaseUp);
    clock.advance(90_000);
    rooms.leave(conf, 'a', '201', 'udp:192.0.2.1:5060', true, 'hung up');
    assert.equal(state.written, []);

    state.up = true;
    await rooms.checkDatabase();
    assert.equal(state.written.map((e) => [e.action, e.caller, e.displayName, e.durationSeconds]), [['join', '201', 'Ann', null], ['leave', '201', 'Ann', 90]]);
    assert.match(state.written[1]!.reason, /^hung up/);
  } finally {
    rooms.stop();
  }
});

test.run();
