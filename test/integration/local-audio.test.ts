// confbox-test: alone (the microphone and speaker run in real time; a busy machine would starve them)
// The box's own microphone and speaker (SPEC.md sections 4 and 6) end to end, with real ALSA and no sound card: a
// test-only ALSA configuration (ALSA_CONFIG_PATH in the box's environment) defines the file plugin over the null
// device as "the microphone" (it reads a 700 Hz tone file) and "the speaker" (it writes to a FIFO this test reads).
// The board profile given with --board names these devices; the setting localAudioRoom attaches them to room 10.
//  - baresip, a third-party phone, in room 10 hears the microphone; the speaker plays baresip; neither hears itself.
//  - the speaker is unplugged (its files vanish, its reader closes): reported, retried, the call goes on; plugged in
//    again, the room is heard again.
//  - a second box whose devices do not exist, or which has none at all, runs and says so.
import { createReadStream, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, type ReadStream } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { baresipMissing, startBaresip, type RunningBaresip } from '../support/baresip.ts';
import { answersOptions, configure, removeDataDir, runCli, startBox, type RunningBox } from '../support/box.ts';
import { existsSync } from 'node:fs';
import { connectStore } from '../../firmware/store/index.ts';
import { createLogger } from '../../firmware/log.ts';
import { WebClient } from '../support/web.ts';
import { Phone, type Call } from '../support/phone.ts';
import { RtpReceiver, RtpSender, amplitudeOf, concatPcm, dbfsOfAmplitude, meanToneLevel, toneLevel, until } from '../support/rtp.ts';

const WEB_PASSWORD = 'local-audio-admin';
const PIN = '1234';
/** The microphone's tone: a whole number of cycles per 20 ms, so a frame dropped for clock drift leaves no phase jump. */
const MIC_HZ = 700;
const CALLER_HZ = 1000;
const LEVEL = -12;
const LEVEL_TOLERANCE_DB = 3;
const OWN_MARGIN_DB = 30;
const RATE = 16000;

const dir = mkdtempSync(join(tmpdir(), 'confbox-local-audio-'));
const devDir = join(dir, 'dev');
const unplugged = join(dir, 'unplugged');
const fifo = join(devDir, 'speaker.fifo');
mkdirSync(devDir);
{
  // 5 minutes of microphone: longer than this file runs.
  const pcm = new Int16Array(RATE * 300);
  const a = amplitudeOf(LEVEL);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(a * Math.sin((2 * Math.PI * MIC_HZ * i) / RATE));
  writeFileSync(join(devDir, 'mic.raw'), pcm);
  execFileSync('mkfifo', [fifo]);
  writeFileSync(join(dir, 'asoundrc'), [
    `pcm.confbox_test_mic { type file slave.pcm { type null } file "/dev/null" infile "${devDir}/mic.raw" format "raw" }`,
    `pcm.confbox_test_speaker { type file slave.pcm { type null } file "${fifo}" format "raw" }`,
    // listed by ALSA (as aplay -L shows it), so the settings may name it
    `pcm.confbox_test_room_mic { type file slave.pcm { type null } file "/dev/null" infile "${devDir}/mic.raw" format "raw" hint { show on description "test room microphone" } }`,
    '',
  ].join('\n'));
  writeFileSync(join(dir, 'board.json'), JSON.stringify({
    name: 'test-board', model: '', comment: 'the test sound devices of local-audio.test.ts',
    leds: { power: { pin: 17 }, sip: { pin: 27 }, conference: { pin: 22 }, fault: { pin: 23 } },
    audio: { capture: 'confbox_test_mic', playback: 'confbox_test_speaker' },
  }));
}
const env = { ALSA_CONFIG_PATH: join(dir, 'asoundrc') };
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

/** What "the speaker" plays: the FIFO's bytes as 16 kHz samples, with arrival times. */
class Speaker {
  private readonly chunks: Array<{ at: number; pcm: Int16Array }> = [];
  private carry: Buffer = Buffer.alloc(0);
  private readonly stream: ReadStream;
  bytes = 0;

  constructor(path: string) {
    // Opening blocks (on a libuv thread) until the box opens the FIFO for writing.
    this.stream = createReadStream(path, { highWaterMark: 4096 });
    this.stream.on('data', (b: Buffer | string) => this.push(Buffer.from(b)));
    this.stream.on('error', () => undefined);
  }

  private push(b: Buffer): void {
    this.bytes += b.length;
    const all = this.carry.length ? Buffer.concat([this.carry, b]) : b;
    const n = all.length >> 1;
    const pcm = new Int16Array(n);
    for (let i = 0; i < n; i++) pcm[i] = all.readInt16LE(2 * i);
    this.carry = all.subarray(2 * n);
    this.chunks.push({ at: performance.now(), pcm });
  }

  between(from: number, to = Infinity): Int16Array {
    return concatPcm(this.chunks.filter((c) => c.at >= from && c.at < to).map((c) => c.pcm));
  }

  last(ms: number): Int16Array {
    return this.between(performance.now() - ms);
  }

  /** The reader goes away: the box's next write to the FIFO fails. */
  close(): void {
    this.stream.destroy();
  }
}

/** A tone's level (dBFS) in 16 kHz audio: the mean power over 200 ms blocks. */
function level16k(pcm: Int16Array, freq: number): number {
  const block = RATE / 5;
  if (pcm.length < block) return toneLevel(pcm, freq, RATE);
  let power = 0;
  let n = 0;
  for (let s = 0; s + block <= pcm.length; s += block, n++) power += amplitudeOf(toneLevel(pcm.subarray(s, s + block), freq, RATE)) ** 2;
  return dbfsOfAmplitude(Math.sqrt(power / n));
}

let box: RunningBox | undefined;
let dataDir = '';
let speaker: Speaker | null = null;
let bare: RunningBaresip | undefined;
const phones: Phone[] = [];
const calls: Call[] = [];
const senders: RtpSender[] = [];

type Rec = Record<string, unknown>;

/** The box's log records printed since `mark` (a length of its output) that pass the test. */
function logsSince(b: RunningBox, mark: number, pass: (r: Rec) => boolean): Rec[] {
  return b.output().slice(mark).split('\n').filter((l) => l.startsWith('{') && l.endsWith('}')).map((l) => JSON.parse(l) as Rec).filter(pass);
}

/** The first record since `mark` that passes, waiting for it if it has not been printed yet. */
async function logSince(b: RunningBox, mark: number, pass: (r: Rec) => boolean, what: string, timeoutMs = 10_000): Promise<Rec> {
  const found = await until(() => logsSince(b, mark, pass).length > 0, timeoutMs, 100);
  assert.ok(found, `the box logged ${what} within ${timeoutMs} ms; its last lines:\n${b.output().slice(-3000)}`);
  return logsSince(b, mark, pass)[0]!;
}

const msg = (text: string) => (r: Rec) => r.msg === text;

test.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'confbox-local-audio-box-'));
  await configure(dataDir, [
    ['extension', 'add', '100', '--password', 's3cret'],
    ['extension', 'add', '101', '--password', 'pw-101'],
    ['room', 'add', '10', '--pin', PIN],
    ['settings', 'set', 'localAudioRoom', '10'],
    ['admin', 'set-password', '--password', WEB_PASSWORD],
    // baresip 1.0 (Debian 12) knows only MD5 and fails on a SHA-256 challenge listed first.
    ['settings', 'set', 'digestAlgorithms', 'MD5'],
  ]);
  speaker = new Speaker(fifo);
  box = await startBox({ dataDir, logLevel: 'debug', env, extraArgs: ['--board', join(dir, 'board.json')] });
});

test.after(async () => {
  bare?.kill();
  for (const s of senders) s.stop();
  for (const c of calls) if (!c.ended && !c.received('BYE')) await c.bye(2000).catch(() => undefined);
  for (const p of phones) p.close();
  await box?.stop();
  speaker?.close();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
  if (dataDir) removeDataDir(dataDir);
});

const missing = baresipMissing();
if (missing) console.log(`confbox-skipped: 1 ${missing}`);
else {
  test('baresip in the attached room hears the microphone, the speaker plays baresip, neither hears itself; the room counts it', async () => {
    const ready = await logSince(box!, 0, msg('local audio ready'), 'local audio ready');
    assert.match(String(ready.devices), /microphone "confbox_test_mic", speaker "confbox_test_speaker" at 16000 Hz/);
    const mark = box!.output().length;
    const b = await startBaresip({ boxPort: box!.sipPort, user: '100', password: 's3cret', dial: `*400*10*${PIN}`, toneHz: CALLER_HZ, seconds: 12 });
    bare = b;
    await b.waitFor(/Call established/, 10_000);
    const joined = await logSince(box!, mark, msg('local audio joined the conference'), 'that local audio joined');
    assert.is(joined.room, 10);
    assert.is(joined.participants, 2, 'the local leg is the second participant');

    await sleep(1500);
    const from = performance.now();
    await sleep(4000);
    const played = speaker!.between(from, performance.now());
    const result = await b.done();
    const left = await logSince(box!, mark, msg('local audio left the conference'), 'that local audio left');
    assert.is(left.ended, true, 'when baresip hangs up, the local leg leaves and the conference ends');
    await logSince(box!, mark, (r) => r.msg === 'room deleted: last participant left' && r.room === 10, 'that room 10 was deleted');

    assert.ok(result.received && result.sent, `baresip wrote its WAV dumps; output:\n${result.output.slice(-1500)}`);
    const rec = result.received!;
    const end = rec.pcm.length - 4000;
    const heardByBaresip = rec.pcm.subarray(Math.max(0, end - 4 * 8000), end);
    const bSent = meanToneLevel(result.sent!.pcm.subarray(8000), CALLER_HZ);
    const bHearsMic = meanToneLevel(heardByBaresip, MIC_HZ);
    const bHearsSelf = meanToneLevel(heardByBaresip, CALLER_HZ);
    const spkCaller = level16k(played, CALLER_HZ);
    const spkMic = level16k(played, MIC_HZ);
    console.log(`microphone ${MIC_HZ} Hz at ${LEVEL} dBFS, baresip ${CALLER_HZ} Hz at ${bSent.toFixed(1)} dBFS; ` +
      `baresip hears the microphone at ${bHearsMic.toFixed(1)}, itself at ${bHearsSelf.toFixed(1)}; ` +
      `the speaker plays baresip at ${spkCaller.toFixed(1)}, the microphone at ${spkMic.toFixed(1)} (${played.length / RATE} s)`);
    assert.ok(heardByBaresip.length >= 3 * 8000, `≥ 3 s of audio received by baresip, got ${rec.pcm.length / 8000} s in all`);
    assert.ok(Math.abs(bHearsMic - LEVEL) <= LEVEL_TOLERANCE_DB, `baresip hears the microphone's ${MIC_HZ} Hz at ${bHearsMic.toFixed(1)} dBFS, recorded at ${LEVEL}`);
    assert.ok(bHearsSelf <= bHearsMic - OWN_MARGIN_DB, `baresip does not hear itself (${bHearsSelf.toFixed(1)} dBFS)`);
    assert.ok(played.length >= 3 * RATE, `the speaker got ≥ 3 s of audio in 4 s, got ${played.length / RATE} s`);
    assert.ok(Math.abs(spkCaller - bSent) <= LEVEL_TOLERANCE_DB, `the speaker plays baresip's ${CALLER_HZ} Hz at ${spkCaller.toFixed(1)} dBFS, sent at ${bSent.toFixed(1)}`);
    assert.ok(spkMic <= spkCaller - OWN_MARGIN_DB, `the speaker does not play the microphone (${spkMic.toFixed(1)} dBFS)`);
  });
}

test('the speaker is unplugged: reported and retried while the call goes on; plugged in again, the room is heard again', async () => {
  await configure(dataDir, [['room', 'add', '10', '--pin', PIN]]);
  const phone = await Phone.open({ boxPort: box!.sipPort, user: '101', password: 'pw-101' });
  phones.push(phone);
  const call = await phone.invite(`*400*10*${PIN}`, { codecs: ['PCMU'] });
  calls.push(call);
  const rx = new RtpReceiver(call.rtp!);
  rx.backfill(call.rtpIn);
  const final = await call.final(10_000);
  assert.is(final.status, 200, final.describe());
  const answer = call.answer!;
  const tx = new RtpSender(call.rtp!, { address: answer.address!, port: answer.port, payloadType: Number(answer.formats[0]) }).tone(CALLER_HZ, LEVEL);
  senders.push(tx);
  const hearsEachOther = () => Math.abs(level16k(speaker!.last(1000), CALLER_HZ) - LEVEL) <= LEVEL_TOLERANCE_DB &&
    Math.abs(meanToneLevel(rx.last(1000), MIC_HZ) - LEVEL) <= LEVEL_TOLERANCE_DB;
  assert.ok(await until(hearsEachOther, 10_000), `the speaker plays the phone and the phone hears the microphone: ` +
    `speaker ${level16k(speaker!.last(1000), CALLER_HZ).toFixed(1)} dBFS, phone ${meanToneLevel(rx.last(1000), MIC_HZ).toFixed(1)} dBFS`);

  const unplug = box!.output().length;
  renameSync(devDir, unplugged); // the card's devices vanish ...
  speaker!.close(); // ... and nothing takes its sound any more
  const lost = await logSince(box!, unplug, (r) => r.msg === 'local audio unavailable; the box runs without it' && /lost/.test(String(r.reason)), 'the lost speaker');
  assert.match(String(lost.reason), /speaker "confbox_test_speaker" lost/);
  const left = await logSince(box!, unplug, msg('local audio left the conference'), 'that local audio left');
  assert.is(left.ended, false, 'the phone stays in its conference');
  const retried = msg('local audio devices tried again');
  assert.ok(await until(() => logsSince(box!, unplug, retried).length >= 2, 20_000, 200), 'reopening is tried again and again');
  const retries = logsSince(box!, unplug, retried);
  assert.match(String(retries[retries.length - 1]!.reason), /cannot be opened: No such file or directory/);
  await answersOptions(box!.sipPort, 5000);
  assert.ok(!call.received('BYE') && box!.proc.exitCode === null, 'the call and the box go on');

  const replug = box!.output().length;
  renameSync(unplugged, devDir); // plugged in again
  speaker = new Speaker(fifo);
  await logSince(box!, replug, msg('local audio ready'), 'local audio ready again', 40_000);
  const back = await logSince(box!, replug, msg('local audio joined the conference'), 'that local audio joined again');
  assert.is(back.participants, 2);
  assert.ok(await until(hearsEachOther, 10_000), `after the replug the speaker plays the phone and the phone hears the microphone again: ` +
    `speaker ${level16k(speaker.last(1000), CALLER_HZ).toFixed(1)} dBFS, phone ${meanToneLevel(rx.last(1000), MIC_HZ).toFixed(1)} dBFS`);

  // The web page shows the room microphone as a participant and mutes it for real; it cannot be hung up.
  const web = new WebClient(box!.webUrl, box!.certificate());
  assert.is((await web.login(WEB_PASSWORD)).status, 303);
  const status = (await web.api('GET', '/api/status')).json;
  assert.equal([status.localAudio, status.localAudioRoom, status.localAudioInConference], ['ok', 10, true]);
  assert.match((await web.get('/status')).text, /Local audio<\/dt><dd><span class="badge ok">ok<\/span> room 10, in the conference now/);
  const conf = ((await web.api('GET', '/api/conferences')).json as Array<any>).find((c) => c.roomId === 10);
  const local = conf.participants.find((p: any) => p.local);
  assert.ok(local, JSON.stringify(conf));
  const path = `/api/conferences/${encodeURIComponent(conf.key)}/participants/${encodeURIComponent(local.id)}`;
  assert.is((await web.api('PATCH', path, { muted: true })).status, 200);
  assert.ok(await until(() => meanToneLevel(rx.last(1000), MIC_HZ) < LEVEL - OWN_MARGIN_DB, 10_000), 'muted on the page, the phone no longer hears the microphone');
  assert.ok(Math.abs(level16k(speaker.last(1000), CALLER_HZ) - LEVEL) <= LEVEL_TOLERANCE_DB, 'the speaker still plays the phone');
  assert.is((await web.api('PATCH', path, { muted: false })).status, 200);
  assert.ok(await until(hearsEachOther, 10_000), 'unmuted, the phone hears the microphone again');
  const removed = await web.api('DELETE', path);
  assert.is(removed.status, 409);
  assert.match(removed.json.error.message, /cannot be hung up/);
  assert.not.ok((await web.get('/live')).text.includes(`${encodeURIComponent(local.id)}/remove`), 'no Remove button for it');

  tx.stop();
  await call.bye();
});

test('a box whose sound devices do not exist runs without local audio and says why; one without any says it has no sound card', async () => {
  const other = mkdtempSync(join(tmpdir(), 'confbox-local-audio-none-'));
  let b2: RunningBox | undefined;
  try {
    await configure(other, [
      ['extension', 'add', '100', '--password', 's3cret'],
      ['room', 'add', '10', '--pin', PIN],
      ['settings', 'set', 'localAudioRoom', '10'],
      ['settings', 'set', 'localAudioCapture', 'hw:CARD=NoSuchCard,DEV=0'],
      ['settings', 'set', 'localAudioPlayback', 'plughw:7,0'],
    ]);
    b2 = await startBox({ dataDir: other, logLevel: 'debug', env, extraArgs: ['--board', 'mock'] });
    const why = await logSince(b2, 0, msg('local audio unavailable; the box runs without it'), 'that local audio is unavailable');
    assert.match(String(why.reason), /capture device "hw:CARD=NoSuchCard,DEV=0" cannot be opened/);
    const phone = await Phone.open({ boxPort: b2.sipPort, user: '100', password: 's3cret' });
    phones.push(phone);
    const call = await phone.invite(`*400*10*${PIN}`, { codecs: ['PCMU'] });
    const final = await call.final(10_000);
    assert.is(final.status, 200, `calls work: ${final.describe()}`);
    const join = await logSince(b2, 0, msg('call join'), 'the join');
    assert.match(String(join.reason), /1 in the room/, 'the missing devices take no place in the room');
    assert.is(logsSince(b2, 0, msg('local audio joined the conference')).length, 0);
    await call.bye();

    const mark = b2.output().length;
    await configure(other, [['settings', 'set', 'localAudioCapture', 'board'], ['settings', 'set', 'localAudioPlayback', 'board']]);
    const none = await logSince(b2, mark, (r) => /local audio unavailable/.test(String(r.msg)) && /no sound card/.test(String(r.reason)), 'that there is no sound card', 15_000);
    assert.match(String(none.reason), /the board profile "mock" names no ALSA devices/);
  } finally {
    await b2?.stop();
    removeDataDir(other);
  }
});

test('device names that would run a command are refused by the command line and the web API; one stored by other means never runs', async () => {
  const other = mkdtempSync(join(tmpdir(), 'confbox-local-audio-attack-'));
  const marker = join(other, 'ran');
  const attack = `file:'|touch\${IFS}${marker}',raw`;
  let b2: RunningBox | undefined;
  try {
    await configure(other, [
      ['extension', 'add', '100', '--password', 's3cret'],
      ['room', 'add', '11', '--pin', PIN],
      ['settings', 'set', 'localAudioRoom', '11'],
      ['settings', 'set', 'digestAlgorithms', 'MD5'],
      ['admin', 'set-password', '--password', WEB_PASSWORD],
    ]);
    const cli = await runCli(other, ['settings', 'set', 'localAudioCapture', attack], env);
    assert.is.not(cli.code, 0, 'the command line refuses it');
    assert.match(cli.stderr, /localAudioCapture must be an ALSA device name/);
    const plugin = await runCli(other, ['settings', 'set', 'localAudioPlayback', 'file:x,raw'], env);
    assert.is.not(plugin.code, 0, 'a plugin with simple arguments too');
    assert.match(plugin.stderr, /localAudioPlayback "file:x,raw" is not a sound device of this box/);
    const listed = await runCli(other, ['settings', 'set', 'localAudioCapture', 'confbox_test_room_mic'], env);
    assert.is(listed.code, 0, `a device ALSA lists is taken: ${listed.stderr}`);

    b2 = await startBox({ dataDir: other, logLevel: 'debug', env, extraArgs: ['--board', join(dir, 'board.json')] });
    const web = new WebClient(b2.webUrl, b2.certificate());
    assert.is((await web.login(WEB_PASSWORD)).status, 303);
    for (const [name, value] of <Array<[string, string]>>[['localAudioCapture', attack], ['localAudioPlayback', 'file:x,raw'], ['localAudioPlayback', 'tee:{type file}']]) {
      const r = await web.api('PATCH', '/api/settings', { [name]: value });
      assert.is(r.status, 400, `PATCH ${name}=${value} is refused`);
      assert.is(r.json.error.field, name);
    }
    const settings = (await web.api('GET', '/api/settings')).json;
    assert.is(settings.localAudioCapture, 'confbox_test_room_mic', 'nothing stored before was changed');
    assert.is(settings.localAudioPlayback, '');

    // A value stored by other means (an older firmware, a shared database) is refused where the devices are opened.
    const mark = b2.output().length;
    const { store } = await connectStore({ dataDir: other, attach: true, log: createLogger('silent') });
    await store.settings.set('localAudioCapture', attack);
    await store.close();
    const refused = await logSince(b2, mark, msg('local audio device refused'), 'that the stored device is refused', 15_000);
    assert.is(refused.setting, 'localAudioCapture');
    const phone = await Phone.open({ boxPort: b2.sipPort, user: '100', password: 's3cret' });
    phones.push(phone);
    const call = await phone.invite(`*400*11*${PIN}`, { codecs: ['PCMU'] });
    assert.is((await call.final(10_000)).status, 200);
    await sleep(3000);
    const status = (await web.api('GET', '/api/status')).json;
    assert.is(status.localAudio, 'unavailable');
    assert.match(String(status.localAudioReason), /localAudioCapture ".*" is not a sound device of this box/);
    assert.not.ok(existsSync(marker), 'the command in the device name never ran');
    await call.bye();
  } finally {
    await b2?.stop();
    removeDataDir(other);
  }
});

test.run();
