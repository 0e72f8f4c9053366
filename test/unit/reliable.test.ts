import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { parseRAck, ReliableProvisional, requiresReliable } from '../../firmware/sip/reliable.ts';
import type { Message } from '../../firmware/sip/stack.ts';

const early = (): Message => ({ status: 183, reason: 'Session Progress', headers: { cseq: { seq: 2, method: 'INVITE' } }, content: 'v=0' });

test('Require: 100rel asks for reliable provisional answers; Supported alone does not', () => {
  assert.is(requiresReliable({ method: 'INVITE', headers: { require: 'timer, 100rel' } }), true);
  assert.is(requiresReliable({ method: 'INVITE', headers: { supported: '100rel' } }), false);
});

test('RAck is read; a malformed one is null', () => {
  assert.equal(parseRAck({ method: 'PRACK', headers: { rack: '776656 2 INVITE' } }), { rseq: 776656, cseq: 2, method: 'INVITE' });
  assert.is(parseRAck({ method: 'PRACK', headers: { rack: '776656 INVITE' } }), null);
  assert.is(parseRAck({ method: 'PRACK', headers: {} }), null);
});

test('the 183 carries Require: 100rel and RSeq and is sent at 0, T1, 3 T1, 7 T1... until the matching PRACK', async () => {
  const clock = new FakeClock();
  const sent: number[] = [];
  const t0 = clock.now();
  const rs = early();
  const r = new ReliableProvisional(clock, (m) => { sent.push(clock.now() - t0); assert.is(m.headers.RSeq, '42'); assert.is(m.headers.require, '100rel'); }, rs, 42);
  clock.advance(2000);
  assert.equal(sent, [0, 500, 1500]);
  assert.is(r.prack({ rseq: 41, cseq: 2, method: 'INVITE' }), false);
  assert.is(r.prack({ rseq: 42, cseq: 1, method: 'INVITE' }), false);
  assert.is(r.prack({ rseq: 42, cseq: 2, method: 'INVITE' }), true);
  clock.advance(60_000);
  assert.equal(sent, [0, 500, 1500]);
  assert.is(r.acknowledged, true);
  await r.settled;
});

test('without a PRACK the retransmissions stop after 64*T1, and the final answer no longer waits', async () => {
  const clock = new FakeClock();
  let count = 0;
  const r = new ReliableProvisional(clock, () => count++, early(), 1);
  clock.advance(120_000);
  // 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s
  assert.is(count, 7);
  assert.is(clock.pending(), 0);
  await r.settled;
  assert.is(r.acknowledged, false);
});

test.run();
