// The web server's answers to requests it cannot serve as asked (what the web-request fuzz target found): each is a
// whole answer with a 4xx status that says why, and nothing is logged as a failure of the box.
import { request, type IncomingHttpHeaders } from 'node:http';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { API_TOKEN, startWebBox, type WebBox } from '../support/web-box.ts';

let box: WebBox;

test.before.each(async () => {
  box = await startWebBox();
});

test.after.each(async () => {
  await box.stop();
});

/** Sends a request with the path as given (not normalised); resolves with the whole answer, or rejects after 3 s. */
function send(method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const rq = request({ host: '127.0.0.1', port: box.port, method, path, headers: { host: '127.0.0.1', ...headers }, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    rq.on('timeout', () => rq.destroy(new Error(`no whole answer to ${method} ${path} within 3 s`)));
    rq.on('error', reject);
    rq.end();
  });
}

const errorsLogged = () => box.logs.filter((r) => r.level === 'error');

test('a method a page does not take is a 405 page, also for a visitor who is not logged in', async () => {
  const stranger = await send('PUT', '/rooms');
  assert.is(stranger.status, 405);
  assert.match(stranger.body, 'PUT is not allowed here.');
  assert.is(stranger.headers.allow, 'GET, POST', 'the answer names the methods the page takes');
  assert.not.match(stranger.body, 'Log out', 'the page is not the logged-in one');
  const admin = await send('PUT', '/rooms', { cookie: `confbox_session=${box.session.id}` });
  assert.is(admin.status, 405);
  assert.match(admin.body, 'Log out');
  assert.equal(errorsLogged(), []);
});

test('an address whose host part cannot be read (//%ZZ/…) is a 400 that names it', async () => {
  for (const path of ['//%ZZ/rooms', '//[::1/api/rooms']) {
    const r = await send('GET', path, { cookie: `confbox_session=${box.session.id}` });
    assert.is(r.status, 400, path);
    assert.match(r.body, 'is not an address on this box');
  }
  assert.equal(errorsLogged(), []);
});

test('HEAD of the live view and of the event API is answered with the stream\'s headers, and ends', async () => {
  const page = await send('HEAD', '/events?parts=live', { cookie: `confbox_session=${box.session.id}` });
  assert.is(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/event-stream/);
  const api = await send('HEAD', '/api/events', { authorization: `Bearer ${API_TOKEN}` });
  assert.is(api.status, 200);
  assert.match(String(api.headers['content-type']), /^text\/event-stream/);
  const stream = await new Promise<string>((resolve, reject) => {
    const rq = request({ host: '127.0.0.1', port: box.port, path: '/events', headers: { host: '127.0.0.1', cookie: `confbox_session=${box.session.id}` } }, (res) => {
      res.setEncoding('utf8').once('data', (d: string) => {
        resolve(d);
        rq.destroy();
      });
    });
    rq.on('error', reject);
    rq.end();
  });
  assert.match(stream, /^retry: 2000\n\nevent: snapshot\n/, 'GET still gets the stream');
});

test('a page asked while the database is away is a 503 that says so, logged as a warning and not as a failure', async () => {
  box.store.reachable = false;
  const r = await send('GET', '/extensions', { cookie: `confbox_session=${box.session.id}` });
  assert.is(r.status, 503);
  assert.match(r.body, '<title>Not available right now');
  assert.match(r.body, 'cannot reach its database right now. Conferences go on');
  assert.equal(errorsLogged(), []);
  assert.ok(box.logs.some((l) => l.level === 'warn' && String(l.msg).includes('database is unreachable')), 'the log says why');
  const settings = await send('GET', '/settings', { cookie: `confbox_session=${box.session.id}` });
  assert.is(settings.status, 200, 'Settings opens: its Database section is where a wrong database is undone');
  assert.match(settings.body, 'The tokens cannot be listed while the box cannot reach its database.');
  box.store.reachable = true;
});

test.run();
