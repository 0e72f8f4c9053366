import type { SrtpPolicy } from '../sip/sdp.ts';

/** The product's nouns, shared by rules, storage, SIP and the web page. */

export type CreatedVia = 'phone' | 'web' | 'cli';

/** A stored room configuration (SPEC.md section 1). */
export interface Room {
  id: number;
  pin: string;
  /** Minutes, counted from the moment the conference starts. */
  duration: number;
  /** Extension number of the creator; null lets anyone with the PIN delete it. */
  creator: string | null;
  /** Per-room override of the box setting; null uses the box setting. */
  maxParticipants: number | null;
  createdAt: Date;
  createdVia: CreatedVia;
  /** Kept after its meeting; false: deleted when its last participant leaves (SPEC.md 1), as rooms made by phone are. */
  keep: boolean;
  /** A second PIN that makes whoever joins with it the meeting's moderator (lock, mute all, remove, end); null: none. */
  moderatorPin: string | null;
  /** Every meeting in this room is recorded from its first caller on (a moderator may still stop it). */
  record: boolean;
  /** Callers wait, with music, until a moderator joins (a room with a moderator PIN only). */
  waitForModerator: boolean;
  /** When the last moderator leaves: the meeting goes on, or ends after a minute's warning unless a moderator returns. */
  moderatorLeaves: ModeratorLeaves;
}

export type ModeratorLeaves = 'continue' | 'end';

export interface Settings {
  maxParticipants: number;
  /** Failed digest or PIN attempts from one address or caller that trigger a block (see conference/lockout.ts). */
  lockoutFailures: number;
  lockoutWindowMinutes: number;
  lockoutBlockMinutes: number;
  realm: string;
  /**
   * Digest algorithms offered in challenges (RFC 8760): "auto" (default; MD5 alone to a phone the box has not seen,
   * SHA-256 first to each phone that has shown it can, see sip/auth-records.ts), or a fixed list in order, e.g.
   * "SHA-256,MD5". SIPp and baresip 1.0 fail on any challenge list that starts with, or (baresip) holds, SHA-256.
   */
  digestAlgorithms: string;
  /** Seconds without RTP after which a participant is hung up. */
  rtpTimeoutSeconds: number;
  /** Seconds a caller may keep a call on hold before the box hangs it up; 0: no limit. */
  holdLimitSeconds: number;
  /** For phones behind NAT: send RTP back to where it comes from instead of the SDP's address. */
  symmetricRtp: boolean;
  /** Audio encryption (SRTP with SDES keys, RFC 4568): off (plain RTP only), optional (SRTP when the phone offers
   * it), required (calls that do not offer it are refused with 488). */
  srtp: SrtpPolicy;
  /** The room whose conferences the box's own microphone and speaker take part in (SPEC.md section 4); 0: none. */
  localAudioRoom: number;
  /** ALSA device of the box's microphone; "": the board profile's. */
  localAudioCapture: string;
  /** ALSA device of the box's speaker; "": the board profile's. */
  localAudioPlayback: string;
  /** Names the web page answers to besides the box's addresses, localhost and its host name (comma-separated DNS names). */
  webHostNames: string;
  /** Plain HTTP (--http-port) sends browsers to HTTPS; off: it serves the page as HTTPS does. */
  httpRedirect: boolean;
  /** Rooms added or edited by a technician may not have a PIN that is easy to guess (see easyPin). */
  refuseEasyPins: boolean;
  /** A recording does not start with less free space than this (MB) for the recordings. */
  recordingMinFreeMb: number;
  /** Recordings older than this many days are deleted; 0: kept until deleted by hand. */
  recordingRetentionDays: number;
}

export const DEFAULT_SETTINGS: Readonly<Settings> = Object.freeze({
  maxParticipants: 3,
  lockoutFailures: 5,
  lockoutWindowMinutes: 5,
  lockoutBlockMinutes: 15,
  realm: 'confbox',
  digestAlgorithms: 'auto',
  rtpTimeoutSeconds: 30,
  holdLimitSeconds: 0,
  symmetricRtp: false,
  srtp: 'optional',
  localAudioRoom: 0,
  localAudioCapture: '',
  localAudioPlayback: '',
  webHostNames: '',
  httpRedirect: true,
  refuseEasyPins: false,
  recordingMinFreeMb: 200,
  recordingRetentionDays: 90,
});

/** A local user: a desk phone that registers to the box. */
export interface Extension {
  number: string;
  displayName: string;
  /** Realm the password hashes were made for. */
  realm: string;
  /** MD5(number:realm:password), hex. */
  ha1Md5: string;
  /** SHA-256(number:realm:password), hex. */
  ha1Sha256: string;
}

/** Which SIP transports a trusted peer's calls are trusted over; 'tcp' includes TLS. */
export type PeerTransport = 'any' | 'tcp' | 'tls';

export const PEER_TRANSPORTS: readonly PeerTransport[] = ['any', 'tcp', 'tls'];

/** A trusted PBX: calls from it are accepted without a challenge. */
export interface Peer {
  /** Normalised CIDR, e.g. "192.168.1.0/24" or "10.0.0.5/32". */
  cidr: string;
  description: string;
  /** UDP sources are easily forged: a peer restricted to TCP or TLS is a stranger over UDP. */
  transport: PeerTransport;
  /**
   * The peer is the office's outbound PBX: numbers a moderator invites that are not extensions are called through it,
   * at its address on this SIP port (over its transport: UDP for any, TCP, TLS). Null: it is not. One address only.
   */
  outboundPort: number | null;
}

/** Whether a peer is trusted over a transport as the SIP stack names it ("UDP", "TCP", "TLS"). */
export function peerAccepts(peer: Peer, protocol: string): boolean {
  const p = protocol.toUpperCase();
  if (peer.transport === 'tls') return p === 'TLS';
  if (peer.transport === 'tcp') return p === 'TCP' || p === 'TLS';
  return true;
}

export type CallAction = 'create' | 'join' | 'leave' | 'delete' | 'expire' | 'reject' | 'block' | 'edit';

export interface CallLogEntry {
  at: Date;
  action: CallAction;
  caller: string | null;
  source: string;
  room: number | null;
  /** SIP status of the outcome (200 for success). */
  status: number;
  reason: string;
  /** The name the caller's phone sent (joins and leaves). */
  displayName?: string | null;
  /** How long the participant was in the room (leaves). */
  durationSeconds?: number | null;
}
