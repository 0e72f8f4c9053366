// The details of an SDP offer the box reads, one by one: how lines and fields may be spaced, what a payload type, a
// port, an address and an a=crypto line may look like, how hold is read, and the words of each refusal. What a PBX or
// phone sending a slightly unusual offer, or a technician reading the box's Warning header, would notice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { acceptAnswer, makeOffer, negotiate, type LocalMedia, type Negotiation, type RemoteMedia } from '../../firmware/sip/sdp.ts';

const LOCAL: LocalMedia = { address: '192.0.2.10', port: 40000, codecs: ['PCMU', 'PCMA', 'G722'], sessionId: '4711', sessionVersion: 1 };
const KEY = new Uint8Array(30).fill(7);
const THEIR_KEY = Buffer.alloc(30, 9).toString('base64');
const OPTIONAL: LocalMedia = { ...LOCAL, srtp: { policy: 'optional', key: KEY } };
const REQUIRED: LocalMedia = { ...LOCAL, srtp: { policy: 'required', key: KEY } };
const crlf = (...lines: string[]) => lines.join('\r\n') + '\r\n';
const offer = (media: string[], connection = 'c=IN IP4 203.0.113.5') => crlf('v=0', 'o=- 1 1 IN IP4 203.0.113.5', 's=-', connection, 't=0 0', ...media);

function taken(r: Negotiation): RemoteMedia & { answer: string } {
  assert.ok(r.ok, `expected an answer, got ${JSON.stringify(r)}`);
  return { ...(r as { remote: RemoteMedia }).remote, answer: (r as { answer: string }).answer };
}

function refused(r: Negotiation | ReturnType<typeof acceptAnswer>, status: number): string {
  assert.not.ok(r.ok, `expected a refusal, got ${JSON.stringify(r)}`);
  const f = r as { status: number; reason: string };
  assert.is(f.status, status, f.reason);
  return f.reason;
}

test('static payload types without a=rtpmap: the box\'s three are taken, others are named by RFC 3551 in a refusal', () => {
  assert.is(taken(negotiate(offer(['m=audio 4000 RTP/AVP 9']), LOCAL)).codec, 'G722');
  const g722Only: LocalMedia = { ...LOCAL, codecs: ['G722'] };
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 0 8']), g722Only), 488), 'no common codec: offered PCMU, PCMA');
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 9']), { ...LOCAL, codecs: ['PCMU'] }), 488), 'no common codec: offered G722');
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 3 4 5 6 7 10 11 12']), LOCAL), 488), 'no common codec: offered GSM, G723, DVI4, DVI4, LPC, L16, L16, QCELP');
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 13 14 15 16 17 18 31 32']), LOCAL), 488), 'no common codec: offered CN, MPA, G728, DVI4, DVI4, G729, H261, MPV');
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 34 2 abc 96', 'a=rtpmap:96 FOO']), LOCAL), 488), 'no common codec: offered H263, PT 2, abc, FOO');
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 101', 'a=rtpmap:101 telephone-event/8000']), LOCAL), 488), 'no common codec: offered nothing');
});

test('a payload type is a plain decimal number: 0x9, 9.0 and +9 are not G.722', () => {
  for (const f of ['0x9', '9.0', '+9', '09a']) {
    assert.match(refused(negotiate(offer([`m=audio 4000 RTP/AVP ${f}`]), LOCAL), 488), 'no common codec', f);
  }
  assert.is(taken(negotiate(offer(['m=audio 4000 RTP/AVP 009']), LOCAL)).codec, 'G722', 'leading zeros are still a number');
});

test('a=rtpmap: the first line for a payload type wins; without a clock rate only a static type\'s own name counts; one channel only', () => {
  assert.is(taken(negotiate(offer(['m=audio 4000 RTP/AVP 96', 'a=rtpmap:96 PCMA/8000', 'a=rtpmap:96 opus/48000/2']), LOCAL)).codec, 'PCMA');
  assert.is(taken(negotiate(offer(['m=audio 4000 RTP/AVP 0', 'a=rtpmap:0 PCMU']), LOCAL)).codec, 'PCMU', 'a static type named without its rate');
  refused(negotiate(offer(['m=audio 4000 RTP/AVP 96', 'a=rtpmap:96 PCMU']), LOCAL), 488);
  refused(negotiate(offer(['m=audio 4000 RTP/AVP 8', 'a=rtpmap:8 PCMU']), LOCAL), 488);
  assert.match(refused(negotiate(offer(['m=audio 4000 RTP/AVP 0', 'a=rtpmap:0 PCMU/16000']), LOCAL), 488), 'offered PCMU/16000', 'a static type at another rate');
  assert.is(taken(negotiate(offer(['m=audio 4000 RTP/AVP 96', 'a=rtpmap:96 PCMU/8000/1']), LOCAL)).codec, 'PCMU', 'one channel named');
  assert.match(refused(negotiate(offer(['m=audio 4000 RTP/AVP 96', 'a=rtpmap:96 PCMU/8000/2']), LOCAL), 488), 'offered PCMU/8000');
  assert.is(taken(negotiate(offer(['m=audio 4000 RTP/AVP 96', 'a=rtpmap:96 PCMA/08000']), LOCAL)).codec, 'PCMA', 'a rate with a leading zero');
});

test('lines may end in spaces and tabs, blank lines may come first, fields may be spaced by several spaces or tabs', () => {
  const spaced = ['', '  ', 'v=0 \t', 'o=- 1 1 IN IP4 203.0.113.5', 's=-', 'c=IN  IP4\t 203.0.113.5  ', 't=0 0', 'm=audio  4000 \tRTP/AVP  0 ', 'a=sendrecv\t'].join('\r\n') + '\r\n';
  const r = taken(negotiate(spaced, LOCAL));
  assert.equal([r.address, r.port, r.codec, r.direction], ['203.0.113.5', 4000, 'PCMU', 'sendrecv']);
  assert.is(refused(negotiate('\r\n  \r\n\t\r\n', LOCAL), 400), 'the SDP body is empty');
});

test('m= port: digits with an optional port count, nothing around them', () => {
  assert.is(taken(negotiate(offer(['m=audio 4000/16 RTP/AVP 0']), LOCAL)).port, 4000);
  for (const port of ['x4000', '4000x', '4000/x']) {
    assert.is(refused(negotiate(offer([`m=audio ${port} RTP/AVP 0`]), LOCAL), 400), `m= line 1 has a non-numeric port '${port}'`);
  }
});

test('c= is "IN IP4|IP6 address" and nothing more; host names are DNS names and are not hold', () => {
  for (const bad of ['c=XIN IP4 203.0.113.5', 'c=IN IP4 203.0.113.5 extra', 'c=IN IP 203.0.113.5']) {
    assert.match(refused(negotiate(offer(['m=audio 4000 RTP/AVP 0'], bad), LOCAL), 400), 'is invalid', bad);
  }
  for (const host of ['pbx.example.com', 'pbx.example.com.', 'a.b.example', 'x-1.example.com']) {
    const r = taken(negotiate(offer(['m=audio 4000 RTP/AVP 0'], `c=IN IP4 ${host}`), LOCAL));
    assert.equal([r.address, r.direction], [host, 'sendrecv'], host);
  }
  for (const host of ['-pbx.example.com', 'pbx-.example.com', 'bad_label.example.com', '10.0.0.1a', 'pbx..example.com']) {
    assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 0'], `c=IN IP4 ${host}`), LOCAL), 400), `c= line gives '${host}', which is not an IP4 address or host name`);
  }
});

test('hold by c=0.0.0.0 (RFC 2543): a caller that still sends stays sendonly, one that only receives becomes inactive', () => {
  const hold = (dir: string) => taken(negotiate(offer(['m=audio 4000 RTP/AVP 0', `a=${dir}`], 'c=IN IP4 0.0.0.0'), LOCAL));
  const sendonly = hold('sendonly');
  assert.is(sendonly.direction, 'sendonly');
  assert.match(sendonly.answer, '\r\na=recvonly\r\n');
  assert.is(hold('sendrecv').direction, 'sendonly');
  assert.is(hold('recvonly').direction, 'inactive');
  assert.is(hold('inactive').direction, 'inactive');
});

test('transports: RTP/AVP/TCP is not RTP over UDP; DTLS-SRTP is named with or without F', () => {
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP/TCP 0']), LOCAL), 488), "unsupported transport 'RTP/AVP/TCP' for audio");
  for (const proto of ['UDP/TLS/RTP/SAVP', 'UDP/TLS/RTP/SAVPF']) {
    assert.is(refused(negotiate(offer([`m=audio 4000 ${proto} 0`]), OPTIONAL), 488), `DTLS-SRTP ('${proto}') is not supported: offer RTP/SAVP with a=crypto keys`);
  }
});

test('no usable audio: a disabled audio stream is named as such; otherwise the kinds offered, each once', () => {
  assert.is(refused(negotiate(offer(['m=audio 0 RTP/AVP 0', 'm=video 5000 RTP/AVP 96']), LOCAL), 488), 'the offered audio stream is disabled (port 0)');
  assert.is(refused(negotiate(offer(['m=video 5000 RTP/AVP 96', 'm=video 5002 RTP/AVP 96', 'm=application 5004 UDP/BFCP *']), LOCAL), 488), "no audio stream offered, only 'video', 'application'");
  const kinds = ['video', 'application', 'text', 'message', 'image', 'data'].map((k, i) => `m=${k} ${5000 + 2 * i} RTP/AVP 96`);
  assert.is(refused(negotiate(offer(kinds), LOCAL), 488), "no audio stream offered, only 'video', 'application', 'text', 'message', 'image'", 'five kinds named at most');
});

test('a declined stream offered without formats is answered with port 0 and one format, as RFC 4566 wants', () => {
  const r = taken(negotiate(offer(['m=audio 4000 RTP/AVP 0', 'm=video 5000 RTP/AVP']), LOCAL));
  assert.match(r.answer, '\r\nm=video 0 RTP/AVP 0\r\n');
});

test('a=crypto before the first m= line is not the stream\'s key: the offer is answered without SRTP', () => {
  const r = taken(negotiate(offer([`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY}`, 'm=audio 4000 RTP/AVP 0']), OPTIONAL));
  assert.is(r.crypto, null);
});

test('ptime: decimals and leading zeros are read as numbers, an empty value is the default 20', () => {
  const ptime = (v: string) => taken(negotiate(offer(['m=audio 4000 RTP/AVP 0', `a=ptime:${v}`]), LOCAL)).ptime;
  assert.is(ptime('30.0'), 30);
  assert.is(ptime('040'), 40);
  assert.is(ptime(''), 20);
});

const savp = (...crypto: string[]) => offer(['m=audio 4000 RTP/SAVP 0', ...crypto.map((c) => `a=crypto:${c}`)]);

test('a=crypto fields: tags of several digits, fields spaced by several blanks, WSH as the one session parameter taken', () => {
  const r = taken(negotiate(savp(`10  AES_CM_128_HMAC_SHA1_80 \t inline:${THEIR_KEY}  WSH=64`), OPTIONAL));
  assert.is(r.crypto?.tag, 10);
  assert.match(r.answer, 'a=crypto:10 AES_CM_128_HMAC_SHA1_80 inline:');
  assert.is(taken(negotiate(savp(`1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY}|1048576`), OPTIONAL)).crypto?.tag, 1, 'a lifetime in packets');
  assert.is(taken(negotiate(savp(`1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY}|2^31`), OPTIONAL)).crypto?.tag, 1, 'a lifetime as a power of two');
});

test('a=crypto refusals name what was wrong', () => {
  const why = (...c: string[]) => refused(negotiate(savp(...c), OPTIONAL), 488);
  assert.is(why(`x1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY}`), `a=crypto line 'a=crypto:x1 AES_CM_128_HMAC_SHA1_80 inli...' is malformed`);
  assert.is(why(`1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY}A`), 'the inline key of a=crypto:1 is not 30 octets of base64 (41 characters)');
  assert.is(why(`1 AES_CM_128_HMAC_SHA1_80 inline:!${THEIR_KEY}`), 'the inline key of a=crypto:1 is not 30 octets of base64 (41 characters)');
  assert.is(why('1 AES_CM_128_HMAC_SHA1_80 inline'), 'a=crypto:1 has no inline key');
  assert.is(why(`1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY}|x2^20`), "a=crypto:1 has a malformed key lifetime 'x2^20'");
  const takes = 'the box takes AES_CM_128_HMAC_SHA1_80 or AES_CM_128_HMAC_SHA1_32 with one inline key';
  assert.is(why(`1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY} WSH=64x`), `no usable a=crypto line: offered AES_CM_128_HMAC_SHA1_80 with WSH=64x; ${takes}`);
  assert.is(why(`1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY} xWSH=64`), `no usable a=crypto line: offered AES_CM_128_HMAC_SHA1_80 with xWSH=64; ${takes}`);
  assert.is(why(`1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY};inline:${THEIR_KEY}`), `no usable a=crypto line: offered AES_CM_128_HMAC_SHA1_80 with several keys; ${takes}`);
  assert.is(why(`1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY}|1:4`), `no usable a=crypto line: offered AES_CM_128_HMAC_SHA1_80 with an MKI; ${takes}`);
  assert.is(why(`1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY}|2^20|1:4`), `no usable a=crypto line: offered AES_CM_128_HMAC_SHA1_80 with an MKI; ${takes}`);
  const five = ['A', 'B', 'C', 'D', 'E'].map((s, i) => `${i + 1} SUITE_${s} inline:${THEIR_KEY}`);
  assert.is(why(...five), `no usable a=crypto line: offered SUITE_A, SUITE_B, SUITE_C, SUITE_D; ${takes}`);
});

test('SRTP required: a plain offer is refused saying so, with what was wrong with its keys when it had some', () => {
  const required = 'this box requires encrypted audio (SRTP with a=crypto keys, setting srtp)';
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 0']), REQUIRED), 488), required);
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 0', 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline']), REQUIRED), 488), `${required}: a=crypto:1 has no inline key`);
});

test('the box\'s offer: telephone-event\'s events 0-16, every line ended by CRLF', () => {
  const sdp = makeOffer(LOCAL);
  assert.match(sdp, '\r\na=fmtp:101 0-16\r\n');
  assert.ok(sdp.endsWith('\r\n'), 'the last line ends in CRLF');
  assert.not.match(sdp.replace(/\r\n/g, ''), /[\r\n]/);
});

test('the answer to the box\'s offer: plain when the box has no SRTP or the caller answers plain, with its key when it took the offered suite', () => {
  const plain = (media: string[]) => crlf('v=0', 'o=phone 1 1 IN IP4 192.0.2.20', 's=-', 'c=IN IP4 192.0.2.20', 't=0 0', ...media);
  const noSrtp = acceptAnswer(plain(['m=audio 50000 RTP/AVP 0']), LOCAL);
  assert.ok(noSrtp.ok && noSrtp.remote.crypto === null);
  const plainAnswer = acceptAnswer(plain(['m=audio 50000 RTP/AVP 0']), OPTIONAL);
  assert.ok(plainAnswer.ok && plainAnswer.remote.crypto === null, JSON.stringify(plainAnswer));
  const keyed = acceptAnswer(plain(['m=audio 50000 RTP/AVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${THEIR_KEY}`]), OPTIONAL);
  assert.ok(keyed.ok, JSON.stringify(keyed));
  assert.equal(keyed.ok && Buffer.from(keyed.remote.crypto!.key).toString('base64'), THEIR_KEY);
  assert.is(refused(acceptAnswer(plain(['m=audio 50000 RTP/AVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${THEIR_KEY}`]), OPTIONAL), 488), 'the answer took SRTP suite AES_CM_128_HMAC_SHA1_32, which was not offered');
});

test('refusals quote what they name safely: quotes and control characters become ?, long text is cut at 40 characters', () => {
  const forty = 'h'.repeat(36) + '.com';
  const longer = 'h'.repeat(37) + '.c"m';
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 0'], `c=IN IP4 ${forty}_`), LOCAL), 400), `c= line gives '${forty}...', which is not an IP4 address or host name`);
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 0'], `c=IN IP4 ${'h'.repeat(36)}.c"m`), LOCAL), 400), `c= line gives '${'h'.repeat(36)}.c?m', which is not an IP4 address or host name`);
  assert.is(refused(negotiate(offer(['m=audio 4000 RTP/AVP 0'], `c=IN IP4 ${longer}`), LOCAL), 400), `c= line gives '${longer.slice(0, 40).replace('"', '?')}...', which is not an IP4 address or host name`);
});

test.run();
