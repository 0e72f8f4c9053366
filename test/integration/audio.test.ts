// confbox-test: alone (it measures when sound arrives; a busy machine would move it)
// What callers hear (SPEC.md section 4, issue 3), end to end: the bundle, real SIP from the test phone, real G.711
// RTP over loopback from test/support/rtp.ts, and what each phone receives analysed (Goertzel, RMS).
// The box hangs up phones silent for 5 s here (rtpTimeoutSeconds), so every call keeps sending RTP (a tone or
// digital silence) from its answer until it is hung up, except the one that tests the timeout.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import {
  Callers, LEVEL, LEVEL_TOLERANCE_DB, OWN_MARGIN_DB, TONES, assertAnswered, fmt, levels, responses, type JoinOptions, type Member,
} from '../support/callers.ts';
import { parseSdp } from '../support/phone.ts';
import { RtpSender, activeMs, activity, dominantTone, longestActiveRunMs, meanToneLevel, rmsDbfs, scheduler, tonePresent, until } from '../support/rtp.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-audio-'));
let box: RunningBox;

const PIN = '1234';
const EXTENSIONS = Array.from({ length: 16 }, (_, i) => String(100 + i));
const password = (ext: string) => `pw-${ext}`;
const RTP_TIMEOUT_S = 5;
const callers = new Callers(() => box, password);
const dial = (ext: string, code: string, o?: JoinOptions) => callers.dial(ext, code, o);
const hangUp = (...ms: Member[]) => callers.hangUp(...ms);
const quiet = (m: Member, quietMs?: number, timeoutMs?: number) => callers.quiet(m, quietMs, timeoutMs);
const prompt = (m: Member, since: number, o?: { startMs?: number; minMs?: number; endMs?: number }) => callers.prompt(m, since, o);
const boxState = () => callers.boxState();

test.before(async () => {
  await configure(dataDir, [
    ...EXTENSIONS.map((n) => ['extension', 'add', n, '--password', password(n), '--name', `Extension ${n}`]),
    ['settings', 'set', 'rtpTimeoutSeconds', String(RTP_TIMEOUT_S)],
    ...[10, 11, 12, 13, 14, 15].map((id) => ['room', 'add', String(id), '--pin', PIN]),
  ]);
  box = await startBox({ dataDir, logLevel: 'debug' });
});

test.after(async () => {
  if (box && (box.proc.exitCode !== null || box.proc.signalCode !== null)) console.log(`${boxState()} before the end of the tests`);
  await callers.close();
  await box?.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
  removeDataDir(dataDir);
  if (scheduler.late || scheduler.skipped) console.log(`RTP scheduler: ${scheduler.late} late ticks, ${scheduler.skipped} skipped`);
});

// --- these work now ---

let room10: Member[] = [];

test('three callers each send a tone: each hears the other two at the sent level and not its own', async () => {
  room10 = [
    await dial('100', `*400*10*${PIN}`, { tone: TONES[0] }),
    await dial('101', `*400*10*${PIN}`, { tone: TONES[1] }),
    await dial('102', `*400*10*${PIN}`, { tone: TONES[2] }),
  ];
  room10.forEach(assertAnswered);
  const others = (i: number) => TONES.filter((_, j) => j !== i);
  const settled = await until(() => room10.every((m, i) => others(i).every((f) => tonePresent(m.rx.last(1000), f))), 10_000, 200);
  assert.ok(settled, `every caller hears the other two tones within 10 s: ${room10.map((m) => `${m.label}: ${fmt(levels(m.rx.last(1000)))}`).join(' | ')}`);
  const from = performance.now();
  await sleep(2000);
  const report: string[] = [];
  room10.forEach((m, i) => {
    const pcm = m.rx.pcmBetween(from, from + 2000);
    assert.ok(pcm.length >= 8 * 1500, `${m.label}: ≥ 1.5 s of audio in 2 s, got ${pcm.length / 8} ms`);
    const l = levels(pcm);
    const ownFreq = TONES[i]!;
    const own = l[ownFreq]!;
    report.push(`${m.label} hears ${fmt(l)}; RMS ${rmsDbfs(pcm).toFixed(1)} dBFS`);
    for (const f of others(i)) {
      assert.ok(Math.abs(l[f]! - LEVEL) <= LEVEL_TOLERANCE_DB, `${m.label}: ${f} Hz at ${l[f]!.toFixed(1)} dBFS, sent at ${LEVEL} (±${LEVEL_TOLERANCE_DB} dB); ${fmt(l)}`);
      assert.ok(own <= l[f]! - OWN_MARGIN_DB, `${m.label}: its own ${ownFreq} Hz at ${own.toFixed(1)} dBFS is not ${OWN_MARGIN_DB} dB under ${f} Hz (${l[f]!.toFixed(1)})`);
    }
  });
  console.log(`audio levels (sent ${LEVEL} dBFS each):\n  ${report.join('\n  ')}`);
});

test('*6 mutes a caller (the others stop hearing its tone, it still hears them); *6 again unmutes', async () => {
  assert.is(room10.length, 3, 'the previous test set up the room');
  const [a, b, c] = room10 as [Member & { tx: RtpSender }, Member, Member];
  const listeners = [b, c];
  try {
    const absent = (m: Member) => {
      const l = levels(m.rx.last(1000));
      const other = m === b ? l[1800]! : l[1000]!;
      return l[440]! <= other - OWN_MARGIN_DB;
    };
    await a.tx.dtmf('*6');
    const muted = await until(() => listeners.every(absent), 5000, 200);
    assert.ok(muted, `after *6 the others no longer hear 440 Hz: ${listeners.map((m) => `${m.label}: ${fmt(levels(m.rx.last(1000)))}`).join(' | ')}`);
    // The box may tell the caller "muted" first; after that the others are heard again.
    const hears = await until(() => tonePresent(a.rx.last(1000), 1000) && tonePresent(a.rx.last(1000), 1800), 8000, 200);
    assert.ok(hears, `the muted caller still hears the others: ${fmt(levels(a.rx.last(1000)))}`);

    await a.tx.dtmf('*6');
    const back = await until(() => listeners.every((m) => Math.abs(meanToneLevel(m.rx.last(1000), 440) - LEVEL) <= LEVEL_TOLERANCE_DB), 5000, 200);
    assert.ok(back, `after *6 again the others hear 440 Hz at about ${LEVEL} dBFS: ${listeners.map((m) => `${m.label}: ${fmt(levels(m.rx.last(1000)))}`).join(' | ')}`);
  } finally {
    await hangUp(...room10);
  }
});

test(`a caller whose RTP stops is hung up (BYE) after rtpTimeoutSeconds (${RTP_TIMEOUT_S} s); one who keeps sending is not`, async () => {
  const gone = await dial('103', `*400*11*${PIN}`);
  const stays = await dial('104', `*400*11*${PIN}`);
  assertAnswered(gone);
  assertAnswered(stays);
  try {
    await sleep(1000);
    gone.tx.stop();
    const stoppedAt = performance.now();
    await gone.call.waitForRequest('BYE', (RTP_TIMEOUT_S + 15) * 1000);
    const after = performance.now() - stoppedAt;
    // A lower bound only: a busy box may be late, never early.
    assert.ok(after >= (RTP_TIMEOUT_S - 1) * 1000, `BYE ${after.toFixed(0)} ms after the RTP stopped (timeout ${RTP_TIMEOUT_S} s)`);
    await sleep(1000);
    assert.not.ok(stays.call.received('BYE'), 'the caller who keeps sending RTP is not hung up');
  } finally {
    await hangUp(gone, stays);
  }
});

// --- being added to the firmware ---

test('a lone participant hears "you are the only participant", then waiting music (> 10 s, looped) until a second caller joins; then the music stops', async () => {
  const lone = await dial('105', `*400*12*${PIN}`);
  assertAnswered(lone);
  let second: Member | null = null;
  try {
    const started = await until(() => lone.rx.firstSoundAt(lone.answeredAt) !== null, 4000);
    assert.ok(started, `a spoken prompt within 4 s of the 200; received ${lone.rx.describe(lone.answeredAt)}`);
    const first = lone.rx.firstSoundAt(lone.answeredAt)!;
    // Prompt then music: sound (short pauses allowed) for more than 10 s in a row, broken off early if it stops.
    const stopped = await until(() => performance.now() - first > 3000 && activeMs(lone.rx.last(2000)) === 0, 13_000, 200);
    const longest = longestActiveRunMs(lone.rx.pcmBetween(first), { blockMs: 100, gapMs: 500 });
    assert.not.ok(stopped, `the sound went on for more than 10 s; it stopped (2 s of silence) after ${((performance.now() - first) / 1000).toFixed(1)} s; received ${lone.rx.describe(first)}`);
    assert.ok(longest > 10_000, `continuous sound (pauses ≤ 0.5 s) for more than 10 s, got ${longest} ms; received ${lone.rx.describe(first)}`);

    second = await dial('106', `*400*12*${PIN}`, { tone: 1000 });
    assertAnswered(second);
    await sleep(2500); // a join tone, if any, is over
    const s = second;
    const clean = () => {
      const pcm1 = lone.rx.last(1000);
      return tonePresent(pcm1, 1000, { withinDb: 1 }) && activeMs(pcm1, { ignoreTones: [1000], thresholdDbfs: -35, blockMs: 50 }) === 0;
    };
    const ok = await until(clean, 6000, 200);
    const pcm1 = lone.rx.last(1000);
    assert.ok(ok, `after the second caller joined, the first hears its 1000 Hz tone and no music: 1000 Hz at ${meanToneLevel(pcm1, 1000).toFixed(1)} dBFS, ` +
      `RMS ${rmsDbfs(pcm1).toFixed(1)} dBFS, ${activeMs(pcm1, { ignoreTones: [1000], thresholdDbfs: -35, blockMs: 50 })} ms of other sound in the last second`);
    assert.ok(Math.abs(meanToneLevel(pcm1, 1000) - LEVEL) <= LEVEL_TOLERANCE_DB, `1000 Hz at ${meanToneLevel(pcm1, 1000).toFixed(1)} dBFS`);
    assert.is(activeMs(s.rx.last(1000)), 0, `the second caller hears no music either: ${s.rx.describe(performance.now() - 1000)}`);
  } finally {
    await hangUp(lone, ...(second ? [second] : []));
  }
});

test('a rejection (*400*150*1234 from an extension, with an audio offer; no room 150, answered like a wrong PIN): 183 with SDP and spoken reason (> 0.5 s) before the 603', async () => {
  const m = await dial('107', `*400*150*${PIN}`, { finalTimeoutMs: 20_000 });
  const finalAt = m.answeredAt;
  assert.is(m.final.status, 603, responses(m));
  const progress = m.call.responses.find((r) => r.status === 183);
  assert.ok(progress, `183 Session Progress before the 603; responses: ${responses(m)}; RTP before the 603: ${m.rx.describe(0, finalAt)}`);
  assert.ok(m.call.responses.indexOf(progress) < m.call.responses.indexOf(m.final), `the 183 came before the 603: ${responses(m)}`);
  const sdp = parseSdp(progress.body);
  assert.ok(progress.contentType === 'application/sdp' && sdp && sdp.port > 0, `SDP in the 183: ${progress.contentType} ${progress.body}`);
  const heard = activeMs(m.rx.pcmBetween(0, finalAt));
  assert.ok(heard > 500, `speech (> 500 ms of sound) on port ${m.call.rtpPort} before the 603; received ${m.rx.describe(0, finalAt)}`);
});

test('create *401*7*1234*5: after 200/ACK the caller hears the spoken confirmation, then the box hangs up', async () => {
  const m = await dial('108', `*401*7*${PIN}*5`);
  assertAnswered(m);
  try {
    await m.call.waitForRequest('BYE', 20_000);
    const byeAt = performance.now();
    const heard = activeMs(m.rx.pcmBetween(m.answeredAt, byeAt));
    assert.ok(heard > 500, `speech (> 500 ms of sound) between the 200 and the BYE (${((byeAt - m.answeredAt) / 1000).toFixed(1)} s); received ${m.rx.describe(m.answeredAt, byeAt)}`);
  } finally {
    await hangUp(m);
  }
});

test('# in a call: the caller hears the participant count; the others do not', async () => {
  const a = await dial('109', `*400*13*${PIN}`);
  const b = await dial('110', `*400*13*${PIN}`);
  assertAnswered(a);
  assertAnswered(b);
  try {
    // Waiting music for the first, join tones: over before the key is pressed.
    assert.ok(await quiet(a) && await quiet(b), `both callers hear silence before #: ${a.rx.describe(performance.now() - 1000)} | ${b.rx.describe(performance.now() - 1000)}; ${boxState()}`);
    const t = performance.now();
    await a.tx.dtmf('#');
    const heard = await until(() => activeMs(a.rx.pcmBetween(t)) > 500, 8000);
    await sleep(1000);
    assert.ok(heard, `the caller who pressed # hears speech (> 500 ms of sound); received ${a.rx.describe(t)}`);
    assert.is(activeMs(b.rx.pcmBetween(t)), 0, `the other caller hears nothing of it; received ${b.rx.describe(t)}`);
  } finally {
    await hangUp(a, b);
  }
});

test('voice menu: *400 alone is answered with a room prompt; room digits #, PIN # join the room; a wrong PIN three times is hung up', async () => {
  const member = await dial('111', `*400*14*${PIN}`, { tone: 1000 });
  assertAnswered(member);
  const caller = await dial('112', '*400', { localAddress: '127.0.0.7' });
  let wrong: Member | null = null;
  try {
    assertAnswered(caller);
    const roomPrompt = await prompt(caller, caller.answeredAt);
    assert.is(roomPrompt, null, `the room prompt after the 200: ${roomPrompt}`);
    await caller.tx.dtmf('14#');
    const pinPrompt = await prompt(caller, performance.now());
    assert.is(pinPrompt, null, `the PIN prompt after the room number: ${pinPrompt}`);
    await caller.tx.dtmf(`${PIN}#`);
    const inRoom = await until(() => Math.abs(meanToneLevel(caller.rx.last(1000), 1000) - LEVEL) <= LEVEL_TOLERANCE_DB, 10_000, 200);
    assert.ok(inRoom, `after the PIN the caller is in room 14 and hears the member's 1000 Hz tone; last second: ${caller.rx.describe(performance.now() - 1000)}`);
    await hangUp(caller);

    wrong = await dial('113', '*400', { localAddress: '127.0.0.8' });
    assertAnswered(wrong);
    const w = wrong;
    const p0 = await prompt(w, w.answeredAt);
    assert.is(p0, null, `the room prompt: ${p0}`);
    // Whether the box asks again for the PIN or for the room, these entries make three wrong PINs.
    const entries = ['14#', '0000#', '14#', '0001#', '14#', '0002#'];
    const sent: string[] = [];
    for (const keys of entries) {
      if (w.call.received('BYE')) break;
      await w.tx.dtmf(keys);
      sent.push(keys);
      await prompt(w, performance.now(), { startMs: 4000 });
    }
    await w.call.waitForRequest('BYE', 20_000).catch(() => {
      throw new Error(`the box hangs up after three wrong PINs; sent ${sent.join(' ')}; received ${w.rx.describe(w.answeredAt)}`);
    });
    assert.not.ok(tonePresent(w.rx.pcmBetween(w.answeredAt), 1000, { withinDb: 3 }), 'the caller with the wrong PIN never heard the room');
  } finally {
    await hangUp(member, caller, ...(wrong ? [wrong] : []));
  }
});

test('join tone: the members of a room hear a short tone burst when another caller joins', async () => {
  const a = await dial('114', `*400*15*${PIN}`);
  const c = await dial('115', `*400*15*${PIN}`);
  assertAnswered(a);
  assertAnswered(c);
  let b: Member | null = null;
  try {
    assert.ok(await quiet(a), `the first member hears silence before the join: ${a.rx.describe(performance.now() - 1000)}; ${boxState()}`);
    const t = performance.now();
    b = await dial('100', `*400*15*${PIN}`);
    assertAnswered(b);
    const heard = await until(() => a.rx.firstSoundAt(t) !== null, 3000);
    assert.ok(heard, `a tone within 3 s of the join; received ${a.rx.describe(t)}`);
    assert.ok(await quiet(a, 1000, 5000), `the burst ends; received ${a.rx.describe(t)}`);
    const burst = a.rx.packetsBetween(t).filter((p) => activity(p.pcm)[0]?.active);
    const pcm = new Int16Array(burst.reduce((n, p) => n + p.pcm.length, 0));
    burst.reduce((o, p) => (pcm.set(p.pcm, o), o + p.pcm.length), 0);
    const ms = burst.length * 20;
    const tone = dominantTone(pcm);
    console.log(`join tone: ${ms} ms, strongest ${tone.freq} Hz at ${tone.dbfs.toFixed(1)} dBFS, RMS ${rmsDbfs(pcm).toFixed(1)} dBFS`);
    assert.ok(ms <= 2000, `a short burst, got ${ms} ms of sound`);
    assert.ok(tone.dbfs >= rmsDbfs(pcm) - 10, `a tone: ${tone.freq} Hz at ${tone.dbfs.toFixed(1)} dBFS in ${rmsDbfs(pcm).toFixed(1)} dBFS of sound`);
  } finally {
    await hangUp(a, c, ...(b ? [b] : []));
  }
});

test.run();
