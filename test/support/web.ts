// A script's or a browser's view of the box's web page over real HTTPS (or HTTP): cookies, forms, CSRF, JSON.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * One request with node:http(s), trusting `ca` (the box's certificate) over HTTPS; fetch() cannot be
 * given a CA. Bodies are not decompressed: no Accept-Encoding is sent unless the caller adds it.
 */
export function rawRequest(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; ca?: Buffer | null; localAddress?: string; signal?: AbortSignal } = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const rq = send(u, { method: opts.method ?? 'GET', headers: opts.headers, localAddress: opts.localAddress, signal: opts.signal, ...(opts.ca ? { ca: opts.ca } : {}) }, resolve);
    rq.on('error', reject);
    rq.end(opts.body);
  });
}

/** Reads a whole response body as text. */
export async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function toHeaders(res: IncomingMessage): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const one of v) h.append(k, one);
    else if (v !== undefined) h.set(k, v);
  }
  return h;
}

export interface WebResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, when the box sent JSON. */
  json: any;
  location: string | null;
}

export class WebClient {
  readonly cookies = new Map<string, string>();
  /** The session's CSRF token, read from the last page's meta tag. */
  csrf = '';
  bearer: string | null = null;

  /** base: the page's URL (https://127.0.0.1:PORT); ca: the certificate to trust for it. */
  constructor(readonly base: string, readonly ca: Buffer | null = null) {}

  async request(method: string, path: string, opts: { form?: Record<string, string>; json?: unknown; body?: string | Buffer; headers?: Record<string, string>; csrfHeader?: boolean } = {}): Promise<WebResponse> {
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (this.bearer) headers.authorization = `Bearer ${this.bearer}`;
    if (opts.csrfHeader && this.csrf) headers['x-csrf-token'] = this.csrf;
    let body: string | Buffer | undefined = opts.body;
    if (opts.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(opts.form).toString();
    } else if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.json);
    }
    const raw = await rawRequest(this.base + path, { method, headers, body, ca: this.ca });
    const text = await readBody(raw);
    const res = { status: raw.statusCode ?? 0, headers: toHeaders(raw) };
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const name = pair!.slice(0, i);
      const value = pair!.slice(i + 1);
      if (/Max-Age=0/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const meta = /<meta name="csrf-token" content="([^"]+)"/.exec(text);
    if (meta) this.csrf = meta[1]!;
    let json: unknown = null;
    if ((res.headers.get('content-type') ?? '').startsWith('application/json') && text) json = JSON.parse(text);
    return { status: res.status, headers: res.headers, text, json, location: res.headers.get('location') };
  }

  get(path: string): Promise<WebResponse> {
    return this.request('GET', path);
  }

  /** The hidden _csrf field of the first form on a page (login and first-use pages, before a session). */
  static formToken(page: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(page);
    if (!m) throw new Error('no _csrf field on the page');
    return m[1]!;
  }

  /** Sends a form as the page would: with the session's token. */
  post(path: string, form: Record<string, string>, withCsrf = true): Promise<WebResponse> {
    return this.request('POST', path, { form: withCsrf ? { _csrf: this.csrf, ...form } : form });
  }

  /** API call with the browser session (CSRF header) or, when set, the bearer token. */
  api(method: string, path: string, json?: unknown): Promise<WebResponse> {
    return this.request(method, path, { json, csrfHeader: true });
  }

  /** First use: sets the admin password with the box's setup code (see setupCodeOf) and keeps the session it opens. */
  async setup(password: string, code: string): Promise<WebResponse> {
    const page = await this.get('/setup');
    return this.request('POST', '/setup', { form: { _csrf: WebClient.formToken(page.text), code, password, confirm: password } });
  }

  async login(password: string): Promise<WebResponse> {
    const page = await this.get('/login');
    const r = await this.request('POST', '/login', { form: { _csrf: WebClient.formToken(page.text), password } });
    if (r.status === 303) await this.get('/rooms');
    return r;
  }
}

/** The one-time code a fresh box asks for on first use: what first boot or the box wrote into its data directory. */
export function setupCodeOf(dataDir: string): string {
  return readFileSync(join(dataDir, 'setup-code'), 'utf8').trim();
}

/** The server-sent events of a response as they arrive: each event's name (`message` without one), its id and its JSON data. */
export async function* serverSentEvents(res: AsyncIterable<Uint8Array>): AsyncGenerator<{ event: string; id: number | null; data: any }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (!data) continue;
      const id = /^id: (\d+)$/m.exec(block)?.[1];
      yield { event: /^event: (.*)$/m.exec(block)?.[1] ?? 'message', id: id === undefined ? null : Number(id), data: JSON.parse(data) };
    }
  }
}

/**
 * First use of a fresh box's page: the admin password set with the box's setup code, the session kept and a page
 * loaded, so that the client has its CSRF token for forms and API calls.
 */
export async function firstAdmin(box: { webUrl: string; dataDir: string; certificate(): Buffer }, password: string): Promise<WebClient> {
  const web = new WebClient(box.webUrl, box.certificate());
  const r = await web.setup(password, setupCodeOf(box.dataDir));
  if (r.status !== 303) throw new Error(`first use of the web page answered ${r.status}: ${r.text.slice(0, 300)}`);
  await web.get('/rooms');
  return web;
}

/** Reads server-sent events (of /events, or /events?parts=… for some parts only) until `until` accepts one or the time runs out. */
export async function readEvents(client: WebClient, until: (event: { event: string; data: any }) => boolean, timeoutMs = 10_000, path = '/events'): Promise<{ event: string; data: any }> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    const res = await rawRequest(client.base + path, { headers: { cookie: [...client.cookies].map(([k, v]) => `${k}=${v}`).join('; ') }, ca: client.ca, signal: ac.signal });
    if (res.statusCode !== 200) throw new Error(`${path} answered ${res.statusCode}`);
    for await (const e of serverSentEvents(res as AsyncIterable<Uint8Array>)) if (until(e)) return e;
    throw new Error('the event stream ended');
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}
