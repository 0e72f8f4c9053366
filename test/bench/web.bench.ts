// Web page benchmark of the built bundle: page weight of the rooms page in Chromium, GET /api/rooms
// latency with 200 rooms while 50 live views (server-sent events) are connected, and how long a join
// takes to reach a live view. Not a test: it prints figures. The baseline, measured in the same run on
// the same server and connection, is a static asset (the stylesheet), which needs no database.
//   npm run bench          (also runs the SIP and media benchmarks)
import { Agent, request } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configure, startBox } from '../support/box.ts';
import { chromiumAvailable, launchBrowser, newPage } from '../support/browser.ts';
import { Phone } from '../support/phone.ts';
import { percentile } from '../support/sipp.ts';
import { setupCodeOf, WebClient } from '../support/web.ts';

const ROOMS = 200;
const SSE_CLIENTS = 50;
const REQUESTS = 2000;
const WARMUP = 200;
const JOINS = 20;
const log = (line = '') => process.stdout.write(line + '\n');
const ms = (v: number) => v.toFixed(2);

// Plain HTTP (setting httpRedirect off): the figures are the page's and the API's, not TLS's.
const dataDir = mkdtempSync(join(tmpdir(), 'confbox-web-bench-'));
await configure(dataDir, [['settings', 'set', 'httpRedirect', 'off']]);
const box = await startBox({ dataDir, logLevel: 'info' });
const base = `http://127.0.0.1:${box.httpPort}`;
try {
  const web = new WebClient(base);
  await web.setup('bench-password-1', setupCodeOf(box.dataDir));
  await web.get('/rooms');
  for (let id = 1; id <= ROOMS; id++) {
    const r = await web.api('POST', '/api/rooms', { id, pin: String(1000 + id), duration: 60, creator: String(200 + (id % 10)) });
    if (r.status !== 201) throw new Error(`room ${id}: ${r.status} ${r.text}`);
  }
  const cookie = [...web.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  log(`web benchmark: ${ROOMS} rooms, ${SSE_CLIENTS} live views, box and client on the same 2 cores`);

  // --- page weight, as a browser loads it ---
  if (chromiumAvailable()) {
    const browser = await launchBrowser();
    const { context, page } = await newPage(browser);
    await context.addCookies([...web.cookies].map(([name, value]) => ({ name, value, url: base })));
    let count = 0;
    let bytes = 0;
    const sizes: string[] = [];
    page.on('requestfinished', async (rq) => {
      if (rq.url().endsWith('/events')) return;
      const res = await rq.response();
      const s = await rq.sizes();
      count++;
      bytes += s.responseBodySize + s.responseHeadersSize;
      sizes.push(`${new URL(rq.url()).pathname} ${res?.status()} ${(s.responseBodySize / 1024).toFixed(1)} KB`);
    });
    await page.goto(base + '/rooms', { waitUntil: 'networkidle' }).catch(() => page.goto(base + '/rooms', { waitUntil: 'load' }));
    await new Promise((r) => setTimeout(r, 500));
    log(`rooms page (${ROOMS} rooms): ${count} requests + 1 live-update stream, ${(bytes / 1024).toFixed(1)} KB transferred (gzip, as a browser gets it)`);
    for (const s of sizes) log(`  ${s}`);
    await browser.close();
  } else {
    log('rooms page weight: Chromium not installed, skipped');
  }

  // --- 50 live views connected ---
  const streams: Array<{ close(): void; events: number; lastWith: (test: (data: any) => boolean) => Promise<number> }> = [];
  for (let i = 0; i < SSE_CLIENTS; i++) streams.push(openStream(base, cookie));
  await new Promise((r) => setTimeout(r, 500));

  // --- latency, one request at a time on a kept-alive connection ---
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const time = async (path: string, n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = process.hrtime.bigint();
      const { status, body } = await get(agent, base + path, cookie);
      if (status !== 200) throw new Error(`${path}: ${status}`);
      if (i === 0 && path === '/api/rooms' && JSON.parse(body).length !== ROOMS) throw new Error('not all rooms listed');
      out.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    return out;
  };
  await time('/api/rooms', WARMUP);
  await time('/assets/style.css', WARMUP);
  const api = await time('/api/rooms', REQUESTS);
  const asset = await time('/assets/style.css', REQUESTS);
  const p = (xs: number[], q: number) => percentile(xs, q);
  log(`GET /api/rooms (${ROOMS} rooms, ${(Buffer.byteLength((await get(agent, base + '/api/rooms', cookie)).body) / 1024).toFixed(1)} KB) with ${SSE_CLIENTS} live views: p50 ${ms(p(api, 50))} ms, p99 ${ms(p(api, 99))} ms`);
  log(`baseline GET /assets/style.css:                       p50 ${ms(p(asset, 50))} ms, p99 ${ms(p(asset, 99))} ms`);
  log(`ratio to baseline: p50 ${(p(api, 50) / p(asset, 50)).toFixed(2)}x, p99 ${(p(api, 99) / p(asset, 99)).toFixed(2)}x`);

  // --- a join reaching the live views ---
  await web.api('PUT', '/api/extensions/900', { password: 'bench-900' });
  const phone = await Phone.open({ boxPort: box.sipPort, user: '900', password: 'bench-900' });
  const delays: number[] = [];
  for (let i = 0; i < JOINS; i++) {
    const room = i + 1;
    const seen = Promise.all(streams.map((s) => s.lastWith((d) => Array.isArray(d.rooms) && d.rooms.some((r: { id: number }) => r.id === room))));
    const t0 = performance.now();
    const call = await phone.dial(`*400*${room}*${1000 + room}`);
    if (call.status !== 200) throw new Error(`join ${room}: ${call.status}`);
    const arrived = await seen;
    delays.push(Math.max(...arrived) - t0);
    await call.bye();
  }
  log(`join to all ${SSE_CLIENTS} live views updated (INVITE sent to last event received): p50 ${ms(p(delays, 50))} ms, max ${ms(Math.max(...delays))} ms over ${JOINS} joins`);
  phone.close();
  for (const s of streams) s.close();
  agent.destroy();
  log(`box RSS after the run: ${(box.rss() / 1048576).toFixed(0)} MB`);
} finally {
  await box.stop();
}

function get(agent: Agent, url: string, cookie: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const rq = request(url, { agent, headers: { cookie } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    rq.on('error', reject);
    rq.end();
  });
}

/** A live view: reads the event stream and remembers when each snapshot arrived. */
function openStream(base: string, cookie: string) {
  let buf = '';
  const waiters: Array<{ test: (d: any) => boolean; resolve: (t: number) => void }> = [];
  const state = { events: 0 };
  const rq = request(base + '/events', { headers: { cookie } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = block.split('\n').find((l) => l.startsWith('data: '));
        if (!data) continue;
        state.events++;
        const parsed = JSON.parse(data.slice(6));
        const now = performance.now();
        for (const w of waiters.splice(0)) {
          if (w.test(parsed)) w.resolve(now);
          else waiters.push(w);
        }
      }
    });
  });
  rq.on('error', () => undefined);
  rq.end();
  return {
    get events() {
      return state.events;
    },
    close: () => rq.destroy(),
    lastWith: (test: (d: any) => boolean) => new Promise<number>((resolve) => waiters.push({ test, resolve })),
  };
}
