// Where the SDP module's limits lie, each tried at the limit and one past it, and the words of what it refuses: what a
// PBX sending a large but valid offer, or a technician reading the box's Warning header, would notice.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { negotiate, type LocalMedia, type Negotiation } from '../../firmware/sip/sdp.ts';

const LOCAL: LocalMedia = { address: '192.0.2.10', port: 40000, codecs: ['PCMU', 'PCMA', 'G722'], sessionId: '4711', sessionVersion: 1 };
const crlf = (...lines: string[]) => lines.join('\r\n') + '\r\n';
const offer = (media: string[], connection = 'c=IN IP4 203.0.113.5') => crlf('v=0', 'o=- 1 1 IN IP4 203.0.113.5', 's=-', connection, 't=0 0', ...media);

function refused(r: Negotiation): { status: number; reason: string } {
  assert.not.ok(r.ok, 'expected a refusal');
  return r as { status: number; reason: string };
}

test('an offer of exactly 65,536 bytes is read; one byte more is refused, saying how long it may be', () => {
  const base = offer(['m=audio 4000 RTP/AVP 0']);
  const pad = (n: number) => base + 'a=x-pad:' + 'p'.repeat(n - base.length - 10) + '\r\n';
  assert.is(pad(65536).length, 65536);
  assert.ok(negotiate(pad(65536), LOCAL).ok);
  const r = refused(negotiate(pad(65537), LOCAL));
  assert.is(r.status, 400);
  assert.match(r.reason, 'longer than 65536 bytes');
});

test('32 m= lines are answered, 33 are refused', () => {
  const at = negotiate(offer(Array.from({ length: 32 }, () => 'm=audio 4000 RTP/AVP 0')), LOCAL);
  assert.ok(at.ok);
  const r = refused(negotiate(offer(Array.from({ length: 33 }, () => 'm=audio 4000 RTP/AVP 0')), LOCAL));
  assert.is(r.status, 488);
  assert.match(r.reason, 'the SDP has 33 m= lines; at most 32');
});

test('port 65535 is a port, 65536 is not', () => {
  const at = negotiate(offer(['m=audio 65535 RTP/AVP 0']), LOCAL);
  assert.ok(at.ok && at.remote.port === 65535);
  const r = refused(negotiate(offer(['m=audio 65536 RTP/AVP 0']), LOCAL));
  assert.is(r.status, 400);
  assert.match(r.reason, 'm= line 1 has port 65536, above 65535');
});

test('payload types up to 127 are read; 128 is not a payload type', () => {
  const at = negotiate(offer(['m=audio 4000 RTP/AVP 127', 'a=rtpmap:127 PCMU/8000']), LOCAL);
  assert.ok(at.ok && at.remote.payloadType === 127);
  const r = refused(negotiate(offer(['m=audio 4000 RTP/AVP 128', 'a=rtpmap:128 PCMU/8000']), LOCAL));
  assert.is(r.status, 488);
  assert.match(r.reason, 'no common codec');
});

test('a connection host name of 253 characters is taken; 254 is refused', () => {
  const label = 'a'.repeat(61);
  const name253 = [label, label, label, label].join('.') + '.' + 'b'.repeat(253 - 4 * 62);
  assert.is(name253.length, 253);
  const at = negotiate(offer(['m=audio 4000 RTP/AVP 0'], `c=IN IP4 ${name253}`), LOCAL);
  assert.ok(at.ok && at.remote.address === name253);
  const r = refused(negotiate(offer(['m=audio 4000 RTP/AVP 0'], `c=IN IP4 ${name253}c`), LOCAL));
  assert.is(r.status, 400);
  assert.match(r.reason, 'c=');
  const numericLast = refused(negotiate(offer(['m=audio 4000 RTP/AVP 0'], 'c=IN IP4 media.office.123'), LOCAL));
  assert.is(numericLast.status, 400, 'a name whose last label is a number is neither a name nor an address');
});

test('no common codec: up to eight offered formats are named, then how many more', () => {
  const eight = [96, 97, 98, 99, 100, 102, 103, 104];
  const named = (pts: number[]) => refused(negotiate(offer([`m=audio 4000 RTP/AVP ${pts.join(' ')}`, ...pts.map((pt) => `a=rtpmap:${pt} X${pt}/8000`)]), LOCAL)).reason;
  const r8 = named(eight);
  assert.match(r8, 'X96/8000, X97/8000, X98/8000, X99/8000, X100/8000, X102/8000, X103/8000, X104/8000');
  assert.not.match(r8, 'more');
  const r9 = named([...eight, 105]);
  assert.match(r9, 'X104/8000, 1 more');
  assert.not.match(r9, 'X105');
  const withEvents = refused(negotiate(offer(['m=audio 4000 RTP/AVP 96 101', 'a=rtpmap:96 X96/8000', 'a=rtpmap:101 telephone-event/8000']), LOCAL)).reason;
  assert.not.match(withEvents, 'telephone-event', 'telephone-event is not a codec the caller offered to talk with');
  const unnamed = refused(negotiate(offer(['m=audio 4000 RTP/AVP 18']), LOCAL)).reason;
  assert.match(unnamed, 'G729');
});

test('a direction attribute is one of the four words; anything else leaves the stream two-way', () => {
  for (const word of ['sendonly', 'recvonly', 'inactive', 'sendrecv']) {
    const r = negotiate(offer(['m=audio 4000 RTP/AVP 0', `a=${word}`]), LOCAL);
    assert.ok(r.ok && r.remote.direction === word, word);
  }
  const odd = negotiate(offer(['m=audio 4000 RTP/AVP 0', 'a=sendrecv2']), LOCAL);
  assert.ok(odd.ok && odd.remote.direction === 'sendrecv');
});

test.run();
