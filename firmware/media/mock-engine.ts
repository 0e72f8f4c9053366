/**
 * A media engine for tests of code that uses one: it records every call (`calls`), keeps the state a real engine
 * would (legs, ports, conferences, mute, playback) with the same checks and errors as NativeEngine, sends no
 * audio, and is driven with `emit` (a pressed digit, an RTP timeout, a finished playback).
 */
import {
  EngineError,
  portPairs,
  EngineEventEmitter,
  validateConferenceKey,
  validateLegOptions,
  validateLocalDevices,
  validatePlayOptions,
  validatePlayTarget,
  validateRemote,
  validateSound,
  type EventArgs,
  type LegStats,
  type LocalAudioState,
  type LocalAudioStatus,
  type LocalDevices,
  type MediaEngine,
  type MediaEngineEvents,
  type MediaEngineStats,
  type MediaLegOptions,
  type PlayOptions,
  type PlayTarget,
  type SoundRate,
  type SrtpStatus,
} from './native-engine.ts';

type Method = 'openLeg' | 'connectLeg' | 'joinConference' | 'leaveConference' | 'setMuted' | 'closeLeg' | 'addSound' |
  'play' | 'stop' | 'stats' | 'legStats' | 'close' | 'openLocalLeg' | 'localStatus' | 'srtp' | 'record' | 'stopRecording';

/** One call as it was made (arguments as given, before any check). */
export type MockCall = { [M in Method]: { method: M; args: Parameters<MediaEngine[M]> } }[Method];

export interface MockLeg {
  localPort: number;
  options: MediaLegOptions;
  remote: { address: string; port: number } | null;
  conference: string | null;
  muted: boolean;
  /** What the leg is playing, until stopped, replaced or `finishPlayback`. */
  playing: MockPlayback | null;
  /** A local leg's devices and the state `setLocalState` gave them ("opening" at first); null for RTP legs. */
  local: { devices: LocalDevices; status: LocalAudioStatus } | null;
}

export interface MockPlayback {
  id: number;
  sound: number;
  target: PlayTarget;
  options: PlayOptions;
}

export interface MockEngineOptions {
  /** Ports handed out (even ones; the odd one above is RTCP's) [20000-20999]. */
  rtpPorts?: { min: number; max: number };
}

export class MockEngine implements MediaEngine {
  readonly events = new EngineEventEmitter<MediaEngineEvents>();
  /** Every call, in order. */
  readonly calls: MockCall[] = [];
  /** Open legs by id. */
  readonly legs = new Map<number, MockLeg>();
  /** Sounds by id. */
  readonly sounds: Array<{ pcm: Int16Array; rate: SoundRate }> = [];
  /** Playback into each conference with members, by key. */
  readonly conferencePlayback = new Map<string, MockPlayback>();
  /** What srtp() answers: SRTP available unless a test says otherwise. */
  srtpStatus: SrtpStatus = { available: true, version: 'mock', reason: '' };
  /** The next openLeg rejects with this error (then it is cleared). */
  failNextOpen: Error | null = null;
  closed = false;
  #nextLeg = 1;
  #nextPlayback = 1;
  readonly #ports: { min: number; max: number };

  constructor(options: MockEngineOptions = {}) {
    this.#ports = options.rtpPorts ?? { min: 20000, max: 20999 };
  }

  capacity(): number {
    return portPairs(this.#ports);
  }

  /** Drives an event as the media thread would. */
  emit<K extends keyof MediaEngineEvents>(event: K, ...args: EventArgs<MediaEngineEvents[K]>): boolean {
    return this.events.emit(event, ...args);
  }

  /** Ends a playback by itself, as the engine does at a sound's end: clears it and emits `played`. */
  finishPlayback(playback: number): void {
    for (const leg of this.legs.values()) {
      if (leg.playing?.id === playback) {
        const p = leg.playing;
        leg.playing = null;
        this.emit('played', playback, p.target);
        return;
      }
    }
    for (const [key, p] of this.conferencePlayback) {
      if (p.id === playback) {
        this.conferencePlayback.delete(key);
        this.emit('played', playback, p.target);
        return;
      }
    }
    throw new Error(`no playback ${playback} is running`);
  }

  /** The legs in a conference, in the order they joined. */
  members(conference: string): number[] {
    return [...this.legs].filter(([, l]) => l.conference === conference).map(([id]) => id);
  }

  /** The calls of one method, in order. */
  callsOf<M extends Method>(method: M): Array<Extract<MockCall, { method: M }>> {
    return this.calls.filter((c): c is Extract<MockCall, { method: M }> => c.method === method);
  }

  async openLeg(opts: MediaLegOptions): Promise<{ leg: number; localPort: number }> {
    this.calls.push({ method: 'openLeg', args: [opts] });
    this.#open();
    validateLegOptions(opts);
    if (this.failNextOpen) {
      const e = this.failNextOpen;
      this.failNextOpen = null;
      throw e;
    }
    const used = new Set([...this.legs.values()].map((l) => l.localPort));
    let port = this.#ports.min + (this.#ports.min % 2);
    while (port + 1 <= this.#ports.max && used.has(port)) port += 2;
    if (port + 1 > this.#ports.max) {
      throw new EngineError(`no free RTP port pair in ${this.#ports.min}-${this.#ports.max}`, 'EADDRINUSE');
    }
    const leg = this.#nextLeg++;
    this.legs.set(leg, { localPort: port, options: opts, remote: null, conference: null, muted: false, playing: null, local: null });
    return { leg, localPort: port };
  }

  openLocalLeg(devices: LocalDevices): number {
    this.calls.push({ method: 'openLocalLeg', args: [devices] });
    this.#open();
    const d = validateLocalDevices(devices);
    const leg = this.#nextLeg++;
    const status: LocalAudioStatus = {
      state: 'opening', error: 0, message: 'opening the devices', attempts: 0, retryInMs: 0, captureChannels: 0, playbackChannels: 0,
      captured: 0, played: 0, captureDropped: 0, playbackDropped: 0, xruns: 0, echoCancel: d.echo !== undefined, echoUnavailable: '',
    };
    this.legs.set(leg, {
      localPort: 0, options: { codec: 'G722', payloadType: 9, ptime: 20, dtmfPayloadType: null }, remote: null, conference: null,
      muted: false, playing: null, local: { devices: d, status },
    });
    return leg;
  }

  /** What alsaDevices() answers: the names a sound card's ALSA configuration would list. */
  alsaDeviceList: string[] = [];

  alsaDevices(): string[] {
    return [...this.alsaDeviceList];
  }

  localStatus(leg: number): LocalAudioStatus {
    this.calls.push({ method: 'localStatus', args: [leg] });
    this.#open();
    const l = this.#leg(leg);
    if (!l.local) throw new EngineError(`leg ${leg} is not a local leg`, 'EINVAL');
    return { ...l.local.status };
  }

  /** Drives a local leg's devices as its device thread would: the new state and message, then `localAudio`. */
  setLocalState(leg: number, state: LocalAudioState, message: string): void {
    const l = this.#leg(leg);
    if (!l.local) throw new Error(`leg ${leg} is not a local leg`);
    const s = l.local.status;
    if (state === 'unavailable') s.attempts++;
    else if (state === 'ok') s.attempts = 0;
    l.local.status = { ...s, state, message, error: state === 'ok' ? 0 : state === 'unavailable' ? -19 : 0 };
    this.emit('localAudio', leg, state);
  }

  connectLeg(leg: number, address: string, port: number, opts: MediaLegOptions): void {
    this.calls.push({ method: 'connectLeg', args: [leg, address, port, opts] });
    this.#open();
    const l = this.#leg(leg);
    if (l.local) throw new EngineError(`leg ${leg} is a local leg: it has no RTP to connect`, 'EINVAL');
    const remote = validateRemote(address, port);
    validateLegOptions(opts);
    l.remote = remote;
    l.options = opts;
  }

  joinConference(leg: number, conference: string): void {
    this.calls.push({ method: 'joinConference', args: [leg, conference] });
    this.#open();
    const l = this.#leg(leg);
    const key = validateConferenceKey(conference);
    if (l.conference === key) return;
    this.#leave(l);
    l.conference = key;
  }

  leaveConference(leg: number): void {
    this.calls.push({ method: 'leaveConference', args: [leg] });
    const l = this.legs.get(leg);
    if (!this.closed && l) this.#leave(l);
  }

  setMuted(leg: number, muted: boolean): void {
    this.calls.push({ method: 'setMuted', args: [leg, muted] });
    this.#open();
    const l = this.#leg(leg);
    if (typeof muted !== 'boolean') throw new TypeError(`Expected the "muted" option to be a boolean, got ${typeof muted}`);
    l.muted = muted;
  }

  closeLeg(leg: number): void {
    this.calls.push({ method: 'closeLeg', args: [leg] });
    const l = this.legs.get(leg);
    if (this.closed || !l) return;
    this.#leave(l);
    this.legs.delete(leg);
  }

  addSound(pcm: Int16Array, rate: SoundRate): number {
    this.calls.push({ method: 'addSound', args: [pcm, rate] });
    this.#open();
    this.sounds.push(validateSound(pcm, rate));
    return this.sounds.length - 1;
  }

  play(target: PlayTarget, sound: number, opts?: PlayOptions): number {
    this.calls.push({ method: 'play', args: [target, sound, opts] });
    this.#open();
    const t = validatePlayTarget(target);
    const options = validatePlayOptions(opts);
    const leg = 'leg' in t ? this.#leg(t.leg) : null;
    if ('conference' in t && this.members(t.conference).length === 0) {
      throw new EngineError(`conference ${JSON.stringify(t.conference)} has no members`, 'ENOENT');
    }
    if (!Number.isInteger(sound) || sound < 0 || sound >= this.sounds.length) throw new EngineError(`no sound ${sound}`, 'EINVAL');
    const p: MockPlayback = { id: this.#nextPlayback++, sound, target: t, options };
    if (leg) leg.playing = p;
    else if ('conference' in t) this.conferencePlayback.set(t.conference, p);
    return p.id;
  }

  /** Conferences being recorded, as MockEngine keeps no audio: reads give nothing. */
  readonly recorded = new Set<string>();

  record(conference: string, bufferSeconds = 10): void {
    this.calls.push({ method: 'record', args: [conference, bufferSeconds] });
    if (this.recorded.has(conference)) throw new EngineError(`conference ${conference} is being recorded already`, 'EBUSY');
    this.recorded.add(conference);
  }

  readRecording(conference: string): { pcm: Int16Array; dropped: number } {
    if (!this.recorded.has(conference)) throw new EngineError(`conference ${conference} is not being recorded`, 'ENOENT');
    return { pcm: new Int16Array(0), dropped: 0 };
  }

  stopRecording(conference: string): void {
    this.calls.push({ method: 'stopRecording', args: [conference] });
    this.recorded.delete(conference);
  }

  stop(target: PlayTarget): void {
    this.calls.push({ method: 'stop', args: [target] });
    if (this.closed) return;
    const t = validatePlayTarget(target);
    if ('leg' in t) {
      const l = this.legs.get(t.leg);
      if (l) l.playing = null;
    } else {
      this.conferencePlayback.delete(t.conference);
    }
  }

  stats(): MediaEngineStats {
    this.calls.push({ method: 'stats', args: [] });
    this.#open();
    const conferences = new Set([...this.legs.values()].map((l) => l.conference).filter((c) => c !== null)).size;
    return {
      legs: this.legs.size, conferences, ticks: 0, lateTicks: 0, packetsIn: 0, packetsOut: 0, packetsDropped: 0,
      droppedMalformed: 0, droppedForeign: 0, droppedOther: 0, droppedAuth: 0, eventsDropped: 0, tickMaxUs: 0, tickMaxEverUs: 0, threads: 1, receiveCalls: 0, sendCalls: 0,
    };
  }

  legStats(leg: number): LegStats {
    this.calls.push({ method: 'legStats', args: [leg] });
    this.#open();
    const l = this.#leg(leg);
    return {
      packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0, droppedMalformed: 0, droppedForeign: 0, droppedOther: 0,
      droppedAuth: 0, relatches: 0, lost: 0, jitterMs: 0, bufferMs: 0, targetMs: 0, concealed: 0, ssrcChanges: 0, remoteLost: 0, remoteJitterMs: 0,
      localPort: l.localPort, thread: 0,
    };
  }

  srtp(): SrtpStatus {
    this.calls.push({ method: 'srtp', args: [] });
    return { ...this.srtpStatus };
  }

  async close(): Promise<void> {
    this.calls.push({ method: 'close', args: [] });
    this.closed = true;
    this.legs.clear();
    this.conferencePlayback.clear();
  }

  #open(): void {
    if (this.closed) throw new EngineError('the media engine is closed', 'ERR_ENGINE_CLOSED');
  }

  #leg(leg: number): MockLeg {
    const l = this.legs.get(leg);
    if (!l) throw new EngineError(`leg ${leg} is not open`, 'ENOENT');
    return l;
  }

  /** Out of its conference; a conference's playback ends with its last member, as in the engine. */
  #leave(l: MockLeg): void {
    const key = l.conference;
    if (key === null) return;
    l.conference = null;
    if (this.members(key).length === 0) this.conferencePlayback.delete(key);
  }
}
