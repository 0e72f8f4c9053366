import type { CodecName, SrtpSuite } from '../sip/sdp.ts';

/** SRTP of a leg (RFC 3711 with SDES keys, RFC 4568): one suite, a master key and salt each way. */
export interface SrtpKeys {
  suite: SrtpSuite;
  /** 30 octets (16 of key, 14 of salt): what the box sends is protected with it. */
  local: Uint8Array;
  /** 30 octets: what the phone sends must authenticate with it. */
  remote: Uint8Array;
}

/** The media plane as the control plane sees it: calls per leg, never per packet. */
export interface LegOptions {
  codec: CodecName;
  payloadType: number;
  ptime: number;
  dtmfPayloadType: number | null;
  /** SRTP keys; absent or null: plain RTP. */
  srtp?: SrtpKeys | null;
  /** Whether the box sends the leg RTP; false while its caller is on hold or only sends. Absent: true. */
  send?: boolean;
  /**
   * Whether what the caller sends is heard in its conference and its silence times out; false while it is on hold
   * (its PBX's music stays out of the room) or only listens. Absent: true.
   */
  receive?: boolean;
}

export interface EngineEvents {
  /** No RTP from the leg for the configured time. */
  rtpTimeout(leg: number): void;
  dtmf(leg: number, digit: string): void;
  /** A conference member started or stopped talking, or its line became noisy or quiet. */
  talk(leg: number, state: TalkState): void;
}

/** What the engine hears of a conference member: speech now, and a steady noise on its line. */
export interface TalkState {
  talking: boolean;
  noisy: boolean;
}

export interface EngineStats {
  legs: number;
  packetsIn: number;
  packetsDropped: number;
}

export interface Engine {
  /** Opens a leg on a free RTP port of the range; the port is bound when this resolves. */
  openLeg(opts: LegOptions): Promise<{ leg: number; localPort: number }>;
  /** Where the leg's RTP goes (from the SDP); also used after a re-INVITE. */
  connectLeg(leg: number, address: string, port: number, opts: LegOptions): void;
  joinConference(leg: number, conference: string): void;
  leaveConference(leg: number): void;
  setMuted(leg: number, muted: boolean): void;
  closeLeg(leg: number): void;
  stats(): EngineStats;
  close(): Promise<void>;
}
