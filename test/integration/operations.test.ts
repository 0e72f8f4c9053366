// Operating the box (SPEC.md section 7): restart, shutdown with calls, the database going away, start-up errors, CLI.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, freePort, removeDataDir, runBundle, startBox, type RunningBox } from '../support/box.ts';
import { Phone, eventually, roomList, type Call, type Transport } from '../support/phone.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-ops-'));
const scratch: string[] = [];
let box: RunningBox;
const phones: Phone[] = [];
const PASSWORDS: Record<string, string> = { '100': 's3cret', '101': 'pw-101' };

async function dial(user: string, code: string, transport: Transport = 'udp'): Promise<Call> {
  const p = await Phone.open({ transport, boxPort: box.sipPort, user, password: PASSWORDS[user] });
  phones.push(p);
  return p.dial(code);
}

function describe(call: Call): string {
  return `dial ${call.dial}: ${call.responses.map((r) => r.describe()).join('; ') || 'no response'}`;
}

function finalOf(call: Call) {
  return call.responses.filter((r) => r.status >= 200 && r.cseq.seq === call.cseq).at(-1);
}

/** The pid of the box's embedded server, from <dataDir>/mariadb/*.pid. */
function mariadbPid(dir: string): number | null {
  const root = join(dir, 'mariadb');
  const file = existsSync(root) ? readdirSync(root).find((f) => f.endsWith('.pid')) : undefined;
  if (!file) return null;
  const pid = Number(readFileSync(join(root, file), 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

function alive(pid: number): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const state = /State:\s+(\S)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return /mariadbd|mysqld/.test(cmd) && state !== 'Z';
  } catch {
    return false;
  }
}

/** A log line (msg matching) printed since `mark`, or the next one. */
async function logged(b: RunningBox, msg: RegExp, mark: number, timeoutMs = 30_000): Promise<void> {
  const since = b.output().slice(mark).split('\n');
  if (since.some((l) => { try { return msg.test(String(JSON.parse(l).msg)); } catch { return false; } })) return;
  await b.waitForLog(msg, timeoutMs);
}

function scratchDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'confbox-ops-x-'));
  scratch.push(d);
  return d;
}

test.before(async () => {
  await configure(dataDir, [
    ['extension', 'add', '100', '--password', PASSWORDS['100']!],
    ['extension', 'add', '101', '--password', PASSWORDS['101']!],
    ['room', 'add', '2', '--pin', '5678'],
    ['room', 'add', '4', '--pin', '5678'],
    ['room', 'add', '6', '--pin', '5678'],
  ]);
  box = await startBox({ dataDir });
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  removeDataDir(dataDir);
  for (const d of scratch) removeDataDir(d);
});

test('"confbox ready" is a health line: the version, a database query answered, the media engine loaded and ticking', () => {
  const ready = box.output().split('\n').map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return null;
    }
  }).find((rec) => rec?.msg === 'confbox ready') as { version: string; arch: string; database: { answered: boolean; rooms: number }; engine: { loaded: boolean; ticks: number } } | undefined;
  assert.ok(ready, 'a "confbox ready" line');
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.is(ready.version, pkg.version);
  assert.is(ready.arch, process.arch);
  assert.is(ready.database.answered, true);
  assert.type(ready.database.rooms, 'number');
  assert.is(ready.engine.loaded, true);
  assert.ok(ready.engine.ticks > 0, `the engine ticked (${ready.engine.ticks})`);
});

test('a room created by phone survives a restart between create and join', async () => {
  const made = await dial('100', '*401*5*2468');
  assert.is(made.status, 200, describe(made));
  await made.waitForRequest('BYE', 15_000);
  const sipPort = box.sipPort;
  assert.is(await box.stop('SIGTERM'), 0, 'exit code after SIGTERM');
  box = await startBox({ dataDir, sipPort });
  const join = await dial('101', '*400*5*2468');
  assert.is(join.status, 200, describe(join));
  assert.is((await join.bye()).status, 200);
});

test('the database going away: joins to known rooms work from memory, create/delete get 503 with Retry-After, and the box recovers by itself', async () => {
  const pid = mariadbPid(dataDir);
  assert.ok(pid && alive(pid), `the embedded MariaDB runs (pid file under ${dataDir}/mariadb)`);
  const mark = box.output().length;
  process.kill(pid, 'SIGKILL');
  // The box restarts its server about a second later: the calls below, made at once, come first.
  const [create, del, join] = await Promise.all([dial('100', '*401*3*1111'), dial('100', '*402*4*5678'), dial('101', '*400*2*5678')]);
  const restartedEarly = /embedded MariaDB restarted/.test(box.output().slice(mark));
  const note = restartedEarly ? ' (note: the box had already restarted its database)' : '';
  for (const call of [create, del]) {
    const final = finalOf(call);
    assert.is(final?.status, 503, describe(call) + note);
    assert.ok(/^\d+$/.test(final?.get('retry-after') ?? ''), `Retry-After on the 503: ${final?.get('retry-after')}`);
    assert.ok(final?.warning, `a Warning says why: ${final?.warningHeader}`);
  }
  assert.is(join.status, 200, `join of a known room: ${describe(join)}${note}`);

  await logged(box, /database unreachable/, mark);
  await logged(box, /^embedded MariaDB restarted$/, mark, 60_000);
  await logged(box, /^database reachable again$/, mark, 60_000);
  const newPid = mariadbPid(dataDir);
  assert.ok(newPid && newPid !== pid && alive(newPid), 'a new embedded server runs');
  const again = await eventually(async () => {
    const c = await dial('100', '*401*3*1111');
    return c.status === 200 ? c : null;
  }, 20_000, 1000, 'create works again after the database came back');
  await again.waitForRequest('BYE', 15_000);
  assert.is((await join.bye()).status, 200);
  const rooms = await roomList(box);
  assert.ok(rooms.some((r) => r.id === 3), 'room 3 created after the recovery is listed');
  assert.ok(rooms.some((r) => r.id === 4), 'room 4 was not deleted while the database was away');
});

test('`room list --json` has exactly the fields id, pin, moderatorPin, duration, creator, maxParticipants, createdAt, createdVia, keep, record, waitForModerator, moderatorLeaves, active, participants', async () => {
  const added = await box.cli('room', 'add', '12', '--pin', '4321', '--duration', '30', '--creator', '100', '--max-participants', '5');
  assert.is(added.code, 0, added.stderr);
  const rooms = await roomList(box);
  assert.ok(rooms.length > 0);
  const expected = ['id', 'pin', 'moderatorPin', 'duration', 'creator', 'maxParticipants', 'createdAt', 'createdVia', 'keep', 'record', 'waitForModerator', 'moderatorLeaves', 'active', 'participants'];
  for (const r of rooms) assert.equal(Object.keys(r).sort(), [...expected].sort(), `fields of room ${r.id}: ${Object.keys(r).join(', ')}`);
  const r12 = rooms.find((r) => r.id === 12);
  assert.ok(r12, 'room 12 is listed');
  assert.equal(
    { id: r12.id, pin: r12.pin, moderatorPin: r12.moderatorPin, duration: r12.duration, creator: r12.creator, maxParticipants: r12.maxParticipants, keep: r12.keep, record: r12.record, waitForModerator: r12.waitForModerator, moderatorLeaves: r12.moderatorLeaves, active: r12.active, participants: r12.participants },
    { id: 12, pin: '4321', moderatorPin: null, duration: 30, creator: '100', maxParticipants: 5, keep: false, record: false, waitForModerator: false, moderatorLeaves: 'continue', active: false, participants: 0 },
  );
  assert.ok(!Number.isNaN(Date.parse(String(r12.createdAt))), `createdAt is a timestamp: ${r12.createdAt}`);
});

test('technician commands while the box runs share its database: no restart, and room list shows a conference in progress', async () => {
  const mark = box.output().length;
  const added = await box.cli('room', 'add', '14', '--pin', '1414');
  assert.is(added.code, 0, added.stderr);
  const a = await dial('100', '*400*14*1414');
  assert.is(finalOf(a)?.status, 200, describe(a));
  const listed = await eventually(async () => (await roomList(box)).find((r) => r.id === 14 && r.active === true), 10_000, 250, 'room 14 listed as active');
  assert.is(listed.participants, 1);
  await a.bye();
  const since = box.output().slice(mark);
  assert.not.match(since, /MariaDB exited|database unreachable/, 'the box kept its database while the commands ran');
});

test('CLI validation messages match the phone codes\' (room 201, PIN 12a4, duration 1441)', async () => {
  const cases: Array<{ cli: string[]; code: string; text: RegExp }> = [
    { cli: ['room', 'add', '201', '--pin', '1234'], code: '*401*201*1234', text: /1 to 200/ },
    { cli: ['room', 'add', '13', '--pin', '12a4'], code: '*401*13*12a4', text: /PIN must be 1 to 16 digits/ },
    { cli: ['room', 'add', '13', '--pin', '1234', '--duration', '1441'], code: '*401*13*1234*1441', text: /1 to 1440/ },
  ];
  for (const c of cases) {
    const r = await box.cli(...c.cli);
    assert.is.not(r.code, 0, `${c.cli.join(' ')} fails`);
    assert.match(r.stderr, c.text, `${c.cli.join(' ')}: ${r.stderr}`);
    const call = await dial('100', c.code);
    const final = finalOf(call);
    assert.is(final?.status, 484, describe(call));
    assert.match(final?.warning ?? '', c.text, describe(call));
    // Same words: the CLI's message and the Warning differ at most in quoting.
    const norm = (s: string) => s.replace(/^confbox:\s*/, '').replace(/["']/g, '').trim();
    assert.is(norm(final?.warning ?? ''), norm(r.stderr), 'the same message on the command line and on the phone');
  }
});

test('an invalid option (--sip-port 70000) stops start-up with a non-zero exit naming the option', async () => {
  const r = await runBundle(['--data-dir', scratchDir(), '--sip-port', '70000', '--bind', '127.0.0.1']);
  assert.ok(r.code !== 0 && r.code !== null, `exit code ${r.code}; output: ${r.out}`);
  assert.match(r.out, /--sip-port/, r.out);
  assert.match(r.out, /70000/, r.out);
});

test('`confbox led test` lights each LED in turn on the mock board; a broken board profile stops start-up naming the field', async () => {
  const r = await runBundle(['led', 'test', '--board', 'mock']);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /power\nsip\nconference\nfault\n/, r.out);
  const dir = scratchDir();
  const profile = join(dir, 'broken.json');
  writeFileSync(profile, JSON.stringify({ name: 'broken', model: 'x', leds: { power: { pin: 17, activeLow: false }, sip: { pin: 27, activeLow: false }, conference: { pin: 22, activeLow: false }, fault: { pin: 'x', activeLow: false } }, audio: null }));
  const bad = await runBundle(['--data-dir', dir, '--board', profile, '--bind', '127.0.0.1', '--sip-port', String(await freePort())]);
  assert.ok(bad.code !== 0 && bad.code !== null, `exit code ${bad.code}; output: ${bad.out}`);
  assert.match(bad.out, /leds\.fault\.pin/, bad.out);
});

test('a SIP port taken by another program stops start-up with a non-zero exit naming the port', async () => {
  const port = await freePort();
  const blocker: UdpSocket = createSocket('udp4');
  await new Promise<void>((resolve) => blocker.bind(port, '127.0.0.1', () => resolve()));
  const dir = scratchDir();
  try {
    const rtp = 40000 + Math.floor(Math.random() * 200) * 100;
    const r = await runBundle([
      '--data-dir', dir, '--sip-port', String(port), '--bind', '127.0.0.1', '--public-address', '127.0.0.1',
      '--http-port', String(await freePort()), '--rtp-ports', `${rtp}-${rtp + 99}`,
    ], 90_000);
    assert.ok(r.code !== 0 && r.code !== null, `exit code ${r.code}; output: ${r.out.slice(-2000)}`);
    assert.match(r.out, new RegExp(`\\b${port}\\b`), `the message names port ${port}: ${r.out.slice(-2000)}`);
    const pid = mariadbPid(dir);
    assert.ok(pid === null || !alive(pid), `its embedded MariaDB (pid ${pid}) was stopped too`);
  } finally {
    blocker.close();
  }
});

test('a SIP TLS port taken by another program stops start-up with a non-zero exit naming the port and its option', async () => {
  const port = await freePort();
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
  try {
    const rtp = 40000 + Math.floor(Math.random() * 200) * 100;
    const r = await runBundle([
      '--data-dir', scratchDir(), '--sip-port', String(await freePort()), '--sip-tls-port', String(port), '--bind', '127.0.0.1', '--public-address', '127.0.0.1',
      '--http-port', String(await freePort()), '--https-port', String(await freePort()), '--rtp-ports', `${rtp}-${rtp + 99}`,
    ], 90_000);
    assert.ok(r.code !== 0 && r.code !== null, `exit code ${r.code}; output: ${r.out.slice(-2000)}`);
    assert.match(r.out, new RegExp(`SIP TLS port ${port}/tcp on 127\\.0\\.0\\.1 cannot be used \\(--sip-tls-port\\): another program is using it`), r.out.slice(-2000));
  } finally {
    blocker.close();
  }
});

test('SIGTERM with active calls: every phone gets a BYE and the process exits 0', async () => {
  const a = await dial('100', '*400*6*5678', 'udp');
  const b = await dial('101', '*400*6*5678', 'tcp');
  assert.is(a.status, 200, describe(a));
  assert.is(b.status, 200, describe(b));
  const code = await box.stop('SIGTERM');
  for (const c of [a, b]) {
    const bye = await c.waitForRequest('BYE', 5000).catch(() => null);
    assert.ok(bye, `${c.phone.transport} phone got a BYE; the box printed: ${box.output().slice(-1500)}`);
  }
  assert.is(code, 0, 'exit code');
});

test.run();
