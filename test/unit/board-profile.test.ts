import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProfileError, detectBoard, listProfiles, loadProfile, parseProfile, resolveBoard } from '../../firmware/hw/profile.ts';

const tmp = mkdtempSync(join(tmpdir(), 'confbox-profile-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

function profileError(fn: () => unknown): ProfileError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ProfileError) return e;
    throw e;
  }
  throw new Error('expected a ProfileError');
}

const good = () => JSON.parse(JSON.stringify(loadProfile('rpi4'))) as Record<string, any>;

test('every shipped profile loads, with four distinct pins', () => {
  const names = listProfiles();
  for (const n of ['mock', 'rpi3', 'rpi4', 'rpi5']) assert.ok(names.includes(n), `board/profiles/${n}.json is shipped`);
  for (const n of names) {
    const p = loadProfile(n);
    assert.is(p.name, n, `${n}.json names itself`);
    assert.is(new Set(Object.values(p.leds).map((l) => l.pin)).size, 4);
  }
  const rpi4 = loadProfile('rpi4');
  assert.equal(rpi4.leds.power, { pin: 17, activeLow: false });
  assert.equal(rpi4.audio, { capture: 'plughw:1,0', playback: 'plughw:1,0', echo: { tailMs: 100, delayMs: 30, noiseSuppressDb: 0 } }, 'the echo of the speaker is cancelled by default');
  assert.is(loadProfile('mock').audio, null, 'the mock board has no sound card');
});

test('a profile by path', () => {
  const file = join(tmp, 'custom.json');
  writeFileSync(file, JSON.stringify({ ...good(), name: 'custom' }));
  assert.is(loadProfile(file).name, 'custom');
});

test('a broken profile names the bad field', () => {
  const cases: [(p: Record<string, any>) => void, string][] = [
    [(p) => { p.leds.fault.pin = 'x'; }, 'leds.fault.pin: expected an integer 0..27, got "x"'],
    [(p) => { p.leds.sip.pin = 40; }, 'leds.sip.pin: expected an integer 0..27, got 40'],
    [(p) => { p.leds.power.pin = 1.5; }, 'leds.power.pin: expected an integer 0..27, got 1.5'],
    [(p) => { delete p.leds.conference; }, 'leds.conference: expected { "pin", "activeLow" }, got nothing'],
    [(p) => { p.leds.fault.pin = 17; }, 'leds.fault.pin: GPIO 17 is already the power LED'],
    [(p) => { p.leds.power.activeLow = 'yes'; }, 'leds.power.activeLow: expected true or false, got "yes"'],
    [(p) => { p.leds.status = { pin: 5 }; }, 'leds.status: unknown LED (expected power, sip, conference, fault)'],
    [(p) => { p.audio.capture = ''; }, 'audio.capture: expected a non-empty string, got ""'],
    [(p) => { p.audio = 'hw:1'; }, 'audio: expected { "capture", "playback" } or null, got "hw:1"'],
    [(p) => { delete p.name; }, 'name: expected a non-empty string, got nothing'],
    [(p) => { p.model = 4; }, 'model: expected a string, got 4'],
  ];
  for (const [breakIt, message] of cases) {
    const p = good();
    breakIt(p);
    assert.is(profileError(() => parseProfile(p)).message, message);
  }
  const file = join(tmp, 'broken.json');
  const p = good();
  p.leds.fault.pin = 'x';
  writeFileSync(file, JSON.stringify(p));
  const e = profileError(() => loadProfile(file));
  assert.is(e.field, 'leds.fault.pin');
  assert.is(e.message, `${file}: leds.fault.pin: expected an integer 0..27, got "x"`);
  writeFileSync(file, '{ "name": ');
  assert.match(profileError(() => loadProfile(file)).message, /broken\.json: not valid JSON/);
});

test('an unknown board name lists the known ones', () => {
  assert.match(profileError(() => loadProfile('rpi9')).message, /no board profile "rpi9" \(known: mock, rpi3, rpi4, rpi5\)/);
  assert.match(profileError(() => loadProfile('rpi 4')).message, /not a board name/);
});

test('detection from the device-tree model string', () => {
  const model = (s: string) => () => Buffer.from(s + '\0');
  assert.is(detectBoard(model('Raspberry Pi 4 Model B Rev 1.4')), 'rpi4');
  assert.is(detectBoard(model('Raspberry Pi 3 Model B Plus Rev 1.3')), 'rpi3');
  assert.is(detectBoard(model('Raspberry Pi 3 Model B Rev 1.2')), 'rpi3');
  assert.is(detectBoard(model('Raspberry Pi 5 Model B Rev 1.0')), 'rpi5');
  assert.is(detectBoard(model('Pine64 RockPro64')), 'mock');
  assert.is(detectBoard(model('')), 'mock', 'the mock profile\'s empty model never matches');
  assert.is(detectBoard(() => { throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' }); }), 'mock', 'no device tree: a PC or CI');
});

test('--board: given wins over detection; otherwise the detected profile', () => {
  const pi4 = () => 'Raspberry Pi 4 Model B Rev 1.1';
  assert.is(resolveBoard(undefined, pi4).name, 'rpi4');
  assert.is(resolveBoard('mock', pi4).name, 'mock');
  assert.is(resolveBoard(undefined, () => { throw new Error('ENOENT'); }).name, 'mock');
});

test.run();
