// Backup and restore with the built bundle and the embedded MariaDB: a configured box's configuration, written by
// `confbox backup` (protected by a passphrase), restored by `confbox restore` onto a freshly flashed data directory,
// makes a working box: a phone registers and joins with its old password, the admin logs in with theirs, an API
// token still works, settings and peers are back. A wrong passphrase, a newer format and a bad value are refused
// with a message naming the problem, and change nothing.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, runCli, startBox, type RunningBox } from '../support/box.ts';
import { Phone } from '../support/phone.ts';
import { setupCodeOf, WebClient } from '../support/web.ts';

const PASSPHRASE = 'kept in the office safe';
const ADMIN = 'office manager 2026';
const work = mkdtempSync(join(tmpdir(), 'confbox-backup-'));
const oldBox = join(work, 'old');
const newBox = join(work, 'new');
const file = join(work, 'confbox-backup.json');
let token = '';
const phones: Phone[] = [];
let box: RunningBox | null = null;

test.before(async () => {
  await configure(oldBox, [
    ['extension', 'add', '201', '--password', 'desk-201', '--name', 'Zoë Ünlü'],
    ['extension', 'add', '202', '--password', 'desk-202', '--name', 'Reception'],
    ['room', 'add', '2', '--pin', '5829', '--moderator-pin', '7316', '--duration', '90', '--keep', '--record', 'yes', '--wait-for-moderator', 'yes'],
    ['room', 'add', '3', '--pin', '4411', '--creator', '201', '--keep'],
    ['peer', 'add', '192.0.2.5', '--description', 'Office PBX', '--transport', 'tcp', '--outbound', '5070'],
    ['settings', 'set', 'maxParticipants', '6'],
    ['settings', 'set', 'recordingRetentionDays', '30'],
    ['admin', 'set-password', '--password', ADMIN],
  ]);
  // A token made on the old box's page.
  const old = await startBox({ dataDir: oldBox });
  try {
    const web = new WebClient(old.webUrl, old.certificate());
    assert.is((await web.login(ADMIN)).status, 303);
    const made = await web.post('/settings/tokens', { label: 'wallboard' });
    assert.is(made.status, 303);
    const page = await web.get('/settings');
    token = /<code class="token">([^<]+)<\/code>/.exec(page.text)?.[1] ?? '';
    assert.ok(token.length > 20, 'the new token is shown once on the Settings page');
  } finally {
    await old.stop();
  }
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  removeDataDir(oldBox);
  removeDataDir(newBox);
  removeDataDir(work);
});

test('backup with a passphrase: the file holds hashes, never a password, and reads as noise without the passphrase', async () => {
  const r = await runCli(oldBox, ['backup', file, '--passphrase', PASSPHRASE]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /backup written to .* \(protected by the passphrase\): 2 rooms, 2 extensions, 1 trusted peers, 2 settings, the admin password, 1 API tokens/);
  const text = readFileSync(file, 'utf8');
  const doc = JSON.parse(text);
  assert.is(doc.format, 'confbox-backup');
  assert.is(doc.version, 1);
  assert.ok(doc.sealed && !doc.content, 'sealed: no readable content');
  for (const secret of ['desk-201', '5829', 'Reception', 'Office PBX']) assert.not.ok(text.includes(secret), `"${secret}" does not appear in the file`);
});

test('wrong passphrase, a newer format and a bad value are refused naming the problem; nothing is changed', async () => {
  await configure(newBox, [['room', 'add', '9', '--pin', '1357', '--keep']]);
  const wrong = await runCli(newBox, ['restore', file, '--passphrase', 'not the passphrase']);
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /the passphrase is wrong, or the file was changed after it was written/);
  const none = await runCli(newBox, ['restore', file]);
  assert.match(none.stderr, /the backup is protected by a passphrase: give it \(--passphrase\)/);

  const plain = join(work, 'plain.json');
  assert.is((await runCli(oldBox, ['backup', plain])).code, 0);
  const doc = JSON.parse(readFileSync(plain, 'utf8'));
  writeFileSync(join(work, 'newer.json'), JSON.stringify({ ...doc, version: 2, firmware: '9.0.0' }));
  const newer = await runCli(newBox, ['restore', join(work, 'newer.json')]);
  assert.match(newer.stderr, /the backup was made by a newer firmware \(9\.0\.0, format 2\); this box reads format 1 and older: update the box first/);
  doc.content.rooms[1].pin = '12ab';
  writeFileSync(join(work, 'bad.json'), JSON.stringify(doc));
  const badValue = await runCli(newBox, ['restore', join(work, 'bad.json')]);
  assert.match(badValue.stderr, /room 2: PIN must be 1 to 16 digits/);
  const notJson = await runCli(newBox, ['restore', join(work, 'confbox-backup.json.missing')]);
  assert.match(notJson.stderr, /cannot read .*confbox-backup\.json\.missing: ENOENT/);

  const rooms = JSON.parse((await runCli(newBox, ['room', 'list', '--json'])).stdout);
  assert.equal(rooms.map((r: { id: number }) => r.id), [9], 'the box kept its own configuration');
});

test('restored onto a freshly flashed box: phones register and join with their passwords, the admin and the token work, settings and peers are back', async () => {
  const r = await runCli(newBox, ['restore', file, '--passphrase', PASSPHRASE]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /restored from .* \(written .* by firmware .*\): 2 rooms, 2 extensions, 1 trusted peers, 2 settings, the admin password, 1 API tokens/);
  box = await startBox({ dataDir: newBox });
  const phone = await Phone.open({ boxPort: box.sipPort, user: '202', password: 'desk-202' });
  phones.push(phone);
  assert.is((await phone.register()).final.status, 200, 'a phone registers with its old password');
  const call = await phone.dial('*400*3*4411');
  assert.is(call.status, 200, 'and joins a restored room with its PIN');
  await call.bye();

  const web = new WebClient(box.webUrl, box.certificate());
  assert.is((await web.login(ADMIN)).status, 303, 'the admin logs in with the old password');
  const api = new WebClient(box.webUrl, box.certificate());
  api.bearer = token;
  const rooms = await api.api('GET', '/api/rooms');
  assert.is(rooms.status, 200, 'the old API token works');
  const room2 = rooms.json.find((x: { id: number }) => x.id === 2);
  assert.equal([room2.pin, room2.moderatorPin, room2.duration, room2.keep, room2.record, room2.waitForModerator], ['5829', '7316', 90, true, true, true]);
  assert.equal(rooms.json.map((x: { id: number }) => x.id), [2, 3], 'the configuration replaced the box\'s own');
  const settings = (await api.api('GET', '/api/settings')).json;
  assert.equal([settings.maxParticipants, settings.recordingRetentionDays], [6, 30]);
  const peers = (await api.api('GET', '/api/peers')).json;
  assert.equal(peers, [{ cidr: '192.0.2.5/32', description: 'Office PBX', transport: 'tcp', outboundPort: 5070 }]);
  const exts = (await api.api('GET', '/api/extensions')).json;
  assert.equal(exts.map((e: { number: string; displayName: string }) => `${e.number} ${e.displayName}`), ['201 Zoë Ünlü', '202 Reception']);
});

test.run();
