// A room with a real, third-party SIP phone in it: baresip (test/support/baresip.ts) registers as extension 100,
// dials *400*10*1234 and sends a sine; our test phone (101) joins and sends another tone. Each must hear the other
// and not itself. baresip's side is what it decoded (its sndfile dump), ours what test/support/rtp.ts received.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { baresipMissing, startBaresip, type RunningBaresip } from '../support/baresip.ts';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone } from '../support/phone.ts';
import { RtpReceiver, RtpSender, dominantTone, meanToneLevel, rmsDbfs, scheduler } from '../support/rtp.ts';

const TESTS = 1;
const missing = baresipMissing();
if (missing) console.log(`confbox-skipped: ${TESTS} ${missing}`);

const PIN = '1234';
const BARESIP_HZ = 440;
const PHONE_HZ = 1000;
const LEVEL = -12;
/** How far under the other party's tone a phone's own tone must be. */
const OWN_MARGIN_DB = 30;

let box: RunningBox | undefined;
let dataDir = '';
let bare: RunningBaresip | undefined;
let phone: Phone | undefined;

if (!missing) {
  test.before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'confbox-baresip-box-'));
    await configure(dataDir, [
      ['extension', 'add', '100', '--password', 's3cret'],
      ['extension', 'add', '101', '--password', 'pw-101'],
      ['room', 'add', '10', '--pin', PIN],
      // baresip 1.0 (Debian 12) knows only MD5 and fails on a SHA-256 challenge listed first.
      ['settings', 'set', 'digestAlgorithms', 'MD5'],
    ]);
    box = await startBox({ dataDir, logLevel: 'debug' });
  });

  test.after(async () => {
    bare?.kill();
    phone?.close();
    await box?.stop();
    if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
    if (dataDir) removeDataDir(dataDir);
  });

  test('baresip and a test phone in room 10: each hears the other, neither hears itself', async () => {
    const b = await startBaresip({ boxPort: box!.sipPort, user: '100', password: 's3cret', dial: `*400*10*${PIN}`, toneHz: BARESIP_HZ, seconds: 12 });
    bare = b;
    await b.waitFor(/200 OK \(confbox[^)]*\) \[1 binding\]/, 8000); // registered
    await b.waitFor(/Call established/, 8000); // the box answered *400*10*1234

    phone = await Phone.open({ boxPort: box!.sipPort, user: '101', password: 'pw-101' });
    const call = await phone.invite(`*400*10*${PIN}`, { codecs: ['PCMU'] });
    const rx = new RtpReceiver(call.rtp!);
    rx.backfill(call.rtpIn);
    const final = await call.final(10_000);
    assert.is(final.status, 200, `the test phone's call: ${final.describe()}`);
    const answer = call.answer;
    assert.ok(answer && answer.address, `SDP in the 200: ${final.body}`);
    const tx = new RtpSender(call.rtp!, { address: answer.address, port: answer.port, payloadType: Number(answer.formats[0]) });
    tx.tone(PHONE_HZ, LEVEL);

    await sleep(1500);
    const from = performance.now();
    await sleep(4000);
    const heardByPhone = rx.pcmBetween(from, performance.now());

    // baresip hangs up and quits by itself (-t 12); the test phone keeps sending until then.
    const result = await b.done();
    tx.stop();
    if (!call.ended && !call.received('BYE')) await call.bye().catch(() => undefined);

    const out = result.output;
    assert.ok(/Call with .* terminated/.test(out), 'baresip hung up at the end');
    assert.ok(result.received, `baresip wrote what it received (sndfile dec WAV); output:\n${out.slice(-2000)}`);
    assert.ok(result.sent, 'baresip wrote what it sent (sndfile enc WAV)');
    const rec = result.received!;
    assert.is(rec.sampleRate, 8000, 'the decoded dump is 8 kHz');
    // The last 4.5 s up to 0.5 s before the hang-up: the test phone was sending throughout.
    const end = rec.pcm.length - 4000;
    const heardByBaresip = rec.pcm.subarray(Math.max(0, end - 4 * 8000), end);
    assert.ok(heardByBaresip.length >= 3 * 8000, `≥ 3 s of received audio in baresip's dump, got ${rec.pcm.length / 8000} s in all`);
    const sentPcm = result.sent!.pcm.subarray(8000);

    const bSent = meanToneLevel(sentPcm, BARESIP_HZ);
    const bHearsPhone = meanToneLevel(heardByBaresip, PHONE_HZ);
    const bHearsSelf = meanToneLevel(heardByBaresip, BARESIP_HZ);
    const pHearsBaresip = meanToneLevel(heardByPhone, BARESIP_HZ);
    const pHearsSelf = meanToneLevel(heardByPhone, PHONE_HZ);
    const bDom = dominantTone(heardByBaresip);
    const pDom = dominantTone(heardByPhone);
    console.log(
      `baresip sends ${BARESIP_HZ} Hz at ${bSent.toFixed(1)} dBFS; hears ${PHONE_HZ} Hz ${bHearsPhone.toFixed(1)}, own ${BARESIP_HZ} Hz ${bHearsSelf.toFixed(1)}, ` +
        `RMS ${rmsDbfs(heardByBaresip).toFixed(1)}, strongest ${bDom.freq} Hz\n` +
        `test phone sends ${PHONE_HZ} Hz at ${LEVEL} dBFS; hears ${BARESIP_HZ} Hz ${pHearsBaresip.toFixed(1)}, own ${PHONE_HZ} Hz ${pHearsSelf.toFixed(1)}, ` +
        `RMS ${rmsDbfs(heardByPhone).toFixed(1)}, strongest ${pDom.freq} Hz`,
    );

    assert.ok(Math.abs(bHearsPhone - LEVEL) <= 3, `baresip hears the phone's ${PHONE_HZ} Hz at ${bHearsPhone.toFixed(1)} dBFS, sent at ${LEVEL} (±3 dB)`);
    assert.ok(bHearsSelf <= bHearsPhone - OWN_MARGIN_DB, `baresip's own ${BARESIP_HZ} Hz (${bHearsSelf.toFixed(1)} dBFS) is ${OWN_MARGIN_DB} dB under ${PHONE_HZ} Hz (${bHearsPhone.toFixed(1)})`);
    assert.ok(heardByPhone.length >= 8 * 3000, `the test phone received ≥ 3 s of audio in 4 s, got ${heardByPhone.length / 8} ms`);
    assert.ok(Math.abs(pHearsBaresip - bSent) <= 3, `the phone hears baresip's ${BARESIP_HZ} Hz at ${pHearsBaresip.toFixed(1)} dBFS, baresip sent ${bSent.toFixed(1)} (±3 dB)`);
    assert.ok(pHearsSelf <= pHearsBaresip - OWN_MARGIN_DB, `the phone's own ${PHONE_HZ} Hz (${pHearsSelf.toFixed(1)} dBFS) is ${OWN_MARGIN_DB} dB under ${BARESIP_HZ} Hz (${pHearsBaresip.toFixed(1)})`);
    if (scheduler.late || scheduler.skipped) console.log(`RTP scheduler: ${scheduler.late} late ticks, ${scheduler.skipped} skipped`);
  });
}

test.run();
