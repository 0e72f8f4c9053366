/**
 * The calls' media legs as the SIP layer sees them: the box's side of each offer and answer (address, codecs, SRTP
 * policy and key), a leg opened on a port of the range and pointed at the phone's media, which call a leg belongs to,
 * and the count of calls whose SRTP keys crossed the network in clear.
 */
import type { Clock } from '../clock.ts';
import type { Settings } from '../conference/types.ts';
import { BoxError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MediaEngine, MediaLegOptions } from '../media/index.ts';
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

export class CallMedia {
  private readonly byLeg = new Map<number, Session>();

  constructor(private readonly o: CallMediaOptions) {}

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
  async open(call: Session, media: RemoteMedia, extra: Pick<MediaLegOptions, 'rtpTimeoutMs' | 'symmetric'>): Promise<number> {
    const leg = await this.openLeg(call, { ...codecOf(media, call.srtpKey), ...extra });
    try {
      this.o.engine.connectLeg(leg, media.address, media.port, call.legOptions!);
    } catch (e) {
      throw new BoxError(488, `the offered media address cannot be used: ${e instanceof Error ? e.message : String(e)}`);
    }
    return leg;
  }

  /** Opens the call's leg on a port of the range, not yet sending anywhere. */
  async openLeg(call: Session, options: MediaLegOptions): Promise<number> {
    call.legOptions = options;
    const { leg, localPort } = await this.o.engine.openLeg(options);
    call.leg = leg;
    call.localPort = localPort;
    this.byLeg.set(leg, call);
    return leg;
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
  }
}
