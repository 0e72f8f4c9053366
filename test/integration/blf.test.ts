// Room lamps on desk phones (BLF): SUBSCRIBE to a room's state (RFC 6665, dialog event package RFC 4235), against the built bundle.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone, type SipMessage, type Subscription } from '../support/phone.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-blf-'));
let box: RunningBox;
const phones: Phone[] = [];

async function phone(user: string, o: { password?: string; localAddress?: string } = {}): Promise<Phone> {
  const p = await Phone.open({ transport: 'udp', boxPort: box.sipPort, user, password: o.password ?? `pw-${user}`, localAddress: o.localAddress });
  phones.push(p);
  return p;
}

test.before(async () => {
  await configure(dataDir, [
    ['extension', 'add', '201', '--password', 'pw-201'],
    ['extension', 'add', '202', '--password', 'pw-202'],
    ['room', 'add', '2', '--pin', '4711', '--keep', 'yes'],
  ]);
  box = await startBox({ dataDir });
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  removeDataDir(dataDir);
});

const stateOf = (m: SipMessage) => /<state>(\w+)<\/state>/.exec(m.body)?.[1];
const versionOf = (m: SipMessage) => Number(/<dialog-info[^>]*\sversion="(\d+)"/.exec(m.body)?.[1]);

test('a registered extension sees room 2 busy while a conference runs in it, idle before and after', async () => {
  const desk = await phone('201');
  assert.is((await desk.register({ expires: 600 })).final.status, 200);
  const sub: Subscription = await desk.subscribe('room2', { expires: 600 });
  assert.is(sub.final.status, 200, sub.final.describe());
  assert.is(sub.final.get('expires'), '600');
  const first = await sub.nextNotify(0);
  assert.is(first.get('event'), 'dialog');
  assert.match(first.get('subscription-state') ?? '', /^active;expires=\d+/);
  assert.is(first.get('content-type'), 'application/dialog-info+xml');
  assert.is(stateOf(first), 'terminated');

  const caller = await phone('202', { localAddress: '127.0.0.2' });
  const call = await caller.dial('*400*2*4711');
  assert.is((await call.final()).status, 200);
  const busy = await sub.nextNotify(1);
  assert.is(stateOf(busy), 'confirmed');
  assert.is(versionOf(busy), versionOf(first) + 1);
  assert.ok(busy.cseq.seq > first.cseq.seq);

  assert.is((await call.bye()).status, 200);
  const idle = await sub.nextNotify(2);
  assert.is(stateOf(idle), 'terminated');
  assert.is(versionOf(idle), versionOf(first) + 2);

  const end = await desk.subscribe('room2', { expires: 0, dialog: sub });
  assert.is(end.final.status, 200, end.final.describe());
  const last = await sub.nextNotify(3);
  assert.match(last.get('subscription-state') ?? '', /^terminated/);
});

test('the join code without PIN names the room too; refresh within the dialog is granted at most 3600 s', async () => {
  const desk = await phone('201', { localAddress: '127.0.0.3' });
  const sub = await desk.subscribe('*400*2');
  assert.is(sub.final.status, 200, sub.final.describe());
  assert.is(sub.final.get('expires'), '3600');
  await sub.nextNotify(0);
  const refresh = await desk.subscribe('*400*2', { expires: 7200, dialog: sub });
  assert.is(refresh.final.status, 200);
  assert.is(refresh.final.get('expires'), '3600');
  const again = await sub.nextNotify(1);
  assert.match(again.get('subscription-state') ?? '', /^active;expires=/);
});

test('refused: a stranger is challenged and never subscribed, another event 489, too brief 423, unknown rooms 404', async () => {
  const stranger = await phone('999', { password: 'guess', localAddress: '127.0.0.4' });
  const refused = await stranger.subscribe('room2');
  assert.is(refused.final.status, 407, refused.final.describe());
  const unauth = await stranger.subscribe('room2', { auth: false });
  assert.is(unauth.final.status, 407);
  assert.ok(unauth.final.get('proxy-authenticate'));

  const desk = await phone('201', { localAddress: '127.0.0.5' });
  const presence = await desk.subscribe('room2', { event: 'presence' });
  assert.is(presence.final.status, 489);
  assert.is(presence.final.get('allow-events'), 'dialog');
  const brief = await desk.subscribe('room2', { expires: 10 });
  assert.is(brief.final.status, 423);
  assert.is(brief.final.get('min-expires'), '60');
  const unknown = await desk.subscribe('room7');
  assert.is(unknown.final.status, 404);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal([...refused.notifies(), ...presence.notifies(), ...brief.notifies(), ...unknown.notifies()], []);
});

test('OPTIONS lists SUBSCRIBE and Allow-Events: dialog', async () => {
  const p = await phone('201', { localAddress: '127.0.0.6' });
  const rs = await p.request('OPTIONS');
  assert.match(rs.get('allow') ?? '', /SUBSCRIBE/);
  assert.is(rs.get('allow-events'), 'dialog');
});

test.run();
