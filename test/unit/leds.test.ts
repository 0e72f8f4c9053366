import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { Status } from '../../firmware/status.ts';
import { LedController, ledTest, type LedStatusSource } from '../../firmware/hw/led-controller.ts';
import { GpioUnavailable, MockLedDriver, RpioLedDriver, createLedDriver, loadRpio, type RpioModule } from '../../firmware/hw/leds.ts';
import { GpioChipLedDriver, type GpioLines } from '../../firmware/hw/gpio-chip.ts';
import { describePattern, ledPatterns, type LedInputs } from '../../firmware/hw/patterns.ts';
import { loadProfile, type LedName } from '../../firmware/hw/profile.ts';
import { explainFaults } from '../../firmware/web/faults.ts';

/** A box on the mock board with a fake clock; `t(ms)` is a time relative to the start. */
function box(extra: Partial<LedInputs> = {}) {
  const clock = new FakeClock();
  const t0 = clock.now();
  const status = new Status();
  const leds = MockLedDriver.withClock(clock);
  const controller = new LedController(leds, clock);
  const source = Object.assign(status, { get: () => ({ ...Status.prototype.get.call(status), ...extra }) });
  return {
    clock, status, leds, controller,
    start: () => controller.start(source),
    /** The on/off sequence one LED went through, with times relative to the start. */
    seq: (led: LedName, from = 0) => leds.changes.filter((c) => c.led === led && c.at - t0 >= from).map((c) => `${c.on ? 'on' : 'off'}@${c.at - t0}`),
    now: () => clock.now() - t0,
    extra,
  };
}

const up = { ready: true, sip: 'ok', database: 'ok', media: 'ok' } as const;

test('start-up: power blinks 500/500 while starting, then stays on once ready', () => {
  const b = box();
  b.start();
  b.clock.advance(2100);
  assert.equal(b.seq('power'), ['on@0', 'off@500', 'on@1000', 'off@1500', 'on@2000']);
  assert.equal(b.seq('sip'), []);
  assert.equal(b.seq('fault'), [], 'a database still starting is not a fault');
  b.clock.advance(500); // off at 2500, then ready at 2600
  b.status.set(up);
  b.clock.advance(5000);
  assert.equal(b.seq('power', 2100), ['off@2500', 'on@2600']);
  assert.equal(b.leds.state(), { power: true, sip: false, conference: false, fault: false });
  assert.is(describePattern(b.controller.patterns().power), 'on');
});

test('moving to another database: power blinks as at start-up, and is steady again once there; no fault is shown', () => {
  const b = box();
  b.start();
  b.status.set(up);
  b.clock.advance(1000);
  b.status.set({ databaseSwitching: true });
  b.clock.advance(1200);
  b.status.set({ databaseSwitching: false });
  b.clock.advance(1000);
  // Blinking from 1000 (on for 500, off for 500, on), steady from 2200 on.
  assert.equal(b.seq('power'), ['on@0', 'off@1500', 'on@2000']);
  assert.is(describePattern(b.controller.patterns().power), 'on');
  assert.equal(b.seq('fault'), []);
});

test('first registration lights SIP; a trusted peer alone does too', () => {
  const b = box();
  b.start();
  b.status.set(up);
  b.clock.advance(1000);
  assert.is(b.leds.state().sip, false);
  b.status.set({ registeredExtensions: 1 });
  assert.equal(b.seq('sip'), ['on@1000']);
  b.clock.advance(1000);
  b.status.set({ registeredExtensions: 0 });
  assert.equal(b.seq('sip'), ['on@1000', 'off@2000']);
  b.status.set({ trustedPeers: 1 });
  assert.is(b.leds.state().sip, true);
});

test('a conference starting and ending: fast blink while the call is set up, on while active, off after', () => {
  const b = box();
  b.start();
  b.status.set({ ...up, registeredExtensions: 2 });
  b.clock.advance(1000);
  b.status.set({ callsInSetup: 1 });
  b.clock.advance(450);
  assert.equal(b.seq('conference'), ['on@1000', 'off@1100', 'on@1200', 'off@1300', 'on@1400']);
  b.status.set({ callsInSetup: 0, activeConferences: 1 }); // answered: the room is up
  b.clock.advance(3000);
  assert.equal(b.seq('conference', 1401), [], 'stays on (it was already lit at 1400)');
  assert.is(b.leds.state().conference, true);
  b.status.set({ callsInSetup: 1 }); // a second caller joining: blink again
  b.clock.advance(150);
  assert.equal(b.seq('conference', 4450), ['off@4550']);
  b.status.set({ callsInSetup: 0, activeConferences: 0 });
  assert.is(b.leds.state().conference, false);
  b.clock.advance(5000);
  assert.equal(b.seq('conference', 4551), [], 'nothing left blinking');
  assert.is(b.clock.pending(), 0, 'no timers left for steady LEDs');
});

test('the database going away: fault shows code 1 (one flash per cycle), then goes dark when it is back', () => {
  const b = box();
  b.start();
  b.status.set(up);
  b.clock.advance(1000);
  b.status.set({ database: 'down' });
  b.clock.advance(4000); // cycle: 250 on, 1500 dark = 1750 ms
  assert.equal(b.seq('fault'), ['on@1000', 'off@1250', 'on@2750', 'off@3000', 'on@4500', 'off@4750']);
  assert.is(describePattern(b.controller.patterns().fault), 'code 1');
  assert.is(b.leds.state().power, true, 'the box is still up');
  b.status.set({ database: 'ok' });
  b.clock.advance(5000);
  assert.equal(b.seq('fault', 4751), []);
  assert.is(b.leds.state().fault, false);
});

test('media down: fault shows code 2; with the database also down, code 1 wins', () => {
  const b = box();
  b.start();
  b.status.set(up);
  b.status.set({ media: 'down' });
  b.clock.advance(2400); // 250 on, 250 off, 250 on, 1500 dark
  assert.equal(b.seq('fault'), ['on@0', 'off@250', 'on@500', 'off@750', 'on@2250']);
  b.status.set({ database: 'down' });
  assert.is(describePattern(b.controller.patterns().fault), 'code 1');
});

test('disk nearly full (optional status field): fault shows code 3', () => {
  const b = box({ diskFull: true });
  b.start();
  b.status.set(up);
  b.clock.advance(1800);
  assert.equal(b.seq('fault'), ['on@0', 'off@250', 'on@500', 'off@750', 'on@1000', 'off@1250']);
  assert.is(describePattern(b.controller.patterns().fault), 'code 3');
});

test('a recording that stopped growing: fault shows code 4, after the disk\'s code 3', () => {
  const all: LedInputs = { ready: true, database: 'ok', media: 'ok', registeredExtensions: 0, trustedPeers: 0, activeConferences: 1, callsInSetup: 0 };
  assert.is(describePattern(ledPatterns({ ...all, recordingStalled: 'room 2: the disk refused a write' }).fault), 'code 4');
  assert.is(describePattern(ledPatterns({ ...all, recordingStalled: '' }).fault), 'off');
  assert.is(describePattern(ledPatterns({ ...all, diskFull: true, recordingStalled: 'room 2: the disk refused a write' }).fault), 'code 3');
  const [fault] = explainFaults({ ...all, mediaOverrun: false, diskFull: false, recordingStalled: 'room 2: 1.5 s of audio were lost' });
  assert.match(`${fault?.what}. ${fault?.advice}`, /^a recording stopped growing \(room 2: 1\.5 s of audio were lost\)\. The meeting goes on/);
});

test('patterns are pure data', () => {
  const all: LedInputs = { ready: true, database: 'ok', media: 'ok', registeredExtensions: 0, trustedPeers: 0, activeConferences: 0, callsInSetup: 0 };
  assert.equal(ledPatterns(all), { power: { kind: 'on' }, sip: { kind: 'off' }, conference: { kind: 'off' }, fault: { kind: 'off' } });
  assert.equal(ledPatterns({ ...all, ready: false }).power, { kind: 'blink', onMs: 500, offMs: 500 });
  assert.equal(ledPatterns({ ...all, callsInSetup: 1, activeConferences: 3 }).conference, { kind: 'blink', onMs: 100, offMs: 100 });
  assert.equal(ledPatterns({ ...all, mediaOverrun: true }).fault, { kind: 'code', blinks: 2, onMs: 250, offMs: 250, pauseMs: 1500 });
});

test('the one status model plugs in as it is', () => {
  const status: LedStatusSource = new Status(); // a compile-time check as much as a run-time one
  const leds = new MockLedDriver();
  const controller = new LedController(leds, new FakeClock());
  controller.start(status);
  assert.is(leds.state().power, true, 'blinking starts lit');
  controller.stop();
});

test('stop() darkens every LED, cancels the blinking and stops following the status', () => {
  const b = box();
  b.start();
  b.status.set({ registeredExtensions: 1, callsInSetup: 1, database: 'down' });
  b.clock.advance(50);
  b.controller.stop();
  assert.equal(b.leds.state(), { power: false, sip: false, conference: false, fault: false });
  assert.is(b.clock.pending(), 0);
  const n = b.leds.changes.length;
  b.status.set({ ready: true });
  b.clock.advance(2000);
  assert.is(b.leds.changes.length, n);
});

test('the mock board reports each change it records and the controller each new pattern, for the log', () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  const heard: string[] = [];
  const leds = createLedDriver(loadProfile('mock'), { clock, onChange: (c) => heard.push(`${c.led} ${c.on ? 'on' : 'off'} @${c.at - t0}`) });
  const patterns: string[] = [];
  const controller = new LedController(leds, clock, { onPattern: (led, p) => patterns.push(`${led} ${describePattern(p)}`) });
  const status = new Status();
  controller.start(status);
  clock.advance(500);
  status.set({ ready: true });
  status.set({ registeredExtensions: 1 });
  status.set({ registeredExtensions: 2 });
  assert.equal(patterns, ['power blink 500/500 ms', 'sip off', 'conference off', 'fault off', 'power on', 'sip on'], 'an unchanged pattern is not repeated');
  assert.equal(heard, ['power on @0', 'power off @500', 'power on @500', 'sip on @500']);
  assert.equal(heard.length, (leds as MockLedDriver).changes.length, 'every recorded change is reported');
  controller.stop();
});

test('the mock board keeps the most recent changes only: a box may blink for weeks', () => {
  const leds = new MockLedDriver();
  for (let i = 0; i < MockLedDriver.KEEP + 10; i++) leds.set('fault', i % 2 === 0);
  assert.is(leds.changes.length, MockLedDriver.KEEP);
  assert.is(leds.changes.at(-1)!.on, (MockLedDriver.KEEP + 9) % 2 === 0);
});

test('led test lights each LED alone, in turn', async () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  const leds = MockLedDriver.withClock(clock);
  leds.set('fault', true); // whatever was lit before is darkened first
  const done = ledTest(leds, clock, { ms: 1000 });
  clock.advance(4000);
  await done;
  assert.equal(leds.changes.map((c) => `${c.led} ${c.on ? 'on' : 'off'}@${c.at - t0}`), [
    'fault on@0', 'fault off@0',
    'power on@0', 'power off@1000', 'sip on@1000', 'sip off@2000',
    'conference on@2000', 'conference off@3000', 'fault on@3000', 'fault off@4000',
  ]);
});

/** A scripted rpio: `board` false plays its silent fallback (a 'warn' event, then mock mode). */
function fakeRpio(board: boolean) {
  const writes: string[] = [];
  const listeners: ((m: string) => void)[] = [];
  const rpio: RpioModule = {
    OUTPUT: 1, HIGH: 1, LOW: 0, PIN_PRESERVE: 0,
    init: (o) => { writes.push(`init ${o.mapping}`); if (!board) for (const l of listeners) l('Hardware auto-detect failed, running in raspi-3 mock mode'); },
    open: (pin, _mode, init) => writes.push(`open ${pin}=${init}`),
    write: (pin, v) => writes.push(`${pin}=${v}`),
    close: (pin) => writes.push(`close ${pin}`),
    on: (_e, l) => listeners.push(l),
    removeListener: (_e, l) => listeners.splice(listeners.indexOf(l), 1),
  };
  return { rpio, writes };
}

test('rpio driver: BCM pins with the profile polarity; all dark on close', () => {
  const profile = loadProfile('rpi4');
  profile.leds.fault.activeLow = true;
  const { rpio, writes } = fakeRpio(true);
  const d = new RpioLedDriver(profile, { load: () => rpio });
  d.set('power', true);
  d.set('fault', true);
  d.close();
  d.set('sip', true);
  assert.equal(writes, [
    'init gpio', 'open 17=0', 'open 27=0', 'open 22=0', 'open 23=1',
    '17=1', '23=0',
    '17=0', '27=0', '22=0', '23=1', 'close 17', 'close 27', 'close 22', 'close 23',
  ]);
});

test("rpio's silent mock fallback on a Pi board is a fault", () => {
  const { rpio } = fakeRpio(false);
  try {
    new RpioLedDriver(loadProfile('rpi4'), { load: () => rpio });
    assert.unreachable('should refuse the fallback');
  } catch (e) {
    assert.instance(e, GpioUnavailable);
    assert.match((e as Error).message, /rpio found no Raspberry Pi GPIO on board "rpi4"/);
  }
});

test('the mock board is chosen explicitly; a Pi board without rpio installed says so', () => {
  assert.instance(createLedDriver(loadProfile('mock')), MockLedDriver);
  try {
    loadRpio();
    console.log('rpio is installed here; skipping the missing-rpio message check');
  } catch (e) {
    assert.instance(e, GpioUnavailable);
    assert.match((e as Error).message, /"rpio" is not installed/);
    assert.throws(() => createLedDriver(loadProfile('rpi5'), { exists: (p) => p === '/dev/gpiomem' }), (e: unknown) => e instanceof GpioUnavailable && /rpio/.test((e as Error).message));
  }
});

/** The addon's GPIO calls, recorded; a line's level is what was last set. */
function fakeLines() {
  const calls: string[] = [];
  let level = 0;
  const lines: GpioLines = {
    gpioRequest: (chip, offsets, initial, consumer) => {
      calls.push(`request ${chip} [${offsets.join(',')}] initial ${initial.toString(2).padStart(4, '0')} ${consumer}`);
      level = initial;
      return 42;
    },
    gpioSet: (fd, mask, bits) => {
      calls.push(`set fd ${fd} mask ${mask.toString(2).padStart(4, '0')} bits ${bits.toString(2).padStart(4, '0')}`);
      level = (level & ~mask) | (bits & mask);
    },
    gpioRelease: (fd) => void calls.push(`release fd ${fd}`),
  };
  return { lines, calls, level: () => level.toString(2).padStart(4, '0') };
}

test('the GPIO character device driver: the four lines requested dark (active-low ones high), each LED one line, closed dark and released', () => {
  const profile = { ...loadProfile('rpi4'), leds: { ...loadProfile('rpi4').leds, fault: { pin: 22, activeLow: true } } };
  const f = fakeLines();
  const d = new GpioChipLedDriver(profile, '/dev/gpiochip0', f.lines);
  const pins = (['power', 'sip', 'conference', 'fault'] as const).map((l) => profile.leds[l].pin);
  assert.equal(f.calls, [`request /dev/gpiochip0 [${pins.join(',')}] initial 1000 confbox`], 'fault (bit 3) is active-low: high is dark');
  d.set('power', true);
  d.set('fault', true);
  assert.is(f.level(), '0001', 'power lit (high), fault lit (low)');
  d.set('power', false);
  d.close();
  assert.is(f.level(), '1000', 'all dark');
  assert.is(f.calls[f.calls.length - 1], 'release fd 42');
  const before = f.calls.length;
  d.set('sip', true);
  assert.is(f.calls.length, before, 'nothing after close');
});

test('a board uses the GPIO chip when its kernel has one, rpio on /dev/gpiomem otherwise, and says when it has neither', () => {
  const f = fakeLines();
  const rpi4 = loadProfile('rpi4');
  assert.instance(createLedDriver(rpi4, { exists: (p) => p === '/dev/gpiochip0' || p === '/dev/gpiomem', gpioLines: () => f.lines }), GpioChipLedDriver);
  assert.throws(() => createLedDriver(rpi4, { exists: () => false }), (e: unknown) => e instanceof GpioUnavailable && /has neither \/dev\/gpiochip0 nor \/dev\/gpiomem/.test((e as Error).message));
  // The real addon, for a chip that is not there (this machine's kernel has no GPIO): the error names it.
  const missing = { ...rpi4, gpioChip: '/dev/gpiochip99' };
  assert.throws(() => createLedDriver(missing, { exists: () => true }), (e: unknown) => e instanceof GpioUnavailable && /through \/dev\/gpiochip99 \(ENOENT\)/.test((e as Error).message));
});

test.run();
