// The fuzz target of the web page and JSON API: one request, as a browser or a script sends it, to a box started for
// it (test/support/web-box.ts: the real WebServer over an in-memory store), over a loopback connection. It reaches the
// router, the login and CSRF checks, the form, JSON and multipart decoding and every page and API route behind them.
//
// An input is the request's head (request line and headers), a blank line, and its body. Before it is sent:
// - {session}, {csrf}, {token}, {password} and {setup-code} become the box's logged-in session, that session's CSRF
//   token, an API token, the administrator's password (URL-encoded) and the first-use setup code;
// - its Content-Length, Transfer-Encoding and Connection headers are replaced by the body's length and
//   "Connection: close", so that the box sees exactly one whole request and closes the connection once it answered.
// A first line "@first-use" starts a box without an administrator password; "@database-down" takes its database away
// just before the request (both may be named: "@first-use database-down").
// The requests that make the box connect to a database server the request names (Test connection and Save of the
// Database setting, on the page and in the API) are not sent: a fuzzer must not reach out of the machine.
import { connect } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import { gunzipSync } from 'node:zlib';
import type { WebBox } from '../support/web-box.ts';
import { check, FuzzFinding, type FuzzTarget } from './coverage-fuzzer.ts';

/** How long the box may take to answer a request completely (a login runs scrypt on a busy machine). */
const ANSWER_MS = 5000;
/** How long an event stream may take to send its first event. */
const FIRST_EVENT_MS = 2000;
const MAX_ANSWER_BYTES = 1024 * 1024;
/** More than this much heap taken while one request of at most 8 KB is answered is a leak or a blow-up. */
const MAX_HEAP_GROWTH = 64 * 1024 * 1024;
/** The one script every page loads; any other <script in a page came from somewhere else. */
const OWN_SCRIPT = '<script src="/assets/app.js" defer></script>';

/** Routes that connect to a database server named in the request (store/probe.ts). */
const REACHING_OUT = new Set(['POST /settings/database/test', 'POST /settings/database/save', 'POST /api/database/test', 'PUT /api/database']);

interface Conditions {
  firstUse: boolean;
  databaseDown: boolean;
}

/** The box's condition line, if the input starts with one, and the request after it. */
function readConditions(input: Buffer): { conditions: Conditions; request: Buffer } {
  const conditions = { firstUse: false, databaseDown: false };
  if (input[0] !== 0x40 /* @ */) return { conditions, request: input };
  const nl = input.indexOf(0x0a);
  const words = input.subarray(1, nl < 0 ? input.length : nl).toString('latin1').split(/\s+/);
  conditions.firstUse = words.includes('first-use');
  conditions.databaseDown = words.includes('database-down');
  return { conditions, request: nl < 0 ? Buffer.alloc(0) : input.subarray(nl + 1) };
}

/**
 * "METHOD path" of a request as the box's router would see it, if it has one: Node reads the method and the target
 * from the request line's first two words (the version may be missing, as in HTTP/0.9), the router the target's path.
 */
function routeOf(head: string): string | null {
  const [method, target] = head.replace(/^(?:\r?\n)+/, '').split('\r\n', 1)[0]!.split(/ +/);
  if (target === undefined) return null;
  try {
    return `${method} ${new URL(target, 'http://box').pathname}`;
  } catch {
    return null;
  }
}

const FRAMING_HEADER = /^(?:content-length|transfer-encoding|connection)[ \t]*:/i;

/** The bytes sent: the placeholders filled in, the request framed as one whole request on a connection that closes. */
function wireRequest(request: Buffer, box: WebBox): { bytes: Buffer; route: string | null } {
  const fill = (text: string) => text
    .replaceAll('{session}', box.session.id).replaceAll('{csrf}', box.session.csrf).replaceAll('{token}', box.apiToken)
    .replaceAll('{password}', encodeURIComponent(box.password ?? '')).replaceAll('{setup-code}', box.setupCode ?? '');
  const split = request.indexOf('\r\n\r\n');
  const head = fill(request.subarray(0, split < 0 ? request.length : split).toString('latin1'));
  const body = Buffer.from(fill(split < 0 ? '' : request.subarray(split + 4).toString('latin1')), 'latin1');
  const lines = head.split('\r\n').filter((l) => !FRAMING_HEADER.test(l));
  lines.push(`Content-Length: ${body.length}`, 'Connection: close');
  return { bytes: Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), body]), route: routeOf(head) };
}

interface Answer {
  status: number;
  headers: Map<string, string>;
  /** Decoded: chunks joined, gzip inflated. */
  body: Buffer;
  /** An event stream, read up to its first event and then closed by the client. */
  stream: boolean;
}

/** A chunked body decoded as far as it has arrived. */
function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) break;
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0 || eol + 2 + size > data.length) break;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/** The final answer in what the connection received (an interim 100 Continue skipped), once its head is whole. */
function readAnswer(received: Buffer): Omit<Answer, 'stream'> | null {
  let at = 0;
  for (;;) {
    const end = received.indexOf('\r\n\r\n', at);
    if (end < 0) return null;
    const lines = received.subarray(at, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3}) /.exec(lines[0]!);
    if (!m) throw new FuzzFinding(`the answer does not start with a status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    const status = Number(m[1]);
    if (status >= 100 && status < 200) {
      at = end + 4;
      continue;
    }
    const headers = new Map<string, string>();
    for (const l of lines.slice(1)) {
      const colon = l.indexOf(':');
      headers.set(l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim());
    }
    const raw = received.subarray(end + 4);
    return { status, headers, body: headers.get('transfer-encoding') === 'chunked' ? dechunk(raw) : raw };
  }
}

/**
 * Sends the request on a new connection and reads the answer until the box closes it; an answer to HEAD ends with its
 * head, an event stream with its first event.
 */
function exchange(port: number, bytes: Buffer, head: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: Error | null, answer?: Answer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(answer!);
    };
    const timer = setTimeout(() => {
      const got = readAnswer(Buffer.concat(chunks));
      finish(new FuzzFinding(got ? `the ${got.status} answer was not finished within ${ANSWER_MS} ms` : `no answer within ${ANSWER_MS} ms`));
    }, ANSWER_MS);
    let streamSince = 0;
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (size > MAX_ANSWER_BYTES) return finish(new FuzzFinding(`an answer of more than ${MAX_ANSWER_BYTES} bytes`));
      let got: ReturnType<typeof readAnswer>;
      try {
        got = readAnswer(Buffer.concat(chunks));
      } catch (e) {
        return finish(e as Error);
      }
      if (got && head) return finish(null, { ...got, stream: false });
      if (!got || !/^text\/event-stream\b/.test(got.headers.get('content-type') ?? '')) return;
      streamSince ||= Date.now();
      const events = got.body.toString('utf8').split('\n\n');
      // "retry:" first, then the first event; the stream stays open by design, so the client ends it there.
      if (events.length > 2 || Date.now() - streamSince > FIRST_EVENT_MS) finish(null, { ...got, stream: true });
    });
    socket.on('error', (e) => finish(new FuzzFinding(`the connection failed: ${e.message}`)));
    socket.on('close', () => {
      let got: ReturnType<typeof readAnswer>;
      try {
        got = readAnswer(Buffer.concat(chunks));
      } catch (e) {
        return finish(e as Error);
      }
      if (!got) return finish(new FuzzFinding(size ? 'the connection closed inside the answer\'s head' : 'the connection closed without an answer'));
      finish(null, { ...got, stream: false });
    });
    socket.write(bytes);
  });
}

/** Each tag's name and attributes, read as a browser's tokenizer reads them (quoted values may hold > and spaces). */
function* tags(markup: string): Generator<{ name: string; attributes: Array<[string, string]> }> {
  const tag = /<([A-Za-z][^\s/>]*)/g;
  const gap = /[\s/]*/y;
  const space = /\s*/y;
  const name = /[^\s/>][^\s/>=]*/y;
  const quoted = /"([^"]*)"?|'([^']*)'?|([^\s>]*)/y;
  const skip = (re: RegExp, at: number) => {
    re.lastIndex = at;
    return at + re.exec(markup)![0].length;
  };
  for (let m = tag.exec(markup); m; m = tag.exec(markup)) {
    const attributes: Array<[string, string]> = [];
    let at = m.index + m[0].length;
    for (;;) {
      at = skip(gap, at);
      if (at >= markup.length || markup[at] === '>') break;
      name.lastIndex = at;
      const attribute = name.exec(markup)![0];
      at = skip(space, at + attribute.length);
      let value = '';
      if (markup[at] === '=') {
        quoted.lastIndex = skip(space, at + 1);
        const v = quoted.exec(markup)!;
        value = v[1] ?? v[2] ?? v[3] ?? '';
        at = quoted.lastIndex;
      }
      attributes.push([attribute.toLowerCase(), value]);
    }
    tag.lastIndex = at;
    yield { name: m[1]!.toLowerCase(), attributes };
  }
}

/** Markup the box sends to a browser (a page, or a fragment its script puts in a page) runs nothing it was sent. */
function checkMarkup(markup: string, where: string): void {
  for (const m of markup.matchAll(/<script/gi)) {
    check(markup.startsWith(OWN_SCRIPT, m.index), `${where} holds a <script that is not the page's own: ${JSON.stringify(markup.slice(m.index, m.index + 80))}`);
  }
  for (const t of tags(markup)) {
    for (const [name, value] of t.attributes) {
      check(!name.startsWith('on'), `${where} has an event handler attribute: <${t.name} ${name}=${JSON.stringify(value.slice(0, 60))}>`);
      if (['href', 'src', 'action', 'formaction'].includes(name)) check(!/^\s*javascript:/i.test(value), `${where} has a javascript: URL in <${t.name} ${name}>`);
    }
  }
}

/** The text values of an event stream's first event: the live view's snapshot holds markup its script puts into the page. */
function checkStreamMarkup(body: string): void {
  const data = /^data: (.*)$/m.exec(body)?.[1];
  if (data === undefined) return;
  let event: unknown;
  try {
    event = JSON.parse(data);
  } catch {
    throw new FuzzFinding(`an event's data is not JSON: ${data.slice(0, 80)}`);
  }
  for (const [part, value] of Object.entries(event as Record<string, unknown>)) {
    if (typeof value === 'string') checkMarkup(value, `the "${part}" of an event stream's first event`);
  }
}

/** What the box logged at error level while it answered, in short, for a finding's message. */
function loggedError(box: WebBox): string | null {
  const failure = box.logs.find((r) => r.level === 'error');
  return failure ? JSON.stringify(failure).slice(0, 800) : null;
}

function checkAnswer(answer: Answer, conditions: Conditions, logged: string | null): void {
  const { status, headers } = answer;
  const type = headers.get('content-type') ?? '';
  let body = answer.body;
  if (headers.get('content-encoding') === 'gzip' && !answer.stream && body.length) {
    try {
      body = gunzipSync(body);
    } catch {
      throw new FuzzFinding(`a ${status} answer says gzip but does not inflate`);
    }
  }
  const text = body.toString('utf8');
  if (status >= 500) {
    // 503 is the box's word for "not now": its database is away, or (on a machine without RAUC) updates are unavailable.
    const deliberate = status === 503 && (conditions.databaseDown || /"code":"updates-unavailable"/.test(text));
    check(deliberate, `a ${status} answer: ${text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').slice(0, 300)}${logged ? `; the box logged ${logged}` : ''}`);
  }
  if (status >= 300 && status < 400 && headers.has('location')) {
    check(/^\/(?![/\\])/.test(headers.get('location')!), `a redirect leaves the box: ${headers.get('location')}`);
  }
  if (body.length) {
    check(type !== '', `a ${status} answer with a body has no Content-Type`);
    check(headers.get('x-content-type-options') === 'nosniff', `a ${status} ${type} answer lacks X-Content-Type-Options: nosniff`);
  }
  if (/^text\/html\b/.test(type)) {
    check(headers.has('content-security-policy'), `a ${status} page without its Content-Security-Policy`);
    checkMarkup(text, `a ${status} page`);
  }
  if (answer.stream) checkStreamMarkup(text);
}

/** Errors that escaped the box's own handling (a request handler's promise that nobody awaited) since the last input. */
const escaped: unknown[] = [];
/** The web side of the box is loaded with the first input, not by every target's worker that lists the targets. */
let webBox: Promise<typeof import('../support/web-box.ts')> | null = null;

async function run(input: Buffer): Promise<void> {
  if (!webBox) {
    process.on('unhandledRejection', (e) => escaped.push(e));
    webBox = import('../support/web-box.ts');
  }
  const { conditions, request } = readConditions(input);
  const box = await (await webBox).startWebBox({ firstUse: conditions.firstUse });
  try {
    const { bytes, route } = wireRequest(request, box);
    if (route !== null && REACHING_OUT.has(route)) return;
    if (conditions.databaseDown) box.store.reachable = false;
    const heapBefore = getHeapStatistics().used_heap_size;
    const answer = await exchange(box.port, bytes, route?.startsWith('HEAD ') === true);
    check(getHeapStatistics().used_heap_size - heapBefore < MAX_HEAP_GROWTH, `more than ${MAX_HEAP_GROWTH / 1048576} MB of heap taken by one request`);
    // What the box does after answering (a handler's last await) comes to light on the next turn.
    await new Promise((resolve) => setImmediate(resolve));
    if (escaped.length) {
      const e = escaped.splice(0)[0] as Error;
      throw new FuzzFinding(`an error escaped the request's handling: ${e?.stack ?? String(e)}`);
    }
    const logged = loggedError(box);
    checkAnswer(answer, conditions, logged);
    // Away from its database the box logs that as an error; otherwise an error logged is a request it could not handle.
    if (logged && !conditions.databaseDown) throw new FuzzFinding(`the box logged an error: ${logged}`);
  } finally {
    await box.stop();
  }
}

const WORDS = [
  '\r\n', '\r\n\r\n', 'GET ', 'POST ', 'PUT ', 'PATCH ', 'DELETE ', 'HEAD ', 'OPTIONS ', ' HTTP/1.1', ' HTTP/1.0', 'Host: 127.0.0.1', 'Host: localhost:8080',
  'Cookie: confbox_session={session}', 'Cookie: confbox_form=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'Authorization: Bearer {token}', 'X-CSRF-Token: {csrf}',
  'Content-Type: application/json', 'Content-Type: application/x-www-form-urlencoded', 'Content-Type: multipart/form-data; boundary=XyZ',
  'Content-Type: application/octet-stream', 'Accept-Encoding: gzip', 'Range: bytes=', 'If-None-Match: ', 'Expect: 100-continue',
  '_csrf={csrf}', '&', '=', '%', '%00', '%ZZ', '%2e%2e/', '/..', '//', '\\', '?', '#', ';', '+',
  '/rooms', '/rooms/2/edit', '/rooms/2/delete', '/live', '/live/2-1/end', '/extensions', '/extensions/201', '/peers', '/peers/delete', '/settings', '/settings/password',
  '/settings/tokens', '/settings/tokens/a1b2c3d4e5f6/delete', '/settings/backup', '/settings/restore', '/settings/database/embedded', '/blocked', '/blocked/lift',
  '/calls', '/calls.csv', '/recordings', '/recordings/room-2-20261201-093000.wav', '/status', '/events?parts=', '/login', '/setup', '/logout',
  '/api/rooms', '/api/rooms/2', '/api/conferences', '/api/extensions/201', '/api/peers', '/api/settings', '/api/database', '/api/blocked', '/api/status',
  '/api/recordings', '/api/backup', '/api/restore', '/api/cluster', '/api/update', '/api/call-log', '/api/events', '/assets/app.js', '/assets/style.css',
  'id=', 'pin=', 'moderatorPin=', 'duration=', 'creator=', 'maxParticipants=', 'keep=yes', 'record=yes', 'waitForModerator=yes', 'moderatorLeaves=end',
  'number=', 'displayName=', 'password=', 'cidr=', 'description=', 'transport=tls', 'outboundPort=', 'label=', 'address=', 'confirm=yes', 'passphrase=',
  'realm=', 'webHostNames=', 'from=', 'to=', 'current={password}', 'code={setup-code}',
  '{"id":', '"pin":', '"keep":true', '"muted":true', 'null', 'true', '[]', '{}', '"', '\\u0000', '\\ud800',
  '<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', '" autofocus onfocus="alert(1)', "' onfocus='alert(1)", 'javascript:alert(1)', '</textarea><script>', '&lt;',
  '@database-down\n', '@first-use\n',
];

export const WEB_REQUEST: FuzzTarget = {
  name: 'web-request',
  about: 'a request to the web page and API (WebServer over an in-memory store, on a loopback connection): every answer is a whole, valid HTTP answer within 5 s; no 5xx but the deliberate 503; no error escapes or is logged; no markup sent to a browser runs a script it was sent',
  // Its seeds are requests the page and scripts send, kept in test/fuzz/corpus/web-request/.
  seeds: () => [],
  dictionary: WORDS,
  run,
};
