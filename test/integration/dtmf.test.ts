// Keys from every source, once (issue 11), end to end: the bundle, real SIP from the test phone and real G.711 RTP over
// loopback. In-band tones from a phone without telephone-event drive the voice menu and the in-call keys; a phone
// that sends each press both as RFC 4733 events and as an INFO gets one digit per press; and the box's own prompts
// and waiting music, sent as a caller's audio, press no key (talk-off).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone, type Call } from '../support/phone.ts';
import { RtpSender, concatPcm, dtmfTones, scheduler, telephoneEventPayloadType } from '../support/rtp.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'confbox-dtmf-'));
let box: RunningBox;
const phones: Phone[] = [];
const calls: Array<{ call: Call; tx: RtpSender }> = [];

const PIN = '4321';
const password = (ext: string) => `pw-${ext}`;
const EXTENSIONS = ['130', '131', '132', '133', '134', '135', '136', '137'];

test.before(async () => {
  await configure(dataDir, [
    ...EXTENSIONS.map((n) => ['extension', 'add', n, '--password', password(n)]),
    ...[30, 31, 32, 33, 34].map((id) => ['room', 'add', String(id), '--pin', PIN]),
  ]);
  box = await startBox({ dataDir, logLevel: 'debug' });
});

test.after(async () => {
  for (const c of calls) c.tx.stop();
  await Promise.all(calls.filter((c) => !c.call.ended && !c.call.received('BYE')).map((c) => c.call.bye(2000).catch(() => undefined)));
  for (const p of phones) p.close();
  await box?.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
  removeDataDir(dataDir);
  if (scheduler.late || scheduler.skipped) console.log(`RTP scheduler: ${scheduler.late} late ticks, ${scheduler.skipped} skipped`);
});

/** Dials code from a fresh phone of ext, PCMU only, with or without telephone-event; sends digital silence once answered. */
async function dial(ext: string, code: string, telephoneEvent: boolean): Promise<{ call: Call; tx: RtpSender; answer: string }> {
  const phone = await Phone.open({ boxPort: box.sipPort, user: ext, password: password(ext) });
  phones.push(phone);
  const call = await phone.invite(code, { codecs: ['PCMU'], offer: { dtmf: telephoneEvent } });
  const final = await call.final(10_000);
  assert.is(final.status, 200, `${ext} dialing ${code}: ${final.describe()}`);
  const answer = call.answer;
  assert.ok(answer?.address, `an SDP answer: ${final.body}`);
  const tx = new RtpSender(call.rtp!, { address: answer.address, port: answer.port, payloadType: 0, dtmfPayloadType: telephoneEventPayloadType(final.body ?? '') });
  tx.silence();
  calls.push({ call, tx });
  return { call, tx, answer: final.body ?? '' };
}

/** The box's log records of keys it counted (or counted once) from the caller. */
function keyLog(ext: string, msg = 'key pressed'): Array<Record<string, unknown>> {
  return box.output().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.caller === ext);
}

test('in-band DTMF from a phone without telephone-event drives the voice menu: room 30 #, PIN #, and the caller is in room 30', async () => {
  const { tx, answer } = await dial('130', '*400', false);
  assert.is(telephoneEventPayloadType(answer), null, `the box answered without telephone-event: ${answer}`);
  const joined = box.waitForLog((rec) => rec.msg === 'call join' && rec.room === 30 && rec.caller === '130', 20_000);
  joined.catch(() => undefined);
  await tx.play(dtmfTones('30#'));
  await tx.play(dtmfTones(`${PIN}#`));
  await joined.catch((e: Error) => {
    throw new Error(`the tones did not put the caller in room 30 (${e.message}); keys counted: ${keyLog('130').length}`);
  });
  assert.is(keyLog('130').length, 8, 'eight keys, each counted once');
});

test('in-band *6 mutes and unmutes a caller in a room', async () => {
  const { tx } = await dial('131', `*400*31*${PIN}`, false);
  await sleep(500);
  const muted = box.waitForLog((rec) => rec.msg === 'participant muted' && rec.caller === '131', 10_000);
  await tx.play(dtmfTones('*6'));
  await muted;
  const unmuted = box.waitForLog((rec) => rec.msg === 'participant unmuted' && rec.caller === '131', 10_000);
  await tx.play(dtmfTones('*6'));
  await unmuted;
});

test('a phone that sends each press as RFC 4733 events and as an INFO counts each press once', async () => {
  const { call, tx } = await dial('132', `*400*32*${PIN}`, true);
  await sleep(500);
  const muted = box.waitForLog((rec) => rec.msg === 'participant muted' && rec.caller === '132', 10_000);
  // *6, each key both ways at once.
  for (const key of '*6') {
    const info = call.info('application/dtmf-relay', `Signal=${key}\r\nDuration=100\r\n`);
    await tx.dtmf(key);
    assert.is((await info).status, 200);
  }
  await muted;
  assert.is(keyLog('132').length, 2, 'two presses counted');
  assert.is(keyLog('132', 'key press already counted').length, 2, 'their twins not');
  // The same key twice, both ways: two digits, not one and not four.
  for (const key of '##') {
    const info = call.info('application/dtmf-relay', `Signal=${key}\r\nDuration=100\r\n`);
    await tx.dtmf(key);
    await info;
  }
  await sleep(300);
  assert.is(keyLog('132').length, 4, 'the key pressed twice is two digits');
});

test('talk-off: the box\'s prompts and waiting music, sent as callers\' audio, press no key', async () => {
  const dir = join(root, 'dist/prompts');
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Record<string, { file: string; samples: number; rate: number }>;
  const sounds = Object.entries(index).map(([name, s]) => {
    assert.is(s.rate, 8000, `${name} is 8 kHz`);
    const b = readFileSync(join(dir, s.file));
    return { name, pcm: new Int16Array(b.buffer, b.byteOffset, b.length >> 1) };
  });
  // Four callers share the sounds (longest first, each to the least loaded), so the 90 s of audio take about a quarter.
  const shares: Array<{ pcm: Int16Array[]; samples: number }> = Array.from({ length: 4 }, () => ({ pcm: [], samples: 0 }));
  for (const s of [...sounds].sort((a, b) => b.pcm.length - a.pcm.length)) {
    const least = shares.reduce((a, b) => (b.samples < a.samples ? b : a));
    least.pcm.push(s.pcm);
    least.samples += s.pcm.length;
  }
  const exts = ['134', '135', '136', '137'];
  // Phones with telephone-event, as most are: the detector listens on those legs too. Two rooms of two (a room holds 3).
  const members = await Promise.all(exts.map((ext, i) => dial(ext, `*400*${33 + (i & 1)}*${PIN}`, true)));
  await Promise.all(members.map((m, i) => m.tx.play(concatPcm(shares[i]!.pcm))));
  await sleep(1000);
  const seconds = sounds.reduce((n, s) => n + s.pcm.length, 0) / 8000;
  const falses = exts.flatMap((ext) => keyLog(ext));
  console.log(`talk-off: ${sounds.length} sounds, ${seconds.toFixed(1)} s of prompts and music sent by ${exts.length} callers: ${falses.length} keys`);
  assert.ok(seconds > 60, `the prompts and music were all sent (${seconds} s)`);
  assert.is(falses.length, 0, `keys the box heard in its own prompts and music: ${JSON.stringify(falses)}`);
  assert.ok(keyLog('130').length > 0, 'keys are logged, so none logged here means none heard');
});

test.run();
