// confbox-test: alone
// A box on a three-node MariaDB Galera cluster (test/support/galera.ts: real mariadbd and galera-4 on loopback),
// given all three nodes in --db: the migrations create the schema through the cluster (every table with a primary
// key, as Galera needs), and with rooms created and deleted through the API at a steady rate, the node the box uses
// is killed (SIGKILL) and started again: the box carries on with the others, no change it acknowledged is lost on
// any node, the killed node rejoins with them all, and the box still calls its database healthy.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { GaleraCluster, galeraMissing } from '../support/galera.ts';
import { testsNeeding } from '../support/requirements.ts';
import { firstAdmin, type WebClient } from '../support/web.ts';

const TESTS = 2;
const { enabled, t } = testsNeeding(TESTS, galeraMissing());
const dataDir = mkdtempSync(join(tmpdir(), 'confbox-galera-box-'));
const cluster = new GaleraCluster();
let box: RunningBox;
let web: WebClient;

test.before(async () => {
  if (!enabled) return;
  await cluster.start(3);
  box = await startBox({ dataDir, extraArgs: ['--db', await cluster.database('confbox', 'confbox', 'cluster-pw-1')] });
  web = await firstAdmin(box, 'three-nodes-are-safer-1');
});

test.after(async () => {
  await box?.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
  removeDataDir(dataDir);
  if (enabled) await cluster.stop();
});

t('the schema is made through the cluster: the same tables on every node, each with a primary key', async () => {
  const keyless = await cluster.query(cluster.nodes[2]!, `SELECT t.table_name AS name FROM information_schema.tables t
    WHERE t.table_schema = 'confbox' AND NOT EXISTS (SELECT 1 FROM information_schema.table_constraints c
      WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.constraint_type = 'PRIMARY KEY')`);
  assert.equal(keyless.map((r) => r.name), [], 'tables without a primary key');
  const tables = await Promise.all(cluster.nodes.map(async (n) => (await cluster.query(n, "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'confbox' ORDER BY 1")).map((r) => r.name).join(',')));
  assert.ok(tables[0]!.includes('rooms'), tables[0]);
  assert.equal(new Set(tables).size, 1, 'every node has the same tables');
});

t('a node dies while rooms are created and deleted: nothing acknowledged is lost, the box carries on, the node rejoins', async () => {
  const acked = { created: new Set<number>(), deleted: new Set<number>() };
  let refused = 0;
  let firstRefusal = 0;
  let lastRefusal = 0;
  let running = true;
  // Rooms 1 to 200, one after the other: each created, and every other one deleted again right after.
  const changes = (async () => {
    for (let id = 1; running && id <= 200; id++) {
      const made = await web.api('POST', '/api/rooms', { id: String(id), pin: '4826', keep: true });
      if (made.status === 201) acked.created.add(id);
      else {
        refused++;
        lastRefusal = Date.now();
        firstRefusal ||= lastRefusal;
        assert.is(made.status, 503, `room ${id}: ${made.status} ${made.text}`);
      }
      if (made.status === 201 && id % 2 === 0) {
        const gone = await web.api('DELETE', `/api/rooms/${id}`);
        if (gone.status === 200) acked.deleted.add(id);
        else {
          refused++;
          lastRefusal = Date.now();
          assert.is(gone.status, 503, `delete ${id}: ${gone.status} ${gone.text}`);
        }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  await new Promise((r) => setTimeout(r, 3000));
  const victim = cluster.nodes[0]!;
  const killedAt = Date.now();
  await cluster.kill(victim);
  await new Promise((r) => setTimeout(r, 8000));
  const rejoinStart = Date.now();
  await cluster.restart(victim);
  const rejoinMs = Date.now() - rejoinStart;
  await new Promise((r) => setTimeout(r, 3000));
  running = false;
  await changes;
  const gap = firstRefusal ? lastRefusal - firstRefusal : 0;
  console.log(`# ${acked.created.size} rooms created, ${acked.deleted.size} deleted, ${refused} changes answered 503 (over ${gap} ms from the kill at +0: first at +${firstRefusal ? firstRefusal - killedAt : 0} ms); node 1 rejoined in ${rejoinMs} ms`);
  assert.ok(acked.created.size > 50, `changes kept being made: ${acked.created.size}`);
  const expected = [...acked.created].filter((id) => !acked.deleted.has(id));
  for (const n of cluster.nodes) {
    const ids = new Set((await cluster.query(n, 'SELECT id FROM confbox.rooms')).map((r) => Number(r.id)));
    const lost = expected.filter((id) => !ids.has(id));
    const back = [...acked.deleted].filter((id) => ids.has(id));
    assert.equal([lost, back], [[], []], `node ${n.index}: acknowledged rooms missing, or acknowledged deletions undone`);
  }
  const status = await web.api('GET', '/api/status');
  assert.is(status.json.database, 'ok', JSON.stringify(status.json));
  const again = [...acked.deleted][0]!;
  const made = await web.api('POST', '/api/rooms', { id: String(again), pin: '4826' });
  assert.is(made.status, 201, made.text);
});

test.run();
