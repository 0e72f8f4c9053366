// The call log of the built box: every participant's join and leave, with who, from where, which room and how they
// left, as JSON from the API and as a CSV download for a range of days.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBox, type RunningBox } from '../support/box.ts';
import { eventually, Phone } from '../support/phone.ts';
import { firstAdmin, type WebClient } from '../support/web.ts';

let box: RunningBox;
let web: WebClient;
const phones: Phone[] = [];

const FORMULA_NAME = '=HYPERLINK("http://example.com")';

async function phone(user: string, password: string, localAddress: string): Promise<Phone> {
  const p = await Phone.open({ boxPort: box.sipPort, user, password, localAddress });
  phones.push(p);
  return p;
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

test.before(async () => {
  box = await startBox({ logLevel: 'info' });
  web = await firstAdmin(box, 'office-manager-2026');
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
});

test('two callers join a room; one hangs up, the other is removed on the page; the API lists both joins and both leaves', async () => {
  await web.api('PUT', '/api/extensions/401', { password: 'desk-401', displayName: 'Reception' });
  await web.api('PUT', '/api/extensions/402', { password: 'desk-402', displayName: FORMULA_NAME });
  assert.is((await web.post('/rooms', { id: '31', pin: '3131', duration: '30' })).status, 303);
  const first = await phone('401', 'desk-401', '127.0.0.11');
  const second = await phone('402', 'desk-402', '127.0.0.12');
  const firstCall = await first.dial('*400*31*3131');
  assert.is(firstCall.status, 200);
  const secondCall = await second.dial('*400*31*3131');
  assert.is(secondCall.status, 200);

  await firstCall.bye();
  const conf = await eventually(async () => {
    const confs = (await web.api('GET', '/api/conferences')).json as Array<any>;
    const c = confs.find((x) => x.roomId === 31);
    return c && c.participants.length === 1 ? c : null;
  }, 10_000, 200, 'the first caller gone from room 31');
  const removed = await web.api('DELETE', `/api/conferences/${encodeURIComponent(conf.key)}/participants/${encodeURIComponent(conf.participants[0].id)}`);
  assert.is(removed.status, 204, removed.text);
  await secondCall.waitForRequest('BYE');

  const log = await eventually(async () => {
    const r = await web.api('GET', `/api/call-log?from=${today()}&to=${today()}`);
    assert.is(r.status, 200, r.text);
    const inRoom = (r.json.entries as Array<any>).filter((e) => e.room === 31);
    return inRoom.length >= 4 ? r.json : null;
  }, 10_000, 200, 'four lines of room 31 in the call log');
  assert.equal([log.from, log.to], [today(), today()]);
  const lines = (log.entries as Array<any>).filter((e) => e.room === 31);
  assert.equal(lines.map((e) => [e.action, e.caller]), [['leave', '402'], ['leave', '401'], ['join', '402'], ['join', '401']], JSON.stringify(lines));
  const [removedLeave, hungUpLeave, secondJoin, firstJoin] = lines;
  assert.match(hungUpLeave.reason, /^hung up/);
  assert.match(removedLeave.reason, /^removed by the administrator/);
  assert.equal([firstJoin.displayName, secondJoin.displayName, hungUpLeave.displayName], ['Reception', FORMULA_NAME, 'Reception']);
  assert.match(firstJoin.source, /127\.0\.0\.11/);
  assert.match(secondJoin.source, /127\.0\.0\.12/);
  assert.type(hungUpLeave.durationSeconds, 'number');
  assert.ok(hungUpLeave.durationSeconds >= 0 && hungUpLeave.durationSeconds < 60, String(hungUpLeave.durationSeconds));
  assert.is(firstJoin.durationSeconds, null);
  assert.ok(lines.every((e) => !Number.isNaN(Date.parse(e.at))));
});

test('the CSV download: header row, the joins and leaves, a display name that looks like a formula neutralised', async () => {
  const r = await web.get(`/calls.csv?from=${today()}&to=${today()}`);
  assert.is(r.status, 200, r.text);
  assert.match(String(r.headers.get('content-type')), /^text\/csv; charset=utf-8/);
  assert.is(r.headers.get('content-disposition'), `attachment; filename="confbox-call-log-${today()}-to-${today()}.csv"`);
  const rows = r.text.split('\r\n');
  assert.is(rows[0], '"Time (UTC)","Event","Room","Caller","Display name","From address","Reason","Seconds in the room"');
  const room31 = rows.filter((l) => l.includes(',"31",'));
  assert.is(room31.length, 4, r.text);
  assert.ok(room31.some((l) => l.includes(`"'=HYPERLINK(""http://example.com"")"`)), r.text);
  assert.not.ok(r.text.includes(',"=HYPERLINK'), 'no field starts with =');
  assert.ok(room31.some((l) => l.includes('"leave"') && l.includes('"removed by the administrator')), r.text);
});

test('the Call log page lists the range with a download link; bad dates are refused naming the field', async () => {
  const page = await web.get('/calls');
  assert.is(page.status, 200);
  assert.match(page.text, /href="\/calls\.csv\?from=\d{4}-\d{2}-\d{2}&amp;to=\d{4}-\d{2}-\d{2}"/);
  assert.match(page.text, /data-label="How">removed by the administrator/);
  assert.match(page.text, /&#39;?=HYPERLINK|=HYPERLINK\(&quot;/);

  const api = await web.api('GET', '/api/call-log?from=2025-02-30&to=2025-03-01');
  assert.is(api.status, 400, api.text);
  assert.is(api.json.error.field, 'from');
  assert.match(api.json.error.message, /YYYY-MM-DD/);
  const backwards = await web.api('GET', '/api/call-log?from=2025-03-02&to=2025-03-01');
  assert.is(backwards.status, 400);
  assert.is(backwards.json.error.field, 'to');
  const csv = await web.get('/calls.csv?from=2025-03-01&to=yesterday');
  assert.is(csv.status, 400);
  assert.match(csv.text, /^To must be a date/);
  const form = await web.get('/calls?from=March&to=2025-03-01');
  assert.is(form.status, 400);
  assert.match(form.text, /<p class="msg" id="f-from-msg" role="alert">From must be a date/);
  const empty = await web.api('GET', '/api/call-log?from=2020-01-01&to=2020-01-02');
  assert.equal(empty.json, { from: '2020-01-01', to: '2020-01-02', entries: [] });
});

test.run();
