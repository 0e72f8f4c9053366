// The web page's JSON API and forms over real HTTPS (the box's generated certificate) against the built bundle with its embedded
// MariaDB: first use, login, CSRF, every endpoint with good and bad input, and what a phone sees.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { existsSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startBox, type RunningBox } from '../support/box.ts';
import { Phone } from '../support/phone.ts';
import { rawRequest, readEvents, setupCodeOf, WebClient } from '../support/web.ts';

const ADMIN_PASSWORD = 'office-manager-2026';
/** Every character SQL treats specially, plus HTML's. */
const NASTY = `Robert'); DROP TABLE rooms;-- "q" \\ % _ <b>&amp;`;

let box: RunningBox;
let web: WebClient;
const phones: Phone[] = [];

function base(): string {
  return box.webUrl;
}

async function phone(user: string, password: string, localAddress?: string): Promise<Phone> {
  const p = await Phone.open({ boxPort: box.sipPort, user, password, localAddress });
  phones.push(p);
  return p;
}

function errorOf(r: { status: number; json: any; text: string }, status: number, field: string | null, message?: RegExp): void {
  assert.is(r.status, status, r.text);
  assert.type(r.json?.error?.message, 'string', r.text);
  assert.type(r.json.error.code, 'string');
  assert.is(r.json.error.field, field, r.text);
  if (message) assert.match(r.json.error.message, message);
}

/** The message the page shows beside a field (the `.msg` paragraph of that field). */
function messageBeside(page: string, field: string): string {
  const m = new RegExp(`<p class="msg" id="f-${field}-msg"[^>]*>([^<]*)</p>`).exec(page);
  return m ? m[1]! : '';
}

/** A request from another loopback address (fetch cannot choose its source address). */
function postFrom(localAddress: string, path: string, body: string, cookie: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const rq = httpsRequest(base() + path, { method: 'POST', localAddress, ca: box.certificate(), headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    rq.on('error', reject);
    rq.end(body);
  });
}

test.before(async () => {
  box = await startBox({ logLevel: 'info' });
  web = new WebClient(base(), box.certificate());
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
});

test('before a password is set, every page leads to first use and the API answers 401', async () => {
  const anon = new WebClient(base(), box.certificate());
  assert.is((await anon.get('/')).location, '/setup');
  assert.is((await anon.get('/rooms')).location, '/setup');
  assert.is((await anon.get('/login')).location, '/setup');
  errorOf(await anon.get('/api/rooms'), 401, null, /log in/);
  const code = setupCodeOf(box.dataDir);
  const r = await anon.setup('short', code);
  assert.is(r.status, 400);
  assert.match(messageBeside(r.text, 'password'), /at least 8 characters/);
  const differ = await anon.request('POST', '/setup', { form: { _csrf: anon.cookies.get('confbox_form')!, code, password: 'long enough 1', confirm: 'long enough 2' } });
  assert.is(differ.status, 400);
  assert.match(messageBeside(differ.text, 'confirm'), /differ/);
});

test('first use needs the setup code the box shows in its log and data directory: a password alone makes nobody admin', async () => {
  const code = setupCodeOf(box.dataDir);
  assert.match(code, /^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
  const logged = box.output().split('\n').filter((l) => l.includes('"web page setup code"')).map((l) => JSON.parse(l));
  assert.is(logged.length, 1, 'the code is in the log once');
  assert.is(logged[0].code, code);
  const stranger = new WebClient(base(), box.certificate());
  const page = await stranger.get('/setup');
  assert.match(page.text, /confbox-setup-code\.txt/, 'the page says where the code is');
  for (const form of <Array<Record<string, string>>>[{ password: 'stranger-pass', confirm: 'stranger-pass' }, { code: 'AAAA-BBBB-CCCC', password: 'stranger-pass', confirm: 'stranger-pass' }]) {
    const r = await stranger.request('POST', '/setup', { form: { _csrf: stranger.cookies.get('confbox_form')!, ...form } });
    assert.is(r.status, 403, r.text);
    assert.match(messageBeside(r.text, 'code'), /setup code is wrong/);
  }
  assert.is((await stranger.get('/')).location, '/setup', 'still no admin');
  assert.is((await stranger.get('/login')).location, '/setup', 'no password was set');
});

test('first use sets the password and opens an HttpOnly, SameSite=Strict session; nobody can set it again', async () => {
  const code = setupCodeOf(box.dataDir);
  const r = await web.setup(ADMIN_PASSWORD, code.toLowerCase().replace(/-/g, ' '));
  assert.is(r.status, 303, r.text);
  assert.is(r.location, '/rooms');
  const cookie = r.headers.getSetCookie().find((c) => c.startsWith('confbox_session='));
  assert.ok(cookie, 'a session cookie');
  assert.match(cookie, /HttpOnly/);
  assert.match(cookie, /SameSite=Strict/);
  const page = await web.get('/rooms');
  assert.is(page.status, 200);
  assert.match(page.text, /Password set/);
  assert.ok(web.csrf.length > 20, 'the page carries a CSRF token');

  const intruder = new WebClient(base(), box.certificate());
  const again = await intruder.get('/setup');
  assert.is(again.location, '/login');
  const sneaky = await intruder.request('POST', '/setup', { form: { _csrf: 'x', password: 'intruder-pass', confirm: 'intruder-pass' } });
  assert.is(sneaky.status, 403);
  assert.is((await intruder.login('intruder-pass')).status, 403);
  assert.is((await new WebClient(base(), box.certificate()).login(ADMIN_PASSWORD)).status, 303);
  assert.not.ok(existsSync(join(box.dataDir, 'setup-code')), 'the code is spent');
  const replay = await intruder.request('POST', '/setup', { form: { _csrf: intruder.cookies.get('confbox_form') ?? 'x', code, password: 'intruder-pass', confirm: 'intruder-pass' } });
  // Accepted, it would log the intruder in: a session cookie and the way to the rooms.
  assert.not.match(String(replay.headers.get('set-cookie') ?? ''), /confbox_session=/, `the spent code gives no session (${replay.status})`);
  assert.is.not(replay.location, '/rooms', `the spent code leads nowhere in (${replay.status} ${replay.location ?? ''})`);
  assert.is((await new WebClient(base(), box.certificate()).login('intruder-pass')).status, 403);
});

test('two first-use requests at once with the code make exactly one admin', async () => {
  const fresh = await startBox({ logLevel: 'info' });
  try {
    const url = fresh.webUrl;
    const code = setupCodeOf(fresh.dataDir);
    const clients = [new WebClient(url, fresh.certificate()), new WebClient(url, fresh.certificate()), new WebClient(url, fresh.certificate()), new WebClient(url, fresh.certificate())];
    const pages = await Promise.all(clients.map((c) => c.get('/setup')));
    const results = await Promise.all(clients.map((c, i) => c.request('POST', '/setup', {
      form: { _csrf: WebClient.formToken(pages[i]!.text), code, password: `first-admin-${i}`, confirm: `first-admin-${i}` },
    })));
    const winners = results.map((r, i) => (r.location === '/rooms' ? i : -1)).filter((i) => i >= 0);
    assert.is(winners.length, 1, `exactly one set the password: ${results.map((r) => `${r.status} ${r.location}`).join(', ')}`);
    const logins = await Promise.all(clients.map((_, i) => new WebClient(url, fresh.certificate()).login(`first-admin-${i}`)));
    assert.equal(logins.map((r) => r.status === 303), clients.map((_, i) => i === winners[0]), 'only the winner\'s password logs in');
  } finally {
    await fresh.stop();
  }
});

test('a wrong password is refused beside the field, and repeated wrong passwords are slowed down', async () => {
  const c = new WebClient(base(), box.certificate());
  const wrong = await c.login('not the password');
  assert.is(wrong.status, 403);
  assert.match(messageBeside(wrong.text, 'password'), /Wrong password/);

  // From an address of its own, so that the wait does not hold up the other tests.
  const page = await c.get('/login');
  const token = WebClient.formToken(page.text);
  const cookie = `confbox_form=${c.cookies.get('confbox_form')}`;
  const statuses: number[] = [];
  let last = { status: 0, headers: {} as Record<string, unknown>, text: '' };
  for (let i = 0; i < 5; i++) {
    last = await postFrom('127.0.0.9', '/login', new URLSearchParams({ _csrf: token, password: `guess ${i}` }).toString(), cookie);
    statuses.push(last.status);
  }
  assert.equal(statuses.slice(0, 3), [403, 403, 403]);
  assert.is(statuses[3], 429, `statuses ${statuses}`);
  assert.ok(Number(last.headers['retry-after']) >= 1, 'Retry-After says how long to wait');
  assert.match(last.text, /too many wrong passwords/i);
  // Even the right password waits its turn.
  const right = await postFrom('127.0.0.9', '/login', new URLSearchParams({ _csrf: token, password: ADMIN_PASSWORD }).toString(), cookie);
  assert.is(right.status, 429);
  // Another address is not affected.
  assert.is((await new WebClient(base(), box.certificate()).login(ADMIN_PASSWORD)).status, 303);
});

test('a form without the CSRF token gets 403 and changes nothing; so does an API change without X-CSRF-Token', async () => {
  const r = await web.post('/rooms', { id: '150', pin: '1500' }, false);
  assert.is(r.status, 403);
  const bad = await web.post('/rooms', { id: '150', pin: '1500', _csrf: 'forged' }, false);
  assert.is(bad.status, 403);
  const api = await web.request('POST', '/api/rooms', { json: { id: 150, pin: '1500' } });
  errorOf(api, 403, null, /X-CSRF-Token/);
  const rooms = (await web.api('GET', '/api/rooms')).json as Array<{ id: number }>;
  assert.not.ok(rooms.some((x) => x.id === 150), 'room 150 was not added');
});

/** A request naming any host in Host (a browser sends the name from its address bar; DNS rebinding sends the attacker's). */
function requestAs(host: string | null, method: string, path: string, cookie = '', plain = false): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = cookie ? { cookie } : {};
    const options = { host: '127.0.0.1', method, path, headers, setHost: host !== null };
    const onResponse = (res: IncomingMessage) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    };
    const rq = plain ? httpRequest({ ...options, port: box.httpPort }, onResponse) : httpsRequest({ ...options, port: box.httpsPort, ca: box.certificate() }, onResponse);
    if (host !== null) rq.setHeader('host', host);
    rq.on('error', reject);
    rq.end();
  });
}

test('the page answers only to its own names: a foreign Host (DNS rebinding) gets 421 and nothing else', async () => {
  const cookie = [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  for (const host of ['evil.example', `evil.example:${box.httpPort}`, '10.9.8.7', '[2001:db8::1]:80', 'confbox.office.lan']) {
    for (const [method, path] of [['GET', '/'], ['GET', '/rooms'], ['GET', '/api/rooms'], ['GET', '/assets/app.js'], ['POST', '/setup'], ['GET', '/events']]) {
      const r = await requestAs(host, method!, path!, cookie);
      assert.is(r.status, 421, `${method} ${path} as ${host}`);
      assert.not.match(r.text, /room|csrf|<html/i, 'no page, no data');
    }
  }
  assert.is((await requestAs(null, 'GET', '/api/rooms', cookie)).status, 400, 'no Host at all');
  assert.is((await requestAs('evil.example', 'GET', '/rooms', '', true)).status, 421, 'plain HTTP refuses it too, rather than redirecting');
  assert.is((await requestAs(`127.0.0.1:${box.httpPort}`, 'GET', '/rooms', '', true)).status, 301, 'and redirects the box\'s own names');
  for (const host of [`127.0.0.1:${box.httpPort}`, '127.0.0.1', `localhost:${box.httpPort}`, hostname(), `${hostname()}.local:${box.httpPort}`, `LOCALHOST.:${box.httpPort}`]) {
    assert.is((await requestAs(host, 'GET', '/api/rooms', cookie)).status, 200, `answers as ${host}`);
  }
  errorOf(await web.api('PATCH', '/api/settings', { webHostNames: 'confbox.office.lan, bad_name!' }), 400, 'webHostNames', /host names/);
  assert.is((await web.api('PATCH', '/api/settings', { webHostNames: 'confbox.office.lan,Meeting-Box.corp' })).status, 200);
  assert.is((await requestAs('confbox.office.lan', 'GET', '/api/rooms', cookie)).status, 200, 'a name the setting adds');
  assert.is((await requestAs('meeting-box.corp:8080', 'GET', '/api/rooms', cookie)).status, 200);
  assert.is((await requestAs('evil.example', 'GET', '/api/rooms', cookie)).status, 421);
  assert.is((await web.api('PATCH', '/api/settings', { webHostNames: '' })).status, 200);
  assert.is((await requestAs('confbox.office.lan', 'GET', '/api/rooms', cookie)).status, 421, 'and removes');
});

test('hostile requests get a clear 4xx and the box keeps serving', async () => {
  errorOf(await web.api('GET', '/api/rooms/%E0%A4%A'), 400, null, /percent-encoding/);
  assert.is((await web.get('/extensions/%zz')).status, 400);
  assert.is((await web.get('/assets/../../etc/passwd')).status, 404);
  assert.is((await web.get('/assets/app.js%00')).status, 404);
  const long = await new WebClient(base(), box.certificate()).get('/rooms?' + 'x'.repeat(20_000)).catch(() => null);
  assert.ok(long === null || long.status >= 400 || long.status === 303, 'an oversized request line is refused');
  const raw = await new Promise<string>((resolve) => {
    const s = connect(box.httpPort, '127.0.0.1', () => s.end('GARBAGE / HTTP/9.9\r\n\r\n'));
    let text = '';
    s.on('data', (c: Buffer) => (text += c));
    s.on('close', () => resolve(text));
    s.on('error', () => resolve(text));
  });
  assert.match(raw, /^HTTP\/1\.1 400/);
  assert.is((await web.api('GET', '/api/status')).status, 200, 'still serving');
});

test('a request body that trickles in is cut off after 30 seconds, and the box keeps serving', async () => {
  // Logged in, so that the box waits for the body (a caller it would refuse is answered at once).
  const cookie = [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  const started = Date.now();
  const closed = await new Promise<boolean>((resolve) => {
    const s = tlsConnect({ host: '127.0.0.1', port: box.httpsPort, ca: box.certificate(), servername: 'localhost' }, () => {
      s.write(`POST /api/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: ${cookie}\r\nX-CSRF-Token: ${web.csrf}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"id": `);
    });
    s.resume();
    const give = setTimeout(() => { s.destroy(); resolve(false); }, 90_000);
    s.on('close', () => { clearTimeout(give); resolve(true); });
    s.on('error', () => undefined);
  });
  const waited = Date.now() - started;
  assert.ok(closed, 'the box closed the connection');
  assert.ok(waited >= 29_000, `not before its 30 s (closed after ${waited} ms)`);
  assert.is((await web.api('GET', '/api/status')).status, 200, 'still serving');
});

test('every API endpoint answers 401 without a session or token', async () => {
  const anon = new WebClient(base(), box.certificate());
  const calls: Array<[string, string]> = [
    ['GET', '/api/rooms'], ['POST', '/api/rooms'], ['GET', '/api/rooms/1'], ['DELETE', '/api/rooms/1'],
    ['GET', '/api/conferences'], ['DELETE', '/api/conferences/1.1'], ['PATCH', '/api/conferences/1.1'], ['POST', '/api/conferences/1.1/mute-all'],
    ['PATCH', '/api/conferences/1.1/participants/x'], ['DELETE', '/api/conferences/1.1/participants/x'],
    ['GET', '/api/extensions'], ['PUT', '/api/extensions/200'], ['DELETE', '/api/extensions/200'],
    ['GET', '/api/peers'], ['POST', '/api/peers'], ['DELETE', '/api/peers/10.0.0.1'],
    ['GET', '/api/settings'], ['PATCH', '/api/settings'], ['GET', '/api/blocked'], ['DELETE', '/api/blocked/10.0.0.1'], ['GET', '/api/status'],
    ['POST', '/api/conferences/1.1/invite'], ['POST', '/api/conferences/1.1/recording'], ['GET', '/api/recordings'],
    ['GET', '/api/recordings/room-1-20261206-090000.wav'], ['DELETE', '/api/recordings/room-1-20261206-090000.wav'],
    ['POST', '/api/backup'], ['POST', '/api/restore'], ['GET', '/api/call-log'],
  ];
  for (const [method, path] of calls) {
    const r = await anon.request(method, path, method === 'GET' || method === 'DELETE' ? {} : { json: {} });
    assert.is(r.status, 401, `${method} ${path}: ${r.text}`);
    assert.is(r.json.error.code, 'unauthorized');
  }
  assert.is((await anon.get('/events')).status, 401);
});

test('rooms: add, list, get, delete through the API with the phone codes\' validation', async () => {
  const added = await web.api('POST', '/api/rooms', { id: 20, pin: '2020', duration: 90, creator: '301', maxParticipants: 5 });
  assert.is(added.status, 201, added.text);
  assert.is(added.json.id, 20);
  assert.is(added.json.createdVia, 'web');
  const list = (await web.api('GET', '/api/rooms')).json as Array<Record<string, unknown>>;
  const r20 = list.find((r) => r.id === 20);
  assert.ok(r20);
  assert.equal([r20.pin, r20.duration, r20.creator, r20.maxParticipants, r20.active], ['2020', 90, '301', 5, false]);
  assert.is((await web.api('GET', '/api/rooms/20')).json.pin, '2020');
  errorOf(await web.api('GET', '/api/rooms/21'), 404, 'id', /room 21 does not exist/);

  errorOf(await web.api('POST', '/api/rooms', { id: 20, pin: '1' }), 409, 'id', /room 20 already exists/);
  errorOf(await web.api('POST', '/api/rooms', { id: 0, pin: '1' }), 400, 'id', /room number must be a whole number from 1 to 200, not "0"/);
  errorOf(await web.api('POST', '/api/rooms', { id: 201, pin: '1' }), 400, 'id', /1 to 200/);
  errorOf(await web.api('POST', '/api/rooms', { id: 'abc', pin: '1' }), 400, 'id');
  errorOf(await web.api('POST', '/api/rooms', { id: 22, pin: '12a' }), 400, 'pin', /PIN must be 1 to 16 digits/);
  errorOf(await web.api('POST', '/api/rooms', { id: 22, pin: '12345678901234567' }), 400, 'pin');
  errorOf(await web.api('POST', '/api/rooms', { id: 22, pin: '1', duration: 1441 }), 400, 'duration', /1 to 1440/);
  errorOf(await web.api('POST', '/api/rooms', { id: 22, pin: '1', creator: 'a b' }), 400, 'creator');
  errorOf(await web.api('POST', '/api/rooms', { id: 22, pin: '1', maxParticipants: 1 }), 400, 'maxParticipants', /2 to 32/);
  errorOf(await web.api('POST', '/api/rooms', { id: { $gt: 1 }, pin: '1' }), 400, 'id');
  errorOf(await web.request('POST', '/api/rooms', { body: '{"id": 22,', headers: { 'content-type': 'application/json' }, csrfHeader: true }), 400, null, /not valid JSON/);
  errorOf(await web.request('POST', '/api/rooms', { body: '[1]', headers: { 'content-type': 'application/json' }, csrfHeader: true }), 400, null, /JSON object/);
  errorOf(await web.request('POST', '/api/rooms', { body: 'id=22', headers: { 'content-type': 'text/plain' }, csrfHeader: true }), 415, null, /content type/);
  errorOf(await web.request('POST', '/api/rooms', { body: JSON.stringify({ id: 22, pin: 'x'.repeat(70_000) }), headers: { 'content-type': 'application/json' }, csrfHeader: true }), 413, null);
  errorOf(await web.api('PUT', '/api/rooms'), 405, null, /use GET or POST/);
  errorOf(await web.api('GET', '/api/nothing'), 404, null);
  assert.not.ok(((await web.api('GET', '/api/rooms')).json as Array<{ id: number }>).some((r) => r.id === 22), 'no bad room stored');

  const del = await web.api('DELETE', '/api/rooms/20');
  assert.is(del.status, 200);
  assert.equal(del.json, { deleted: 20, participantsStaying: 0 });
  errorOf(await web.api('DELETE', '/api/rooms/20'), 404, 'id');
  errorOf(await web.api('DELETE', '/api/rooms/x1'), 400, 'id');
});

test('a room added on the page is joinable at once; the live view and API show the caller; mute and remove reach the phone', async () => {
  await web.api('PUT', '/api/extensions/401', { password: 'desk-401', displayName: 'Reception' });
  const form = await web.post('/rooms', { id: '30', pin: '3030', duration: '45' });
  assert.is(form.status, 303, form.text);
  const events = readEvents(web, (e) => typeof e.data.live === 'string' && e.data.live.includes('Reception'));
  const p = await phone('401', 'desk-401');
  const call = await p.dial('*400*30*3030');
  assert.is(call.status, 200);
  const snapshot = await events;
  assert.match(snapshot.data.live, /Reception/);

  const confs = (await web.api('GET', '/api/conferences')).json as Array<any>;
  const conf = confs.find((c) => c.roomId === 30);
  assert.ok(conf, JSON.stringify(confs));
  assert.is(conf.participants.length, 1);
  const who = conf.participants[0];
  assert.equal([who.caller, who.displayName, who.muted], ['401', 'Reception', false]);
  assert.ok(conf.secondsLeft > 40 * 60 && conf.secondsLeft <= 45 * 60, `time left ${conf.secondsLeft}`);
  const rooms = (await web.api('GET', '/api/rooms')).json as Array<any>;
  assert.equal([rooms.find((r) => r.id === 30).active, rooms.find((r) => r.id === 30).participants], [true, 1]);

  const path = `/api/conferences/${encodeURIComponent(conf.key)}/participants/${encodeURIComponent(who.id)}`;
  const muted = await web.api('PATCH', path, { muted: true });
  assert.is(muted.status, 200, muted.text);
  assert.is(muted.json.muted, true);
  errorOf(await web.api('PATCH', path, { muted: 'yes' }), 400, 'muted');
  errorOf(await web.api('PATCH', `/api/conferences/${encodeURIComponent(conf.key)}/participants/nobody`, { muted: true }), 404, 'participant');
  errorOf(await web.api('DELETE', '/api/conferences/999.9'), 404, 'key');

  const removed = await web.api('DELETE', path);
  assert.is(removed.status, 204, removed.text);
  await p.waitFor((m) => m.method === 'BYE' && m.callId === call.callId, 5000, 0, 'the box\'s BYE');
  const after = (await web.api('GET', '/api/conferences')).json as Array<any>;
  assert.not.ok(after.some((c) => c.key === conf.key), 'the conference ended with its last participant');
});

test('ending a conference hangs up everyone; deleting an active room keeps the people in it', async () => {
  await web.api('POST', '/api/rooms', { id: 31, pin: '3131', maxParticipants: 4 });
  await web.api('PUT', '/api/extensions/402', { password: 'desk-402' });
  const a = await phone('401', 'desk-401');
  const b = await phone('402', 'desk-402');
  const ca = await a.dial('*400*31*3131');
  const cb = await b.dial('*400*31*3131');
  assert.equal([ca.status, cb.status], [200, 200]);
  const del = await web.api('DELETE', '/api/rooms/31');
  assert.equal(del.json, { deleted: 31, participantsStaying: 2 });
  const conf = ((await web.api('GET', '/api/conferences')).json as Array<any>).find((c) => c.roomId === 31);
  assert.ok(conf && conf.roomDeleted === true && conf.participants.length === 2, JSON.stringify(conf));
  assert.is((await web.api('DELETE', `/api/conferences/${encodeURIComponent(conf.key)}`)).status, 204);
  // Everyone first hears that the conference has ended, then gets the BYE.
  await a.waitFor((m) => m.method === 'BYE' && m.callId === ca.callId, 15_000, 0, 'BYE to the first caller');
  await b.waitFor((m) => m.method === 'BYE' && m.callId === cb.callId, 15_000, 0, 'BYE to the second caller');
});

test('a room with a moderator PIN: the API shows who is moderator, locks the room against new callers, mutes everyone but the moderator', async () => {
  errorOf(await web.api('POST', '/api/rooms', { id: 32, pin: '3232', moderatorPin: '3232' }), 400, 'moderatorPin', /moderator PIN must differ from the PIN/);
  const added = await web.api('POST', '/api/rooms', { id: 32, pin: '3232', moderatorPin: '9232', maxParticipants: 4 });
  assert.is(added.status, 201, added.text);
  assert.is(added.json.moderatorPin, '9232');
  await web.api('PUT', '/api/extensions/403', { password: 'desk-403' });
  const chair = await phone('401', 'desk-401');
  const guest = await phone('402', 'desk-402');
  const late = await phone('403', 'desk-403');
  const cc = await chair.dial('*400*32*9232');
  const cg = await guest.dial('*400*32*3232');
  assert.equal([cc.status, cg.status], [200, 200]);
  const conf = ((await web.api('GET', '/api/conferences')).json as Array<any>).find((c) => c.roomId === 32);
  assert.ok(conf, 'the conference runs');
  const byCaller = (c: any) => Object.fromEntries(c.participants.map((p: any) => [p.caller, p]));
  assert.equal([byCaller(conf)['401'].moderator, byCaller(conf)['402'].moderator, conf.locked], [true, false, false]);

  const path = `/api/conferences/${encodeURIComponent(conf.key)}`;
  errorOf(await web.api('PATCH', path, { locked: 'yes' }), 400, 'locked');
  const locked = await web.api('PATCH', path, { locked: true });
  assert.is(locked.status, 200, locked.text);
  assert.is(locked.json.locked, true);
  const turnedAway = await late.dial('*400*32*3232', {}, 20_000);
  assert.is(turnedAway.status, 603, 'a locked room turns a new caller away');
  assert.match((await turnedAway.final()).get('warning') ?? '', /this conference is locked/);

  errorOf(await web.api('POST', `${path}/mute-all`, { muted: 1 }), 400, 'muted');
  const muted = await web.api('POST', `${path}/mute-all`, { muted: true });
  assert.is(muted.status, 200, muted.text);
  assert.is(muted.json.changed, 1);
  assert.equal([byCaller(muted.json.conference)['401'].muted, byCaller(muted.json.conference)['402'].muted], [false, true], 'the moderator keeps talking');
  const unmuted = await web.api('POST', `${path}/mute-all`, { muted: false });
  assert.is(byCaller(unmuted.json.conference)['402'].muted, false);
  assert.is((await web.api('PATCH', path, { locked: false })).json.locked, false);

  const cleared = await web.api('PATCH', '/api/rooms/32', { moderatorPin: null });
  assert.is(cleared.json.moderatorPin, null, cleared.text);
  errorOf(await web.api('PATCH', '/api/conferences/999.9', { locked: true }), 404, 'key');
  await cc.bye();
  await cg.bye();
});

test('extensions: add, edit without changing the password, registration state, delete', async () => {
  errorOf(await web.api('PUT', '/api/extensions/500'), 400, 'password', /password is required/);
  errorOf(await web.api('PUT', '/api/extensions/bad%20number', { password: 'x' }), 400, 'number');
  errorOf(await web.api('PUT', '/api/extensions/500', { password: 'ok', displayName: 'x'.repeat(129) }), 400, 'displayName');
  const put = await web.api('PUT', '/api/extensions/500', { password: 'pw-500', displayName: 'Boardroom' });
  assert.is(put.status, 200, put.text);
  assert.equal([put.json.number, put.json.displayName, put.json.registered], ['500', 'Boardroom', false]);
  const p = await phone('500', 'pw-500');
  assert.is((await p.register({ expires: 600 })).final.status, 200);
  let row = ((await web.api('GET', '/api/extensions')).json as Array<any>).find((e) => e.number === '500');
  assert.is(row.registered, true);
  assert.is(row.contacts.length, 1);
  assert.equal([row.contacts[0].source, row.contacts[0].userAgent], [`udp:127.0.0.1:${p.localPort}`, 'confbox-test-phone']);
  assert.ok(row.contacts[0].expires > 590 && row.contacts[0].expires <= 600, `expires ${row.contacts[0].expires}`);
  // The Extensions page's live view gets the table and what every page shows (the fault banner, people in calls);
  // a stream naming no parts gets what it always got.
  const extensionsView = await readEvents(web, () => true, 10_000, '/events?parts=extensions');
  assert.equal(Object.keys(extensionsView.data).sort(), ['extensions', 'faults', 'people']);
  assert.match(extensionsView.data.extensions, new RegExp(`udp:127\\.0\\.0\\.1:${p.localPort}</code>[^]*confbox-test-phone`));
  assert.match(extensionsView.data.extensions, `name="_csrf" value="${web.csrf}"`);
  assert.equal(Object.keys((await readEvents(web, () => true)).data).sort(), ['faults', 'live', 'people', 'rooms', 'status']);
  // Renaming keeps the password: the phone still registers.
  await web.api('PUT', '/api/extensions/500', { displayName: 'Board room' });
  assert.is((await p.register({ expires: 600 })).final.status, 200);
  row = ((await web.api('GET', '/api/extensions')).json as Array<any>).find((e) => e.number === '500');
  assert.is(row.displayName, 'Board room');
  assert.is(row.lastFailure, null, 'no failed attempt yet');
  // A phone with a wrong password: the API and the Extensions page say why it cannot get in.
  assert.is((await p.register({ expires: 600, password: 'not-pw-500' })).final.status, 401);
  row = ((await web.api('GET', '/api/extensions')).json as Array<any>).find((e) => e.number === '500');
  assert.equal([row.lastFailure?.reason, row.lastFailure?.method, row.lastFailure?.source], ['wrong password', 'REGISTER', '127.0.0.1']);
  assert.match(row.lastFailure?.at ?? '', /^\d{4}-\d\d-\d\dT/);
  assert.ok(['MD5', 'SHA-256'].includes(row.algorithm), `the algorithm of its last accepted answer: ${row.algorithm}`);
  assert.match((await web.get('/extensions')).text, /<span class="badge warn">wrong password<\/span> <span class="muted">registration from 127\.0\.0\.1/);
  assert.is((await web.api('DELETE', '/api/extensions/500')).status, 204);
  errorOf(await web.api('DELETE', '/api/extensions/500'), 404, 'number');
  const p2 = await phone('500', 'pw-500');
  const removed = await p2.register({ expires: 600 });
  assert.equal(removed.finals.map((f) => f.status), [401, 401], 'a removed extension cannot register: challenged, and its answer fails like a wrong password');
});

test('a display name with markup is shown as text; SQL metacharacters are stored and shown literally', async () => {
  const xss = '<script>window.pwned=1</script><img src=x onerror=alert(1)>';
  assert.is((await web.api('PUT', '/api/extensions/600', { password: 'pw-600', displayName: xss })).status, 200);
  assert.is((await web.api('PUT', '/api/extensions/601', { password: NASTY, displayName: NASTY })).status, 200);
  const page = await web.get('/extensions');
  assert.not.ok(page.text.includes('<script>window.pwned'), 'the script tag is not markup');
  assert.not.ok(page.text.includes('<img src=x'), 'the img tag is not markup');
  assert.ok(page.text.includes('&lt;script&gt;window.pwned=1&lt;/script&gt;'), 'shown as text');
  assert.ok(page.text.includes('Robert&#39;); DROP TABLE rooms;-- &quot;q&quot; \\ % _ &lt;b&gt;&amp;amp;'), 'metacharacters shown literally');
  const list = (await web.api('GET', '/api/extensions')).json as Array<any>;
  assert.is(list.find((e) => e.number === '600').displayName, xss);
  assert.is(list.find((e) => e.number === '601').displayName, NASTY);
  // The password with metacharacters works for the phone.
  const p = await phone('601', NASTY);
  assert.is((await p.register({ expires: 600 })).final.status, 200);

  assert.is((await web.api('POST', '/api/peers', { cidr: '10.9.8.0/24', description: NASTY })).status, 201);
  const peers = (await web.api('GET', '/api/peers')).json as Array<any>;
  assert.is(peers.find((x) => x.cidr === '10.9.8.0/24').description, NASTY);
  // Fields with strict rules reject metacharacters by name, quoting what was sent.
  errorOf(await web.api('POST', '/api/rooms', { id: "1; DROP TABLE rooms", pin: '1' }), 400, 'id', /not "1; DROP TABLE rooms"/);
  errorOf(await web.api('POST', '/api/rooms', { id: 40, pin: "1' OR '1'='1" }), 400, 'pin');
  const form = await web.post('/rooms', { id: '40', pin: "1' OR '1'='1" });
  assert.is(form.status, 400);
  assert.ok(form.text.includes('value="1&#39; OR &#39;1&#39;=&#39;1"'), 'the value comes back literally in the form');
  assert.ok(Array.isArray((await web.api('GET', '/api/rooms')).json), 'the rooms table is intact');
});

test('trusted peers: add, list, delete with the CIDR rules', async () => {
  errorOf(await web.api('POST', '/api/peers', { cidr: '10.0.0.300' }), 400, 'cidr');
  errorOf(await web.api('POST', '/api/peers', { cidr: '10.0.0.0/33' }), 400, 'cidr');
  const add = await web.api('POST', '/api/peers', { cidr: '192.168.7.10', description: 'PBX' });
  assert.is(add.status, 201);
  assert.is(add.json.cidr, '192.168.7.10/32');
  assert.ok(((await web.api('GET', '/api/peers')).json as Array<any>).some((p) => p.cidr === '192.168.7.10/32'));
  assert.is(add.json.transport, 'any', 'trusted over every transport unless restricted');
  assert.is((await web.api('DELETE', `/api/peers/${encodeURIComponent('192.168.7.10/32')}`)).status, 204);
  errorOf(await web.api('DELETE', `/api/peers/${encodeURIComponent('192.168.7.10/32')}`), 404, 'cidr');
  errorOf(await web.api('POST', '/api/peers', { cidr: '192.168.7.11', transport: 'udp' }), 400, 'transport', /any, tcp, tls/);
  const tls = await web.api('POST', '/api/peers', { cidr: '192.168.7.11', description: 'PBX over TLS', transport: 'tls' });
  assert.is(tls.status, 201);
  assert.is(((await web.api('GET', '/api/peers')).json as Array<any>).find((p) => p.cidr === '192.168.7.11/32')?.transport, 'tls');
  const form = await web.post('/peers', { cidr: '192.168.7.12', description: 'PBX over TCP', transport: 'tcp' });
  assert.ok(form.status < 400, `the form adds a peer restricted to TCP: ${form.status}`);
  const page = await web.get('/peers');
  assert.match(page.text, /192\.168\.7\.11\/32<\/code><\/td><td data-label="Description">PBX over TLS<\/td><td data-label="Trusted over">TLS only \(not UDP\)/);
  assert.match(page.text, /192\.168\.7\.12\/32<\/code><\/td><td data-label="Description">PBX over TCP<\/td><td data-label="Trusted over">TCP and TLS \(not UDP\)/);
  assert.match(page.text, /10\.9\.8\.0\/24<\/code><\/td><td data-label="Description">.*?<\/td><td data-label="Trusted over">UDP, TCP and TLS/s);
  for (const cidr of ['192.168.7.11/32', '192.168.7.12/32']) assert.is((await web.api('DELETE', `/api/peers/${encodeURIComponent(cidr)}`)).status, 204);
  const status = (await web.api('GET', '/api/status')).json;
  assert.is(status.trustedPeers, 1, 'the 10.9.8.0/24 peer of the previous test');
});

test('settings: read, change, reject a bad value by name without storing anything', async () => {
  const s = (await web.api('GET', '/api/settings')).json;
  assert.is(s.maxParticipants, 3);
  const changed = await web.api('PATCH', '/api/settings', { maxParticipants: 6, lockoutBlockMinutes: '30' });
  assert.is(changed.status, 200, changed.text);
  assert.equal([changed.json.maxParticipants, changed.json.lockoutBlockMinutes], [6, 30]);
  errorOf(await web.api('PATCH', '/api/settings', { maxParticipants: 4, lockoutFailures: 0 }), 400, 'lockoutFailures', /1 to 100/);
  errorOf(await web.api('PATCH', '/api/settings', { colour: 'red' }), 400, 'colour', /unknown setting "colour"/);
  errorOf(await web.api('PATCH', '/api/settings', { realm: 'has space' }), 400, 'realm');
  assert.is((await web.api('GET', '/api/settings')).json.maxParticipants, 6, 'the bad request stored nothing');
  const cli = await box.cli('settings', 'get', 'maxParticipants');
  assert.is(cli.stdout.trim(), '6', 'stored in the database');
  // The form says which field was wrong, beside it.
  const form = await web.post('/settings', { maxParticipants: '99' });
  assert.is(form.status, 400);
  assert.match(messageBeside(form.text, 'maxParticipants'), /from 2 to 32/);
  await web.api('PATCH', '/api/settings', { maxParticipants: 3, lockoutBlockMinutes: 15 });
});

test('blocked addresses: a phone guessing passwords is listed, and lifting the block lets it in again', async () => {
  await web.api('PUT', '/api/extensions/700', { password: 'right-700' });
  const attacker = await phone('700', 'wrong', '127.0.0.7');
  for (let i = 0; i < 5; i++) await attacker.register({ expires: 600 });
  const blocked = (await web.api('GET', '/api/blocked')).json as Array<any>;
  const b = blocked.find((x) => x.address === '127.0.0.7');
  assert.ok(b, JSON.stringify(blocked));
  assert.is(b.failures, 5);
  assert.equal([b.kind, b.label], ['address', '127.0.0.7']);
  const page = await web.get('/blocked');
  assert.match(page.text, /127\.0\.0\.7/);
  assert.is((await web.api('DELETE', '/api/blocked/127.0.0.7')).status, 204);
  errorOf(await web.api('DELETE', '/api/blocked/127.0.0.7'), 404, 'address');
  attacker.password = 'right-700';
  assert.is((await attacker.register({ expires: 600 })).final.status, 200);
});

test('status: health, LEDs, version and uptime', async () => {
  const s = (await web.api('GET', '/api/status')).json;
  assert.equal([s.ready, s.sip, s.database, s.media], [true, 'ok', 'ok', 'ok']);
  assert.equal(s.leds.power, { kind: 'on' });
  assert.equal(s.leds.sip, { kind: 'on' }, 'extensions are registered');
  // A loaded test machine can make the media thread miss ticks (fault code 2 for a minute): the LED follows the model.
  assert.is(s.leds.fault.kind === 'off', !s.mediaOverrun && !s.diskFull && s.database === 'ok', JSON.stringify(s));
  assert.match(s.version, /^\d+\.\d+\.\d+/);
  assert.ok(s.uptimeSeconds >= 0 && s.load.length === 3);
  const page = await web.get('/status');
  assert.match(page.text, /data-led="power"[^]*?class="led on"/);
  assert.match(page.text, new RegExp(`<code>${s.version.replace(/\./g, '\\.')}</code>`));
});

test('API tokens: made on the page, shown once, work without a session, stop working when revoked', async () => {
  errorOf(await web.request('POST', '/api/rooms', { json: {} , headers: { authorization: 'Bearer cbx_made_up' } }), 401, null, /not valid/);
  const made = await web.post('/settings/tokens', { label: 'monitoring' });
  assert.is(made.status, 303);
  const page = await web.get('/settings');
  const token = /<code class="token">([^<]+)<\/code>/.exec(page.text)?.[1];
  assert.ok(token, 'the new token is shown');
  assert.not.ok((await web.get('/settings')).text.includes(token), 'and only once');
  const script = new WebClient(base(), box.certificate());
  script.bearer = token;
  assert.is((await script.api('GET', '/api/rooms')).status, 200);
  const add = await script.request('POST', '/api/rooms', { json: { id: 50, pin: '5050' } });
  assert.is(add.status, 201, 'a token needs no CSRF header');
  const id = /action="\/settings\/tokens\/([0-9a-f]+)\/delete"/.exec(page.text)?.[1];
  assert.ok(id);
  assert.is((await web.post(`/settings/tokens/${id}/delete`, {})).status, 303);
  errorOf(await script.api('GET', '/api/rooms'), 401, null);
});

/** A live-update stream of a session; `ended` settles when the box closes it (or after ten seconds, as still open). */
async function liveStream(client: WebClient): Promise<{ ended: Promise<'closed' | 'still open'> }> {
  const ac = new AbortController();
  const res = await rawRequest(client.base + '/events', { headers: { cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }, ca: client.ca, signal: ac.signal });
  assert.is(res.statusCode, 200);
  const ended = (async () => {
    const timer = setTimeout(() => ac.abort(), 10_000);
    try {
      for await (const _ of res as AsyncIterable<Buffer>);
      return 'closed' as const;
    } catch {
      return 'still open' as const;
    } finally {
      clearTimeout(timer);
    }
  })();
  return { ended };
}

test('changing the password logs everyone out; logout ends the session', async () => {
  const wrong = await web.post('/settings/password', { current: 'nope', password: 'new-password-1', confirm: 'new-password-1' });
  assert.is(wrong.status, 403);
  assert.match(messageBeside(wrong.text, 'current'), /current password is wrong/);
  const other = new WebClient(base(), box.certificate());
  await other.login(ADMIN_PASSWORD);
  const othersView = await liveStream(other);
  const ok = await web.post('/settings/password', { current: ADMIN_PASSWORD, password: 'new-password-1', confirm: 'new-password-1' });
  assert.is(ok.status, 303);
  assert.is(ok.location, '/login');
  errorOf(await other.api('GET', '/api/rooms'), 401, null);
  assert.is(await othersView.ended, 'closed', 'the logged-out session\'s live view stops at once');
  assert.is((await web.login(ADMIN_PASSWORD)).status, 403);
  assert.is((await web.login('new-password-1')).status, 303);
  assert.is((await web.api('GET', '/api/rooms')).status, 200);
  const bystander = new WebClient(base(), box.certificate());
  await bystander.login('new-password-1');
  const [mine, theirs] = [await liveStream(web), await liveStream(bystander)];
  const out = await web.post('/logout', {});
  assert.is(out.status, 303);
  errorOf(await web.api('GET', '/api/rooms'), 401, null);
  assert.is(await mine.ended, 'closed', 'logout ends its live view');
  assert.is(await Promise.race([theirs.ended, new Promise((r) => setTimeout(() => r('open after logout'), 1000))]), 'open after logout', 'another session\'s stays');
  // The technician's command sets it too.
  const cli = await box.cli('admin', 'set-password', '--password', ADMIN_PASSWORD);
  assert.is(cli.code, 0, cli.stderr);
  assert.is((await web.login(ADMIN_PASSWORD)).status, 303);
});

test.run();
