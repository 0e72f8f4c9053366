/**
 * SDP offer/answer (RFC 3264) for the box's one audio stream, with SRTP keys exchanged by SDES (RFC 4568).
 * Structure (levels, m= and c= lines, a=crypto) is checked here; other attributes are read with sdp-transform,
 * which is lenient and never validates. Never throws.
 */
import sdpTransform from 'sdp-transform';
import type { MediaDescription, SessionDescription } from 'sdp-transform';
import { parseAddress } from './netmatch.ts';

export type CodecName = 'PCMU' | 'PCMA' | 'G722';

/** SDES crypto suites the box speaks (RFC 4568 section 6.2). */
export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';

/** off: plain RTP only; optional: SRTP when the offer has usable a=crypto keys; required: nothing else. */
export type SrtpPolicy = 'off' | 'optional' | 'required';

/** The caller's SRTP parameters: the a=crypto line the box took. */
export interface RemoteCrypto {
  tag: number;
  suite: SrtpSuite;
  /** 30 octets: the caller's master key and salt (what it sends is protected with it). */
  key: Uint8Array;
}

export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** Where and how to send the caller's audio, as the caller offered it. */
export interface RemoteMedia {
  /** IPv4 or IPv6 literal, or a host name when the offer gave one (RFC 4566 allows it). */
  address: string;
  port: number;
  codec: CodecName;
  payloadType: number;
  dtmfPayloadType: number | null;
  /** The caller's packet time in ms, clamped to 10..60. */
  ptime: number;
  /** The caller's direction; c=0.0.0.0 (RFC 2543 hold) turns sending towards the caller off. */
  direction: Direction;
  /** SRTP: the caller's key and suite; null: plain RTP. */
  crypto: RemoteCrypto | null;
}

export interface LocalMedia {
  address: string;
  port: number;
  /** Codecs the box accepts; the caller's order decides among them. */
  codecs: CodecName[];
  sessionId: string;
  sessionVersion: number;
  /** SRTP: the policy, the box's own 30-octet master key and salt for this call (sent in the answer's a=crypto),
   * and, when the media engine cannot encrypt, why. Absent: plain RTP only. */
  srtp?: { policy: SrtpPolicy; key: Uint8Array; unavailable?: string };
}

export type Negotiation =
  | { ok: true; answer: string; remote: RemoteMedia }
  | { ok: false; status: 400 | 488; reason: string };

// A phone's audio offer is a few hundred bytes; this bounds work on hostile bodies.
const MAX_SDP_LENGTH = 65536;
// Every offered stream gets an answer line; this keeps the answer within one UDP datagram.
const MAX_MLINES = 32;
const CLOCK_RATE = 8000; // RTP clock of all three codecs; G.722 uses 8000 by an RFC 3551 quirk
const SUPPORTED: readonly CodecName[] = ['PCMU', 'PCMA', 'G722'];
const STATIC_SUPPORTED: Readonly<Record<number, CodecName>> = { 0: 'PCMU', 8: 'PCMA', 9: 'G722' };
// RFC 3551 static payload types, only to name them in a 488 reason.
const STATIC_NAMES: Readonly<Record<number, string>> = {
  0: 'PCMU', 3: 'GSM', 4: 'G723', 5: 'DVI4', 6: 'DVI4', 7: 'LPC', 8: 'PCMA', 9: 'G722', 10: 'L16', 11: 'L16',
  12: 'QCELP', 13: 'CN', 14: 'MPA', 15: 'G728', 16: 'DVI4', 17: 'DVI4', 18: 'G729', 31: 'H261', 32: 'MPV', 34: 'H263',
};
const MIRROR: Readonly<Record<Direction, Direction>> = {
  sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive',
};

interface MLine {
  number: number;
  type: string;
  port: number;
  proto: string;
  formats: string[];
  connection: Connection | null;
  /** The values of its a=crypto lines, in order. */
  crypto: string[];
}

interface Connection {
  address: string;
  /** 0.0.0.0 or :: : the caller does not want to receive (RFC 2543 hold). */
  unspecified: boolean;
}

type Fail = { ok: false; status: 400 | 488; reason: string };

/** Answers an SDP offer for an audio conference leg, or says why it cannot (400 malformed, 488 unacceptable). */
export function negotiate(offer: string, local: LocalMedia): Negotiation {
  try {
    return negotiateUnsafe(offer, local);
  } catch {
    return bad('the SDP could not be parsed');
  }
}

function negotiateUnsafe(offer: string, local: LocalMedia): Negotiation {
  if (typeof offer !== 'string' || offer.trim() === '') return bad('the SDP body is empty');
  if (offer.length > MAX_SDP_LENGTH) return bad(`the SDP body is longer than ${MAX_SDP_LENGTH} bytes`);
  const structure = scan(offer);
  if ('ok' in structure) return structure;
  const { sessionConnection, mlines } = structure;
  if (mlines.length === 0) return bad('the SDP has no m= line');
  if (mlines.length > MAX_MLINES) return notAcceptable(`the SDP has ${mlines.length} m= lines; at most ${MAX_MLINES} are accepted`);

  const parsed: SessionDescription = sdpTransform.parse(offer);
  if (!Array.isArray(parsed.media) || parsed.media.length !== mlines.length) return bad('the SDP could not be parsed');

  const isAudio = (m: MLine) => m.type.toLowerCase() === 'audio' && m.port !== 0;
  const candidates = mlines.filter((m) => isAudio(m) && /^RTP\/S?AVPF?$/i.test(m.proto));
  if (candidates.length === 0) return unusableAudio(mlines);

  // Streams the policy allows, those with keys first; a refused one keeps why.
  const options = candidates.map((m) => ({ mline: m, ...securityOf(m, local.srtp) }));
  const allowed = [...options.filter((o) => o.refused === null && o.crypto), ...options.filter((o) => o.refused === null && !o.crypto)];
  if (allowed.length === 0) return notAcceptable(options[0]!.refused!);

  let chosen: { mline: MLine; codec: CodecName; pt: number; media: MediaDescription; crypto: RemoteCrypto | null } | null = null;
  for (const o of allowed) {
    const media = parsed.media[o.mline.number - 1];
    if (!media) continue;
    const pick = pickCodec(o.mline, media, local.codecs);
    if (pick) {
      chosen = { mline: o.mline, media, crypto: o.crypto, ...pick };
      break;
    }
  }
  if (!chosen) {
    const first = allowed[0]?.mline;
    const media = first ? parsed.media[first.number - 1] : undefined;
    const offered = first && media ? describeFormats(first, media) : [];
    return notAcceptable(`no common codec: offered ${offered.length ? offered.join(', ') : 'nothing'}`);
  }

  const { mline, media, codec, pt } = chosen;
  const connection = mline.connection ?? sessionConnection;
  if (!connection) return bad(`no c= line for the audio stream (m= line ${mline.number})`);
  const dtmf = findTelephoneEvent(mline, media);
  let direction = asDirection(media.direction) ?? asDirection(parsed.direction) ?? 'sendrecv';
  if (connection.unspecified) direction = direction === 'sendrecv' || direction === 'sendonly' ? 'sendonly' : 'inactive';

  const remote: RemoteMedia = {
    address: connection.address,
    port: mline.port,
    codec,
    payloadType: pt,
    dtmfPayloadType: dtmf,
    ptime: clampPtime(media.ptime ?? (parsed as { ptime?: unknown }).ptime),
    direction,
    crypto: chosen.crypto,
  };
  return { ok: true, answer: buildAnswer(mlines, chosen.mline, remote, local), remote };
}

/** Line-level structure: v=0 first, valid c= lines, well-formed m= lines, and which c= applies where. */
function scan(offer: string): { sessionConnection: Connection | null; mlines: MLine[] } | Fail {
  const lines = offer.split(/\r\n|\r|\n/).map((l) => l.replace(/[ \t]+$/, ''));
  const first = lines.find((l) => l.trim() !== '');
  if (first === undefined || !first.startsWith('v=')) return bad('not an SDP body: it does not start with v=0');
  if (first !== 'v=0') return bad(`unsupported SDP version line ${show(first)}`);
  let sessionConnection: Connection | null = null;
  const mlines: MLine[] = [];
  for (const line of lines) {
    if (line.startsWith('a=crypto:')) {
      // RFC 4568 defines a=crypto at media level only.
      mlines[mlines.length - 1]?.crypto.push(line.slice('a=crypto:'.length));
    } else if (line.startsWith('m=')) {
      const m = parseMLine(line, mlines.length + 1);
      if ('ok' in m) return m;
      mlines.push(m);
    } else if (line.startsWith('c=')) {
      const c = parseConnection(line.slice(2));
      if (typeof c === 'string') return bad(c);
      const current = mlines[mlines.length - 1];
      // The first c= of a level counts; further ones are multicast extras.
      if (current) current.connection ??= c;
      else sessionConnection ??= c;
    }
  }
  return { sessionConnection, mlines };
}

function parseMLine(line: string, number: number): MLine | Fail {
  const fields = line.slice(2).split(/[ \t]+/);
  const [type = '', portField = '', proto = '', ...formats] = fields;
  const visible = /^[\x21-\x7e]+$/;
  if (!visible.test(type) || !visible.test(proto) || !formats.every((f) => visible.test(f))) {
    return bad(`m= line ${number} is malformed: ${show(line)}`);
  }
  // "49170/2" is a port with a port count (RFC 4566); only the first port matters here.
  const portMatch = /^(\d{1,5})(?:\/\d{1,5})?$/.exec(portField);
  if (!portMatch) return bad(`m= line ${number} has a non-numeric port ${show(portField)}`);
  const port = Number(portMatch[1]);
  if (port > 65535) return bad(`m= line ${number} has port ${port}, above 65535`);
  return { number, type, port, proto, formats, connection: null, crypto: [] };
}

/** A Connection, or the reason the c= value is unusable. */
function parseConnection(value: string): Connection | string {
  const m = /^IN[ \t]+IP([46])[ \t]+(\S+)$/.exec(value);
  if (!m) return `c= line ${show('c=' + value)} is invalid: expected 'IN IP4 <address>' or 'IN IP6 <address>'`;
  const family = m[1] === '4' ? 4 : 16;
  // Multicast adds "/ttl" or "/count" after the address.
  const address = (m[2] ?? '').split('/')[0] ?? '';
  const bytes = parseAddress(address);
  if (bytes) {
    if (bytes.length !== family) return `c= line gives ${show(address)}, which is not an IP${m[1]} address`;
    return { address, unspecified: bytes.every((b) => b === 0) };
  }
  if (isHostName(address)) return { address, unspecified: false };
  return `c= line gives ${show(address)}, which is not an IP${m[1]} address or host name`;
}

function isHostName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.replace(/\.$/, '').split('.');
  const last = labels[labels.length - 1] ?? '';
  // A final label of digits would make "1.2.3" a host name; it is a broken IPv4 address.
  return /^[A-Za-z]/.test(last) && labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** Why no audio stream can be used, when no audio m= line has an active RTP/AVP(F) or RTP/SAVP(F) stream. */
function unusableAudio(mlines: MLine[]): Fail {
  const active = mlines.filter((m) => m.type.toLowerCase() === 'audio' && m.port !== 0);
  if (active.some((m) => /^UDP\/TLS\/RTP\/SAVPF?$/i.test(m.proto))) {
    return notAcceptable(`DTLS-SRTP (${show(active.find((m) => /TLS/i.test(m.proto))!.proto)}) is not supported: offer RTP/SAVP with a=crypto keys`);
  }
  const other = active[0];
  if (other) return notAcceptable(`unsupported transport ${show(other.proto)} for audio`);
  if (mlines.some((m) => m.type.toLowerCase() === 'audio')) return notAcceptable('the offered audio stream is disabled (port 0)');
  const types = [...new Set(mlines.map((m) => m.type))].slice(0, 5).map(show).join(', ');
  return notAcceptable(`no audio stream offered, only ${types}`);
}

interface RtpMap {
  name: string;
  rate: number | null;
  channels: number | null;
}

/** rtpmap by payload type; the first line wins when an offer repeats one. */
function rtpMaps(media: MediaDescription): Map<number, RtpMap> {
  const maps = new Map<number, RtpMap>();
  for (const r of Array.isArray(media.rtp) ? media.rtp : []) {
    const pt = toInt(r.payload);
    if (pt === null || maps.has(pt) || typeof r.codec !== 'string') continue;
    maps.set(pt, { name: r.codec, rate: toInt(r.rate), channels: toInt(r.encoding) });
  }
  return maps;
}

/** The first format in the caller's order that the box supports and local.codecs allows. */
function pickCodec(m: MLine, media: MediaDescription, allowed: CodecName[]): { codec: CodecName; pt: number } | null {
  const maps = rtpMaps(media);
  for (const f of m.formats) {
    const pt = payloadType(f);
    if (pt === null) continue;
    const map = maps.get(pt);
    let codec: CodecName | undefined;
    if (map) {
      const name = SUPPORTED.find((c) => c === map.name.toUpperCase());
      const rateOk = map.rate === CLOCK_RATE || (map.rate === null && STATIC_SUPPORTED[pt] === name);
      if (name && rateOk && (map.channels === null || map.channels === 1)) codec = name;
    } else {
      codec = STATIC_SUPPORTED[pt];
    }
    if (codec && allowed.includes(codec)) return { codec, pt };
  }
  return null;
}

function findTelephoneEvent(m: MLine, media: MediaDescription): number | null {
  const maps = rtpMaps(media);
  for (const f of m.formats) {
    const pt = payloadType(f);
    const map = pt === null ? undefined : maps.get(pt);
    if (pt !== null && map && map.name.toLowerCase() === 'telephone-event' && map.rate === CLOCK_RATE) return pt;
  }
  return null;
}

/** Names of the offered formats for a 488 reason, e.g. "opus/48000, G729". */
function describeFormats(m: MLine, media: MediaDescription): string[] {
  const maps = rtpMaps(media);
  const names: string[] = [];
  for (const f of m.formats) {
    const pt = payloadType(f);
    const map = pt === null ? undefined : maps.get(pt);
    if (map && map.name.toLowerCase() === 'telephone-event') continue;
    const name = map ? (map.rate === null ? map.name : `${map.name}/${map.rate}`) : pt !== null ? STATIC_NAMES[pt] ?? `PT ${pt}` : f;
    names.push(clean(name, 24));
  }
  return names.length > 8 ? [...names.slice(0, 8), `${names.length - 8} more`] : names;
}

function payloadType(format: string): number | null {
  if (!/^\d{1,3}$/.test(format)) return null;
  const pt = Number(format);
  return pt <= 127 ? pt : null;
}

/** The session-level lines of the box's SDP: version, origin, name, its address, timing. */
function sessionLines(local: LocalMedia): string[] {
  const ip = local.address.includes(':') ? 'IP6' : 'IP4';
  return ['v=0', `o=confbox ${local.sessionId} ${local.sessionVersion} IN ${ip} ${local.address}`, 's=confbox', `c=IN ${ip} ${local.address}`, 't=0 0'];
}

function buildAnswer(mlines: MLine[], chosen: MLine, remote: RemoteMedia, local: LocalMedia): string {
  const out = sessionLines(local);
  for (const m of mlines) {
    if (m !== chosen) {
      // RFC 3264 section 6: every offered stream gets a line; a declined one has port 0.
      out.push(`m=${m.type} 0 ${m.proto} ${m.formats.length ? m.formats.join(' ') : '0'}`);
      continue;
    }
    const pts = remote.dtmfPayloadType === null ? [remote.payloadType] : [remote.payloadType, remote.dtmfPayloadType];
    out.push(`m=audio ${local.port} ${m.proto} ${pts.join(' ')}`);
    out.push(`a=rtpmap:${remote.payloadType} ${remote.codec}/${CLOCK_RATE}`);
    if (remote.dtmfPayloadType !== null) {
      out.push(`a=rtpmap:${remote.dtmfPayloadType} telephone-event/${CLOCK_RATE}`);
      out.push(`a=fmtp:${remote.dtmfPayloadType} 0-16`);
    }
    out.push(`a=ptime:${remote.ptime}`);
    out.push(`a=${MIRROR[remote.direction]}`);
    if (remote.crypto && local.srtp) {
      out.push(`a=crypto:${remote.crypto.tag} ${remote.crypto.suite} inline:${Buffer.from(local.srtp.key).toString('base64')}`);
    }
  }
  return out.join('\r\n') + '\r\n';
}

// --- the box's own offer (delayed offer: an INVITE without SDP, RFC 3261 13.2.1; RFC 6337 section 5) ---

/** RFC 3551 payload types of the box's codecs, as it offers them. */
export const STATIC_PAYLOAD_TYPES: Readonly<Record<CodecName, number>> = { PCMU: 0, PCMA: 8, G722: 9 };
/** The payload type the box offers telephone-event (RFC 4733) on. */
export const OFFERED_DTMF_PT = 101;

/**
 * The box's offer for a caller that sent none: its codecs (local.codecs, in order), telephone-event, its bound
 * port and the direction. With SRTP optional or required (and available) it carries an a=crypto key: on RTP/SAVP
 * when required, on RTP/AVP (best-effort, as phones do) when optional.
 */
export function makeOffer(local: LocalMedia, direction: Direction = 'sendrecv'): string {
  const policy = local.srtp && !local.srtp.unavailable ? local.srtp.policy : 'off';
  const proto = policy === 'required' ? 'RTP/SAVP' : 'RTP/AVP';
  const pts = local.codecs.map((c) => STATIC_PAYLOAD_TYPES[c]);
  const out = [
    ...sessionLines(local),
    `m=audio ${local.port} ${proto} ${[...pts, OFFERED_DTMF_PT].join(' ')}`,
    ...local.codecs.map((c) => `a=rtpmap:${STATIC_PAYLOAD_TYPES[c]} ${c}/${CLOCK_RATE}`),
    `a=rtpmap:${OFFERED_DTMF_PT} telephone-event/${CLOCK_RATE}`,
    `a=fmtp:${OFFERED_DTMF_PT} 0-16`,
    'a=ptime:20',
    `a=${direction}`,
  ];
  if (policy !== 'off' && local.srtp) out.push(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.from(local.srtp.key).toString('base64')}`);
  return out.join('\r\n') + '\r\n';
}

/**
 * Reads the caller's answer to the box's offer (in the ACK of a delayed offer, or of an offerless re-INVITE): the
 * codec it chose among those offered, its address, port, telephone-event, ptime, direction and SRTP key.
 */
export function acceptAnswer(answer: string, local: LocalMedia): { ok: true; remote: RemoteMedia } | Fail {
  const res = negotiate(answer, local);
  if (!res.ok) return res;
  if (local.srtp && !local.srtp.unavailable && local.srtp.policy !== 'off' && res.remote.crypto && res.remote.crypto.suite !== 'AES_CM_128_HMAC_SHA1_80') {
    return notAcceptable(`the answer took SRTP suite ${res.remote.crypto.suite}, which was not offered`);
  }
  return { ok: true, remote: res.remote };
}

// --- SDES (RFC 4568) ---

const SUITES: readonly SrtpSuite[] = ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'];
/** Base64 of 30 octets: 40 characters, no padding. */
const INLINE_KEY = /^[A-Za-z0-9+/]{40}$/;

/**
 * Whether the policy lets a stream be used, and with which keys: RTP/SAVP needs a usable a=crypto line; RTP/AVP
 * with usable a=crypto lines (best-effort SRTP, as many phones offer it) gets SRTP too unless the policy is off.
 */
function securityOf(m: MLine, srtp: LocalMedia['srtp']): { crypto: RemoteCrypto | null; refused: string | null } {
  const secure = /SAVP/i.test(m.proto);
  const policy = srtp?.policy ?? 'off';
  if (policy === 'off') return { crypto: null, refused: secure ? 'encrypted audio (RTP/SAVP) is turned off on this box (setting srtp)' : null };
  if (srtp?.unavailable) {
    const why = `encrypted audio is unavailable on this box: ${clean(srtp.unavailable, 80)}`;
    return { crypto: null, refused: secure || policy === 'required' ? why : null };
  }
  const pick = pickCrypto(m.crypto);
  if ('crypto' in pick) return { crypto: pick.crypto, refused: null };
  if (secure) return { crypto: null, refused: pick.problem };
  if (policy === 'required') {
    const why = m.crypto.length ? `: ${pick.problem}` : '';
    return { crypto: null, refused: `this box requires encrypted audio (SRTP with a=crypto keys, setting srtp)${why}` };
  }
  return { crypto: null, refused: null };
}

/** The first a=crypto line the box can use, or what was wrong with them: a malformed key is named first. */
function pickCrypto(lines: string[]): { crypto: RemoteCrypto } | { problem: string } {
  let malformed: string | null = null;
  const unsupported: string[] = [];
  for (const line of lines) {
    const m = /^(\d{1,9})[ \t]+(\S+)[ \t]+(\S+)((?:[ \t]+\S+)*)[ \t]*$/.exec(line);
    if (!m) {
      malformed ??= `a=crypto line ${show('a=crypto:' + line)} is malformed`;
      continue;
    }
    const tag = Number(m[1]);
    const suite = SUITES.find((s) => s === m[2]);
    if (!suite) {
      unsupported.push(clean(m[2]!, 32));
      continue;
    }
    // WSH (a window size hint) may be ignored; any other session parameter changes how SRTP works.
    const session = (m[4] ?? '').trim().split(/[ \t]+/).filter(Boolean);
    const unknown = session.find((p) => !/^WSH=\d{1,9}$/.test(p));
    if (unknown !== undefined) {
      unsupported.push(`${suite} with ${clean(unknown, 24)}`);
      continue;
    }
    const keyParams = m[3]!.split(';');
    if (keyParams.length > 1) {
      unsupported.push(`${suite} with several keys`);
      continue;
    }
    const [method, ...rest] = keyParams[0]!.split(':');
    const info = rest.join(':').split('|');
    if (method !== 'inline' || rest.length === 0) {
      malformed ??= `a=crypto:${tag} has no inline key`;
      continue;
    }
    if (!INLINE_KEY.test(info[0] ?? '')) {
      malformed ??= `the inline key of a=crypto:${tag} is not 30 octets of base64 (${(info[0] ?? '').length} characters)`;
      continue;
    }
    // Optional lifetime (2^n or a number of packets), then an optional MKI:length, which the box does not use.
    const extra = info.slice(1);
    const lifetime = extra[0] !== undefined && !extra[0].includes(':') ? extra.shift() : undefined;
    if (lifetime !== undefined && !/^(2\^\d{1,2}|\d{1,15})$/.test(lifetime)) {
      malformed ??= `a=crypto:${tag} has a malformed key lifetime ${show(lifetime)}`;
      continue;
    }
    if (extra.length > 0) {
      unsupported.push(`${suite} with an MKI`);
      continue;
    }
    return { crypto: { tag, suite, key: new Uint8Array(Buffer.from(info[0]!, 'base64')) } };
  }
  if (malformed) return { problem: malformed };
  if (lines.length === 0) return { problem: 'the RTP/SAVP stream has no a=crypto line (only SDES keys are supported)' };
  const list = unsupported.slice(0, 4).join(', ');
  return { problem: `no usable a=crypto line: offered ${list}; the box takes ${SUITES.join(' or ')} with one inline key` };
}

function asDirection(v: unknown): Direction | null {
  return v === 'sendrecv' || v === 'sendonly' || v === 'recvonly' || v === 'inactive' ? v : null;
}

function clampPtime(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
  if (!Number.isFinite(n) || n <= 0) return 20;
  // The engine frames audio in 10 ms steps.
  return Math.min(60, Math.max(10, Math.round(n / 10) * 10));
}

// sdp-transform yields numbers for integer fields and strings for everything else.
function toInt(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) ? v : null;
  if (typeof v === 'string' && /^\d{1,9}$/.test(v)) return Number(v);
  return null;
}

function bad(reason: string): Fail {
  return { ok: false, status: 400, reason };
}

function notAcceptable(reason: string): Fail {
  return { ok: false, status: 488, reason };
}

/** Printable ASCII without quotes or backslashes, so a reason can go into a Warning header as is. */
function clean(s: string, max: number): string {
  const t = s.replace(/[^\x20-\x7e]|["\\]/g, '?');
  return t.length > max ? t.slice(0, max) + '...' : t;
}

function show(s: string): string {
  return `'${clean(s, 40)}'`;
}
