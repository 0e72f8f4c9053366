/**
 * SIP digest authentication (RFC 2617, RFC 7616 as profiled by RFC 8760 for SIP), server and client side.
 * Works on plain header values, not on SIP message objects.
 */
import { createHash, createHmac, randomBytes as cryptoRandomBytes, timingSafeEqual } from 'node:crypto';

export type DigestAlgorithm = 'MD5' | 'SHA-256';

export type DigestVerdict = 'ok' | 'stale' | 'bad';

/** The parameters of an Authorization / Proxy-Authorization header, unescaped, exactly as sent. */
export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  /** null when absent, which RFC 2617 reads as MD5. */
  algorithm: string | null;
  cnonce: string | null;
  /** null for the RFC 2069 form without qop. */
  qop: string | null;
  nc: string | null;
  opaque: string | null;
}

export interface DigestAuthorityOptions {
  realm: string;
  /**
   * Secret for stateless nonces, at least 16 bytes. The same key after a restart lets the box recognise the nonces it
   * issued before; they are then stale (see epoch), never bad, so phones are challenged again and no failure counts.
   */
  key: Buffer;
  /**
   * Names this run of the box (4 bytes; random by default). The replay check's memory of nonce counts lives only as
   * long as the run, so a nonce issued in another run is stale: an answer captured before a restart cannot be
   * replayed after it.
   */
  epoch?: Buffer;
  clock: { now(): number };
  /** How long a nonce may be used before the client is told it is stale. Default 300000 (5 minutes). */
  nonceLifetimeMs?: number;
  /** How many nonces the replay check remembers (least recently used are forgotten). Default 10000. */
  maxTrackedNonces?: number;
  /** Randomness for nonces; crypto.randomBytes unless a test supplies its own. */
  randomBytes?: (size: number) => Buffer;
}

interface Variant {
  hash: DigestAlgorithm;
  sess: boolean;
}

// Far above any real Authorization header; bounds the parser's work on hostile input.
const MAX_HEADER_LENGTH = 8192;
const NONCE_BODY = 16; // 8 bytes issue time (ms) + 4 bytes epoch + 4 random bytes
const EPOCH = 4;
const NONCE_TAG = 16; // truncated HMAC-SHA-256
const HEX = /^[0-9a-fA-F]+$/;

/** Server side: issues challenges and checks answers to them. */
export class DigestAuthority {
  readonly realm: string;
  private readonly key: Buffer;
  private readonly clock: { now(): number };
  private readonly lifetimeMs: number;
  private readonly maxTracked: number;
  private readonly random: (size: number) => Buffer;
  private readonly opaque: string;
  private readonly epoch: Buffer;
  /** Highest nc accepted per nonce; Map order doubles as LRU order. */
  private readonly counts = new Map<string, number>();

  constructor(opts: DigestAuthorityOptions) {
    if (typeof opts.realm !== 'string' || opts.realm === '' || /[\x00-\x1f\x7f]/.test(opts.realm)) {
      throw new TypeError('DigestAuthority: "realm" must be non-empty printable text');
    }
    if (!Buffer.isBuffer(opts.key) || opts.key.length < 16) {
      throw new TypeError('DigestAuthority: "key" must be a Buffer of at least 16 bytes');
    }
    const lifetime = opts.nonceLifetimeMs ?? 300_000;
    if (!Number.isFinite(lifetime) || lifetime <= 0) {
      throw new TypeError('DigestAuthority: "nonceLifetimeMs" must be a positive number');
    }
    this.realm = opts.realm;
    this.key = Buffer.from(opts.key);
    this.clock = opts.clock;
    this.lifetimeMs = lifetime;
    this.maxTracked = Math.max(1, opts.maxTrackedNonces ?? 10_000);
    this.random = opts.randomBytes ?? cryptoRandomBytes;
    if (opts.epoch !== undefined && (!Buffer.isBuffer(opts.epoch) || opts.epoch.length !== EPOCH)) {
      throw new TypeError(`DigestAuthority: "epoch" must be a Buffer of ${EPOCH} bytes`);
    }
    this.epoch = Buffer.from(opts.epoch ?? cryptoRandomBytes(EPOCH));
    this.opaque = createHmac('sha256', this.key).update('confbox opaque').digest().subarray(0, 12).toString('base64url');
  }

  /**
   * WWW-Authenticate / Proxy-Authenticate values in the order asked (by default SHA-256 first, RFC 8760
   * section 2.4), all sharing one nonce. Phones that read only the first challenge get the first algorithm.
   */
  challenge(opts: { stale?: boolean; algorithms?: DigestAlgorithm[] } = {}): string[] {
    const wanted = opts.algorithms ?? ['SHA-256', 'MD5'];
    const nonce = this.makeNonce();
    return [...new Set(wanted)]
      .filter((a) => a === 'SHA-256' || a === 'MD5')
      .map((a) =>
        `Digest realm="${quote(this.realm)}", nonce="${nonce}", opaque="${this.opaque}", algorithm=${a}, qop="auth"` +
        (opts.stale ? ', stale=true' : ''),
      );
  }

  /**
   * Checks an answer to one of our challenges. 'stale' means the password was right but the nonce can no longer
   * be used (expired, or its nc was already seen): challenge again with stale=true, and do not count a failure.
   * The caller picks ha1 by creds.username and should check creds.uri against the Request-URI.
   */
  verify(creds: DigestCredentials, method: string, ha1: { md5: string; sha256: string }): DigestVerdict {
    try {
      return this.check(creds, method, ha1);
    } catch {
      return 'bad';
    }
  }

  /** What verify would answer, without remembering the nonce count: to choose among several answers of one request. */
  preview(creds: DigestCredentials, method: string, ha1: { md5: string; sha256: string }): DigestVerdict {
    try {
      return this.check(creds, method, ha1, false);
    } catch {
      return 'bad';
    }
  }

  private check(creds: DigestCredentials, method: string, ha1s: { md5: string; sha256: string }, record = true): DigestVerdict {
    if (creds.realm !== this.realm) return 'bad';
    const variant = parseAlgorithm(creds.algorithm);
    if (!variant) return 'bad';
    let nc = 0;
    if (creds.qop !== null) {
      if (creds.qop.toLowerCase() !== 'auth') return 'bad';
      if (!creds.cnonce || creds.nc === null || !/^[0-9a-fA-F]{8}$/.test(creds.nc)) return 'bad';
      nc = parseInt(creds.nc, 16);
      if (nc === 0) return 'bad';
    } else if (variant.sess) {
      return 'bad'; // -sess needs a cnonce, which only comes with qop
    }
    const issued = this.nonceOrigin(creds.nonce);
    if (issued === null) return 'bad';
    const base = variant.hash === 'MD5' ? ha1s.md5 : ha1s.sha256;
    if (typeof base !== 'string' || !HEX.test(base)) return 'bad';
    const expected = digestResponse({
      algorithm: variant.hash,
      sess: variant.sess,
      ha1: base.toLowerCase(),
      nonce: creds.nonce,
      cnonce: creds.cnonce ?? '',
      nc: creds.nc ?? '',
      qop: creds.qop,
      method,
      uri: creds.uri,
    });
    if (!equalHex(expected, creds.response)) return 'bad';
    const age = this.clock.now() - issued.at;
    // Any nonce that verifies is ours, so a clock step (no RTC on the board) or a restart makes it stale, never bad.
    if (age < 0 || age > this.lifetimeMs || !issued.epoch.equals(this.epoch)) return 'stale';
    if (!record) return this.countSeen(creds.nonce, nc) ? 'stale' : 'ok';
    if (!this.acceptCount(creds.nonce, nc)) return 'stale';
    return 'ok';
  }

  private makeNonce(): string {
    const body = Buffer.alloc(NONCE_BODY);
    body.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(this.clock.now()))), 0);
    this.epoch.copy(body, 8);
    this.random(NONCE_BODY - 8 - EPOCH).copy(body, 8 + EPOCH, 0, NONCE_BODY - 8 - EPOCH);
    return Buffer.concat([body, this.tag(body)]).toString('base64url');
  }

  /** Issue time and epoch of a nonce we made, or null for anything else. */
  private nonceOrigin(nonce: string): { at: number; epoch: Buffer } | null {
    if (!/^[A-Za-z0-9_-]{43}$/.test(nonce)) return null;
    const raw = Buffer.from(nonce, 'base64url');
    // Non-canonical spellings of the same bytes would slip past the replay check, which is keyed by text.
    if (raw.length !== NONCE_BODY + NONCE_TAG || raw.toString('base64url') !== nonce) return null;
    const body = raw.subarray(0, NONCE_BODY);
    if (!timingSafeEqual(raw.subarray(NONCE_BODY), this.tag(body))) return null;
    return { at: Number(body.readBigUInt64BE(0)), epoch: body.subarray(8, 8 + EPOCH) };
  }

  private tag(body: Buffer): Buffer {
    return createHmac('sha256', this.key).update(this.realm, 'utf8').update('\0').update(body).digest().subarray(0, NONCE_TAG);
  }

  private countSeen(nonce: string, nc: number): boolean {
    const seen = this.counts.get(nonce);
    return seen !== undefined && nc <= seen;
  }

  /** Accepts nc only above the highest seen for this nonce; the RFC 2069 form (nc 0) may use a nonce once. */
  private acceptCount(nonce: string, nc: number): boolean {
    const seen = this.counts.get(nonce);
    if (seen !== undefined && nc <= seen) return false;
    this.counts.delete(nonce);
    this.counts.set(nonce, nc);
    if (this.counts.size > this.maxTracked) {
      const oldest = this.counts.keys().next();
      if (!oldest.done) this.counts.delete(oldest.value);
    }
    return true;
  }
}

/** H(user:realm:password) in lower-case hex, as stored for an extension. */
export function ha1(algorithm: DigestAlgorithm, user: string, realm: string, password: string): string {
  return hash(algorithm, `${user}:${realm}:${password}`);
}

/** The request-digest of RFC 7616 section 3.4.1 (and the RFC 2069 form when qop is null). */
export function digestResponse(p: {
  algorithm: DigestAlgorithm;
  sess: boolean;
  ha1: string;
  nonce: string;
  cnonce: string;
  nc: string;
  qop: string | null;
  method: string;
  uri: string;
}): string {
  const a1 = p.sess ? hash(p.algorithm, `${p.ha1}:${p.nonce}:${p.cnonce}`) : p.ha1;
  const a2 = hash(p.algorithm, `${p.method}:${p.uri}`);
  return p.qop === null
    ? hash(p.algorithm, `${a1}:${p.nonce}:${a2}`)
    : hash(p.algorithm, `${a1}:${p.nonce}:${p.nc}:${p.cnonce}:${p.qop}:${a2}`);
}

/** Parses a Digest Authorization value; null for other schemes, missing parameters or malformed text. Never throws. */
export function parseAuthorization(headerValue: string): DigestCredentials | null {
  try {
    const p = parseDigestParams(headerValue);
    if (!p) return null;
    const username = p.get('username');
    const realm = p.get('realm');
    const nonce = p.get('nonce');
    const uri = p.get('uri');
    const response = p.get('response');
    if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined) {
      return null;
    }
    return {
      username,
      realm,
      nonce,
      uri,
      response,
      algorithm: p.get('algorithm') ?? null,
      cnonce: p.get('cnonce') ?? null,
      qop: p.get('qop') ?? null,
      nc: p.get('nc') ?? null,
      opaque: p.get('opaque') ?? null,
    };
  } catch {
    return null;
  }
}

/** Client side, for tests and tools: the Authorization value answering one WWW-Authenticate value. */
export function answerChallenge(
  challengeValue: string,
  opts: { username: string; password: string; method: string; uri: string; cnonce?: string; nc?: number },
): string {
  const p = parseDigestParams(challengeValue);
  if (!p) throw new Error('answerChallenge: not a Digest challenge');
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined || nonce === undefined) throw new Error('answerChallenge: the challenge has no realm or nonce');
  const algorithm = p.get('algorithm') ?? null;
  const variant = parseAlgorithm(algorithm);
  if (!variant) throw new Error(`answerChallenge: unsupported algorithm "${algorithm}"`);
  const offered = p.get('qop');
  // No qop at all means the RFC 2069 form; a qop list must include "auth".
  const qop = offered === undefined ? null : 'auth';
  if (offered !== undefined && !offered.split(',').some((q) => q.trim().toLowerCase() === 'auth')) {
    throw new Error(`answerChallenge: no supported qop in "${offered}"`);
  }
  if (variant.sess && qop === null) throw new Error('answerChallenge: a -sess algorithm needs qop');
  const cnonce = opts.cnonce ?? cryptoRandomBytes(12).toString('hex');
  const nc = (opts.nc ?? 1).toString(16).padStart(8, '0');
  const response = digestResponse({
    algorithm: variant.hash,
    sess: variant.sess,
    ha1: ha1(variant.hash, opts.username, realm, opts.password),
    nonce,
    cnonce,
    nc,
    qop,
    method: opts.method,
    uri: opts.uri,
  });
  const parts = [
    `username="${quote(opts.username)}"`,
    `realm="${quote(realm)}"`,
    `nonce="${quote(nonce)}"`,
    `uri="${quote(opts.uri)}"`,
    `response="${response}"`,
  ];
  if (algorithm !== null) parts.push(`algorithm=${algorithm}`);
  if (qop !== null) parts.push(`cnonce="${quote(cnonce)}"`, `qop=${qop}`, `nc=${nc}`);
  const opaque = p.get('opaque');
  if (opaque !== undefined) parts.push(`opaque="${quote(opaque)}"`);
  return `Digest ${parts.join(', ')}`;
}

function parseAlgorithm(value: string | null): Variant | null {
  switch (value === null ? 'md5' : value.toLowerCase()) {
    case 'md5': return { hash: 'MD5', sess: false };
    case 'md5-sess': return { hash: 'MD5', sess: true };
    case 'sha-256': return { hash: 'SHA-256', sess: false };
    case 'sha-256-sess': return { hash: 'SHA-256', sess: true };
    default: return null;
  }
}

function hash(algorithm: DigestAlgorithm, text: string): string {
  return createHash(algorithm === 'MD5' ? 'md5' : 'sha256').update(text, 'utf8').digest('hex');
}

function equalHex(expected: string, given: string): boolean {
  if (typeof given !== 'string' || given.length !== expected.length) return false;
  return timingSafeEqual(Buffer.from(expected, 'latin1'), Buffer.from(given.toLowerCase(), 'latin1'));
}

function quote(s: string): string {
  return s.replace(/[\\"]/g, (c) => '\\' + c);
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
// RFC 7230 tchar, a superset of the RFC 3261 token characters.
const isTokenChar = (c: number) =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));

/**
 * `Digest name=value, name="quoted \" value", ...` into lower-cased names; null on anything malformed,
 * including a repeated parameter (two differing copies would let different readers see different values).
 */
function parseDigestParams(value: unknown): Map<string, string> | null {
  if (typeof value !== 'string' || value.length > MAX_HEADER_LENGTH) return null;
  const n = value.length;
  let i = 0;
  const skipSpace = () => {
    while (i < n && isSpace(value.charCodeAt(i))) i++;
  };
  skipSpace();
  if (value.slice(i, i + 6).toLowerCase() !== 'digest') return null;
  i += 6;
  if (i >= n || !isSpace(value.charCodeAt(i))) return null;
  const params = new Map<string, string>();
  for (;;) {
    skipSpace();
    if (i >= n) break;
    if (value[i] === ',') {
      i++;
      continue;
    }
    const nameStart = i;
    while (i < n && isTokenChar(value.charCodeAt(i))) i++;
    if (i === nameStart) return null;
    const name = value.slice(nameStart, i).toLowerCase();
    skipSpace();
    if (value[i] !== '=') return null;
    i++;
    skipSpace();
    let v = '';
    if (value[i] === '"') {
      i++;
      let closed = false;
      while (i < n) {
        const c = value[i];
        if (c === '"') {
          closed = true;
          i++;
          break;
        }
        if (c === '\\') {
          if (i + 1 >= n) return null;
          v += value[i + 1];
          i += 2;
        } else {
          v += c;
          i++;
        }
      }
      if (!closed) return null;
    } else {
      const start = i;
      while (i < n && !isSpace(value.charCodeAt(i)) && value[i] !== ',' && value[i] !== '"') i++;
      if (i === start) return null;
      v = value.slice(start, i);
    }
    if (params.has(name)) return null;
    params.set(name, v);
    skipSpace();
    if (i < n && value[i] !== ',') return null;
  }
  return params.size > 0 ? params : null;
}
