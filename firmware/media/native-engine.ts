/**
 * The media plane in C (firmware/media/native, confbox_engine.node) behind the control plane's
 * `Engine` interface. This is the only module that loads the addon: options are validated here
 * with messages that name them, the addon re-checks types and throws TypeErrors naming the
 * argument. Events travel from the media thread through a thread-safe function that only wakes
 * this thread; the events are then drained here and emitted on `events`.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CodecName, SrtpSuite } from '../sip/sdp.ts';
import type { Engine, EngineEvents, EngineStats, LegOptions } from './engine.ts';

// ---------------------------------------------------------------------------------------------
// The addon's own surface (binding/engine_napi.c), exactly as it is called.

declare const handleBrand: unique symbol;
/** The opaque engine the addon's create() returns (an N-API external). */
export type EngineHandle = { readonly [handleBrand]: true };

/** Engine-wide settings; a missing field takes the engine's default. */
export interface AddonConfig {
  bindAddress?: string;
  portMin?: number;
  portMax?: number;
  maxLegs?: number;
  rtpTimeoutMs?: number;
  vadLevel?: number;
  cname?: string;
  rtPriority?: number;
  mediaThreads?: number;
  latchQuietMs?: number;
  unansweredMs?: number;
  /** Called on the JS thread when events wait; drain them with poll(). */
  onEvents: () => void;
}

export interface AddonLegOptions {
  /** Static payload type of the codec: 0 PCMU, 8 PCMA, 9 G722. */
  codec: 0 | 8 | 9;
  payloadType: number;
  /** -1: no telephone events. */
  dtmfPayloadType: number;
  ptimeMs: number;
  /** 0: the engine's default; 0xFFFFFFFF: never. */
  rtpTimeoutMs?: number;
  symmetric?: boolean;
  /** Flags: 1 sends nothing, 2 mixes nothing and never times out; absent or 0: both ways. */
  direction?: number;
  /** suite 1: AES_CM_128_HMAC_SHA1_80, 2: _32; keys of 30 octets. */
  srtp?: { suite: 1 | 2; txKey: Uint8Array; rxKey: Uint8Array };
}

export type AddonEvent =
  | { type: 'local'; leg: number; state: LocalAudioState }
  | { type: 'dtmf'; leg: number; digit: string }
  | { type: 'talk'; leg: number; talking: boolean; noisy: boolean }
  | { type: 'rtpTimeout'; leg: number }
  | { type: 'played'; playback: number; target: 'leg' | 'conference'; id: number }
  | { type: 'overrun'; count: number };

export type AddonStats = Omit<MediaEngineStats, 'packetsDropped'>;

export interface ConfboxEngineAddon {
  create(config: AddonConfig): EngineHandle;
  destroy(handle: EngineHandle): void;
  openLeg(handle: EngineHandle, options: AddonLegOptions): { leg: number; localPort: number };
  connectLeg(handle: EngineHandle, leg: number, address: string, port: number, options: AddonLegOptions | null): void;
  closeLeg(handle: EngineHandle, leg: number): void;
  join(handle: EngineHandle, leg: number, conference: number): void;
  leave(handle: EngineHandle, leg: number): void;
  setMuted(handle: EngineHandle, leg: number, muted: boolean): void;
  addSound(handle: EngineHandle, pcm: Int16Array, rate: number): number;
  play(handle: EngineHandle, target: 'leg' | 'conference', id: number, sound: number, options?: PlayOptions): number;
  stop(handle: EngineHandle, target: 'leg' | 'conference', id: number): void;
  record(handle: EngineHandle, conference: number, seconds: number): void;
  readRecording(handle: EngineHandle, conference: number): { pcm: Int16Array; dropped: number };
  recordStop(handle: EngineHandle, conference: number): void;
  stats(handle: EngineHandle): AddonStats;
  legStats(handle: EngineHandle, leg: number): LegStats;
  /** Up to POLL_MAX queued events, oldest first. */
  poll(handle: EngineHandle): AddonEvent[];
  openLocalLeg(handle: EngineHandle, devices: LocalDevices): number;
  localStatus(handle: EngineHandle, leg: number): LocalAudioStatus;
  /** "NAME\tIOID\n" lines of the PCMs ALSA's configuration lists; throws when ALSA cannot be used. */
  alsaDevices(): string;
  readonly POLL_MAX: number;
  /** Whether legs can use SRTP: libsrtp2 loads (its version), or why not. */
  srtpStatus(): SrtpStatus;
  /** One datagram of systemd's notify protocol to "/path" or "@abstract" (binding/notify.c); used by firmware/systemd.ts. */
  sdNotify(socket: string, message: string): void;
  /** Gives the pages of the C heap's free memory back to the system (binding/memory.c); true if any went back. */
  releaseMemory(): boolean;
  /** Output lines of a GPIO chip, held until released (binding/gpio.c); used by firmware/hw/gpio-chip.ts. */
  gpioRequest(chip: string, offsets: number[], initialBits: number, consumer: string): number;
  gpioSet(fd: number, mask: number, bits: number): void;
  gpioRelease(fd: number): void;
}

const ADDON_FILE = 'confbox_engine.node';
const ADDON_FUNCTIONS = [
  'create', 'destroy', 'openLeg', 'connectLeg', 'closeLeg', 'join', 'leave', 'setMuted', 'addSound', 'play', 'stop',
  'stats', 'legStats', 'poll', 'sdNotify', 'releaseMemory', 'openLocalLeg', 'localStatus', 'alsaDevices', 'srtpStatus', 'gpioRequest', 'gpioSet', 'gpioRelease',
] as const;

const here = dirname(fileURLToPath(import.meta.url));
const requireAddon = createRequire(import.meta.url);

/**
 * Where confbox_engine.node is looked for, in order: beside this module (the bundle's directory, where build.mjs
 * copies it), beside the entry script, and node-gyp's output when running from the sources.
 */
export function addonCandidates(): string[] {
  const dirs = [here];
  if (process.argv[1]) dirs.push(dirname(resolve(process.argv[1])));
  dirs.push(join(here, 'native/build/Release'));
  return [...new Set(dirs.map((d) => join(d, ADDON_FILE)))];
}

/** The first addon file that exists, or null when it has not been built. */
export function findAddon(): string | null {
  return addonCandidates().find((p) => existsSync(p)) ?? null;
}

/**
 * Loads the addon: from a path, from the usual places (see addonCandidates), or checks and returns an addon the
 * caller already loaded (bundlers move files; a test may bring its own).
 */
export function loadAddon(pathOrAddon?: string | ConfboxEngineAddon): ConfboxEngineAddon {
  if (pathOrAddon !== undefined && typeof pathOrAddon !== 'string') return checkAddon(pathOrAddon, 'the given addon');
  const path = pathOrAddon === undefined ? findAddon() : resolve(pathOrAddon);
  if (path === null) {
    throw new EngineError(
      `${ADDON_FILE} not found (looked for ${addonCandidates().join(', ')}); build it with "node build.mjs native"`,
      'ERR_CONFBOX_ADDON_NOT_FOUND',
    );
  }
  let loaded: unknown;
  try {
    loaded = requireAddon(path);
  } catch (e) {
    throw new EngineError(`cannot load ${path}: ${e instanceof Error ? e.message : String(e)}`, 'ERR_CONFBOX_ADDON_LOAD', { cause: e });
  }
  return checkAddon(loaded, path);
}

function checkAddon(addon: unknown, from: string): ConfboxEngineAddon {
  if (typeof addon !== 'object' || addon === null) throw new TypeError(`${from} is not a confbox engine addon`);
  const a = addon as Record<string, unknown>;
  const missing = ADDON_FUNCTIONS.filter((f) => typeof a[f] !== 'function');
  if (missing.length > 0 || typeof a.POLL_MAX !== 'number') {
    throw new TypeError(`${from} is not a confbox engine addon (missing ${missing.join(', ') || 'POLL_MAX'})`);
  }
  return addon as ConfboxEngineAddon;
}

// ---------------------------------------------------------------------------------------------
// The engine as the control plane sees it, with the additions proposed for engine.ts.

/** An error of the engine with a code: ENOENT (no such leg), ERR_ENGINE_CLOSED, or the addon's errno code. */
export class EngineError extends Error {
  constructor(message: string, readonly code: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
  }
}

/** Leg settings: the SDP's (LegOptions) and the engine's own. */
export interface MediaLegOptions extends LegOptions {
  /** Inactivity before `rtpTimeout`, in ms; null: never; absent: the engine's `rtpTimeoutMs`. */
  rtpTimeoutMs?: number | null;
  /** NAT: accept the first source from any host and send to it instead of the SDP's address. */
  symmetric?: boolean;
}

/** Whether the engine can encrypt calls (libsrtp2, loaded at run time). */
export interface SrtpStatus {
  available: boolean;
  /** libsrtp2's version, e.g. "libsrtp2 2.5.0"; "" when unavailable. */
  version: string;
  /** Why SRTP is unavailable; "" when it is available. */
  reason: string;
}

/** A playback goes into one leg (only its caller hears it) or into a conference (every member hears it). */
export type PlayTarget = { leg: number } | { conference: string };

export interface PlayOptions {
  /** Start again at the end until stopped (waiting music). */
  loop?: boolean;
  /** Heard instead of the conference, not mixed with it. */
  replace?: boolean;
}

export type SoundRate = 8000 | 16000;

/**
 * The box's own microphone and speaker (a local leg): ALSA PCM names, at least one of the two. The engine opens
 * them at 16 kHz mono 16-bit on a thread of its own and reopens them with back-off when they fail or disappear.
 */
export interface LocalDevices {
  /** The microphone's PCM, e.g. "plughw:1,0"; absent: none. */
  capture?: string;
  /** The speaker's PCM; absent: none. */
  playback?: string;
  /** Wait before the first reopen after a failure, ms [1000]; it doubles per failed attempt up to retryMaxMs [30000]. */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Cancel the speaker's echo in the microphone (speexdsp): the echo path after delayMs [30] lasts tailMs [100]. */
  echo?: EchoCancelOptions;
}

export interface EchoCancelOptions {
  /** How long the filter's model of the room is, ms (20..1000). */
  tailMs?: number;
  /** The sound card's delay between playing and the room hearing it, ms (0..1000). */
  delayMs?: number;
  /** Noise suppression, dB (0: off, up to 60). */
  noiseSuppressDb?: number;
}

/** opening: the first attempt is under way; ok: every named device runs; unavailable: failed or lost, retried. */
export type LocalAudioState = 'opening' | 'ok' | 'unavailable';

export interface LocalAudioStatus {
  state: LocalAudioState;
  /** Negative errno of the last failure; 0 when ok. */
  error: number;
  /** The failure in words (device, step, ALSA's reason), or the devices in use. */
  message: string;
  /** Failed attempts since the last success. */
  attempts: number;
  /** While unavailable: ms to the next attempt. */
  retryInMs: number;
  captureChannels: number;
  playbackChannels: number;
  /** 20 ms frames read from the microphone and written to the speaker. */
  captured: number;
  played: number;
  /** Frames dropped to keep the delay bounded when the card's clock and the engine's drift apart. */
  captureDropped: number;
  playbackDropped: number;
  /** ALSA overruns and underruns recovered. */
  xruns: number;
  /** The speaker's echo is cancelled in the microphone's audio. */
  echoCancel: boolean;
  /** Why echo cannot be cancelled on this machine (speexdsp missing), or "". */
  echoUnavailable: string;
}

export interface MediaEngineEvents extends EngineEvents {
  /** A local leg's sound card changed state (or failed differently); localStatus() tells the rest. */
  localAudio(leg: number, state: LocalAudioState): void;
  /** A playback finished by itself (not when stopped or replaced). */
  played(playback: number, target: PlayTarget): void;
  /** A media thread missed lateTicks 20 ms ticks since its last report (at most one report a second per thread). */
  overrun(lateTicks: number): void;
}

export interface MediaEngineStats extends EngineStats {
  conferences: number;
  /** 20 ms ticks every media thread has run: one stalled thread stalls the count (the systemd watchdog follows it). */
  ticks: number;
  /** Ticks the media threads missed, added up. */
  lateTicks: number;
  packetsOut: number;
  /** packetsDropped = droppedMalformed + droppedForeign + droppedOther + droppedAuth. */
  droppedMalformed: number;
  droppedForeign: number;
  droppedOther: number;
  /** SRTP/SRTCP packets that failed authentication. */
  droppedAuth: number;
  /** Events lost because the engine's ring was full. */
  eventsDropped: number;
  /** Longest tick of the last one to two seconds, in µs: the same for every reader (reading resets nothing). */
  tickMaxUs: number;
  /** Longest tick since the engine started, in µs. */
  tickMaxEverUs: number;
  /** Media threads: a conference and its members run on one of them. */
  threads: number;
  /** System calls that took packets in and sent them out: packetsIn / receiveCalls says how many each carried. */
  receiveCalls: number;
  sendCalls: number;
}

export interface LegStats {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  droppedMalformed: number;
  droppedForeign: number;
  droppedOther: number;
  /** SRTP/SRTCP packets that failed authentication. */
  droppedAuth: number;
  /** Times another source took over the leg's stream after the locked one fell silent. */
  relatches: number;
  /** RTP packets lost (RFC 3550 A.3). */
  lost: number;
  jitterMs: number;
  /** Jitter buffer depth and its adaptive target. */
  bufferMs: number;
  targetMs: number;
  concealed: number;
  ssrcChanges: number;
  /** What the remote's latest RTCP report says about our stream. */
  remoteLost: number;
  remoteJitterMs: number;
  localPort: number;
  /** The media thread that runs the leg, from 0. */
  thread: number;
}

// any[]: node:events takes listeners of any arguments; each event's are typed by E.
type Listener = (...args: any[]) => void;
type EventMap<E> = { [K in keyof E]: Listener };
/** The arguments of an event's listener. */
export type EventArgs<F> = F extends (...args: infer A) => void ? A : never;

/** A typed face of node:events' EventEmitter. */
export class EngineEventEmitter<E extends EventMap<E>> {
  readonly #ee = new EventEmitter();

  on<K extends keyof E & string>(event: K, listener: E[K]): this {
    this.#ee.on(event, listener as Listener);
    return this;
  }

  once<K extends keyof E & string>(event: K, listener: E[K]): this {
    this.#ee.once(event, listener as Listener);
    return this;
  }

  off<K extends keyof E & string>(event: K, listener: E[K]): this {
    this.#ee.off(event, listener as Listener);
    return this;
  }

  emit<K extends keyof E & string>(event: K, ...args: EventArgs<E[K]>): boolean {
    return this.#ee.emit(event, ...args);
  }

  listenerCount(event: keyof E & string): number {
    return this.#ee.listenerCount(event);
  }

  removeAllListeners(event?: keyof E & string): this {
    if (event === undefined) this.#ee.removeAllListeners();
    else this.#ee.removeAllListeners(event);
    return this;
  }
}

/** The legs a port range holds: one even RTP port and the odd RTCP port above it each. */
export function portPairs(ports: { min: number; max: number }): number {
  const lo = ports.min + (ports.min % 2);
  return ports.max > lo ? Math.floor((ports.max - lo + 1) / 2) : 0;
}

/** `Engine` with the additions proposed for engine.ts; NativeEngine and MockEngine implement it. */
export interface MediaEngine extends Engine {
  readonly events: EngineEventEmitter<MediaEngineEvents>;
  /** How many legs can be open at once: the RTP/RTCP port pairs of the range (or maxLegs, when fewer). */
  capacity(): number;
  openLeg(opts: MediaLegOptions): Promise<{ leg: number; localPort: number }>;
  connectLeg(leg: number, address: string, port: number, opts: MediaLegOptions): void;
  /** Stores a sound (mono 16-bit PCM) for playback until close(); returns its id. */
  addSound(pcm: Int16Array, rate: SoundRate): number;
  /** Plays a sound into a leg or a conference, replacing what that target was playing; returns the playback id. */
  play(target: PlayTarget, sound: number, opts?: PlayOptions): number;
  /** Stops the target's playback, if any (no `played` event). */
  stop(target: PlayTarget): void;
  /**
   * Starts keeping the conference's mix (what a member who says nothing hears, prompts included) at 16 kHz, in a
   * buffer of bufferSeconds that readRecording() drains; the recording ends with stopRecording() or the conference.
   */
  record(conference: string, bufferSeconds?: number): void;
  /** The recorded audio since the last read (16 kHz), and how many samples were dropped so far for want of reading. */
  readRecording(conference: string): { pcm: Int16Array; dropped: number };
  stopRecording(conference: string): void;
  legStats(leg: number): LegStats;
  stats(): MediaEngineStats;
  /** Opens a local leg (the box's own sound card); it joins conferences, is muted and hears playback like any leg. */
  openLocalLeg(devices: LocalDevices): number;
  /** A local leg's device state and counters. */
  localStatus(leg: number): LocalAudioStatus;
  /** The sound devices ALSA's configuration lists on this machine (as `aplay -L`); [] when ALSA cannot be used. */
  alsaDevices(): string[];
  /** Whether legs can use SRTP. */
  srtp(): SrtpStatus;
}

// ---------------------------------------------------------------------------------------------
// Validation, shared with MockEngine so code tested against the mock passes the same checks.

const CODECS: Readonly<Record<CodecName, 0 | 8 | 9>> = { PCMU: 0, PCMA: 8, G722: 9 };
const SRTP_SUITES: Readonly<Record<SrtpSuite, 1 | 2>> = { AES_CM_128_HMAC_SHA1_80: 1, AES_CM_128_HMAC_SHA1_32: 2 };
/** Master key (16 octets) and salt (14) of the AES_CM_128 suites. */
export const SRTP_KEY_LENGTH = 30;
const NEVER = 0xffffffff;
/** engine.h ENGINE_DIR_* flags of a leg's direction. */
const DIR_NO_SEND = 1;
const DIR_NO_RECEIVE = 2;

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`Expected the "${name}" option to be a number, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Expected the "${name}" option to be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

function boolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`Expected the "${name}" option to be a boolean, got ${describe(value)}`);
  return value;
}

function object(value: unknown, name: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`Expected "${name}" to be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Checks a leg's options and translates them for the addon. */
export function validateLegOptions(opts: MediaLegOptions): AddonLegOptions {
  const o = object(opts, 'options');
  if (typeof o.codec !== 'string') throw new TypeError(`Expected the "codec" option to be a string, got ${describe(o.codec)}`);
  const codec = Object.hasOwn(CODECS, o.codec) ? CODECS[o.codec as CodecName] : undefined;
  if (codec === undefined) throw new RangeError(`Expected the "codec" option to be one of PCMU, PCMA, G722, got ${describe(o.codec)}`);
  const payloadType = integer(o.payloadType, 'payloadType', 0, 127);
  const ptimeMs = integer(o.ptime, 'ptime', 10, 60);
  if (ptimeMs % 10 !== 0) throw new RangeError(`Expected the "ptime" option to be a multiple of 10 ms, got ${ptimeMs}`);
  let dtmfPayloadType = -1;
  if (o.dtmfPayloadType !== null) {
    dtmfPayloadType = integer(o.dtmfPayloadType, 'dtmfPayloadType', 0, 127);
    if (dtmfPayloadType === payloadType) {
      throw new RangeError(`Expected the "dtmfPayloadType" option to differ from "payloadType" (${payloadType})`);
    }
  }
  const out: AddonLegOptions = { codec, payloadType, dtmfPayloadType, ptimeMs };
  if (o.rtpTimeoutMs === null) out.rtpTimeoutMs = NEVER;
  else if (o.rtpTimeoutMs !== undefined) out.rtpTimeoutMs = integer(o.rtpTimeoutMs, 'rtpTimeoutMs', 1, NEVER - 1);
  if (o.symmetric !== undefined) out.symmetric = boolean(o.symmetric, 'symmetric');
  const send = o.send === undefined ? true : boolean(o.send, 'send');
  const receive = o.receive === undefined ? true : boolean(o.receive, 'receive');
  if (!send || !receive) out.direction = (send ? 0 : DIR_NO_SEND) | (receive ? 0 : DIR_NO_RECEIVE);
  if (o.srtp !== undefined && o.srtp !== null) {
    const s = object(o.srtp, 'srtp');
    const suite = typeof s.suite === 'string' && Object.hasOwn(SRTP_SUITES, s.suite) ? SRTP_SUITES[s.suite as SrtpSuite] : undefined;
    if (suite === undefined) throw new RangeError(`Expected the "srtp.suite" option to be one of ${Object.keys(SRTP_SUITES).join(', ')}, got ${describe(s.suite)}`);
    out.srtp = { suite, txKey: srtpKey(s.local, 'srtp.local'), rxKey: srtpKey(s.remote, 'srtp.remote') };
  }
  return out;
}

function srtpKey(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`Expected the "${name}" option to be a Uint8Array, got ${describe(value)}`);
  if (value.length !== SRTP_KEY_LENGTH) throw new RangeError(`Expected the "${name}" option to be ${SRTP_KEY_LENGTH} octets (master key and salt), got ${value.length}`);
  return value;
}

/** Checks where a leg's RTP goes: a numeric address (the engine resolves no names) and a port (0: nowhere). */
export function validateRemote(address: unknown, port: unknown): { address: string; port: number } {
  if (typeof address !== 'string') throw new TypeError(`Expected the "address" option to be a string, got ${describe(address)}`);
  if (isIP(address) === 0) throw new RangeError(`Expected the "address" option to be a numeric IPv4 or IPv6 address, got ${describe(address)}`);
  return { address, port: integer(port, 'port', 0, 65535) };
}

/** Checks a local leg's devices: ALSA PCM names of printable ASCII without spaces, at least one. */
/** A PCM name with simple arguments (plughw:1,0, hw:CARD=Device,DEV=0): nothing ALSA could read as a plugin definition, path or command. */
const ALSA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,31}(:[A-Za-z0-9_=,]{1,94})?$/;

/** The PCM names in the addon's alsaDevices() text. */
export function parseAlsaDeviceList(text: string): string[] {
  return [...new Set(text.split('\n').map((l) => l.split('\t')[0]!.trim()).filter((n) => n !== ''))];
}

/** The sound devices ALSA lists on this machine, through the addon; [] when either cannot be loaded. */
export function listAlsaDevices(addon?: ConfboxEngineAddon): string[] {
  try {
    return parseAlsaDeviceList((addon ?? loadAddon()).alsaDevices());
  } catch {
    return [];
  }
}

export function validateLocalDevices(devices: unknown): LocalDevices {
  const o = object(devices, 'devices');
  const out: LocalDevices = {};
  for (const k of ['capture', 'playback'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'string') throw new TypeError(`Expected the "${k}" option to be a string, got ${describe(v)}`);
    if (!ALSA_NAME.test(v)) throw new RangeError(`Expected the "${k}" option to be an ALSA device name (a PCM name with simple arguments, no quotes, paths or plugin settings), got ${describe(v)}`);
    out[k] = v;
  }
  if (out.capture === undefined && out.playback === undefined) throw new TypeError('Expected the "capture" or the "playback" option to name a device');
  if (o.retryMinMs !== undefined) out.retryMinMs = integer(o.retryMinMs, 'retryMinMs', 1, 3_600_000);
  if (o.retryMaxMs !== undefined) out.retryMaxMs = integer(o.retryMaxMs, 'retryMaxMs', 1, 3_600_000);
  if (o.echo !== undefined) {
    const e = object(o.echo, 'echo');
    out.echo = {};
    if (e.tailMs !== undefined) out.echo.tailMs = integer(e.tailMs, 'echo.tailMs', 20, 1000);
    if (e.delayMs !== undefined) out.echo.delayMs = integer(e.delayMs, 'echo.delayMs', 0, 1000);
    if (e.noiseSuppressDb !== undefined) out.echo.noiseSuppressDb = integer(e.noiseSuppressDb, 'echo.noiseSuppressDb', 0, 60);
  }
  return out;
}

export function validateConferenceKey(key: unknown): string {
  if (typeof key !== 'string') throw new TypeError(`Expected the "conference" option to be a string, got ${describe(key)}`);
  if (key.length === 0) throw new RangeError('Expected the "conference" option to be a non-empty string');
  return key;
}

export function validatePlayTarget(target: unknown): PlayTarget {
  const t = object(target, 'target');
  if ('leg' in t && !('conference' in t)) return { leg: integer(t.leg, 'target.leg', 0, NEVER) };
  if ('conference' in t && !('leg' in t)) return { conference: validateConferenceKey(t.conference) };
  throw new TypeError('Expected "target" to be { leg } or { conference }');
}

export function validatePlayOptions(opts: unknown): PlayOptions {
  if (opts === undefined) return {};
  const o = object(opts, 'play options');
  const out: PlayOptions = {};
  if (o.loop !== undefined) out.loop = boolean(o.loop, 'loop');
  if (o.replace !== undefined) out.replace = boolean(o.replace, 'replace');
  return out;
}

export function validateSound(pcm: unknown, rate: unknown): { pcm: Int16Array; rate: SoundRate } {
  if (!(pcm instanceof Int16Array)) throw new TypeError(`Expected "pcm" to be an Int16Array, got ${describe(pcm)}`);
  if (pcm.length === 0) throw new RangeError('Expected "pcm" to hold at least one sample');
  if (rate !== 8000 && rate !== 16000) throw new RangeError(`Expected the "rate" option to be 8000 or 16000, got ${describe(rate)}`);
  return { pcm, rate };
}

export interface NativeEngineOptions {
  /** RTP port range: RTP on even ports, RTCP on the odd port above. */
  rtpPorts: { min: number; max: number };
  /** Numeric IPv4 or IPv6 address the RTP sockets bind to [0.0.0.0]. An IPv6 one also serves IPv4 peers. */
  bindAddress?: string;
  /** Legs open at once, fewer than the port range allows [as many as it has RTP/RTCP port pairs]. */
  maxLegs?: number;
  /** A leg's default inactivity time before `rtpTimeout`, in ms [30000]. */
  rtpTimeoutMs?: number;
  /** Mean |sample| below which a talker's frame is not mixed [0: off]. */
  vadLevel?: number;
  /** RTCP CNAME ["confbox"]. */
  cname?: string;
  /** SCHED_FIFO priority of the media threads, if the process may [0: none]. */
  rtPriority?: number;
  /** Threads that mix and move media, 1 to 64; a conference and its members run on one [the processors the process may use, less one, at least 1]. */
  mediaThreads?: number;
  /** A locked RTP source must be silent this long before another source of the peer takes its place, ms [2000]. */
  latchQuietMs?: number;
  /** A leg that has received no RTP this long after it was connected stops sending until RTP comes, ms [10000]. */
  unansweredMs?: number;
  /** The addon or its path; found beside the bundle (or in the build directory) by default. */
  addon?: string | ConfboxEngineAddon;
}

/** Checks the engine's options and translates them for the addon (less onEvents). */
export function validateEngineOptions(options: NativeEngineOptions): Omit<AddonConfig, 'onEvents'> {
  const o = object(options, 'options');
  const ports = object(o.rtpPorts, 'rtpPorts');
  const min = integer(ports.min, 'rtpPorts.min', 1, 65535);
  const max = integer(ports.max, 'rtpPorts.max', 1, 65535);
  if (max - (min + (min % 2)) < 1) {
    throw new RangeError(`Expected the "rtpPorts" option to hold an even and the next odd port, got ${min}-${max}`);
  }
  const out: Omit<AddonConfig, 'onEvents'> = { portMin: min, portMax: max };
  if (o.bindAddress !== undefined) {
    if (typeof o.bindAddress !== 'string' || isIP(o.bindAddress) === 0) {
      throw new TypeError(`Expected the "bindAddress" option to be a numeric IPv4 or IPv6 address, got ${describe(o.bindAddress)}`);
    }
    out.bindAddress = o.bindAddress;
  }
  if (o.maxLegs !== undefined) out.maxLegs = integer(o.maxLegs, 'maxLegs', 1, 65535);
  if (o.rtpTimeoutMs !== undefined) out.rtpTimeoutMs = integer(o.rtpTimeoutMs, 'rtpTimeoutMs', 1, NEVER - 1);
  if (o.vadLevel !== undefined) out.vadLevel = integer(o.vadLevel, 'vadLevel', 0, 32767);
  if (o.rtPriority !== undefined) out.rtPriority = integer(o.rtPriority, 'rtPriority', 0, 99);
  if (o.mediaThreads !== undefined) out.mediaThreads = integer(o.mediaThreads, 'mediaThreads', 1, 64);
  if (o.latchQuietMs !== undefined) out.latchQuietMs = integer(o.latchQuietMs, 'latchQuietMs', 1, 3_600_000);
  if (o.unansweredMs !== undefined) out.unansweredMs = integer(o.unansweredMs, 'unansweredMs', 1, 3_600_000);
  if (o.cname !== undefined) {
    if (typeof o.cname !== 'string' || !/^[\x21-\x7e]{1,63}$/.test(o.cname)) {
      throw new RangeError(`Expected the "cname" option to be 1 to 63 printable ASCII characters, got ${describe(o.cname)}`);
    }
    out.cname = o.cname;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

interface Conference {
  id: number;
  members: Set<number>;
}

function errnoOf(e: unknown): string | undefined {
  const code: unknown = e instanceof Error ? (e as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/**
 * The C media engine: legs, conferences and playback mixed on its own real-time thread. Conference keys (the
 * control plane's strings) are mapped to the engine's conference numbers here.
 */
export class NativeEngine implements MediaEngine {
  readonly events = new EngineEventEmitter<MediaEngineEvents>();
  readonly #addon: ConfboxEngineAddon;
  readonly #handle: EngineHandle;
  readonly #ports: { min: number; max: number };
  readonly #maxLegs: number;
  readonly #bindAddress: string;
  #closed = false;
  /** Open legs and the conference each is in. */
  readonly #legs = new Map<number, string | null>();
  readonly #conferences = new Map<string, Conference>();
  /** Conference number -> key, kept one drain after the conference ends so its late events still name it. */
  readonly #keys = new Map<number, string>();
  #retired: number[] = [];
  #nextConference = 1;

  constructor(options: NativeEngineOptions) {
    const config = validateEngineOptions(options);
    this.#ports = { min: config.portMin ?? 0, max: config.portMax ?? 0 };
    this.#maxLegs = Math.min(config.maxLegs ?? 65535, portPairs(this.#ports), 65535);
    this.#bindAddress = config.bindAddress ?? '0.0.0.0';
    this.#addon = loadAddon(options.addon);
    this.#handle = this.#addon.create({ ...config, onEvents: () => this.#drain() });
  }

  /** Whether close() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  capacity(): number {
    return this.#maxLegs;
  }

  async openLeg(opts: MediaLegOptions): Promise<{ leg: number; localPort: number }> {
    this.#open();
    const o = validateLegOptions(opts);
    try {
      const r = this.#addon.openLeg(this.#handle, o);
      this.#legs.set(r.leg, null);
      return r;
    } catch (e) {
      const code = errnoOf(e);
      if (code === 'EADDRINUSE') throw new EngineError(`no free RTP port pair in ${this.#ports.min}-${this.#ports.max}`, code, { cause: e });
      if (code === 'EMFILE') throw new EngineError(`too many legs (${this.#maxLegs} at most), or the box's open-file limit is reached`, code, { cause: e });
      if (code === 'ENOSYS') throw new EngineError(`SRTP is unavailable: ${this.srtp().reason}`, code, { cause: e });
      throw e;
    }
  }

  connectLeg(leg: number, address: string, port: number, opts: MediaLegOptions): void {
    this.#open();
    this.#leg(leg);
    const remote = validateRemote(address, port);
    if (isIP(this.#bindAddress) === 4 && isIP(remote.address) === 6) {
      throw new RangeError(`Expected the "address" option to be an IPv4 address (RTP is bound to ${this.#bindAddress}), got ${describe(address)}`);
    }
    try {
      this.#addon.connectLeg(this.#handle, leg, remote.address, remote.port, validateLegOptions(opts));
    } catch (e) {
      if (errnoOf(e) === 'ENOSYS') throw new EngineError(`SRTP is unavailable: ${this.srtp().reason}`, 'ENOSYS', { cause: e });
      throw e;
    }
  }

  joinConference(leg: number, conference: string): void {
    this.#open();
    const current = this.#leg(leg);
    const key = validateConferenceKey(conference);
    if (current === key) return;
    let c = this.#conferences.get(key);
    const id = c?.id ?? this.#nextConference;
    try {
      this.#addon.join(this.#handle, leg, id);
    } catch (e) {
      // The engine takes the leg out of its conference before it finds or makes the new one.
      if (current !== null && errnoOf(e) !== 'ENOENT') {
        this.#forget(leg, current);
        this.#legs.set(leg, null);
      }
      throw e;
    }
    if (current !== null) this.#forget(leg, current);
    if (!c) {
      c = { id, members: new Set() };
      this.#nextConference = this.#nextConference >= NEVER ? 1 : this.#nextConference + 1;
      this.#conferences.set(key, c);
      this.#keys.set(id, key);
    }
    c.members.add(leg);
    this.#legs.set(leg, key);
  }

  leaveConference(leg: number): void {
    if (this.#closed || !this.#legs.has(leg)) return;
    const current = this.#legs.get(leg) ?? null;
    if (current === null) return;
    this.#ignoreGone(() => this.#addon.leave(this.#handle, leg));
    this.#forget(leg, current);
    this.#legs.set(leg, null);
  }

  setMuted(leg: number, muted: boolean): void {
    this.#open();
    this.#leg(leg);
    this.#addon.setMuted(this.#handle, leg, boolean(muted, 'muted'));
  }

  /** Closes the leg and frees its ports; unknown or already closed legs are ignored. */
  closeLeg(leg: number): void {
    if (this.#closed || !this.#legs.has(leg)) return;
    const current = this.#legs.get(leg) ?? null;
    this.#ignoreGone(() => this.#addon.closeLeg(this.#handle, leg));
    this.#legs.delete(leg);
    if (current !== null) this.#forget(leg, current);
  }

  addSound(pcm: Int16Array, rate: SoundRate): number {
    this.#open();
    const s = validateSound(pcm, rate);
    return this.#addon.addSound(this.#handle, s.pcm, s.rate);
  }

  play(target: PlayTarget, sound: number, opts?: PlayOptions): number {
    this.#open();
    const [kind, id] = this.#target(validatePlayTarget(target), true);
    integer(sound, 'sound', 0, NEVER);
    const o = validatePlayOptions(opts);
    try {
      return this.#addon.play(this.#handle, kind, id, sound, o);
    } catch (e) {
      if (errnoOf(e) === 'EINVAL') throw new EngineError(`no sound ${sound}`, 'EINVAL', { cause: e });
      throw e;
    }
  }

  stop(target: PlayTarget): void {
    if (this.#closed) return;
    const [kind, id] = this.#target(validatePlayTarget(target), false);
    if (id < 0) return;
    this.#addon.stop(this.#handle, kind, id);
  }

  record(conference: string, bufferSeconds = 10): void {
    this.#open();
    const [, id] = this.#target({ conference }, true);
    try {
      this.#addon.record(this.#handle, id, bufferSeconds);
    } catch (e) {
      if (errnoOf(e) === 'EBUSY') throw new EngineError(`conference ${describe(conference)} is being recorded already`, 'EBUSY', { cause: e });
      throw e;
    }
  }

  readRecording(conference: string): { pcm: Int16Array; dropped: number } {
    this.#open();
    const [, id] = this.#target({ conference }, true);
    const parts: Int16Array[] = [];
    let dropped = 0;
    for (;;) {
      const r = this.#addon.readRecording(this.#handle, id);
      parts.push(r.pcm);
      dropped = r.dropped;
      if (r.pcm.length < 16000) break;
    }
    const pcm = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      pcm.set(p, at);
      at += p.length;
    }
    return { pcm, dropped };
  }

  stopRecording(conference: string): void {
    if (this.#closed) return;
    const [, id] = this.#target({ conference }, false);
    if (id < 0) return;
    try {
      this.#addon.recordStop(this.#handle, id);
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
  }

  stats(): MediaEngineStats {
    this.#open();
    const s = this.#addon.stats(this.#handle);
    return { ...s, packetsDropped: s.droppedMalformed + s.droppedForeign + s.droppedOther + s.droppedAuth };
  }

  /**
   * Gives the free memory of the process's C heap back to the system: what legs, SIP messages and buffers of ended
   * calls left between live blocks, which free() cannot return. Returns whether any went back. Takes about a
   * millisecond per 30 MB of heap.
   */
  releaseMemory(): boolean {
    return this.#addon.releaseMemory();
  }

  legStats(leg: number): LegStats {
    this.#open();
    this.#leg(leg);
    return this.#addon.legStats(this.#handle, leg);
  }

  openLocalLeg(devices: LocalDevices): number {
    this.#open();
    const leg = this.#addon.openLocalLeg(this.#handle, validateLocalDevices(devices));
    this.#legs.set(leg, null);
    return leg;
  }

  alsaDevices(): string[] {
    return listAlsaDevices(this.#addon);
  }

  localStatus(leg: number): LocalAudioStatus {
    this.#open();
    this.#leg(leg);
    try {
      return this.#addon.localStatus(this.#handle, leg);
    } catch (e) {
      if (errnoOf(e) === 'EINVAL') throw new EngineError(`leg ${leg} is not a local leg`, 'EINVAL', { cause: e });
      throw e;
    }
  }

  srtp(): SrtpStatus {
    return this.#addon.srtpStatus();
  }

  /** Stops the media thread and closes every leg. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#addon.destroy(this.#handle);
    this.#legs.clear();
    this.#conferences.clear();
    this.#keys.clear();
    this.#retired = [];
  }

  /** Teardown is idempotent: the engine not knowing the leg any more is what was asked. */
  #ignoreGone(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
  }

  #open(): void {
    if (this.#closed) throw new EngineError('the media engine is closed', 'ERR_ENGINE_CLOSED');
  }

  /** The leg's conference; throws for a leg that is not open. */
  #leg(leg: number): string | null {
    const c = this.#legs.get(leg);
    if (c === undefined) throw new EngineError(`leg ${describe(leg)} is not open`, 'ENOENT');
    return c;
  }

  /** The addon's target; id -1 (when not strict) for a conference without members or an unknown leg. */
  #target(t: PlayTarget, strict: boolean): ['leg' | 'conference', number] {
    if ('leg' in t) {
      if (!this.#legs.has(t.leg)) {
        if (strict) this.#leg(t.leg);
        return ['leg', -1];
      }
      return ['leg', t.leg];
    }
    const c = this.#conferences.get(t.conference);
    if (!c && strict) throw new EngineError(`conference ${describe(t.conference)} has no members`, 'ENOENT');
    return ['conference', c?.id ?? -1];
  }

  /** The leg is out of the conference; the engine ends a conference with its last member. */
  #forget(leg: number, key: string): void {
    const c = this.#conferences.get(key);
    if (!c) return;
    c.members.delete(leg);
    if (c.members.size > 0) return;
    this.#conferences.delete(key);
    this.#retired.push(c.id);
  }

  /** Drains the engine's event ring (woken by the media thread) and emits what concerns open legs. */
  #drain(): void {
    if (this.#closed) return;
    const retired = this.#retired.length;
    for (;;) {
      const batch = this.#addon.poll(this.#handle);
      for (const ev of batch) this.#dispatch(ev);
      if (batch.length < this.#addon.POLL_MAX || this.#closed) break;
    }
    // Events of conferences that ended before this drain began were all in the ring: none can follow.
    for (const id of this.#retired.splice(0, retired)) this.#keys.delete(id);
  }

  #dispatch(ev: AddonEvent): void {
    try {
      switch (ev.type) {
        case 'dtmf':
          if (this.#legs.has(ev.leg)) this.events.emit('dtmf', ev.leg, ev.digit);
          break;
        case 'talk':
          if (this.#legs.has(ev.leg)) this.events.emit('talk', ev.leg, { talking: ev.talking, noisy: ev.noisy });
          break;
        case 'rtpTimeout':
          if (this.#legs.has(ev.leg)) this.events.emit('rtpTimeout', ev.leg);
          break;
        case 'played': {
          if (ev.target === 'leg') {
            if (this.#legs.has(ev.id)) this.events.emit('played', ev.playback, { leg: ev.id });
          } else {
            const key = this.#keys.get(ev.id);
            if (key !== undefined) this.events.emit('played', ev.playback, { conference: key });
          }
          break;
        }
        case 'overrun':
          this.events.emit('overrun', ev.count);
          break;
        case 'local':
          if (this.#legs.has(ev.leg)) this.events.emit('localAudio', ev.leg, ev.state);
          break;
      }
    } catch (e) {
      // A throwing listener is an uncaught exception, as with any emitter, but the other events still go out.
      process.nextTick(() => {
        throw e;
      });
    }
  }
}
