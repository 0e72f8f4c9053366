// The sounds the box ships: scripts/prompts.mjs generates them (espeak-ng, synthesis) and
// firmware/media/prompts.ts loads and composes them. Without espeak-ng the file declares its tests skipped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPrompts, numberWords, PROMPT_NAMES, PROMPT_RATE, type Prompts } from '../../firmware/media/prompts.ts';

const generator = fileURLToPath(new URL('../../scripts/prompts.mjs', import.meta.url));
const SPEECH = PROMPT_NAMES.filter((n) => !['join-tone', 'leave-tone', 'music'].includes(n));

interface RunSummary { outDir: string; cached: boolean; ms: number; espeak: string; clips: number; bytes: number }

function generate(dir: string, ...flags: string[]): RunSummary {
  const r = spawnSync(process.execPath, [generator, dir, '--json', ...flags], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prompts.mjs failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as RunSummary;
}

const db = (v: number) => 20 * Math.log10(Math.max(v, 1e-12));
const peak = (x: Int16Array) => x.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 32768;
const rms = (x: Int16Array, from = 0, to = x.length) => {
  let s = 0;
  for (let i = from; i < to; i++) s += ((x[i] ?? 0) / 32768) ** 2;
  return Math.sqrt(s / Math.max(1, to - from));
};
/** RMS over the 20 ms frames within 30 dB of the loudest (the generator's definition of speech loudness). */
const activeRms = (x: Int16Array) => {
  const frame = PROMPT_RATE / 50;
  const e: number[] = [];
  for (let i = 0; i + frame <= x.length; i += frame) e.push(rms(x, i, i + frame) ** 2);
  const gate = Math.max(...e) * 1e-3;
  const on = e.filter((v) => v >= gate);
  return Math.sqrt(on.reduce((a, b) => a + b, 0) / on.length);
};
/** Power of one frequency in x[from, to) (Goertzel), normalised so a full-scale sine gives about 0.25. */
const goertzel = (x: Int16Array, hz: number, from: number, to: number) => {
  const c = 2 * Math.cos((2 * Math.PI * hz) / PROMPT_RATE);
  let s1 = 0, s2 = 0;
  for (let i = from; i < to; i++) {
    const s0 = (x[i] ?? 0) / 32768 + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const n = to - from;
  return (s1 * s1 + s2 * s2 - c * s1 * s2) / (n * n);
};
const concat = (...parts: (Int16Array | null)[]) => {
  const out = new Int16Array(parts.reduce((n, p) => n + (p?.length ?? 0), 0));
  let at = 0;
  for (const p of parts) if (p) { out.set(p, at); at += p.length; }
  return out;
};
const ms = (n: number) => Math.round((n * PROMPT_RATE) / 1000);

let dir = '';
let cold: RunSummary;
let prompts: Prompts;
const must = (name: string): Int16Array => {
  const c = prompts.clip(name);
  if (!c) throw new Error(`clip ${name} missing`);
  return c;
};

const cases: Array<[string, () => void]> = [];
const add = (name: string, fn: () => void) => cases.push([name, fn]);

add('the generator writes every sound the firmware expects, at 8 kHz, and the catalogue loads cleanly', () => {
  assert.is(cold.cached, false);
  assert.is(cold.clips, PROMPT_NAMES.length);
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Record<string, { file: string; samples: number; rate: number }>;
  assert.equal(Object.keys(index).sort(), [...PROMPT_NAMES].sort());
  for (const [name, e] of Object.entries(index)) {
    assert.is(e.rate, PROMPT_RATE, name);
    assert.is(e.file, `${name}.raw`);
    assert.is(statSync(join(dir, e.file)).size, e.samples * 2, name);
  }
  assert.equal(prompts.problems, []);
  assert.equal([...prompts.names].sort(), [...PROMPT_NAMES].sort());
  assert.is(cold.bytes, Object.values(index).reduce((s, e) => s + e.samples * 2, 0));
});

add('speech clips: plausible length, peaks near -6 dBFS and never clipped, matched loudness, 80 ms of silence each end', () => {
  const loudness: number[] = [];
  for (const name of SPEECH) {
    const x = must(name);
    const seconds = x.length / PROMPT_RATE;
    assert.ok(seconds > 0.35 && seconds < 6, `${name}: ${seconds.toFixed(2)} s`);
    const p = db(peak(x));
    assert.ok(p > -9.5 && p < -5.5, `${name}: peak ${p.toFixed(1)} dBFS`);
    assert.ok(!x.some((v) => v >= 32767 || v <= -32768), `${name} is clipped`);
    const a = db(activeRms(x));
    assert.ok(a > -26 && a < -17, `${name}: active RMS ${a.toFixed(1)} dBFS`);
    loudness.push(a);
    // Silence at the ends, and speech right after it: the trim took espeak's own pauses away.
    assert.ok(peak(x.subarray(0, ms(75))) < 0.002, `${name}: leading 75 ms not silent`);
    assert.ok(peak(x.subarray(x.length - ms(75))) < 0.002, `${name}: trailing 75 ms not silent`);
    const loud = peak(x) * 0.01;
    const first = x.findIndex((v) => Math.abs(v) / 32768 > loud);
    const last = x.length - 1 - [...x].reverse().findIndex((v) => Math.abs(v) / 32768 > loud);
    assert.ok(first >= ms(80) && first < ms(130), `${name}: speech starts at ${(first / 8).toFixed(0)} ms`);
    assert.ok(x.length - last > ms(80) && x.length - last < ms(170), `${name}: speech ends ${((x.length - last) / 8).toFixed(0)} ms before the end`);
  }
  const spread = Math.max(...loudness) - Math.min(...loudness);
  assert.ok(spread < 3, `loudness spread ${spread.toFixed(1)} dB`);
});

add('tones and music: length and level', () => {
  for (const name of ['join-tone', 'leave-tone']) {
    const x = must(name);
    assert.ok(x.length >= ms(250) && x.length <= ms(350), `${name}: ${x.length} samples`);
    const p = db(peak(x));
    assert.ok(p > -15 && p < -9, `${name}: peak ${p.toFixed(1)} dBFS`);
    assert.is(x[0], 0, `${name} starts from silence`);
    assert.ok(Math.abs(x[x.length - 1] ?? 1) < 50, `${name} ends in silence`);
  }
  const m = must('music');
  const seconds = m.length / PROMPT_RATE;
  assert.ok(seconds >= 20 && seconds <= 30, `music: ${seconds} s`);
  const level = db(rms(m));
  assert.ok(Math.abs(level + 18) < 1.5, `music at ${level.toFixed(1)} dBFS RMS`);
  assert.ok(peak(m) < 0.7 && !m.some((v) => v >= 32767 || v <= -32768), 'music has headroom');
  // Music throughout, no gap: every second of it is well above silence.
  for (let s = 0; s + 1 <= seconds; s++) assert.ok(db(rms(m, s * PROMPT_RATE, (s + 1) * PROMPT_RATE)) > -30, `quiet second ${s}`);
});

add('the music loops without a click', () => {
  const m = must('music');
  const n = m.length;
  const diffs: number[] = [];
  for (let i = 1; i < n; i++) diffs.push(Math.abs((m[i] ?? 0) - (m[i - 1] ?? 0)));
  diffs.sort((a, b) => a - b);
  const p99 = diffs[Math.floor(diffs.length * 0.99)] ?? 0;
  const jump = Math.abs((m[0] ?? 0) - (m[n - 1] ?? 0));
  assert.ok(jump <= p99, `loop jump ${jump} > 99th percentile of sample steps ${p99}`);
  // The notes of the last bar ring on into the first: the start is not a fade-in from silence.
  assert.ok(db(rms(m, 0, ms(20))) > -36, 'the loop starts from silence');
  // The level around the loop point matches its neighbourhood (no dip or bump).
  const across = db(rms(concat(m.subarray(n - ms(100)), m.subarray(0, ms(100)))));
  const before = db(rms(m, n - ms(300), n - ms(100)));
  assert.ok(Math.abs(across - before) < 6, `level across the loop ${across.toFixed(1)} vs before ${before.toFixed(1)} dBFS`);
});

add('tones have their frequencies: join rises 660 → 880 Hz, leave falls 880 → 660 Hz', () => {
  const check = (name: string, a: number, b: number) => {
    const x = must(name);
    const early = [0, ms(100)] as const, late = [x.length - ms(100), x.length] as const;
    assert.ok(goertzel(x, a, ...early) > 20 * goertzel(x, b, ...early), `${name}: ${a} Hz leads`);
    assert.ok(goertzel(x, b, ...late) > 20 * goertzel(x, a, ...late), `${name}: ${b} Hz ends`);
    for (const off of [440, 1000, 1200, 2000]) {
      assert.ok(goertzel(x, a, ...early) > 50 * goertzel(x, off, ...early), `${name}: energy at ${off} Hz`);
    }
  };
  check('join-tone', 660, 880);
  check('leave-tone', 880, 660);
});

add('numbers are spoken as words', () => {
  assert.equal(numberWords(0), ['zero']);
  assert.equal(numberWords(2), ['two']);
  assert.equal(numberWords(13), ['thirteen']);
  assert.equal(numberWords(20), ['twenty']);
  assert.equal(numberWords(42), ['forty', 'two']);
  assert.equal(numberWords(100), ['one', 'hundred']);
  assert.equal(numberWords(120), ['one', 'hundred', 'twenty']);
  assert.equal(numberWords(200), ['two', 'hundred']);
  assert.equal(numberWords(1000), ['one', 'thousand']);
  assert.equal(numberWords(1440), ['one', 'thousand', 'four', 'hundred', 'forty']);
  assert.equal(numberWords(2005), ['two', 'thousand', 'five']);
  assert.equal(numberWords(999999), ['nine', 'hundred', 'ninety', 'nine', 'thousand', 'nine', 'hundred', 'ninety', 'nine']);
  assert.equal(numberWords(1234567), ['one', 'two', 'three', 'four', 'five', 'six', 'seven']);
  assert.equal(numberWords(-1), []);
  assert.equal(numberWords(2.5), []);
  for (let n = 0; n <= 1440; n++) for (const w of numberWords(n)) assert.ok(PROMPT_NAMES.includes(w), `${n}: ${w}`);
});

add('sentences are the clips one after another', () => {
  assert.equal(prompts.sentence([120]), concat(must('one'), must('hundred'), must('twenty')));
  assert.equal(prompts.sentence([1440]), concat(...['one', 'thousand', 'four', 'hundred', 'forty'].map(must)));
  assert.equal(prompts.created(2, 120), concat(must('conference-room'), must('two'), must('created-for'), must('one'), must('hundred'), must('twenty'), must('minutes')));
  assert.equal(prompts.created(7, 1), concat(must('conference-room'), must('seven'), must('created-for'), must('one'), must('minute')));
  assert.equal(prompts.sentence(['conference room', 2, 'no such clip', 'Created For', 120, 'minutes']), prompts.created(2, 120));
  assert.equal(prompts.deleted(200), concat(must('conference-room'), must('two'), must('hundred'), must('deleted')));
  assert.is(prompts.sentence(['nonsense', -3]).length, 0);
  assert.equal(prompts.participants(1), must('one-participant'));
  assert.equal(prompts.participants(3), concat(must('there-are'), must('three'), must('participants-in-conference')));
});

add('every phrase and rejection has something to say', () => {
  const codes = ['not-found', 'wrong-pin', 'exists', 'full', 'blocked', 'not-creator', 'unavailable', 'invalid', 'not-allowed'];
  const said = codes.map((c) => prompts.rejection(c));
  said.forEach((x, i) => assert.ok(x.length > ms(300), codes[i]));
  assert.is(new Set(said.map((x) => `${x.length}:${x[Math.floor(x.length / 2)]}`)).size, codes.length, 'each code its own words');
  assert.equal(prompts.rejection('not-found', 2), concat(must('conference-room'), must('two'), must('does-not-exist')));
  assert.equal(prompts.rejection('exists', 2), concat(must('conference-room'), must('two'), must('already-exists')));
  assert.equal(prompts.rejection('full', 12), concat(must('conference-room'), must('twelve'), must('is-full')));
  assert.equal(prompts.rejection('not-found'), must('not-found'));
  assert.equal(prompts.rejection('out-of-range'), prompts.rejection('invalid'));
  assert.equal(prompts.rejection('no-such-code'), must('menu-retry'));
  const phrases: Array<[string, Int16Array, string]> = [
    ['onlyParticipant', prompts.onlyParticipant(), 'only-participant'], ['oneMinute', prompts.oneMinute(), 'one-minute-warning'],
    ['ended', prompts.ended(), 'ended'], ['muted', prompts.muted(true), 'muted'], ['unmuted', prompts.muted(false), 'unmuted'],
    ['menuRoom', prompts.menuRoom(), 'menu-room'], ['menuPin', prompts.menuPin(), 'menu-pin'], ['menuRetry', prompts.menuRetry(), 'menu-retry'],
    ['goodbye', prompts.goodbye(), 'goodbye'], ['joinTone', prompts.joinTone(), 'join-tone'], ['leaveTone', prompts.leaveTone(), 'leave-tone'],
    ['music', prompts.music(), 'music'],
  ];
  for (const [what, x, clip] of phrases) {
    assert.ok(x.length > 0, what);
    assert.equal(x, must(clip), what);
  }
});

add('a missing or damaged catalogue gives problems and silence, never a throw', () => {
  const none = loadPrompts(join(dir, 'does-not-exist'));
  assert.ok(none.problems.length === 1 && /no prompt catalogue/.test(none.problems[0] ?? ''), none.problems.join('; '));
  assert.is(none.clip('goodbye'), null);
  assert.is(none.created(2, 120).length, 0);
  assert.is(none.rejection('full', 2).length, 0);
  assert.is(none.music().length, 0);
  assert.equal(none.names, []);

  const bad = mkdtempSync(join(tmpdir(), 'confbox-prompts-bad-'));
  try {
    writeFileSync(join(bad, 'index.json'), '{ not json');
    assert.match(loadPrompts(bad).problems.join('\n'), /unreadable/);
    writeFileSync(join(bad, 'index.json'), '[1, 2]');
    assert.match(loadPrompts(bad).problems.join('\n'), /not an object/);
    writeFileSync(join(bad, 'goodbye.raw'), Buffer.alloc(10));
    writeFileSync(join(bad, 'ended.raw'), Buffer.from([1, 0, 0xff, 0xff]));
    writeFileSync(join(bad, 'index.json'), JSON.stringify({
      goodbye: { file: 'goodbye.raw', samples: 100, rate: 8000 },
      ended: { file: 'ended.raw', samples: 2, rate: 8000 },
      music: { file: '../escape.raw', samples: 2, rate: 8000 },
      muted: { file: 'muted.raw', samples: 2, rate: 8000 },
      unmuted: { file: 'ended.raw', samples: 2, rate: 16000 },
      minutes: { file: 'ended.raw', samples: -1, rate: 8000 },
      minute: 'nope',
    }));
    const p = loadPrompts(bad);
    const text = p.problems.join('\n');
    assert.match(text, /"goodbye": goodbye\.raw has 10 bytes, index\.json says 200/);
    assert.match(text, /"music": file "\.\.\/escape\.raw" is not a plain \.raw file name/);
    assert.match(text, /"muted": muted\.raw is unreadable/);
    assert.match(text, /"unmuted": rate 16000 is not 8000/);
    assert.match(text, /"minutes": samples -1/);
    assert.match(text, /"minute": entry is not an object/);
    assert.match(text, /lacks .*goodbye/);
    assert.equal(p.clip('ended'), new Int16Array([1, -1]), 'little-endian samples');
    assert.is(p.clip('goodbye'), null);
    assert.equal(p.sentence(['ended', 'goodbye', 'ended']), new Int16Array([1, -1, 1, -1]));
    mkdirSync(join(bad, 'empty'));
    writeFileSync(join(bad, 'empty', 'index.json'), '{}');
    assert.match(loadPrompts(join(bad, 'empty')).problems.join('\n'), /lists no sounds/);
  } finally {
    rmSync(bad, { recursive: true, force: true });
  }
});

add('a second run uses the cache; a lost file or --force regenerates, byte for byte the same', () => {
  const index = readFileSync(join(dir, 'index.json'));
  const music = readFileSync(join(dir, 'music.raw'));
  const before = statSync(join(dir, 'goodbye.raw')).mtimeMs;
  const warm = generate(dir);
  assert.is(warm.cached, true);
  assert.is(warm.bytes, cold.bytes);
  assert.is(statSync(join(dir, 'goodbye.raw')).mtimeMs, before, 'nothing rewritten');

  const goodbye = readFileSync(join(dir, 'goodbye.raw'));
  unlinkSync(join(dir, 'goodbye.raw'));
  assert.is(generate(dir).cached, false);
  assert.equal(readFileSync(join(dir, 'goodbye.raw')), goodbye);
  assert.is(generate(dir).cached, true);

  assert.is(generate(dir, '--force').cached, false);
  assert.equal(readFileSync(join(dir, 'index.json')), index);
  assert.equal(readFileSync(join(dir, 'music.raw')), music);
});

add('without espeak-ng the generator names it, fails and writes nothing', () => {
  const out = join(dir, 'no-espeak');
  const r = spawnSync(process.execPath, [generator, out], { encoding: 'utf8', env: { ...process.env, PATH: '/nonexistent' } });
  assert.is(r.status, 2);
  assert.match(r.stderr, /espeak-ng is not installed/);
  assert.not.ok(existsSync(out), 'no output directory');
});

const espeak = spawnSync('espeak-ng', ['--version'], { encoding: 'utf8' });
if (espeak.error || espeak.status !== 0) {
  console.log(`confbox-skipped: ${cases.length} espeak-ng not installed (apt-get install espeak-ng, or scripts/setup-host.sh)`);
} else {
  dir = mkdtempSync(join(tmpdir(), 'confbox-prompts-'));
  cold = generate(dir);
  prompts = loadPrompts(dir);
  test.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, fn] of cases) test(name, fn);
  test.run();
}
