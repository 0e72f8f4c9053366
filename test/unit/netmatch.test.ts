import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { cidrContains, parseCidr } from '../../firmware/sip/netmatch.ts';

const cidr = (text: string) => {
  const r = parseCidr(text);
  return r.ok ? r.cidr : `error: ${r.reason}`;
};

test('IPv4: normalised, bare address becomes /32, host bits cleared', () => {
  assert.is(cidr('192.168.1.0/24'), '192.168.1.0/24');
  assert.is(cidr(' 192.168.1.77/24 '), '192.168.1.0/24');
  assert.is(cidr('10.0.0.5'), '10.0.0.5/32');
  assert.is(cidr('10.1.2.3/8'), '10.0.0.0/8');
  assert.is(cidr('0.0.0.0/0'), '0.0.0.0/0');
  assert.is(cidr('172.16.5.4/12'), '172.16.0.0/12');
  assert.is(cidr('255.255.255.255/31'), '255.255.255.254/31');
});

test('IPv6: RFC 5952 text, bare address becomes /128', () => {
  assert.is(cidr('2001:DB8:0:0:0:0:0:1'), '2001:db8::1/128');
  assert.is(cidr('2001:db8:0:0:1:0:0:1/128'), '2001:db8::1:0:0:1/128');
  assert.is(cidr('2001:0db8:0000:0000:0000:0000:0000:0000/32'), '2001:db8::/32');
  assert.is(cidr('2001:db8:abcd:12::1/48'), '2001:db8:abcd::/48');
  assert.is(cidr('fe80::/10'), 'fe80::/10');
  assert.is(cidr('::1'), '::1/128');
  assert.is(cidr('::'), '::/128');
  assert.is(cidr('1::'), '1::/128');
  assert.is(cidr('1:0:0:2:0:0:0:3'), '1:0:0:2::3/128');
  assert.is(cidr('1:2:3:4:5:6:7:8'), '1:2:3:4:5:6:7:8/128');
  assert.is(cidr('::ffff:192.168.1.1/120'), '::ffff:192.168.1.0/120');
  assert.is(cidr('::FFFF:c0a8:101'), '::ffff:192.168.1.1/128');
});

test('error messages name the problem', () => {
  assert.is(cidr('1.2.3'), 'error: "1.2.3" is not an IPv4 or IPv6 address');
  assert.is(cidr('1.2.3.4/33'), 'error: prefix length 33 is out of range 0..32');
  assert.is(cidr('::1/129'), 'error: prefix length 129 is out of range 0..128');
  assert.is(cidr('1.2.3.4/abc'), 'error: prefix length "abc" is not a number');
  assert.is(cidr('1.2.3.4/'), 'error: the prefix length after "/" is missing');
  assert.is(cidr('1.2.3.4/-1'), 'error: prefix length "-1" is not a number');
  assert.is(cidr(''), 'error: the address is empty');
  assert.is(cidr('256.1.1.1'), 'error: "256.1.1.1" is not an IPv4 or IPv6 address');
  assert.is(cidr('010.1.1.1'), 'error: "010.1.1.1" is not an IPv4 or IPv6 address');
  assert.is(cidr('pbx.example.com'), 'error: "pbx.example.com" is not an IPv4 or IPv6 address');
  for (const bad of ['1:2:3:4:5:6:7:8:9', '1::2::3', ':1.2.3.4', '12345::', 'fe80::1%eth0', '1.2.3.4/8/8', '::ffff:1.2.3']) {
    assert.match(cidr(bad), /^error: /, bad);
  }
  assert.match(cidr('1'.repeat(500)), /^error: ".{40}\.\.\." is not/);
});

test('cidrContains: IPv4', () => {
  assert.ok(cidrContains('192.168.1.0/24', '192.168.1.200'));
  assert.not.ok(cidrContains('192.168.1.0/24', '192.168.2.1'));
  assert.ok(cidrContains('10.0.0.5/32', '10.0.0.5'));
  assert.not.ok(cidrContains('10.0.0.5/32', '10.0.0.6'));
  assert.ok(cidrContains('0.0.0.0/0', '8.8.8.8'));
  assert.ok(cidrContains('10.0.0.5', '10.0.0.5'), 'a bare address is a /32');
  assert.ok(cidrContains('172.16.0.0/12', '172.31.255.255'));
  assert.not.ok(cidrContains('172.16.0.0/12', '172.32.0.0'));
});

test('cidrContains: IPv6, zones, and IPv4-mapped addresses', () => {
  assert.ok(cidrContains('2001:db8::/32', '2001:db8:1::5'));
  assert.not.ok(cidrContains('2001:db8::/32', '2001:db9::5'));
  assert.ok(cidrContains('fe80::/10', 'fe80::1%eth0'));
  assert.ok(cidrContains('127.0.0.0/8', '::ffff:127.0.0.1'));
  assert.ok(cidrContains('192.168.1.0/24', '::FFFF:192.168.1.9'));
  assert.not.ok(cidrContains('192.168.1.0/24', '::ffff:192.168.2.9'));
  assert.ok(cidrContains('::ffff:10.0.0.0/104', '10.9.8.7'));
  assert.not.ok(cidrContains('127.0.0.0/8', '::1'), 'IPv6 loopback is not IPv4 loopback');
  assert.not.ok(cidrContains('2001:db8::/32', '10.0.0.1'));
});

test('cidrContains: invalid input is false, never an exception', () => {
  assert.not.ok(cidrContains('bogus', '1.2.3.4'));
  assert.not.ok(cidrContains('1.2.3.0/24', 'bogus'));
  assert.not.ok(cidrContains('1.2.3.0/24', ''));
  assert.not.ok(cidrContains(undefined as unknown as string, '1.2.3.4'));
  assert.not.ok(cidrContains('1.2.3.0/24', null as unknown as string));
});

test('fuzz: random text never throws', () => {
  const alphabet = '0123456789abcdefABCDEF:./% xg';
  for (let i = 0; i < 20_000; i++) {
    const s =
      i % 2
        ? randomBytes(i % 50).toString('latin1')
        : Array.from({ length: i % 45 }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
    const r = parseCidr(s);
    if (r.ok) {
      const again = parseCidr(r.cidr);
      assert.ok(again.ok && again.cidr === r.cidr, `normal form is stable for ${JSON.stringify(s)}`);
    }
    cidrContains(s, s);
    cidrContains('10.0.0.0/8', s);
  }
});

test.run();
