// The integration stream for scripts, against the built bundle with real SIP phones: `GET /api/events` with an API
// token tells a conference starting, people joining, being muted from the API, talking (a tone), leaving and the
// conference ending, in that order; a made-up token gets 401, and revoking the token ends the stream.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { eventually, Phone } from '../support/phone.ts';
import { RtpSender } from '../support/rtp.ts';
import { rawRequest, serverSentEvents, WebClient } from '../support/web.ts';

const PASSWORD = 'scripts watch the meetings';
const PIN = '7531';
const dataDir = mkdtempSync(join(tmpdir(), 'confbox-api-events-'));
let box: RunningBox;
let web: WebClient;
let token = '';
const phones: Phone[] = [];

interface StreamEvent {
  event: string;
  id: number;
  data: Record<string, any>;
}

/** An open event stream: every event so far, and whether the box closed it. */
async function openStream(authorization: string): Promise<{ status: number; events: StreamEvent[]; closed: () => boolean; close: () => void }> {
  const ac = new AbortController();
  const res = await rawRequest(`${box.webUrl}/api/events`, { headers: { authorization }, ca: box.certificate(), signal: ac.signal });
  const events: StreamEvent[] = [];
  let closed = false;
  if (res.statusCode === 200) {
    void (async () => {
      try {
        for await (const e of serverSentEvents(res as AsyncIterable<Uint8Array>)) events.push({ ...e, id: Number(e.id) });
      } catch {
        // aborted by the test
      }
      closed = true;
    })();
  } else {
    res.resume();
  }
  return { status: res.statusCode ?? 0, events, closed: () => closed, close: () => ac.abort() };
}

test.before(async () => {
  await configure(dataDir, [
    ['admin', 'set-password', '--password', PASSWORD],
    ['extension', 'add', '401', '--password', 'pw-401', '--name', 'Fatima Khan'],
    ['extension', 'add', '402', '--password', 'pw-402', '--name', 'Goran Ilic'],
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ['room', 'add', '4', '--pin', PIN, '--keep'],
  ]);
  box = await startBox({ dataDir, logLevel: 'info' });
  web = new WebClient(box.webUrl, box.certificate());
  assert.is((await web.login(PASSWORD)).status, 303);
  assert.is((await web.post('/settings/tokens', { label: 'meeting monitor' })).status, 303);
  token = /<code class="token">([^<]+)<\/code>/.exec((await web.get('/settings')).text)?.[1] ?? '';
  assert.ok(token, 'a token was made');
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  removeDataDir(dataDir);
});

test('a made-up token gets 401 naming the problem', async () => {
  const s = await openStream('Bearer cbx_made_up');
  assert.is(s.status, 401);
});

test('with a token: started, joined, muted, locked, recording, talking, left and ended arrive in order, each once', async () => {
  const s = await openStream(`Bearer ${token}`);
  try {
    assert.is(s.status, 200);
    await eventually(() => s.events.length > 0, 5000, 50, 'the hello event');
    assert.equal(s.events[0]!.event, 'hello');
    assert.equal(s.events[0]!.data.conferences, []);

    const fatima = await Phone.open({ boxPort: box.sipPort, user: '401', password: 'pw-401' });
    const goran = await Phone.open({ boxPort: box.sipPort, user: '402', password: 'pw-402' });
    phones.push(fatima, goran);
    const a = await fatima.dial(`*400*4*${PIN}`);
    assert.is(a.status, 200);
    const g = await goran.dial(`*400*4*${PIN}`);
    assert.is(g.status, 200);
    const joined = await eventually(() => (s.events.filter((e) => e.event === 'participant.joined').length === 2 ? s.events.filter((e) => e.event === 'participant.joined') : null), 10_000, 50, 'two joins');
    const started = s.events.find((e) => e.event === 'conference.started');
    assert.ok(started && started.data.room === 4, 'the conference started in room 4');
    assert.ok(s.events.indexOf(started) < s.events.indexOf(joined[0]!), 'started comes before the first join');
    assert.equal(joined.map((e) => e.data.participant.displayName), ['Fatima Khan', 'Goran Ilic']);
    const key = started.data.key as string;
    const goranId = joined[1]!.data.participant.id as string;

    assert.is((await web.api('PATCH', `/api/conferences/${encodeURIComponent(key)}/participants/${encodeURIComponent(goranId)}`, { muted: true })).status, 200);
    const muted = await eventually(() => s.events.find((e) => e.event === 'participant.changed' && e.data.id === goranId && e.data.changes.muted === true), 10_000, 50, 'Goran muted');
    assert.is(muted.data.caller, '402');

    // Lock and recording, from the API: each a conference.changed naming the new state.
    assert.is((await web.api('PATCH', `/api/conferences/${encodeURIComponent(key)}`, { locked: true })).status, 200);
    await eventually(() => s.events.find((e) => e.event === 'conference.changed' && e.data.key === key && e.data.changes.locked === true), 10_000, 50, 'locked');
    assert.is((await web.api('POST', `/api/conferences/${encodeURIComponent(key)}/recording`, { on: true })).status, 200);
    await eventually(() => s.events.find((e) => e.event === 'conference.changed' && e.data.key === key && e.data.changes.recording === true), 10_000, 50, 'recording');
    assert.is((await web.api('POST', `/api/conferences/${encodeURIComponent(key)}/recording`, { on: false })).status, 200);
    await eventually(() => s.events.find((e) => e.event === 'conference.changed' && e.data.key === key && e.data.changes.recording === false), 10_000, 50, 'recording stopped');

    const answer = a.answer!;
    assert.ok(answer.address);
    const tx = new RtpSender(a.rtp!, { address: answer.address, port: answer.port, payloadType: Number(answer.formats[0]) });
    try {
      tx.silence();
      await new Promise((r) => setTimeout(r, 1200));
      tx.tone(440, -20);
      await eventually(() => s.events.find((e) => e.event === 'participant.changed' && e.data.caller === '401' && e.data.changes.talking === true), 10_000, 50, 'Fatima talking');
    } finally {
      tx.stop();
    }

    await g.bye();
    await eventually(() => s.events.find((e) => e.event === 'participant.left' && e.data.id === goranId), 10_000, 50, 'Goran left');
    await a.bye();
    await eventually(() => s.events.find((e) => e.event === 'conference.ended' && e.data.key === key), 10_000, 50, 'the conference ended');
    const ids = s.events.map((e) => e.id);
    assert.equal(ids, [...ids].sort((x, y) => x - y), 'ids increase');
    assert.is(s.events.filter((e) => e.event === 'conference.ended').length, 1);
  } finally {
    s.close();
  }
});

test('revoking the token ends its stream', async () => {
  const s = await openStream(`Bearer ${token}`);
  assert.is(s.status, 200);
  const id = /action="\/settings\/tokens\/([0-9a-f]+)\/delete"/.exec((await web.get('/settings')).text)?.[1];
  assert.ok(id);
  assert.is((await web.post(`/settings/tokens/${id}/delete`, {})).status, 303);
  await eventually(() => s.closed(), 30_000, 200, 'the stream closed by the box');
});

test.run();
