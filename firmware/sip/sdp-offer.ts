/**
 * The box's own SDP offer (RFC 3264 section 5) and the check of the answer to it, for an INVITE that came without an
 * offer (delayed offer: the box offers in its 200 and the caller answers in the ACK). The offer carries the box's
 * codecs at their static payload types, telephone-event, its RTP port and sendrecv; with SRTP allowed, one SDES key.
 * Never throws.
 */
import { negotiate, type CodecName, type LocalMedia, type RemoteMedia } from './sdp.ts';

const CLOCK_RATE = 8000;
const STATIC_PT: Readonly<Record<CodecName, number>> = { PCMU: 0, PCMA: 8, G722: 9 };
/** The telephone-event payload type the box offers. */
export const OFFER_DTMF_PT = 101;
const OFFER_PTIME = 20;
const OFFER_CRYPTO_TAG = 1;
const OFFER_SUITE = 'AES_CM_128_HMAC_SHA1_80';

export type AcceptedAnswer = { ok: true; remote: RemoteMedia } | { ok: false; reason: string };

/** Whether the offer carries the box's SRTP key, and whether it must be answered with SRTP. */
function srtpOf(local: LocalMedia): 'none' | 'optional' | 'required' {
  const s = local.srtp;
  if (!s || s.policy === 'off' || s.unavailable) return 'none';
  return s.policy;
}

/** The box's offer: its codecs in its order, telephone-event, its address and port, a=ptime:20, a=sendrecv. */
export function makeOffer(local: LocalMedia): string {
  const ip = local.address.includes(':') ? 'IP6' : 'IP4';
  const srtp = srtpOf(local);
  const pts = [...local.codecs.map((c) => STATIC_PT[c]), OFFER_DTMF_PT];
  const lines = [
    'v=0',
    `o=confbox ${local.sessionId} ${local.sessionVersion} IN ${ip} ${local.address}`,
    's=confbox',
    `c=IN ${ip} ${local.address}`,
    't=0 0',
    // Best-effort SRTP (RTP/AVP with a key) when it is optional: phones without SRTP still answer it.
    `m=audio ${local.port} ${srtp === 'required' ? 'RTP/SAVP' : 'RTP/AVP'} ${pts.join(' ')}`,
    ...local.codecs.map((c) => `a=rtpmap:${STATIC_PT[c]} ${c}/${CLOCK_RATE}`),
    `a=rtpmap:${OFFER_DTMF_PT} telephone-event/${CLOCK_RATE}`,
    `a=fmtp:${OFFER_DTMF_PT} 0-16`,
    `a=ptime:${OFFER_PTIME}`,
    'a=sendrecv',
  ];
  if (srtp !== 'none') lines.push(`a=crypto:${OFFER_CRYPTO_TAG} ${OFFER_SUITE} inline:${Buffer.from(local.srtp!.key).toString('base64')}`);
  return lines.join('\r\n') + '\r\n';
}

/**
 * Reads the answer to makeOffer(local): where and how to send the caller's audio, or what is wrong with the answer (a
 * reason that fits a Warning header). The answer must keep one audio stream, pick one of the offered codecs at the
 * offered payload type, and answer the box's key when SRTP is required.
 */
export function acceptAnswer(answerSdp: string, local: LocalMedia): AcceptedAnswer {
  try {
    return acceptUnsafe(answerSdp, local);
  } catch {
    return { ok: false, reason: 'the SDP answer could not be parsed' };
  }
}

function acceptUnsafe(answerSdp: string, local: LocalMedia): AcceptedAnswer {
  if (typeof answerSdp !== 'string' || answerSdp.trim() === '') return { ok: false, reason: 'the SDP answer is empty' };
  const mlines = answerSdp.split(/\r\n|\r|\n/).filter((l) => l.startsWith('m='));
  if (mlines.length !== 1) return { ok: false, reason: `the SDP answer has ${mlines.length} m= lines; the offer had one audio stream` };
  const m = /^m=(\S+)[ \t]+(\d+)/.exec(mlines[0]!);
  if (m && m[1]!.toLowerCase() === 'audio' && m[2] === '0') return { ok: false, reason: 'the SDP answer declined the audio stream (port 0)' };
  const srtp = srtpOf(local);
  // The answer is read as an offer would be; it may only pick what the box offered.
  const read = negotiate(answerSdp, srtp === 'none' ? { ...local, srtp: undefined } : local);
  if (!read.ok) return { ok: false, reason: `the SDP answer: ${read.reason}` };
  const remote = read.remote;
  if (remote.payloadType !== STATIC_PT[remote.codec]) {
    return { ok: false, reason: `the SDP answer uses payload type ${remote.payloadType} for ${remote.codec}; the offer had ${STATIC_PT[remote.codec]}` };
  }
  if (remote.crypto && remote.crypto.tag !== OFFER_CRYPTO_TAG) {
    return { ok: false, reason: `the SDP answer's a=crypto tag ${remote.crypto.tag} is not the offered ${OFFER_CRYPTO_TAG}` };
  }
  if (remote.crypto && remote.crypto.suite !== OFFER_SUITE) {
    return { ok: false, reason: `the SDP answer's crypto suite ${remote.crypto.suite} was not offered (${OFFER_SUITE})` };
  }
  if (srtp === 'required' && !remote.crypto) return { ok: false, reason: 'the SDP answer has no a=crypto key, and this box requires encrypted audio' };
  return { ok: true, remote };
}
