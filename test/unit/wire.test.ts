import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { checkRequest, splitRequest, statelessResponse, StreamFraming } from '../../firmware/sip/wire.ts';
import { parse } from '../../firmware/sip/vendor/message.js';

const base = (start: string, extra: string[] = []) =>
  Buffer.from([start, 'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport', 'From: <sip:100@box>;tag=a', 'To: <sip:*400*2*5678@box>', 'Call-ID: c1', 'CSeq: 1 INVITE', ...extra, 'Content-Length: 0', '', ''].join('\r\n'), 'latin1');

function verdict(buf: Buffer) {
  const req = splitRequest(buf);
  assert.ok(req, 'parsed as a request');
  return checkRequest(req!);
}

test('a desk phone\'s INVITE passes', () => {
  assert.is(verdict(base('INVITE sip:*400*2*5678@192.0.2.10:5060;transport=udp SIP/2.0', ['Contact: <sip:100@192.0.2.1:5060>;+sip.instance="<urn:uuid:1>"'])), null);
});

test('request-line and URI problems are named', () => {
  assert.match(verdict(base('INVITE <sip:user@example.com> SIP/2.0'))!.reason, /enclosed in <>/);
  assert.match(verdict(base('INVITE sip:user@example.com; lr SIP/2.0'))!.reason, /extra spaces/);
  assert.match(verdict(base('REGISTER sip:2001:db8::10 SIP/2.0'))!.reason, /host is invalid/);
  assert.is(verdict(base('REGISTER sip:[2001:db8::10] SIP/2.0')), null);
});

test('an escaped method stays an unknown method: 501', () => {
  assert.equal(verdict(base('RE%47IST%45R sip:registrar.example.com SIP/2.0')), { status: 501, reason: 'RE%47IST%45R is not supported' });
});

test('repeated single-value headers, empty parameters and open quotes: 400', () => {
  assert.match(verdict(base('OPTIONS sip:u@example.com SIP/2.0', ['Content-Length: 13']))!.reason, /content-length is given more than once/);
  assert.match(verdict(base('INVITE sip:u@example.com SIP/2.0', ['Call-ID: c2']))!.reason, /call-id is given more than once/);
  assert.match(verdict(base('INVITE sip:u@example.com SIP/2.0', ['Contact: "Joe" <sip:joe@example.org>;;;;']))!.reason, /empty parameters/);
  const quote = Buffer.from(base('INVITE sip:u@example.com SIP/2.0').toString('latin1').replace('To: <', 'To: "Mr. J. User <'), 'latin1');
  assert.match(verdict(quote)!.reason, /unterminated quoted string/);
});

test('a stateless answer copies Via, From, Call-ID and CSeq and tags To', () => {
  const req = splitRequest(base('INVITE sip:u@example.com SIP/2.0'))!;
  const text = statelessResponse(req, 400, 'Bad Request', '399 box "bad"', 'tag1')!;
  assert.match(text, /^SIP\/2\.0 400 Bad Request\r\n/);
  assert.match(text, /\r\nVia: SIP\/2\.0\/UDP 192\.0\.2\.1:5060;branch=z9hG4bK1;rport\r\n/);
  assert.match(text, /\r\nTo: <sip:\*400\*2\*5678@box>;tag=tag1\r\n/);
  assert.match(text, /\r\nCSeq: 1 INVITE\r\n/);
  assert.is(statelessResponse(splitRequest(base('ACK sip:u@example.com SIP/2.0'))!, 400, 'Bad Request', 'w', 't'), null);
});

test('TCP framing: good messages pass, a negative or conflicting Content-Length is reported', () => {
  const f = new StreamFraming();
  const good = 'OPTIONS sip:u@h SIP/2.0\r\nCall-ID: a\r\nContent-Length: 4\r\n\r\nabcd';
  assert.is(f.push(good.slice(0, 30)), null);
  assert.is(f.push(good.slice(30) + good), null);
  assert.ok(f.push('INVITE sip:u@h SIP/2.0\r\nCall-ID: b\r\nContent-Length: -999\r\n\r\n'));
  assert.ok(new StreamFraming().push('OPTIONS sip:u@h SIP/2.0\r\nl: 13\r\nContent-Length: 5\r\n\r\nhello'));
});

test('TCP framing counts Content-Length in bytes: a body in UTF-8 does not shift the next request', () => {
  const f = new StreamFraming();
  const body = 's=Zoë Ünlü\r\n';
  const first = `INVITE sip:u@h SIP/2.0\r\nCall-ID: a\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const next = 'OPTIONS sip:u@h SIP/2.0\r\nCall-ID: b\r\nContent-Length: -1\r\n\r\n';
  // As the connection hands them over: bytes read as latin1, split inside a multibyte character.
  const bytes = Buffer.from(first + next, 'utf8');
  const cut = Buffer.from(first, 'utf8').indexOf(0xc3) + 1;
  assert.is(f.push(bytes.subarray(0, cut).toString('latin1')), null);
  const bad = f.push(bytes.subarray(cut).toString('latin1'));
  assert.is(bad?.headers.find((h) => h.name === 'call-id')?.value, 'b');
});

test('headers are read where they stand: a From folded over 128 KB of spaces (PROTOS case 1286) keeps its tag, and the headers after it are read', () => {
  const folded = Buffer.from(['INVITE sip:*400*2*5678@box SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1', 'From: 1286 <sip:100@box>;tag=1286',
    ' '.repeat(131072), 'To: <sip:*400*2*5678@box>', 'Call-ID: c1', 'CSeq: 1 INVITE', 'Route: <sip:proxy.example.com;lr>, <sip:second.example.com;lr>', 'Content-Length: 0', '', ''].join('\r\n'), 'latin1');
  const m = parse(folded)!;
  assert.is(m.headers.from?.params.tag, '1286');
  assert.is(m.headers['call-id'], 'c1');
  assert.equal(m.headers.route?.map((r) => (r.uri as unknown as { host: string }).host), ['proxy.example.com', 'second.example.com']);
});

test('a Route or Record-Route whose URI cannot be read is refused with 400 naming the header', () => {
  assert.equal(verdict(base('INVITE sip:*400*2*5678@box SIP/2.0', ['Record-Route: <sip:proxy."com;lr>'])), { status: 400, reason: 'Record-Route has a URI that cannot be read' });
  assert.equal(verdict(base('INVITE sip:*400*2*5678@box SIP/2.0', ['Route: <sip:a.example.com;lr>, <sip:>'])), { status: 400, reason: 'Route has a URI that cannot be read' });
  assert.is(verdict(base('INVITE sip:*400*2*5678@box SIP/2.0', ['Record-Route: <sip:p1.example.com;lr>, <sip:[2001:db8::1]:5062;lr;transport=tcp>'])), null);
});

test.run();
