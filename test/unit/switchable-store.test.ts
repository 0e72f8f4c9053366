// The store every part of a running box holds: a database switch on the page replaces the database behind it, and
// from that moment every call, through any part kept aside, goes to the new one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Room } from '../../firmware/conference/types.ts';
import { SwitchableStore } from '../../firmware/store/switchable.ts';
import { MemoryStore } from '../support/memory-store.ts';

const room = (id: number): Room => ({
  id, pin: '1234', duration: 60, creator: '201', maxParticipants: null, createdAt: new Date('2025-03-04T05:06:07.890Z'), createdVia: 'phone', keep: false,
  moderatorPin: null, record: false, waitForModerator: false, moderatorLeaves: 'continue',
});

test('calls go to the database in use when they are made, also through a part held since before the switch', async () => {
  const first = new MemoryStore();
  const second = new MemoryStore();
  const store = new SwitchableStore(first);
  const rooms = store.rooms;
  await rooms.insert(room(2));
  assert.is(store.replace(second), first, 'the one left behind is handed back, for closing');
  assert.is(store.inUse, second);
  await rooms.insert(room(3));
  await store.settings.set('maxParticipants', 12);
  assert.equal((await first.rooms.list()).map((r) => r.id), [2]);
  assert.equal((await second.rooms.list()).map((r) => r.id), [3]);
  assert.is((await second.settings.get()).maxParticipants, 12);
  assert.is((await first.settings.get()).maxParticipants === 12, false);
  assert.equal((await store.rooms.list()).map((r) => r.id), [3]);
});

test('ping and close reach the database in use; a refusal of the database in use comes through as it is', async () => {
  const first = new MemoryStore();
  const second = new MemoryStore();
  const store = new SwitchableStore(first);
  store.replace(second);
  await second.rooms.insert(room(4));
  const taken = await store.rooms.insert(room(4)).then(() => null, (e: unknown) => e);
  assert.match(String((taken as Error).message), /room 4 already exists/);
  assert.is(await store.ping(), true);
  second.reachable = false;
  assert.is(await store.ping(), false, 'the switched-to database is the one asked');
  assert.is(await first.ping(), true);
});

test.run();
