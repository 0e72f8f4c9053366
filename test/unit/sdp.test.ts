import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import sdpTransform from 'sdp-transform';
import { negotiate, type CodecName, type LocalMedia, type Negotiation, type RemoteMedia } from '../../firmware/sip/sdp.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const shared = path.resolve(repoRoot, '../shared');

const LOCAL: LocalMedia = { address: '192.0.2.10', port: 40000, codecs: ['PCMU', 'PCMA', 'G722'], sessionId: '4711', sessionVersion: 1 };

const crlf = (...lines: string[]) => lines.join('\r\n') + '\r\n';

function ok(r: Negotiation): { answer: string; remote: RemoteMedia } {
  if (!r.ok) throw new assert.Assertion({ message: `expected an answer, got ${r.status} ${r.reason}`, operator: 'ok', expects: 'an answer', actual: r });
  checkAnswer(r.answer);
  return r;
}

function fail(r: Negotiation, status: 400 | 488, reason: RegExp | string): void {
  if (r.ok) throw new assert.Assertion({ message: `expected ${status}, got an answer`, operator: 'not.ok', expects: status, actual: r.answer });
  assert.is(r.status, status, r.reason);
  assert.match(r.reason, reason);
  assert.match(r.reason, /^[\x20-\x7e]+$/, 'reason fits a Warning header');
  assert.not.match(r.reason, /["\\]/);
}

/** Every answer: ASCII, CRLF only, and sdp-transform reads back one media per m= line. */
function checkAnswer(answer: string): void {
  assert.match(answer, /^[\x20-\x7e\r\n]*$/, 'ASCII only');
  assert.not.match(answer, /\r(?!\n)|(?<!\r)\n/, 'CRLF line endings');
  const parsed = sdpTransform.parse(answer);
  assert.is(parsed.version, 0);
  assert.is(parsed.media.length, (answer.match(/^m=/gm) ?? []).length);
}

const YEALINK = crlf(
  'v=0',
  'o=- 20010 20010 IN IP4 192.168.1.50',
  's=SDP data',
  'c=IN IP4 192.168.1.50',
  't=0 0',
  'm=audio 11780 RTP/AVP 9 0 8 18 101',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=no',
  'a=ptime:20',
  'a=sendrecv',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
);

const POLYCOM = crlf(
  'v=0',
  'o=- 1596721231 1596721231 IN IP4 10.1.1.23',
  's=Polycom IP Phone',
  'c=IN IP4 10.1.1.23',
  't=0 0',
  'a=sendrecv',
  'm=audio 2222 RTP/AVP 102 9 0 8 18 127',
  'a=rtpmap:102 G7221/16000',
  'a=fmtp:102 bitrate=32000',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:18 G729/8000',
  'a=fmtp:18 annexb=no',
  'a=rtpmap:127 telephone-event/8000',
);

// baresip writes LF-only bodies when driven by some front ends; both endings must work.
const BARESIP = [
  'v=0',
  'o=- 1948712650 1319424468 IN IP4 192.168.0.20',
  's=-',
  'c=IN IP4 192.168.0.20',
  't=0 0',
  'm=audio 10562 RTP/AVP 96 97 9 0 8 101',
  'b=AS:106',
  'a=rtpmap:96 opus/48000/2',
  'a=fmtp:96 stereo=1;sprop-stereo=1',
  'a=rtpmap:97 L16/48000/2',
  'a=rtpmap:9 G722/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=rtcp-mux',
  'a=ssrc:1422473337 cname:d1a1c1f5-3c6b-4f0a-9d0e-2d5bb0b4c111',
  'a=sendrecv',
  'a=label:1',
  'a=ptime:20',
  '',
].join('\n');

const LINPHONE = crlf(
  'v=0',
  'o=alice 3095 1846 IN IP4 192.168.1.35',
  's=Talk',
  'c=IN IP4 192.168.1.35',
  't=0 0',
  'a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics',
  'a=record:off',
  'm=audio 7078 RTP/AVPF 96 97 98 99 0 8 18 101 100 102',
  'a=rtpmap:96 opus/48000/2',
  'a=fmtp:96 useinbandfec=1',
  'a=rtpmap:97 SILK/16000',
  'a=rtpmap:98 speex/16000',
  'a=fmtp:98 vbr=on',
  'a=rtpmap:99 speex/8000',
  'a=fmtp:99 vbr=on',
  'a=rtpmap:101 telephone-event/48000',
  'a=rtpmap:100 telephone-event/16000',
  'a=rtpmap:102 telephone-event/8000',
  'a=rtcp:7079',
  'a=rtcp-fb:* trr-int 1000',
  'a=rtcp-fb:* ccm tmmbr',
  'm=video 9078 RTP/AVPF 96 97',
  'a=rtpmap:96 VP8/90000',
  'a=rtpmap:97 H264/90000',
  'a=fmtp:97 profile-level-id=42801F',
  'a=rtcp-fb:* nack pli',
);

const simple = (media: string[], session: string[] = ['c=IN IP4 203.0.113.5']) =>
  crlf('v=0', 'o=- 1 1 IN IP4 203.0.113.5', 's=-', ...session, 't=0 0', ...media);

test('Yealink-style offer: G722 when allowed, else PCMU; DTMF echoed with 0-16', () => {
  const wide = ok(negotiate(YEALINK, LOCAL));
  assert.equal(wide.remote, {
    address: '192.168.1.50', port: 11780, codec: 'G722', payloadType: 9, dtmfPayloadType: 101, ptime: 20, direction: 'sendrecv', crypto: null,
  });
  assert.is(
    wide.answer,
    crlf(
      'v=0',
      'o=confbox 4711 1 IN IP4 192.0.2.10',
      's=confbox',
      'c=IN IP4 192.0.2.10',
      't=0 0',
      'm=audio 40000 RTP/AVP 9 101',
      'a=rtpmap:9 G722/8000',
      'a=rtpmap:101 telephone-event/8000',
      'a=fmtp:101 0-16',
      'a=ptime:20',
      'a=sendrecv',
    ),
  );
  const narrow = ok(negotiate(YEALINK, { ...LOCAL, codecs: ['PCMA', 'PCMU'] }));
  assert.is(narrow.remote.codec, 'PCMU', "the caller's order decides");
  assert.match(narrow.answer, /^m=audio 40000 RTP\/AVP 0 101\r$/m);
});

test('Polycom-style offer: session-level direction, G.722.1 skipped, PT 127 for DTMF', () => {
  const r = ok(negotiate(POLYCOM, LOCAL));
  assert.is(r.remote.codec, 'G722');
  assert.is(r.remote.dtmfPayloadType, 127);
  assert.is(r.remote.direction, 'sendrecv');
  assert.match(r.answer, 'a=fmtp:127 0-16\r\n');
});

test('baresip offer with LF line endings: opus and L16 skipped, G722 chosen, answer in CRLF', () => {
  const r = ok(negotiate(BARESIP, LOCAL));
  assert.is(r.remote.codec, 'G722');
  assert.is(r.remote.payloadType, 9);
  assert.is(r.remote.dtmfPayloadType, 101);
  assert.is(r.remote.port, 10562);
  const pcm = ok(negotiate(BARESIP, { ...LOCAL, codecs: ['PCMU', 'PCMA'] }));
  assert.is(pcm.remote.codec, 'PCMU');
});

test('Linphone offer: AVPF echoed, telephone-event/8000 among several rates, video declined', () => {
  const r = ok(negotiate(LINPHONE, LOCAL));
  assert.is(r.remote.codec, 'PCMU');
  assert.is(r.remote.payloadType, 0);
  assert.is(r.remote.dtmfPayloadType, 102);
  assert.match(r.answer, /^m=audio 40000 RTP\/AVPF 0 102\r$/m);
  assert.match(r.answer, /^m=video 0 RTP\/AVPF 96 97\r$/m);
  assert.ok(r.answer.endsWith('m=video 0 RTP/AVPF 96 97\r\n'), 'no attributes for a declined stream');
});

test('dynamic payload types are matched by name and clock rate, case-insensitively', () => {
  const r = ok(negotiate(simple(['m=audio 4000 RTP/AVP 96 97', 'a=rtpmap:96 G722/16000', 'a=rtpmap:97 pcma/8000']), LOCAL));
  assert.is(r.remote.codec, 'PCMA');
  assert.is(r.remote.payloadType, 97);
  assert.match(r.answer, 'a=rtpmap:97 PCMA/8000');
  const noRtpmap = ok(negotiate(simple(['m=audio 4000 RTP/AVP 18 8']), LOCAL));
  assert.is(noRtpmap.remote.codec, 'PCMA', 'static PT without rtpmap');
  assert.is(noRtpmap.remote.dtmfPayloadType, null);
  assert.not.match(noRtpmap.answer, 'telephone-event');
  const stereo = negotiate(simple(['m=audio 4000 RTP/AVP 96', 'a=rtpmap:96 PCMU/8000/2']), LOCAL);
  fail(stereo, 488, 'no common codec');
});

test('no common codec: 488 naming what was offered', () => {
  fail(
    negotiate(simple(['m=audio 4000 RTP/AVP 96 18 101', 'a=rtpmap:96 opus/48000/2', 'a=rtpmap:101 telephone-event/8000']), LOCAL),
    488,
    'no common codec: offered opus/48000, G729',
  );
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 9']), { ...LOCAL, codecs: ['PCMU', 'PCMA'] }), 488, 'offered G722');
});

test('garbage and malformed SDP: 400 with a reason', () => {
  fail(negotiate('', LOCAL), 400, 'empty');
  fail(negotiate('hello world', LOCAL), 400, 'not an SDP body');
  fail(negotiate('INVITE sip:x SIP/2.0\r\n\r\n', LOCAL), 400, 'not an SDP body');
  fail(negotiate(randomBytes(200).toString('latin1'), LOCAL), 400, /./);
  fail(negotiate('v=\no=\ns=\nc=\nt=\na=\n', LOCAL), 400, 'version');
  fail(negotiate('v=1\r\nm=audio 4000 RTP/AVP 0\r\n', LOCAL), 400, 'version');
  fail(negotiate(simple([]), LOCAL), 400, 'no m= line');
  fail(negotiate(simple(['m=audio abc RTP/AVP 0']), LOCAL), 400, "non-numeric port 'abc'");
  fail(negotiate(simple(['m=audio 70000 RTP/AVP 0']), LOCAL), 400, 'port 70000');
  fail(negotiate(simple(['m=audio']), LOCAL), 400, "m= line 1 is malformed: 'm=audio'");
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0']).replace('v=0', 'v=0\r\nv=0').padEnd(70000, 'x'), LOCAL), 400, 'longer than');
  fail(negotiate(null as unknown as string, LOCAL), 400, 'empty');
  fail(negotiate(Buffer.from('v=0') as unknown as string, LOCAL), 400, 'empty');
});

test('c= problems: 400 naming the c= line', () => {
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0'], []), LOCAL), 400, 'no c= line for the audio stream');
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=AF IP4 127.0.0.1']), LOCAL), 400, "c= line 'c=AF IP4 127.0.0.1' is invalid");
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=IN IP7 127.0.0.1']), LOCAL), 400, 'is invalid');
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=IN IP4 1.2.3']), LOCAL), 400, "'1.2.3', which is not an IP4 address");
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=IN IP4 2001:db8::1']), LOCAL), 400, 'not an IP4 address');
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=IN IP6 10.0.0.1']), LOCAL), 400, 'not an IP6 address');
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=']), LOCAL), 400, 'c=');
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0', 'c=IN IP4 999.1.1.1']), LOCAL), 400, '999.1.1.1');
});

test('media-level c= overrides the session level; host names and multicast TTL are accepted', () => {
  const r = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0', 'c=IN IP4 198.51.100.7']), LOCAL));
  assert.is(r.remote.address, '198.51.100.7');
  const media = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0', 'c=IN IP4 198.51.100.7'], []), LOCAL));
  assert.is(media.remote.address, '198.51.100.7');
  const host = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=IN IP4 host.atlanta.example.com']), LOCAL));
  assert.is(host.remote.address, 'host.atlanta.example.com');
  const ttl = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=IN IP4 224.2.1.1/127']), LOCAL));
  assert.is(ttl.remote.address, '224.2.1.1');
});

test('hold and direction: the answer mirrors the caller', () => {
  const dir = (lines: string[], session: string[] = ['c=IN IP4 203.0.113.5']) => {
    const r = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0', ...lines], session), LOCAL));
    return [r.remote.direction, /^a=(sendrecv|sendonly|recvonly|inactive)\r$/m.exec(r.answer)?.[1]];
  };
  assert.equal(dir([]), ['sendrecv', 'sendrecv']);
  assert.equal(dir(['a=sendonly']), ['sendonly', 'recvonly']);
  assert.equal(dir(['a=recvonly']), ['recvonly', 'sendonly']);
  assert.equal(dir(['a=inactive']), ['inactive', 'inactive']);
  assert.equal(dir([], ['c=IN IP4 203.0.113.5', 'a=inactive']), ['inactive', 'inactive'], 'session level');
  assert.equal(dir(['a=sendonly'], ['c=IN IP4 203.0.113.5', 'a=inactive']), ['sendonly', 'recvonly'], 'media level wins');
  assert.equal(dir([], ['c=IN IP4 0.0.0.0']), ['sendonly', 'recvonly'], 'RFC 2543 hold');
  assert.equal(dir(['a=recvonly'], ['c=IN IP4 0.0.0.0']), ['inactive', 'inactive']);
  const held = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=IN IP4 0.0.0.0']), LOCAL));
  assert.is(held.remote.address, '0.0.0.0');
});

test('ptime is clamped to 10..60 in the engine\'s 10 ms steps, default 20; the answer states the ptime the box sends', () => {
  const pt = (line: string[]) => ok(negotiate(simple(['m=audio 4000 RTP/AVP 0', ...line]), LOCAL));
  assert.is(pt([]).remote.ptime, 20);
  assert.is(pt(['a=ptime:30']).remote.ptime, 30);
  assert.is(pt(['a=ptime:5']).remote.ptime, 10);
  assert.is(pt(['a=ptime:200']).remote.ptime, 60);
  assert.is(pt(['a=ptime:22.5']).remote.ptime, 20);
  assert.is(pt(['a=ptime:25']).remote.ptime, 30);
  assert.is(pt(['a=ptime:abc']).remote.ptime, 20);
  assert.is(pt(['a=ptime:0']).remote.ptime, 20);
  assert.match(pt(['a=ptime:40']).answer, 'a=ptime:40\r\n');
  assert.match(pt(['a=ptime:25']).answer, 'a=ptime:30\r\n');
  assert.match(pt(['a=ptime:5']).answer, 'a=ptime:10\r\n');
  assert.match(pt([]).answer, 'a=ptime:20\r\n');
  const session = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0'], ['c=IN IP4 203.0.113.5', 'a=ptime:40']), LOCAL));
  assert.is(session.remote.ptime, 40);
});

test('every offered m= line is answered in order; others get port 0 with their formats', () => {
  const r = ok(
    negotiate(
      simple([
        'm=video 5000 RTP/AVP 31 34',
        'm=audio 4000 UNKNOWN 0',
        'm=audio 4002 RTP/AVP 96',
        'a=rtpmap:96 someunknowncodec/8000',
        'm=audio 4004 RTP/AVP 0 8',
        'm=audio 4006 RTP/AVP 0',
        'm=application 9 UDP/DTLS/SCTP webrtc-datachannel',
        'm=x-app 4010 RTP/AVP 100',
      ]),
      LOCAL,
    ),
  );
  assert.is(r.remote.port, 4004);
  const mlines = r.answer.split('\r\n').filter((l) => l.startsWith('m='));
  assert.equal(mlines, [
    'm=video 0 RTP/AVP 31 34',
    'm=audio 0 UNKNOWN 0',
    'm=audio 0 RTP/AVP 96',
    'm=audio 40000 RTP/AVP 0',
    'm=audio 0 RTP/AVP 0',
    'm=application 0 UDP/DTLS/SCTP webrtc-datachannel',
    'm=x-app 0 RTP/AVP 100',
  ]);
});

test('port counts and declined audio', () => {
  const r = ok(negotiate(simple(['m=audio 49170/2 RTP/AVP 0']), LOCAL));
  assert.is(r.remote.port, 49170);
  fail(negotiate(simple(['m=audio 0 RTP/AVP 0']), LOCAL), 488, 'port 0');
  fail(negotiate(simple(['m=video 4000 RTP/AVP 31']), LOCAL), 488, "no audio stream offered, only 'video'");
  fail(negotiate(simple(['m=audio 4000 RTP/XAVP 0']), LOCAL), 488, "unsupported transport 'RTP/XAVP'");
});

test('srtp off: SAVP-only is 488 naming the setting, an RTP/AVP alternative is taken plain', () => {
  const crypto = 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WnD7c1ksDGs+dIefCEo8omPg4uO8DYIinNGL5yxQ';
  fail(negotiate(simple(['m=audio 4000 RTP/SAVP 0', crypto]), LOCAL), 488, 'encrypted audio (RTP/SAVP) is turned off on this box (setting srtp)');
  fail(negotiate(simple(['m=audio 4000 RTP/SAVP 0', crypto]), { ...LOCAL, srtp: { policy: 'off', key: BOX_KEY } }), 488, 'setting srtp');
  fail(negotiate(simple(['m=audio 4000 UDP/TLS/RTP/SAVPF 0']), LOCAL), 488, "DTLS-SRTP ('UDP/TLS/RTP/SAVPF') is not supported");
  const both = ok(negotiate(simple(['m=audio 5000 RTP/SAVP 0', crypto, 'm=audio 4000 RTP/AVP 0']), LOCAL));
  assert.is(both.remote.port, 4000);
  assert.is(both.remote.crypto, null);
  assert.match(both.answer, /^m=audio 0 RTP\/SAVP 0\r\nm=audio 40000 RTP\/AVP 0\r$/m);
  assert.not.match(both.answer, 'crypto');
  // Best-effort SRTP (a=crypto on RTP/AVP) with srtp off: plain, and no a=crypto in the answer.
  const avp = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0', crypto]), { ...LOCAL, srtp: { policy: 'off', key: BOX_KEY } }));
  assert.is(avp.remote.crypto, null);
  assert.not.match(avp.answer, 'crypto');
});

const BOX_KEY = new Uint8Array(randomBytes(30));
const PHONE_KEY = randomBytes(30);
const OPTIONAL: LocalMedia = { ...LOCAL, srtp: { policy: 'optional', key: BOX_KEY } };
const REQUIRED: LocalMedia = { ...LOCAL, srtp: { policy: 'required', key: BOX_KEY } };
const inline = (key: Uint8Array = PHONE_KEY) => `inline:${Buffer.from(key).toString('base64')}`;

test('srtp optional: an RTP/SAVP offer gets SRTP with one a=crypto of the box\'s key, same suite and tag', () => {
  for (const suite of ['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'] as const) {
    const r = ok(negotiate(simple(['m=audio 4000 RTP/SAVP 0 101', 'a=rtpmap:101 telephone-event/8000', `a=crypto:7 ${suite} ${inline()}`]), OPTIONAL));
    assert.equal(r.remote.crypto, { tag: 7, suite, key: new Uint8Array(PHONE_KEY) });
    assert.match(r.answer, /^m=audio 40000 RTP\/SAVP 0 101\r$/m);
    const lines = r.answer.split('\r\n').filter((l) => l.startsWith('a=crypto:'));
    assert.equal(lines, [`a=crypto:7 ${suite} ${inline(BOX_KEY)}`]);
    const parsed = sdpTransform.parse(r.answer);
    assert.is(parsed.media[0]!.crypto?.[0]?.suite, suite);
  }
  // RTP/SAVPF is taken the same way.
  const f = ok(negotiate(simple(['m=audio 4000 RTP/SAVPF 8', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline()}`]), OPTIONAL));
  assert.match(f.answer, /^m=audio 40000 RTP\/SAVPF 8\r$/m);
});

test('srtp optional: a plain offer gets plain RTP; best-effort a=crypto on RTP/AVP gets SRTP', () => {
  const plain = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0']), OPTIONAL));
  assert.is(plain.remote.crypto, null);
  assert.not.match(plain.answer, 'crypto');
  const best = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0', `a=crypto:2 AES_CM_128_HMAC_SHA1_32 ${inline()}`]), OPTIONAL));
  assert.is(best.remote.crypto?.suite, 'AES_CM_128_HMAC_SHA1_32');
  assert.match(best.answer, /^m=audio 40000 RTP\/AVP 0\r$/m);
  assert.match(best.answer, `a=crypto:2 AES_CM_128_HMAC_SHA1_32 ${inline(BOX_KEY)}`);
  // An offer with a SAVP and an AVP stream: the encrypted one is taken.
  const both = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0', 'm=audio 5000 RTP/SAVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline()}`]), OPTIONAL));
  assert.is(both.remote.port, 5000);
  assert.match(both.answer, /^m=audio 0 RTP\/AVP 0\r\nm=audio 40000 RTP\/SAVP 0\r$/m);
});

test('srtp required: a plain offer is 488 with the reason; an encrypted one is answered', () => {
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0']), REQUIRED), 488, 'this box requires encrypted audio (SRTP with a=crypto keys, setting srtp)');
  ok(negotiate(simple(['m=audio 4000 RTP/SAVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline()}`]), REQUIRED));
  ok(negotiate(simple(['m=audio 4000 RTP/AVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline()}`]), REQUIRED));
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0', 'a=crypto:1 F8_128_HMAC_SHA1_80 inline:abc']), REQUIRED), 488, 'requires encrypted audio');
});

test('a=crypto: unknown suites and session parameters are skipped, malformed keys named', () => {
  const offer = (...crypto: string[]) => simple(['m=audio 4000 RTP/SAVP 0', ...crypto]);
  const r = ok(negotiate(offer(
    `a=crypto:1 AEAD_AES_256_GCM ${inline()}`,
    `a=crypto:2 AES_CM_128_HMAC_SHA1_80 ${inline()} UNENCRYPTED_SRTP`,
    `a=crypto:3 AES_CM_128_HMAC_SHA1_80 ${inline()}|2^20|1:4`,
    `a=crypto:4 AES_CM_128_HMAC_SHA1_32 ${inline()}|2^31 WSH=64`,
  ), OPTIONAL));
  assert.equal([r.remote.crypto?.tag, r.remote.crypto?.suite], [4, 'AES_CM_128_HMAC_SHA1_32']);
  assert.match(r.answer, `a=crypto:4 AES_CM_128_HMAC_SHA1_32 ${inline(BOX_KEY)}\r\n`);
  fail(negotiate(offer(`a=crypto:1 AEAD_AES_128_GCM ${inline()}`, `a=crypto:2 F8_128_HMAC_SHA1_80 ${inline()}`), OPTIONAL), 488,
    'no usable a=crypto line: offered AEAD_AES_128_GCM, F8_128_HMAC_SHA1_80; the box takes AES_CM_128_HMAC_SHA1_80 or AES_CM_128_HMAC_SHA1_32');
  fail(negotiate(offer('a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ='), OPTIONAL), 488, 'the inline key of a=crypto:1 is not 30 octets of base64 (8 characters)');
  fail(negotiate(offer('a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'), OPTIONAL), 488, 'not 30 octets of base64');
  fail(negotiate(offer(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline()}|2^x`), OPTIONAL), 488, "malformed key lifetime '2^x'");
  fail(negotiate(offer('a=crypto:x'), OPTIONAL), 488, "a=crypto line 'a=crypto:x' is malformed");
  fail(negotiate(offer(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline().replace('inline', 'uri')}`), OPTIONAL), 488, 'a=crypto:1 has no inline key');
  fail(negotiate(offer(), OPTIONAL), 488, 'the RTP/SAVP stream has no a=crypto line');
  // A malformed line does not hide a good one after it.
  ok(negotiate(offer('a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=', `a=crypto:2 AES_CM_128_HMAC_SHA1_80 ${inline()}`), OPTIONAL));
});

test('srtp unavailable (no libsrtp2): SAVP offers are 488 saying why, plain ones work unless required', () => {
  const unavailable = { ...OPTIONAL, srtp: { policy: 'optional' as const, key: BOX_KEY, unavailable: 'libsrtp2.so.1 cannot be loaded' } };
  fail(negotiate(simple(['m=audio 4000 RTP/SAVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline()}`]), unavailable), 488, 'encrypted audio is unavailable on this box: libsrtp2.so.1 cannot be loaded');
  const best = ok(negotiate(simple(['m=audio 4000 RTP/AVP 0', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline()}`]), unavailable));
  assert.is(best.remote.crypto, null);
  fail(negotiate(simple(['m=audio 4000 RTP/AVP 0']), { ...unavailable, srtp: { ...unavailable.srtp, policy: 'required' } }), 488, 'unavailable on this box');
});

test('IPv6 offer and IPv6 local address', () => {
  const offer = crlf('v=0', 'o=- 1 1 IN IP6 2001:db8::2', 's=-', 'c=IN IP6 2001:db8::2', 't=0 0', 'm=audio 6000 RTP/AVP 8 0');
  const r = ok(negotiate(offer, { ...LOCAL, address: '2001:db8::10' }));
  assert.is(r.remote.address, '2001:db8::2');
  assert.is(r.remote.codec, 'PCMA');
  assert.match(r.answer, 'o=confbox 4711 1 IN IP6 2001:db8::10\r\n');
  assert.match(r.answer, 'c=IN IP6 2001:db8::10\r\n');
  const held = ok(negotiate(offer.replace('c=IN IP6 2001:db8::2', 'c=IN IP6 ::'), LOCAL));
  assert.is(held.remote.direction, 'sendonly');
});

test('too many m= lines are refused', () => {
  const many = Array.from({ length: 40 }, () => 'm=audio 4000 RTP/AVP 0');
  fail(negotiate(simple(many), LOCAL), 488, 'at most 32');
});

test('fuzz: mutated offers never throw, and ok answers re-parse', () => {
  const seeds = [YEALINK, POLYCOM, BARESIP, LINPHONE];
  const alphabet = ' =/:\r\n0123456789aAmcv.-';
  let answered = 0;
  for (let i = 0; i < 4000; i++) {
    const seed = seeds[i % seeds.length] ?? '';
    let s = seed;
    const mode = i % 5;
    if (mode === 0) {
      const chars = [...s];
      for (let k = 0; k < 1 + (i % 8); k++) chars[Math.floor(Math.random() * chars.length)] = alphabet[Math.floor(Math.random() * alphabet.length)] ?? '';
      s = chars.join('');
    } else if (mode === 1) {
      const lines = s.split(/\r?\n/);
      lines.splice(Math.floor(Math.random() * lines.length), 1);
      s = lines.join('\r\n');
    } else if (mode === 2) {
      const cut = Math.floor(Math.random() * s.length);
      s = s.slice(0, cut) + randomBytes(1 + (i % 20)).toString('latin1') + s.slice(cut);
    } else if (mode === 3) {
      s = s.slice(0, Math.floor(Math.random() * s.length));
    } else {
      const lines = s.split(/\r?\n/).sort(() => Math.random() - 0.5);
      s = ['v=0', ...lines].join('\n');
    }
    const r = negotiate(s, LOCAL);
    if (r.ok) {
      answered++;
      checkAnswer(r.answer);
    } else {
      assert.ok(r.status === 400 || r.status === 488);
    }
  }
  assert.ok(answered > 100);
});

/** Files under dir, recursively, read as bytes. */
function corpus(dir: string): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...corpus(p));
    else if (name !== 'SOURCE.txt' && name !== 'LICENSE') out.push({ name: path.relative(shared, p), bytes: readFileSync(p) });
  }
  return out;
}

const CORPORA = ['conformance/sdp-rtp/sdp-transform', 'conformance/sdp-rtp/pjproject-fuzz-seeds/fuzz-sdp'];

if (existsSync(shared)) {
  test('shared conformance SDPs: always a value, ok answers re-parse', () => {
    let files = 0;
    for (const rel of CORPORA) {
      const dir = path.join(shared, rel);
      if (!existsSync(dir)) continue;
      for (const { name, bytes } of corpus(dir)) {
        files++;
        for (const text of [bytes.toString('latin1'), bytes.toString('utf8')]) {
          const r = negotiate(text, LOCAL);
          if (r.ok) checkAnswer(r.answer);
          else assert.ok(r.status === 400 || r.status === 488, name);
          assert.type(r.ok, 'boolean', name);
        }
      }
    }
    assert.ok(files > 0, 'the corpora hold files');
  });
} else {
  console.log('confbox-skipped: 1 shared conformance material absent');
}

test.run();
