#!/usr/bin/env node
// Generates the box's sounds into a directory (default dist/prompts): spoken prompts from espeak-ng,
// synthesised join/leave tones and waiting music, each as raw signed 16-bit little-endian mono PCM
// at 8000 Hz, plus index.json ({ name: { file, samples, rate } }) for firmware/media/prompts.ts.
//
//   node scripts/prompts.mjs [outDir] [--force] [--json] [--quiet]
//
// --force regenerates even when up to date; --json prints a one-line summary; --quiet says nothing when up to date.
//
// Deterministic: the same inputs give the same bytes. The output directory keeps a stamp of the
// inputs (this file and espeak-ng's version); when it matches and every file is there, nothing is done.
// Exit status 2 with a message naming espeak-ng when it is missing; build.mjs then builds without prompts.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const RATE = 8000;
const STAMP = '.inputs-sha256';

/** The voice and pace of every spoken clip: a clear American voice, a little slower than espeak's 175 wpm. */
const ESPEAK_ARGS = ['-v', 'en-us', '-s', '150', '-p', '45', '-a', '100', '-z', '--stdout'];

const ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven',
  'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'];
const TENS = ['twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/**
 * Clip name → the words espeak-ng says. Fragments, so the firmware composes sentences with numbers
 * ("conference-room" 2 "created-for" 120 "minutes"). Keep the names in step with PROMPT_NAMES in
 * firmware/media/prompts.ts (the unit test compares them).
 */
export const SPOKEN = {
  ...Object.fromEntries(ONES.map((w) => [w, w])),
  ...Object.fromEntries(TENS.map((w) => [w, w])),
  hundred: 'hundred',
  thousand: 'thousand',
  'conference-room': 'conference room',
  'created-for': 'created for',
  minutes: 'minutes',
  minute: 'minute',
  deleted: 'deleted',
  'does-not-exist': 'does not exist',
  'wrong-pin': 'wrong pin', // lower case: espeak-ng spells "PIN" letter by letter
  'already-exists': 'already exists',
  'is-full': 'is full',
  'not-creator': 'only the creator can delete this room',
  blocked: 'too many failed attempts, please try again later',
  'invalid-code': 'that is not a valid code',
  unavailable: 'the box cannot change rooms right now, please try again later',
  'not-allowed': 'this phone may not use the conference box',
  'not-found': 'not found',
  'only-participant': 'you are the only participant',
  'one-minute-warning': 'the conference ends in one minute',
  ended: 'the conference has ended',
  'there-are': 'there are',
  'participants-in-conference': 'participants in the conference',
  'one-participant': 'there is one participant in the conference',
  'on-hold': 'on hold',
  muted: 'you are muted',
  unmuted: 'you are no longer muted',
  'menu-room': 'please enter the room number, then press hash',
  'menu-pin': 'please enter the pin, then press hash',
  'menu-retry': 'sorry, that did not work',
  goodbye: 'goodbye',
  locked: 'this conference is locked',
  'conference-locked': 'the conference is now locked, nobody new can join',
  'conference-unlocked': 'the conference is open again',
  'all-muted': 'everyone else is muted',
  'all-unmuted': 'everyone else can speak again',
  'moderator-only': 'only the moderator can use this key',
  'removed-last': 'the last participant to join was removed',
  'nobody-to-remove': 'there is nobody to remove',
  'removed-by-moderator': 'the moderator removed you from the conference',
  'ended-by-moderator': 'the moderator has ended the conference',
  'you-are-moderator': 'you are the moderator, press star zero for the moderator keys',
  'help-mute': 'star six mutes or unmutes you',
  'help-count': 'hash tells how many are in the conference',
  'help-lock': 'star one locks or unlocks the conference',
  'help-mute-all': 'star two mutes or unmutes everyone else',
  'help-remove': 'star three removes the last participant to join',
  'help-end': 'star nine ends the conference for everyone',
  'help-record': 'star four starts or stops recording',
  'being-recorded': 'this conference is being recorded',
  'recording-stopped': 'the recording has stopped',
  'recording-refused': 'the recording could not start, the box is short of disk space',
  'waiting-for-moderator': 'please wait, the conference begins when the moderator joins',
  'moderator-joined': 'the moderator has joined, the conference begins',
  'moderator-left': 'the moderator has left, the conference ends in one minute',
  'help-invite': 'star five invites a phone to the conference',
  'invite-number': 'enter the extension to invite, then press hash',
  calling: 'calling',
  'invite-busy': 'the line is busy',
  'invite-no-answer': 'there was no answer',
  'invite-declined': 'the call was declined',
  'invite-unreachable': 'that extension cannot be reached',
  'invited-to': 'you are invited to conference room',
  'invited-by': 'by extension',
  'restarting-for-update': 'the conference box restarts now for a software update, please call again in a few minutes',
  'box-full': 'the conference box is full, please call again later',
  'press-one-to-join': 'press one to join',
};

/** Synthesised sounds (no espeak-ng). */
export const SYNTHESISED = ['join-tone', 'leave-tone', 'music'];

// Levels, in dBFS. Speech: loudness matched on active speech, peaks held at -6 dBFS.
const SPEECH_PEAK_DB = -6;
const SPEECH_ACTIVE_RMS_DB = -21;
const TONE_PEAK_DB = -12;
const MUSIC_RMS_DB = -18;
const PAD_MS = 80;

export class PromptError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PromptError';
  }
}

const dbToLinear = (db) => 10 ** (db / 20);

// ---------------------------------------------------------------- espeak-ng

/** espeak-ng's version line, or a PromptError saying how to install it. */
export function espeakVersion() {
  const r = spawnSync('espeak-ng', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error?.code === 'ENOENT' ? 'is not installed' : `does not run (${r.error?.message ?? `exit status ${r.status}`})`;
    throw new PromptError(`espeak-ng ${why}: the spoken prompts cannot be generated. Install the Debian package espeak-ng (scripts/setup-host.sh does).`);
  }
  // "eSpeak NG text-to-speech: 1.51  Data at: /usr/lib/..."; the data path does not change the sound.
  return r.stdout.split('\n')[0].replace(/\s+Data at:.*$/, '').trim();
}

function speak(text) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('espeak-ng', [...ESPEAK_ARGS, text], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    child.stdout.on('data', (b) => out.push(b));
    child.stderr.on('data', (b) => { err += b; });
    child.on('error', (e) => reject(new PromptError(`espeak-ng failed for "${text}": ${e.message}`)));
    child.on('close', (code) => {
      if (code !== 0) reject(new PromptError(`espeak-ng exited with status ${code} for "${text}": ${err.trim()}`));
      else {
        try {
          resolvePromise(parseWav(Buffer.concat(out), text));
        } catch (e) {
          reject(e);
        }
      }
    });
  });
}

/** 16-bit mono PCM WAV → { rate, samples: Float64Array in -1..1 }. Streams carry a bogus data size. */
export function parseWav(buf, what = 'WAV') {
  if (buf.length < 12 || buf.toString('latin1', 0, 4) !== 'RIFF' || buf.toString('latin1', 8, 12) !== 'WAVE') {
    throw new PromptError(`espeak-ng gave no WAV data for "${what}"`);
  }
  let rate = 0;
  for (let p = 12; p + 8 <= buf.length;) {
    const id = buf.toString('latin1', p, p + 4);
    const size = buf.readUInt32LE(p + 4);
    const body = p + 8;
    if (id === 'fmt ') {
      const format = buf.readUInt16LE(body), channels = buf.readUInt16LE(body + 2), bits = buf.readUInt16LE(body + 14);
      if (format !== 1 || channels !== 1 || bits !== 16) throw new PromptError(`espeak-ng WAV for "${what}" is not 16-bit mono PCM`);
      rate = buf.readUInt32LE(body + 4);
    } else if (id === 'data') {
      if (!rate) throw new PromptError(`espeak-ng WAV for "${what}" has data before its format`);
      const n = Math.max(0, (Math.min(buf.length, body + size) - body) >> 1);
      const samples = new Float64Array(n);
      for (let i = 0; i < n; i++) samples[i] = buf.readInt16LE(body + 2 * i) / 32768;
      return { rate, samples };
    }
    p = body + size + (size & 1);
  }
  throw new PromptError(`espeak-ng WAV for "${what}" has no data`);
}

// ---------------------------------------------------------------- DSP

function besselI0(x) {
  let sum = 1, term = 1;
  for (let k = 1; k < 50; k++) {
    term *= (x / (2 * k)) ** 2;
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

const gcd = (a, b) => (b ? gcd(b, a % b) : a);

/**
 * Rational-ratio resampler: a Kaiser-windowed sinc low-pass evaluated in polyphase form, one tap set per
 * output phase, each normalised to unity DC gain. The cutoff sits below the output Nyquist frequency so
 * the stop band (-80 dB) starts at it: 22050 → 8000 Hz passes to ~3.4 kHz and rejects from 4 kHz.
 */
export function resample(x, inRate, outRate, { cutoffHz = Math.min(inRate, outRate) * 0.4625, half = 96, beta = 8 } = {}) {
  if (inRate === outRate) return Float64Array.from(x);
  const g = gcd(inRate, outRate);
  const L = outRate / g, M = inRate / g;
  const fc = cutoffHz / inRate; // cycles per input sample
  const width = 2 * half;
  const i0beta = besselI0(beta);
  const phases = [];
  for (let p = 0; p < L; p++) {
    const taps = new Float64Array(width);
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const d = p / L + half - 1 - j; // distance of the output instant from input sample j
      const r = d / half;
      if (Math.abs(r) >= 1) continue;
      const arg = 2 * Math.PI * fc * d;
      const sinc = d === 0 ? 2 * fc : Math.sin(arg) / (Math.PI * d);
      taps[j] = sinc * (besselI0(beta * Math.sqrt(1 - r * r)) / i0beta);
      sum += taps[j];
    }
    for (let j = 0; j < width; j++) taps[j] /= sum;
    phases.push(taps);
  }
  const n = Math.floor(((x.length - 1) * L) / M) + 1;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const pos = i * M;
    const k0 = Math.floor(pos / L);
    const taps = phases[pos - k0 * L];
    const first = k0 - half + 1;
    let acc = 0;
    const jLo = Math.max(0, -first), jHi = Math.min(width, x.length - first);
    for (let j = jLo; j < jHi; j++) acc += taps[j] * x[first + j];
    y[i] = acc;
  }
  return y;
}

function peakOf(x) {
  let p = 0;
  for (let i = 0; i < x.length; i++) p = Math.max(p, Math.abs(x[i]));
  return p;
}

function rmsOf(x) {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s / Math.max(1, x.length));
}

/** RMS over the 20 ms frames within 30 dB of the loudest one: the loudness of the speech, not its pauses. */
export function activeRms(x, rate = RATE) {
  const frame = Math.round(rate * 0.02);
  const energies = [];
  for (let i = 0; i + frame <= x.length; i += frame) {
    let s = 0;
    for (let j = i; j < i + frame; j++) s += x[j] * x[j];
    energies.push(s / frame);
  }
  if (energies.length === 0) return rmsOf(x);
  const gate = Math.max(...energies) * 1e-3;
  const active = energies.filter((e) => e >= gate);
  return Math.sqrt(active.reduce((a, b) => a + b, 0) / active.length);
}

/** Cuts leading and trailing silence (below -45 dB of the peak, in 5 ms windows), keeping a short margin. */
function trimSilence(x, rate) {
  const win = Math.round(rate * 0.005);
  const threshold = peakOf(x) * dbToLinear(-45);
  let first = -1, last = -1;
  for (let i = 0; i < x.length; i += win) {
    let m = 0;
    for (let j = i; j < Math.min(x.length, i + win); j++) m = Math.max(m, Math.abs(x[j]));
    if (m >= threshold) {
      if (first < 0) first = i;
      last = Math.min(x.length, i + win);
    }
  }
  if (first < 0) return new Float64Array(0);
  const start = Math.max(0, first - win);
  const end = Math.min(x.length, last + 2 * win);
  const y = x.slice(start, end);
  fade(y, Math.round(rate * 0.003));
  return y;
}

/** Raised-cosine fade over n samples at both ends, so a cut never clicks. */
function fade(y, n) {
  const m = Math.min(n, Math.floor(y.length / 2));
  for (let i = 0; i < m; i++) {
    const g = 0.5 - 0.5 * Math.cos((Math.PI * (i + 0.5)) / m);
    y[i] *= g;
    y[y.length - 1 - i] *= g;
  }
}

function pad(x, ms, rate = RATE) {
  const n = Math.round((rate * ms) / 1000);
  const y = new Float64Array(x.length + 2 * n);
  y.set(x, n);
  return y;
}

/** Float -1..1 → signed 16-bit little-endian, rounded and saturated. */
function toPcm16(x) {
  const buf = Buffer.alloc(x.length * 2);
  for (let i = 0; i < x.length; i++) {
    const v = Math.round(x[i] * 32768);
    buf.writeInt16LE(v > 32767 ? 32767 : v < -32768 ? -32768 : v, 2 * i);
  }
  return buf;
}

/** espeak-ng output → 8 kHz, trimmed, loudness-matched with peaks held at -6 dBFS, 80 ms of silence each end. */
export function shapeSpeech(wav) {
  // A gentle DC and rumble cut (one-pole high-pass, ~60 Hz) before level measurement.
  const x = wav.samples;
  const a = Math.exp((-2 * Math.PI * 60) / wav.rate);
  const hp = new Float64Array(x.length);
  let prevIn = 0, prevOut = 0;
  for (let i = 0; i < x.length; i++) {
    prevOut = a * (prevOut + x[i] - prevIn);
    prevIn = x[i];
    hp[i] = prevOut;
  }
  const y = trimSilence(resample(hp, wav.rate, RATE), RATE);
  if (y.length === 0) return y;
  const limit = dbToLinear(SPEECH_PEAK_DB);
  // Gain for the loudness target, but never more than the limiter may take back (6 dB).
  const gain = Math.min(dbToLinear(SPEECH_ACTIVE_RMS_DB) / activeRms(y), (2 * limit) / peakOf(y));
  for (let i = 0; i < y.length; i++) y[i] *= gain;
  return pad(limitPeaks(y, limit, RATE), PAD_MS);
}

/**
 * Holds |y| ≤ limit with a smooth gain: the needed gain is min-filtered over ±h samples and then
 * averaged twice over h/2 + 1 samples, which stays at or under the needed gain at every sample (each
 * averaged value comes from windows that cover it) while changing over ~10 ms, not sample by sample.
 */
function limitPeaks(y, limit, rate) {
  const h = Math.round(rate * 0.005);
  const n = y.length;
  const need = new Float64Array(n);
  for (let i = 0; i < n; i++) need[i] = Math.min(1, limit / Math.max(1e-12, Math.abs(y[i])));
  const minned = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let m = 1;
    for (let j = Math.max(0, i - h); j <= Math.min(n - 1, i + h); j++) m = Math.min(m, need[j]);
    minned[i] = m;
  }
  const half = h >> 1;
  const average = (src) => {
    const dst = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0, c = 0;
      for (let j = i - half; j <= i + half; j++) { s += j >= 0 && j < n ? src[j] : 1; c++; }
      dst[i] = s / c;
    }
    return dst;
  };
  const g = average(average(minned));
  for (let i = 0; i < n; i++) y[i] = Math.max(-limit, Math.min(limit, y[i] * g[i]));
  return y;
}

// ---------------------------------------------------------------- synthesis

/** A struck note: 5 ms raised-cosine attack, exponential decay, 20 ms fade at its end. */
function chimeNote(out, startSec, freq, durSec, amp, { decay = 0.12, partials = [[1, 1], [2, 0.18], [3, 0.05]] } = {}) {
  const start = Math.round(startSec * RATE), n = Math.round(durSec * RATE);
  const attack = Math.round(0.005 * RATE), tail = Math.round(0.02 * RATE);
  for (let i = 0; i < n && start + i < out.length; i++) {
    const t = i / RATE;
    let env = Math.exp(-t / decay);
    if (i < attack) env *= 0.5 - 0.5 * Math.cos((Math.PI * i) / attack);
    if (i >= n - tail) env *= 0.5 - 0.5 * Math.cos((Math.PI * (n - i)) / tail);
    let s = 0;
    for (const [k, w] of partials) if (freq * k < RATE * 0.45) s += w * Math.sin(2 * Math.PI * freq * k * t);
    out[start + i] += amp * env * s;
  }
}

function normalisePeak(x, db) {
  const g = dbToLinear(db) / peakOf(x);
  for (let i = 0; i < x.length; i++) x[i] *= g;
  return x;
}

export const JOIN_TONE_HZ = [660, 880];

/** Join: a rising two-note chime, ~300 ms. Leave: the same falling. */
function twoNote([f1, f2]) {
  const x = new Float64Array(Math.round(0.3 * RATE));
  chimeNote(x, 0, f1, 0.22, 1);
  chimeNote(x, 0.13, f2, 0.17, 1);
  return normalisePeak(x, TONE_PEAK_DB);
}

const noteHz = (midi) => 440 * 2 ** ((midi - 69) / 12);

/**
 * Waiting music: a 24 s loop in C major, 80 beats a minute, one chord per bar (C Am F G C Em F G).
 * A soft pad holds each chord, a bass note marks it and a bell arpeggio moves over it. Every note is
 * written into a circular buffer (index modulo the length), so the tails of the last bar ring on into
 * the first and the loop point is as smooth as any other instant.
 */
function waitingMusic() {
  const beat = 60 / 80;
  const bar = 4 * beat;
  // Chord roots as MIDI notes with their triads (semitones above the root).
  const chords = [[60, [0, 4, 7]], [57, [0, 3, 7]], [53, [0, 4, 7]], [55, [0, 4, 7]],
    [60, [0, 4, 7]], [52, [0, 3, 7]], [53, [0, 4, 7]], [55, [0, 4, 7]]];
  const n = Math.round(chords.length * bar * RATE);
  const out = new Float64Array(n);
  const add = (startSec, durSec, fn) => {
    const start = Math.round(startSec * RATE), len = Math.round(durSec * RATE);
    for (let i = 0; i < len; i++) out[(start + i) % n] += fn(i / RATE, i, len);
  };
  // Band-limited soft triangle: odd harmonics at 1/k², only those well under 4 kHz.
  const triangle = (f, t) => {
    let s = 0;
    for (let k = 1; k <= 7 && f * k < 3400; k += 2) s += ((k % 4 === 1 ? 1 : -1) / (k * k)) * Math.sin(2 * Math.PI * f * k * t);
    return s;
  };
  const smooth = (i, a) => (i >= a ? 1 : 0.5 - 0.5 * Math.cos((Math.PI * i) / a));

  chords.forEach(([root, triad], c) => {
    const t0 = c * bar;
    // Pad: slow swell, held through the bar, released across the next bar's swell.
    const padLen = bar + 1.2;
    for (const iv of triad) {
      const f = noteHz(root + iv);
      add(t0, padLen, (t, i, len) => {
        const attack = 0.6 * RATE, release = 1.4 * RATE;
        const env = smooth(i, attack) * (i > len - release ? 0.5 + 0.5 * Math.cos((Math.PI * (i - (len - release))) / release) : 1);
        return 0.16 * env * triangle(f, t);
      });
    }
    // Bass: the root an octave down, on beats 1 and 3, as a soft plucked sine with its octave.
    for (const b of [0, 2]) {
      const f = noteHz(root - 12);
      add(t0 + b * beat, 2 * beat, (t, i, len) => {
        const env = smooth(i, 0.01 * RATE) * Math.exp(-t / 0.5) * smooth(len - i, 0.05 * RATE);
        return 0.32 * env * (Math.sin(2 * Math.PI * f * t) + 0.35 * Math.sin(4 * Math.PI * f * t));
      });
    }
    // Bells: an eighth-note arpeggio an octave up; the second half of each bar turns back down.
    const pattern = [0, 1, 2, 3, 2, 1, 2, 1];
    pattern.forEach((step, k) => {
      const semis = step === 3 ? 12 : triad[step];
      const f = noteHz(root + 12 + semis);
      const accent = k === 0 ? 1 : k % 2 === 0 ? 0.8 : 0.65;
      add(t0 + (k * beat) / 2, 1.2, (t, i, len) => {
        const env = smooth(i, 0.004 * RATE) * Math.exp(-t / 0.35) * smooth(len - i, 0.05 * RATE);
        return 0.14 * accent * env * (Math.sin(2 * Math.PI * f * t) + 0.12 * Math.sin(2 * Math.PI * 2 * f * t) + 0.04 * Math.sin(2 * Math.PI * 3 * f * t));
      });
    });
  });
  const g = dbToLinear(MUSIC_RMS_DB) / rmsOf(out);
  for (let i = 0; i < n; i++) out[i] *= g;
  return out;
}

// ---------------------------------------------------------------- the catalogue on disk

function inputsKey(version) {
  const h = createHash('sha256');
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  h.update('\0' + version + '\0' + JSON.stringify(ESPEAK_ARGS));
  return h.digest('hex');
}

/** True when outDir holds a complete catalogue made from these inputs. */
function upToDate(outDir, key) {
  try {
    if (readFileSync(join(outDir, STAMP), 'utf8').trim() !== key) return false;
    const index = JSON.parse(readFileSync(join(outDir, 'index.json'), 'utf8'));
    for (const name of [...Object.keys(SPOKEN), ...SYNTHESISED]) {
      const e = index[name];
      if (!e || statSync(join(outDir, e.file)).size !== e.samples * 2) return false;
    }
    return true;
  } catch {
    return false;
  }
}

async function mapLimit(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Writes the catalogue into outDir unless it is already up to date (or force).
 * Returns { outDir, cached, ms, espeak, clips: { name: { file, samples, rate } }, bytes }.
 * Throws PromptError (espeak-ng missing or failing); writes nothing then.
 */
export async function generatePrompts(outDir, { force = false } = {}) {
  const started = performance.now();
  const version = espeakVersion();
  const key = inputsKey(version);
  const summary = (cached, index) => {
    const bytes = Object.values(index).reduce((s, e) => s + e.samples * 2, 0);
    return { outDir, cached, ms: Math.round(performance.now() - started), espeak: version, clips: index, bytes };
  };
  if (!force && upToDate(outDir, key)) return summary(true, JSON.parse(readFileSync(join(outDir, 'index.json'), 'utf8')));

  const names = Object.keys(SPOKEN);
  const wavs = await mapLimit(names, Math.max(2, availableParallelism()), (name) => speak(SPOKEN[name]));
  const sounds = new Map();
  names.forEach((name, i) => {
    const pcm = shapeSpeech(wavs[i]);
    if (pcm.length === 0) throw new PromptError(`espeak-ng produced silence for "${SPOKEN[name]}"`);
    sounds.set(name, pcm);
  });
  sounds.set('join-tone', twoNote(JOIN_TONE_HZ));
  sounds.set('leave-tone', twoNote([...JOIN_TONE_HZ].reverse()));
  sounds.set('music', waitingMusic());

  mkdirSync(outDir, { recursive: true });
  try { unlinkSync(join(outDir, STAMP)); } catch { /* none yet */ }
  const index = {};
  for (const [name, x] of sounds) {
    const file = `${name}.raw`;
    writeFileSync(join(outDir, file), toPcm16(x));
    index[name] = { file, samples: x.length, rate: RATE };
  }
  // Raw files of clips that no longer exist would only confuse.
  for (const f of readdirSync(outDir)) if (f.endsWith('.raw') && !(f.slice(0, -4) in index)) unlinkSync(join(outDir, f));
  const tmp = join(outDir, `index.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(index, null, 2) + '\n');
  renameSync(tmp, join(outDir, 'index.json'));
  writeFileSync(join(outDir, STAMP), key + '\n'); // last: a half-written catalogue is never taken as current
  return summary(false, index);
}

// ---------------------------------------------------------------- command line

async function main(argv) {
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  for (const f of flags) if (!['--force', '--json', '--quiet'].includes(f)) {
    console.error(`prompts.mjs: unknown option ${f} (known: --force, --json, --quiet)`);
    return 64;
  }
  const positional = argv.filter((a) => !a.startsWith('--'));
  const outDir = resolve(positional[0] ?? fileURLToPath(new URL('../dist/prompts', import.meta.url)));
  try {
    const r = await generatePrompts(outDir, { force: flags.has('--force') });
    if (flags.has('--json')) {
      console.log(JSON.stringify({ outDir: r.outDir, cached: r.cached, ms: r.ms, espeak: r.espeak, clips: Object.keys(r.clips).length, bytes: r.bytes }));
    } else if (!(r.cached && flags.has('--quiet'))) {
      const what = r.cached ? 'up to date' : `${Object.keys(r.clips).length} sounds written`;
      console.log(`prompts.mjs: ${r.outDir}: ${what} (${(r.bytes / 1024).toFixed(0)} KiB, ${r.ms} ms, ${r.espeak})`);
    }
    return 0;
  } catch (e) {
    if (!(e instanceof PromptError)) throw e;
    console.error(`prompts.mjs: ${e.message}`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}
