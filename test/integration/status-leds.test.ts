// The status LEDs of the running bundle on the mock board (SPEC.md section 6): every pattern change
// ("led pattern") and every LED change with its time ("led") is a log line, so the sequences a
// technician would see are asserted here, each with its pattern: start-up, first registration, a
// conference being set up, running and ending, the database going away (its server stopped for real)
// and coming back. The box runs without NOTIFY_SOCKET, as on a developer's machine.
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describePattern, patternSteps, type LedPattern } from '../../firmware/hw/patterns.ts';
import type { LedName } from '../../firmware/hw/profile.ts';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone, eventually, type Call } from '../support/phone.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-leds-'));
const PASSWORD = 'led-s3cret';
const ROOM = '7';
const PIN = '4321';
let box: RunningBox;
let phone: Phone;

/** Every log record of the box under test, in order. */
const records: Array<Record<string, unknown>> = [];

interface PatternLine {
  index: number;
  led: LedName;
  pattern: LedPattern;
  at: number;
}

interface Change {
  index: number;
  led: LedName;
  on: boolean;
  at: number;
}

function patternLines(led: LedName, from = 0): PatternLine[] {
  return records.flatMap((r, index) =>
    index >= from && r.msg === 'led pattern' && r.led === led ? [{ index, led, pattern: r.pattern as LedPattern, at: Date.parse(String(r.time)) }] : []);
}

function changes(led: LedName, from = 0, to = records.length): Change[] {
  return records.flatMap((r, index) =>
    index >= from && index < to && r.msg === 'led' && r.led === led ? [{ index, led, on: r.on as boolean, at: r.at as number }] : []);
}

function shows(led: LedName, from = 0): string[] {
  return patternLines(led, from).map((p) => describePattern(p.pattern));
}

function indexOf(msg: string | RegExp, from = 0): number {
  const i = records.findIndex((r, index) => index >= from && (typeof msg === 'string' ? r.msg === msg : msg.test(String(r.msg))));
  assert.ok(i >= 0, `the box logged ${msg}`);
  return i;
}

/** The LED's level just before record `index`. */
function levelBefore(led: LedName, index: number): boolean {
  return changes(led, 0, index).at(-1)?.on ?? false;
}

/**
 * What the LED did while `line`'s pattern was shown (until its next pattern, or until `to`) follows the
 * pattern: the levels of its steps in order, each step lasting at least its time (timers never fire early,
 * a loaded machine only makes steps longer; 10% slack for the clock's millisecond rounding).
 * Returns the changes, so that a caller can ask for enough of them.
 */
function assertPlayed(line: PatternLine, to?: number): Change[] {
  const next = patternLines(line.led, line.index + 1)[0]?.index;
  const end = Math.min(to ?? records.length, next ?? records.length);
  const seen = changes(line.led, line.index, end);
  const steps = patternSteps(line.pattern);
  const what = `${line.led} LED showing ${describePattern(line.pattern)}: ${JSON.stringify(seen.map((c) => [c.on ? 'on' : 'off', c.at - line.at]))}`;
  let rest = seen;
  let since = line.at;
  if (levelBefore(line.led, line.index) !== steps[0]!.on) {
    assert.ok(rest.length > 0 && rest[0]!.on === steps[0]!.on, `starts ${steps[0]!.on ? 'lit' : 'dark'}; ${what}`);
    since = rest[0]!.at;
    rest = rest.slice(1);
  }
  rest.forEach((c, i) => {
    const step = steps[(i + 1) % steps.length]!;
    const previous = steps[i % steps.length]!;
    assert.ok(Number.isFinite(previous.ms), `a steady LED does not change; ${what}`);
    assert.is(c.on, step.on, `step ${i + 1}; ${what}`);
    assert.ok(c.at - since >= previous.ms * 0.9, `step ${i} lasted ${c.at - since} ms of ${previous.ms}; ${what}`);
    since = c.at;
  });
  return seen;
}

/** Resolves once the LED's latest pattern reads `want` (e.g. "on", "code 1"). */
async function until(led: LedName, want: string, from = 0, timeoutMs = 20_000): Promise<PatternLine> {
  return eventually(() => {
    const last = patternLines(led, from).at(-1);
    return last && describePattern(last.pattern) === want ? last : undefined;
  }, timeoutMs, 50, `the ${led} LED to show ${want}`);
}

/** Resolves once the LED made at least `n` changes since record `from`. */
function changed(led: LedName, n: number, from: number, timeoutMs = 20_000): Promise<Change[]> {
  return eventually(() => {
    const c = changes(led, from);
    return c.length >= n ? c : undefined;
  }, timeoutMs, 50, `${n} changes of the ${led} LED`);
}

function mariadbPid(): number {
  const dir = join(dataDir, 'mariadb');
  const file = readdirSync(dir).find((f) => f.endsWith('.pid'));
  assert.ok(file, `a pid file in ${dir}`);
  const pid = Number(readFileSync(join(dir, file), 'utf8').trim());
  assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /mariadbd|mysqld/);
  return pid;
}

test.before(async () => {
  await configure(dataDir, [
    ['extension', 'add', '100', '--password', PASSWORD, '--name', 'LED test phone'],
    ['room', 'add', ROOM, '--pin', PIN],
  ]);
});

test.after(async () => {
  phone?.close();
  await box?.stop('SIGKILL');
  removeDataDir(dataDir);
});

test('start-up: power blinks 500/500 while the box starts, steady once every subsystem is up; the others stay dark', async () => {
  // A start-up held for a known time: the previous firmware died (SIGKILL) and left its MariaDB running and
  // stopped; the new one waits for that server to go before it starts its own, blinking meanwhile.
  const first = await startBox({ dataDir, extraArgs: ['--board', 'mock'] });
  await first.stop('SIGKILL');
  const leftover = mariadbPid();
  process.kill(leftover, 'SIGSTOP');
  let held = true;
  try {
    const starting = startBox({ dataDir, extraArgs: ['--board', 'mock'], onLog: (r) => records.push(r) });
    starting.catch(() => undefined);
    await eventually(() => records.some((r) => /left running/.test(String(r.msg))), 30_000, 50, 'the new box to find the leftover server');
    await changed('power', 3, 0, 10_000);
    process.kill(leftover, 'SIGCONT');
    held = false;
    box = await starting;
  } finally {
    if (held) process.kill(leftover, 'SIGCONT');
  }
  await eventually(() => records.some((r) => r.msg === 'confbox ready'), 10_000, 50, 'confbox ready');

  const [blink, steady, ...more] = patternLines('power');
  assert.equal([blink, steady].map((p) => p && describePattern(p.pattern)), ['blink 500/500 ms', 'on']);
  assert.equal(more, [], 'power shows nothing else');
  const blinked = assertPlayed(blink!);
  assert.ok(blinked.length >= 3, 'power went on, off and on again while the box started');
  assert.ok(steady!.index > indexOf('media ready'), 'steady only once the media engine is up');
  assert.ok(steady!.index < indexOf('confbox ready'));
  assertPlayed(steady!);
  assert.is(levelBefore('power', records.length), true, 'power is lit');
  for (const led of ['sip', 'conference', 'fault'] as const) assert.equal(shows(led), ['off'], `${led} is dark at start-up`);
  assert.equal(changes('sip').concat(changes('conference'), changes('fault')), [], 'no other LED ever lit');

  // No NOTIFY_SOCKET: the box runs as usual and says so only at debug level.
  assert.ok(records.some((r) => r.msg === 'not supervised by systemd (no NOTIFY_SOCKET)'));
  assert.equal(records.filter((r) => r.subsystem === 'systemd' && (r.level === 'warn' || r.level === 'error')), []);
});

test('first registration lights SIP; unregistering darkens it', async () => {
  phone = await Phone.open({ boxPort: box.sipPort, user: '100', password: PASSWORD });
  const mark = records.length;
  const reg = await phone.register({ expires: 300 });
  assert.is(reg.final.status, 200, reg.final.describe());
  const on = await until('sip', 'on', mark);
  assertPlayed(on);
  assert.is(levelBefore('sip', records.length), true);
  const unreg = await phone.register({ expires: 0 });
  assert.is(unreg.final.status, 200, unreg.final.describe());
  const off = await until('sip', 'off', on.index + 1);
  assertPlayed(on, off.index);
  assertPlayed(off);
  assert.equal(shows('sip', mark), ['on', 'off']);
  await phone.register({ expires: 300 });
  await until('sip', 'on', off.index + 1);
});

test('a conference: conference blinks 100/100 while a call is set up, is on while the conference runs, off after', async () => {
  // A wrong PIN is spoken to the caller as early media before the 403: a call in set-up for a while.
  const mark = records.length;
  const refused = await phone.dial(`*400*${ROOM}*0000`);
  assert.is(refused.status, 603, refused.responses.map((r) => r.describe()).join('; '));
  await until('conference', 'off', mark);
  const setup = patternLines('conference', mark).filter((p) => describePattern(p.pattern) === 'blink 100/100 ms');
  assert.ok(setup.length > 0, `fast blink while set up: ${JSON.stringify(shows('conference', mark))}`);
  const longest = setup.map((p) => assertPlayed(p)).sort((a, b) => b.length - a.length)[0]!;
  assert.ok(longest.length >= 3, `blinked on, off, on while the refusal was spoken: ${JSON.stringify(longest)}`);
  assert.is(shows('conference', mark).at(-1), 'off', 'dark again: no conference');

  const joinMark = records.length;
  const call: Call = await phone.dial(`*400*${ROOM}*${PIN}`);
  assert.is(call.status, 200, call.responses.map((r) => r.describe()).join('; '));
  const on = await until('conference', 'on', joinMark);
  const seen = shows('conference', joinMark);
  assert.ok(seen.indexOf('blink 100/100 ms') >= 0 && seen.indexOf('blink 100/100 ms') < seen.indexOf('on'), `blink in set-up, then on: ${JSON.stringify(seen)}`);
  for (const p of patternLines('conference', joinMark)) assertPlayed(p);
  assert.is(levelBefore('conference', records.length), true);

  const bye = await call.bye();
  assert.is(bye.status, 200);
  const off = await until('conference', 'off', on.index + 1);
  assertPlayed(on, off.index);
  assertPlayed(off);
  assert.is(levelBefore('conference', records.length), false);
});

test('the database going away lights fault with code 1 (one flash, then a pause); it goes dark when the database is back', async () => {
  const pid = mariadbPid();
  const mark = records.length;
  process.kill(pid, 'SIGSTOP');
  let code: PatternLine;
  try {
    code = await until('fault', 'code 1', mark, 30_000);
    assert.equal(code.pattern, { kind: 'code', blinks: 1, onMs: 250, offMs: 250, pauseMs: 1500 });
    assert.ok(indexOf(/^database unreachable/, mark) < code.index, 'the box noticed the database first');
    await changed('fault', 3, code.index, 10_000);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const off = await until('fault', 'off', code.index + 1, 30_000);
  assert.ok(indexOf('database reachable again', code.index) < off.index);
  const flashes = assertPlayed(code, off.index);
  assert.ok(flashes.length >= 3, 'on, a pause, on again');
  assertPlayed(off);
  assert.is(levelBefore('fault', records.length), false);
  assert.equal(shows('fault', mark), ['code 1', 'off']);
  assert.equal(shows('power', mark), [], 'power stays steady');
  assert.equal(shows('sip', mark), [], 'SIP stays on: the phone is still registered');
});

test('stopping darkens every LED', async () => {
  const mark = records.length;
  assert.is(await box.stop('SIGTERM'), 0);
  await eventually(() => records.slice(mark).some((r) => r.msg === 'stopped'), 10_000, 50, 'stopped');
  for (const led of ['power', 'sip', 'conference', 'fault'] as const) assert.is(levelBefore(led, records.length), false, `${led} is dark`);
});

test.run();
