import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../firmware/log.ts';
import type { Session } from '../../firmware/sip/session.ts';
import type { Message } from '../../firmware/sip/stack.ts';
import { sipfragStatus, Transfers } from '../../firmware/sip/transfer.ts';

function setup(referAnswer: Message | null = { status: 202, reason: 'Accepted', headers: {} }) {
  const replies: Array<{ status: number; reason?: string }> = [];
  const requests: Array<{ method: string; headers: Record<string, unknown> }> = [];
  let answerRefer: (rs: Message) => void = () => undefined;
  const transfers = new Transfers({
    log: silentLogger,
    contactUri: () => 'sip:confbox@127.0.0.1:5060',
    reply: (_call, _rq, status, reason) => void replies.push({ status, reason }),
    dialogRequest: (_call, method, headers) => {
      requests.push({ method, headers });
      return new Promise((resolve) => {
        answerRefer = resolve;
        if (referAnswer) resolve(referAnswer);
      });
    },
  });
  const call = { key: 'k1', localUri: 'sip:*400@proxy' } as unknown as Session;
  return { transfers, call, replies, requests, answer: (rs: Message) => answerRefer(rs) };
}

function notify(frag: string, state = 'active;expires=60', event = 'refer'): Message {
  return { method: 'NOTIFY', uri: 'sip:confbox@box', headers: { event, 'subscription-state': state, 'content-type': 'message/sipfrag;version=2.0' }, content: frag };
}

test('the status line of a sipfrag body', () => {
  assert.equal(sipfragStatus('SIP/2.0 200 OK\r\n'), { status: 200, reason: 'OK' });
  assert.equal(sipfragStatus('SIP/2.0 100 Trying'), { status: 100, reason: 'Trying' });
  assert.equal(sipfragStatus('SIP/2.0 486'), { status: 486, reason: '' });
  assert.is(sipfragStatus('INVITE sip:x SIP/2.0'), null);
  assert.is(sipfragStatus(''), null);
});

test('REFER names where to call and who sends the caller on; a NOTIFY of 200 is success', async () => {
  const s = setup();
  const outcome = s.transfers.refer(s.call, 'sip:*400*2*5678@proxy:5060');
  await Promise.resolve();
  assert.is(s.requests[0]!.method, 'REFER');
  assert.is(s.requests[0]!.headers['refer-to'], '<sip:*400*2*5678@proxy:5060>');
  assert.is(s.requests[0]!.headers['referred-by'], '<sip:*400@proxy>');
  assert.ok(s.requests[0]!.headers.contact, 'REFER carries a Contact');
  s.transfers.notify(s.call, notify('SIP/2.0 100 Trying'));
  s.transfers.notify(s.call, notify('SIP/2.0 200 OK', 'terminated;reason=noresource'));
  assert.equal(await outcome, { ok: true });
  assert.equal(s.replies.map((r) => r.status), [200, 200], 'every NOTIFY is answered');
});

test('the phone refuses REFER, or its new call fails: the caller is not sent on, and why is said', async () => {
  const refused = setup({ status: 501, reason: 'Not Implemented', headers: {} });
  assert.equal(await refused.transfers.refer(refused.call, 'sip:x@p'), { ok: false, why: 'the phone refused the transfer: 501 Not Implemented' });

  const failed = setup();
  const outcome = failed.transfers.refer(failed.call, 'sip:x@p');
  failed.transfers.notify(failed.call, notify('SIP/2.0 503 Service Unavailable', 'terminated'));
  assert.equal(await outcome, { ok: false, why: 'the new call got 503 Service Unavailable' });

  const ended = setup();
  const quiet = ended.transfers.refer(ended.call, 'sip:x@p');
  ended.transfers.notify(ended.call, notify('not a status line', 'terminated'));
  assert.equal(await quiet, { ok: false, why: 'the phone ended the transfer without a final answer' });
});

test('a NOTIFY may overtake the 202; the call ending ends the wait; one transfer per call at a time', async () => {
  const s = setup(null);
  const outcome = s.transfers.refer(s.call, 'sip:x@p');
  assert.equal(await s.transfers.refer(s.call, 'sip:y@p'), { ok: false, why: 'a transfer of this call is under way' });
  s.transfers.notify(s.call, notify('SIP/2.0 200 OK'));
  s.answer({ status: 202, headers: {} });
  assert.equal(await outcome, { ok: true });

  const t = setup();
  const waiting = t.transfers.refer(t.call, 'sip:x@p');
  t.transfers.ended(t.call, 'hung up');
  assert.equal(await waiting, { ok: false, why: 'the call ended (hung up)' });
});

test('a NOTIFY of another event is refused with 489, and a NOTIFY with no transfer under way is answered', () => {
  const s = setup();
  s.transfers.notify(s.call, notify('', 'active', 'dialog'));
  s.transfers.notify(s.call, notify('SIP/2.0 200 OK'));
  assert.equal(s.replies.map((r) => r.status), [489, 200]);
  assert.match(String(s.replies[0]!.reason), /dialog/);
});

test.run();
