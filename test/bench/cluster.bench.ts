// Cluster benchmark: two boxes of the built bundle on one database (a MariaDB Galera node), behind Kamailio with the
// shipped board/cluster/kamailio.cfg, SIPp as a trusted PBX. Not a test: it prints figures, each beside the same
// measure taken directly against a box in the same run.
//   node build.mjs && node --import tsx test/bench/cluster.bench.ts
// Call setup latency (INVITE to 200, from SIPp's microsecond timings) straight to a box and through Kamailio at the
// same rate; then the highest setup rate through the cluster that completes with no failed call.
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDataDir, runCli, startBox, type RunningBox } from '../support/box.ts';
import { GaleraCluster, galeraMissing } from '../support/galera.ts';
import { kamailioAvailable, startDispatcher, type Proxy } from '../support/kamailio.ts';
import { describeRun, percentile, responseTimes, runSipp, sippAvailable, type SippOptions, type SippResult } from '../support/sipp.ts';

const ROOMS = 100;
const PIN = '2468';
const PROXY_ADDRESS = '127.0.0.6';
const LATENCY = { rate: 100, seconds: 10, holdMs: 1000 };
/**
 * Kamailio's shared memory, as board/cluster/README.md tells offices to give it: its transactions live there, and it
 * bounds the call rate the proxy carries (32 MB carried 100 calls/s here, Debian's default 64 MB 300).
 */
const KAMAILIO_SHM_MB = 256;
const STEPS = [100, 200, 300, 400, 600, 800, 1000, 1200, 1500];
const STEP_S = 6;
const log = (line = '') => process.stdout.write(line + '\n');
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');
const rows = (caller: string) => Array.from({ length: ROOMS }, (_, i) => [`*400*${i + 1}*${PIN}`, caller]);

async function main(): Promise<void> {
  const missing = [galeraMissing(), !sippAvailable() && 'sipp (sip-tester)', !kamailioAvailable() && 'kamailio'].filter(Boolean);
  if (missing.length) {
    log(`cluster benchmark: skipped (${missing.join('; ')})`);
    return;
  }
  log(`confbox cluster benchmark on ${cpus().length} CPU(s): two boxes, Kamailio, one MariaDB Galera node and SIPp share them.`);
  const db = new GaleraCluster();
  const dirs = ['a', 'b'].map((n) => mkdtempSync(join(tmpdir(), `confbox-cluster-bench-${n}-`)));
  const boxes: RunningBox[] = [];
  let proxy: Proxy | null = null;
  try {
    await db.start(1);
    const url = await db.database('confbox', 'confbox', 'bench-pw-1');
    const configure = async (args: string[]) => {
      const r = await runCli(dirs[0]!, [...args, '--db', url]);
      if (r.code !== 0) throw new Error(`confbox ${args.join(' ')}: ${r.stderr}`);
    };
    await configure(['peer', 'add', '127.0.0.1', '--description', 'SIPp, a PBX calling the box directly']);
    await configure(['peer', 'add', PROXY_ADDRESS, '--description', 'Kamailio', '--transport', 'tcp']);
    await configure(['settings', 'set', 'rtpTimeoutSeconds', '3600']);
    await configure(['settings', 'set', 'maxParticipants', '32']);
    for (let id = 1; id <= ROOMS; id++) await configure(['room', 'add', String(id), '--pin', PIN, '--keep']);
    for (const [i, dir] of dirs.entries()) boxes.push(await startBox({ dataDir: dir, logLevel: 'warn', extraArgs: ['--db', url, '--box-id', `bench-${'ab'[i]}`, '--rtp-ports', i === 0 ? '40000-44999' : '45000-49999'] }));
    proxy = await startDispatcher({ address: PROXY_ADDRESS, boxSipPorts: boxes.map((b) => b.sipPort), shmMb: KAMAILIO_SHM_MB });
    const direct = (o: Partial<SippOptions>) => runSipp({ scenario: 'call-trusted.xml', port: boxes[0]!.sipPort, messages: false, ...o });
    const viaProxy = (o: Partial<SippOptions>) => runSipp({ scenario: 'proxy-trusted.xml', port: proxy!.port, host: PROXY_ADDRESS, messages: false, ...o });

    log(`\nCall setup latency at ${LATENCY.rate} calls/s for ${LATENCY.seconds} s (held ${LATENCY.holdMs} ms), INVITE to 200:`);
    const latency = async (name: string, run: (o: Partial<SippOptions>) => Promise<SippResult>) => {
      const r = await run({ injection: { rows: rows(name) }, calls: LATENCY.rate * LATENCY.seconds, rate: LATENCY.rate, holdMs: LATENCY.holdMs, timings: true, timeoutS: LATENCY.seconds + 40 });
      const t = responseTimes(r, 'INVITE', 200);
      const v = { p50: percentile(t, 50), p99: percentile(t, 99), failed: r.failed, successful: r.successful };
      log(`  ${name.padEnd(16)} p50 ${ms(v.p50)} ms, p99 ${ms(v.p99)} ms (${v.successful} successful, ${v.failed} failed)`);
      if (r.failed) log(describeRun(r).split('\n').slice(0, 8).join('\n'));
      return v;
    };
    const d = await latency('direct to box a', direct);
    const k = await latency('through Kamailio', viaProxy);
    log(`  ratio through Kamailio / direct: p50 ${(k.p50 / d.p50).toFixed(2)}x, p99 ${(k.p99 / d.p99).toFixed(2)}x (the proxy's hop and its TCP to the boxes)`);

    log(`\nHighest sustained setup rate through Kamailio (${KAMAILIO_SHM_MB} MB shared memory) to both boxes (${STEP_S} s a step, calls held 500 ms, no failure):`);
    let best = 0;
    for (const rate of STEPS) {
      const r = await viaProxy({ injection: { rows: rows('load') }, calls: rate * STEP_S, rate, holdMs: 500, timeoutS: STEP_S + 40 });
      const ok = r.failed === 0 && r.successful === rate * STEP_S;
      log(`  ${String(rate).padStart(4)} calls/s: ${r.successful} successful, ${r.failed} failed${ok ? '' : ' - not sustained'}`);
      if (!ok) {
        log(describeRun(r).split('\n').slice(0, 12).join('\n'));
        break;
      }
      best = rate;
    }
    log(`  sustained: ${best} calls/s through the cluster with no failed call`);
  } finally {
    if (process.env.BENCH_DUMP) {
      for (const b of boxes) log(b.output().split('\n').filter((l) => /"level":"(error|warn)"/.test(l)).slice(0, 10).join('\n'));
      log(proxy?.output().split('\n').filter((l) => /WARN|ERROR|CRIT/.test(l)).slice(0, 30).join('\n'));
    }
    await proxy?.stop();
    for (const b of boxes) await b.stop();
    for (const d of dirs) removeDataDir(d);
    await db.stop();
  }
}

main().catch((e) => {
  console.error(`cluster benchmark: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
