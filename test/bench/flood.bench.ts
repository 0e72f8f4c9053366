// Memory of the built bundle under a SIP flood on loopback. Not a test: it prints figures beside the bound
// (RSS within 2 x idle + 50 MB) that test/integration/flood.test.ts asserts.
//   npm run bench        (node build.mjs, then each benchmark; this one: node --import tsx test/bench/flood.bench.ts)
import { configure, removeDataDir, startBox } from '../support/box.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flood, GUESSED, loopbackSources, zzufAvailable } from '../support/flood.ts';
import { optionsAlive, sleep } from '../support/conformance.ts';

const FLOOD = { count: 100_000, rate: 4000, maxMs: 60_000 };
/** After the flood: long enough for every transaction timer (64 x T1 = 32 s) to have run out. */
const SETTLE_MS = 40_000;
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(0)} MB`;
const log = (line = '') => process.stdout.write(line + '\n');

async function run(label: string, nodeArgs: string[]): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-flood-bench-'));
  await configure(dataDir, [
    ['extension', 'add', '100', '--password', 'flood-secret'],
    ['extension', 'add', GUESSED, '--password', 'not-guessed-by-the-flood'],
    ['room', 'add', '1', '--pin', '1234'],
  ]);
  const box = await startBox({ dataDir, logLevel: 'info', nodeArgs });
  try {
    await sleep(3000);
    const idle = box.rss();
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, box.rss())), 100);
    const narrow = flood({ ...FLOOD, boxPort: box.sipPort, count: FLOOD.count / 2, rate: FLOOD.rate / 2, sources: ['127.66.0.1', '127.66.0.2'], portsPerSource: 8, seed: 1 });
    const wide = flood({ ...FLOOD, boxPort: box.sipPort, count: FLOOD.count / 2, rate: FLOOD.rate / 2, sources: loopbackSources(500), portsPerSource: 1, seed: 2 });
    const [a, b] = await Promise.all([narrow, wide]);
    const answered = (await optionsAlive(box.sipPort, 5000))?.status ?? 'no answer';
    const afterFlood = box.rss();
    await sleep(SETTLE_MS);
    clearInterval(sampler);
    const settled = box.rss();
    const bound = 2 * idle + 50 * 1048576;
    log(`${label}: ${a.sent + b.sent} datagrams in ${((Math.max(a.ms, b.ms)) / 1000).toFixed(1)} s (${a.answers + b.answers} answers); ` +
      `RSS idle ${mb(idle)}, peak ${mb(peak)}, right after ${mb(afterFlood)}, ${SETTLE_MS / 1000} s later ${mb(settled)}; ` +
      `bound ${mb(bound)} -> ${peak <= bound ? 'within' : 'EXCEEDED'}; OPTIONS after the flood: ${answered}; ` +
      `${box.proc.exitCode === null ? 'still running' : `exited ${box.proc.exitCode}`}`);
  } finally {
    await box.stop();
    removeDataDir(dataDir);
  }
}

if (!zzufAvailable()) {
  log('flood benchmark: zzuf is not installed (scripts/setup-host.sh installs it)');
  process.exit(1);
}
log(`SIP flood: ${FLOOD.count} datagrams at ${FLOOD.rate}/s, half from 2 addresses, half from 500 (zzuf mutations, garbage, valid requests)`);
await run('default heap', []);
await run('board heap cap (--max-old-space-size=192)', ['--max-old-space-size=192']);
