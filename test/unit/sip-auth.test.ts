import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sameTarget } from '../../firmware/sip/auth.ts';

test('the digest uri must name the Request-URI: scheme, user, host and port', () => {
  const rq = 'sip:*400*2*5678@192.0.2.1:5060';
  assert.ok(sameTarget(rq, rq));
  assert.ok(sameTarget('sip:%2A400%2A2%2A5678@192.0.2.1', rq), 'percent-encoding and the default port are the same');
  assert.ok(sameTarget('SIP:*400*2*5678@192.0.2.1:5060;transport=udp', rq), 'scheme case and parameters do not matter');
  assert.ok(sameTarget('sip:192.0.2.1', 'sip:192.0.2.1:5060'), 'a REGISTER\'s Request-URI');
  assert.ok(sameTarget('sips:192.0.2.1', 'sips:192.0.2.1:5061'));
  assert.not.ok(sameTarget('sip:*400*3*5678@192.0.2.1:5060', rq), 'another dialed code');
  assert.not.ok(sameTarget('sip:192.0.2.1:5060', rq), 'the box\'s address for an INVITE to a code');
  assert.not.ok(sameTarget('sip:*400*2*5678@192.0.2.2:5060', rq), 'another host');
  assert.not.ok(sameTarget('sip:*400*2*5678@192.0.2.1:5070', rq), 'another port');
  assert.not.ok(sameTarget('sips:*400*2*5678@192.0.2.1:5060', rq), 'another scheme');
  assert.not.ok(sameTarget('', rq));
  assert.not.ok(sameTarget('not a uri', rq));
});

test.run();
