import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { silentLogger } from '../../firmware/log.ts';
import type { Origin } from '../../firmware/sip/auth.ts';
import type { Message, Remote } from '../../firmware/sip/stack.ts';
import { dialogInfo, grantedExpires, roomOfTarget, RoomSubscriptions, type SubscriptionOptions } from '../../firmware/sip/subscriptions.ts';

test('dialog-info: one dialog of the room, confirmed while a conference runs, terminated otherwise; entity escaped', () => {
  const busy = dialogInfo({ entity: 'sip:room2@192.0.2.1', version: 3, room: 2, busy: true });
  assert.match(busy, /^<\?xml version="1.0" encoding="UTF-8"\?>\r\n<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="3" state="full" entity="sip:room2@192.0.2.1">/);
  assert.match(busy, /<dialog id="room2">\s*<state>confirmed<\/state>\s*<\/dialog>\s*<\/dialog-info>/);
  const idle = dialogInfo({ entity: 'sip:*400*2@box', version: 0, room: 2, busy: false });
  assert.match(idle, /version="0"/);
  assert.match(idle, /<state>terminated<\/state>/);
  const odd = dialogInfo({ entity: 'sip:room2@box;x="<&>"é', version: 0, room: 2, busy: false });
  assert.match(odd, /entity="sip:room2@box;x=&#34;&#60;&#38;&#62;&#34;&#233;"/);
  assert.not.match(odd, /[^\x09\x0a\x0d\x20-\x7e]/);
});

test('a room is subscribed as *400*<room> or room<room>; anything else names no room', () => {
  assert.is(roomOfTarget('sip:*400*2@192.0.2.1'), 2);
  assert.is(roomOfTarget('sip:%2A400%2A2@192.0.2.1'), 2);
  assert.is(roomOfTarget('sip:room2@192.0.2.1'), 2);
  assert.is(roomOfTarget('sip:Room200@192.0.2.1;transport=tcp'), 200);
  assert.is(roomOfTarget('sip:*400*2*1234@192.0.2.1'), null, 'a join code with its PIN');
  assert.is(roomOfTarget('sip:2@192.0.2.1'), null, 'a bare number could be an extension');
  assert.is(roomOfTarget('sip:room0@192.0.2.1'), null);
  assert.is(roomOfTarget('sip:room201@192.0.2.1'), null);
  assert.is(roomOfTarget('sip:room%zz@192.0.2.1'), null);
  assert.is(roomOfTarget('sip:192.0.2.1'), null);
});

test('expiry: default 3600, at most 3600, 423 with Min-Expires below 60, 0 unsubscribes, 400 for words', () => {
  const rq = (expires?: unknown) => ({ headers: expires === undefined ? {} : { expires } }) as unknown as Message;
  assert.equal(grantedExpires(rq()), { ok: true, seconds: 3600 });
  assert.equal(grantedExpires(rq('600')), { ok: true, seconds: 600 });
  assert.equal(grantedExpires(rq('86400')), { ok: true, seconds: 3600 });
  assert.equal(grantedExpires(rq('0')), { ok: true, seconds: 0 });
  const brief = grantedExpires(rq('10'));
  assert.ok(!brief.ok && brief.status === 423 && brief.headers?.['min-expires'] === '60');
  const words = grantedExpires(rq('soon'));
  assert.ok(!words.ok && words.status === 400 && /Expires "soon"/.test(words.reason));
});

interface Sent { status: number; reason?: string; headers: Record<string, unknown>; toTag?: string }
interface Notified { headers: Record<string, unknown>; body: string; localSeq: number }

const REMOTE: Remote = { protocol: 'UDP', address: '192.0.2.7', port: 5062, local: { address: '192.0.2.1', port: 5060 } } as Remote;

function setup(o: { answer?: number; limits?: { perSource: number; total: number } } = {}) {
  const clock = new FakeClock();
  const responses: Sent[] = [];
  const notifies: Notified[] = [];
  const rooms = { existing: new Set([2, 3]), busy: new Set<number>() };
  const origin = { address: REMOTE.address, peer: null, asserted: '', targets: [] } as Origin;
  const options: SubscriptionOptions = {
    clock, log: silentLogger,
    auth: {
      origin: () => origin,
      inviteBlocked: () => false,
      identify: async (rq) => rq.headers['proxy-authorization'] ? { ok: true, caller: '201', displayName: '' } : { ok: false, challenges: ['Digest realm="confbox", nonce="n"'] },
    },
    rooms: () => ({ exists: (id) => rooms.existing.has(id), busy: (id) => rooms.busy.has(id) }),
    respond: (_rq, status, reason, headers = {}, toTag) => void responses.push({ status, reason, headers, toTag }),
    dialogRequest: async (dialog, method, headers, body) => {
      assert.is(method, 'NOTIFY');
      notifies.push({ headers, body: body.content, localSeq: dialog.localSeq + 1 });
      dialog.localSeq++;
      return { status: o.answer ?? 200, headers: {} } as Message;
    },
    contactUri: () => 'sip:confbox@192.0.2.1:5060',
    limits: o.limits,
  };
  const subs = new RoomSubscriptions(options);
  return { clock, responses, notifies, rooms, subs };
}

let seq = 0;
function subscribe(o: { uri?: string; event?: string; expires?: string; auth?: boolean; toTag?: string; callId?: string; cseq?: number } = {}): Message {
  const headers: Record<string, unknown> = {
    to: { uri: o.uri ?? 'sip:room2@192.0.2.1', params: o.toTag ? { tag: o.toTag } : {} },
    from: { uri: 'sip:201@192.0.2.1', params: { tag: 'phone' } },
    'call-id': o.callId ?? `call-${++seq}`,
    cseq: { seq: o.cseq ?? 1, method: 'SUBSCRIBE' },
    contact: [{ uri: 'sip:201@192.0.2.7:5062', params: {} }],
    event: o.event ?? 'dialog',
  };
  if (o.expires !== undefined) headers.expires = o.expires;
  if (o.auth !== false) headers['proxy-authorization'] = [{ scheme: 'Digest' }];
  return { method: 'SUBSCRIBE', uri: o.uri ?? 'sip:room2@192.0.2.1', version: '2.0', headers } as Message;
}

const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

test('a subscription: 200 with Expires, a NOTIFY at once, then one on each change, versions and CSeqs counting up', async () => {
  const { responses, notifies, rooms, subs } = setup();
  await subs.receive(subscribe({ expires: '600' }), REMOTE);
  await settle();
  assert.is(responses[0]!.status, 200);
  assert.is(responses[0]!.headers.expires, '600');
  assert.ok(responses[0]!.toTag);
  assert.is(notifies.length, 1);
  assert.is(notifies[0]!.headers.event, 'dialog');
  assert.is(notifies[0]!.headers['subscription-state'], 'active;expires=600');
  assert.match(notifies[0]!.body, /version="0"[\s\S]*<state>terminated</);
  rooms.busy.add(2);
  subs.roomChanged(2);
  subs.roomChanged(3);
  await settle();
  assert.is(notifies.length, 2);
  assert.match(notifies[1]!.body, /version="1"[\s\S]*<state>confirmed</);
  assert.is(notifies[1]!.localSeq, notifies[0]!.localSeq + 1);
  subs.roomChanged(2);
  await settle();
  assert.is(notifies.length, 2, 'no NOTIFY when nothing changed');
  rooms.busy.delete(2);
  subs.roomChanged(2);
  await settle();
  assert.match(notifies[2]!.body, /version="2"[\s\S]*<state>terminated</);
});

test('refused: strangers challenged, another event 489 with Allow-Events, unknown rooms 404, too brief 423', async () => {
  const { responses, notifies, subs } = setup();
  await subs.receive(subscribe({ auth: false }), REMOTE);
  await subs.receive(subscribe({ event: 'presence' }), REMOTE);
  await subs.receive(subscribe({ uri: 'sip:room9@192.0.2.1' }), REMOTE);
  await subs.receive(subscribe({ uri: 'sip:conference@192.0.2.1' }), REMOTE);
  await subs.receive(subscribe({ expires: '10' }), REMOTE);
  await settle();
  assert.equal(responses.map((r) => r.status), [407, 489, 404, 404, 423]);
  assert.ok(responses[0]!.headers['proxy-authenticate']);
  assert.is(responses[1]!.headers['allow-events'], 'dialog');
  assert.is(responses[4]!.headers['min-expires'], '60');
  assert.is(notifies.length, 0);
  assert.is(subs.count, 0);
});

test('refresh within the dialog, then Expires: 0 ends it with a final NOTIFY terminated', async () => {
  const { responses, notifies, subs } = setup();
  await subs.receive(subscribe({ callId: 'c-refresh' }), REMOTE);
  await settle();
  const tag = responses[0]!.toTag!;
  await subs.receive(subscribe({ callId: 'c-refresh', toTag: tag, cseq: 2, expires: '120', auth: false }), REMOTE);
  await settle();
  assert.is(responses[1]!.status, 200);
  assert.is(responses[1]!.headers.expires, '120');
  assert.is(notifies[1]!.headers['subscription-state'], 'active;expires=120');
  await subs.receive(subscribe({ callId: 'c-refresh', toTag: tag, cseq: 2, auth: false }), REMOTE);
  assert.is(responses[2]!.status, 500, 'a CSeq not above the last');
  await subs.receive(subscribe({ callId: 'c-refresh', toTag: tag, cseq: 3, expires: '0', auth: false }), REMOTE);
  await settle();
  assert.is(responses[3]!.status, 200);
  assert.is(notifies[2]!.headers['subscription-state'], 'terminated;reason=timeout');
  assert.is(subs.count, 0);
  await subs.receive(subscribe({ callId: 'c-refresh', toTag: tag, cseq: 4, auth: false }), REMOTE);
  assert.is(responses[4]!.status, 481);
});

test('the subscription times out with a final NOTIFY; a deleted room ends it with reason noresource', async () => {
  const { clock, notifies, rooms, subs } = setup();
  await subs.receive(subscribe({ expires: '60' }), REMOTE);
  await subs.receive(subscribe({ uri: 'sip:*400*3@192.0.2.1' }), REMOTE);
  await settle();
  clock.advance(60_000);
  await settle();
  assert.is(notifies[2]!.headers['subscription-state'], 'terminated;reason=timeout');
  rooms.existing.delete(3);
  subs.roomChanged(3);
  await settle();
  assert.is(notifies[3]!.headers['subscription-state'], 'terminated;reason=noresource');
  assert.is(subs.count, 0);
});

test('a NOTIFY answered 481 or not at all ends the subscription', async () => {
  for (const answer of [481, 408]) {
    const { notifies, rooms, subs } = setup({ answer });
    await subs.receive(subscribe(), REMOTE);
    await settle();
    assert.is(notifies.length, 1);
    assert.is(subs.count, 0, `after ${answer}`);
    rooms.busy.add(2);
    subs.roomChanged(2);
    await settle();
    assert.is(notifies.length, 1);
  }
});

test('subscriptions are bounded per source and in all', async () => {
  const { responses, subs } = setup({ limits: { perSource: 2, total: 3 } });
  for (let i = 0; i < 3; i++) await subs.receive(subscribe(), REMOTE);
  assert.equal(responses.map((r) => r.status), [200, 200, 503]);
  assert.match(responses[2]!.reason!, /too many subscriptions from 192\.0\.2\.7/);
  await subs.receive(subscribe(), { ...REMOTE, address: '192.0.2.8' });
  await subs.receive(subscribe(), { ...REMOTE, address: '192.0.2.9' });
  assert.equal(responses.slice(3).map((r) => r.status), [200, 503]);
  assert.is(subs.count, 3);
});

test.run();
