// An office PBX in front of the box: Kamailio record-routes, sends *40x calls to the box over TCP as a trusted
// peer, and stays on the path of every later request (RFC 3261 12, 16.12). Desk phones are SIPp behind it. Each
// test checks what the office would: calls connect and stay up, hang-ups from either side reach the other side
// through the proxy (the caller's BYE is answered 200, the box's BYE arrives from the proxy), CANCEL works.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { kamailioAvailable, startProxy, type Proxy } from '../support/kamailio.ts';
import { describeRun, received, runSipp, sippAvailable, startSipp, type SippOptions, type SippResult } from '../support/sipp.ts';
import { setupCodeOf, WebClient } from '../support/web.ts';
import { testsNeeding } from '../support/requirements.ts';

const PROXY_ADDRESS = '127.0.0.5';
const ROOMS = {
  call: { id: 21, pin: '2121' },
  expiry: { id: 22, pin: '2222', duration: 1 },
  removal: { id: 23, pin: '2323' },
  cancel: { id: 24, pin: '2424' },
  shutdown: { id: 25, pin: '2525' },
} as const;

const TESTS = 6;
const missing = [!sippAvailable() && 'sipp (Debian package sip-tester)', !kamailioAvailable() && 'kamailio (Debian package kamailio)'].filter(Boolean);
const { enabled, t } = testsNeeding(TESTS, missing.length === 0 ? null : `${missing.join(' and ')} not installed`);

let box: RunningBox;
let proxy: Proxy;
let dataDir = '';
let expiry: Promise<SippResult>;

const joinCode = (room: { id: number; pin: string }, pin: string = room.pin) => `*400*${room.id}*${pin}`;

/** A desk phone [ext] behind the proxy. */
function viaProxy(o: Omit<SippOptions, 'port' | 'host' | 'keys'>, ext = '200'): SippOptions {
  return { port: proxy.port, host: PROXY_ADDRESS, keys: { ext }, ...o };
}

function passed(r: SippResult): void {
  assert.ok(r.ok && r.successful === 1 && r.failed === 0, `expected the call to succeed\n${describeRun(r)}`);
}

/** The phone's ACK of the box's 200 has passed the proxy: the call is up at both ends. */
function acknowledged(ext: string): Promise<void> {
  return proxy.waitFor(new RegExp(`ACK sip:confbox@\\S+ from ${ext} at `));
}

/** The box's BYE as the phone received it: relayed by the proxy (its Via on top, the box's below). */
function assertByeThroughProxy(r: SippResult): void {
  const bye = received(r).find((m) => m.start.startsWith('BYE '));
  assert.ok(bye, `no BYE reached the phone\n${describeRun(r)}`);
  const vias = bye.text.split(/\r?\n/).filter((l) => /^(Via|v):/i.test(l));
  assert.ok(vias.length >= 2, `the BYE did not come through the proxy (Via: ${vias.join(' | ')})`);
  assert.match(vias[0]!, new RegExp(`\\b${PROXY_ADDRESS.replace(/\./g, '\\.')}:${proxy.port}\\b`));
}

function noAckTimeouts(): void {
  const lost = box.output().split('\n').filter((l) => /no ACK for the 200 OK/.test(l));
  assert.equal(lost, [], 'the box never got the ACK through the proxy');
}

test.before(async () => {
  if (!enabled) return;
  dataDir = mkdtempSync(join(tmpdir(), 'confbox-proxy-test-'));
  await configure(dataDir, [
    // SIPp sends no RTP: calls must not end for silence.
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ['peer', 'add', PROXY_ADDRESS, '--description', 'office PBX (Kamailio)', '--transport', 'tcp'],
    ...Object.values(ROOMS).map((r) => ['room', 'add', String(r.id), '--pin', r.pin, ...('duration' in r ? ['--duration', String(r.duration)] : [])]),
  ]);
  box = await startBox({ dataDir });
  proxy = await startProxy({ address: PROXY_ADDRESS, boxSipPort: box.sipPort });
  expiry = runSipp(viaProxy({ scenario: 'proxy-box-hangs-up.xml', service: joinCode(ROOMS.expiry), timeoutS: 120, timings: true }, '201'));
});

test.after(async () => {
  if (!enabled) return;
  await proxy?.stop();
  await box?.stop();
  if (dataDir) removeDataDir(dataDir);
});


t('a call through the proxy: the 200 carries its Record-Route; ACK, hold re-INVITE, INFO and the caller\'s BYE reach the box through it', async () => {
  const joined = box.waitForLog((r) => r.msg === 'call join' && r.room === ROOMS.call.id, 20_000);
  const hungUp = box.waitForLog((l) => l.msg === 'caller hung up' && l.room === ROOMS.call.id, 30_000);
  const r = await runSipp(viaProxy({ scenario: 'proxy-call.xml', service: joinCode(ROOMS.call), holdMs: 3000 }));
  passed(r);
  await joined;
  await hungUp;
  const ok = received(r).find((m) => m.start.startsWith('SIP/2.0 200 ') && m.cseq === '1 INVITE');
  assert.ok(ok, describeRun(r));
  const rr = ok.text.split(/\r?\n/).filter((l) => /^Record-Route:/i.test(l)).join(', ');
  assert.ok(rr.includes(`${PROXY_ADDRESS}:${proxy.port}`), `Record-Route in the 200: ${rr || '(none)'}`);
  noAckTimeouts();
});

t('removed from the page: the box\'s BYE reaches the phone through the proxy', async () => {
  const joined = box.waitForLog((r) => r.msg === 'call join' && r.room === ROOMS.removal.id, 20_000);
  const call = startSipp(viaProxy({ scenario: 'proxy-box-hangs-up.xml', service: joinCode(ROOMS.removal), timeoutS: 60 }, '202'));
  await joined;
  await acknowledged('202');
  const web = new WebClient(box.webUrl, box.certificate());
  assert.is((await web.setup('proxy-test-admin', setupCodeOf(box.dataDir))).status, 303);
  await web.get('/rooms');
  const list = await web.api('GET', '/api/conferences');
  const conf = (list.json as Array<{ key: string; roomId: number; participants: Array<{ id: string; caller: string }> }>).find((c) => c.roomId === ROOMS.removal.id);
  assert.ok(conf && conf.participants[0], `conference of room ${ROOMS.removal.id} in ${list.text}`);
  const removed = await web.api('DELETE', `/api/conferences/${encodeURIComponent(conf.key)}/participants/${encodeURIComponent(conf.participants[0].id)}`);
  assert.is(removed.status, 204, removed.text);
  const r = await (await call).done;
  passed(r);
  assertByeThroughProxy(r);
});

t('CANCEL through the proxy while the box speaks a rejection: 200 to the CANCEL, 487 to the INVITE', async () => {
  const r = await runSipp(viaProxy({ scenario: 'proxy-cancel.xml', service: joinCode(ROOMS.cancel, '0000') }, '203'));
  passed(r);
  const got = received(r);
  assert.ok(got.some((m) => m.start.startsWith('SIP/2.0 487 ') && m.cseq === '1 INVITE'), describeRun(r));
});

t('expiry: the box\'s BYE at the end of a 1-minute conference reaches the phone through the proxy', async () => {
  const r = await expiry;
  passed(r);
  assertByeThroughProxy(r);
  noAckTimeouts();
});

t('the proxy routed every request of the dialogs: no in-dialog request it could not route', () => {
  assert.not.match(proxy.output(), /without a route to follow/, proxy.output().slice(-3000));
});

t('shutdown: the box\'s BYE reaches the phone through the proxy before it stops', async () => {
  const joined = box.waitForLog((r) => r.msg === 'call join' && r.room === ROOMS.shutdown.id, 20_000);
  const call = startSipp(viaProxy({ scenario: 'proxy-box-hangs-up.xml', service: joinCode(ROOMS.shutdown), timeoutS: 60 }, '204'));
  await joined;
  await acknowledged('204');
  await box.stop();
  const r = await (await call).done;
  passed(r);
  assertByeThroughProxy(r);
});

test.run();
