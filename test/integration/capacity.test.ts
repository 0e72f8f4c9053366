// How many calls the box carries: its RTP port range sets the call places (a port pair a call), less a few kept so
// that a caller turned away still hears why. When every place is taken, a caller gets 183 with the spoken "the
// conference box is full", then 503 with a Warning and Retry-After; the log and the Status page say so, and a
// place that comes free is taken by the next caller.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone, type Call, type SipMessage } from '../support/phone.ts';
import { firstAdmin } from '../support/web.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-capacity-'));
/** 24 ports: 12 pairs, one kept back for spoken refusals: 11 call places. */
const PORTS = 24;
const PLACES = 11;
const PIN = '4826';
let box: RunningBox;
const phones: Phone[] = [];

test.before(async () => {
  await configure(dataDir, [
    ['extension', 'add', '300', '--password', 'pw-300'],
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ['room', 'add', '61', '--pin', PIN, '--max-participants', '8'],
    ['room', 'add', '62', '--pin', PIN, '--max-participants', '8'],
  ]);
  box = await startBox({ dataDir, rtpPortCount: PORTS });
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  removeDataDir(dataDir);
});

async function dial(code: string): Promise<{ call: Call; final: SipMessage; describe: string }> {
  const p = await Phone.open({ boxPort: box.sipPort, user: '300', password: 'pw-300' });
  phones.push(p);
  const call = await p.dial(code, {}, 20_000);
  const final = await call.final(20_000);
  return { call, final, describe: call.responses.map((r) => r.describe()).join(' | ') };
}

test('every call place taken: the next caller hears why (183 with SDP) and gets 503 with Warning and Retry-After; a freed place is taken again', async () => {
  const web = await firstAdmin(box, 'capacity-admin-1');
  const status = async () => (await web.api('GET', '/api/status')).json as { callPlaces: number; callPlacesInUse: number; fullRefusals: number };
  assert.is((await status()).callPlaces, PLACES, `${PORTS} RTP ports give ${PLACES} call places`);

  const calls: Call[] = [];
  for (let i = 0; i < PLACES; i++) {
    const c = await dial(`*400*${i < 6 ? 61 : 62}*${PIN}`);
    assert.is(c.final.status, 200, `call ${i + 1} of ${PLACES} is answered: ${c.describe}`);
    calls.push(c.call);
  }
  assert.equal([(await status()).callPlacesInUse, (await status()).fullRefusals], [PLACES, 0]);

  const warned = box.waitForLog((rec) => rec.msg === 'the box is full: new calls are refused with 503 until a call ends', 10_000);
  const refused = await dial(`*400*62*${PIN}`);
  const final = refused.final;
  assert.is(final.status, 503, refused.describe);
  assert.match(String(final.get('warning')), /the box is full: all 11 call places are in use/, refused.describe);
  assert.match(String(final.get('retry-after')), /^\d+$/, 'a Retry-After says when to try again');
  const early = refused.call.responses.find((r) => r.status === 183);
  assert.ok(early && early.contentType === 'application/sdp', `the caller heard why first (183 with SDP): ${refused.describe}`);
  const rec = await warned;
  assert.equal([rec.places, rec.inUse], [PLACES, PLACES], JSON.stringify(rec));
  const s = await status();
  assert.equal([s.callPlacesInUse, s.fullRefusals], [PLACES, 1], JSON.stringify(s));
  const page = await web.get('/status');
  assert.match(page.text, /<span class="badge warn">full<\/span> 11 of 11 call places in use/, 'the Status page shows the box full');
  assert.match(page.text, /1 call refused because the box was full/);

  await calls.pop()!.bye();
  const again = await dial(`*400*62*${PIN}`);
  assert.is(again.final.status, 200, `a freed place is taken by the next caller: ${again.describe}`);
  calls.push(again.call);
  for (const c of calls) await c.bye().catch(() => undefined);
});

test.run();
