import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyPresses, PAIR_WINDOW_MS, parseDtmfInfo } from '../../firmware/sip/dtmf-info.ts';

function keyOf(type: string | undefined, body: string): string | null {
  const r = parseDtmfInfo(type, body);
  assert.ok(r.ok, `${type} ${JSON.stringify(body)}: ${r.ok ? '' : r.reason}`);
  return r.ok ? r.key : null;
}

function refusal(type: string | undefined, body: string): { status: number; reason: string; headers?: Record<string, string> } {
  const r = parseDtmfInfo(type, body);
  if (r.ok) throw new Error(`${type} ${JSON.stringify(body)} was accepted`);
  return r;
}

test('application/dtmf-relay: Signal and Duration, as Cisco and Poly send them', () => {
  assert.equal(parseDtmfInfo('application/dtmf-relay', 'Signal=5\r\nDuration=160\r\n'), { ok: true, key: '5', durationMs: 160 });
  assert.is(keyOf('application/dtmf-relay', 'Signal= #\r\nDuration= 250'), '#');
  assert.is(keyOf('Application/DTMF-Relay; charset=utf-8', 'signal=*\nduration=100\n'), '*');
  assert.is(keyOf('application/dtmf-relay', 'Signal=b\r\n'), 'B', 'letters in either case, Duration optional');
  assert.is(keyOf('application/dtmf-relay', 'Signal=11\r\nDuration=160'), '#', 'RFC 4733 event code 11 is #');
  assert.is(keyOf('application/dtmf-relay', 'Signal=10\r\nDuration=160'), '*', 'event code 10 is *');
});

test('application/dtmf: a bare key', () => {
  assert.is(keyOf('application/dtmf', '5'), '5');
  assert.is(keyOf('application/dtmf', '#\r\n'), '#');
  assert.is(keyOf('application/dtmf', ' 0 '), '0');
});

test('an INFO without a body carries no key and is fine', () => {
  assert.equal(parseDtmfInfo(undefined, ''), { ok: true, key: null, durationMs: null });
  assert.equal(parseDtmfInfo('application/dtmf-relay', '\r\n'), { ok: true, key: null, durationMs: null });
});

test('bad dtmf bodies are refused with 400 naming what was wrong', () => {
  let r = refusal('application/dtmf-relay', 'Duration=160');
  assert.is(r.status, 400);
  assert.match(r.reason, /no Signal= line/);
  r = refusal('application/dtmf-relay', 'Signal=X\r\nDuration=160');
  assert.is(r.status, 400);
  assert.match(r.reason, /Signal="X" is not a key/);
  r = refusal('application/dtmf-relay', 'Signal=55');
  assert.match(r.reason, /Signal="55"/);
  r = refusal('application/dtmf-relay', 'Signal=5\r\nDuration=long');
  assert.match(r.reason, /Duration="long" is not a number/);
  r = refusal('application/dtmf-relay', 'Signal 5');
  assert.match(r.reason, /line "Signal 5" is not Name=value/);
  r = refusal('application/dtmf', '12');
  assert.match(r.reason, /"12" is not one key/, 'two keys, not an event code, in application/dtmf');
  r = refusal('application/dtmf', '12345');
  assert.is(r.status, 400);
  assert.match(r.reason, /"12345" is not one key/);
  r = refusal('application/dtmf', 'x'.repeat(5000));
  assert.match(r.reason, /longer than 1024 bytes/);
  assert.ok(refusal('application/dtmf', 'a\u0000'.repeat(3)).reason.length < 200, 'the reason stays short');
});

test('other body types are refused with 415 and the types the box reads', () => {
  const r = refusal('application/media_control+xml', '<media_control><vc_primitive/></media_control>');
  assert.is(r.status, 415);
  assert.match(r.reason, /application\/media_control\+xml is not supported; send application\/dtmf-relay or application\/dtmf/);
  assert.equal(r.headers, { accept: 'application/dtmf-relay, application/dtmf' });
  assert.is(refusal(undefined, 'Signal=5').status, 415, 'a body without a type');
});

function clock() {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
}

test('a press sent as INFO and as RFC 4733 events counts once, in either order', () => {
  const c = clock();
  const keys = new KeyPresses(c.now);
  const call = { caller: '100', source: 'udp:127.0.0.1:5060' };
  assert.ok(keys.accept(call, '5', 'info'));
  c.t += 40;
  assert.not.ok(keys.accept(call, '5', 'media'), 'the same press from the media');
  c.t += 500;
  assert.ok(keys.accept(call, '5', 'media'), 'the key pressed again: media first this time');
  c.t += 30;
  assert.not.ok(keys.accept(call, '5', 'info'), 'and its INFO');
  c.t += 500;
  assert.ok(keys.accept(call, '#', 'info'), 'another key');
  assert.ok(keys.accept(call, '3', 'media'), 'a different key from the other source is never absorbed');
});

test('presses from one source always count; a late twin does not absorb; calls are separate', () => {
  const c = clock();
  const keys = new KeyPresses(c.now);
  const a = { caller: '100', source: 'udp:127.0.0.1:5060' }, b = { caller: '101', source: 'udp:127.0.0.1:5062' };
  assert.ok(keys.accept(a, '1', 'info'));
  assert.ok(keys.accept(a, '1', 'info'), 'a key pressed twice by INFO is two digits');
  assert.ok(keys.accept(b, '1', 'media'), 'another call');
  c.t += PAIR_WINDOW_MS + 1;
  assert.ok(keys.accept(a, '1', 'media'), 'outside the window');
  assert.ok(keys.accept(a, '7', 'media'));
  assert.ok(keys.accept(a, '7', 'media'));
  assert.not.ok(keys.accept(a, '7', 'info'), 'one INFO absorbs one press');
  assert.ok(keys.accept(a, '7', 'info'), 'a second INFO is a second press');
});

test.run();
