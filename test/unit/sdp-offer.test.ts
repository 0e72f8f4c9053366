// The box's own offer (delayed offer, RFC 3261 13.2.1; offerless re-INVITE, RFC 6337) and the caller's answer to it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import sdpTransform from 'sdp-transform';
import { acceptAnswer, makeOffer, type LocalMedia } from '../../firmware/sip/sdp.ts';

const KEY = new Uint8Array(30).fill(7);
const LOCAL: LocalMedia = { address: '192.0.2.10', port: 40000, codecs: ['G722', 'PCMU', 'PCMA'], sessionId: '4711', sessionVersion: 1 };
const crlf = (...lines: string[]) => lines.join('\r\n') + '\r\n';

const answer = (...media: string[]) => crlf('v=0', 'o=phone 1 1 IN IP4 192.0.2.20', 's=-', 'c=IN IP4 192.0.2.20', 't=0 0', ...media);

test('the offer lists the box\'s codecs in its order, telephone-event, ptime, sendrecv, its address and port', () => {
  const sdp = sdpTransform.parse(makeOffer(LOCAL));
  assert.is(sdp.origin?.address, '192.0.2.10');
  assert.is(sdp.connection?.ip, '192.0.2.10');
  const m = sdp.media[0]!;
  assert.is(m.port, 40000);
  assert.is(m.protocol, 'RTP/AVP');
  assert.is(String(m.payloads), '9 0 8 101');
  assert.equal(m.rtp.map((r) => `${r.payload} ${r.codec}/${r.rate}`), ['9 G722/8000', '0 PCMU/8000', '8 PCMA/8000', '101 telephone-event/8000']);
  assert.is(m.direction, 'sendrecv');
  assert.is(m.ptime, 20);
  assert.is(m.crypto, undefined, 'no keys without an SRTP policy');
});

test('SRTP: best-effort keys on RTP/AVP when optional, RTP/SAVP when required, none when the engine cannot encrypt', () => {
  const optional = sdpTransform.parse(makeOffer({ ...LOCAL, srtp: { policy: 'optional', key: KEY } })).media[0]!;
  assert.is(optional.protocol, 'RTP/AVP');
  assert.is(optional.crypto?.[0]?.suite, 'AES_CM_128_HMAC_SHA1_80');
  assert.is(optional.crypto?.[0]?.config, `inline:${Buffer.from(KEY).toString('base64')}`);
  assert.is(sdpTransform.parse(makeOffer({ ...LOCAL, srtp: { policy: 'required', key: KEY } })).media[0]!.protocol, 'RTP/SAVP');
  assert.is(sdpTransform.parse(makeOffer({ ...LOCAL, srtp: { policy: 'optional', key: KEY, unavailable: 'no libsrtp2' } })).media[0]!.crypto, undefined);
});

test('an offer of the call\'s current state: one codec, the given direction', () => {
  const m = sdpTransform.parse(makeOffer({ ...LOCAL, codecs: ['PCMA'] }, 'sendonly')).media[0]!;
  assert.is(String(m.payloads), '8 101');
  assert.is(m.direction, 'sendonly');
});

test('the answer: the codec the caller chose, its address, port, telephone-event and ptime', () => {
  const r = acceptAnswer(answer('m=audio 50000 RTP/AVP 0 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', 'a=ptime:30'), LOCAL);
  assert.ok(r.ok, JSON.stringify(r));
  if (!r.ok) return;
  assert.equal({ ...r.remote, crypto: null }, { address: '192.0.2.20', port: 50000, codec: 'PCMU', payloadType: 0, dtmfPayloadType: 101, ptime: 30, direction: 'sendrecv', crypto: null });
});

test('an answer the box cannot use says why: a codec it did not offer, a refused stream, garbage', () => {
  const g729 = acceptAnswer(answer('m=audio 50000 RTP/AVP 18', 'a=rtpmap:18 G729/8000'), LOCAL);
  assert.ok(!g729.ok && g729.status === 488 && /no common codec/.test(g729.reason), JSON.stringify(g729));
  const refused = acceptAnswer(answer('m=audio 0 RTP/AVP 0'), LOCAL);
  assert.ok(!refused.ok && /disabled/.test(refused.reason), JSON.stringify(refused));
  const junk = acceptAnswer('hello', LOCAL);
  assert.ok(!junk.ok && junk.status === 400, JSON.stringify(junk));
  const suite = acceptAnswer(answer('m=audio 50000 RTP/AVP 0', 'a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:' + Buffer.from(KEY).toString('base64')), { ...LOCAL, srtp: { policy: 'optional', key: KEY } });
  assert.ok(!suite.ok && /not offered/.test(suite.reason), JSON.stringify(suite));
});

test.run();
