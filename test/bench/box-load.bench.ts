// Whole-box load benchmark: the built box (SIP, database, media engine, all of it) carrying N participants the way
// the comparison with Asterisk ConfBridge was made: SIPp as a trusted PBX sets up the calls, each with its audio at a
// socket of rtp_load (firmware/media/native/bench/rtp_load.c), which plays every phone (G.711 µ-law, 20 ms, everybody
// talking all the time) and measures what comes back. Not a test: it prints figures.
//   node build.mjs && node --import tsx test/bench/box-load.bench.ts [participants...]
// For each step: CPU of the box process per participant (all its threads, in % of one core), its RSS, and whether
// it carried the load in real time (no stream short of packets, no sequence lost, no silent stream).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { configure, removeDataDir, startBox } from '../support/box.ts';
import { describeRun, sippAvailable, startSipp } from '../support/sipp.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH_DIR = join(ROOT, 'firmware/media/native/bench');
const RTP_LOAD = join(ROOT, 'firmware/media/native/build/bench/rtp_load');
const STEPS = [240, 600, 1000, 1500];
const PIN = '3579';
const ROOMS = 200;
const SETUP_RATE = 200;
const WARMUP_MS = 3000;
const MEASURE_MS = 10_000;
/** Real time: at most this share of the expected packets missing (every stream close to 50 packets/s). */
const CARRIED_MAX_MISSING_PCT = 1;
const CLOCK_TICK_NS = 1e9 / 100;
const log = (line = '') => process.stdout.write(line + '\n');

/** Node's options and the C library's settings as the board's unit gives them (heap cap, young generation, malloc
 * arenas): the box is measured as it runs there. */
const BOARD_UNIT = readFileSync(join(ROOT, 'board/rootfs/etc/systemd/system/confbox.service'), 'utf8');
const BOARD_NODE_ARGS = (/^ExecStart=(.*)$/m.exec(BOARD_UNIT)?.[1] ?? '').split(/\s+/).filter((a) => a.startsWith('--'));
const BOARD_ENV = Object.fromEntries([...BOARD_UNIT.matchAll(/^Environment=(MALLOC_\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]));

/** Rooms of 3 up to the room limit, then larger rooms. */
const perRoom = (n: number) => Math.max(3, Math.ceil(n / ROOMS));

function processCpuNs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * CLOCK_TICK_NS;
}

function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

function keyValues(line: string): Record<string, number> {
  return Object.fromEntries(line.split(' ').slice(1).map((kv) => kv.split('=')).map(([k, v]) => [k!, Number(v)]));
}

interface Row { participants: number; perRoom: number; cpuPct: number; rssMb: number; missingPct: number; seqLost: number; silent: number; maxGapMs: number; overruns: number; carried: boolean; note: string }

async function step(n: number): Promise<Row> {
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-box-load-'));
  const work = mkdtempSync(join(tmpdir(), 'confbox-box-load-sipp-'));
  const per = perRoom(n);
  await configure(dataDir, [
    ['peer', 'add', '127.0.0.1', '--description', 'SIPp, the PBX of the load'],
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ...Array.from({ length: Math.ceil(n / per) }, (_, r) => ['room', 'add', String(r + 1), '--pin', PIN, '--keep', '--max-participants', '32']),
  ]);
  // Below the ephemeral ports (32768 and up), where rtp_load's and SIPp's sockets are.
  const box = await startBox({ dataDir, rtpPortBase: 20000, rtpPortCount: 2 * n + 200, logLevel: 'warn', nodeArgs: BOARD_NODE_ARGS, env: BOARD_ENV });
  const phones = spawn(RTP_LOAD, ['load', String(n), String(WARMUP_MS), String(MEASURE_MS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const waiting: Array<{ prefix: string; resolve: (l: string) => void }> = [];
  createInterface({ input: phones.stdout! }).on('line', (l) => {
    const i = waiting.findIndex((w) => l.startsWith(w.prefix));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(l);
    else lines.push(l);
  });
  const next = (prefix: string) => new Promise<string>((resolve) => {
    const i = lines.findIndex((l) => l.startsWith(prefix));
    if (i >= 0) resolve(lines.splice(i, 1)[0]!);
    else waiting.push({ prefix, resolve });
  });
  try {
    const ports = (await next('ports')).split(' ').slice(1);
    const logFile = join(work, 'media.log');
    const setupS = n / SETUP_RATE;
    const holdMs = Math.ceil(setupS * 1000) + WARMUP_MS + MEASURE_MS + 10_000;
    const sipp = await startSipp({
      scenario: 'load-call.xml', port: box.sipPort, calls: n, limit: n, rate: SETUP_RATE, holdMs, timeoutS: Math.ceil(holdMs / 1000) + 60, messages: false,
      injection: { rows: ports.map((p, i) => [`*400*${Math.floor(i / per) + 1}*${PIN}`, `p${i}`, p]) },
      extraArgs: ['-trace_logs', '-log_file', logFile],
    });
    // Where the box takes each phone's audio: the port of its answer, as SIPp logged it.
    const boxPort = new Map<string, string>();
    const until = Date.now() + setupS * 1000 + 30_000;
    while (boxPort.size < n && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      if (!existsSync(logFile)) continue;
      for (const m of readFileSync(logFile, 'utf8').matchAll(/media (\d+) (\d+)/g)) boxPort.set(m[1]!, m[2]!);
    }
    if (boxPort.size < n) {
      sipp.kill();
      const warnings = box.output().split('\n').filter((l) => /"level":"(warn|error)"/.test(l)).slice(0, 3).join('\n');
      throw new Error(`${boxPort.size} of ${n} calls answered in time; the box said:\n${warnings}\nSIPp: ${describeRun(await sipp.done).split('\n').slice(1, 2).join('')}`);
    }
    phones.stdin!.write(`go ${ports.map((p) => boxPort.get(p)).join(' ')}\n`);
    await next('window-start');
    const a = processCpuNs(box.proc.pid!);
    const t0 = process.hrtime.bigint();
    await next('window-end');
    const b = processCpuNs(box.proc.pid!);
    const windowNs = Number(process.hrtime.bigint() - t0);
    const rss = rssMb(box.proc.pid!);
    const r = keyValues(await next('result'));
    sipp.kill();
    await sipp.done.catch(() => undefined);
    const cpuPct = (100 * (b - a)) / windowNs;
    const missingPct = (100 * r.missing!) / r.expected!;
    const overruns = box.output().split('\n').filter((l) => l.includes('media engine missed ticks')).length;
    const carried = missingPct <= CARRIED_MAX_MISSING_PCT && r.seq_lost === 0 && r.silent_legs === 0;
    const note = [r.sender_missed_slots ? `the phones missed ${r.sender_missed_slots} send slots` : ''].filter(Boolean).join('; ');
    return { participants: n, perRoom: per, cpuPct, rssMb: rss, missingPct, seqLost: r.seq_lost!, silent: r.silent_legs!, maxGapMs: r.max_gap_us! / 1000, overruns, carried, note };
  } finally {
    phones.kill('SIGKILL');
    await box.stop();
    removeDataDir(dataDir);
    rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (!sippAvailable()) {
    log('box load benchmark: skipped (sipp (sip-tester) not installed)');
    return;
  }
  const built = spawnSync('sh', [join(BENCH_DIR, 'run.sh'), 'build'], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`${join(BENCH_DIR, 'run.sh')} build failed: ${built.stderr}`);
  const steps = process.argv.slice(2).map(Number).filter((x) => x > 0);
  log(`confbox whole-box load on ${cpus().length} CPU(s): SIPp sets up the calls (${SETUP_RATE}/s), rtp_load plays every phone`);
  log(`(G.711, 20 ms, all talking); the box, its database, SIPp and rtp_load share the machine. Window ${MEASURE_MS / 1000} s after ${WARMUP_MS / 1000} s of warm-up.`);
  log('Baseline, the same load on Asterisk 23 ConfBridge measured on this machine: 0.59 % of a core per participant at 240, not real time at 360.');
  log(`Node options as on the board: ${BOARD_NODE_ARGS.join(' ')}; environment: ${Object.entries(BOARD_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  log(`\n  ${'participants'.padStart(12)} ${'room'.padStart(5)} ${'box CPU'.padStart(8)} ${'/participant'.padStart(13)} ${'RSS'.padStart(7)} ${'missing'.padStart(8)} ${'seq lost'.padStart(9)} ${'max gap'.padStart(8)} ${'overruns'.padStart(9)}  verdict`);
  for (const n of steps.length ? steps : STEPS) {
    try {
      const r = await step(n);
      log(`  ${String(r.participants).padStart(12)} ${String(r.perRoom).padStart(5)} ${`${r.cpuPct.toFixed(1)}%`.padStart(8)} ${`${(r.cpuPct / r.participants).toFixed(3)}%`.padStart(13)} ${`${r.rssMb.toFixed(0)} MB`.padStart(7)} ${`${r.missingPct.toFixed(2)}%`.padStart(8)} ${String(r.seqLost).padStart(9)} ${`${r.maxGapMs.toFixed(0)} ms`.padStart(8)} ${String(r.overruns).padStart(9)}  ${r.carried ? 'real time' : 'NOT real time'}${r.note ? ` (${r.note})` : ''}`);
    } catch (e) {
      log(`  ${String(n).padStart(12)}  failed: ${(e as Error).message}`);
    }
  }
}

main().catch((e) => {
  console.error(`box load benchmark: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
