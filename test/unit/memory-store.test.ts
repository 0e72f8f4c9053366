// The in-memory store the web tests and the web-request fuzz target run on (test/support/memory-store.ts) keeps the
// rules the MariaDB store keeps (test/integration/store.test.ts checks those against the real server).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DEFAULT_SETTINGS, type Room } from '../../firmware/conference/types.ts';
import { BoxError, StoreUnavailable } from '../../firmware/errors.ts';
import { MemoryStore } from '../support/memory-store.ts';

const room = (id: number, extra: Partial<Room> = {}): Room => ({
  id, pin: '1234', duration: 60, creator: '201', maxParticipants: null, createdAt: new Date('2025-03-04T05:06:07.890Z'), createdVia: 'phone', keep: false,
  moderatorPin: null, record: false, waitForModerator: false, moderatorLeaves: 'continue', ...extra,
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

test('a room id is taken once; an update keeps where and when the room was made; rows are copies', async () => {
  const store = new MemoryStore();
  await store.rooms.insert(room(2));
  const taken = await rejection(store.rooms.insert(room(2, { pin: '9999' })));
  assert.instance(taken, BoxError);
  assert.is((taken as BoxError).httpStatus, 409);
  assert.is((taken as BoxError).field, 'id');
  assert.ok(await store.rooms.update(room(2, { pin: '5678', createdVia: 'web', createdAt: new Date(0) })));
  const read = (await store.rooms.get(2))!;
  assert.equal([read.pin, read.createdVia, read.createdAt.toISOString()], ['5678', 'phone', '2025-03-04T05:06:07.890Z']);
  read.pin = '0000';
  assert.is((await store.rooms.get(2))!.pin, '5678');
  assert.not.ok(await store.rooms.update(room(3)));
  assert.not.ok(await store.rooms.delete(3));
});

test('a text longer than its column is refused naming the field, as strict mode refuses it', async () => {
  const store = new MemoryStore();
  const long = await rejection(store.rooms.insert(room(2, { creator: 'x'.repeat(33) })));
  assert.instance(long, BoxError);
  assert.equal([(long as BoxError).httpStatus, (long as BoxError).field, (long as BoxError).message], [400, 'creator', 'creator is too long']);
  await store.rooms.insert(room(2, { creator: 'é'.repeat(32) }));
});

test('settings are typed: stored values over the defaults, a wrong type or an unknown name refused', async () => {
  const store = new MemoryStore({ settings: [{ name: 'maxParticipants', value: '6' }, { name: 'realm', value: '7' }, { name: 'gone', value: '1' }] });
  await store.settings.set('srtp', 'required');
  assert.equal(await store.settings.get(), { ...DEFAULT_SETTINGS, maxParticipants: 6, srtp: 'required' }, 'a row of the wrong type is skipped');
  assert.instance(await rejection(store.settings.set('maxParticipants', '6' as unknown as number)), BoxError);
  assert.instance(await rejection(store.settings.set('nothing' as 'realm', 'x')), BoxError);
});

test('the administrator password is set first once; a configuration is replaced whole or not at all', async () => {
  const store = new MemoryStore();
  assert.ok(await store.admin.setFirstPasswordHash('a'));
  assert.not.ok(await store.admin.setFirstPasswordHash('b'));
  assert.is(await store.admin.passwordHash(), 'a');
  await store.rooms.insert(room(2));
  const refused = await rejection(store.configuration.replace({ rooms: [room(4), room(5, { pin: '1'.repeat(17) })], extensions: [], peers: [], settings: [], adminPasswordHash: null, tokens: [] }));
  assert.instance(refused, BoxError);
  assert.equal((await store.rooms.list()).map((r) => r.id), [2], 'nothing was replaced');
  assert.is(await store.changes.version(), 0);
});

test('an unreachable store rejects every call with StoreUnavailable, and answers again when it is back', async () => {
  const store = new MemoryStore({ rooms: [room(2)] });
  store.reachable = false;
  assert.instance(await rejection(store.rooms.list()), StoreUnavailable);
  assert.instance(await rejection(store.admin.tokens()), StoreUnavailable);
  assert.not.ok(await store.ping());
  store.reachable = true;
  assert.is((await store.rooms.list()).length, 1);
});

test('the call log reads newest first, within a range and for the actions asked', async () => {
  const store = new MemoryStore();
  const at = (iso: string, action: 'join' | 'leave' | 'create') => store.callLog.append({ at: new Date(iso), action, caller: '201', source: 'udp:192.0.2.1:5060', room: 2, status: 200, reason: '' });
  await at('2026-12-01T10:00:00Z', 'create');
  await at('2026-12-01T10:01:00Z', 'join');
  await at('2026-12-01T10:01:00Z', 'leave');
  await at('2026-12-02T10:00:00Z', 'join');
  const day = await store.callLog.between(new Date('2026-12-01T00:00:00Z'), new Date('2026-12-02T00:00:00Z'), 10, ['join', 'leave']);
  assert.equal(day.map((e) => e.action), ['leave', 'join']);
  assert.equal((await store.callLog.recent(2)).map((e) => e.at.toISOString()), ['2026-12-02T10:00:00.000Z', '2026-12-01T10:01:00.000Z']);
});

test.run();
