/**
 * The calls' media legs as the SIP layer sees them: the box's side of each offer and answer (address, codecs, SRTP
 * policy and key), a leg opened on a port of the range and pointed at the phone's media, which call a leg belongs to,
 * and the count of calls whose SRTP keys crossed the network in clear.
 */
import type { Clock } from '../clock.ts';
import type { Settings } from '../conference/types.ts';
import { BoxError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { EngineError, type MediaEngine, type MediaLegOptions } from '../media/index.ts';
import type { Status } from '../status.ts';
import { codecOf } from './messages.ts';
import { OFFERED_DTMF_PT, STATIC_PAYLOAD_TYPES, type CodecName, type LocalMedia, type RemoteMedia } from './sdp.ts';
import type { Session } from './session.ts';

export interface CallMediaOptions {
  engine: MediaEngine;
  codecs: CodecName[];
  settings: () => Settings;
  status: Status;
  clock: Clock;
  log: Logger;
  /** The box's address as this call's phone reaches it. */
  addressOf(call: Session): string;
}

/**
 * Legs kept back from calls (a tenth of a small range), so that a caller the box turns away because it is full still
 * hears why before the 503.
 */
const REFUSAL_LEGS = 4;
/** A box that stays full is logged about at most this often. */
const FULL_REPORT_MS = 10_000;

/** Who a leg is for: a call (counted against the call places), or a caller being told why it is refused. */
export type LegPurpose = 'call' | 'refusal';

export class CallMedia {
  private readonly byLeg = new Map<number, Session>();
  /** The call places: the engine's legs less those kept for spoken refusals. */
  readonly places: number;
  private lastFullReport = -Infinity;
  private refusedSinceReport = 0;

  constructor(private readonly o: CallMediaOptions) {
    const legs = o.engine.capacity();
    this.places = Math.max(1, legs - Math.min(REFUSAL_LEGS, Math.floor(legs / 10)));
    o.status.set({ callPlaces: this.places, callPlacesInUse: 0 });
  }

  /** The call a leg belongs to. */
  callOf(leg: number): Session | undefined {
    return this.byLeg.get(leg);
  }

  /** The box's side of an SDP offer or answer for this call: address, port, codecs and SRTP policy and key. */
  local(call: Session, port: number): LocalMedia {
    const srtp = this.o.engine.srtp();
    return {
      address: this.o.addressOf(call), port, codecs: this.o.codecs, sessionId: call.sessionId, sessionVersion: call.sdpVersion,
      srtp: { policy: this.o.settings().srtp, key: call.srtpKey, unavailable: srtp.available ? undefined : srtp.reason },
    };
  }

  /** SDES keys travel in the SDP: over SIP without TLS anyone who captures the signalling can decrypt the audio. */
  keysExchanged(call: Session, media: RemoteMedia): void {
    if (!media.crypto || call.flow.protocol === 'TLS' || call.keysInClear) return;
    call.keysInClear = true;
    const s = this.o.status.get();
    this.o.status.set({ srtpKeysInClear: s.srtpKeysInClear + 1, srtpKeysInClearAt: this.o.clock.now() });
    this.o.log.warn(`SRTP keys were sent in clear over ${call.flow.protocol}: whoever captures this call's signalling can decrypt its audio; use SIP over TLS`, { source: call.source, caller: call.caller, transport: call.flow.protocol });
  }

  /** Opens the call's leg on a port of the range and points it at the caller's media. */
  async open(call: Session, media: RemoteMedia, extra: Pick<MediaLegOptions, 'rtpTimeoutMs' | 'symmetric'>, purpose: LegPurpose = 'call'): Promise<number> {
    const leg = await this.openLeg(call, { ...codecOf(media, call.srtpKey), ...extra }, purpose);
    try {
      this.o.engine.connectLeg(leg, media.address, media.port, call.legOptions!);
    } catch (e) {
      throw new BoxError(488, `the offered media address cannot be used: ${e instanceof Error ? e.message : String(e)}`);
    }
    return leg;
  }

  /**
   * Opens the call's leg on a port of the range, not yet sending anywhere. A call finds every place taken, or no free
   * port pair (another program holds some): a 503 "the box is full", which the caller hears on a leg kept back for it.
   */
  async openLeg(call: Session, options: MediaLegOptions, purpose: LegPurpose = 'call'): Promise<number> {
    if (purpose === 'call' && this.byLeg.size >= this.places) throw this.full(call, `all ${this.places} call places are in use`);
    call.legOptions = options;
    let opened: { leg: number; localPort: number };
    try {
      opened = await this.o.engine.openLeg(options);
    } catch (e) {
      if (e instanceof EngineError && (e.code === 'EADDRINUSE' || e.code === 'EMFILE')) throw this.full(call, e.message);
      throw e;
    }
    call.leg = opened.leg;
    call.localPort = opened.localPort;
    this.byLeg.set(opened.leg, call);
    this.o.status.set({ callPlacesInUse: this.byLeg.size });
    return opened.leg;
  }

  /** The rejection of a call that found the box full; counted on the Status page, logged at most every few seconds. */
  private full(call: Session, detail: string): BoxError {
    const now = this.o.clock.now();
    this.o.status.set({ fullRefusals: this.o.status.get().fullRefusals + 1, fullAt: now });
    this.refusedSinceReport++;
    if (now - this.lastFullReport >= FULL_REPORT_MS) {
      this.o.log.warn('the box is full: new calls are refused with 503 until a call ends', {
        detail, places: this.places, inUse: this.byLeg.size, refused: this.refusedSinceReport, source: call.source, caller: call.caller,
      });
      this.lastFullReport = now;
      this.refusedSinceReport = 0;
    }
    return new BoxError(503, `the box is full: ${detail}`, undefined, 'box-full');
  }

  /** The leg's coding until the phone answers the box's offer: the box's first codec, as offered. */
  provisionalCodec(): Pick<MediaLegOptions, 'codec' | 'payloadType' | 'ptime' | 'dtmfPayloadType' | 'srtp'> {
    const codec = this.o.codecs[0] ?? 'PCMU';
    return { codec, payloadType: STATIC_PAYLOAD_TYPES[codec], ptime: 20, dtmfPayloadType: OFFERED_DTMF_PT, srtp: null };
  }

  /**
   * Points an open leg at the phone's answer to the box's offer (with other timing when given); the problem in words
   * when its address cannot be used, else null.
   */
  connect(call: Session, remote: RemoteMedia, timing: Pick<MediaLegOptions, 'rtpTimeoutMs' | 'symmetric'> = {}): string | null {
    const options = { ...call.legOptions!, ...codecOf(remote, call.srtpKey), ...timing };
    try {
      if (call.leg !== null) this.o.engine.connectLeg(call.leg, remote.address, remote.port, options);
    } catch (e) {
      return `the answered media address cannot be used: ${e instanceof Error ? e.message : String(e)}`;
    }
    call.media = remote;
    call.legOptions = options;
    this.keysExchanged(call, remote);
    return null;
  }

  /** Closes the call's leg, if it has one. */
  close(call: Session): void {
    if (call.leg === null) return;
    this.o.engine.closeLeg(call.leg);
    this.byLeg.delete(call.leg);
    call.leg = null;
    this.o.status.set({ callPlacesInUse: this.byLeg.size });
  }
}
