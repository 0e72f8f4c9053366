// Calling a registered phone: which final answers mean busy, declined, no answer or unreachable, and where the
// request goes (the Contact's port when the phone registered from that address, the registration's flow otherwise).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { flowOf, inviteFailure, pbxTarget, registeredTarget } from '../../firmware/sip/invite-client.ts';

test('final answers sorted into what the moderator is told', () => {
  const told = (s: number) => inviteFailure(s);
  assert.equal([486, 600].map(told), ['busy', 'busy']);
  assert.equal([603, 403].map(told), ['declined', 'declined']);
  assert.equal([408, 480, 487].map(told), ['no-answer', 'no-answer', 'no-answer']);
  assert.equal([404, 410, 503, 604].map(told), ['unreachable', 'unreachable', 'unreachable', 'unreachable']);
  assert.equal([488, 500].map(told), ['failed', 'failed']);
});

test('a registration\'s source as a flow, IPv4 and IPv6', () => {
  assert.equal(flowOf('udp:192.0.2.7:5062'), { protocol: 'UDP', address: '192.0.2.7', port: 5062, local: { address: '', port: 0 } });
  assert.equal(flowOf('tls:2001:db8::5:40123'), { protocol: 'TLS', address: '2001:db8::5', port: 40123, local: { address: '', port: 0 } });
  assert.is(flowOf('carrier pigeon'), null);
});

test('the newest registration is called; its Contact port when it names the address it registered from, else the flow (NAT), always the flow over TCP', () => {
  const at = (s: number) => new Date(Date.UTC(2026, 11, 6, 9, 0, s));
  const phone = (contact: string, source: string, expires: number) => ({ contact, source, userAgent: '', expires: 60, expiresAt: at(expires), path: [] });
  const box = () => '192.0.2.1';
  const direct = registeredTarget('102', [phone('sip:102@192.0.2.7:5070', 'udp:192.0.2.7:41000', 10), phone('sip:102@192.0.2.8', 'udp:192.0.2.8:5060', 5)], box, 'Desk');
  assert.equal([direct?.uri, direct?.flow.address, direct?.flow.port, direct?.to], ['sip:102@192.0.2.7:5070', '192.0.2.7', 5070, 'sip:102@192.0.2.1']);
  const natted = registeredTarget('102', [phone('sip:102@10.0.0.9:5060', 'udp:198.51.100.4:61000', 10)], box, 'Desk');
  assert.equal([natted?.flow.address, natted?.flow.port], ['198.51.100.4', 61000]);
  const tcp = registeredTarget('102', [phone('sip:102@192.0.2.7:5070;transport=tcp', 'tcp:192.0.2.7:52000', 10)], box, 'Desk');
  assert.equal([tcp?.flow.protocol, tcp?.flow.port], ['TCP', 52000]);
  assert.is(registeredTarget('102', [], box, 'Desk'), null, 'no phone registered');
  const proxied = registeredTarget('102', [{ ...phone('sip:102@10.0.0.9:5060;transport=tcp', 'tcp:192.0.2.40:41234', 10), path: ['sip:192.0.2.40;transport=tcp;lr'] }], box, 'Desk');
  assert.equal(proxied?.route, ['sip:192.0.2.40;transport=tcp;lr'], 'registered through a proxy (Path): called through it');
});

test('a number through the outbound PBX: its address and port, over its transport', () => {
  const udp = pbxTarget('0301234567', { cidr: '192.0.2.5/32', description: 'PBX', transport: 'any', outboundPort: 5080 });
  assert.equal([udp?.uri, udp?.flow.protocol, udp?.flow.address, udp?.flow.port], ['sip:0301234567@192.0.2.5:5080', 'UDP', '192.0.2.5', 5080]);
  const tls = pbxTarget('+4930123', { cidr: '2001:db8::5/128', description: 'PBX', transport: 'tls', outboundPort: 5061 });
  assert.equal([tls?.uri, tls?.flow.protocol, tls?.flow.address], ['sip:+4930123@[2001:db8::5]:5061;transport=tls', 'TLS', '2001:db8::5']);
  assert.is(pbxTarget('1', { cidr: '192.0.2.5/32', description: '', transport: 'any', outboundPort: null }), null, 'not the outbound PBX');
});

test.run();
