/**
 * RTP for integration tests: a G.711 µ-law sender (tones, silence, RFC 4733 DTMF) driven by one shared 20 ms
 * scheduler, a receiver that decodes µ-law and keeps PCM with arrival times, and the analysis the audio tests
 * need (Goertzel tone levels, RMS, tone removal, "is there sound").
 *
 * Levels are in dBFS with a full-scale sine as 0 dBFS: a sine of peak amplitude 32767·10^(L/20) measures L both
 * as a tone level and as an RMS level.
 */
import { randomBytes } from 'node:crypto';
import type { Socket as UdpSocket } from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export const SAMPLE_RATE = 8000;
/** Samples (and timestamp units) in one 20 ms G.711 packet. */
export const FRAME = 160;
export const PTIME_MS = 20;
const FULL_SCALE = 32767;
/** The level reported for digital silence. */
export const SILENCE_DBFS = -120;

// --- G.711 µ-law (ITU-T G.711, the 16-bit linear form with bias 0x84 and clip 32635) ---

const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

export function ulawEncode(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (s < 0) s = -s;
  if (s > ULAW_CLIP) s = ULAW_CLIP;
  s += ULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

const ULAW_TABLE = (() => {
  const t = new Int16Array(256);
  for (let b = 0; b < 256; b++) {
    const u = ~b & 0xff;
    const exponent = (u >> 4) & 0x07;
    const magnitude = (((u & 0x0f) << 3) + ULAW_BIAS) << exponent;
    t[b] = u & 0x80 ? ULAW_BIAS - magnitude : magnitude - ULAW_BIAS;
  }
  return t;
})();

export function ulawDecode(byte: number): number {
  return ULAW_TABLE[byte & 0xff]!;
}

export function ulawDecodeBuffer(payload: Uint8Array): Int16Array {
  const out = new Int16Array(payload.length);
  for (let i = 0; i < payload.length; i++) out[i] = ULAW_TABLE[payload[i]!]!;
  return out;
}

// --- levels ---

/** Peak amplitude of a sine of this level. */
export function amplitudeOf(dbfs: number): number {
  return FULL_SCALE * 10 ** (dbfs / 20);
}

/** The level of a sine of this peak amplitude. */
export function dbfsOfAmplitude(amplitude: number): number {
  return amplitude > 0 ? Math.max(SILENCE_DBFS, 20 * Math.log10(amplitude / FULL_SCALE)) : SILENCE_DBFS;
}

export function rms(pcm: ArrayLike<number>): number {
  if (pcm.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i]! * pcm[i]!;
  return Math.sqrt(sum / pcm.length);
}

/** RMS level in dBFS (a full-scale sine is 0 dBFS, so a sine's RMS level equals its tone level). */
export function rmsDbfs(pcm: ArrayLike<number>): number {
  return dbfsOfAmplitude(rms(pcm) * Math.SQRT2);
}

/**
 * The level (dBFS) of the sine component at `freq`: Goertzel over a Hann-windowed block, the amplitude estimate
 * 2·|X|/Σw. Leakage from tones a few tens of Hz away is far below 60 dB for windows of 100 ms and more.
 */
export function toneLevel(pcm: ArrayLike<number>, freq: number, sampleRate = SAMPLE_RATE): number {
  const n = pcm.length;
  if (n < 2) return SILENCE_DBFS;
  const w = (2 * Math.PI * freq) / sampleRate;
  const coeff = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  let wsum = 0;
  for (let i = 0; i < n; i++) {
    const win = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1));
    wsum += win;
    const s0 = pcm[i]! * win + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const re = s1 - s2 * Math.cos(w);
  const im = s2 * Math.sin(w);
  return dbfsOfAmplitude((2 * Math.hypot(re, im)) / wsum);
}

/**
 * The tone's level as the mean power of toneLevel() over blocks (default 200 ms): a phase jump (a frame the
 * jitter buffer dropped or concealed) then costs one block, where one long window would lose coherence across it.
 */
export function meanToneLevel(pcm: ArrayLike<number>, freq: number, blockMs = 200): number {
  const block = Math.round((blockMs * SAMPLE_RATE) / 1000);
  if (pcm.length < 2 * block) return toneLevel(pcm, freq);
  let power = 0;
  let n = 0;
  for (let start = 0; start + block <= pcm.length; start += block, n++) {
    const a = amplitudeOf(toneLevel(Array.prototype.slice.call(pcm, start, start + block) as number[], freq));
    power += a * a;
  }
  return dbfsOfAmplitude(Math.sqrt(power / n));
}

/** The strongest frequency between lo and hi (step Hz) and its level. */
export function dominantTone(pcm: ArrayLike<number>, lo = 200, hi = 3600, step = 10): { freq: number; dbfs: number } {
  let best = { freq: 0, dbfs: SILENCE_DBFS };
  for (let f = lo; f <= hi; f += step) {
    const l = toneLevel(pcm, f);
    if (l > best.dbfs) best = { freq: f, dbfs: l };
  }
  return best;
}

export interface PresenceOptions {
  /** A present tone is at most this far under the block's RMS level; default 10 dB. */
  withinDb?: number;
}

/** Whether a tone at freq carries a fair share of the block's energy (relative to the received level). */
export function tonePresent(pcm: ArrayLike<number>, freq: number, o: PresenceOptions = {}): boolean {
  const total = rmsDbfs(pcm);
  return total > -60 && toneLevel(pcm, freq) >= total - (o.withinDb ?? 10);
}

/**
 * The block with the given tones removed: per sub-block (default 50 ms), a least-squares fit of a cosine and a
 * sine at each frequency is subtracted. For frequencies with a whole number of cycles per sub-block the fit is an
 * exact projection; a tone that stops, starts or jumps in phase inside a sub-block leaves some of itself behind.
 */
export function removeTones(pcm: ArrayLike<number>, freqs: readonly number[], blockMs = 50): Float64Array {
  const out = Float64Array.from(pcm as ArrayLike<number>);
  const block = Math.round((blockMs * SAMPLE_RATE) / 1000);
  for (let start = 0; start < out.length; start += block) {
    const end = Math.min(out.length, start + block);
    for (const f of freqs) {
      const w = (2 * Math.PI * f) / SAMPLE_RATE;
      let cc = 0, ss = 0, cs = 0, xc = 0, xs = 0;
      for (let i = start; i < end; i++) {
        const c = Math.cos(w * i);
        const s = Math.sin(w * i);
        cc += c * c;
        ss += s * s;
        cs += c * s;
        xc += out[i]! * c;
        xs += out[i]! * s;
      }
      const det = cc * ss - cs * cs;
      if (Math.abs(det) < 1e-9) continue;
      const a = (xc * ss - xs * cs) / det;
      const b = (xs * cc - xc * cs) / det;
      for (let i = start; i < end; i++) out[i] = out[i]! - a * Math.cos(w * i) - b * Math.sin(w * i);
    }
  }
  return out;
}

export interface ActivityOptions {
  /** A block is "sound" above this RMS level; default −45 dBFS (µ-law idle and quantisation noise are far below). */
  thresholdDbfs?: number;
  /** Tones to remove first (the callers' own test tones), so that only other sound counts. */
  ignoreTones?: readonly number[];
  blockMs?: number;
}

/** Per block (default 20 ms): whether it holds sound, and its level. */
export function activity(pcm: ArrayLike<number>, o: ActivityOptions = {}): Array<{ active: boolean; dbfs: number }> {
  const blockMs = o.blockMs ?? 20;
  const block = Math.round((blockMs * SAMPLE_RATE) / 1000);
  const signal = o.ignoreTones && o.ignoreTones.length > 0 ? removeTones(pcm, o.ignoreTones, blockMs) : pcm;
  const out: Array<{ active: boolean; dbfs: number }> = [];
  for (let start = 0; start + block <= signal.length; start += block) {
    const part = Array.prototype.slice.call(signal, start, start + block) as number[];
    const dbfs = rmsDbfs(part);
    out.push({ active: dbfs > (o.thresholdDbfs ?? -45), dbfs });
  }
  return out;
}

/** Milliseconds of sound in the block (see activity()). */
export function activeMs(pcm: ArrayLike<number>, o: ActivityOptions = {}): number {
  return activity(pcm, o).filter((b) => b.active).length * (o.blockMs ?? 20);
}

/** The longest run of consecutive sound blocks, in ms, allowing gaps of up to gapMs inside the run. */
export function longestActiveRunMs(pcm: ArrayLike<number>, o: ActivityOptions & { gapMs?: number } = {}): number {
  const blockMs = o.blockMs ?? 20;
  const maxGap = Math.floor((o.gapMs ?? 0) / blockMs);
  let best = 0, run = 0, gap = 0;
  for (const b of activity(pcm, o)) {
    if (b.active) {
      run += 1 + gap;
      gap = 0;
    } else if (run > 0 && gap < maxGap) {
      gap++;
    } else {
      run = 0;
      gap = 0;
    }
    best = Math.max(best, run);
  }
  return best * blockMs;
}

// --- the scheduler ---

interface Ticking {
  onTick(tick: number, send: boolean): void;
}

/**
 * One clock for every sender: tick k is due at t0 + 20·k ms (absolute, so it does not drift). A late timer sends
 * the ticks it missed at once (as a bursty network would deliver them); after more than a second of lateness the
 * missed ticks are skipped, timestamps still advancing with time.
 */
export class RtpScheduler {
  private readonly t0 = performance.now();
  private tick = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly members = new Set<Ticking>();
  /** Ticks that were sent late (more than 10 ms after they were due), and skipped ones. */
  late = 0;
  skipped = 0;

  /** The tick now due (the next one to run). */
  get currentTick(): number {
    return this.tick;
  }

  add(m: Ticking): void {
    this.members.add(m);
    if (!this.timer) {
      this.tick = Math.max(this.tick, Math.ceil((performance.now() - this.t0) / PTIME_MS));
      this.schedule();
    }
  }

  remove(m: Ticking): void {
    this.members.delete(m);
    if (this.members.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }

  private schedule(): void {
    const due = this.t0 + this.tick * PTIME_MS;
    this.timer = setTimeout(() => this.run(), Math.max(0, due - performance.now()));
  }

  private run(): void {
    this.timer = null;
    const now = performance.now();
    const dueTick = Math.floor((now - this.t0) / PTIME_MS);
    const behind = dueTick - this.tick;
    if (behind > 50) {
      for (; this.tick < dueTick - 50; this.tick++, this.skipped++) for (const m of [...this.members]) m.onTick(this.tick, false);
    }
    for (; this.tick <= dueTick; this.tick++) {
      if (now - (this.t0 + this.tick * PTIME_MS) > 10) this.late++;
      for (const m of [...this.members]) m.onTick(this.tick, true);
    }
    if (this.members.size > 0) this.schedule();
  }
}

/** The scheduler every sender uses unless given another. */
export const scheduler = new RtpScheduler();

// --- the sender ---

export type Source =
  | { kind: 'tone'; freq: number; dbfs: number }
  | { kind: 'silence' }
  /** Recorded audio (8 kHz), sent once from `offset`, then digital silence; `done` runs after its last packet. */
  | { kind: 'pcm'; pcm: Int16Array; offset: number; done: () => void };

const DTMF_ROWS = [697, 770, 852, 941];
const DTMF_COLS = [1209, 1336, 1477, 1633];
const DTMF_GRID = '123A456B789C*0#D';

/**
 * Keys as in-band tones (8 kHz), as a phone without telephone-event or a PSTN gateway sends them: per key the row and
 * column tones for durationMs (row at dbfs, column 2 dB lower, the usual twist), then gapMs of silence.
 */
export function dtmfTones(keys: string, o: { durationMs?: number; gapMs?: number; dbfs?: number } = {}): Int16Array {
  const on = Math.round(((o.durationMs ?? 100) * SAMPLE_RATE) / 1000), off = Math.round(((o.gapMs ?? 100) * SAMPLE_RATE) / 1000);
  const out = new Int16Array(keys.length * (on + off));
  const a = amplitudeOf(o.dbfs ?? -10), b = amplitudeOf((o.dbfs ?? -10) - 2);
  [...keys].forEach((key, k) => {
    const i = DTMF_GRID.indexOf(key.toUpperCase());
    if (i < 0) throw new Error(`dtmfTones: ${JSON.stringify(key)} is not a key`);
    const wr = (2 * Math.PI * DTMF_ROWS[i >> 2]!) / SAMPLE_RATE, wc = (2 * Math.PI * DTMF_COLS[i & 3]!) / SAMPLE_RATE;
    for (let n = 0; n < on; n++) out[k * (on + off) + n] = Math.round(a * Math.sin(wr * n) + b * Math.sin(wc * n));
  });
  return out;
}

export interface SenderOptions {
  /** Where the RTP goes: the box's answer. */
  address: string;
  port: number;
  /** Audio payload type; PCMU is 0. */
  payloadType?: number;
  /** telephone-event payload type from the box's answer; DTMF is refused without it. */
  dtmfPayloadType?: number | null;
  ssrc?: number;
  scheduler?: RtpScheduler;
  /** SRTP: turns each RTP packet into what goes on the wire. */
  protect?: (rtp: Buffer) => Buffer;
}

export interface DtmfOptions {
  /** Length of each key press; default 100 ms (rounded to 20 ms packets). */
  durationMs?: number;
  /** Audio between key presses; default 100 ms. */
  gapMs?: number;
  /** RFC 4733 volume (dBm0 below 0); default 10. */
  volume?: number;
}

const DTMF_EVENTS: Record<string, number> = {
  '0': 0, '1': 1, '2': 2, '3': 3, '4': 4, '5': 5, '6': 6, '7': 7, '8': 8, '9': 9, '*': 10, '#': 11, A: 12, B: 13, C: 14, D: 15,
};

/** One tick's worth of work queued for the sender: a telephone-event packet, or audio. */
type Step = { kind: 'event'; event: number; duration: number; end: boolean; marker: boolean; volume: number } | { kind: 'audio' } | { kind: 'done'; resolve: () => void };

/**
 * A G.711 µ-law RTP stream from a socket (normally the test phone's RTP socket, so the box sees the port the SDP
 * offer named): one 20 ms packet per scheduler tick, sequence numbers +1 per packet, timestamps +160 per tick
 * (also over ticks without audio), one random SSRC. The tone's phase is continuous over the whole stream.
 */
export class RtpSender implements Ticking {
  readonly ssrc: number;
  private seq: number;
  private readonly tsBase: number;
  private startTick = -1;
  private source: Source = { kind: 'silence' };
  private running = false;
  private readonly sched: RtpScheduler;
  private readonly steps: Step[] = [];
  private eventTs = 0;
  /** Packets sent, audio and events. */
  sent = 0;
  sentEvents = 0;
  lastError: Error | null = null;

  constructor(private readonly socket: UdpSocket, private readonly o: SenderOptions) {
    this.ssrc = o.ssrc ?? randomBytes(4).readUInt32BE(0);
    this.seq = randomBytes(2).readUInt16BE(0);
    this.tsBase = randomBytes(4).readUInt32BE(0);
    this.sched = o.scheduler ?? scheduler;
  }

  get isRunning(): boolean {
    return this.running;
  }

  get currentSource(): Source {
    return this.source;
  }

  /** Sends a tone from the next tick on (and starts the stream if stopped). */
  tone(freq: number, dbfs: number): this {
    this.source = { kind: 'tone', freq, dbfs };
    return this.start();
  }

  /** Sends digital silence (µ-law 0xFF) packets: the phone is there but quiet. */
  silence(): this {
    this.source = { kind: 'silence' };
    return this.start();
  }

  /** Sends recorded audio (8 kHz) from the next tick on, then digital silence; resolves after its last packet. */
  play(pcm: Int16Array): Promise<void> {
    return new Promise((resolve) => {
      this.source = { kind: 'pcm', pcm, offset: 0, done: resolve };
      this.start();
    });
  }

  /** (Re)starts the stream with the current source. */
  start(): this {
    if (!this.running) {
      this.running = true;
      this.sched.add(this);
    }
    return this;
  }

  /** Stops sending anything (a phone that went away); queued DTMF is dropped. */
  stop(): void {
    this.running = false;
    this.sched.remove(this);
    for (const s of this.steps.splice(0)) if (s.kind === 'done') s.resolve();
  }

  /**
   * Sends the keys as RFC 4733 events: per key a first packet (marker bit), continuation packets every 20 ms with
   * a growing duration, then the end packet sent three times; all of one key with the key's start timestamp.
   * No audio is sent during a key press; `gapMs` of audio separates keys. Resolves when the last packet is sent.
   */
  dtmf(keys: string, o: DtmfOptions = {}): Promise<void> {
    const pt = this.o.dtmfPayloadType;
    if (pt === undefined || pt === null) return Promise.reject(new Error('dtmf: the box answered no telephone-event payload type'));
    const ticks = Math.max(1, Math.round((o.durationMs ?? 100) / PTIME_MS));
    const gap = Math.max(1, Math.round((o.gapMs ?? 100) / PTIME_MS));
    const volume = o.volume ?? 10;
    for (const key of keys) {
      const event = DTMF_EVENTS[key.toUpperCase()];
      if (event === undefined) return Promise.reject(new Error(`dtmf: no RFC 4733 event for ${JSON.stringify(key)}`));
      // The key's timestamp is taken when its first (marker) packet goes out.
      for (let i = 0; i < ticks - 1; i++) this.steps.push({ kind: 'event', event, duration: (i + 1) * FRAME, end: false, marker: i === 0, volume });
      for (let r = 0; r < 3; r++) this.steps.push({ kind: 'event', event, duration: ticks * FRAME, end: true, marker: ticks === 1 && r === 0, volume });
      for (let i = 0; i < gap; i++) this.steps.push({ kind: 'audio' });
    }
    this.start();
    return new Promise((resolve) => this.steps.push({ kind: 'done', resolve }));
  }

  onTick(tick: number, send: boolean): void {
    if (this.startTick < 0) this.startTick = tick;
    const index = tick - this.startTick;
    const ts = (this.tsBase + index * FRAME) >>> 0;
    let step = this.steps.shift();
    while (step?.kind === 'done') {
      step.resolve();
      step = this.steps.shift();
    }
    if (step?.kind === 'event') {
      if (step.marker) this.eventTs = ts;
      if (send) this.sendEvent(step, this.eventTs);
    } else if (send) {
      this.sendAudio(index, ts);
    }
    // A 'done' right behind the last step resolves in the same tick.
    while (this.steps[0]?.kind === 'done') (this.steps.shift() as { resolve: () => void }).resolve();
  }

  private header(pt: number, marker: boolean, ts: number, payloadLength: number): Buffer {
    const b = Buffer.alloc(12 + payloadLength);
    b[0] = 0x80;
    b[1] = (marker ? 0x80 : 0) | (pt & 0x7f);
    b.writeUInt16BE(this.seq, 2);
    b.writeUInt32BE(ts >>> 0, 4);
    b.writeUInt32BE(this.ssrc >>> 0, 8);
    this.seq = (this.seq + 1) & 0xffff;
    return b;
  }

  private sendAudio(index: number, ts: number): void {
    const b = this.header(this.o.payloadType ?? 0, false, ts, FRAME);
    const src = this.source;
    if (src.kind === 'silence') {
      b.fill(0xff, 12);
    } else if (src.kind === 'pcm') {
      for (let i = 0; i < FRAME; i++) b[12 + i] = ulawEncode(src.pcm[src.offset + i] ?? 0);
      src.offset += FRAME;
      if (src.offset >= src.pcm.length) {
        this.source = { kind: 'silence' };
        src.done();
      }
    } else {
      const a = amplitudeOf(src.dbfs);
      const w = (2 * Math.PI * src.freq) / SAMPLE_RATE;
      const n0 = index * FRAME;
      for (let i = 0; i < FRAME; i++) b[12 + i] = ulawEncode(a * Math.sin(w * (n0 + i)));
    }
    this.transmit(b);
  }

  private sendEvent(e: Extract<Step, { kind: 'event' }>, ts: number): void {
    const b = this.header(this.o.dtmfPayloadType!, e.marker, ts, 4);
    b[12] = e.event;
    b[13] = (e.end ? 0x80 : 0) | (e.volume & 0x3f);
    b.writeUInt16BE(e.duration, 14);
    this.sentEvents++;
    this.transmit(b);
  }

  private transmit(rtp: Buffer): void {
    this.sent++;
    const b = this.o.protect ? this.o.protect(rtp) : rtp;
    try {
      this.socket.send(b, this.o.port, this.o.address, (err) => {
        if (err) this.lastError = err;
      });
    } catch (e) {
      // The socket was closed under a running stream: that stream is over.
      this.lastError = e instanceof Error ? e : new Error(String(e));
      this.stop();
    }
  }
}

// --- the receiver ---

export interface ReceivedPacket {
  /** performance.now() at arrival. */
  at: number;
  seq: number;
  ts: number;
  ssrc: number;
  pt: number;
  marker: boolean;
  /** Decoded audio (empty for packets that are not PCMU). */
  pcm: Int16Array;
}

/**
 * Records the RTP arriving on a socket (next to whatever else listens to it): µ-law payloads decoded to PCM, with
 * arrival times. RTCP multiplexed on the port and packets that are not RTP are counted and left out.
 */
export class RtpReceiver {
  readonly packets: ReceivedPacket[] = [];
  /** Packets that are RTP but not PCMU (payload type → count). */
  readonly otherPayloads = new Map<number, number>();
  rtcp = 0;
  garbage = 0;
  /** SRTP packets that did not authenticate (with `unprotect`). */
  unauthenticated = 0;
  private readonly listener = (b: Buffer) => this.push(b, performance.now());

  /** unprotect: SRTP, the RTP inside a packet or null when it does not authenticate. */
  constructor(private readonly socket: UdpSocket, private readonly audioPayloadType = 0, private readonly unprotect?: (srtp: Buffer) => Buffer | null) {
    socket.on('message', this.listener);
  }

  /** Takes packets that arrived before the receiver was attached (their arrival time is unknown: now). */
  backfill(buffers: readonly Buffer[]): void {
    const now = performance.now();
    for (const b of buffers) this.push(b, now);
    this.packets.sort((a, b) => a.at - b.at);
  }

  detach(): void {
    this.socket.off('message', this.listener);
  }

  private push(received: Buffer, at: number): void {
    if (received.length < 12 || received[0]! >> 6 !== 2) {
      this.garbage++;
      return;
    }
    if (received[1]! >= 192 && received[1]! <= 223) {
      this.rtcp++;
      return;
    }
    const b = this.unprotect ? this.unprotect(received) : received;
    if (!b) {
      this.unauthenticated++;
      return;
    }
    const cc = b[0]! & 0x0f;
    let off = 12 + cc * 4;
    if (b[0]! & 0x10) {
      if (b.length < off + 4) return void this.garbage++;
      off += 4 + b.readUInt16BE(off + 2) * 4;
    }
    let end = b.length;
    if (b[0]! & 0x20) end -= b[b.length - 1]!;
    if (end < off) return void this.garbage++;
    const pt = b[1]! & 0x7f;
    const pkt: ReceivedPacket = {
      at, seq: b.readUInt16BE(2), ts: b.readUInt32BE(4), ssrc: b.readUInt32BE(8), pt, marker: (b[1]! & 0x80) !== 0,
      pcm: pt === this.audioPayloadType ? ulawDecodeBuffer(b.subarray(off, end)) : new Int16Array(0),
    };
    if (pt !== this.audioPayloadType) this.otherPayloads.set(pt, (this.otherPayloads.get(pt) ?? 0) + 1);
    this.packets.push(pkt);
  }

  /** Audio packets that arrived in [from, to) (performance.now() times). */
  packetsBetween(from: number, to = Infinity): ReceivedPacket[] {
    return this.packets.filter((p) => p.at >= from && p.at < to && p.pcm.length > 0);
  }

  /** The decoded audio of the packets that arrived in [from, to), in arrival order. */
  pcmBetween(from: number, to = Infinity): Int16Array {
    return concatPcm(this.packetsBetween(from, to).map((p) => p.pcm));
  }

  /** The audio of the last `ms` milliseconds of arrivals. */
  last(ms: number): Int16Array {
    return this.pcmBetween(performance.now() - ms);
  }

  /** Arrival time of the first packet at or after `from` that holds sound (see activity()), or null. */
  firstSoundAt(from = 0, o: ActivityOptions = {}): number | null {
    for (const p of this.packetsBetween(from)) {
      if (activity(p.pcm, { ...o, blockMs: PTIME_MS })[0]?.active) return p.at;
    }
    return null;
  }

  /** One line for assertion messages: packets, sound and level since `from`. */
  describe(from = 0, to = Infinity, o: ActivityOptions = {}): string {
    const pkts = this.packetsBetween(from, to);
    const pcm = this.pcmBetween(from, to);
    const other = [...this.otherPayloads].map(([pt, n]) => `PT ${pt}: ${n}`).join(', ');
    // The strongest tone of the last second only: a scan of a long recording would hold up the senders.
    const dom = pcm.length >= 800 ? dominantTone(pcm.subarray(Math.max(0, pcm.length - SAMPLE_RATE))) : null;
    return `${pkts.length} audio packets (${(pcm.length / 8).toFixed(0)} ms), ${activeMs(pcm, o)} ms of sound, RMS ${rmsDbfs(pcm).toFixed(1)} dBFS` +
      (dom ? `, strongest in the last second ${dom.freq} Hz at ${dom.dbfs.toFixed(1)} dBFS` : '') + (other ? `; other payloads ${other}` : '') + (this.rtcp ? `; ${this.rtcp} RTCP` : '');
  }
}

/** Polls fn every intervalMs until it returns true; false if the time ran out. */
export async function until(fn: () => boolean, timeoutMs: number, intervalMs = 100): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (fn()) return true;
    if (performance.now() > deadline) return false;
    await sleep(intervalMs);
  }
}

/** The telephone-event payload type of an SDP body (its first audio stream), or null. */
export function telephoneEventPayloadType(sdp: string): number | null {
  const m = /^a=rtpmap:(\d+)\s+telephone-event\/8000/im.exec(sdp);
  return m ? Number(m[1]) : null;
}

/** Audio chunks one after another in one buffer. */
export function concatPcm(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
