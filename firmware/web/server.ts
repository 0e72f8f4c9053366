import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { suggestRoom, type Settings } from '../conference/index.ts';
import { BoxError, StoreUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import { AdminAuth, type Session } from './auth.ts';
import type { HostNames } from './host-names.ts';
import type { Html } from './html.ts';
import type { Actor, Operations } from './operations.ts';
import { redirectToHttps } from './https-redirect.ts';
import { IntegrationEvents } from './integration-events.ts';
import { LiveUpdates, parseLiveParts } from './live-updates.ts';
import * as pages from './pages.ts';
import { DATABASE_FIELDS, type DatabaseTestView } from './database-page.ts';
import { defineApiRoutes, FileReply } from './api-routes.ts';
import { defineRecordsRoutes } from './records-routes.ts';
import { readRequestBody, type Form } from './request-body.ts';

declare const CONFBOX_WEB_ASSETS: { js: string; css: string } | undefined;

const SESSION_COOKIE = 'confbox_session';
/** Before login, forms carry a token that must match this cookie (double submit). */
const PRE_COOKIE = 'confbox_form';

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

interface Asset {
  body: Buffer;
  gzip: Buffer;
  type: string;
  etag: string;
}

/** Bodies smaller than this are sent as they are: compressing them saves less than its headers cost. */
const COMPRESS_MIN = 1024;

function acceptsGzip(rq: IncomingMessage): boolean {
  return /\bgzip\b/.test(String(rq.headers['accept-encoding'] ?? ''));
}

/** The stylesheet and script: bundled into the firmware by the build, read from the source tree otherwise. */
function loadAssets(): Record<string, Asset> {
  let js: string;
  let css: string;
  if (typeof CONFBOX_WEB_ASSETS === 'object' && CONFBOX_WEB_ASSETS) {
    ({ js, css } = CONFBOX_WEB_ASSETS);
  } else {
    const dir = fileURLToPath(new URL('./assets/', import.meta.url));
    js = readFileSync(dir + 'app.js', 'utf8');
    css = readFileSync(dir + 'style.css', 'utf8');
  }
  const asset = (text: string, type: string): Asset => {
    const body = Buffer.from(text);
    return { body, gzip: gzipSync(body, { level: 9 }), type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` };
  };
  return { '/assets/app.js': asset(js, 'text/javascript; charset=utf-8'), '/assets/style.css': asset(css, 'text/css; charset=utf-8') };
}

export interface WebServerOptions {
  /** Plain HTTP (--http-port): with TLS it redirects to HTTPS while httpRedirect() says so. */
  port: number;
  bind: string;
  /** PEM certificate and key: the page is served over HTTPS on httpsPort. */
  tls?: { cert: Buffer; key: Buffer } | null;
  httpsPort?: number;
  /** Read for every plain HTTP request (the setting httpRedirect): true sends the browser to HTTPS. */
  httpRedirect?: () => boolean;
  ops: Operations;
  auth: AdminAuth;
  log: Logger;
  /** Fires when conferences, registrations, failed attempts or the status change, for the live view. */
  onChange(listener: () => void): void;
  /** The names requests may carry in Host; others are refused with 421. */
  hostNames: HostNames;
}

/** What an unanswered invitation says on the page. */
const INVITE_FAILURES: Record<string, string> = {
  busy: 'the line is busy', declined: 'the call was declined', 'no-answer': 'nobody answered within 30 seconds', unreachable: 'it has no registered phone, or the phone cannot be reached',
};

export interface Req {
  raw: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  cookies: Record<string, string>;
  session: Session | null;
  /** Authenticated by a bearer token (scripts), not a browser session. */
  bearer: boolean;
  address: string;
  secure: boolean;
  /** Gives the request body longer than REQUEST_BODY_MS to arrive (a firmware upload, after the caller is known). */
  allowBody(ms: number): void;
}

/** How long a request's body may take to arrive whole (what keeps a slow sender from holding connections). */
const REQUEST_BODY_MS = 30_000;

export type Handler = (rq: Req, params: string[]) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

/** A flash message and the form sent back, kept in the session across one redirect. */
interface SessionExtras {
  notice?: string;
  /** The id of what the notice is about (a table row, a button), focused when the page loads. */
  focus?: string;
  newToken?: string;
}

/** What a form's action reports: a notice, optionally with the element it changed; null for nothing to say. */
export type Outcome = string | { notice: string; focus: string } | null;

/**
 * The box's web page and JSON API on node:http. Pages are rendered on the server and work without
 * JavaScript; the script only adds the live view (server-sent events) and inline validation.
 */
export class WebServer {
  private server: Server | null = null;
  private tlsServer: Server | null = null;
  private readonly routes: Route[] = [];
  private readonly assets = loadAssets();
  private readonly live: LiveUpdates;
  /** `GET /api/events`: what happens in the conferences, for scripts. */
  private readonly integration: IntegrationEvents;
  private readonly extras = new WeakMap<Session, SessionExtras>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly o: WebServerOptions) {
    this.live = new LiveUpdates({ ops: o.ops, onChange: o.onChange, alive: (id) => o.auth.alive(id), headers: SECURITY_HEADERS });
    this.integration = new IntegrationEvents({ ops: o.ops, onChange: o.onChange, headers: SECURITY_HEADERS });
    this.definePages();
    this.defineApi();
    o.auth.onSessionsEnded = (ids) => this.live.end(ids);
  }

  /** The plain HTTP port. */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : this.o.port;
  }

  /** The HTTPS port, or null without TLS. */
  get httpsPort(): number | null {
    if (!this.o.tls) return null;
    const a = this.tlsServer?.address();
    return a && typeof a === 'object' ? a.port : this.o.httpsPort ?? null;
  }

  async start(): Promise<void> {
    // The body's deadline is the box's own (REQUEST_BODY_MS, longer for an upload), not Node's requestTimeout.
    const options = { requestTimeout: 0, headersTimeout: 10_000, keepAliveTimeout: 5_000 };
    const onRequest = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    const tls = this.o.tls;
    if (tls) {
      const onPlain = (req: IncomingMessage, res: ServerResponse) => {
        if (!this.o.hostNames.allows(req.headers.host)) this.misdirected(req, res);
        else if (this.o.httpRedirect?.() ?? true) redirectToHttps(req, res, this.httpsPort ?? 443);
        else void this.handle(req, res);
      };
      this.tlsServer = await this.listen(createHttpsServer({ ...options, cert: tls.cert, key: tls.key }, onRequest), this.o.httpsPort ?? 8443, '--https-port', 'secureConnection');
      try {
        this.server = await this.listen(createServer(options, onPlain), this.o.port, '--http-port', 'connection');
      } catch (e) {
        this.tlsServer.close();
        this.tlsServer = null;
        throw e;
      }
    } else {
      this.server = await this.listen(createServer(options, onRequest), this.o.port, '--http-port', 'connection');
    }
    this.live.start();
    this.integration.start();
  }

  private async listen(server: Server, port: number, option: string, connectionEvent: 'connection' | 'secureConnection'): Promise<Server> {
    server.on(connectionEvent, (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    server.on('clientError', (err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      this.o.log.debug('bad HTTP request', { err: (err as Error).message });
    });
    // A TLS handshake that fails (a browser refusing the certificate, a port scan) is no server fault.
    server.on('tlsClientError', (err: Error) => this.o.log.debug('TLS handshake failed', { err: err.message }));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.o.bind, () => {
        server.off('error', reject);
        server.on('error', (e) => this.o.log.error('web server error', { err: e }));
        resolve();
      });
    }).catch((e: NodeJS.ErrnoException) => {
      throw new Error(e.code === 'EADDRINUSE' ? `web page port ${port} is already in use (${option})` : `web page ${option} ${port}: ${e.message}`, { cause: e });
    });
    return server;
  }

  async stop(): Promise<void> {
    this.live.stop();
    this.integration.stop();
    const servers = [this.server, this.tlsServer].filter((s): s is Server => s !== null);
    this.server = null;
    this.tlsServer = null;
    const closed = Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // --- plumbing ---

  private route(method: string, path: string, handler: Handler): void {
    const pattern = new RegExp('^' + path.replace(/:[a-z]+/g, '([^/]+)') + '$');
    this.routes.push({ method, pattern, handler });
  }

  private async handle(raw: IncomingMessage, res: ServerResponse): Promise<void> {
    let rq: Req | null = null;
    if (!this.o.hostNames.allows(raw.headers.host)) return this.misdirected(raw, res);
    try {
      const url = requestUrl(raw.url);
      const cookies = parseCookies(raw.headers.cookie);
      const secure = (raw.socket as { encrypted?: boolean }).encrypted === true;
      const body = bodyDeadline(raw);
      rq = {
        raw, res, method: raw.method ?? 'GET', path: url.pathname, query: url.searchParams, cookies,
        session: this.o.auth.session(cookies[SESSION_COOKIE]), bearer: false,
        address: raw.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '', secure, allowBody: body.allow,
      };
      const asset = this.assets[rq.path];
      if (asset && (rq.method === 'GET' || rq.method === 'HEAD')) return this.sendAsset(rq, asset);
      const allowed: string[] = [];
      for (const r of this.routes) {
        const m = r.pattern.exec(rq.path);
        if (!m) continue;
        const method = rq.method === 'HEAD' ? 'GET' : rq.method;
        if (r.method !== method) {
          allowed.push(r.method);
          continue;
        }
        const params = m.slice(1).map(decodePart);
        return await r.handler(rq, params);
      }
      if (allowed.length) {
        if (rq.path.startsWith('/api/')) return this.json(rq, 405, { error: { code: 'method-not-allowed', message: `${rq.method} is not allowed here; use ${allowed.join(' or ')}`, field: null } }, { allow: allowed.join(', ') });
        return this.page(rq, 405, pages.errorPage(405, `${rq.method} is not allowed here.`, rq.session ? this.pageContext(rq) : null), { allow: allowed.join(', ') });
      }
      if (rq.path.startsWith('/api/')) return this.apiError(rq, new BoxError(404, `no API endpoint ${rq.method} ${rq.path}`, undefined, 'not-found'));
      return this.page(rq, 404, pages.errorPage(404, 'There is no such page on this box.', rq.session ? this.pageContext(rq) : null));
    } catch (e) {
      if (rq && rq.path.startsWith('/api/')) return this.apiError(rq, e);
      if (e instanceof BoxError && !res.headersSent) {
        res.writeHead(e.httpStatus, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
        res.end(pages.errorPage(e.httpStatus, e.message, null).text);
        return;
      }
      // The database being away is said on the Status page and by the fault LED already; it is no failure of the page.
      if (e instanceof StoreUnavailable) this.o.log.warn('web request answered 503: the database is unreachable', { path: rq?.path });
      else this.o.log.error('web request failed', { err: e, path: rq?.path });
      if (!res.headersSent) {
        const status = e instanceof StoreUnavailable ? 503 : 500;
        const message = status === 503 ? 'The box cannot reach its database right now. Conferences go on; try again in a moment.' : 'The box could not do that. The details are in its log.';
        res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
        res.end(pages.errorPage(status, message, null).text);
      } else res.end();
    }
  }

  /** A request for another name (DNS rebinding, a stray proxy) gets nothing but this. */
  private misdirected(raw: IncomingMessage, res: ServerResponse): void {
    const host = String(raw.headers.host ?? '').slice(0, 64);
    if (this.misdirectedLogged++ < 20) this.o.log.warn('web request for a name the box does not answer to refused', { host, from: raw.socket.remoteAddress });
    const body = `This box does not answer to the name "${host}". Use its address, its host name or localhost, or add the name to the setting webHostNames.\n`;
    res.writeHead(raw.headers.host === undefined ? 400 : 421, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', connection: 'close', ...SECURITY_HEADERS });
    res.end(body);
  }

  private misdirectedLogged = 0;

  private sendAsset(rq: Req, a: Asset): void {
    const headers = { 'content-type': a.type, etag: a.etag, 'cache-control': 'public, max-age=3600', vary: 'accept-encoding', ...SECURITY_HEADERS };
    if (rq.raw.headers['if-none-match'] === a.etag) {
      rq.res.writeHead(304, headers);
      rq.res.end();
      return;
    }
    const gzip = acceptsGzip(rq.raw);
    const body = gzip ? a.gzip : a.body;
    rq.res.writeHead(200, { ...headers, 'content-length': body.length, ...(gzip ? { 'content-encoding': 'gzip' } : {}) });
    rq.res.end(rq.method === 'HEAD' ? undefined : body);
  }

  /** Sends a body, compressed when the client takes gzip and it is worth it. */
  private send(rq: Req, status: number, type: string, text: string, headers: Record<string, string | string[]>): void {
    let body = Buffer.from(text);
    const extra: Record<string, string | number> = { 'content-type': type, 'cache-control': 'no-store', vary: 'accept-encoding' };
    if (body.length >= COMPRESS_MIN && acceptsGzip(rq.raw)) {
      body = gzipSync(body, { level: 6 });
      extra['content-encoding'] = 'gzip';
    }
    extra['content-length'] = body.length;
    rq.res.writeHead(status, { ...extra, ...SECURITY_HEADERS, ...headers });
    rq.res.end(rq.method === 'HEAD' ? undefined : body);
  }

  /**
   * Streams a file (a recording), whole or the one byte range a player asks for (`Range: bytes=A-B`), inline for a
   * player or as an attachment for a download.
   */
  private async sendFile(rq: Req, f: FileReply): Promise<void> {
    const disposition = `${f.attachment ? 'attachment' : 'inline'}; filename="${f.name.replace(/[^A-Za-z0-9._-]/g, '_')}"`;
    if ('text' in f.source) return this.send(rq, 200, f.type, f.source.text, { 'content-disposition': disposition });
    const path = f.source.path;
    const size = (await stat(path)).size;
    const headers: Record<string, string | number> = {
      'content-type': f.type, 'cache-control': 'no-store', 'accept-ranges': 'bytes', ...SECURITY_HEADERS, 'content-disposition': disposition,
    };
    let start = 0;
    let end = size - 1;
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(rq.raw.headers.range ?? ''));
    if (range && (range[1] || range[2])) {
      if (range[1]) {
        start = Number(range[1]);
        if (range[2]) end = Math.min(Number(range[2]), size - 1);
      } else start = Math.max(0, size - Number(range[2]));
      if (start > end || start >= size) {
        rq.res.writeHead(416, { ...headers, 'content-range': `bytes */${size}` });
        rq.res.end();
        return;
      }
      headers['content-range'] = `bytes ${start}-${end}/${size}`;
    }
    headers['content-length'] = size === 0 ? 0 : end - start + 1;
    rq.res.writeHead(headers['content-range'] ? 206 : 200, headers);
    if (rq.method === 'HEAD' || size === 0) return void rq.res.end();
    await pipeline(createReadStream(path, { start, end }), rq.res);
  }

  private page(rq: Req, status: number, body: Html, headers: Record<string, string | string[]> = {}): void {
    this.send(rq, status, 'text/html; charset=utf-8', body.text, headers);
  }

  private redirect(rq: Req, to: string, headers: Record<string, string | string[]> = {}): void {
    rq.res.writeHead(303, { location: to, 'cache-control': 'no-store', ...headers });
    rq.res.end();
  }

  private json(rq: Req, status: number, value: unknown, headers: Record<string, string> = {}): void {
    if (status === 204) {
      rq.res.writeHead(204, { 'cache-control': 'no-store', ...SECURITY_HEADERS, ...headers });
      rq.res.end();
      return;
    }
    this.send(rq, status, 'application/json; charset=utf-8', JSON.stringify(value), headers);
  }

  private apiError(rq: Req, e: unknown): void {
    if (rq.res.headersSent) return void rq.res.end();
    const err = toBoxError(e);
    if (err.httpStatus >= 500 && !(e instanceof StoreUnavailable) && !(e instanceof BoxError)) this.o.log.error('API request failed', { err: e, path: rq.path });
    const headers: Record<string, string> = {};
    if (err.httpStatus === 503) headers['retry-after'] = '5';
    if (err.httpStatus === 401) headers['www-authenticate'] = 'Bearer realm="confbox"';
    this.json(rq, err.httpStatus, { error: { code: err.code, message: err.message, field: err.field ?? null } }, headers);
  }

  private readBody(rq: Req): Promise<{ form: Form; json: unknown }> {
    return readRequestBody(rq.raw);
  }

  private actor(rq: Req): Actor {
    return { name: rq.bearer ? 'api' : 'web', source: `http:${rq.address}` };
  }

  private cookie(rq: Req, name: string, value: string, maxAge?: number): string {
    return `${name}=${value}; Path=/; HttpOnly; SameSite=Strict${rq.secure ? '; Secure' : ''}${maxAge !== undefined ? `; Max-Age=${maxAge}` : ''}`;
  }

  // --- pages ---

  private pageContext(rq: Req, extra: Partial<pages.PageContext> = {}): pages.PageContext {
    const s = rq.session!;
    const x = this.extras.get(s);
    const notice = x?.notice ?? null;
    const focus = x?.focus ?? null;
    if (x) {
      delete x.notice;
      delete x.focus;
    }
    return { csrf: s.csrf, notice, focus, people: this.o.ops.peopleInConferences(), faults: this.o.ops.faults(), ...extra };
  }

  private flash(rq: Req, outcome: Exclude<Outcome, null>): void {
    const x = this.extras.get(rq.session!) ?? {};
    if (typeof outcome === 'string') {
      x.notice = outcome;
    } else {
      x.notice = outcome.notice;
      x.focus = outcome.focus;
    }
    this.extras.set(rq.session!, x);
  }

  /** A page that needs the admin: without a session, the login (or first-use) page. */
  private guard(handler: (rq: Req, params: string[], form: Form) => Promise<void> | void): Handler {
    return async (rq, params) => {
      if (!rq.session) {
        if (rq.method !== 'GET') {
          // Drain, so that the connection can be reused.
          await this.readBody(rq).catch(() => undefined);
          return this.page(rq, 403, pages.errorPage(403, 'Your session has ended. Log in again, then repeat what you did.', null));
        }
        return this.redirect(rq, (await this.o.auth.passwordIsSet()) ? '/login' : '/setup');
      }
      let form: Form = {};
      if (rq.method === 'POST') {
        form = (await this.readBody(rq)).form;
        if (!this.o.auth.checkCsrf(rq.session, form._csrf)) {
          this.o.log.warn('web form without a valid CSRF token refused', { path: rq.path, from: rq.address });
          return this.page(rq, 403, pages.errorPage(403, 'This form has expired or did not come from this page. Reload the page and try again.', this.pageContext(rq)));
        }
      }
      return handler(rq, params, form);
    };
  }

  /** Runs a form's action; a rejected value re-renders the form with the message beside its field. */
  private async formAction(rq: Req, form: Form, action: () => Promise<Outcome>, rerender: (ctx: pages.PageContext) => Promise<Html>, done: string): Promise<void> {
    try {
      const outcome = await action();
      if (outcome) this.flash(rq, outcome);
      return this.redirect(rq, done);
    } catch (e) {
      const err = toBoxError(e);
      if (err.httpStatus >= 500 && !(e instanceof StoreUnavailable) && !(e instanceof BoxError)) throw e;
      const values = { ...form };
      delete values._csrf;
      const errors: Record<string, string> = {};
      let formError: string | null = null;
      if (err.field && err.field in form) errors[err.field] = pages.capitalise(err.message);
      else formError = pages.capitalise(err.message);
      return this.page(rq, err.httpStatus, await rerender(this.pageContext(rq, { errors, values, formError })));
    }
  }

  /** A form shown before login (first use, login): its token is the one in the pre-login cookie, set here if missing. */
  private preFormPage(rq: Req, render: (ctx: pages.PageContext) => Html): void {
    const existing = rq.cookies[PRE_COOKIE];
    if (existing && /^[A-Za-z0-9_-]{32}$/.test(existing)) return this.page(rq, 200, render({ csrf: existing }));
    const token = randomBytes(24).toString('base64url');
    return this.page(rq, 200, render({ csrf: token }), { 'set-cookie': this.cookie(rq, PRE_COOKIE, token) });
  }

  private async preFormCheck(rq: Req): Promise<Form | null> {
    const { form } = await this.readBody(rq);
    const want = rq.cookies[PRE_COOKIE];
    if (!want || form._csrf !== want) {
      this.page(rq, 403, pages.errorPage(403, 'This form has expired. Reload the page and try again.', null));
      return null;
    }
    return form;
  }

  private definePages(): void {
    const auth = this.o.auth;
    const ops = this.o.ops;

    this.route('GET', '/', async (rq) => this.redirect(rq, rq.session ? '/rooms' : (await auth.passwordIsSet()) ? '/login' : '/setup'));

    this.route('GET', '/setup', async (rq) => {
      if (await auth.passwordIsSet()) return this.redirect(rq, rq.session ? '/rooms' : '/login');
      return this.preFormPage(rq, pages.setupPage);
    });
    this.route('POST', '/setup', async (rq) => {
      const form = await this.preFormCheck(rq);
      if (!form) return;
      try {
        await auth.setFirstPassword(form.password ?? '', form.confirm ?? '', form.code ?? '', rq.address);
      } catch (e) {
        const err = toBoxError(e);
        if (err.code === 'exists') return this.redirect(rq, '/login');
        if (err.code === 'wrong-code') this.o.log.warn('web first use with a wrong setup code', { from: rq.address });
        const headers: Record<string, string> = err.httpStatus === 429 ? { 'retry-after': String(auth.waitSeconds(rq.address)) } : {};
        const errors = err.field ? { [err.field]: pages.capitalise(err.message) } : {};
        return this.page(rq, err.httpStatus, pages.setupPage({ csrf: rq.cookies[PRE_COOKIE]!, errors, values: { code: form.code ?? '' }, formError: err.field ? null : pages.capitalise(err.message) }), headers);
      }
      this.o.log.info('web admin password set', { from: rq.address });
      const s = auth.newSession();
      this.extras.set(s, { notice: 'Password set. Welcome! Start by adding a room or an extension.' });
      return this.redirect(rq, '/rooms', { 'set-cookie': this.cookie(rq, SESSION_COOKIE, s.id) });
    });

    this.route('GET', '/login', async (rq) => {
      if (rq.session) return this.redirect(rq, '/rooms');
      if (!(await auth.passwordIsSet())) return this.redirect(rq, '/setup');
      return this.preFormPage(rq, pages.loginPage);
    });
    this.route('POST', '/login', async (rq) => {
      const form = await this.preFormCheck(rq);
      if (!form) return;
      try {
        const s = await auth.login(form.password ?? '', rq.address);
        this.o.log.info('web admin logged in', { from: rq.address });
        return this.redirect(rq, '/rooms', { 'set-cookie': this.cookie(rq, SESSION_COOKIE, s.id) });
      } catch (e) {
        const err = toBoxError(e);
        if (err.code === 'not-set') return this.redirect(rq, '/setup');
        if (err.code === 'wrong-password') this.o.log.warn('web login with a wrong password', { from: rq.address });
        const headers: Record<string, string> = {};
        if (err.httpStatus === 429) headers['retry-after'] = String(auth.waitSeconds(rq.address));
        return this.page(rq, err.httpStatus, pages.loginPage({ csrf: rq.cookies[PRE_COOKIE]!, errors: { password: pages.capitalise(err.message) } }), headers);
      }
    });
    this.route('POST', '/logout', this.guard((rq) => {
      auth.logout(rq.session!.id);
      return this.redirect(rq, '/login', { 'set-cookie': this.cookie(rq, SESSION_COOKIE, '', 0) });
    }));

    // Rooms
    const roomsView = async (ctx: pages.PageContext) => {
      const rooms = await ops.rooms();
      return pages.roomsPage(ctx, rooms, ops.settings().maxParticipants, suggestRoom(rooms.map((r) => r.id)));
    };
    this.route('GET', '/rooms', this.guard(async (rq) => this.page(rq, 200, await roomsView(this.pageContext(rq)))));
    this.route('POST', '/rooms', this.guard((rq, _p, form) => this.formAction(rq, form, async () => {
      const r = await ops.addRoom({
        id: form.id ?? '', pin: form.pin ?? '', moderatorPin: form.moderatorPin, duration: form.duration, creator: form.creator, maxParticipants: form.maxParticipants, keep: form.keep ?? 'no', record: form.record ?? 'no', waitForModerator: form.waitForModerator ?? 'no', moderatorLeaves: form.moderatorLeaves ?? 'continue',
      }, this.actor(rq));
      return { notice: `Room ${r.id} added. Callers join with *400*${r.id}*${r.pin}.${r.moderatorPin ? ` Its moderator joins with *400*${r.id}*${r.moderatorPin}.` : ''}${r.keep ? ' It stays after its meetings.' : ' It is deleted when the last participant of its first meeting hangs up.'}`, focus: pages.rowId('room', r.id) };
    }, roomsView, '/rooms')));
    const roomRow = async (id: string | undefined) => {
      const room = (await ops.rooms()).find((r) => String(r.id) === id);
      if (!room) throw new BoxError(404, `room ${id} does not exist`, 'id', 'not-found');
      return room;
    };
    const editView = (id: string | undefined) => async (ctx: pages.PageContext) => pages.editRoomPage(ctx, await roomRow(id), ops.settings().maxParticipants);
    this.route('GET', '/rooms/:id/edit', this.guard(async (rq, [id]) => this.page(rq, 200, await editView(id)(this.pageContext(rq)))));
    this.route('POST', '/rooms/:id/edit', this.guard((rq, [id], form) => this.formAction(rq, form, async () => {
      const r = await ops.editRoom(id!, {
        pin: form.pin ?? '', moderatorPin: form.moderatorPin ?? '', duration: form.duration ?? '', creator: form.creator ?? '', maxParticipants: form.maxParticipants ?? '', keep: form.keep ?? 'no', record: form.record ?? 'no', waitForModerator: form.waitForModerator ?? 'no', moderatorLeaves: form.moderatorLeaves ?? 'continue',
      }, this.actor(rq));
      return { notice: `Room ${r.id} saved.${r.appliesToNewJoiners ? ' The change applies to people who join from now on.' : ''}`, focus: pages.rowId('room', r.id) };
    }, editView(id), '/rooms')));
    this.route('POST', '/rooms/:id/delete', this.guard(async (rq, [id], form) => {
      const room = (await ops.rooms()).find((r) => String(r.id) === id);
      if (room?.active && form.confirm !== 'yes') return this.page(rq, 200, pages.confirmDeleteRoomPage(this.pageContext(rq), room));
      return this.formAction(rq, form, async () => {
        const people = await ops.deleteRoom(id!, this.actor(rq));
        return people ? `Room ${id} deleted. The ${people} people in it stay connected until they hang up.` : `Room ${id} deleted.`;
      }, roomsView, '/rooms');
    }));

    // Live conferences
    this.route('GET', '/live', this.guard((rq) => this.page(rq, 200, pages.livePage(this.pageContext(rq), ops.conferences(), ops.cluster().boxes))));
    const liveView = async (ctx: pages.PageContext) => pages.livePage(ctx, ops.conferences());
    this.route('POST', '/live/:key/end', this.guard((rq, [key], form) => this.formAction(rq, form, async () => {
      ops.endConference(key!, this.actor(rq));
      return 'The conference is ending: everyone hears that it has ended, then is hung up.';
    }, liveView, '/live')));
    this.route('POST', '/live/:key/lock', this.guard((rq, [key], form) => this.formAction(rq, form, async () => {
      const c = ops.lockConference(key!, form.locked === 'yes', this.actor(rq));
      return {
        notice: c.locked ? `Room ${c.roomId} locked: nobody new can join but a moderator. Everyone in it heard so.` : `Room ${c.roomId} is open again.`,
        focus: pages.rowId('lock', c.key),
      };
    }, liveView, '/live')));
    this.route('POST', '/live/:key/mute-all', this.guard((rq, [key], form) => this.formAction(rq, form, async () => {
      const muted = form.muted === 'yes';
      const { changed, conference } = ops.muteAll(key!, muted, this.actor(rq));
      const people = changed === 1 ? '1 person' : `${changed} people`;
      return { notice: `${muted ? 'Muted' : 'Unmuted'} ${people} in room ${conference.roomId}${muted ? ' (moderators keep talking)' : ''}.`, focus: pages.rowId('mute-all', conference.key) };
    }, liveView, '/live')));
    this.route('POST', '/live/:key/invite', this.guard((rq, [key], form) => this.formAction(rq, form, async () => {
      const r = await ops.invite(key!, form.extension ?? '', this.actor(rq));
      const room = ops.conferences().find((c) => c.key === key)?.roomId ?? '';
      return {
        notice: r.answered ? `Extension ${r.extension} answered: it hears that it is invited to room ${room} and joins by pressing 1.` : `Extension ${r.extension} did not answer the invitation: ${INVITE_FAILURES[r.why!] ?? r.reason}.`,
        focus: pages.rowId('invite', key!),
      };
    }, liveView, '/live')));
    this.route('POST', '/live/:key/record', this.guard((rq, [key], form) => this.formAction(rq, form, async () => {
      const c = ops.recordConference(key!, form.recording === 'yes', this.actor(rq));
      return {
        notice: c.recording ? `Room ${c.roomId} is being recorded; everyone in it heard so. The recording is on the Recordings page.` : `Room ${c.roomId} is no longer recorded.`,
        focus: pages.rowId('record', c.key),
      };
    }, liveView, '/live')));
    this.route('POST', '/live/:key/:id/:action', this.guard(async (rq, [key, id, action], form) => {
      if (action === 'remove' && form.confirm !== 'yes') {
        const conference = ops.conferences().find((c) => c.key === key);
        const person = conference?.participants.find((p) => p.id === id);
        if (conference && person) return this.page(rq, 200, pages.confirmRemovePage(this.pageContext(rq), conference, person));
      }
      return this.formAction(rq, form, async () => {
        const { who, roomId } = ops.describeParticipant(key!, id!);
        if (action === 'remove') {
          ops.removeParticipant(key!, id!, this.actor(rq));
          return `${who} removed from room ${roomId}.`;
        }
        if (action === 'mute' || action === 'unmute') {
          ops.setMuted(key!, id!, action === 'mute', this.actor(rq));
          return { notice: `${who} ${action === 'mute' ? 'muted' : 'unmuted'} in room ${roomId}.`, focus: pages.rowId('mute', id!) };
        }
        throw new BoxError(404, `unknown action ${action}`, undefined, 'not-found');
      }, liveView, '/live');
    }));

    // Extensions
    const extView = (editing: string | null) => async (ctx: pages.PageContext) => {
      const list = await ops.extensions();
      return pages.extensionsPage(ctx, list, editing ? list.find((e) => e.number === editing) ?? null : null, ops.phoneSetup());
    };
    this.route('GET', '/extensions', this.guard(async (rq) => this.page(rq, 200, await extView(null)(this.pageContext(rq)))));
    this.route('GET', '/extensions/:number', this.guard(async (rq, [number]) => {
      const list = await ops.extensions();
      if (!list.some((e) => e.number === number)) return this.page(rq, 404, pages.errorPage(404, `Extension ${number} does not exist.`, this.pageContext(rq)));
      return this.page(rq, 200, await extView(number!)(this.pageContext(rq)));
    }));
    this.route('POST', '/extensions', this.guard(async (rq, _p, form) => {
      const editing = form.editing ? form.number ?? null : null;
      return this.formAction(rq, form, async () => {
        const e = await ops.putExtension({ number: form.number ?? '', displayName: form.displayName, password: form.password });
        return { notice: `Extension ${e.number} saved.`, focus: pages.rowId('extension', e.number) };
      }, extView(editing), '/extensions');
    }));
    this.route('POST', '/extensions/:number/delete', this.guard((rq, [number], form) => this.formAction(rq, form, async () => {
      await ops.deleteExtension(number!);
      return `Extension ${number} removed.`;
    }, extView(null), '/extensions')));

    // Trusted peers
    const peersView = async (ctx: pages.PageContext) => pages.peersPage(ctx, await ops.peers());
    this.route('GET', '/peers', this.guard(async (rq) => this.page(rq, 200, await peersView(this.pageContext(rq)))));
    this.route('POST', '/peers', this.guard((rq, _p, form) => this.formAction(rq, form, async () => {
      const p = await ops.putPeer({ cidr: form.cidr ?? '', description: form.description, transport: form.transport, outboundPort: form.outboundPort });
      return { notice: `Calls from ${p.cidr} are now accepted without a password.`, focus: pages.rowId('peer', p.cidr) };
    }, peersView, '/peers')));
    this.route('POST', '/peers/delete', this.guard((rq, _p, form) => this.formAction(rq, form, async () => {
      await ops.deletePeer(form.cidr ?? '');
      return `${form.cidr} is no longer trusted.`;
    }, peersView, '/peers')));

    // Settings, admin password, API tokens
    /** The extensions whose password was set for the realm in use: those a realm change stops (null when the database cannot say). */
    const extensionsOfRealm = () => ops.extensions().then((list) => list.filter((e) => !e.realmMismatch).map((e) => e.number), () => null);
    const settingsView = async (ctx: pages.PageContext, rq?: Req, tested?: DatabaseTestView) => {
      const x = rq?.session ? this.extras.get(rq.session) : undefined;
      const newToken = x?.newToken ?? null;
      if (x) delete x.newToken;
      return pages.settingsPage(ctx, { settings: ops.settings(), sipPort: ops.sipPort, tokens: await auth.tokens().catch((e: unknown) => { if (e instanceof StoreUnavailable) return null; throw e; }), newToken, extensionsOfRealm: await extensionsOfRealm(), database: ops.database(), databaseTest: tested ?? null });
    };
    this.route('GET', '/settings', this.guard(async (rq) => this.page(rq, 200, await settingsView(this.pageContext(rq), rq))));
    this.route('POST', '/settings', this.guard(async (rq, _p, form) => {
      const { _csrf: _token, confirm, ...input } = form;
      if (confirm !== 'yes') {
        let changes: Partial<Settings> | null = null;
        try {
          changes = ops.settingsChanges(input, pages.settingLabel);
        } catch {
          // A bad value: the form below answers with it beside its field.
        }
        if (changes?.realm !== undefined) {
          const from = ops.settings().realm;
          const otherChanges = Object.keys(changes).some((k) => k !== 'realm');
          return this.page(rq, 200, pages.confirmRealmChangePage(this.pageContext(rq), { from, to: changes.realm, extensionsOfRealm: await extensionsOfRealm(), sent: input, otherChanges }));
        }
      }
      return this.formAction(rq, form, async () => {
        await ops.updateSettings(input, pages.settingLabel);
        return 'Settings saved.';
      }, (ctx) => settingsView(ctx), '/settings');
    }));
    // "Test connection" and "Save": the answer is shown on the page (a refused detail beside its field).
    const databaseForm = (save: boolean) => this.guard(async (rq, _p, form) => {
      const values = { ...form };
      delete values._csrf;
      delete values[DATABASE_FIELDS.password];
      const input = Object.fromEntries(Object.entries(DATABASE_FIELDS).map(([key, name]) => [key, form[name] ?? '']));
      try {
        const result = save ? { ok: true, message: (await ops.saveDatabase(input, this.actor(rq))).message } : await ops.testDatabase(input, this.actor(rq));
        return this.page(rq, 200, await settingsView(this.pageContext(rq, { values, focus: 'database-test-result' }), rq, { result }));
      } catch (e) {
        if (!(e instanceof BoxError)) throw e;
        const name = DATABASE_FIELDS[e.field as keyof typeof DATABASE_FIELDS];
        if (!name && e.httpStatus === 409) return this.page(rq, 409, await settingsView(this.pageContext(rq, { values }), rq, { result: { ok: false, message: e.message } }));
        const errors = name ? { [name]: pages.capitalise(e.message) } : {};
        return this.page(rq, e.httpStatus, await settingsView(this.pageContext(rq, { values, errors, formError: name ? null : pages.capitalise(e.message) }), rq));
      }
    });
    this.route('POST', '/settings/database/test', databaseForm(false));
    this.route('POST', '/settings/database/save', databaseForm(true));
    this.route('POST', '/settings/database/embedded', this.guard((rq, _p, form) => this.formAction(rq, form, async () => {
      const f = DATABASE_FIELDS;
      return (await ops.useEmbeddedDatabase({ copy: form[f.backCopy] ?? 'no', replace: form[f.backReplace] ?? 'no' }, this.actor(rq))).message;
    }, (ctx) => settingsView(ctx), '/settings#database')));
    this.route('POST', '/settings/password', this.guard((rq, _p, form) => this.formAction(rq, form, async () => {
      await auth.changePassword(form.current ?? '', form.password ?? '', form.confirm ?? '');
      return null;
    }, (ctx) => settingsView(ctx), '/login')));
    this.route('POST', '/settings/tokens', this.guard((rq, _p, form) => this.formAction(rq, form, async () => {
      const { token, info } = await auth.createToken(form.label ?? '');
      const x = this.extras.get(rq.session!) ?? {};
      x.newToken = token;
      this.extras.set(rq.session!, x);
      this.o.log.info('API token created', { id: info.id, label: info.label, from: rq.address });
      return `Token "${info.label}" created.`;
    }, (ctx) => settingsView(ctx), '/settings')));
    this.route('POST', '/settings/tokens/:id/delete', this.guard((rq, [id], form) => this.formAction(rq, form, async () => {
      await auth.deleteToken(id!);
      return 'Token revoked.';
    }, (ctx) => settingsView(ctx), '/settings')));

    // Blocked addresses
    const blockedView = async (ctx: pages.PageContext) => pages.blockedPage(ctx, ops.blocked(), ops.settings());
    this.route('GET', '/blocked', this.guard(async (rq) => this.page(rq, 200, await blockedView(this.pageContext(rq)))));
    this.route('POST', '/blocked/lift', this.guard((rq, _p, form) => this.formAction(rq, form, async () => {
      ops.liftBlock(form.address ?? '', this.actor(rq));
      return `${form.address} may call again.`;
    }, blockedView, '/blocked')));

    defineRecordsRoutes({
      ops, route: (m, path, h) => this.route(m, path, h), guard: (h) => this.guard(h), page: (rq, status, body) => this.page(rq, status, body),
      send: (rq, status, type, text, headers) => this.send(rq, status, type, text, headers), sendFile: (rq, f) => this.sendFile(rq, f),
      formAction: (rq, form, action, rerender, done) => this.formAction(rq, form, action, rerender, done), pageContext: (rq, extra) => this.pageContext(rq, extra),
      actor: (rq) => this.actor(rq), settingsView: (ctx) => settingsView(ctx),
    });

    // Status
    this.route('GET', '/status', this.guard((rq) => this.page(rq, 200, pages.statusPage(this.pageContext(rq), ops.status()))));

    // Live updates for the pages (server-sent events)
    this.route('GET', '/events', (rq) => {
      if (!rq.session) return this.json(rq, 401, { error: { code: 'unauthorized', message: 'log in first', field: null } });
      if (this.live.full) return this.json(rq, 503, { error: { code: 'busy', message: 'too many live views are open', field: null } }, { 'retry-after': '10' });
      this.live.open(rq.raw, rq.res, rq.session, parseLiveParts(rq.query.get('parts')));
    });
  }

  // --- JSON API ---

  /** API access: a bearer token, or the browser session plus its CSRF token in X-CSRF-Token for changes. */
  /** `raw`: the handler reads the request body itself (a firmware upload, streamed to disk). */
  private api(handler: (rq: Req, params: string[], body: Record<string, unknown>) => Promise<unknown> | unknown, status = 200, raw = false): Handler {
    return async (rq, params) => {
      try {
        const caller = await this.apiCaller(rq);
        if ('token' in caller) rq.bearer = true;
        else if (rq.method !== 'GET' && !this.o.auth.checkCsrf(caller.session, rq.raw.headers['x-csrf-token'])) {
          throw new BoxError(403, 'changes from a browser session need the page\'s X-CSRF-Token header', undefined, 'csrf');
        }
        let body: Record<string, unknown> = {};
        if (rq.method !== 'GET' && rq.method !== 'DELETE' && !raw) {
          const { json } = await this.readBody(rq);
          if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new BoxError(400, 'the request body must be a JSON object', undefined, 'bad-json');
          body = json as Record<string, unknown>;
        }
        const result = await handler(rq, params, body);
        if (result instanceof FileReply) return await this.sendFile(rq, result);
        if (status === 204) return this.json(rq, 204, null);
        return this.json(rq, status, result);
      } catch (e) {
        return this.apiError(rq, e);
      }
    };
  }

  /** Who an API request comes from: a valid token, or a logged-in session; 401 otherwise. */
  private async apiCaller(rq: Req): Promise<{ token: string } | { session: Session }> {
    const authz = String(rq.raw.headers.authorization ?? '');
    if (authz) {
      const m = /^Bearer\s+(\S+)$/i.exec(authz);
      if (!m || !(await this.o.auth.tokenValid(m[1]!))) throw new BoxError(401, 'the API token is not valid', undefined, 'unauthorized');
      return { token: m[1]! };
    }
    if (!rq.session) throw new BoxError(401, 'log in on the page or send Authorization: Bearer TOKEN', undefined, 'unauthorized');
    return { session: rq.session };
  }

  private defineApi(): void {
    const ops = this.o.ops;
    this.route('GET', '/api/events', async (rq) => {
      let caller: { token: string } | { session: Session };
      try {
        caller = await this.apiCaller(rq);
      } catch (e) {
        return this.apiError(rq, e);
      }
      const allowed = 'token' in caller ? () => this.o.auth.tokenValid(caller.token) : () => this.o.auth.alive(caller.session.id);
      if (this.integration.full) return this.json(rq, 503, { error: { code: 'busy', message: 'too many event streams are open', field: null } }, { 'retry-after': '10' });
      this.integration.open(rq.raw, rq.res, allowed);
    });
    defineApiRoutes({ ops, route: (m, path, h) => this.route(m, path, h), api: (h, status, raw) => this.api(h, status, raw), actor: (rq) => this.actor(rq) });
  }
}


function toBoxError(e: unknown): BoxError {
  if (e instanceof BoxError) return e;
  if (e instanceof StoreUnavailable) return new BoxError(503, 'the box cannot reach its database right now; try again in a moment', undefined, 'unavailable');
  return new BoxError(500, 'internal error; see the box log', undefined, 'internal');
}

/** The request's address read against the box's own origin; one that is no address (`//%ZZ`: an unreadable host) is a 400. */
function requestUrl(target: string | undefined): URL {
  try {
    return new URL(target ?? '/', 'http://box');
  } catch {
    throw new BoxError(400, `"${String(target).slice(0, 40)}" is not an address on this box`, undefined, 'bad-path');
  }
}

function decodePart(p: string): string {
  try {
    return decodeURIComponent(p);
  } catch {
    throw new BoxError(400, `"${p.slice(0, 40)}" in the address is not valid percent-encoding`, undefined, 'bad-path');
  }
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/** A request with a body must have it all within REQUEST_BODY_MS (or what its route allows); else it is cut off. */
function bodyDeadline(raw: IncomingMessage): { allow(ms: number): void } {
  const hasBody = raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0;
  if (!hasBody || raw.complete) return { allow: () => undefined };
  const cut = () => raw.socket.destroy();
  let timer: NodeJS.Timeout | null = setTimeout(cut, REQUEST_BODY_MS);
  const done = () => {
    if (timer) clearTimeout(timer);
    timer = null;
  };
  // Answered early (401, 413) or not: the body still has to arrive, or the connection goes.
  raw.once('end', done);
  raw.socket.once('close', done);
  return {
    allow: (ms) => {
      if (!timer) return;
      clearTimeout(timer);
      timer = setTimeout(cut, ms);
    },
  };
}
