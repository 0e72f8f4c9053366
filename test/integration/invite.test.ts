// Inviting by phone, end to end: the bundle, a moderator and a participant on the test phone with real G.711 RTP,
// and SIPp as the invited desk phones (registered for their extensions). *5, the extension and # make the box call
// it with the room as caller name; an answering phone hears the invitation, presses 1 and is heard in the room (SIPp
// echoes what it hears, so the moderator hears its own tone come back through the invited phone); a busy phone and
// one that rings unanswered (the box sends CANCEL) are spoken back to the moderator. The API invites too.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Callers, LEVEL, assertAnswered, fmt, levels, type Member } from '../support/callers.ts';
import { Phone } from '../support/phone.ts';
import { testsNeeding } from '../support/requirements.ts';
import { activeMs, meanToneLevel, scheduler, until } from '../support/rtp.ts';
import { sippAvailable, startSipp, type SippHandle, type SippResult } from '../support/sipp.ts';
import { firstAdmin, type WebClient } from '../support/web.ts';

const TESTS = 5;
const { enabled, t } = testsNeeding(TESTS, sippAvailable() ? null : 'SIPp (sip-tester) is not installed');

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-invite-'));
let box: RunningBox;
let web: WebClient;
const password = (ext: string) => `pw-${ext}`;
const callers = new Callers(() => box, password);
const phones: Phone[] = [];
const PIN = '4187';
const MODERATOR_PIN = '9263';

test.before(async () => {
  if (!enabled) return;
  await configure(dataDir, [
    ...['170', '171', '172', '173', '174', '175'].map((n) => ['extension', 'add', n, '--password', password(n), '--name', `Desk ${n}`]),
    ...[60, 61].map((id) => ['room', 'add', String(id), '--pin', PIN, '--moderator-pin', MODERATOR_PIN, '--max-participants', '5', '--keep']),
  ]);
  box = await startBox({ dataDir, logLevel: 'debug' });
  web = await firstAdmin(box, 'office-manager-2026');
});

test.after(async () => {
  await callers.close();
  for (const p of phones) p.close();
  await box?.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
  removeDataDir(dataDir);
  if (scheduler.late || scheduler.skipped) console.log(`RTP scheduler: ${scheduler.late} late ticks, ${scheduler.skipped} skipped`);
});

/** A SIPp desk phone for the extension, registered at the box with SIPp's own address as its Contact. */
async function deskPhone(ext: string, scenario: string, keys: Record<string, string> = {}): Promise<SippHandle> {
  const sipp = await startSipp({ scenario, port: box.sipPort, keys: { ext, ...keys }, timeoutS: 90, extraArgs: ['-rtp_echo'] });
  const registrar = await Phone.open({ boxPort: box.sipPort, user: ext, password: password(ext) });
  phones.push(registrar);
  const reg = await registrar.register({ contact: `sip:${ext}@127.0.0.1:${sipp.sipPort}` });
  assert.is(reg.final.status, 200, `extension ${ext} registered for SIPp`);
  return sipp;
}

function sippPassed(r: SippResult): void {
  assert.ok(r.ok, `SIPp's scenario passed (exit ${r.code}): ${r.errors.slice(0, 1500)}\n${r.messages.slice(-3000)}`);
}

/** The moderator (1000 Hz) and a participant (1800 Hz) in a room, hearing each other. */
async function meeting(room: number): Promise<[Member & { tx: NonNullable<Member['tx']> }, Member]> {
  const chair = await callers.dial('170', `*400*${room}*${MODERATOR_PIN}`, { tone: 1000 });
  const other = await callers.dial('171', `*400*${room}*${PIN}`, { tone: 1800 });
  assertAnswered(chair);
  assertAnswered(other);
  assert.ok(await until(() => meanToneLevel(chair.rx.last(1000), 1800) > LEVEL - 3, 12_000, 200), `the moderator hears the participant: ${fmt(levels(chair.rx.last(1000)))}`);
  return [chair, other];
}

t('*5, an extension and #: the box calls the phone as the room; it hears the invitation, presses 1 and is heard in the room', async () => {
  const [chair, other] = await meeting(60);
  const sipp = await deskPhone('172', 'invited-answers.xml');
  try {
    const before = meanToneLevel(chair.rx.last(1000), 1000);
    assert.ok(before < LEVEL - 20, `before the invitation the moderator does not hear its own tone: ${before.toFixed(1)} dBFS`);
    const answered = box.waitForLog((rec) => rec.msg === 'the invited phone answered' && rec.extension === '172', 20_000);
    const since = performance.now();
    await chair.tx.dtmf('*5');
    await new Promise((r) => setTimeout(r, 2500));
    await chair.tx.dtmf('172#');
    await answered;
    const calling = activeMs(chair.rx.pcmBetween(since), { ignoreTones: [1000, 1800] });
    assert.ok(calling > 1500, `the moderator heard the prompt and "calling one seven two" (${calling} ms of speech)`);
    const joined = await box.waitForLog((rec) => rec.msg === 'the invited phone joined' && rec.room === 60, 25_000);
    assert.match(String(joined.by), /moderator 170/);
    const heard = await until(() => meanToneLevel(chair.rx.last(1000), 1000) > LEVEL - 6, 10_000, 200);
    assert.ok(heard, `the invited phone is heard in the room (the moderator's tone comes back through it): ${fmt(levels(chair.rx.last(1000)))}`);
    const conf = (await web.api('GET', '/api/conferences')).json.find((c: { roomId: number }) => c.roomId === 60);
    assert.equal(conf.participants.map((p: { caller: string }) => p.caller).sort(), ['170', '171', '172']);
    assert.is((await web.api('DELETE', `/api/conferences/${encodeURIComponent(conf.key)}`)).status, 204);
    const r = await sipp.done;
    sippPassed(r);
    assert.match(r.messages, /From: "Conference room 60" <sip:confbox@/, 'the phone shows the room as the caller');
  } finally {
    sipp.kill();
    const r = await sipp.done;
    if (!r.ok) console.log(`SIPp as extension 172 did not pass: ${r.errors.slice(0, 3000)}\n${r.messages.slice(0, 6000)}`);
    await callers.hangUp(chair, other);
  }
});

t('a busy phone: the moderator hears "the line is busy"', async () => {
  const [chair, other] = await meeting(61);
  const sipp = await deskPhone('173', 'invited-busy.xml');
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const refused = box.waitForLog((rec) => rec.msg === 'the invitation was not answered' && rec.extension === '173', 20_000);
    await chair.tx.dtmf('*5');
    await new Promise((r) => setTimeout(r, 2500));
    const since = performance.now();
    await chair.tx.dtmf('173#');
    const rec = await refused;
    assert.is(rec.why, 'busy');
    assert.is(rec.status, 486);
    const told = await until(() => activeMs(chair.rx.pcmBetween(since), { ignoreTones: [1000, 1800] }) > 1200, 10_000, 200);
    assert.ok(told, `the moderator heard "calling …" and that the line is busy (${activeMs(chair.rx.pcmBetween(since), { ignoreTones: [1000, 1800] })} ms of speech)`);
    sippPassed(await sipp.done);
  } finally {
    sipp.kill();
    await callers.hangUp(chair, other);
  }
});

t('a phone nobody answers: after 30 s of ringing the box cancels the call and says there was no answer', async () => {
  const [chair, other] = await meeting(61);
  const sipp = await deskPhone('174', 'invited-no-answer.xml');
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const refused = box.waitForLog((rec) => rec.msg === 'the invitation was not answered' && rec.extension === '174', 45_000);
    await chair.tx.dtmf('*5');
    await new Promise((r) => setTimeout(r, 2500));
    await chair.tx.dtmf('174#');
    const started = performance.now();
    const rec = await refused;
    const rang = (performance.now() - started) / 1000;
    assert.is(rec.why, 'no-answer');
    assert.ok(rang > 25 && rang < 40, `it rang about 30 s (${rang.toFixed(1)} s)`);
    const since = performance.now();
    const told = await until(() => activeMs(chair.rx.pcmBetween(since - 300), { ignoreTones: [1000, 1800] }) > 800, 8000, 200);
    assert.ok(told, 'the moderator heard that there was no answer');
    sippPassed(await sipp.done);
  } finally {
    sipp.kill();
    await callers.hangUp(chair, other);
  }
});

t('the API invites too: a bad extension is 400 naming it, one without a phone answers "unreachable"', async () => {
  const [chair, other] = await meeting(61);
  try {
    const key = (await web.api('GET', '/api/conferences')).json.find((c: { roomId: number }) => c.roomId === 61).key;
    const bad = await web.api('POST', `/api/conferences/${encodeURIComponent(key)}/invite`, { extension: '17<5' });
    assert.is(bad.status, 400);
    assert.is(bad.json.error.field, 'extension');
    const none = await web.api('POST', `/api/conferences/${encodeURIComponent(key)}/invite`, { extension: '175' });
    assert.is(none.status, 200, none.text);
    assert.equal(none.json, { extension: '175', answered: false, why: 'unreachable', reason: 'extension 175 has no registered phone' });
  } finally {
    await callers.hangUp(chair, other);
  }
});

t('a number that is not an extension is called through the trusted peer marked as the outbound PBX', async () => {
  const [chair, other] = await meeting(61);
  const sipp = await startSipp({ scenario: 'invited-busy.xml', port: box.sipPort, local: '127.0.0.77', timeoutS: 60 });
  try {
    const network = await web.api('POST', '/api/peers', { cidr: '127.0.0.0/24', description: 'Lab', outboundPort: 5060 });
    assert.is(network.status, 400);
    assert.match(network.json.error.message, /the outbound PBX must be one address, not the network 127.0.0.0\/24/);
    const pbx = await web.api('POST', '/api/peers', { cidr: '127.0.0.77', description: 'Office PBX', outboundPort: sipp.sipPort });
    assert.is(pbx.status, 201, pbx.text);
    assert.is(pbx.json.outboundPort, sipp.sipPort);
    const refused = box.waitForLog((rec) => rec.msg === 'the invitation was not answered' && rec.extension === '0301234567', 20_000);
    await chair.tx.dtmf('*5');
    await new Promise((r) => setTimeout(r, 2500));
    await chair.tx.dtmf('0301234567#');
    assert.is((await refused).why, 'busy');
    const r = await sipp.done;
    sippPassed(r);
    assert.match(r.messages, new RegExp(`INVITE sip:0301234567@127\\.0\\.0\\.77:${sipp.sipPort} SIP/2\\.0`), 'the PBX was asked for the number');
  } finally {
    sipp.kill();
    await web.api('DELETE', `/api/peers/${encodeURIComponent('127.0.0.77/32')}`);
    await callers.hangUp(chair, other);
  }
});

test.run();
