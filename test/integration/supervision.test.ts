// The bundle under systemd's notify protocol, with a unix datagram socket of our own playing systemd's
// part (board/rootfs/etc/systemd/system/confbox.service runs it Type=notify with WatchdogSec=):
// READY=1 after start-up, WATCHDOG=1 while the media engine ticks and not while its thread is
// frozen, STOPPING=1 on SIGTERM; every datagram from the box's own PID, none from its MariaDB.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { freezeThread, notifySocket, type NotifySocket } from '../support/systemd.ts';

/** WATCHDOG_USEC of 1 s: the box feeds the watchdog every 500 ms. */
const WATCHDOG_USEC = 1_000_000;
const INTERVAL_MS = WATCHDOG_USEC / 2000;

const sockDir = mkdtempSync(join(tmpdir(), 'confbox-notify-'));
const dataDir = mkdtempSync(join(tmpdir(), 'confbox-supervised-'));
let systemd: NotifySocket;
let box: RunningBox;
const logs: Array<Record<string, unknown>> = [];

test.before(async () => {
  systemd = await notifySocket(join(sockDir, 'notify'));
  box = await startBox({
    dataDir,
    // two media threads: a stall of any one of them (here the second) must withhold the watchdog
    extraArgs: ['--board', 'mock', '--media-threads', '2'],
    env: { NOTIFY_SOCKET: systemd.address, WATCHDOG_USEC: String(WATCHDOG_USEC) },
    onLog: (rec) => logs.push(rec),
  });
});

test.after(async () => {
  await box?.stop('SIGKILL');
  systemd?.close();
  removeDataDir(dataDir);
  rmSync(sockDir, { recursive: true, force: true });
});

const isReady = (n: { message: string }) => n.message.split('\n').includes('READY=1');
const isWatchdog = (n: { message: string }) => n.message.split('\n').includes('WATCHDOG=1');

function logged(msg: string): Record<string, unknown> | undefined {
  return logs.find((r) => r.msg === msg);
}

function eventuallyLogged(msg: string, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return logged(msg) ? Promise.resolve(logged(msg)!) : box.waitForLog((r) => r.msg === msg, timeoutMs);
}

test('READY=1 arrives once, after the box logged "confbox ready", sent by the box itself', async () => {
  const ready = await systemd.waitFor(isReady);
  const readyLog = logged('confbox ready');
  assert.ok(readyLog, 'the box logged "confbox ready"');
  assert.ok(ready.at >= Date.parse(String(readyLog.time)), `READY=1 at ${ready.at}, "confbox ready" at ${String(readyLog.time)}`);
  assert.is(systemd.received.filter(isReady).length, 1, 'one READY=1');
  const before = systemd.received.slice(0, systemd.received.indexOf(ready));
  assert.ok(before.length > 0 && before.every((n) => n.message.startsWith('STATUS=starting')), `while starting only STATUS=starting…: ${JSON.stringify(before.map((n) => n.message))}`);
  assert.match(ready.message, /^READY=1\nSTATUS=ready; 0 conferences, 0 registered phones, 0 trusted peers$/);
  // mariadbd is systemd-aware: had it inherited NOTIFY_SOCKET, its own READY=1 would arrive here under its PID.
  const senders = new Set(systemd.received.map((n) => n.pid));
  assert.equal([...senders], [box.proc.pid], 'every notification comes from the box process');
  assert.ok(logged('supervised by systemd'), 'the box says it is supervised');
});

test('WATCHDOG=1 keeps arriving while the media engine ticks', async () => {
  const start = systemd.received.findIndex(isReady) + 1;
  for (let i = 0; i < 3; i++) {
    const from = systemd.received.length;
    await systemd.waitFor(isWatchdog, 10_000, Math.max(start, from));
  }
  assert.ok(systemd.received.slice(start).filter(isWatchdog).length >= 3);
});

test('a frozen media thread, the second of two, withholds WATCHDOG=1 (systemd would restart the box); it resumes when the thread runs again', async () => {
  const frozen = await freezeThread(box.proc.pid!, 'confbox-media2');
  let thawed = false;
  try {
    const stalled = await systemd.waitFor((n) => n.message === 'STATUS=media engine stalled', 10_000);
    const at = systemd.received.indexOf(stalled);
    const error = await eventuallyLogged('the media engine tick is stalled; withholding the systemd watchdog so that the box is restarted');
    assert.is(error.level, 'error');
    // Four watchdog intervals with the thread frozen: a box that fed the watchdog would have sent four.
    await sleep(4 * INTERVAL_MS);
    const after = systemd.received.slice(at + 1);
    assert.equal(after.filter(isWatchdog), [], 'no WATCHDOG=1 while the media thread is frozen');
    assert.is(box.proc.exitCode, null, 'the box itself keeps running: restarting it is systemd\'s decision');
    const mark = systemd.received.length;
    await frozen.thaw();
    thawed = true;
    const resumed = await systemd.waitFor(isWatchdog, 10_000, mark);
    assert.match(resumed.message, /^WATCHDOG=1\nSTATUS=(ready|fault: media engine missed ticks);/);
  } finally {
    if (!thawed) await frozen.thaw();
  }
  await eventuallyLogged('the media engine ticks again; feeding the systemd watchdog again');
  // The timer ticks the thread missed are reported as an overrun (the fault LED's code 2).
  const overrun = await eventuallyLogged('media engine missed ticks');
  assert.ok(Number(overrun.lateTicks) > 0);
  const mark = systemd.received.length;
  await systemd.waitFor(isWatchdog, 10_000, mark);
});

test('SIGTERM: STOPPING=1, then the box exits cleanly', async () => {
  const mark = systemd.received.length;
  const code = await box.stop('SIGTERM');
  assert.is(code, 0);
  const stopping = await systemd.waitFor((n) => n.message.split('\n').includes('STOPPING=1'), 5000, mark);
  assert.is(stopping.pid, box.proc.pid);
  const last = systemd.received.at(-1)!;
  assert.is(last, stopping, 'nothing after STOPPING=1');
});

test.run();
