// Recording a meeting, end to end: the bundle, real SIP and G.711 RTP from the test phone over loopback, the WAV file
// the box writes read back through the API and analysed (Goertzel, RMS). A room may record every meeting; a moderator
// starts and stops a recording with *4; the page and the API list, play, download and delete recordings; a disk guard
// refuses to start one below a free-space floor.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Callers, LEVEL, LEVEL_TOLERANCE_DB, assertAnswered, fmt, hears, levels, type Member } from '../support/callers.ts';
import { activeMs, scheduler, until } from '../support/rtp.ts';
import { firstAdmin, rawRequest, readBody, type WebClient } from '../support/web.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-recording-'));
let box: RunningBox;
let web: WebClient;
const password = (ext: string) => `pw-${ext}`;
const callers = new Callers(() => box, password);
const EXTENSIONS = Array.from({ length: 8 }, (_, i) => String(160 + i));
const PIN = '5829';
const MODERATOR_PIN = '7316';
const TONES = [440, 1000, 1800] as const;

test.before(async () => {
  await configure(dataDir, [
    ...EXTENSIONS.map((n) => ['extension', 'add', n, '--password', password(n), '--name', `Extension ${n}`]),
    ['room', 'add', '50', '--pin', PIN, '--max-participants', '5', '--keep', '--record'],
    ...[51, 52].map((id) => ['room', 'add', String(id), '--pin', PIN, '--moderator-pin', MODERATOR_PIN, '--max-participants', '5', '--keep']),
  ]);
  box = await startBox({ dataDir, logLevel: 'debug' });
  web = await firstAdmin(box, 'office-manager-2026');
});

test.after(async () => {
  await callers.close();
  await box?.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
  removeDataDir(dataDir);
  if (scheduler.late || scheduler.skipped) console.log(`RTP scheduler: ${scheduler.late} late ticks, ${scheduler.skipped} skipped`);
});

interface Recording { name: string; room: number; startedAt: string; seconds: number; bytes: number; active: boolean; url: string }

async function recordings(): Promise<Recording[]> {
  const r = await web.api('GET', '/api/recordings');
  assert.is(r.status, 200, r.text);
  return r.json as Recording[];
}

/** A recording's samples as the API serves them, at 8 kHz (every other sample: the callers' audio is narrowband). */
async function download(rec: Recording): Promise<{ pcm8k: Int16Array; contentType: string; rate: number }> {
  const res = await rawRequest(`${box.webUrl}${rec.url}?download`, { headers: { cookie: [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }, ca: box.certificate() });
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  const wav = Buffer.concat(chunks);
  assert.is(res.statusCode, 200, wav.toString('utf8', 0, 200));
  assert.match(String(res.headers['content-disposition']), /^attachment; filename="room-\d+-\d{8}-\d{6}(-\d+)?\.wav"$/);
  assert.is(wav.toString('ascii', 0, 4), 'RIFF');
  assert.is(wav.readUInt32LE(40), wav.length - 44, 'the header counts every sample in the file');
  const pcm = new Int16Array(wav.buffer.slice(wav.byteOffset + 44, wav.byteOffset + wav.length));
  return { pcm8k: pcm.filter((_, i) => i % 2 === 0), contentType: String(res.headers['content-type']), rate: wav.readUInt32LE(24) };
}


test('a room that records every meeting: the file starts with the spoken notice and holds the three callers\' tones at their levels', async () => {
  const a = await callers.dial('160', `*400*50*${PIN}`, { tone: TONES[0] });
  assertAnswered(a);
  const b = await callers.dial('161', `*400*50*${PIN}`, { tone: TONES[1] });
  const c = await callers.dial('162', `*400*50*${PIN}`, { tone: TONES[2] });
  try {
    for (const m of [b, c]) assertAnswered(m);
    const [live] = (await recordings()).filter((r) => r.room === 50);
    assert.ok(live, 'the recording is listed while the meeting runs');
    assert.ok(live!.active, 'as being written');
    const conf = (await web.api('GET', '/api/conferences')).json.find((x: { roomId: number }) => x.roomId === 50);
    assert.is(conf.recording, true, 'the conference shows that it is recorded');
    // A later joiner is told: b and c heard speech beyond the tones right after joining.
    for (const m of [b, c]) {
      const told = await until(() => activeMs(m.rx.pcmBetween(m.answeredAt, m.answeredAt + 4000), { ignoreTones: TONES }) > 800, 8000, 200);
      assert.ok(told, `${m.label} heard that the conference is being recorded: ${activeMs(m.rx.pcmBetween(m.answeredAt), { ignoreTones: TONES })} ms of speech`);
    }
    assert.ok(await until(() => TONES.every((f) => f === TONES[0] || hears(a, f)), 10_000, 200), `everyone is heard: ${fmt(levels(a.rx.last(1000)))}`);
    await sleep(6000);
  } finally {
    await callers.hangUp(a, b, c);
  }
  assert.ok(await until(() => box.output().includes('"msg":"recording stopped"'), 10_000, 200), 'the recording stops with the meeting');
  const [done] = (await recordings()).filter((r) => r.room === 50);
  assert.ok(done && !done.active, `the recording is finished: ${JSON.stringify(done)}`);
  const { pcm8k, contentType, rate } = await download(done!);
  assert.is(contentType, 'audio/wav');
  assert.is(rate, 16000);
  assert.ok(done!.seconds > 6, `several seconds were recorded (${done!.seconds} s)`);
  // The notice comes first: speech in the opening seconds, before the others' tones.
  const opening = pcm8k.subarray(0, 8000 * 3);
  const spoken = activeMs(opening, { ignoreTones: [TONES[0]] });
  assert.ok(spoken > 1000, `the recording opens with the spoken notice (${spoken} ms of speech in its first 3 s)`);
  // The last full seconds with all three callers: each tone at about the level it was sent.
  const tail = pcm8k.subarray(Math.max(0, pcm8k.length - 8000 * 3.5), pcm8k.length - 8000);
  const heard = levels(tail);
  console.log(`recording: ${done!.seconds} s, ${done!.bytes} bytes; opening ${spoken} ms of speech; tones ${fmt(heard)}`);
  for (const f of TONES) assert.ok(Math.abs((heard[f] ?? -120) - LEVEL) <= LEVEL_TOLERANCE_DB, `${f} Hz at ${LEVEL} dBFS ± ${LEVEL_TOLERANCE_DB} in the recording: ${fmt(heard)}`);
});

test('*4 from the moderator starts recording (everyone hears it, a later joiner too) and *4 again stops it; a caller who is not the moderator cannot', async () => {
  const chair = await callers.dial('163', `*400*51*${MODERATOR_PIN}`, { tone: 440 });
  const guest = await callers.dial('164', `*400*51*${PIN}`, { tone: 1000 });
  const late: Member[] = [];
  try {
    assertAnswered(chair);
    assertAnswered(guest);
    assert.ok(await until(() => hears(chair, 1000) && hears(guest, 440), 12_000, 200), `both hear each other: ${fmt(levels(chair.rx.last(1000)))}`);
    await sleep(2500); // past the moderator's greeting
    await guest.tx.dtmf('*4');
    await sleep(2500);
    assert.is((await recordings()).filter((r) => r.room === 51).length, 0, 'the guest\'s *4 started nothing');

    const started = box.waitForLog((rec) => rec.msg === 'recording started' && rec.room === 51, 10_000);
    const since = performance.now();
    await chair.tx.dtmf('*4');
    const startedRec = await started;
    const guestHeard = await until(() => activeMs(guest.rx.pcmBetween(since), { ignoreTones: [440, 1000] }) > 1000, 10_000, 200);
    assert.ok(guestHeard, `the guest heard that the conference is recorded: ${activeMs(guest.rx.pcmBetween(since), { ignoreTones: [440, 1000] })} ms of speech`);
    const newcomer = await callers.dial('165', `*400*51*${PIN}`, { tone: 1800 });
    late.push(newcomer);
    assertAnswered(newcomer);
    const told = await until(() => activeMs(newcomer.rx.pcmBetween(newcomer.answeredAt), { ignoreTones: TONES }) > 800, 8000, 200);
    assert.ok(told, `a later joiner is told on joining: ${activeMs(newcomer.rx.pcmBetween(newcomer.answeredAt), { ignoreTones: TONES })} ms of speech`);

    const [running] = (await recordings()).filter((r) => r.room === 51);
    const refused = await web.api('DELETE', `/api/recordings/${encodeURIComponent(running!.name)}`);
    assert.is(refused.status, 409, 'a recording being written cannot be deleted');
    assert.match(refused.json.error.message, /still being written/);

    const stopped = box.waitForLog((rec) => rec.msg === 'recording stopped' && rec.room === 51, 10_000);
    await chair.tx.dtmf('*4');
    const rec = await stopped;
    // The logged length is the time the recording ran: between the two log lines, give or take the rounding.
    const ran = (Date.parse(String(rec.time)) - Date.parse(String(startedRec.time))) / 1000;
    assert.ok(ran > 1, `the recording ran for a while (${ran} s)`);
    assert.ok(Math.abs(Number(rec.seconds) - ran) <= 1, `seconds recorded are logged (${rec.seconds} s for ${ran.toFixed(1)} s running): ${JSON.stringify(rec)}`);
    const [finished] = (await recordings()).filter((r) => r.room === 51);
    assert.is(finished!.active, false, 'the recording is finished though the meeting goes on');
    const conf = (await web.api('GET', '/api/conferences')).json.find((x: { roomId: number }) => x.roomId === 51);
    assert.is(conf.recording, false);
  } finally {
    await callers.hangUp(chair, guest, ...late);
  }
});

test('the disk guard: below the free-space floor *4 is refused (spoken and logged) and the API answers 507; nothing is written', async () => {
  const set = await web.api('PATCH', '/api/settings', { recordingMinFreeMb: 1_000_000 });
  assert.is(set.status, 200, set.text);
  const chair = await callers.dial('166', `*400*52*${MODERATOR_PIN}`, { tone: 440 });
  try {
    assertAnswered(chair);
    await sleep(4000); // past the greeting
    const refusedLog = box.waitForLog((rec) => rec.msg === 'recording refused' && rec.room === 52, 10_000);
    const since = performance.now();
    await chair.tx.dtmf('*4');
    const rec = await refusedLog;
    assert.match(String(rec.why), /MB free for recordings; at least 1000000 MB are needed/);
    const told = await until(() => activeMs(chair.rx.pcmBetween(since + 500)) > 1500, 10_000, 200);
    assert.ok(told, `the moderator heard why: ${chair.rx.describe(since)}`);
    const key = (await web.api('GET', '/api/conferences')).json.find((x: { roomId: number }) => x.roomId === 52).key;
    const api = await web.api('POST', `/api/conferences/${encodeURIComponent(key)}/recording`, { on: true });
    assert.is(api.status, 507, api.text);
    assert.match(api.json.error.message, /room 52 cannot be recorded: only \d+ MB free/);
    assert.is((await recordings()).filter((r) => r.room === 52).length, 0, 'no file was made');
  } finally {
    await callers.hangUp(chair);
    await web.api('PATCH', '/api/settings', { recordingMinFreeMb: 200 });
  }
});

test('API and page: start and stop from the API, the Recordings page lists it with a player, play by range, download, delete; bad names are 404', async () => {
  const chair = await callers.dial('167', `*400*52*${PIN}`, { tone: 1000 });
  try {
    assertAnswered(chair);
    const key = (await web.api('GET', '/api/conferences')).json.find((x: { roomId: number }) => x.roomId === 52).key;
    const on = await web.api('POST', `/api/conferences/${encodeURIComponent(key)}/recording`, { on: true });
    assert.is(on.status, 200, on.text);
    assert.is(on.json.recording, true);
    const bad = await web.api('POST', `/api/conferences/${encodeURIComponent(key)}/recording`, { on: 'yes' });
    assert.is(bad.status, 400);
    assert.is(bad.json.error.field, 'recording');
    await sleep(2000);
    const off = await web.api('POST', `/api/conferences/${encodeURIComponent(key)}/recording`, { on: false });
    assert.is(off.json.recording, false);
  } finally {
    await callers.hangUp(chair);
  }
  const [rec] = (await recordings()).filter((r) => r.room === 52);
  assert.ok(rec, 'listed');
  const page = await web.get('/recordings');
  assert.is(page.status, 200);
  assert.ok(page.text.includes(`data-recording="${rec!.name}"`), 'the page lists it');
  assert.match(page.text, new RegExp(`<audio controls preload="none" src="/recordings/${rec!.name.replace(/\./g, '\\.')}"`), 'with a player');
  // A player asks for a range.
  const part = await rawRequest(`${box.webUrl}/recordings/${rec!.name}`, { headers: { cookie: [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; '), range: 'bytes=0-43' }, ca: box.certificate() });
  const head = await readBody(part);
  assert.is(part.statusCode, 206);
  assert.is(part.headers['content-range'], `bytes 0-43/${rec!.bytes}`);
  assert.ok(head.startsWith('RIFF'));
  for (const name of ['..%2F..%2Fetc%2Fpasswd', 'room-52.wav', 'nothing']) {
    const r = await web.api('GET', `/api/recordings/${name}`);
    assert.is(r.status, 404, `${name}: ${r.text}`);
  }
  const anonymous = await rawRequest(`${box.webUrl}${rec!.url}`, { ca: box.certificate() });
  await readBody(anonymous);
  assert.is(anonymous.statusCode, 401, 'nobody without a session or token gets a recording');
  const del = await web.post(`/recordings/${encodeURIComponent(rec!.name)}/delete`, {});
  assert.is(del.status, 303);
  assert.is((await recordings()).filter((r) => r.room === 52).length, 0, 'deleted');
  const after = await web.get('/recordings');
  assert.match(after.text, /was deleted/);
});

test.run();
