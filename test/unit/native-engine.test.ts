// The media engine addon end to end on loopback: real UDP sockets act as phones (G.711 µ-law RTP every 20 ms,
// each its own tone), the addon mixes them; events reach JS; arguments are checked. A contract runs against
// NativeEngine and MockEngine alike. Without the built addon the file declares the NativeEngine tests skipped and
// runs the MockEngine ones.
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { MockEngine } from '../../firmware/media/mock-engine.ts';
import { ConferenceRecorder, RecordingRefused } from '../../firmware/recordings/index.ts';
import {
  EngineError,
  findAddon,
  loadAddon,
  NativeEngine,
  type ConfboxEngineAddon,
  type MediaEngine,
  type MediaEngineEvents,
  type MediaLegOptions,
  type NativeEngineOptions,
} from '../../firmware/media/native-engine.ts';
import { SrtpContext } from '../support/srtp.ts';

const RATE = 8000;
const FRAME = 160; // samples (and µ-law octets) per 20 ms
const LOOPBACK = '127.0.0.1';
const PCMU: MediaLegOptions = { codec: 'PCMU', payloadType: 0, ptime: 20, dtmfPayloadType: 101 };
const TONE_A = 600;
const TONE_B = 1000;
const AMPLITUDE = 6000;

// Each engine gets its own port range, below Linux's ephemeral ports (where the phones' sockets are).
let nextPort = 23000;
function portRange(size = 64): { min: number; max: number } {
  const min = nextPort;
  nextPort += size;
  return { min, max: min + size - 1 };
}

// --- G.711 µ-law and tone analysis -------------------------------------------------------------------------------

function ulawEncode(sample: number): number {
  const BIAS = 0x84;
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (sign) s = -s;
  s = Math.min(s, 32635) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function ulawDecode(octet: number): number {
  const u = ~octet & 0xff;
  const exponent = (u >> 4) & 7;
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return u & 0x80 ? -magnitude : magnitude;
}

/** Amplitude of the frequency's component in the samples (Goertzel). */
function toneAmplitude(samples: ArrayLike<number>, freq: number): number {
  const k = 2 * Math.cos((2 * Math.PI * freq) / RATE);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = (samples[i] ?? 0) + k * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  const power = s1 * s1 + s2 * s2 - k * s1 * s2;
  return (2 * Math.sqrt(Math.max(0, power))) / samples.length;
}

// --- a phone: one UDP socket sending µ-law RTP on a 20 ms clock and decoding what it receives ----------------------

const DTMF_EVENTS = '0123456789*#ABCD';

class Phone {
  /** Decoded audio received, in arrival order. */
  readonly heard: number[] = [];
  packetsIn = 0;
  packetsOut = 0;
  talking = true;
  /** SRTP: what the phone sends is protected with tx, what it receives must unprotect with rx. */
  srtp: { tx: SrtpContext; rx: SrtpContext } | null = null;
  /** Packets received that were not SRTP under rx's key. */
  undecryptable = 0;
  readonly #ssrc = (Math.random() * 0x100000000) >>> 0;
  #seq = Math.floor(Math.random() * 0x10000);
  #timer: NodeJS.Timeout | null = null;
  #dtmf: Array<{ payload: Buffer; marker: boolean }> = [];
  #dtmfTs = 0;

  private constructor(readonly socket: Socket, readonly port: number, readonly tone: number | null) {
    socket.on('message', (buf) => this.#receive(buf));
  }

  static async open(tone: number | null): Promise<Phone> {
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, LOOPBACK, () => resolve());
    });
    return new Phone(socket, socket.address().port, tone);
  }

  /** Sends to the engine's leg every 20 ms (catching up when a timer fires late). */
  start(enginePort: number): void {
    const t0 = performance.now();
    let slot = 0;
    this.#timer = setInterval(() => {
      const due = Math.floor((performance.now() - t0) / 20);
      for (; slot <= due; slot++) this.#send(enginePort, slot);
    }, 5);
  }

  /** Queues an RFC 4733 key press: five updates, then the end three times, all with the press's timestamp. */
  press(digit: string): void {
    const event = DTMF_EVENTS.indexOf(digit);
    for (let i = 1; i <= 8; i++) {
      const end = i > 5;
      const duration = Math.min(i, 5) * FRAME;
      this.#dtmf.push({ payload: Buffer.from([event, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]), marker: i === 1 });
    }
  }

  /** The last n samples heard. */
  recent(n: number): number[] {
    return this.heard.slice(-n);
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.socket.close();
  }

  #send(port: number, slot: number): void {
    const ts = slot * FRAME;
    const dtmf = this.#dtmf.shift();
    let pt = 0;
    let marker = slot === 0;
    let payload: Buffer;
    if (dtmf) {
      if (dtmf.marker) this.#dtmfTs = ts;
      pt = 101;
      marker = dtmf.marker;
      payload = dtmf.payload;
    } else {
      if (!this.talking) return;
      payload = Buffer.alloc(FRAME);
      for (let i = 0; i < FRAME; i++) {
        const n = ts + i;
        payload[i] = ulawEncode(this.tone === null ? 0 : AMPLITUDE * Math.sin((2 * Math.PI * this.tone * n) / RATE));
      }
    }
    const header = Buffer.alloc(12);
    header[0] = 0x80;
    header[1] = (marker ? 0x80 : 0) | pt;
    header.writeUInt16BE(this.#seq, 2);
    header.writeUInt32BE((dtmf ? this.#dtmfTs : ts) >>> 0, 4);
    header.writeUInt32BE(this.#ssrc, 8);
    this.#seq = (this.#seq + 1) & 0xffff;
    this.packetsOut++;
    const packet = Buffer.concat([header, payload]);
    this.socket.send(this.srtp ? this.srtp.tx.protect(packet) : packet, port, LOOPBACK);
  }

  #receive(received: Buffer): void {
    const buf = this.srtp ? this.srtp.rx.unprotect(received) : received;
    if (!buf) {
      this.undecryptable++;
      return;
    }
    if (buf.length < 12 || buf[0]! >> 6 !== 2 || (buf[1]! & 0x7f) !== 0) return;
    const start = 12 + 4 * (buf[0]! & 0x0f);
    this.packetsIn++;
    for (let i = start; i < buf.length; i++) this.heard.push(ulawDecode(buf[i]!));
  }
}

// --- helpers ---------------------------------------------------------------------------------------------------------

async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new assert.Assertion({ message: `timed out waiting for ${what}`, operator: 'waitFor', expects: what, actual: null });
    await sleep(10);
  }
}

/** Records every event the engine emits. */
function recordEvents(engine: MediaEngine): Array<{ event: keyof MediaEngineEvents; args: unknown[] }> {
  const seen: Array<{ event: keyof MediaEngineEvents; args: unknown[] }> = [];
  engine.events.on('dtmf', (...args) => seen.push({ event: 'dtmf', args }));
  engine.events.on('rtpTimeout', (...args) => seen.push({ event: 'rtpTimeout', args }));
  engine.events.on('played', (...args) => seen.push({ event: 'played', args }));
  engine.events.on('overrun', (...args) => seen.push({ event: 'overrun', args }));
  engine.events.on('localAudio', (...args) => seen.push({ event: 'localAudio', args }));
  engine.events.on('talk', (...args) => seen.push({ event: 'talk', args }));
  return seen;
}

function throwsCode(f: () => unknown, code: string, what: RegExp): void {
  try {
    f();
  } catch (e) {
    assert.is((e as { code?: unknown }).code, code, String(e));
    assert.match(String((e as Error).message), what);
    return;
  }
  assert.unreachable(`expected a ${code} error`);
}

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.is((e as { code?: unknown }).code, code, String(e));
    return;
  }
  assert.unreachable(`expected a ${code} rejection`);
}

function throwsNaming(f: () => unknown, type: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor, name: string): void {
  try {
    f();
  } catch (e) {
    assert.instance(e, type, `${String(e)} is a ${type.name}`);
    assert.ok(String((e as Error).message).includes(name), `"${(e as Error).message}" names ${name}`);
    return;
  }
  assert.unreachable(`expected a ${type.name} naming ${name}`);
}

async function rejectsNaming(f: () => Promise<unknown>, type: TypeErrorConstructor | RangeErrorConstructor, name: string): Promise<void> {
  try {
    await f();
  } catch (e) {
    assert.instance(e, type, `${String(e)} is a ${type.name}`);
    assert.ok(String((e as Error).message).includes(name), `"${(e as Error).message}" names ${name}`);
    return;
  }
  assert.unreachable(`expected a ${type.name} naming ${name}`);
}

/** Engine, two talking phones (A: 600 Hz, B: 1000 Hz) and their legs in one conference. */
async function conferenceOfTwo(extra: Partial<MediaLegOptions> = {}) {
  const engine = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK });
  const a = await Phone.open(TONE_A);
  const b = await Phone.open(TONE_B);
  const legA = await engine.openLeg({ ...PCMU, ...extra });
  const legB = await engine.openLeg({ ...PCMU, ...extra });
  engine.connectLeg(legA.leg, LOOPBACK, a.port, PCMU);
  engine.connectLeg(legB.leg, LOOPBACK, b.port, PCMU);
  engine.joinConference(legA.leg, 'room-1');
  engine.joinConference(legB.leg, 'room-1');
  a.start(legA.localPort);
  b.start(legB.localPort);
  const close = async () => {
    a.close();
    b.close();
    await engine.close();
  };
  return { engine, a, b, legA, legB, close };
}

// --- the tests, registered only when the addon is built ------------------------------------------------------------

type Case = [name: string, fn: () => Promise<void> | void];
const cases: Case[] = [];
/** CONFBOX_TEST_ADDON: the addon to test instead of the build's (scripts/test-addon-asan.sh: built with ASan + UBSan). */
const addonPath = process.env.CONFBOX_TEST_ADDON ?? findAddon();
/** An engine on the addon under test. */
/**
 * Whether the process's RSS shows what glibc's allocator gives back: not under AddressSanitizer (its own allocator
 * holds freed memory in quarantine) nor under qemu-user (the RSS is the emulator's, which keeps the pages).
 */
function glibcMallocMeasurable(): boolean {
  if (process.env.LD_PRELOAD?.includes('libasan')) return false;
  const hostIsX86 = /GenuineIntel|AuthenticAMD/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  return !(process.arch === 'arm64' && hostIsX86);
}

function nativeEngine(o: Omit<NativeEngineOptions, 'addon'>): NativeEngine {
  return new NativeEngine({ ...o, addon: addonPath ?? undefined });
}
let addon: ConfboxEngineAddon;

cases.push(['loadAddon: by path, already loaded, or refused with a reason', () => {
  assert.is(loadAddon(addonPath ?? ''), addon);
  assert.is(loadAddon(addon), addon, 'an addon the caller loaded is taken as it is');
  throwsNaming(() => loadAddon({ create() {} } as unknown as ConfboxEngineAddon), TypeError, 'not a confbox engine addon');
  throwsCode(() => loadAddon('/nonexistent/confbox_engine.node'), 'ERR_CONFBOX_ADDON_LOAD', /cannot load/);
}]);

cases.push(['SRTP: phones speaking SRTP hear each other; plain and wrongly keyed packets are dropped and counted', async () => {
  const engine = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK });
  const status = engine.srtp();
  assert.ok(status.available, `libsrtp2 loads: ${status.reason}`);
  assert.match(status.version, /^libsrtp2 2\./);
  const phones = [await Phone.open(TONE_A), await Phone.open(TONE_B)];
  try {
    const suites = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'] as const;
    const legs: Array<{ leg: number; localPort: number }> = [];
    for (const [i, phone] of phones.entries()) {
      const suite = suites[i]!;
      const keys = { suite, local: new Uint8Array(randomBytes(30)), remote: new Uint8Array(randomBytes(30)) };
      phone.srtp = {
        tx: new SrtpContext({ tag: 1, suite, key: Buffer.from(keys.remote) }),
        rx: new SrtpContext({ tag: 1, suite, key: Buffer.from(keys.local) }),
      };
      const opts = { ...PCMU, srtp: keys };
      const leg = await engine.openLeg(opts);
      engine.connectLeg(leg.leg, LOOPBACK, phone.port, opts);
      engine.joinConference(leg.leg, 'secure');
      phone.start(leg.localPort);
      legs.push(leg);
    }
    const [a, b] = phones as [Phone, Phone];
    // Under emulation (qemu-user) on a loaded machine the legs take longer to carry the tones: wait for them, up to 15 s.
    await waitFor('a second of both tones through SRTP', () => a.packetsIn > 50 && b.packetsIn > 50, 15_000).catch(() => undefined);
    assert.ok(toneAmplitude(a.recent(3200), TONE_B) > AMPLITUDE / 3, 'A (80-bit tags) hears B through SRTP');
    assert.ok(toneAmplitude(b.recent(3200), TONE_A) > AMPLITUDE / 3, 'B (32-bit tags) hears A through SRTP');
    assert.ok(a.packetsIn > 40 && a.undecryptable === 0, `every packet to A authenticates with its key (${a.packetsIn} in, ${a.undecryptable} not)`);
    assert.is(b.undecryptable, 0);
    assert.is(engine.legStats(legs[0]!.leg).droppedAuth, 0);

    // A plain packet and one under another key, from A's own address, are dropped as failing authentication.
    const plain = Buffer.alloc(12 + FRAME, 0xff);
    plain[0] = 0x80;
    plain.writeUInt32BE(0x1234, 8);
    a.socket.send(plain, legs[0]!.localPort, LOOPBACK);
    a.socket.send(new SrtpContext({ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', key: randomBytes(30) }).protect(plain), legs[0]!.localPort, LOOPBACK);
    await waitFor('two packets failing authentication', () => engine.legStats(legs[0]!.leg).droppedAuth === 2);
    const s = engine.stats();
    assert.is(s.droppedAuth, 2);
    assert.is(s.packetsDropped, s.droppedMalformed + s.droppedForeign + s.droppedOther + s.droppedAuth);
  } finally {
    for (const p of phones) p.close();
    await engine.close();
  }
}]);

cases.push(['SRTP options are checked with messages naming them', async () => {
  const engine = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK });
  try {
    const key = new Uint8Array(30);
    await rejectsNaming(() => engine.openLeg({ ...PCMU, srtp: { suite: 'F8_128' as never, local: key, remote: key } }), RangeError, 'srtp.suite');
    await rejectsNaming(() => engine.openLeg({ ...PCMU, srtp: { suite: 'AES_CM_128_HMAC_SHA1_80', local: new Uint8Array(16), remote: key } }), RangeError, 'srtp.local');
    await rejectsNaming(() => engine.openLeg({ ...PCMU, srtp: { suite: 'AES_CM_128_HMAC_SHA1_80', local: key, remote: 'x' as never } }), TypeError, 'srtp.remote');
    const plain = await engine.openLeg({ ...PCMU, srtp: null });
    assert.is(engine.legStats(plain.leg).droppedAuth, 0);
  } finally {
    await engine.close();
  }
}]);

cases.push(['capacity comes from the port range: a range of 1,200 pairs opens as many legs (no fixed cap); maxLegs lowers it', async () => {
  const engine = nativeEngine({ rtpPorts: portRange(2400), bindAddress: LOOPBACK });
  const few = nativeEngine({ rtpPorts: portRange(64), bindAddress: LOOPBACK, maxLegs: 2 });
  try {
    assert.is(engine.capacity(), 1200);
    // Other programs of the machine may hold a few ports of the range: the legs end where the free pairs do.
    let error: unknown = null;
    while (!error) await engine.openLeg(PCMU).catch((e: unknown) => { error = e; });
    assert.is((error as { code?: string }).code, 'EADDRINUSE', String(error));
    assert.ok(engine.stats().legs > 1180, `${engine.stats().legs} legs open, beyond the 1,024 a constant once allowed`);
    assert.is(few.capacity(), 2);
    await few.openLeg(PCMU);
    await few.openLeg(PCMU);
    await rejectsCode(few.openLeg(PCMU), 'EMFILE');
  } finally {
    await engine.close();
    await few.close();
  }
}]);

cases.push(['mediaThreads: conferences spread over the threads, each with all its members on one', async () => {
  const engine = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK, mediaThreads: 3 });
  try {
    assert.is(engine.stats().threads, 3);
    const legs: number[] = [];
    for (let i = 0; i < 6; i++) legs.push((await engine.openLeg(PCMU)).leg);
    const opened = legs.map((l) => engine.legStats(l).thread);
    assert.equal([...opened].sort(), [0, 0, 1, 1, 2, 2], `new legs go to the thread with the fewest: ${opened}`);
    for (const [i, leg] of legs.entries()) engine.joinConference(leg, `room-${i % 2}`);
    const threadOf = (i: number) => engine.legStats(legs[i]!).thread;
    assert.ok(threadOf(0) === threadOf(2) && threadOf(2) === threadOf(4), 'room-0 runs on one thread');
    assert.ok(threadOf(1) === threadOf(3) && threadOf(3) === threadOf(5), 'room-1 runs on one thread');
    assert.is.not(threadOf(0), threadOf(1), 'the two rooms run on different threads');
  } finally {
    await engine.close();
  }
  const oneCore = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK });
  try {
    const cpus = (await import('node:os')).availableParallelism();
    assert.is(oneCore.stats().threads, Math.max(1, cpus > 2 ? cpus - 1 : 1), 'by default: the processors less one');
  } finally {
    await oneCore.close();
  }
}]);

cases.push(['releaseMemory gives the pages freed between live legs back to the system', async () => {
  const engine = nativeEngine({ rtpPorts: portRange(4000), bindAddress: LOOPBACK });
  try {
    const legs: number[] = [];
    for (let i = 0; i < 2000; i++) legs.push((await engine.openLeg(PCMU)).leg);
    // Every other leg closed: their memory lies between live legs, where free() cannot return it.
    for (let i = 0; i < legs.length; i += 2) engine.closeLeg(legs[i]!);
    const before = process.memoryUsage.rss();
    const released = engine.releaseMemory();
    const back = (before - process.memoryUsage.rss()) / 1048576;
    if (glibcMallocMeasurable()) {
      assert.ok(released, 'some memory went back');
      assert.ok(back >= 2, `${back.toFixed(1)} MB given back by releasing the memory of 1,000 closed legs`);
    } else {
      assert.type(released, 'boolean');
    }
    assert.ok((await engine.openLeg(PCMU)).leg > 0, 'the engine goes on opening legs');
  } finally {
    await engine.close();
  }
}]);

cases.push(['two phones in one conference hear each other and not themselves; stats count packets', async () => {
  const c = await conferenceOfTwo();
  try {
    await sleep(1200);
    const heardByA = c.a.recent(3200);
    const heardByB = c.b.recent(3200);
    assert.is(heardByA.length, 3200, 'A received 400 ms of audio');
    assert.is(heardByB.length, 3200, 'B received 400 ms of audio');
    const aHearsB = toneAmplitude(heardByA, TONE_B);
    const aHearsA = toneAmplitude(heardByA, TONE_A);
    const bHearsA = toneAmplitude(heardByB, TONE_A);
    const bHearsB = toneAmplitude(heardByB, TONE_B);
    assert.ok(aHearsB > AMPLITUDE / 3, `A hears B's tone (amplitude ${aHearsB.toFixed(0)})`);
    assert.ok(bHearsA > AMPLITUDE / 3, `B hears A's tone (amplitude ${bHearsA.toFixed(0)})`);
    assert.ok(aHearsA < aHearsB / 20, `A does not hear itself (${aHearsA.toFixed(0)} vs ${aHearsB.toFixed(0)})`);
    assert.ok(bHearsB < bHearsA / 20, `B does not hear itself (${bHearsB.toFixed(0)} vs ${bHearsA.toFixed(0)})`);

    const s = c.engine.stats();
    assert.is(s.legs, 2);
    assert.is(s.conferences, 1);
    assert.ok(s.ticks > 40, `ticks ${s.ticks}`);
    assert.ok(s.packetsIn > 80, `packetsIn ${s.packetsIn}`);
    assert.ok(s.packetsOut > 80, `packetsOut ${s.packetsOut}`);
    assert.is(s.packetsDropped, s.droppedMalformed + s.droppedForeign + s.droppedOther);
    const la = c.engine.legStats(c.legA.leg);
    assert.is(la.localPort, c.legA.localPort);
    assert.ok(la.packetsIn > 40 && la.packetsIn <= c.a.packetsOut, `leg A packetsIn ${la.packetsIn} of ${c.a.packetsOut} sent`);
    assert.ok(la.packetsOut > 40 && la.packetsOut >= c.a.packetsIn, `leg A packetsOut ${la.packetsOut}, phone got ${c.a.packetsIn}`);
    assert.is(la.bytesIn, la.packetsIn * FRAME);
  } finally {
    await c.close();
  }
}]);

cases.push(['who is talking: both phones as they start, a muted one too; a steady tone stops counting as talk within the noise window', async () => {
  const c = await conferenceOfTwo();
  const seen = recordEvents(c.engine);
  const talkOf = (leg: number) => seen.filter((e) => e.event === 'talk' && e.args[0] === leg).map((e) => e.args[1] as { talking: boolean; noisy: boolean });
  try {
    c.engine.setMuted(c.legA.leg, true);
    await sleep(1000);
    assert.equal(talkOf(c.legA.leg)[0], { talking: true, noisy: false }, 'muted A is heard talking');
    assert.equal(talkOf(c.legB.leg)[0], { talking: true, noisy: false }, 'B is heard talking');
    // Each phone sends one steady tone: after the floor's 3 s window it is a steady sound, not talk.
    for (let waited = 0; waited < 8000 && talkOf(c.legB.leg).every((t) => t.talking); waited += 250) await sleep(250);
    assert.ok(talkOf(c.legB.leg).some((t) => !t.talking), `B's steady tone stopped counting as talk: ${JSON.stringify(talkOf(c.legB.leg))}`);
  } finally {
    await c.close();
  }
}]);

cases.push(['a recording holds the conference as a listener hears it, at 16 kHz; one recording per conference; stopped, it is gone', async () => {
  const c = await conferenceOfTwo();
  try {
    await sleep(400);
    c.engine.record('room-1', 2);
    assert.throws(() => c.engine.record('room-1', 2), (e: Error) => e instanceof EngineError && /being recorded already/.test(e.message), 'a second recording is refused');
    await sleep(1000);
    const { pcm, dropped } = c.engine.readRecording('room-1');
    assert.ok(pcm.length >= 12_000 && pcm.length <= 20_000, `about a second at 16 kHz: ${pcm.length} samples`);
    assert.is(dropped, 0);
    const last = [...pcm.slice(-6400)].filter((_, i) => i % 2 === 0); // 8 kHz view for the analysis below
    assert.ok(toneAmplitude(last, TONE_A) > AMPLITUDE / 3, `A's tone is in the recording (${toneAmplitude(last, TONE_A).toFixed(0)})`);
    assert.ok(toneAmplitude(last, TONE_B) > AMPLITUDE / 3, `B's tone is in the recording (${toneAmplitude(last, TONE_B).toFixed(0)})`);
    c.engine.stopRecording('room-1');
    assert.throws(() => c.engine.readRecording('room-1'), 'nothing to read after the stop');
  } finally {
    await c.close();
  }
}]);

cases.push(['ConferenceRecorder writes the conference to a WAV file that plays while it grows; refused when space is short', async () => {
  const c = await conferenceOfTwo();
  const dir = mkdtempSync(join(tmpdir(), 'confbox-recordings-'));
  try {
    const short = new ConferenceRecorder({ engine: c.engine, dir, minFreeBytes: () => Number.MAX_SAFE_INTEGER });
    assert.throws(() => short.start('room-1', 1), (e: Error) => e instanceof RecordingRefused && /MB free for recordings/.test(e.message));
    const stalls: string[] = [];
    const recorder = new ConferenceRecorder({ engine: c.engine, dir, minFreeBytes: () => 1, onStalled: (_info, why) => stalls.push(why) });
    const started = recorder.start('room-1', 1);
    assert.match(started.file, /room-1-\d{8}-\d{6}\.wav$/);
    await sleep(700);
    const growing = readFileSync(started.file);
    assert.is(growing.readUInt32LE(40), growing.length - 44, 'the header matches the data while recording');
    await sleep(500);
    const done = recorder.stop('room-1')!;
    assert.ok(done.seconds > 0.9 && done.seconds < 1.6, `about 1.2 s recorded: ${done.seconds}`);
    const wav = readFileSync(done.file);
    assert.is(wav.toString('ascii', 0, 4), 'RIFF');
    assert.is(wav.readUInt32LE(24), 16000, '16 kHz');
    assert.is(wav.readUInt32LE(40), wav.length - 44);
    const pcm = new Int16Array(wav.buffer.slice(wav.byteOffset + 44, wav.byteOffset + wav.length));
    const tail = [...pcm.slice(-6400)].filter((_, i) => i % 2 === 0);
    assert.ok(toneAmplitude(tail, TONE_A) > AMPLITUDE / 3 && toneAmplitude(tail, TONE_B) > AMPLITUDE / 3, 'both tones are in the file');
    assert.equal(stalls, []);
    assert.is(recorder.stop('room-1'), null, 'stopping twice');
  } finally {
    await c.close();
    rmSync(dir, { recursive: true, force: true });
  }
}]);

cases.push(['a muted leg still hears the conference but is not heard', async () => {
  const c = await conferenceOfTwo();
  try {
    await sleep(800);
    c.engine.setMuted(c.legA.leg, true);
    await sleep(500);
    const bHearsA = toneAmplitude(c.b.recent(2400), TONE_A);
    const aHearsB = toneAmplitude(c.a.recent(2400), TONE_B);
    assert.ok(bHearsA < 100, `B no longer hears muted A (amplitude ${bHearsA.toFixed(0)})`);
    assert.ok(aHearsB > AMPLITUDE / 3, `muted A still hears B (amplitude ${aHearsB.toFixed(0)})`);
    c.engine.setMuted(c.legA.leg, false);
    await sleep(500);
    const again = toneAmplitude(c.b.recent(2400), TONE_A);
    assert.ok(again > AMPLITUDE / 3, `B hears A after unmute (amplitude ${again.toFixed(0)})`);
  } finally {
    await c.close();
  }
}]);

cases.push(['a held leg (send and receive false) is not heard, is sent nothing and never times out; it comes back on resume', async () => {
  const c = await conferenceOfTwo();
  const seen = recordEvents(c.engine);
  try {
    await sleep(800);
    const held = { ...PCMU, rtpTimeoutMs: 200, send: false, receive: false };
    c.engine.connectLeg(c.legA.leg, LOOPBACK, c.a.port, held);
    await sleep(300);
    const before = c.a.packetsIn;
    await sleep(600);
    const bHearsA = toneAmplitude(c.b.recent(2400), TONE_A);
    assert.ok(bHearsA < 100, `B does not hear held A (amplitude ${bHearsA.toFixed(0)})`);
    assert.is(c.a.packetsIn - before, 0, 'nothing is sent to held A');
    assert.equal(seen.filter((e) => e.event === 'rtpTimeout'), [], 'a held leg does not time out');
    c.engine.connectLeg(c.legA.leg, LOOPBACK, c.a.port, PCMU);
    await sleep(600);
    assert.ok(toneAmplitude(c.b.recent(2400), TONE_A) > AMPLITUDE / 3, 'B hears A after the resume');
    assert.ok(toneAmplitude(c.a.recent(2400), TONE_B) > AMPLITUDE / 3, 'A hears B after the resume');
    throwsNaming(() => c.engine.connectLeg(c.legA.leg, LOOPBACK, c.a.port, { ...PCMU, send: 'no' as never }), TypeError, 'send');
    throwsNaming(() => c.engine.connectLeg(c.legA.leg, LOOPBACK, c.a.port, { ...PCMU, receive: 0 as never }), TypeError, 'receive');
  } finally {
    await c.close();
  }
}]);

cases.push(['an RFC 4733 key press arrives as one dtmf event in JS', async () => {
  const c = await conferenceOfTwo();
  const seen = recordEvents(c.engine);
  try {
    await sleep(300);
    c.a.press('7');
    await waitFor('a dtmf event', () => seen.some((e) => e.event === 'dtmf'));
    await sleep(300); // the updates and the three end packets must not repeat the digit
    c.b.press('#');
    await waitFor('a second dtmf event', () => seen.filter((e) => e.event === 'dtmf').length >= 2);
    await sleep(200);
    assert.equal(seen.filter((e) => e.event === 'dtmf').map((e) => e.args), [[c.legA.leg, '7'], [c.legB.leg, '#']]);
  } finally {
    await c.close();
  }
}]);

cases.push(['rtpTimeout fires for a silent leg with a short timeout, not for talking ones', async () => {
  const c = await conferenceOfTwo({ rtpTimeoutMs: 300 });
  const seen = recordEvents(c.engine);
  const quiet = await Phone.open(null);
  try {
    const silent = await c.engine.openLeg({ ...PCMU, rtpTimeoutMs: 200 });
    const started = Date.now();
    c.engine.connectLeg(silent.leg, LOOPBACK, quiet.port, { ...PCMU, rtpTimeoutMs: 200 });
    c.engine.joinConference(silent.leg, 'room-1');
    await waitFor('rtpTimeout', () => seen.some((e) => e.event === 'rtpTimeout'));
    const after = Date.now() - started;
    assert.ok(after >= 180 && after < 1500, `after ${after} ms`);
    await sleep(400);
    assert.equal(seen.filter((e) => e.event === 'rtpTimeout').map((e) => e.args), [[silent.leg]], 'once per silence, only the silent leg');
    assert.ok(quiet.packetsIn > 0, 'the silent leg still hears the conference');
  } finally {
    quiet.close();
    await c.close();
  }
}]);

cases.push(['closeLeg frees the leg\'s RTP and RTCP ports', async () => {
  const engine = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK });
  try {
    const { leg, localPort } = await engine.openLeg(PCMU);
    assert.is(localPort % 2, 0, 'RTP on an even port');
    const bind = (port: number) => new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => { s.close(); resolve(false); });
      s.bind(port, LOOPBACK, () => { s.close(); resolve(true); });
    });
    assert.is(await bind(localPort), false, 'the RTP port is taken while the leg is open');
    assert.is(await bind(localPort + 1), false, 'and so is RTCP');
    engine.closeLeg(leg);
    assert.is(await bind(localPort), true, 'RTP port free after closeLeg');
    assert.is(await bind(localPort + 1), true, 'RTCP port free after closeLeg');
    throwsCode(() => engine.legStats(leg), 'ENOENT', /not open/);
    assert.is(engine.stats().legs, 0);
  } finally {
    await engine.close();
  }
}]);

cases.push(['playback into a leg and into a conference; played names the target', async () => {
  const c = await conferenceOfTwo();
  const seen = recordEvents(c.engine);
  try {
    const beep = new Int16Array(1600).map((_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 1800 * i) / RATE)));
    const sound = c.engine.addSound(beep, 8000);
    await sleep(300);
    const heardBefore = c.a.heard.length;
    const toLeg = c.engine.play({ leg: c.legA.leg }, sound);
    await waitFor('played (leg)', () => seen.some((e) => e.event === 'played'));
    assert.equal(seen.find((e) => e.event === 'played')?.args, [toLeg, { leg: c.legA.leg }]);
    await sleep(200);
    assert.ok(toneAmplitude(c.a.heard.slice(heardBefore), 1800) > 300, 'A heard the beep');

    const toRoom = c.engine.play({ conference: 'room-1' }, sound);
    assert.is.not(toRoom, toLeg);
    await waitFor('played (conference)', () => seen.filter((e) => e.event === 'played').length >= 2);
    assert.equal(seen.filter((e) => e.event === 'played')[1]?.args, [toRoom, { conference: 'room-1' }]);

    c.engine.play({ conference: 'room-1' }, sound, { loop: true });
    await sleep(500);
    assert.is(seen.filter((e) => e.event === 'played').length, 2, 'a looping playback does not end by itself');
    c.engine.stop({ conference: 'room-1' });
    await sleep(100);
    assert.is(seen.filter((e) => e.event === 'played').length, 2, 'stop sends no event');
  } finally {
    await c.close();
  }
}]);

cases.push(['the addon re-checks every argument and names it in a TypeError', () => {
  const h = addon.create({ bindAddress: LOOPBACK, ...((r) => ({ portMin: r.min, portMax: r.max }))(portRange()), onEvents: () => undefined });
  try {
    const { leg } = addon.openLeg(h, { codec: 0, payloadType: 0, dtmfPayloadType: 101, ptimeMs: 20 });
    const raw = addon as unknown as Record<string, (...args: unknown[]) => unknown>;
    const call = (fn: string, ...args: unknown[]) => () => raw[fn]!(...args);
    throwsNaming(call('create', null), TypeError, 'config');
    throwsNaming(call('create', {}), TypeError, 'config.onEvents');
    throwsNaming(call('create', { portMin: '20000', onEvents() {} }), TypeError, 'config.portMin');
    throwsNaming(call('create', { bindAddress: 1, onEvents() {} }), TypeError, 'config.bindAddress');
    throwsNaming(call('stats', {}), TypeError, 'handle');
    throwsNaming(call('openLeg', h, null), TypeError, 'options');
    throwsNaming(call('openLeg', h, { codec: 'PCMU', payloadType: 0 }), TypeError, 'options.codec');
    throwsNaming(call('openLeg', h, { codec: 0, payloadType: '0' }), TypeError, 'options.payloadType');
    throwsNaming(call('openLeg', h, { codec: 0, payloadType: 0, symmetric: 1 }), TypeError, 'options.symmetric');
    throwsNaming(call('openLeg', h, { codec: 0, payloadType: 0, ptimeMs: 25 }), RangeError, 'options.ptimeMs');
    const key = new Uint8Array(30);
    throwsNaming(call('openLeg', h, { codec: 0, payloadType: 0, srtp: 1 }), TypeError, 'options.srtp');
    throwsNaming(call('openLeg', h, { codec: 0, payloadType: 0, srtp: { suite: 3, txKey: key, rxKey: key } }), RangeError, 'options.srtp.suite');
    throwsNaming(call('openLeg', h, { codec: 0, payloadType: 0, srtp: { suite: 1, txKey: [1], rxKey: key } }), TypeError, 'options.srtp.txKey');
    throwsNaming(call('openLeg', h, { codec: 0, payloadType: 0, srtp: { suite: 1, txKey: key, rxKey: new Uint8Array(29) } }), RangeError, 'options.srtp.rxKey');
    throwsNaming(call('openLeg', h, { codec: 0, payloadType: 0, srtp: { suite: 1, txKey: key } }), TypeError, 'options.srtp.rxKey');
    throwsNaming(call('connectLeg', h, leg, 127001, 4000, null), TypeError, 'address');
    throwsNaming(call('connectLeg', h, leg, LOOPBACK, '4000', null), TypeError, 'port');
    throwsNaming(call('connectLeg', h, leg, LOOPBACK, 70000, null), RangeError, 'port');
    throwsNaming(call('join', h, String(leg), 1), TypeError, 'leg');
    throwsNaming(call('join', h, leg, '1'), TypeError, 'conference');
    throwsNaming(call('join', h, -1, 1), RangeError, 'leg');
    throwsNaming(call('setMuted', h, leg, 1), TypeError, 'muted');
    throwsNaming(call('addSound', h, [1, 2, 3], 8000), TypeError, 'pcm');
    throwsNaming(call('addSound', h, new Float32Array(3), 8000), TypeError, 'pcm');
    throwsNaming(call('addSound', h, new Int16Array(3), '8000'), TypeError, 'rate');
    throwsNaming(call('addSound', h, new Int16Array(3), 44100), RangeError, 'rate');
    throwsNaming(call('play', h, 1, leg, 0), TypeError, 'target');
    throwsNaming(call('play', h, 'room', leg, 0), RangeError, 'target');
    throwsNaming(call('play', h, 'leg', leg, 'beep'), TypeError, 'sound');
    throwsNaming(call('play', h, 'leg', leg, 0, { loop: 'yes' }), TypeError, 'options.loop');
    throwsNaming(call('stop', h, 'leg', null), TypeError, 'id');
    throwsNaming(call('legStats', h, undefined), TypeError, 'leg');
    throwsCode(call('closeLeg', h, leg + 1), 'ENOENT', /engine_close_leg/);
  } finally {
    addon.destroy(h);
  }
  throwsCode(() => addon.stats(h), 'ERR_CONFBOX_ENGINE_DESTROYED', /destroyed/);
  addon.destroy(h); // a second destroy does nothing
  assert.equal(addon.poll(h), []);
}]);

cases.push(['NativeEngine validates its options before the addon sees them', () => {
  const options = (o: Record<string, unknown>) => o as never;
  throwsNaming(() => new NativeEngine(options({})), TypeError, 'rtpPorts');
  throwsNaming(() => new NativeEngine(options({ rtpPorts: { min: 0, max: 100 } })), RangeError, 'rtpPorts.min');
  throwsNaming(() => new NativeEngine(options({ rtpPorts: { min: 20001, max: 20002 } })), RangeError, 'rtpPorts');
  throwsNaming(() => new NativeEngine(options({ rtpPorts: portRange(), bindAddress: 'localhost' })), TypeError, 'bindAddress');
  throwsNaming(() => new NativeEngine(options({ rtpPorts: portRange(), maxLegs: 1.5 })), RangeError, 'maxLegs');
  throwsNaming(() => new NativeEngine(options({ rtpPorts: portRange(), mediaThreads: 0 })), RangeError, 'mediaThreads');
  throwsNaming(() => new NativeEngine(options({ rtpPorts: portRange(), mediaThreads: 65 })), RangeError, 'mediaThreads');
  throwsNaming(() => new NativeEngine(options({ rtpPorts: portRange(), cname: 'two words' })), RangeError, 'cname');
}]);

cases.push(['NativeEngine refuses an IPv6 remote when RTP is bound to IPv4', async () => {
  const engine = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK });
  try {
    const { leg } = await engine.openLeg(PCMU);
    throwsNaming(() => engine.connectLeg(leg, '::1', 4000, PCMU), RangeError, '"address"');
  } finally {
    await engine.close();
  }
}]);

cases.push(['an idle engine does not keep the process alive', () => {
  const code = `
    const a = require(${JSON.stringify(addonPath)});
    const h = a.create({ bindAddress: '127.0.0.1', portMin: ${nextPort}, portMax: ${nextPort + 63}, rtpTimeoutMs: 50, onEvents() { a.poll(h); } });
    const { leg } = a.openLeg(h, { codec: 0, payloadType: 0, dtmfPayloadType: -1, ptimeMs: 20 });
    a.connectLeg(h, leg, '127.0.0.1', 9, null);
    globalThis.kept = h; // never destroyed: the environment's teardown stops the media thread
  `;
  nextPort += 64;
  const started = Date.now();
  const r = spawnSync(process.execPath, ['-e', code], { timeout: 10_000, encoding: 'utf8' });
  assert.is(r.signal, null, `exited by itself (${r.stderr})`);
  assert.is(r.status, 0, r.stderr);
  assert.ok(Date.now() - started < 5000, 'promptly');
}]);

cases.push(['NativeEngine after close: calls fail with ERR_ENGINE_CLOSED, teardown calls do nothing', async () => {
  const engine = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK });
  const { leg } = await engine.openLeg(PCMU);
  await engine.close();
  await engine.close();
  assert.ok(engine.closed);
  await rejectsCode(engine.openLeg(PCMU), 'ERR_ENGINE_CLOSED');
  throwsCode(() => engine.stats(), 'ERR_ENGINE_CLOSED', /closed/);
  engine.closeLeg(leg);
  engine.leaveConference(leg);
  engine.stop({ leg });
}]);

// --- the contract: NativeEngine and MockEngine behave alike for the control plane --------------------------------

function contract(label: string, make: (ports: { min: number; max: number }) => MediaEngine): void {
  cases.push([`${label}: legs get distinct even ports of the range until it is exhausted`, async () => {
    const ports = portRange(6); // three pairs at most
    const engine = make(ports);
    try {
      assert.is(engine.capacity(), 3, 'the capacity is the range\'s port pairs');
      const legs = [await engine.openLeg(PCMU), await engine.openLeg(PCMU), await engine.openLeg(PCMU)];
      assert.is(new Set(legs.map((l) => l.leg)).size, 3);
      assert.is(new Set(legs.map((l) => l.localPort)).size, 3);
      for (const l of legs) assert.ok(l.localPort % 2 === 0 && l.localPort >= ports.min && l.localPort + 1 <= ports.max, `port ${l.localPort}`);
      await rejectsCode(engine.openLeg(PCMU), 'EADDRINUSE');
      engine.closeLeg(legs[1]!.leg);
      const again = await engine.openLeg(PCMU);
      assert.is(again.localPort, legs[1]!.localPort, 'a closed leg\'s port is used again');
      assert.is(engine.stats().legs, 3);
    } finally {
      await engine.close();
    }
  }]);

  cases.push([`${label}: leg options are validated and named`, async () => {
    const engine = make(portRange());
    try {
      const bad = (o: Record<string, unknown>) => ({ ...PCMU, ...o }) as MediaLegOptions;
      await rejectsNaming(() => engine.openLeg(bad({ codec: 'OPUS' })), RangeError, '"codec"');
      await rejectsNaming(() => engine.openLeg(bad({ codec: 0 })), TypeError, '"codec"');
      await rejectsNaming(() => engine.openLeg(bad({ payloadType: 128 })), RangeError, '"payloadType"');
      await rejectsNaming(() => engine.openLeg(bad({ ptime: 25 })), RangeError, '"ptime"');
      await rejectsNaming(() => engine.openLeg(bad({ ptime: '20' })), TypeError, '"ptime"');
      await rejectsNaming(() => engine.openLeg(bad({ dtmfPayloadType: 0 })), RangeError, '"dtmfPayloadType"');
      await rejectsNaming(() => engine.openLeg(bad({ rtpTimeoutMs: 0 })), RangeError, '"rtpTimeoutMs"');
      const { leg } = await engine.openLeg({ ...PCMU, dtmfPayloadType: null, rtpTimeoutMs: null, symmetric: true });
      throwsNaming(() => engine.connectLeg(leg, 'phone.example', 4000, PCMU), RangeError, '"address"');
      throwsNaming(() => engine.connectLeg(leg, LOOPBACK, 65536, PCMU), RangeError, '"port"');
      throwsNaming(() => engine.joinConference(leg, ''), RangeError, '"conference"');
      throwsNaming(() => engine.setMuted(leg, 'yes' as unknown as boolean), TypeError, '"muted"');
      throwsNaming(() => engine.addSound(new Int16Array(0), 8000), RangeError, '"pcm"');
      throwsNaming(() => engine.addSound(new Int16Array(8), 44100 as 8000), RangeError, '"rate"');
      engine.connectLeg(leg, '0.0.0.0', 0, PCMU); // on hold: allowed
    } finally {
      await engine.close();
    }
  }]);

  cases.push([`${label}: unknown legs throw ENOENT, except for teardown which ignores them`, async () => {
    const engine = make(portRange());
    try {
      const { leg } = await engine.openLeg(PCMU);
      throwsCode(() => engine.connectLeg(leg + 1, LOOPBACK, 4000, PCMU), 'ENOENT', /not open/);
      throwsCode(() => engine.joinConference(leg + 1, 'x'), 'ENOENT', /not open/);
      throwsCode(() => engine.setMuted(leg + 1, true), 'ENOENT', /not open/);
      throwsCode(() => engine.legStats(leg + 1), 'ENOENT', /not open/);
      throwsCode(() => engine.play({ leg: leg + 1 }, 0), 'ENOENT', /not open/);
      engine.leaveConference(leg + 1);
      engine.closeLeg(leg + 1);
      engine.stop({ leg: leg + 1 });
      engine.closeLeg(leg);
      engine.closeLeg(leg);
      assert.is(engine.stats().legs, 0);
    } finally {
      await engine.close();
    }
  }]);

  cases.push([`${label}: conferences live while they have members; playback needs a member and a sound`, async () => {
    const engine = make(portRange());
    try {
      const sound = engine.addSound(new Int16Array(160).fill(1000), 8000);
      const a = await engine.openLeg(PCMU);
      const b = await engine.openLeg(PCMU);
      throwsCode(() => engine.play({ conference: 'room' }, sound), 'ENOENT', /no members/);
      engine.joinConference(a.leg, 'room');
      engine.joinConference(a.leg, 'room'); // again: nothing changes
      engine.joinConference(b.leg, 'room');
      assert.is(engine.stats().conferences, 1);
      throwsCode(() => engine.play({ conference: 'room' }, sound + 1), 'EINVAL', /no sound/);
      const p1 = engine.play({ conference: 'room' }, sound, { loop: true });
      const p2 = engine.play({ leg: a.leg }, sound, { replace: true });
      assert.is.not(p1, p2);
      engine.joinConference(b.leg, 'other');
      assert.is(engine.stats().conferences, 2);
      engine.leaveConference(a.leg);
      engine.closeLeg(b.leg);
      assert.is(engine.stats().conferences, 0);
      throwsCode(() => engine.play({ conference: 'room' }, sound), 'ENOENT', /no members/);
      engine.stop({ conference: 'room' });
    } finally {
      await engine.close();
    }
  }]);

  cases.push([`${label}: local legs: devices validated and named; they join conferences but have no RTP`, async () => {
    const engine = make(portRange());
    try {
      throwsNaming(() => engine.openLocalLeg({}), TypeError, '"capture" or the "playback"');
      throwsNaming(() => engine.openLocalLeg({ capture: 'hw:1, 0' }), RangeError, '"capture"');
      throwsNaming(() => engine.openLocalLeg({ playback: 7 as unknown as string }), TypeError, '"playback"');
      throwsNaming(() => engine.openLocalLeg({ capture: 'test_mic', retryMinMs: 0 }), RangeError, '"retryMinMs"');
      const local = engine.openLocalLeg({ capture: 'confbox_no_such_device', retryMinMs: 60_000 });
      const { leg } = await engine.openLeg(PCMU);
      throwsCode(() => engine.localStatus(leg), 'EINVAL', /not a local leg/);
      throwsCode(() => engine.localStatus(local + 1000), 'ENOENT', /not open/);
      throwsCode(() => engine.connectLeg(local, LOOPBACK, 4000, PCMU), 'EINVAL', /./);
      engine.joinConference(local, 'room');
      engine.joinConference(leg, 'room');
      engine.setMuted(local, true);
      assert.is(engine.stats().conferences, 1);
      assert.is(engine.stats().legs, 2);
      engine.closeLeg(local);
      assert.is(engine.stats().legs, 1);
    } finally {
      await engine.close();
    }
  }]);

  cases.push([`${label}: after close, calls fail with ERR_ENGINE_CLOSED and teardown does nothing`, async () => {
    const engine = make(portRange());
    const { leg } = await engine.openLeg(PCMU);
    await engine.close();
    await rejectsCode(engine.openLeg(PCMU), 'ERR_ENGINE_CLOSED');
    throwsCode(() => engine.joinConference(leg, 'room'), 'ERR_ENGINE_CLOSED', /closed/);
    engine.closeLeg(leg);
    engine.leaveConference(leg);
  }]);
}

contract('NativeEngine', (ports) => nativeEngine({ rtpPorts: ports, bindAddress: LOOPBACK }));
contract('MockEngine', (ports) => new MockEngine({ rtpPorts: ports }));

cases.push(['MockEngine records calls and is driven with emit', async () => {
  const engine = new MockEngine();
  const seen = recordEvents(engine);
  const { leg, localPort } = await engine.openLeg(PCMU);
  assert.is(localPort, 20000);
  engine.connectLeg(leg, '192.0.2.7', 4000, PCMU);
  engine.joinConference(leg, 'room');
  engine.setMuted(leg, true);
  assert.equal(engine.calls.map((c) => c.method), ['openLeg', 'connectLeg', 'joinConference', 'setMuted']);
  assert.equal(engine.callsOf('joinConference')[0]?.args, [leg, 'room']);
  assert.equal(engine.legs.get(leg)?.remote, { address: '192.0.2.7', port: 4000 });
  assert.ok(engine.legs.get(leg)?.muted);
  assert.equal(engine.members('room'), [leg]);
  engine.emit('dtmf', leg, '5');
  engine.emit('rtpTimeout', leg);
  const sound = engine.addSound(new Int16Array(8), 16000);
  const playback = engine.play({ conference: 'room' }, sound);
  engine.finishPlayback(playback);
  assert.equal(seen, [
    { event: 'dtmf', args: [leg, '5'] },
    { event: 'rtpTimeout', args: [leg] },
    { event: 'played', args: [playback, { conference: 'room' }] },
  ]);
  engine.failNextOpen = new EngineError('no free RTP port', 'EADDRINUSE');
  await rejectsCode(engine.openLeg(PCMU), 'EADDRINUSE');
  await engine.openLeg(PCMU);
}]);

// ALSA without a sound card: the file plugin over the null device plays a tone file as the microphone.
const alsaDir = mkdtempSync(join(tmpdir(), 'confbox-alsa-'));
process.on('exit', () => rmSync(alsaDir, { recursive: true, force: true }));
const MIC_TONE = 700;
{
  const pcm = new Int16Array(16000 * 20);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(AMPLITUDE * Math.sin((2 * Math.PI * MIC_TONE * i) / 16000));
  writeFileSync(join(alsaDir, 'mic.raw'), pcm);
  writeFileSync(join(alsaDir, 'asoundrc'), [
    `pcm.test_mic { type file slave.pcm { type null } file "/dev/null" infile "${alsaDir}/mic.raw" format "raw" }`,
    `pcm.test_speaker { type file slave.pcm { type null } file "${alsaDir}/speaker.raw" format "raw" }`,
    `pcm.test_listed { type null hint { show on description "a device aplay -L shows" } }`, '',
  ].join('\n'));
  process.env.ALSA_CONFIG_PATH = join(alsaDir, 'asoundrc');
}

cases.push(['NativeEngine: the sound devices ALSA lists are those its configuration shows, as aplay -L does', () => {
  const engine = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK });
  try {
    const listed = engine.alsaDevices();
    assert.ok(listed.includes('test_listed'), `listed: ${listed.join(', ')}`);
    assert.not.ok(listed.includes('test_mic'), 'a device without a hint is not listed');
  } finally {
    engine.close();
  }
}]);

cases.push(['NativeEngine: a local leg reads the microphone into a conference and reports its devices', async () => {
  const engine = nativeEngine({ rtpPorts: portRange(), bindAddress: LOOPBACK });
  const phone = await Phone.open(TONE_B);
  const seen = recordEvents(engine);
  try {
    const local = engine.openLocalLeg({ capture: 'test_mic', playback: 'test_speaker' });
    const missing = engine.openLocalLeg({ playback: 'confbox_no_such_device', retryMinMs: 100, retryMaxMs: 200 });
    const leg = await engine.openLeg(PCMU);
    engine.connectLeg(leg.leg, LOOPBACK, phone.port, PCMU);
    engine.joinConference(local, 'room');
    engine.joinConference(leg.leg, 'room');
    phone.start(leg.localPort);
    await waitFor('both local legs to report their devices', () => seen.filter((e) => e.event === 'localAudio').length >= 2);
    assert.equal(seen.filter((e) => e.event === 'localAudio').map((e) => e.args).sort(), [[local, 'ok'], [missing, 'unavailable']].sort());
    const ok = engine.localStatus(local);
    assert.is(ok.state, 'ok');
    assert.match(ok.message, /microphone "test_mic", speaker "test_speaker" at 16000 Hz/);
    const bad = engine.localStatus(missing);
    assert.is(bad.state, 'unavailable');
    assert.match(bad.message, /playback device "confbox_no_such_device" cannot be opened/);
    assert.ok(bad.error < 0, `errno ${bad.error}`);
    await sleep(1200);
    const heard = phone.recent(3200);
    const mic = toneAmplitude(heard, MIC_TONE);
    assert.ok(Math.abs(mic - AMPLITUDE) < AMPLITUDE / 5, `the phone hears the microphone's ${MIC_TONE} Hz (amplitude ${mic.toFixed(0)} of ${AMPLITUDE})`);
    const st = engine.localStatus(local);
    assert.ok(st.captured > 40 && st.played > 40, `${st.captured} frames captured, ${st.played} played`);
    assert.ok(engine.localStatus(missing).attempts >= 2, 'the missing device is retried');
  } finally {
    phone.close();
    await engine.close();
  }
}]);

cases.push(['MockEngine: local legs are driven with setLocalState', async () => {
  const engine = new MockEngine();
  const seen = recordEvents(engine);
  const leg = engine.openLocalLeg({ capture: 'plughw:1,0', playback: 'plughw:1,0' });
  assert.is(engine.localStatus(leg).state, 'opening');
  engine.setLocalState(leg, 'unavailable', 'capture device "plughw:1,0" lost');
  assert.equal(seen, [{ event: 'localAudio', args: [leg, 'unavailable'] }]);
  assert.is(engine.localStatus(leg).attempts, 1);
  engine.setLocalState(leg, 'ok', 'back');
  assert.equal(engine.localStatus(leg), { ...engine.localStatus(leg), state: 'ok', attempts: 0, message: 'back' });
  assert.equal(engine.legs.get(leg)?.local?.devices, { capture: 'plughw:1,0', playback: 'plughw:1,0' });
}]);

// The mock engine's cases need no addon: they run whether it is built or not.
const mockOnly = (name: string) => name.startsWith('MockEngine');
if (addonPath === null) {
  const native = cases.filter(([name]) => !mockOnly(name));
  console.log(`confbox-skipped: ${native.length} addon not built (firmware/media/native/build/Release/confbox_engine.node; run "node build.mjs native")`);
  for (const [name, fn] of cases) if (mockOnly(name)) test(name, fn);
} else {
  addon = loadAddon(addonPath);
  for (const [name, fn] of cases) test(name, fn);
}
test.run();
