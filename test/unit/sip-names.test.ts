// Display names as phones send them: quoted or bare, in UTF-8 (read off the wire as bytes, then decoded).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from '../../firmware/sip/vendor/sip.js';
import { fromWire } from '../../firmware/sip/transactions.ts';
import type { Message } from '../../firmware/sip/stack.ts';

function invite(from: string): Message {
  const text = [
    'INVITE sip:*400*2*5678@192.0.2.1 SIP/2.0', 'Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKnames', `From: ${from};tag=a1`,
    'To: <sip:*400*2*5678@192.0.2.1>', 'Call-ID: names@test', 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
  ].join('\r\n');
  const m = parse(Buffer.from(text, 'utf8').toString('latin1')) as Message | undefined;
  assert.ok(m, `parsed: ${from}`);
  return fromWire(m!);
}

test('a quoted UTF-8 display name', () => {
  const from = invite('"Zoë Ünlü" <sip:160@192.0.2.9>').headers.from!;
  assert.is(from.name, '"Zoë Ünlü"');
  assert.is(from.params.tag, 'a1');
});

test('an unquoted UTF-8 display name keeps its name, address and tag', () => {
  for (const name of ['Zoë Ünlü', 'Jürgen Groß', 'Ōsaka 大阪']) {
    const from = invite(`${name} <sip:160@192.0.2.9>`).headers.from!;
    assert.is(from.name, name);
    assert.match(String(from.uri), /^sip:160@192\.0\.2\.9$/);
    assert.is(from.params.tag, 'a1');
  }
});

test.run();
