// IPv6 in the SIP layer without a network: hosts in URIs and Via (RFC 3261 25.1, RFC 5118), the box's address
// for each family, and the option that names its IPv6 address.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseArgs } from '../../firmware/config.ts';
import { PublicAddresses } from '../../firmware/net.ts';
import { lockoutSource } from '../../firmware/sip/netmatch.ts';
import { dialedNumber } from '../../firmware/sip/session.ts';
import sip from '../../firmware/sip/vendor/sip.js';

const request = (via: string, uri = 'sip:*400*38*3838@[::1]') => [
  `INVITE ${uri} SIP/2.0`, `Via: ${via}`, 'From: <sip:100@[::1]>;tag=1', `To: <${uri}>`, 'Call-ID: c1', 'CSeq: 1 INVITE',
  'Contact: <sip:100@[2001:db8::5]:5062>', 'Content-Length: 0', '', '',
].join('\r\n');

test('the dialed number of sip:*400*38*3838@[::1] is *400*38*3838', () => {
  assert.is(dialedNumber('sip:*400*38*3838@[::1]'), '*400*38*3838');
  assert.is(dialedNumber('sip:%2A400%2A38%2A3838@[2001:db8::10]:5070;transport=udp'), '*400*38*3838');
});

test('URIs: bracketed IPv6 hosts with and without port; an IPv6 address without brackets is not a URI', () => {
  const u = sip.parseUri('sip:100@[2001:db8::10]:5070;transport=tcp');
  assert.is(u?.user, '100');
  assert.is(u?.host, '[2001:db8::10]');
  assert.is(u?.port, 5070);
  assert.is(u?.params.transport, 'tcp');
  assert.is(sip.parseUri('sip:[2001:db8::10:5070]')?.host, '[2001:db8::10:5070]');
  assert.is(sip.parseUri('sip:2001:db8::10'), undefined);
  assert.is(sip.stringifyUri({ schema: 'sip', user: 'confbox', host: '2001:db8::1', port: 5060, params: {} }), 'sip:confbox@[2001:db8::1]:5060');
  assert.is(sip.stringifyUri({ schema: 'sip', host: '[::1]', params: {} }), 'sip:[::1]');
});

test('Via: a bracketed IPv6 host with port, and received= an IPv6 address, are read and written back intact', () => {
  const m = sip.parse(Buffer.from(request('SIP/2.0/UDP [2001:db8::9:1]:5060;branch=z9hG4bKa;received=2001:db8::9:255;rport')))!;
  const via = m.headers.via![0]!;
  assert.is(via.host, '[2001:db8::9:1]');
  assert.is(via.port, 5060);
  assert.is(via.params.branch, 'z9hG4bKa');
  assert.is(via.params.received, '2001:db8::9:255');
  const rs = sip.stringify(sip.makeResponse(m, 200, 'OK'));
  assert.match(rs, /\r\nVia: SIP\/2\.0\/UDP \[2001:db8::9:1\]:5060;branch=z9hG4bKa;received=2001:db8::9:255;rport\r\n/);
  const v = sip.stringify({ method: 'BYE', uri: 'sip:100@[::1]:5062', headers: { via: [{ protocol: 'UDP', host: '::1', port: 5060, params: { branch: 'z9hG4bKb' } }] } });
  assert.match(v, /\r\nVia: SIP\/2\.0\/UDP \[::1\]:5060;branch=z9hG4bKb\r\n/);
});

test('an IPv4 phone seen through a dual-stack socket is its plain IPv4 address', () => {
  assert.is(sip.plainAddress('::ffff:192.0.2.7'), '192.0.2.7');
  assert.is(sip.plainAddress('::1'), '::1');
  assert.is(sip.plainAddress('2001:db8::ffff:1'), '2001:db8::ffff:1');
});

test('bound to ::, the box names itself to IPv4 phones by --public-address and to IPv6 phones by --public-address-v6', () => {
  const a = PublicAddresses.from('::', '192.0.2.1', '2001:db8::1');
  assert.is(a.for('198.51.100.5'), '192.0.2.1');
  assert.is(a.for('::ffff:198.51.100.5'), '192.0.2.1');
  assert.is(a.for('2001:db8:1::5'), '2001:db8::1');
  assert.equal(a.all(), ['192.0.2.1', '2001:db8::1']);
  // Bound to one IPv6 address: that is its address for everyone.
  const only = PublicAddresses.from('2001:db8::7', null, null);
  assert.is(only.for('2001:db8::5'), '2001:db8::7');
  // Bound to IPv4 only: no IPv6 address.
  const v4 = PublicAddresses.from('192.0.2.1', null, null);
  assert.is(v4.v6, null);
  assert.is(v4.for('192.0.2.9'), '192.0.2.1');
});

test('--public-address-v6 takes an IPv6 address only, and says so', () => {
  assert.is(parseArgs(['--public-address-v6', '2001:db8::1'], {}).config.publicAddressV6, '2001:db8::1');
  assert.is(parseArgs([], {}).config.publicAddressV6, null);
  try {
    parseArgs(['--public-address-v6', '192.0.2.1'], {});
    assert.unreachable('an IPv4 address was taken');
  } catch (e) {
    assert.instance(e, ConfigError);
    assert.match((e as Error).message, /--public-address-v6: "192\.0\.2\.1" is not an IPv6 address/);
  }
});

test('the lockout counts an IPv6 source by its /64, an IPv4 source by its address', () => {
  assert.is(lockoutSource('2001:db8:1:2:a:b:c:d'), '2001:db8:1:2::/64');
  assert.is(lockoutSource('2001:db8:1:2::ffff'), '2001:db8:1:2::/64');
  assert.is(lockoutSource('::1'), '::/64');
  assert.is(lockoutSource('192.0.2.7'), '192.0.2.7');
  assert.is(lockoutSource('::ffff:192.0.2.7'), '::ffff:192.0.2.7');
});

test.run();
