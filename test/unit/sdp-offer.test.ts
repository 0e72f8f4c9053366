import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sdpTransform from 'sdp-transform';
import { acceptAnswer, makeOffer, type AcceptedAnswer } from '../../firmware/sip/sdp-offer.ts';
import type { LocalMedia, RemoteMedia } from '../../firmware/sip/sdp.ts';

const KEY = new Uint8Array(30).map((_, i) => i + 1);
const LOCAL: LocalMedia = { address: '192.0.2.10', port: 40000, codecs: ['PCMU', 'PCMA', 'G722'], sessionId: '4711', sessionVersion: 1 };
const crlf = (...lines: string[]) => lines.join('\r\n') + '\r\n';
const PHONE_KEY = Buffer.alloc(30, 7).toString('base64');

function answer(media: string[], c = 'c=IN IP4 192.0.2.55'): string {
  return crlf('v=0', 'o=phone 1 1 IN IP4 192.0.2.55', 's=-', c, 't=0 0', ...media);
}

function accepted(r: AcceptedAnswer): RemoteMedia {
  if (!r.ok) throw new assert.Assertion({ message: `expected the answer accepted, got: ${r.reason}`, operator: 'ok', expects: 'ok', actual: r });
  return r.remote;
}

function refused(r: AcceptedAnswer, reason: RegExp): void {
  if (r.ok) throw new assert.Assertion({ message: 'expected the answer refused', operator: 'not.ok', expects: reason, actual: r.remote });
  assert.match(r.reason, reason);
  assert.match(r.reason, /^[\x20-\x7e]+$/, 'the reason fits a Warning header');
}

test('the offer: the box\'s codecs at static payload types, telephone-event 101, its port, ptime 20, sendrecv', () => {
  const offer = makeOffer(LOCAL);
  assert.not.match(offer, /\r(?!\n)|(?<!\r)\n/, 'CRLF line endings');
  const parsed = sdpTransform.parse(offer);
  assert.is(parsed.media.length, 1);
  const m = parsed.media[0]!;
  assert.is(m.type, 'audio');
  assert.is(m.port, 40000);
  assert.is(m.protocol, 'RTP/AVP');
  assert.is(String(m.payloads), '0 8 9 101');
  assert.equal(m.rtp.map((r) => `${r.payload} ${r.codec}/${r.rate}`), ['0 PCMU/8000', '8 PCMA/8000', '9 G722/8000', '101 telephone-event/8000']);
  assert.is(m.direction, 'sendrecv');
  assert.is(m.ptime, 20);
  assert.is(parsed.connection?.ip, '192.0.2.10');
  assert.is(parsed.origin?.sessionId, 4711);
  assert.not.match(offer, /a=crypto/, 'no key without an SRTP policy');
  assert.match(makeOffer({ ...LOCAL, codecs: ['PCMA'] }), /^m=audio 40000 RTP\/AVP 8 101\r$/m, 'only the codecs the box allows');
});

test('the offer carries one SDES key when SRTP is allowed: RTP/AVP when optional, RTP/SAVP when required, none when unavailable', () => {
  const inline = `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${Buffer.from(KEY).toString('base64')}`;
  const optional = makeOffer({ ...LOCAL, srtp: { policy: 'optional', key: KEY } });
  assert.match(optional, /^m=audio 40000 RTP\/AVP /m);
  assert.ok(optional.includes(inline + '\r\n'), optional);
  const required = makeOffer({ ...LOCAL, srtp: { policy: 'required', key: KEY } });
  assert.match(required, /^m=audio 40000 RTP\/SAVP /m);
  assert.ok(required.includes(inline + '\r\n'));
  assert.not.match(makeOffer({ ...LOCAL, srtp: { policy: 'optional', key: KEY, unavailable: 'libsrtp2 is missing' } }), /a=crypto/);
  assert.not.match(makeOffer({ ...LOCAL, srtp: { policy: 'off', key: KEY } }), /a=crypto/);
});

test('an answer picking one offered codec gives where and how to send, with its ptime and direction', () => {
  const r = accepted(acceptAnswer(answer(['m=audio 50000 RTP/AVP 8 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=ptime:30', 'a=sendrecv']), LOCAL));
  assert.equal({ ...r }, { address: '192.0.2.55', port: 50000, codec: 'PCMA', payloadType: 8, dtmfPayloadType: 101, ptime: 30, direction: 'sendrecv', crypto: null });
  const plain = accepted(acceptAnswer(answer(['m=audio 50002 RTP/AVP 0']), LOCAL));
  assert.is(plain.codec, 'PCMU');
  assert.is(plain.dtmfPayloadType, null);
  assert.is(plain.ptime, 20);
  assert.is(accepted(acceptAnswer(answer(['m=audio 50002 RTP/AVP 0', 'a=recvonly']), LOCAL)).direction, 'recvonly');
  assert.is(accepted(acceptAnswer(answer(['m=audio 50002 RTP/AVP 0'], 'c=IN IP4 0.0.0.0'), LOCAL)).direction, 'sendonly', 'c=0.0.0.0: nothing goes to the phone');
});

test('an answer that breaks the offer is refused with a reason naming what is wrong', () => {
  refused(acceptAnswer('', LOCAL), /empty/);
  refused(acceptAnswer('hello', LOCAL), /SDP answer/);
  refused(acceptAnswer(answer(['m=audio 0 RTP/AVP 0']), LOCAL), /declined the audio stream \(port 0\)/);
  refused(acceptAnswer(answer(['m=audio 50000 RTP/AVP 0', 'm=video 50002 RTP/AVP 96']), LOCAL), /2 m= lines/);
  refused(acceptAnswer(answer(['m=audio 50000 RTP/AVP 18', 'a=rtpmap:18 G729/8000']), LOCAL), /SDP answer: no common codec: offered G729/);
  refused(acceptAnswer(answer(['m=audio 50000 RTP/AVP 9', 'a=rtpmap:9 G722/8000']), { ...LOCAL, codecs: ['PCMU'] }), /no common codec/);
  refused(acceptAnswer(answer(['m=audio 50000 RTP/AVP 96', 'a=rtpmap:96 PCMU/8000']), LOCAL), /payload type 96 for PCMU; the offer had 0/);
  refused(acceptAnswer(answer(['m=audio 50000 RTP/AVP 0']).replace('c=IN IP4 192.0.2.55\r\n', ''), LOCAL), /no c= line/);
});

test('SRTP answers: the offered tag and suite are taken; without a key only when SRTP is optional', () => {
  const srtp = { policy: 'optional' as const, key: KEY };
  const keyed = accepted(acceptAnswer(answer(['m=audio 50000 RTP/AVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${PHONE_KEY}`]), { ...LOCAL, srtp }));
  assert.is(keyed.crypto?.tag, 1);
  assert.equal([...keyed.crypto!.key], [...Buffer.from(PHONE_KEY, 'base64')]);
  assert.is(accepted(acceptAnswer(answer(['m=audio 50000 RTP/AVP 0']), { ...LOCAL, srtp })).crypto, null);
  refused(acceptAnswer(answer(['m=audio 50000 RTP/SAVP 0', `a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:${PHONE_KEY}`]), { ...LOCAL, srtp }), /tag 2 is not the offered 1/);
  refused(acceptAnswer(answer(['m=audio 50000 RTP/SAVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${PHONE_KEY}`]), { ...LOCAL, srtp }), /suite AES_CM_128_HMAC_SHA1_32 was not offered/);
  refused(acceptAnswer(answer(['m=audio 50000 RTP/AVP 0']), { ...LOCAL, srtp: { policy: 'required', key: KEY } }), /requires encrypted audio/);
  refused(acceptAnswer(answer(['m=audio 50000 RTP/SAVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${PHONE_KEY}`]), LOCAL), /turned off/);
});

test.run();
