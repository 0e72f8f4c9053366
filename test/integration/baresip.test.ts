// A room with a real, third-party SIP phone in it: baresip (test/support/baresip.ts) registers as extension 100,
// dials *400*10*1234 and sends a sine; our test phone (101) joins and sends another tone. Each must hear the other
// and not itself. baresip's side is what it decoded (its sndfile dump), ours what test/support/rtp.ts received.
// Then the same over TLS, with baresip trusting the certificate the box generated, and BYE each way.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { baresipMissing, startBaresip, type BaresipResult, type RunningBaresip } from '../support/baresip.ts';
import { configure, generatedCertificate, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone } from '../support/phone.ts';
import { RtpReceiver, RtpSender, dominantTone, meanToneLevel, rmsDbfs, scheduler } from '../support/rtp.ts';
import { setupCodeOf, WebClient } from '../support/web.ts';

const TESTS = 2;
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
      ['room', 'add', '11', '--pin', PIN],
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

  /** The test phone (101) joins the room over UDP and sends its tone until stopped. */
  async function testPhoneJoins(room: number): Promise<{ rx: RtpReceiver; tx: RtpSender; call: Awaited<ReturnType<Phone['invite']>> }> {
    phone = await Phone.open({ boxPort: box!.sipPort, user: '101', password: 'pw-101' });
    const call = await phone.invite(`*400*${room}*${PIN}`, { codecs: ['PCMU'] });
    const rx = new RtpReceiver(call.rtp!);
    rx.backfill(call.rtpIn);
    const final = await call.final(10_000);
    assert.is(final.status, 200, `the test phone's call: ${final.describe()}`);
    const answer = call.answer;
    assert.ok(answer && answer.address, `SDP in the 200: ${final.body}`);
    const tx = new RtpSender(call.rtp!, { address: answer.address, port: answer.port, payloadType: Number(answer.formats[0]) });
    tx.tone(PHONE_HZ, LEVEL);
    return { rx, tx, call };
  }

  /**
   * baresip's dump (up to its hang-up, less `tailSeconds` it heard after the test phone's part ended) and what the
   * test phone heard: each hears the other, neither itself.
   */
  function assertEachHearsTheOther(result: BaresipResult, heardByPhone: Int16Array, tailSeconds = 0): void {
    const out = result.output;
    assert.ok(result.received, `baresip wrote what it received (sndfile dec WAV); output:\n${out.slice(-2000)}`);
    assert.ok(result.sent, 'baresip wrote what it sent (sndfile enc WAV)');
    const rec = result.received!;
    assert.is(rec.sampleRate, 8000, 'the decoded dump is 8 kHz');
    // The last 4.5 s up to 0.5 s before the hang-up (or the tail): the test phone was sending throughout.
    const end = rec.pcm.length - 4000 - Math.round(tailSeconds * 8000);
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
  }

  /** 4 s of what the test phone hears, from 1.5 s after now. */
  async function listen(rx: RtpReceiver): Promise<Int16Array> {
    await sleep(1500);
    const from = performance.now();
    await sleep(4000);
    return rx.pcmBetween(from, performance.now());
  }

  test('baresip and a test phone in room 10: each hears the other, neither hears itself', async () => {
    const b = await startBaresip({ boxPort: box!.sipPort, user: '100', password: 's3cret', dial: `*400*10*${PIN}`, toneHz: BARESIP_HZ, seconds: 12 });
    bare = b;
    await b.waitFor(/200 OK \(confbox[^)]*\) \[1 binding\]/, 8000); // registered
    await b.waitFor(/Call established/, 8000); // the box answered *400*10*1234

    const { rx, tx, call } = await testPhoneJoins(10);
    const heardByPhone = await listen(rx);

    // baresip hangs up and quits by itself (-t 12); the test phone keeps sending until then.
    const result = await b.done();
    tx.stop();
    if (!call.ended && !call.received('BYE')) await call.bye().catch(() => undefined);
    assert.ok(/Call with .* terminated/.test(result.output), 'baresip hung up at the end');
    assertEachHearsTheOther(result, heardByPhone);
    phone?.close();
    phone = undefined;
  });

  test('over TLS (trusting the box\'s generated certificate): baresip registers and talks with the test phone; BYE both ways', async () => {
    const caFile = generatedCertificate(box!.dataDir);
    const tls = { boxPort: box!.sipTlsPort, transport: 'tls' as const, caFile, user: '100', password: 's3cret', dial: `*400*11*${PIN}`, toneHz: BARESIP_HZ };
    const hungUp = box!.waitForLog((r) => r.msg === 'caller hung up' && r.caller === '100' && r.room === 11, 30_000);
    const b = await startBaresip({ ...tls, seconds: 12 });
    bare = b;
    await b.waitFor(/\{0\/TLS\/v4\} 200 OK \(confbox[^)]*\) \[1 binding\]/, 8000); // registered over TLS
    await b.waitFor(/Call established: sip:\*400\*11\*1234@127\.0\.0\.1:\d+;transport=tls/, 8000);

    const { rx, tx, call } = await testPhoneJoins(11);
    const heardByPhone = await listen(rx);

    // baresip hangs up (-t 12): its BYE reaches the box over TLS, sent to the Contact the box gave (transport=tls).
    const result = await b.done();
    assert.ok(/Call with .* terminated/.test(result.output), 'baresip hung up at the end');
    assert.is((await hungUp).transport, 'tls', 'the BYE came over TLS');
    assertEachHearsTheOther(result, heardByPhone);

    // The box hangs baresip up (removed on the web page): its BYE goes back over baresip's TLS connection.
    const web = new WebClient(box!.webUrl, box!.certificate());
    assert.is((await web.setup('baresip-tls-admin', setupCodeOf(box!.dataDir))).status, 303);
    await web.get('/rooms'); // the page's CSRF token, for the API calls of this session
    const again = await startBaresip({ ...tls, seconds: 60 });
    bare = again;
    await again.waitFor(/Call established/, 8000);
    const conf = (await web.api('GET', '/api/conferences')).json.find((c: { roomId: number }) => c.roomId === 11);
    const participant = conf.participants.find((p: { caller: string }) => p.caller === '100');
    const byeAnswered = box!.waitForLog((r) => r.msg === 'BYE answered' && r.caller === '100', 10_000);
    assert.is((await web.api('DELETE', `/api/conferences/${encodeURIComponent(conf.key)}/participants/${encodeURIComponent(participant.id)}`)).status, 204);
    // baresip 1.0 reports a BYE from the other side as ECONNRESET: "session closed: Connection reset by peer".
    await again.waitFor(/session closed: Connection reset by peer/, 10_000);
    const answered = await byeAnswered;
    assert.is(answered.status, 200, 'baresip answered the box\'s BYE');
    assert.is(answered.transport, 'tls');
    again.proc.kill('SIGTERM');
    await again.done();
    tx.stop();
    if (!call.ended && !call.received('BYE')) await call.bye().catch(() => undefined);
  });
}

test.run();
