// A box that stops is not "the last participant left" (SPEC.md 1): rooms in use survive SIGTERM (the callers get a
// BYE) and kill -9 of the box or of its MariaDB, and are there to join when it is back.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, killServersOf, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { eventually, Phone, roomList } from '../support/phone.ts';

const PIN = '4711';
const EXT = { user: '100', password: 's3cret' };
const dataDir = mkdtempSync(join(tmpdir(), 'confbox-rooms-survive-'));
let box: RunningBox | null = null;
const phones: Phone[] = [];

async function joinFrom(b: RunningBox, room: number): Promise<Phone> {
  const p = await Phone.open({ boxPort: b.sipPort, user: EXT.user, password: EXT.password });
  phones.push(p);
  const call = await p.dial(`*400*${room}*${PIN}`);
  assert.is(call.status, 200, `joining room ${room}`);
  return p;
}

async function roomIds(b: RunningBox): Promise<number[]> {
  return (await roomList(b)).map((r) => Number(r.id)).sort((x, y) => x - y);
}

test.before(async () => {
  await configure(dataDir, [
    ['extension', 'add', EXT.user, '--password', EXT.password],
    ...[41, 42, 43].map((id) => ['room', 'add', String(id), '--pin', PIN]),
  ]);
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop('SIGKILL');
  killServersOf(dataDir);
  removeDataDir(dataDir);
});

test('SIGTERM with calls in rooms: the callers get a BYE, the rooms are still there after the restart', async () => {
  box = await startBox({ dataDir });
  const gone = await joinFrom(box, 41);
  const staying = await joinFrom(box, 43);
  // A phone that went away unanswered keeps the box waiting for its BYE's answer: time in which a room could be deleted.
  gone.close();
  assert.is(await box.stop('SIGTERM'), 0);
  await eventually(() => staying.messages.some((m) => !m.isResponse && m.method === 'BYE'), 10_000, 100, 'a BYE from the stopping box');
  assert.match(box.output(), /hung up: the box is stopping; conference ended/);
  assert.not.match(box.output(), /room deleted: last participant left/);
  box = await startBox({ dataDir });
  assert.equal(await roomIds(box), [41, 42, 43]);
});

test('kill -9 of the box with a call in a room: the room is there after the restart and can be joined', async () => {
  await joinFrom(box!, 42);
  await box!.stop('SIGKILL');
  box = await startBox({ dataDir });
  assert.equal(await roomIds(box), [41, 42, 43]);
  await joinFrom(box, 42);
});

test('kill -9 of the box\'s MariaDB with a call in a room: the room survives the database\'s restart', async () => {
  await joinFrom(box!, 43);
  const before = box!.output().length;
  killServersOf(dataDir);
  await eventually(() => /embedded MariaDB restarted/.test(box!.output().slice(before)), 60_000, 250, 'the embedded MariaDB restarted by the box');
  assert.equal(await roomIds(box!), [41, 42, 43]);
});

test.run();
