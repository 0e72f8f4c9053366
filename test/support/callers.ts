// Callers in conferences, as the audio tests use them: a fresh test phone per call (real SIP), G.711 RTP sent from the
// answer on (a tone or digital silence), and everything received kept for analysis (Goertzel, RMS, activity).
import { performance } from 'node:perf_hooks';
import * as assert from 'uvu/assert';
import type { RunningBox } from './box.ts';
import { Phone, type Call, type SipMessage } from './phone.ts';
import { RtpReceiver, RtpSender, activeMs, meanToneLevel, telephoneEventPayloadType, until } from './rtp.ts';

/** Test tones: −12 dBFS each, so that two of them summed stay well under the mixer's limiter knee. */
export const LEVEL = -12;
export const TONES = [440, 1000, 1800] as const;
/** How far from the sent level a tone may be received. */
export const LEVEL_TOLERANCE_DB = 3;
/** How far under the others a caller's own (or a muted caller's) tone must be. */
export const OWN_MARGIN_DB = 30;

export interface Member {
  phone: Phone;
  call: Call;
  final: SipMessage;
  rx: RtpReceiver;
  /** Null when the call was not answered 200. */
  tx: RtpSender | null;
  /** performance.now() when the final response arrived. */
  answeredAt: number;
  label: string;
}

export interface JoinOptions {
  /** A tone (Hz) to send at LEVEL; default digital silence. */
  tone?: number;
  localAddress?: string;
  finalTimeoutMs?: number;
}

/** The calls of one test file, so that its end hangs up and closes whatever is left. */
export class Callers {
  readonly members: Member[] = [];
  private readonly phones: Phone[] = [];

  constructor(private readonly box: () => RunningBox, private readonly password: (ext: string) => string) {}

  /** Dials from a fresh phone of the extension; on 200 starts sending RTP (tone or silence) to the answered port at once. */
  async dial(ext: string, code: string, o: JoinOptions = {}): Promise<Member> {
    const phone = await Phone.open({ boxPort: this.box().sipPort, user: ext, password: this.password(ext), localAddress: o.localAddress });
    this.phones.push(phone);
    const call = await phone.invite(code, { codecs: ['PCMU'] });
    // Attached before any answer: early media counts too.
    const rx = new RtpReceiver(call.rtp!);
    rx.backfill(call.rtpIn);
    const final = await call.final(o.finalTimeoutMs ?? 10_000).catch((e: Error) => {
      throw new Error(`${e.message}; ${this.boxState()}`);
    });
    const answeredAt = performance.now();
    const m: Member = { phone, call, final, rx, tx: null, answeredAt, label: `${ext} ${code}${o.tone ? ` (${o.tone} Hz)` : ''}` };
    this.members.push(m);
    if (final.status === 200) {
      const answer = call.answer;
      assert.ok(answer && answer.address, `an SDP answer in the 200: ${final.body}`);
      assert.is(answer.codecs[0], 'PCMU', `the box answered PCMU: ${answer.codecs}`);
      const tx = new RtpSender(call.rtp!, {
        address: answer.address, port: answer.port, payloadType: Number(answer.formats[0]), dtmfPayloadType: telephoneEventPayloadType(final.body),
      });
      if (o.tone) tx.tone(o.tone, LEVEL);
      else tx.silence();
      m.tx = tx;
    }
    return m;
  }

  async hangUp(...ms: Member[]): Promise<void> {
    for (const m of ms) {
      m.tx?.stop();
      if (m.final.status === 200 && !m.call.ended && !m.call.received('BYE')) await m.call.bye().catch(() => undefined);
    }
  }

  /** At the end of the file: every call still up is hung up, every phone closed. */
  async close(): Promise<void> {
    for (const m of this.members) m.tx?.stop();
    await Promise.all(this.members.filter((m) => m.final.status === 200 && !m.call.ended && !m.call.received('BYE')).map((m) => m.call.bye(2000).catch(() => undefined)));
    for (const p of this.phones) p.close();
  }

  /** Whether the box process is still there, for messages about missing answers or audio. */
  boxState(): string {
    const p = this.box().proc;
    return p.exitCode === null && p.signalCode === null ? 'the box is running' : `the box exited (${p.exitCode ?? p.signalCode})`;
  }

  /**
   * A spoken prompt since `since`: sound starts within startMs, lasts at least minMs and ends (800 ms of quiet).
   * Returns a reason when it did not happen, else null.
   */
  async prompt(m: Member, since: number, o: { startMs?: number; minMs?: number; endMs?: number } = {}): Promise<string | null> {
    if (!(await until(() => m.rx.firstSoundAt(since) !== null || m.call.received('BYE'), o.startMs ?? 5000))) {
      return `no sound within ${o.startMs ?? 5000} ms; received ${m.rx.describe(since)}; ${this.boxState()}`;
    }
    if (m.call.received('BYE')) return `the box hung up; received ${m.rx.describe(since)}`;
    const ended = await until(() => activeMs(m.rx.last(800)) === 0 || m.call.received('BYE'), o.endMs ?? 15_000);
    const heard = activeMs(m.rx.pcmBetween(since));
    if (!ended) return `the sound did not end within ${o.endMs ?? 15_000} ms; received ${m.rx.describe(since)}`;
    if (heard < (o.minMs ?? 500)) return `only ${heard} ms of sound (wanted ≥ ${o.minMs ?? 500}); received ${m.rx.describe(since)}`;
    return null;
  }

  /** Waits until the member's last `quietMs` of audio hold no sound; false if that did not happen in time. */
  quiet(m: Member, quietMs = 1000, timeoutMs = 12_000): Promise<boolean> {
    return until(() => performance.now() - m.answeredAt > quietMs && m.rx.last(quietMs).length >= (quietMs * 8) * 0.8 && activeMs(m.rx.last(quietMs)) === 0, timeoutMs);
  }
}

export function responses(m: Member): string {
  return m.call.responses.map((r) => r.describe()).join('; ') || 'no response';
}

export function assertAnswered(m: Member): asserts m is Member & { tx: RtpSender } {
  assert.is(m.final.status, 200, `${m.label}: ${responses(m)}`);
  assert.ok(m.tx);
}

/** Tone levels (dBFS) at each test frequency, averaged over 200 ms blocks. */
export function levels(pcm: Int16Array): Record<number, number> {
  return Object.fromEntries(TONES.map((f) => [f, meanToneLevel(pcm, f)]));
}

export function fmt(l: Record<number, number>): string {
  return TONES.map((f) => `${f} Hz ${l[f]!.toFixed(1)}`).join(', ');
}

/** Whether a member hears the tone at about the level it was sent at, over its last second. */
export function hears(m: Member, freq: number): boolean {
  return Math.abs(meanToneLevel(m.rx.last(1000), freq) - LEVEL) <= LEVEL_TOLERANCE_DB;
}

/** Whether a member no longer hears the tone at all (OWN_MARGIN_DB under the level sent), over its last second. */
export function hearsNot(m: Member, freq: number): boolean {
  return meanToneLevel(m.rx.last(1000), freq) <= LEVEL - OWN_MARGIN_DB;
}
