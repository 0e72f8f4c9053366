// systemd's notify protocol (firmware/systemd.ts): what is sent when, the watchdog fed only while the
// media engine ticks, soft failure outside systemd; and the addon's sdNotify against a real socket.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { createLogger } from '../../firmware/log.ts';
import { findAddon, loadAddon } from '../../firmware/media/native-engine.ts';
import { Status } from '../../firmware/status.ts';
import { Systemd, describeStatus } from '../../firmware/systemd.ts';
import { notifySocket } from '../support/systemd.ts';

const tmp = mkdtempSync(join(tmpdir(), 'confbox-systemd-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

/** A notifier with a fake clock, a recording transport and a captured log. */
function notifier(env: NodeJS.ProcessEnv, o: { fail?: () => boolean; status?: Status } = {}) {
  const clock = new FakeClock();
  const sent: string[] = [];
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', {}, (line) => logs.push(JSON.parse(line)));
  const systemd = new Systemd({
    log, env, clock, status: o.status, pid: 4242,
    send: (socket, message) => {
      if (o.fail?.()) throw Object.assign(new Error(`send to ${socket}: Connection refused`), { code: 'ECONNREFUSED' });
      sent.push(message);
    },
  });
  return { clock, sent, logs, systemd, logged: (level: string) => logs.filter((l) => l.level === level).map((l) => String(l.msg)) };
}

test('outside systemd (no NOTIFY_SOCKET) nothing is sent and nothing is complained about', () => {
  const env: NodeJS.ProcessEnv = { PATH: '/usr/bin' };
  const n = notifier(env, { status: new Status() });
  assert.is(n.systemd.socket, null);
  assert.is(n.systemd.watchdogIntervalMs, null);
  n.systemd.ready(() => 1);
  n.clock.advance(60_000);
  n.systemd.stopping();
  assert.equal(n.sent, []);
  assert.equal([...n.logged('warn'), ...n.logged('error')], []);
  assert.equal(env, { PATH: '/usr/bin' });
});

test("systemd's variables are taken out of the environment, so that child processes (MariaDB) do not notify in the box's name", () => {
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '20000000', WATCHDOG_PID: '4242', HOME: '/var/lib/confbox' };
  const n = notifier(env);
  assert.equal(env, { HOME: '/var/lib/confbox' });
  assert.is(n.systemd.socket, '/run/systemd/notify');
  assert.is(n.systemd.watchdogIntervalMs, 10_000, 'fed at half of WATCHDOG_USEC');
});

test('STATUS= follows the status model, READY=1 once every subsystem is up, STOPPING=1 on shutdown', () => {
  const status = new Status();
  const n = notifier({ NOTIFY_SOCKET: '@confbox' }, { status });
  assert.equal(n.sent, ['STATUS=starting (database starting, media starting, sip starting)']);
  status.set({ database: 'ok' });
  status.set({ callsInSetup: 1 });
  status.set({ callsInSetup: 0 });
  assert.equal(n.sent.slice(1), ['STATUS=starting (database ok, media starting, sip starting)'], 'only a changed text is sent');
  status.set({ media: 'ok', sip: 'ok', ready: true, trustedPeers: 1 });
  assert.is(n.sent.at(-1), 'STATUS=starting (database ok, media ok, sip ok)', 'not "ready" before READY=1');
  n.systemd.ready(() => 0);
  assert.is(n.sent.at(-1), 'READY=1\nSTATUS=ready; 0 conferences, 0 registered phones, 1 trusted peer');
  status.set({ database: 'down', activeConferences: 2 });
  assert.is(n.sent.at(-1), 'STATUS=fault: database unreachable; 2 conferences, 0 registered phones, 1 trusted peer');
  n.systemd.stopping();
  assert.is(n.sent.at(-1), 'STOPPING=1\nSTATUS=stopping');
  const count = n.sent.length;
  status.set({ database: 'ok' });
  n.systemd.stopping();
  assert.is(n.sent.length, count, 'nothing after STOPPING=1');
});

test('WATCHDOG=1 at half the interval while the media tick advances; withheld while it is stalled; resumed after', () => {
  const n = notifier({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '2000000' });
  let ticks = 100;
  let broken = false;
  n.systemd.ready(() => {
    if (broken) throw new Error('the media engine is closed');
    return ticks;
  });
  assert.equal(n.sent, ['READY=1\nSTATUS=running']);
  n.sent.length = 0;
  for (let i = 0; i < 3; i++) {
    ticks += 50;
    n.clock.advance(1000);
  }
  assert.equal(n.sent, ['WATCHDOG=1', 'WATCHDOG=1', 'WATCHDOG=1'], 'one per second for a 2 s watchdog');

  n.sent.length = 0;
  n.clock.advance(5000);
  assert.equal(n.sent, ['STATUS=media engine stalled'], 'no WATCHDOG=1 while the tick count stands still; the reason once');
  assert.equal(n.logged('error'), ['the media engine tick is stalled; withholding the systemd watchdog so that the box is restarted']);

  n.sent.length = 0;
  ticks += 1;
  n.clock.advance(1000);
  assert.equal(n.sent, ['WATCHDOG=1\nSTATUS=running'], 'fed again as soon as the tick moves');
  assert.ok(n.logged('info').includes('the media engine ticks again; feeding the systemd watchdog again'));

  n.sent.length = 0;
  broken = true;
  n.clock.advance(3000);
  assert.equal(n.sent, ['STATUS=media engine stalled'], 'an engine that cannot be read is not alive');
  n.systemd.stopping();
  n.sent.length = 0;
  ticks += 10;
  broken = false;
  n.clock.advance(10_000);
  assert.equal(n.sent, [], 'no watchdog after STOPPING=1');
  assert.is(n.clock.pending(), 0, 'no timer left behind');
});

test('a watchdog meant for another process, or a WATCHDOG_USEC that is no number, is not fed; READY=1 still goes out', () => {
  const other = notifier({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '2000000', WATCHDOG_PID: '1' });
  assert.is(other.systemd.watchdogIntervalMs, null);
  other.systemd.ready(() => Math.random());
  other.clock.advance(10_000);
  assert.equal(other.sent, ['READY=1\nSTATUS=running']);
  for (const bad of ['0', '-5', '2s', '']) {
    const n = notifier({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: bad });
    assert.is(n.systemd.watchdogIntervalMs, null, `WATCHDOG_USEC=${JSON.stringify(bad)}`);
    if (bad !== '') assert.equal(n.logged('warn'), ['WATCHDOG_USEC is not a positive number of microseconds; not feeding the systemd watchdog']);
  }
  const vsock = notifier({ NOTIFY_SOCKET: 'vsock:2:1234' });
  assert.is(vsock.systemd.socket, null);
  vsock.systemd.ready(() => 1);
  assert.equal(vsock.sent, []);
  assert.equal(vsock.logged('warn'), ['NOTIFY_SOCKET is neither a path nor an abstract socket name; not notifying systemd']);
});

test('a notification that cannot be sent is logged once, the box carries on, and recovery is logged', () => {
  let failing = true;
  const n = notifier({ NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '1000000' }, { fail: () => failing });
  let ticks = 0;
  n.systemd.ready(() => ++ticks);
  n.clock.advance(5000);
  assert.equal(n.logged('warn'), ['cannot notify systemd; the box runs on, reported once until a notification gets through']);
  const warning = n.logs.find((l) => l.level === 'warn')!;
  const err = warning.err as Record<string, unknown>;
  assert.equal([err.name, err.message, err.code], ['Error', 'send to /run/systemd/notify: Connection refused', 'ECONNREFUSED']);
  failing = false;
  n.clock.advance(500);
  assert.equal(n.sent, ['WATCHDOG=1']);
  assert.ok(n.logged('info').includes('systemd notifications are delivered again'));
  failing = true;
  n.clock.advance(2000);
  assert.is(n.logged('warn').length, 2, 'a new failure after a recovery is reported again');
});

test('describeStatus: faults first, then what the box is doing', () => {
  const base = new Status().get();
  assert.is(describeStatus(base), 'starting (database starting, media starting, sip starting)');
  const up = { ...base, ready: true, database: 'ok', media: 'ok', sip: 'ok' } as const;
  assert.is(describeStatus({ ...up, activeConferences: 1, registeredExtensions: 3 }), 'ready; 1 conference, 3 registered phones, 0 trusted peers');
  assert.is(
    describeStatus({ ...up, database: 'down', mediaOverrun: true, diskFull: true }),
    'fault: database unreachable, media engine missed ticks, data disk nearly full; 0 conferences, 0 registered phones, 0 trusted peers',
  );
});

// --- the addon's sdNotify against a socket of our own ---

test('sdNotify sends to a socket path and to an abstract name, from this process', async () => {
  assert.ok(findAddon(), 'the media engine addon is built (node build.mjs)');
  const addon = loadAddon();
  const path = join(tmp, 'notify.sock');
  const abstract = `@confbox-test-${process.pid}-${Date.now()}`;
  const onPath = await notifySocket(path);
  const onAbstract = await notifySocket(abstract);
  addon.sdNotify(path, 'READY=1\nSTATUS=ready');
  addon.sdNotify(abstract, 'WATCHDOG=1');
  const a = await onPath.waitFor(() => true);
  const b = await onAbstract.waitFor(() => true);
  onPath.close();
  onAbstract.close();
  assert.equal([a.message, a.pid], ['READY=1\nSTATUS=ready', process.pid], 'the kernel names this process as the sender');
  assert.equal([b.message, b.pid], ['WATCHDOG=1', process.pid]);
});

test('sdNotify names what is wrong: a missing socket, a bad address or message', () => {
  const addon = loadAddon();
  const code = (fn: () => void): string => {
    try {
      fn();
    } catch (e) {
      return `${(e as NodeJS.ErrnoException).code}: ${(e as Error).message}`;
    }
    return 'no error';
  };
  const missing = join(tmp, 'nobody-listens.sock');
  assert.is(code(() => addon.sdNotify(missing, 'READY=1')), `ENOENT: send to ${missing}: No such file or directory`);
  assert.is(code(() => addon.sdNotify('run/notify', 'READY=1')), 'ERR_OUT_OF_RANGE: socket must be an absolute path or an abstract name starting with @');
  assert.is(code(() => addon.sdNotify('@', 'READY=1')), 'ERR_OUT_OF_RANGE: socket "@" names no abstract socket');
  assert.is(code(() => addon.sdNotify(`/${'x'.repeat(120)}`, 'READY=1')), 'ERR_OUT_OF_RANGE: socket must be 1 to 108 bytes long');
  assert.is(code(() => addon.sdNotify(missing, '')), 'ERR_OUT_OF_RANGE: message must be 1 to 4096 bytes long');
  assert.is(code(() => addon.sdNotify(7 as unknown as string, 'READY=1')), 'ERR_INVALID_ARG_TYPE: socket must be a string');
});

test('the notifier with the real addon: READY=1 reaches the socket; a socket nobody listens on is logged once', async () => {
  const path = join(tmp, 'box.sock');
  const listener = await notifySocket(path);
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', {}, (line) => logs.push(JSON.parse(line)));
  new Systemd({ log, env: { NOTIFY_SOCKET: path } }).ready(() => 1);
  const got = await listener.waitFor(() => true);
  listener.close();
  assert.equal([got.message, got.pid], ['READY=1\nSTATUS=running', process.pid]);

  const gone = new Systemd({ log, env: { NOTIFY_SOCKET: join(tmp, 'gone.sock') } });
  gone.ready(() => 1);
  gone.stopping();
  const warnings = logs.filter((l) => l.level === 'warn');
  assert.is(warnings.length, 1, JSON.stringify(warnings));
  assert.is((warnings[0]!.err as { code: string }).code, 'ENOENT');
});

test.run();
