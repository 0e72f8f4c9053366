/**
 * SRTP (RFC 3711) for the test phone, written from the RFC with node:crypto so the box's libsrtp2 is checked
 * against an independent implementation: AES_CM_128_HMAC_SHA1_80 and _32 (RFC 4568), RTP only, key derivation
 * rate 0, roll-over counter guessed as in RFC 3711 appendix A.
 */
import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';

export type SrtpSuite = 'AES_CM_128_HMAC_SHA1_80' | 'AES_CM_128_HMAC_SHA1_32';

/** The a=crypto line's parts, e.g. from the box's answer. */
export interface Crypto {
  tag: number;
  suite: SrtpSuite;
  /** 30 octets: master key (16) and salt (14). */
  key: Buffer;
}

/** The first a=crypto line of an SDP body, or null. */
export function parseCrypto(sdp: string): Crypto | null {
  const m = /^a=crypto:(\d+) (AES_CM_128_HMAC_SHA1_(?:80|32)) inline:([A-Za-z0-9+/=]+)/m.exec(sdp);
  if (!m) return null;
  return { tag: Number(m[1]), suite: m[2] as SrtpSuite, key: Buffer.from(m[3]!, 'base64') };
}

export function cryptoLine(c: Crypto): string {
  return `a=crypto:${c.tag} ${c.suite} inline:${c.key.toString('base64')}`;
}

/** RFC 3711 4.3.1 with AES-CM as the PRF: n octets of the session key with this label. */
function derive(master: Buffer, salt: Buffer, label: number, n: number): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0);
  iv[7]! ^= label;
  const c = createCipheriv('aes-128-ctr', master, iv);
  return c.update(Buffer.alloc(n));
}

/** One direction of one SRTP stream (any SSRC; the roll-over counter is kept per SSRC). */
export class SrtpContext {
  private readonly encKey: Buffer;
  private readonly authKey: Buffer;
  private readonly salt: Buffer;
  readonly tagLength: number;
  private readonly roc = new Map<number, { roc: number; seq: number }>();

  constructor(readonly crypto: Crypto) {
    if (crypto.key.length !== 30) throw new Error(`an SRTP master key and salt are 30 octets, got ${crypto.key.length}`);
    const master = crypto.key.subarray(0, 16);
    const masterSalt = crypto.key.subarray(16);
    this.encKey = derive(master, masterSalt, 0, 16);
    this.authKey = derive(master, masterSalt, 1, 20);
    this.salt = derive(master, masterSalt, 2, 14);
    this.tagLength = crypto.suite === 'AES_CM_128_HMAC_SHA1_80' ? 10 : 4;
  }

  private keystream(ssrc: number, index: number, payload: Buffer): Buffer {
    const iv = Buffer.alloc(16);
    this.salt.copy(iv, 0);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    const hi = Math.floor(index / 0x100000000);
    iv.writeUInt16BE(iv.readUInt16BE(8) ^ (hi & 0xffff), 8);
    iv.writeUInt32BE((iv.readUInt32BE(10) ^ (index >>> 0)) >>> 0, 10);
    return createCipheriv('aes-128-ctr', this.encKey, iv).update(payload);
  }

  private tag(authenticated: Buffer, roc: number): Buffer {
    const r = Buffer.alloc(4);
    r.writeUInt32BE(roc >>> 0);
    return createHmac('sha1', this.authKey).update(authenticated).update(r).digest().subarray(0, this.tagLength);
  }

  /** Header length of an RTP packet (fixed part, CSRCs, extension). */
  private static headerLength(p: Buffer): number {
    let n = 12 + 4 * (p[0]! & 0x0f);
    if (p[0]! & 0x10) n += 4 + 4 * p.readUInt16BE(n + 2);
    return n;
  }

  /** An RTP packet as SRTP (a sender's roll-over counter follows its own sequence numbers). */
  protect(rtp: Buffer): Buffer {
    const ssrc = rtp.readUInt32BE(8);
    const seq = rtp.readUInt16BE(2);
    const s = this.roc.get(ssrc) ?? { roc: 0, seq };
    if (seq < s.seq && s.seq - seq > 0x8000) s.roc++;
    s.seq = seq;
    this.roc.set(ssrc, s);
    const h = SrtpContext.headerLength(rtp);
    const body = Buffer.concat([rtp.subarray(0, h), this.keystream(ssrc, s.roc * 0x10000 + seq, rtp.subarray(h))]);
    return Buffer.concat([body, this.tag(body, s.roc)]);
  }

  /** The RTP packet inside an SRTP packet, or null when it does not authenticate. */
  unprotect(srtp: Buffer): Buffer | null {
    if (srtp.length < 12 + this.tagLength) return null;
    const ssrc = srtp.readUInt32BE(8);
    const seq = srtp.readUInt16BE(2);
    const known = this.roc.get(ssrc);
    // RFC 3711 appendix A: the index closest to the highest one seen.
    let v = known?.roc ?? 0;
    if (known) {
      if (known.seq < 0x8000) {
        if (seq - known.seq > 0x8000) v = known.roc - 1;
      } else if (known.seq - 0x8000 > seq) {
        v = known.roc + 1;
      }
    }
    const body = srtp.subarray(0, srtp.length - this.tagLength);
    const tag = srtp.subarray(srtp.length - this.tagLength);
    if (v < 0 || !timingSafeEqual(this.tag(body, v), tag)) return null;
    if (!known || v > known.roc || (v === known.roc && seq > known.seq)) this.roc.set(ssrc, { roc: v, seq });
    const h = SrtpContext.headerLength(body);
    return Buffer.concat([body.subarray(0, h), this.keystream(ssrc, v * 0x10000 + seq, body.subarray(h))]);
  }
}
