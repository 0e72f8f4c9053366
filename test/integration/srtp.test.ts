// Encrypted audio end to end at the box's default settings: baresip (a third-party phone with its own SRTP,
// test/support/baresip.ts) registers and calls over SIP over TLS, trusting the certificate the box made, with
// `mediaenc srtp-mand`, and joins room 10; our test phone joins over UDP with an RTP/SAVP offer and
// speaks SRTP written from RFC 3711 (test/support/srtp.ts). Each must hear the other's tone and not its own. What the
// box sends is captured on the way: the test phone's socket receives it raw, and baresip's RTP address is a relay
// of the test's (baresip learns it from the test's STUN server and puts it in its SDP), which forwards and records
// every packet. No packet from the box may be plain RTP. The setting srtp: required refuses a plain offer with 488.
// And the box stops sending to a phone that never sent it RTP.
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { baresipMissing, startBaresip, type RunningBaresip } from '../support/baresip.ts';
import { configure, generatedCertificate, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone, parseSdp, sdpOffer } from '../support/phone.ts';
import { RtpReceiver, RtpSender, dominantTone, meanToneLevel, rmsDbfs, scheduler, ulawDecodeBuffer } from '../support/rtp.ts';
import { cryptoLine, parseCrypto, SrtpContext, type Crypto } from '../support/srtp.ts';
import { WebClient } from '../support/web.ts';
import { randomBytes } from 'node:crypto';

const TESTS = 3;
const missing = baresipMissing();
if (missing) console.log(`confbox-skipped: ${TESTS} ${missing}`);

const PIN = '1234';
const ADMIN = 'a long admin password';
const BARESIP_HZ = 440;
const PHONE_HZ = 1000;
const LEVEL = -12;
/** How far under the other party's tone a phone's own tone must be. */
const OWN_MARGIN_DB = 30;

let box: RunningBox | undefined;
let dataDir = '';
let bare: RunningBaresip | undefined;
let phone: Phone | undefined;
let stun: StunRelay | undefined;

/**
 * A STUN server (RFC 5389 binding requests only) that answers every requester with the address of a relay socket
 * of its own; the relay forwards what it receives to the requester and keeps a copy. baresip puts that address in
 * its SDP, so the box's RTP to baresip passes the relay.
 */
class StunRelay {
  readonly captured: Buffer[] = [];
  private readonly relays = new Map<string, Socket>();

  private constructor(readonly server: Socket, readonly port: number) {
    server.on('message', (msg, from) => void this.answer(msg, from.address, from.port));
  }

  static async start(): Promise<StunRelay> {
    const s = createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    return new StunRelay(s, s.address().port);
  }

  private async answer(msg: Buffer, address: string, port: number): Promise<void> {
    // Binding request, magic cookie 0x2112A442.
    if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0001 || msg.readUInt32BE(4) !== 0x2112a442) return;
    const key = `${address}:${port}`;
    let relay = this.relays.get(key);
    if (!relay) {
      relay = createSocket('udp4');
      this.relays.set(key, relay);
      await new Promise<void>((resolve) => relay!.bind(0, '127.0.0.1', resolve));
      relay.on('message', (b) => {
        this.captured.push(Buffer.from(b));
        relay!.send(b, port, address);
      });
    }
    const mapped = relay.address();
    const attr = Buffer.alloc(12);
    attr.writeUInt16BE(0x0020, 0); // XOR-MAPPED-ADDRESS
    attr.writeUInt16BE(8, 2);
    attr.writeUInt8(0x01, 5); // IPv4
    attr.writeUInt16BE(mapped.port ^ 0x2112, 6);
    const ip = mapped.address.split('.').map(Number);
    attr.writeUInt32BE((((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) ^ 0x2112a442) >>> 0, 8);
    const head = Buffer.alloc(20);
    head.writeUInt16BE(0x0101, 0); // binding success
    head.writeUInt16BE(attr.length, 2);
    msg.copy(head, 4, 4, 20); // cookie and transaction id
    this.server.send(Buffer.concat([head, attr]), port, address);
  }

  close(): void {
    this.server.close();
    for (const r of this.relays.values()) r.close();
  }
}

/** RTP packets (not RTCP) of a capture. */
function rtpOnly(packets: Buffer[]): Buffer[] {
  return packets.filter((b) => b.length >= 12 && b[0]! >> 6 === 2 && !(b[1]! >= 192 && b[1]! <= 223));
}

/**
 * Checks that captured packets from the box are SRTP under the key (all authenticate, a flipped bit does not) and
 * that their payloads, read as plain G.711, are noise without the tone the decrypted audio carries.
 */
function assertEncrypted(what: string, packets: Buffer[], crypto: Crypto, toneHz: number, levelDb: number): void {
  const rtp = rtpOnly(packets).slice(-200);
  assert.ok(rtp.length >= 100, `${what}: ≥ 100 RTP packets captured, got ${rtp.length}`);
  const tag = crypto.suite === 'AES_CM_128_HMAC_SHA1_80' ? 10 : 4;
  const sizes = [...new Set(rtp.map((b) => b.length))];
  assert.equal(sizes, [12 + 160 + tag], `${what}: every packet is 20 ms of G.711 plus a ${tag}-octet tag (sizes ${sizes.join(', ')})`);
  const ctx = new SrtpContext(crypto);
  const plain = rtp.map((b) => ctx.unprotect(b));
  assert.is(plain.filter((p) => p === null).length, 0, `${what}: every packet authenticates with the key of the box's a=crypto`);
  const tampered = Buffer.from(rtp[rtp.length - 1]!);
  tampered[40]! ^= 1;
  assert.is(new SrtpContext(crypto).unprotect(tampered), null, `${what}: a packet with one payload bit flipped does not`);
  const asSent = ulawDecodeBuffer(Buffer.concat(rtp.map((b) => b.subarray(12, 12 + 160))));
  const decrypted = ulawDecodeBuffer(Buffer.concat(plain.map((p) => p!.subarray(12))));
  const inClear = meanToneLevel(asSent, toneHz);
  const inside = meanToneLevel(decrypted, toneHz);
  const clearRms = rmsDbfs(asSent);
  console.log(`${what}: ${rtp.length} packets; ${toneHz} Hz at ${inside.toFixed(1)} dBFS decrypted, read as plain G.711 ${inClear.toFixed(1)} dBFS in noise of ${clearRms.toFixed(1)} dBFS`);
  assert.ok(Math.abs(inside - levelDb) <= 3, `${what}: the decrypted audio carries ${toneHz} Hz at ${inside.toFixed(1)} dBFS (sent at ${levelDb.toFixed(1)})`);
  assert.ok(inClear <= clearRms - 20, `${what}: read as plain G.711 the payloads are noise: ${toneHz} Hz at ${inClear.toFixed(1)} dBFS is 20 dB under their ${clearRms.toFixed(1)} dBFS`);
}

if (!missing) {
  test.before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'confbox-srtp-box-'));
    await configure(dataDir, [
      ['extension', 'add', '100', '--password', 's3cret'],
      ['extension', 'add', '101', '--password', 'pw-101'],
      ['room', 'add', '10', '--pin', PIN],
      // baresip 1.0 (Debian 12) knows only MD5 and fails on a SHA-256 challenge listed first.
      ['settings', 'set', 'digestAlgorithms', 'MD5'],
      ['admin', 'set-password', '--password', ADMIN],
    ]);
    box = await startBox({ dataDir, logLevel: 'debug' });
    stun = await StunRelay.start();
  });

  test.after(async () => {
    bare?.kill();
    phone?.close();
    stun?.close();
    await box?.stop();
    if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
    if (dataDir) removeDataDir(dataDir);
  });

  test('baresip (SIP over TLS, srtp-mand) and a test phone speaking SRTP in room 10: each hears the other, no plain RTP on the wire', async () => {
    const b = await startBaresip({
      boxPort: box!.sipTlsPort, transport: 'tls', caFile: generatedCertificate(box!.dataDir),
      user: '100', password: 's3cret', dial: `*400*10*${PIN}`, toneHz: BARESIP_HZ, seconds: 14,
      mediaenc: 'srtp-mand', stunServer: `127.0.0.1:${stun!.port}`, sipTrace: true,
    });
    bare = b;
    await b.waitFor(/\{0\/TLS\/v4\} 200 OK \(confbox[^)]*\) \[1 binding\]/, 8000); // registered over TLS
    await b.waitFor(/Call established/, 8000); // the box answered *400*10*1234

    const phoneKey: Crypto = { tag: 3, suite: 'AES_CM_128_HMAC_SHA1_80', key: randomBytes(30) };
    phone = await Phone.open({ boxPort: box!.sipPort, user: '101', password: 'pw-101' });
    const call = await phone.invite(`*400*10*${PIN}`, { codecs: ['PCMU'], offer: { proto: 'RTP/SAVP', attributes: [cryptoLine(phoneKey)] } });
    const final = await call.final(10_000);
    assert.is(final.status, 200, `the test phone's call: ${final.describe()}`);
    const answer = parseSdp(final.body);
    assert.ok(answer && answer.address, `SDP in the 200: ${final.body}`);
    assert.is(answer.proto, 'RTP/SAVP', 'the box answers RTP/SAVP');
    const boxKey = parseCrypto(final.body);
    assert.ok(boxKey, `an a=crypto line in the answer: ${final.body}`);
    assert.is(boxKey.tag, phoneKey.tag, 'the answer keeps the offer\'s tag');
    assert.is(boxKey.suite, phoneKey.suite, 'and its suite');
    assert.is(boxKey.key.length, 30);
    assert.not.equal(boxKey.key, phoneKey.key, 'with a key of the box\'s own');

    const fromBox = new SrtpContext(boxKey);
    const rx = new RtpReceiver(call.rtp!, 0, (p) => fromBox.unprotect(p));
    const toBox = new SrtpContext(phoneKey);
    const tx = new RtpSender(call.rtp!, { address: answer.address, port: answer.port, payloadType: 0, protect: (p) => toBox.protect(p) });
    tx.tone(PHONE_HZ, LEVEL);

    await sleep(1500);
    const from = performance.now();
    await sleep(4000);
    const heardByPhone = rx.pcmBetween(from, performance.now());
    const capturedToPhone = [...call.rtpIn];
    const capturedToBaresip = [...stun!.captured];

    const result = await b.done();
    tx.stop();
    if (!call.ended && !call.received('BYE')) await call.bye().catch(() => undefined);

    const out = result.output;
    // baresip's SIP trace holds the box's answer to it: its SRTP key for baresip's leg.
    // A 200 OK with an SDP body, not crossing into the next message (the INVITE's request line ends in SIP/2.0 too).
    const toBaresip = /SIP\/2\.0 200 OK(?:(?!SIP\/2\.0[ \r\n])[\s\S])*?m=audio \d+ (RTP\/\S+)(?:(?!SIP\/2\.0[ \r\n])[\s\S])*?(a=crypto:[^\r\n]+)/.exec(out);
    assert.ok(toBaresip, `baresip's trace shows the box's answer with a=crypto:\n${out.slice(-3000)}`);
    assert.is(toBaresip[1], 'RTP/SAVP', 'baresip\'s call is answered RTP/SAVP');
    const baresipKey = parseCrypto(toBaresip[2]!);
    assert.ok(baresipKey, `a usable a=crypto in the box's answer to baresip: ${toBaresip[2]}`);
    assert.ok(/Call with .* terminated/.test(out), 'baresip hung up at the end');
    assert.ok(result.received, `baresip wrote what it received (sndfile dec WAV); output:\n${out.slice(-2000)}`);
    const rec = result.received!;
    const end = rec.pcm.length - 4000;
    const heardByBaresip = rec.pcm.subarray(Math.max(0, end - 4 * 8000), end);
    assert.ok(heardByBaresip.length >= 3 * 8000, `≥ 3 s of received audio in baresip's dump, got ${rec.pcm.length / 8000} s in all`);
    const bSent = meanToneLevel(result.sent!.pcm.subarray(8000), BARESIP_HZ);
    const bHearsPhone = meanToneLevel(heardByBaresip, PHONE_HZ);
    const bHearsSelf = meanToneLevel(heardByBaresip, BARESIP_HZ);
    const pHearsBaresip = meanToneLevel(heardByPhone, BARESIP_HZ);
    const pHearsSelf = meanToneLevel(heardByPhone, PHONE_HZ);
    console.log(
      `baresip (${baresipKey.suite}) hears ${PHONE_HZ} Hz ${bHearsPhone.toFixed(1)}, own ${bHearsSelf.toFixed(1)}, strongest ${dominantTone(heardByBaresip).freq} Hz; ` +
        `test phone hears ${BARESIP_HZ} Hz ${pHearsBaresip.toFixed(1)} (sent ${bSent.toFixed(1)}), own ${pHearsSelf.toFixed(1)}; ${rx.unauthenticated} unauthenticated`,
    );
    assert.ok(Math.abs(bHearsPhone - LEVEL) <= 3, `baresip hears the phone's ${PHONE_HZ} Hz at ${bHearsPhone.toFixed(1)} dBFS, sent at ${LEVEL} (±3 dB)`);
    assert.ok(bHearsSelf <= bHearsPhone - OWN_MARGIN_DB, `baresip does not hear its own ${BARESIP_HZ} Hz (${bHearsSelf.toFixed(1)} dBFS)`);
    assert.ok(heardByPhone.length >= 8 * 3000, `the test phone decrypted ≥ 3 s of audio in 4 s, got ${heardByPhone.length / 8} ms`);
    assert.ok(Math.abs(pHearsBaresip - bSent) <= 3, `the phone hears baresip's ${BARESIP_HZ} Hz at ${pHearsBaresip.toFixed(1)} dBFS, baresip sent ${bSent.toFixed(1)} (±3 dB)`);
    assert.ok(pHearsSelf <= pHearsBaresip - OWN_MARGIN_DB, `the phone does not hear its own ${PHONE_HZ} Hz (${pHearsSelf.toFixed(1)} dBFS)`);
    assert.is(rx.unauthenticated, 0, 'every packet the phone got authenticates');

    assertEncrypted('box to test phone', capturedToPhone, boxKey, BARESIP_HZ, bSent);
    assertEncrypted('box to baresip', capturedToBaresip, baresipKey, PHONE_HZ, LEVEL);

    // Only the test phone's keys crossed the network in clear (SIP over UDP): the log says so for that call alone,
    // and the status counts it; baresip's went over TLS.
    const warnings = box!.output().split('\n').filter((l) => l.includes('SRTP keys were sent in clear'));
    assert.is(warnings.length, 1, `one warning, for the call over UDP:\n${warnings.join('\n')}`);
    assert.match(warnings[0]!, /over UDP/);
    const web = new WebClient(box!.webUrl, box!.certificate());
    assert.is((await web.login(ADMIN)).status, 303, 'admin login');
    const status = (await web.api('GET', '/api/status')).json as Record<string, unknown>;
    assert.is(status.srtpAvailable, true);
    assert.match(String(status.srtpDetail), /^libsrtp2 2\./);
    assert.is(status.srtpKeysInClear, 1);
    const page = await web.get('/status');
    assert.match(page.text, /data-srtp-keys-in-clear="1"/);
    if (scheduler.late || scheduler.skipped) console.log(`RTP scheduler: ${scheduler.late} late ticks, ${scheduler.skipped} skipped`);
  });

  test('srtp required: a plain offer is refused with 488 and the reason, an encrypted one is answered', async () => {
    const web = new WebClient(box!.webUrl, box!.certificate());
    assert.is((await web.login(ADMIN)).status, 303, 'admin login');
    const set = await web.api('PATCH', '/api/settings', { srtp: 'required' });
    assert.is(set.status, 200, set.text);
    const bad = await web.api('PATCH', '/api/settings', { srtp: 'sometimes' });
    assert.is(bad.status, 400);
    assert.match(bad.text, /srtp must be off, optional or required/);
    // The first test's conference ended with its last participant, and the room with it.
    const room = await web.api('POST', '/api/rooms', { id: 10, pin: PIN, duration: 60 });
    assert.is(room.status, 201, room.text);

    phone ??= await Phone.open({ boxPort: box!.sipPort, user: '101', password: 'pw-101' });
    const plain = await phone.invite(`*400*10*${PIN}`, { codecs: ['PCMU'] });
    const refused = await plain.final(10_000);
    assert.is(refused.status, 488, refused.describe());
    assert.match(refused.get('warning') ?? '', /this box requires encrypted audio \(SRTP with a=crypto keys, setting srtp\)/);

    const key: Crypto = { tag: 1, suite: 'AES_CM_128_HMAC_SHA1_32', key: randomBytes(30) };
    const secure = await phone.invite(`*400*10*${PIN}`, { codecs: ['PCMU'], offer: { proto: 'RTP/SAVP', attributes: [cryptoLine(key)] } });
    const ok = await secure.final(10_000);
    assert.is(ok.status, 200, ok.describe());
    const first = parseCrypto(ok.body);
    assert.is(first?.suite, 'AES_CM_128_HMAC_SHA1_32');

    // Re-INVITEs: the phone's new key under the same suite keeps the box's; another suite gets a new one.
    const offer = (c: Crypto | null, version: number) =>
      sdpOffer({ address: '127.0.0.1', port: secure.rtpPort, codecs: ['PCMU'], version, ...(c ? { proto: 'RTP/SAVP', attributes: [cryptoLine(c)] } : {}) });
    const rekeyed = await secure.reinvite(offer({ ...key, key: randomBytes(30) }, 2));
    assert.is(rekeyed.status, 200, rekeyed.describe());
    assert.equal(parseCrypto(rekeyed.body)?.key, first!.key, 'same suite: the box keeps its key');
    const other = await secure.reinvite(offer({ tag: 2, suite: 'AES_CM_128_HMAC_SHA1_80', key: randomBytes(30) }, 3));
    assert.is(other.status, 200, other.describe());
    const second = parseCrypto(other.body);
    assert.equal([second?.tag, second?.suite], [2, 'AES_CM_128_HMAC_SHA1_80']);
    assert.not.equal(second?.key, first!.key, 'another suite: a new key of the box');
    const downgrade = await secure.reinvite(offer(null, 4));
    assert.is(downgrade.status, 488, `a plain re-INVITE under srtp required: ${downgrade.describe()}`);
    assert.match(downgrade.get('warning') ?? '', /requires encrypted audio/);
    // Keys in clear are counted once per call, however often they change.
    const status = (await web.api('GET', '/api/status')).json as Record<string, unknown>;
    assert.is(status.srtpKeysInClear, 2, 'the first test\'s call over UDP and this one (baresip\'s keys went over TLS)');
    await secure.bye().catch(() => undefined);
  });

  test('a phone that never sends RTP: the box sends to it at first, then stops (10 s), and the call stays up', async () => {
    const web = new WebClient(box!.webUrl, box!.certificate());
    assert.is((await web.login(ADMIN)).status, 303, 'admin login');
    assert.is((await web.api('PATCH', '/api/settings', { srtp: 'optional' })).status, 200);
    assert.is((await web.api('POST', '/api/rooms', { id: 10, pin: PIN, duration: 60 })).status, 201, 'room 10 again');
    phone ??= await Phone.open({ boxPort: box!.sipPort, user: '101', password: 'pw-101' });
    const call = await phone.invite(`*400*10*${PIN}`, { codecs: ['PCMU'] });
    assert.is((await call.final(10_000)).status, 200);
    await sleep(3000);
    const early = call.rtpIn.length;
    await sleep(9000);
    const stopped = call.rtpIn.length;
    await sleep(2000);
    const later = call.rtpIn.length - stopped;
    assert.ok(early > 50, `the box sent its prompt and waiting music at first (${early} packets in 3 s)`);
    assert.is(later, 0, `nothing in the 2 s after 12 s of silence from the phone (${later} packets)`);
    assert.not.ok(call.received('BYE'), 'the call is still up (the RTP timeout is 30 s)');
    await call.bye().catch(() => undefined);
  });
}

test.run();
