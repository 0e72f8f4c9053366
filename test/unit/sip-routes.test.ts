// Route sets of the box's dialogs (RFC 3261 12.2.1.1): where the box's own in-dialog requests (BYE on expiry, removal,
// shutdown; refreshes) go when proxies record-routed the call.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { dialogPath, hopAddress, recordRoutes, registrationPath } from '../../firmware/sip/routes.ts';
import { parse } from '../../firmware/sip/vendor/sip.js';
import { parseUri, type Message } from '../../firmware/sip/stack.ts';

/** An INVITE as the SIP package hands it over: each Record-Route entry with its URI parsed. */
function invite(recordRoute: string[]): Message {
  const entries = recordRoute.flatMap((h) => h.split(/,\s*/)).map((e) => ({ uri: parseUri(/<([^>]*)>/.exec(e)![1]!) as unknown as string, params: {} }));
  return { method: 'INVITE', uri: 'sip:*400*2*5678@192.0.2.1', version: '2.0', headers: entries.length ? { 'record-route': entries } : {} };
}

test('no Record-Route: the request goes to the remote target, without Route headers, back where the caller spoke from', () => {
  assert.equal(recordRoutes(invite([])), []);
  assert.equal(dialogPath([], 'sip:100@192.0.2.50:5062'), { uri: 'sip:100@192.0.2.50:5062', route: [], nextHop: null });
});

test('loose routers (;lr), in the order of the Record-Route headers: Request-URI is the remote target, Route lists them all, the first is the next hop', () => {
  const rq = invite(['<sip:192.0.2.7:5070;transport=tcp;r2=on;lr>, <sip:192.0.2.7;r2=on;lr>', '<sip:pbx.example;lr>']);
  const set = recordRoutes(rq);
  assert.equal(set.map((h) => h.loose), [true, true, true]);
  const path = dialogPath(set, 'sip:100@192.0.2.50:5062');
  assert.is(path.uri, 'sip:100@192.0.2.50:5062');
  assert.is(path.route.length, 3);
  assert.match(path.route[0]!, /^sip:192\.0\.2\.7:5070;transport=tcp;r2=on;lr/);
  assert.match(path.route[2]!, /^sip:pbx\.example;lr/);
  assert.match(path.nextHop!, /^sip:192\.0\.2\.7:5070;transport=tcp/);
});

test('a strict router (no ;lr, RFC 2543): its URI is the Request-URI, the remote target goes last in Route', () => {
  const set = recordRoutes(invite(['<sip:192.0.2.8:5080;method=INVITE>', '<sip:192.0.2.9;lr>']));
  assert.equal(set.map((h) => h.loose), [false, true]);
  const path = dialogPath(set, 'sip:100@192.0.2.50:5062');
  assert.is(path.uri, 'sip:192.0.2.8:5080', 'without the method parameter, which a Request-URI may not carry');
  assert.equal(path.route.slice(-1), ['sip:100@192.0.2.50:5062']);
  assert.match(path.route[0]!, /^sip:192\.0\.2\.9;lr/);
  assert.match(path.nextHop!, /^sip:192\.0\.2\.8:5080/);
});

test('the next hop of a route: transport parameter, sips, default ports', async () => {
  assert.equal(await hopAddress('sip:192.0.2.7:5070;transport=tcp;lr'), { protocol: 'TCP', address: '192.0.2.7', port: 5070 });
  assert.equal(await hopAddress('sip:192.0.2.7;lr'), { protocol: 'UDP', address: '192.0.2.7', port: 5060 });
  assert.equal(await hopAddress('sips:192.0.2.7;lr'), { protocol: 'TLS', address: '192.0.2.7', port: 5061 });
  assert.equal(await hopAddress('sip:localhost:5090;lr'), { protocol: 'UDP', address: '127.0.0.1', port: 5090 });
  await hopAddress('sip:;lr').then(() => assert.unreachable('a route without a host'), (e: Error) => assert.match(e.message, /has no host/));
});

/** A REGISTER as it arrives from a proxy, with these header lines added. */
function register(lines: string[]): Message {
  const text = [
    'REGISTER sip:192.0.2.1 SIP/2.0', 'Via: SIP/2.0/TCP 192.0.2.40;branch=z9hG4bK-1', 'Via: SIP/2.0/TCP 192.0.2.11:40312;branch=z9hG4bK-2;rport',
    'From: <sip:201@192.0.2.1>;tag=a', 'To: <sip:201@192.0.2.1>', 'Call-ID: r1', 'CSeq: 1 REGISTER', 'Contact: <sip:201@10.0.0.9:5060;transport=tcp>',
    ...lines, 'Content-Length: 0', '', '',
  ].join('\r\n');
  return parse(text)!;
}

test('a REGISTER\'s Path (RFC 3327): the proxies that stay on the way to the phone, top first; a bad one is named', () => {
  assert.equal(registrationPath(register([])), { ok: true, path: [] });
  const two = registrationPath(register(['Path: <sip:192.0.2.40:5060;transport=tcp;lr;received=sip:192.0.2.11:40312%3Btransport%3Dtcp>', 'Path: <sip:[2001:db8::41];lr>']));
  assert.ok(two.ok);
  assert.equal(two.ok && two.path, ['sip:192.0.2.40:5060;transport=tcp;lr;received=sip:192.0.2.11:40312%3Btransport%3Dtcp', 'sip:[2001:db8::41];lr']);
  const many = registrationPath(register([`Path: ${Array.from({ length: 5 }, (_, i) => `<sip:192.0.2.${40 + i};lr>`).join(', ')}`]));
  assert.equal(many, { ok: false, error: 'Path names more than 4 proxies' });
  const long = registrationPath(register([`Path: <sip:192.0.2.40;lr;x=${'a'.repeat(1100)}>`]));
  assert.equal(long, { ok: false, error: 'Path is longer than 1000 characters' });
});

test.run();
