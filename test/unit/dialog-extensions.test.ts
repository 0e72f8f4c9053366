import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { silentLogger } from '../../firmware/log.ts';
import { DialogExtensions } from '../../firmware/sip/dialog-extensions.ts';
import type { Session } from '../../firmware/sip/session.ts';
import type { Message } from '../../firmware/sip/stack.ts';

interface Sent { kind: 'reply' | 'ok' | 'send' | 'request' | 'hangUp'; status?: number; method?: string; reason?: string; headers?: Record<string, unknown>; body?: unknown }

function setup(invite: Record<string, string>, answer: Message = { status: 200, headers: {} }) {
  const clock = new FakeClock();
  const sent: Sent[] = [];
  const ext = new DialogExtensions({
    clock, log: silentLogger,
    reply: (_rq, status, reason, headers) => void sent.push({ kind: 'reply', status, reason, headers }),
    ok: (_call, _rq, headers, body) => void sent.push({ kind: 'ok', status: 200, headers, body }),
    send: (rs) => void sent.push({ kind: 'send', status: rs.status, headers: { ...rs.headers } }),
    dialogRequest: (_call, method, headers, body) => {
      sent.push({ kind: 'request', method, headers, body });
      return Promise.resolve(answer);
    },
    hangUp: (_call, why) => void sent.push({ kind: 'hangUp', reason: why }),
    contactUri: () => 'sip:confbox@127.0.0.1:5060',
  });
  const call = {
    callId: 'c1', source: '127.0.0.1', caller: '200', state: 'confirmed',
    invite: { method: 'INVITE', uri: 'sip:*400*1*1111@box', headers: { cseq: { seq: 1, method: 'INVITE' }, ...invite } },
    ok: { status: 200, headers: {}, content: 'v=0\r\nm=audio 4000 RTP/AVP 0\r\n' },
  } as unknown as Session;
  return { clock, sent, ext, call };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

test('the box as refresher sends UPDATE without a body when the caller allows UPDATE', async () => {
  const { clock, sent, ext, call } = setup({ supported: 'timer', allow: 'INVITE, ACK, BYE, UPDATE', 'session-expires': '120;refresher=uas' });
  ext.answered(call, ext.timer(call.invite));
  clock.advance(60_000);
  await settle();
  const rq = sent.find((s) => s.kind === 'request');
  assert.is(rq?.method, 'UPDATE');
  assert.is(rq?.body, undefined);
  assert.is(rq?.headers?.['session-expires'], '120;refresher=uac');
  ext.ended(call);
});

test('without UPDATE in Allow the refresh is a re-INVITE offering the box\'s SDP unchanged', async () => {
  const { clock, sent, ext, call } = setup({ supported: 'timer', allow: 'INVITE, ACK, BYE', 'session-expires': '90;refresher=uas' });
  ext.answered(call, ext.timer(call.invite));
  clock.advance(45_000);
  await settle();
  const rq = sent.find((s) => s.kind === 'request');
  assert.is(rq?.method, 'INVITE');
  assert.equal(rq?.body, { type: 'application/sdp', content: 'v=0\r\nm=audio 4000 RTP/AVP 0\r\n' });
  ext.ended(call);
});

test('the caller as refresher: a refresh restarts the timer; silence ends the call with BYE', () => {
  const { clock, sent, ext, call } = setup({ supported: 'timer', 'session-expires': '90;refresher=uac' });
  ext.answered(call, ext.timer(call.invite));
  clock.advance(50_000);
  const refresh: Message = { method: 'UPDATE', headers: { supported: 'timer', 'session-expires': '90;refresher=uac' } };
  ext.updated(call, refresh, null, ext.timer(refresh));
  const ok = sent.find((s) => s.kind === 'ok');
  assert.is(ok?.headers?.['session-expires'], '90;refresher=uac');
  assert.is(ok?.headers?.['content-type'], undefined);
  clock.advance(50_000);
  assert.not.ok(sent.some((s) => s.kind === 'hangUp'));
  clock.advance(10_000);
  assert.equal(sent.filter((s) => s.kind === 'hangUp').map((s) => s.reason), ['session expired']);
});

test('a re-INVITE without timers from a caller that does not support them stops the timer', () => {
  const { clock, sent, ext, call } = setup({ 'session-expires': '90' });
  ext.answered(call, ext.timer(call.invite));
  const plain: Message = { method: 'INVITE', headers: {} };
  ext.reinvited(call, ext.timer(plain));
  clock.advance(600_000);
  assert.is(sent.length, 0);
  assert.is(clock.pending(), 0);
});

test('PRACK: 200 for the RAck of the reliable 183, 481 for another, 400 without RAck', () => {
  const { sent, ext, call } = setup({ require: '100rel' });
  call.state = 'proceeding';
  ext.provisional(call, { status: 183, reason: 'Session Progress', headers: { cseq: { seq: 1, method: 'INVITE' } } });
  const early = sent.find((s) => s.kind === 'send');
  const rseq = Number(early?.headers?.RSeq);
  assert.ok(rseq > 0, 'RSeq on the 183');
  assert.is(early?.headers?.require, '100rel');
  ext.prack(call, { method: 'PRACK', headers: { rack: `${rseq + 1} 1 INVITE` } });
  ext.prack(call, { method: 'PRACK', headers: {} });
  ext.prack(call, { method: 'PRACK', headers: { rack: `${rseq} 1 INVITE` } });
  assert.equal(sent.filter((s) => s.kind === 'reply').map((s) => s.status), [481, 400, 200]);
  ext.ended(call);
});

test('a caller that does not require 100rel gets its 183 once, unreliably', () => {
  const { clock, sent, ext, call } = setup({ supported: '100rel' });
  ext.provisional(call, { status: 183, headers: { cseq: { seq: 1, method: 'INVITE' } } });
  clock.advance(10_000);
  assert.is(sent.length, 1);
  assert.is(sent[0]!.headers?.RSeq, undefined);
});

test('UPDATE before the answer: a refresh is taken, a new offer is not', () => {
  const { sent, ext, call } = setup({});
  call.state = 'proceeding';
  ext.earlyUpdate(call, { method: 'UPDATE', headers: {} });
  ext.earlyUpdate(call, { method: 'UPDATE', headers: {}, content: 'v=0' });
  assert.equal(sent.map((s) => s.status), [200, 488]);
});

test.run();
