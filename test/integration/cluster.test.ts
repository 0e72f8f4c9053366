// confbox-test: alone
// Two boxes behind Kamailio with the shipped configuration (board/cluster/kamailio.cfg: dispatcher, a room's calls
// hashed to one box), both on one database (a MariaDB Galera node, test/support/galera.ts): twelve rooms, three SIPp
// callers each, all through the proxy. Every room's callers meet on one box, and both boxes host some rooms.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removeDataDir, runCli, startBox, type RunningBox } from '../support/box.ts';
import { GaleraCluster, galeraMissing } from '../support/galera.ts';
import { kamailioAvailable, startDispatcher, type Proxy } from '../support/kamailio.ts';
import { testsNeeding } from '../support/requirements.ts';
import { describeRun, sippAvailable, startSipp, type SippResult } from '../support/sipp.ts';
import { firstAdmin, WebClient } from '../support/web.ts';

const PROXY_ADDRESS = '127.0.0.6';
const ROOMS = Array.from({ length: 12 }, (_, i) => 31 + i);
const PIN = '7315';
const ADMIN = 'two-boxes-one-office-1';
const TESTS = 1;
const missing = [galeraMissing(), !sippAvailable() && 'sipp (sip-tester)', !kamailioAvailable() && 'kamailio'].filter(Boolean);
const { enabled, t } = testsNeeding(TESTS, missing.length ? missing.join('; ') : null);
const db = new GaleraCluster();
const dataDirs = ['a', 'b'].map((n) => mkdtempSync(join(tmpdir(), `confbox-cluster-${n}-`)));
const boxes: RunningBox[] = [];
let proxy: Proxy;

test.before(async () => {
  if (!enabled) return;
  await db.start(1);
  const node = db.nodes[0]!;
  await db.query(node, 'CREATE DATABASE confbox CHARACTER SET utf8mb4');
  await db.query(node, "CREATE USER 'confbox'@'127.0.0.1' IDENTIFIED BY 'shared-pw-1'");
  await db.query(node, "GRANT ALL ON confbox.* TO 'confbox'@'127.0.0.1'");
  const url = db.url('confbox', 'shared-pw-1', 'confbox');
  // The configuration is the office's, in the one database: given once, through either box's command line.
  const configure = async (args: string[]) => {
    const r = await runCli(dataDirs[0]!, [...args, '--db', url]);
    assert.is(r.code, 0, r.stderr);
  };
  await configure(['settings', 'set', 'rtpTimeoutSeconds', '3600']);
  await configure(['peer', 'add', PROXY_ADDRESS, '--description', 'Kamailio in front of the boxes', '--transport', 'tcp']);
  for (const id of ROOMS) await configure(['room', 'add', String(id), '--pin', PIN, '--keep']);
  for (const [i, dir] of dataDirs.entries()) boxes.push(await startBox({ dataDir: dir, extraArgs: ['--db', url, '--box-id', `box-${'ab'[i]}`] }));
  proxy = await startDispatcher({ address: PROXY_ADDRESS, boxSipPorts: boxes.map((b) => b.sipPort) });
});

test.after(async () => {
  await proxy?.stop();
  for (const b of boxes) await b.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(proxy?.output());
  for (const d of dataDirs) removeDataDir(d);
  if (enabled) await db.stop();
});

t('twelve rooms of three callers through Kamailio: each room meets on one box, and both boxes host rooms', async () => {
  const runs = await Promise.all(ROOMS.map((room, i) => startSipp({
    scenario: 'proxy-call.xml', port: proxy.port, host: PROXY_ADDRESS, service: `*400*${room}*${PIN}`, keys: { ext: String(300 + i) },
    calls: 3, limit: 3, rate: 10, holdMs: 12_000, timeoutS: 60,
  })));
  const calls: Array<Promise<SippResult>> = runs.map((r) => r.done);
  // While the calls are up: where is each room?
  const webs: WebClient[] = [];
  for (const b of boxes) webs.push(await firstAdmin(b, ADMIN).catch(async () => {
    const w = new WebClient(b.webUrl, b.certificate());
    assert.is((await w.login(ADMIN)).status, 303);
    return w;
  }));
  const hosted = new Map<number, Array<{ box: string; participants: number }>>();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    hosted.clear();
    for (const [i, w] of webs.entries()) {
      const r = await w.api('GET', '/api/conferences');
      for (const c of r.json as Array<{ roomId: number; participants: unknown[] }>) {
        hosted.set(c.roomId, [...(hosted.get(c.roomId) ?? []), { box: 'ab'[i]!, participants: c.participants.length }]);
      }
    }
    const full = ROOMS.every((room) => (hosted.get(room) ?? []).reduce((n, h) => n + h.participants, 0) === 3);
    if (full) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const where = ROOMS.map((room) => `${room}: ${(hosted.get(room) ?? []).map((h) => `${h.box}×${h.participants}`).join('+') || 'nowhere'}`).join(', ');
  console.log(`# ${where}`);
  for (const room of ROOMS) {
    const on = hosted.get(room) ?? [];
    assert.is(on.length, 1, `room ${room} is on one box: ${where}`);
    assert.is(on[0]!.participants, 3, `room ${room} has its three callers: ${where}`);
  }
  const perBox = ['a', 'b'].map((b) => ROOMS.filter((room) => hosted.get(room)?.[0]?.box === b).length);
  assert.ok(perBox.every((n) => n > 0), `both boxes host rooms: a ${perBox[0]}, b ${perBox[1]}`);
  for (const r of await Promise.all(calls)) assert.ok(r.ok && r.failed === 0 && r.successful === 3, describeRun(r));
});

test.run();
