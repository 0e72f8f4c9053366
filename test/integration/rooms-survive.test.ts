// Rooms that do not vanish by surprise. A box that stops is not "the last participant left" (SPEC.md 1): rooms in use
// survive SIGTERM (the callers get a BYE) and kill -9 of the box or of its MariaDB. A room made "keep after the
// meeting" survives its meeting; rooms are edited from the command line, the API and the page, and the running box
// uses the change at once.
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, killServersOf, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { eventually, Phone, roomList } from '../support/phone.ts';
import { setupCodeOf, WebClient } from '../support/web.ts';

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

/** The pid of the box's embedded MariaDB, from its pid file. */
function mariadbPidOf(dir: string): number {
  const d = join(dir, 'mariadb');
  const file = readdirSync(d).find((f) => f.endsWith('.pid'));
  assert.ok(file, `a pid file in ${d}`);
  return Number(readFileSync(join(d, file), 'utf8').trim());
}

async function roomIds(b: RunningBox): Promise<number[]> {
  return (await roomList(b)).map((r) => Number(r.id)).sort((x, y) => x - y);
}

test.before(async () => {
  await configure(dataDir, [
    ['extension', 'add', EXT.user, '--password', EXT.password],
    ...[41, 42, 43].map((id) => ['room', 'add', String(id), '--pin', PIN]),
    ['room', 'add', '44', '--pin', PIN, '--keep', 'yes'],
    ['room', 'add', '45', '--pin', PIN],
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
  assert.equal(await roomIds(box), [41, 42, 43, 44, 45]);
});

test('kill -9 of the box with a call in a room: the restarted box hangs the call up (BYE), the room is there and can be joined', async () => {
  const left = await joinFrom(box!, 42);
  // The box writes its calls down within a moment of answering them.
  await eventually(() => existsSync(join(dataDir, 'calls-in-progress.json')), 10_000, 50, 'the call written down');
  await box!.stop('SIGKILL');
  box = await startBox({ dataDir });
  const bye = await left.waitFor((m) => !m.isResponse && m.method === 'BYE', 10_000, 0, 'a BYE from the restarted box');
  assert.match(bye.get('reason') ?? '', /the box restarted/);
  assert.equal(await roomIds(box), [41, 42, 43, 44, 45]);
  await joinFrom(box, 42);
});

test('kill -9 of the box\'s MariaDB with a call in a room: the room survives the database\'s restart', async () => {
  await joinFrom(box!, 43);
  const before = box!.output().length;
  killServersOf(dataDir);
  await eventually(() => /embedded MariaDB restarted/.test(box!.output().slice(before)), 60_000, 250, 'the embedded MariaDB restarted by the box');
  // If the box noticed the database was away, it says so once it is back.
  await eventually(() => {
    const out = box!.output().slice(before);
    return !/"subsystem":"box","msg":"database unreachable/.test(out) || /"subsystem":"box","msg":"database reachable again"/.test(out);
  }, 10_000, 100, 'the box to use its database again');
  assert.equal(await roomIds(box!), [41, 42, 43, 44, 45]);
});

test('a room kept after the meeting is there when its last participant hangs up; one that is not kept is deleted', async () => {
  for (const id of [44, 45]) {
    const p = await Phone.open({ boxPort: box!.sipPort, user: EXT.user, password: EXT.password });
    phones.push(p);
    const call = await p.dial(`*400*${id}*${PIN}`);
    assert.is(call.status, 200);
    const logged = box!.waitForLog((l) => l.room === id && /room (kept after its meeting|deleted: last participant left)/.test(String(l.msg)), 15_000);
    assert.is((await call.bye()).status, 200);
    await logged;
  }
  const rooms = await roomList(box!);
  assert.equal(rooms.find((r) => r.id === 44)?.keep, true);
  assert.is(rooms.find((r) => r.id === 45), undefined, 'room 45 (not kept) is deleted after its meeting');
});

test('`room edit` from the command line reaches the running box: the new PIN joins, the old one is refused; bad values are named', async () => {
  const edited = await box!.cli('room', 'edit', '44', '--pin', '9090', '--duration', '45', '--keep', 'no');
  assert.is(edited.code, 0, edited.stderr);
  assert.match(edited.stdout, /room 44 changed: PIN 9090, 45 minutes, deleted when its first meeting ends/);
  const r44 = (await roomList(box!)).find((r) => r.id === 44)!;
  assert.equal({ pin: r44.pin, duration: r44.duration, keep: r44.keep }, { pin: '9090', duration: 45, keep: false });
  const p = await Phone.open({ boxPort: box!.sipPort, user: EXT.user, password: EXT.password });
  phones.push(p);
  assert.is((await p.dial(`*400*44*${PIN}`)).status, 603, 'the old PIN: declined');
  const call = await p.dial('*400*44*9090');
  assert.is(call.status, 200, 'the new PIN');
  await call.bye();
  const bad = await box!.cli('room', 'edit', '41', '--keep', 'maybe');
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /keep must be yes or no, not "maybe"/);
  const missing = await box!.cli('room', 'edit', '199', '--pin', '1');
  assert.match(missing.stderr, /room 199 does not exist/);
  const nothing = await box!.cli('room', 'edit', '41');
  assert.match(nothing.stderr, /nothing to change/);
  const misspelt = await box!.cli('room', 'edit', '41', '--pni', '1234');
  assert.is.not(misspelt.code, 0);
  assert.match(misspelt.stderr, /--pni: is not an option of confbox/);
  const elsewhere = await box!.cli('room', 'list', '--pin', '1234');
  assert.is.not(elsewhere.code, 0);
  assert.match(elsewhere.stderr, /--pin is not an option of "confbox room list"/);
});

test('PATCH /api/rooms/ID changes a room in use for new joiners and says so; the Rooms page shows what happens after the meeting', async () => {
  const web = new WebClient(box!.webUrl, box!.certificate());
  assert.is((await web.setup('rooms-admin-pw', setupCodeOf(box!.dataDir))).status, 303);
  await web.get('/rooms');
  const inCall = await joinFrom(box!, 42);
  const patched = await web.api('PATCH', '/api/rooms/42', { pin: '4242', keep: true, maxParticipants: 5 });
  assert.is(patched.status, 200, patched.text);
  assert.equal(
    (({ pin, keep, maxParticipants, appliesToNewJoiners }) => ({ pin, keep, maxParticipants, appliesToNewJoiners }))(patched.json as Record<string, unknown>),
    { pin: '4242', keep: true, maxParticipants: 5, appliesToNewJoiners: true },
  );
  const invalid = await web.api('PATCH', '/api/rooms/42', { duration: 0 });
  assert.is(invalid.status, 400);
  assert.match(invalid.text, /duration/);
  const page = await web.get('/rooms');
  assert.match(page.text, /<tr data-room="42"[^>]*>[\s\S]*?<td class="keep"[^>]*>kept<\/td>/);
  assert.match(page.text, /Keep after the meeting/);
  const form = await web.get('/rooms/42/edit');
  assert.match(form.text, /applies to people who join from now on/);
  assert.ok(inCall);
  const free = /<input id="f-id" name="id" type="text" value="(\d+)"/.exec(page.text);
  assert.is(free?.[1], '1', 'the add form offers the lowest free room number');
  assert.match(page.text, /<input id="f-pin" name="pin" type="text" value="\d{6}"/);
});

test('with refuseEasyPins on, easy PINs are refused by the API and the command line, naming why', async () => {
  const web = new WebClient(box!.webUrl, box!.certificate());
  assert.is((await web.login('rooms-admin-pw')).status, 303);
  const set = await web.api('PATCH', '/api/settings', { refuseEasyPins: 'on' });
  assert.is(set.status, 200, set.text);
  const api = await web.api('POST', '/api/rooms', { id: 46, pin: '4646' });
  assert.is(api.status, 400, api.text);
  assert.match(api.text, /PIN 4646 is too easy to guess: it is a pair of digits repeated/);
  const edit = await web.api('PATCH', '/api/rooms/41', { pin: '0000' });
  assert.is(edit.status, 400);
  assert.match(edit.text, /"field":"pin"/);
  const cli = await box!.cli('room', 'add', '46', '--pin', '1234');
  assert.is.not(cli.code, 0);
  assert.match(cli.stderr, /PIN 1234 is too easy to guess: it is a run of digits/);
  assert.is((await web.api('POST', '/api/rooms', { id: 46, pin: '583920' })).status, 201);
});

test('changes from the command line reach the running box at once: a new extension registers right after, and a room added from the command line is joined while the database is away', async () => {
  const reloaded = box!.waitForLog((l) => l.msg === 'configuration changed by a technician command: reloaded', 10_000);
  const added = await box!.cli('extension', 'add', '107', '--password', 'pw-107-ok');
  assert.is(added.code, 0, added.stderr);
  await reloaded;
  const p = await Phone.open({ boxPort: box!.sipPort, user: '107', password: 'pw-107-ok' });
  phones.push(p);
  assert.is((await p.register()).final.status, 200);
  const roomReloaded = box!.waitForLog((l) => l.msg === 'configuration changed by a technician command: reloaded', 10_000);
  assert.is((await box!.cli('room', 'add', '47', '--pin', '583920')).code, 0);
  await roomReloaded;
  const pid = mariadbPidOf(dataDir);
  const away = box!.waitForLog((l) => /^database unreachable/.test(String(l.msg)), 30_000);
  process.kill(pid, 'SIGSTOP');
  try {
    // A change needs the database: it fails, and the box notices the database is away.
    const creator = await Phone.open({ boxPort: box!.sipPort, user: EXT.user, password: EXT.password });
    phones.push(creator);
    await creator.dial('*401*48*583920*30').catch(() => undefined);
    await away;
    const call = await p.dial('*400*47*583920');
    assert.is(call.status, 200, 'joined room 47 from the last-known rooms');
    await call.bye();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
});

test.run();
