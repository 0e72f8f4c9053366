import { EventEmitter } from 'node:events';
import { idleUpdate, type UpdateView } from './update/index.ts';
import type { ClusterSnapshot } from './cluster-view.ts';

export type Health = 'starting' | 'ok' | 'down';

/** The box's own microphone and speaker: off (no room attached), ok (open), unavailable (no sound card, or it failed). */
export type LocalAudioHealth = 'off' | 'ok' | 'unavailable';

export interface StatusSnapshot {
  ready: boolean;
  sip: Health;
  database: Health;
  /** The box is moving to another database (chosen on the page) while it runs; calls go on meanwhile. */
  databaseSwitching: boolean;
  media: Health;
  registeredExtensions: number;
  trustedPeers: number;
  activeConferences: number;
  callsInSetup: number;
  /** Calls the box has room for at once: the legs of its RTP port range, less the few kept to tell callers it is full. */
  callPlaces: number;
  /** Call places taken now (calls up or being answered, and phones being invited). */
  callPlacesInUse: number;
  /** Calls refused since the start because every place was taken; when the last was (ms since the epoch), or null. */
  fullRefusals: number;
  fullAt: number | null;
  /** New calls are refused because the box is overloaded (see sip/overload.ts); how many were, since the start. */
  overloaded: boolean;
  overloadRefusals: number;
  /** The media engine missed ticks within the last minute. */
  mediaOverrun: boolean;
  /** The data directory's file system is nearly full. */
  diskFull: boolean;
  /** A recording stopped growing, and why ("room 2: the disk refused …"); "": none. */
  recordingStalled: string;
  localAudio: LocalAudioHealth;
  /** Why local audio is off or unavailable, or which devices it uses: for the status page and the logs. */
  localAudioReason: string;
  /** The room local audio is attached to (setting localAudioRoom), or null. */
  localAudioRoom: number | null;
  /** The box's microphone and speaker are a participant of that room's conference now. */
  localAudioInConference: boolean;
  /** SHA-256 fingerprint of the certificate of HTTPS and SIP over TLS, for comparing with what a browser or phone shows. */
  tlsFingerprint: string;
  /** The box made that certificate itself (no --tls-cert). */
  tlsGenerated: boolean;
  /** The media engine can encrypt calls (SRTP: libsrtp2 loads). */
  srtpAvailable: boolean;
  /** libsrtp2's version, or why SRTP is unavailable. */
  srtpDetail: string;
  /** Calls since start whose SRTP keys (SDES) crossed the network in clear: SIP over UDP or TCP, not TLS. */
  srtpKeysInClear: number;
  /** When the last of them was answered (ms since the epoch), or null. */
  srtpKeysInClearAt: number | null;
  /** Firmware updates: the root slots, and an install under way. */
  update: UpdateView;
  /** Boxes sharing the database and its nodes; null for a box on a database of its own (the embedded one). */
  cluster: ClusterSnapshot | null;
  startedAt: number;
}

/** The one status model: subsystems publish into it; the LEDs and the web page read it. */
export class Status extends EventEmitter<{ change: [StatusSnapshot] }> {
  private state: StatusSnapshot = {
    ready: false, sip: 'starting', database: 'starting', databaseSwitching: false, media: 'starting',
    registeredExtensions: 0, trustedPeers: 0, activeConferences: 0, callsInSetup: 0,
    callPlaces: 0, callPlacesInUse: 0, fullRefusals: 0, fullAt: null, overloaded: false, overloadRefusals: 0,
    mediaOverrun: false, diskFull: false, recordingStalled: '',
    localAudio: 'off', localAudioReason: 'starting', localAudioRoom: null, localAudioInConference: false,
    tlsFingerprint: '', tlsGenerated: false, srtpAvailable: false, srtpDetail: 'starting', srtpKeysInClear: 0, srtpKeysInClearAt: null,
    update: idleUpdate,
    cluster: null,
    startedAt: Date.now(),
  };

  get(): Readonly<StatusSnapshot> {
    return this.state;
  }

  set(patch: Partial<StatusSnapshot>): void {
    let changed = false;
    for (const [k, v] of Object.entries(patch)) {
      if ((this.state as unknown as Record<string, unknown>)[k] !== v) changed = true;
    }
    if (!changed) return;
    this.state = { ...this.state, ...patch };
    this.emit('change', this.state);
  }
}
