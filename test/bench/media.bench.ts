// Media engine benchmark: mixer kernel, capacity and added latency. Not a test: it prints figures beside
// their targets, and ratios against baselines measured in the same run.
//   node build.mjs && node --import tsx test/bench/media.bench.ts [mixer] [instructions] [capacity] [latency] [recording]
// The engine (NativeEngine, no SIP) runs in this process; the phones are rtp_load
// (firmware/media/native/bench/rtp_load.c), a child process, so its CPU is counted apart from the engine's.
// Both share this machine's cores.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { NativeEngine, type MediaLegOptions } from '../../firmware/media/native-engine.ts';
import { ConferenceRecorder } from '../../firmware/recordings/index.ts';
import { mixerInstructions, type InstructionRow } from './mixer-instructions.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BENCH_DIR = join(ROOT, 'firmware/media/native/bench');
const BIN_DIR = join(ROOT, 'firmware/media/native/build/bench');

/** Mixer rooms: members[:talkers]. */
const MIXER_CASES = ['3', '32', '32:3'];
const FRAME = 160;
const RING = 16;
const LEVEL = 4000;
const MIXER_REPEATS = 7;
const MIXER_RUN_NS = 100_000_000;

/** Steps of rooms, grown until one is not carried; MEDIA_BENCH_ROOMS=20,50,... replaces them. */
const CAPACITY_ROOMS = process.env.MEDIA_BENCH_ROOMS?.split(',').map(Number) ?? [20, 50, 100, 150, 200, 300, 400, 550, 700, 900];
const CAPACITY_WARMUP_MS = 2000;
const CAPACITY_MEASURE_MS = 8000;
/** At most this share of late ticks, missing output frames or concealed input frames for a step to count as carried. */
const CARRIED_MAX_PCT = 0.5;

const LATENCY_ROOMS = 50;
/** Rooms of the recording section's load (one of them recorded). */
const RECORDING_ROOMS = 50;
const LATENCY_WARMUP_MS = 2000;
const LATENCY_CLICKS_PER_ROOM = 8;
const LATENCY_INTERVAL_PACKETS = 10;
/** Where rtp_load puts the click in A's frame (CLICK_POS in rtp_load.c). */
const CLICK_POS = 40;

const RTP_PORTS = { min: 20000, max: 27999 };
const LEG: MediaLegOptions = { codec: 'PCMU', payloadType: 0, ptime: 20, dtmfPayloadType: null, rtpTimeoutMs: null };
const TARGET = { participants: 600, oneCorePct: 100, latencyP50Ms: 20 };
const ASTERISK = {
  cpuPerParticipantPct: [0.4, 0.45] as const,
  realTimeParticipants: 360,
  latencyP50Ms: [18, 19] as const,
};

const log = (line = '') => process.stdout.write(line + '\n');
const fixed = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : '-');
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;

// --- measurement helpers ---

/** Nearest-rank percentile (p in 0..100). */
function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

function median(samples: number[]): number {
  return percentile(samples, 50);
}

/** CPU time of a task in ns: schedstat's run time, or utime + stime from stat (10 ms resolution). */
function taskCpuNs(path: string): number {
  try {
    const run = Number(readFileSync(`${path}/schedstat`, 'utf8').split(' ')[0]);
    if (run > 0) return run;
    const stat = readFileSync(`${path}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 1e7;
  } catch {
    return NaN;
  }
}

function processCpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

function rss(): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
}

/** Busy and stolen time of all cores together, and the total, in clock ticks (/proc/stat's cpu line). */
function machineCpu(): { busy: number; steal: number; total: number } {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return { busy: user + nice + system + irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

const tasks = () => new Set(readdirSync('/proc/self/task'));

/** A NativeEngine and its media thread (the one task engine_create adds to this process). */
/** Media threads of the engine under test; MEDIA_BENCH_THREADS sets them [the engine's default]. */
const MEDIA_THREADS = process.env.MEDIA_BENCH_THREADS ? Number(process.env.MEDIA_BENCH_THREADS) : undefined;

/** The engine, and its media threads' /proc entries (the threads it started). */
function startEngine(): { engine: NativeEngine; mediaTasks: string[] } {
  const before = tasks();
  const engine = new NativeEngine({ rtpPorts: RTP_PORTS, bindAddress: '127.0.0.1', maxLegs: 4000, ...(MEDIA_THREADS ? { mediaThreads: MEDIA_THREADS } : {}) });
  const added = [...tasks()].filter((t) => !before.has(t));
  return { engine, mediaTasks: added.length === (engine.stats().threads ?? 1) ? added.map((t) => `/proc/self/task/${t}`) : [] };
}

/** Times the tasks gave up the processor to wait (each wake-up of a waiting thread is one). */
function wakeUps(paths: string[]): number {
  let n = 0;
  for (const p of paths) n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`${p}/status`, 'utf8'))?.[1] ?? NaN);
  return n;
}

function keyValues(line: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of line.matchAll(/(\w+)=(-?[\d.]+)/g)) out[m[1]!] = Number(m[2]);
  return out;
}

// --- the C programs ---

function buildPrograms(): void {
  const r = spawnSync('sh', [join(BENCH_DIR, 'run.sh'), 'build'], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(r.stdout + r.stderr);
    throw new Error(`${join(BENCH_DIR, 'run.sh')} build failed`);
  }
}

interface Phones {
  pid: number;
  /** Resolves with each line of rtp_load's stdout that starts with `prefix`. */
  next(prefix: string): Promise<string>;
  /** Every "lat" line (latency mode). */
  lines: string[];
  exited: Promise<number | null>;
}

/**
 * Starts rtp_load with one socket per leg, points every leg at its socket, puts them in rooms of `perRoom`
 * and tells rtp_load to start.
 */
async function startPhones(engine: NativeEngine, legs: { leg: number; localPort: number }[], perRoom: number, args: string[]): Promise<Phones> {
  const child = spawn(join(BIN_DIR, 'rtp_load'), args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waiting: { prefix: string; resolve: (line: string) => void }[] = [];
  const backlog: string[] = [];
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout! });
  rl.on('line', (line) => {
    if (line.startsWith('lat ')) {
      lines.push(line);
      return;
    }
    const i = waiting.findIndex((w) => line.startsWith(w.prefix));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(line);
    else backlog.push(line);
  });
  const next = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const i = backlog.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return resolve(backlog.splice(i, 1)[0]!);
      waiting.push({ prefix, resolve });
      void exited.then((code) => reject(new Error(`rtp_load exited (${code}) before "${prefix}"`)));
    });
  const ports = (await next('ports')).split(' ').slice(1).map(Number);
  if (ports.length !== legs.length) throw new Error(`rtp_load opened ${ports.length} sockets for ${legs.length} legs`);
  legs.forEach(({ leg }, i) => {
    engine.connectLeg(leg, '127.0.0.1', ports[i]!, LEG);
    engine.joinConference(leg, `room-${Math.floor(i / perRoom)}`);
  });
  child.stdin!.write(`go ${legs.map((l) => l.localPort).join(' ')}\n`);
  return { pid: child.pid!, next, lines, exited };
}

async function openLegs(engine: NativeEngine, n: number): Promise<{ leg: number; localPort: number }[]> {
  const legs = [];
  for (let i = 0; i < n; i++) legs.push(await engine.openLeg(LEG));
  return legs;
}

// --- 1. mixer kernel ---

interface MixerRow {
  members: number;
  talkers: number;
  cNs: number;
  memcpyNs: number;
  /** The mixer with every member's talk detection, as the engine runs them. */
  talkNs: number;
  /** ... and every member's in-band key (DTMF) detection too. */
  keysNs: number;
  tsNs: number;
}

/** xorshift32, the same sequence as bench_mixer.c's next_random(). */
function xorshift32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s ^ (s << 13)) >>> 0;
    s = (s ^ (s >>> 17)) >>> 0;
    s = (s ^ (s << 5)) >>> 0;
    return s;
  };
}

/**
 * The straightforward mixer: talkers summed into an Int32Array, every member gets sum - own clamped to 16 bits
 * (no soft limiter, no frame shared between non-talkers). Returns one sample per member to keep the work alive.
 */
function tsMixTick(inputs: Int16Array[][], talkers: number, outputs: Int16Array[], sum: Int32Array, t: number): number {
  const f = t % RING;
  sum.fill(0);
  for (let m = 0; m < talkers; m++) {
    const own = inputs[m]![f]!;
    for (let j = 0; j < FRAME; j++) sum[j] = sum[j]! + own[j]!;
  }
  let acc = 0;
  for (let m = 0; m < outputs.length; m++) {
    const out = outputs[m]!;
    if (m < talkers) {
      const own = inputs[m]![f]!;
      for (let j = 0; j < FRAME; j++) {
        const v = sum[j]! - own[j]!;
        out[j] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    } else {
      for (let j = 0; j < FRAME; j++) {
        const v = sum[j]!;
        out[j] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      }
    }
    acc += out[t % FRAME]!;
  }
  return acc;
}

/** ns per member-frame of the TypeScript mixer, measured like bench_mixer.c measures the C one. */
function measureTsMixer(members: number, talkers: number): number {
  const next = xorshift32(0x12345678); // the frames bench_mixer.c mixes
  const inputs: Int16Array[][] = [];
  for (let m = 0; m < members; m++) {
    inputs.push(Array.from({ length: RING }, () => Int16Array.from({ length: FRAME }, () => (next() % (2 * LEVEL + 1)) - LEVEL)));
  }
  const outputs = Array.from({ length: members }, () => new Int16Array(FRAME));
  const sum = new Int32Array(FRAME);
  let sink = 0;
  const run = (ticks: number) => {
    const t0 = process.hrtime.bigint();
    for (let t = 0; t < ticks; t++) sink += tsMixTick(inputs, talkers, outputs, sum, t);
    return Number(process.hrtime.bigint() - t0);
  };
  let ticks = 64;
  while (run(ticks) < MIXER_RUN_NS / 4 && ticks < 2 ** 28) ticks *= 2; // also the JIT's warm-up
  ticks *= 4;
  const runs = Array.from({ length: MIXER_REPEATS }, () => run(ticks));
  if (sink === 0.5) log('unreachable'); // keeps the sum alive
  return median(runs) / (ticks * members);
}

function mixerBench(): MixerRow[] {
  log(`\n(1) mixer kernel: 8 kHz, 20 ms frames, uniform noise of +-${LEVEL}; C -O3 (bench_mixer) and TypeScript in this process ...`);
  const r = spawnSync(join(BIN_DIR, 'bench_mixer'), MIXER_CASES, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bench_mixer failed: ${r.stderr}`);
  const rows: MixerRow[] = [];
  for (const line of r.stdout.split('\n').filter((l) => l.startsWith('mixer '))) {
    const kv = keyValues(line);
    const members = kv.members!;
    const talkers = kv.talkers!;
    rows.push({ members, talkers, cNs: kv.mixer_ns!, memcpyNs: kv.memcpy_ns!, talkNs: kv.talk_ns!, keysNs: kv.keys_ns!, tsNs: measureTsMixer(members, talkers) });
  }
  log(`  ${'room'.padEnd(24)} ${'C mixer'.padStart(9)} ${'memcpy'.padStart(8)} ${'C/memcpy'.padStart(9)} ${'TS mixer'.padStart(9)} ${'TS/C'.padStart(6)}   (ns per member-frame)`);
  for (const m of rows) {
    const room = `${m.members} members, ${m.talkers === m.members ? 'all' : m.talkers} talking`;
    log(`  ${room.padEnd(24)} ${fixed(m.cNs, 1).padStart(9)} ${fixed(m.memcpyNs, 1).padStart(8)} ${`${fixed(m.cNs / m.memcpyNs, 1)}x`.padStart(9)} ${fixed(m.tsNs, 1).padStart(9)} ${`${fixed(m.tsNs / m.cNs, 2)}x`.padStart(6)}`);
  }
  for (const m of rows) {
    log(`  ${m.members} members: the mixer with every member's talk detection ${fixed(m.talkNs, 1)} ns per member-frame, ${fixed(m.talkNs / m.cNs, 2)}x the mixer alone;`);
    log(`    with key (DTMF) detection too ${fixed(m.keysNs, 1)} ns, of which key detection ${fixed(m.keysNs - m.talkNs, 1)} ns (${fixed((m.keysNs - m.talkNs) / m.memcpyNs, 1)}x memcpy)`);
  }
  log('  member-frame = one member\'s 160 samples in (put) and out (get); C includes the soft limiter, TS only clamps;');
  log('  with few talkers the C mixer hands every non-talker one shared frame, the TS one computes each.');
  return rows;
}

function instructionsBench(): InstructionRow[] {
  log('\n(1b) mixer kernel, instructions per member-frame (counted: valgrind on x86-64, qemu-user on arm64) ...');
  const rows = mixerInstructions(BENCH_DIR, join(BIN_DIR, 'bench_mixer'), ['3', '32:3'], log);
  for (const r of rows) log(`  ${r.arch.padEnd(7)} room ${r.room.padEnd(5)} mixer ${fixed(r.mixer, 0).padStart(5)}  memcpy ${fixed(r.memcpy, 0).padStart(4)}  (${fixed(r.mixer / r.memcpy, 1)}x)`);
  return rows;
}

// --- 2. capacity ---

interface Snapshot {
  t: number;
  ticks: number;
  lateTicks: number;
  packetsOut: number;
  concealed: number;
  droppedOther: number;
  engineCpu: number;
  processCpu: number;
  phonesCpu: number;
  rss: number;
  tickMaxUs: number;
  packetsIn: number;
  receiveCalls: number;
  sendCalls: number;
  wakeUps: number;
  machine: { busy: number; steal: number; total: number };
}

interface CapacityRow {
  rooms: number;
  participants: number;
  latePct: number;
  missingPct: number;
  concealedPct: number;
  engineCpuPct: number;
  processCpuPct: number;
  phonesCpuPct: number;
  /** All cores together, in % of one core (up to 100 x cores); steal: time the hypervisor gave to others. */
  machinePct: number;
  stealPct: number;
  tickMaxMs: number;
  maxGapMs: number;
  /** The phones' own worst lateness against their schedule. */
  phonesLateMs: number;
  rss: number;
  rssGrowth: number;
  /** Packets each receive call took; system calls that moved packets, per packet in or out; media thread wake-ups a second. */
  packetsPerReceive: number;
  callsPerPacket: number;
  wakeUpsPerSecond: number;
  carried: boolean;
  note: string;
}

function snapshot(engine: NativeEngine, legs: number[], mediaTasks: string[], phonesPid: number): Snapshot {
  const s = engine.stats();
  let concealed = 0;
  for (const leg of legs) concealed += engine.legStats(leg).concealed;
  return {
    t: Number(process.hrtime.bigint()),
    ticks: s.ticks,
    lateTicks: s.lateTicks,
    packetsOut: s.packetsOut,
    concealed,
    droppedOther: s.droppedOther,
    engineCpu: mediaTasks.length ? mediaTasks.reduce((sum, t) => sum + taskCpuNs(t), 0) : NaN,
    processCpu: processCpuNs(),
    phonesCpu: taskCpuNs(`/proc/${phonesPid}`),
    rss: rss(),
    tickMaxUs: s.tickMaxUs,
    packetsIn: s.packetsIn,
    receiveCalls: s.receiveCalls,
    sendCalls: s.sendCalls,
    wakeUps: mediaTasks.length ? wakeUps(mediaTasks) : NaN,
    machine: machineCpu(),
  };
}

async function capacityStep(rooms: number, recordedRooms = 0): Promise<CapacityRow> {
  const n = rooms * 3;
  const rssBefore = rss();
  const { engine, mediaTasks } = startEngine();
  const recordings = recordedRooms ? mkdtempSync(join(tmpdir(), 'confbox-bench-recordings-')) : null;
  const recorder = recordings ? new ConferenceRecorder({ engine, dir: recordings, minFreeBytes: () => 0 }) : null;
  try {
    const legs = await openLegs(engine, n);
    const ids = legs.map((l) => l.leg);
    const phones = await startPhones(engine, legs, 3, ['load', String(n), String(CAPACITY_WARMUP_MS), String(CAPACITY_MEASURE_MS)]);
    for (let r = 0; r < recordedRooms; r++) recorder!.start(`room-${r}`, r + 1);
    await phones.next('window-start');
    const a = snapshot(engine, ids, mediaTasks, phones.pid);
    await phones.next('window-end');
    const b = snapshot(engine, ids, mediaTasks, phones.pid);
    const result = keyValues(await phones.next('result'));
    await phones.exited;
    const windowNs = b.t - a.t;
    const expectedTicks = windowNs / 20e6;
    const latePct = (100 * (b.lateTicks - a.lateTicks)) / expectedTicks;
    const missingPct = (100 * result.missing!) / result.expected!;
    const concealedPct = (100 * (b.concealed - a.concealed)) / (n * expectedTicks);
    const cpuPct = (x: 'engineCpu' | 'processCpu' | 'phonesCpu') => (100 * (b[x] - a[x])) / windowNs;
    const cores = cpus().length;
    const machineTotal = Math.max(1, b.machine.total - a.machine.total);
    const notes = [];
    if (result.seq_lost) notes.push(`${result.seq_lost} lost on the way`);
    if (result.silent_legs) notes.push(`${result.silent_legs} legs silent`);
    if (b.droppedOther > a.droppedOther) notes.push(`${b.droppedOther - a.droppedOther} input packets too late`);
    return {
      rooms,
      participants: n,
      latePct,
      missingPct,
      concealedPct,
      engineCpuPct: cpuPct('engineCpu'),
      processCpuPct: cpuPct('processCpu'),
      phonesCpuPct: cpuPct('phonesCpu'),
      machinePct: (100 * cores * (b.machine.busy - a.machine.busy)) / machineTotal,
      stealPct: (100 * cores * (b.machine.steal - a.machine.steal)) / machineTotal,
      tickMaxMs: b.tickMaxUs / 1000,
      phonesLateMs: result.sender_max_late_us! / 1000,
      maxGapMs: result.max_gap_us! / 1000,
      rss: b.rss,
      rssGrowth: b.rss - rssBefore,
      packetsPerReceive: (b.packetsIn - a.packetsIn) / Math.max(1, b.receiveCalls - a.receiveCalls),
      callsPerPacket: (b.receiveCalls - a.receiveCalls + b.sendCalls - a.sendCalls) / Math.max(1, b.packetsIn - a.packetsIn + b.packetsOut - a.packetsOut),
      wakeUpsPerSecond: ((b.wakeUps - a.wakeUps) * 1e9) / windowNs,
      carried: latePct <= CARRIED_MAX_PCT && missingPct <= CARRIED_MAX_PCT && concealedPct <= CARRIED_MAX_PCT,
      note: notes.join('; '),
    };
  } finally {
    recorder?.stopAll();
    await engine.close();
    if (recordings) rmSync(recordings, { recursive: true, force: true });
  }
}

async function capacityBench(): Promise<CapacityRow[]> {
  log(`\n(2) capacity: NativeEngine, rooms of 3 G.711 legs; rtp_load sends 20 ms RTP from one socket per leg over loopback;`);
  log(`    each step ${CAPACITY_WARMUP_MS / 1000} s warm-up, ${CAPACITY_MEASURE_MS / 1000} s measured ...`);
  const cols = ['rooms', 'people', 'late', 'missing', 'conceal', 'engine', '/person', 'process', 'phones', 'machine', 'steal', 'tick max', 'gap max', 'ph. late', 'RSS', 'growth', 'pkt/recv', 'calls/pkt', 'wakes/s'];
  const widths = [5, 6, 6, 7, 7, 6, 7, 7, 6, 7, 5, 8, 8, 8, 8, 8, 8, 9, 7];
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join(' ');
  log(`  ${line(cols)}  verdict`);
  const rows: CapacityRow[] = [];
  for (const rooms of CAPACITY_ROOMS) {
    const r = await capacityStep(rooms);
    rows.push(r);
    const pct = (v: number, d = 2) => `${fixed(v, d)}%`;
    const ms = (v: number) => `${fixed(v, 1)} ms`;
    const cells = [
      String(r.rooms), String(r.participants), pct(r.latePct), pct(r.missingPct), pct(r.concealedPct), pct(r.engineCpuPct, 1),
      pct(r.engineCpuPct / r.participants, 3), pct(r.processCpuPct, 1), pct(r.phonesCpuPct, 0), pct(r.machinePct, 0), pct(r.stealPct, 0),
      ms(r.tickMaxMs), ms(r.maxGapMs), ms(r.phonesLateMs), mb(r.rss), `${r.rssGrowth < 0 ? '-' : '+'}${mb(Math.abs(r.rssGrowth))}`,
      fixed(r.packetsPerReceive, 2), fixed(r.callsPerPacket, 2), fixed(r.wakeUpsPerSecond, 0),
    ];
    log(`  ${line(cells)}  ${r.carried ? 'carried' : 'NOT carried'}${r.note ? ` (${r.note})` : ''}`);
    if (!r.carried) break;
  }
  log('  late = timer expirations the media thread missed; missing = frames a phone did not receive (gaps in its stream);');
  log('  conceal = input frames the jitter buffer had to conceal. CPU in % of one core: engine = the media thread, process = this');
  log('  whole process (engine + the JS thread polling stats), phones = rtp_load, machine = every core busy (also the kernel\'s');
  log(`  softirq threads delivering loopback packets; at most ${cpus().length * 100}%; sampled at the scheduler tick, so it misses`);
  log('  short bursts at light load), steal = time the hypervisor gave elsewhere.');
  log('  tick max = the longest tick; gap max = the longest silence between two packets at a phone; ph. late = the phones\' worst');
  log('  lateness against their own schedule; growth = RSS over this process\'s RSS just before the engine started.');
  return rows;
}

// --- 4. recording ---

interface RecordingResult {
  plain: CapacityRow;
  recorded: CapacityRow;
}

/** The same load twice: without a recording, then with one room's mix recorded to a WAV file (engine ring + drain). */
async function recordingBench(): Promise<RecordingResult> {
  log(`\n(4) recording: ${RECORDING_ROOMS} rooms of 3 G.711 legs, as in (2), without and with one room recorded ...`);
  const plain = await capacityStep(RECORDING_ROOMS);
  const recorded = await capacityStep(RECORDING_ROOMS, 1);
  for (const [name, r] of [['no recording', plain], ['1 room recorded', recorded]] as const) {
    log(`  ${name.padEnd(16)} engine ${fixed(r.engineCpuPct, 2)}% core (${fixed(r.engineCpuPct / r.participants, 4)}% a participant), process ${fixed(r.processCpuPct, 2)}%, ${r.carried ? 'carried' : 'NOT carried'}`);
  }
  log('  engine = the media thread (mixing, the recording ring); process = the whole process, with the main thread draining the');
  log('  ring into the file four times a second.');
  return { plain, recorded };
}

// --- 3. added latency ---

interface LatencyResult {
  samples: number[];
  clicks: number;
  lost: number;
  unmatched: number;
  targetMs: number;
  bufferMs: number;
}

async function latencyBench(): Promise<LatencyResult> {
  log(`\n(3) added latency: ${LATENCY_ROOMS} rooms of 2 legs (A, B) at random phases; A sends silence with a click every`);
  log(`    ${LATENCY_INTERVAL_PACKETS * 20} ms, B's socket timestamps the mixed packet carrying it; no network jitter ...`);
  const { engine } = startEngine();
  try {
    const legs = await openLegs(engine, LATENCY_ROOMS * 2);
    const phones = await startPhones(engine, legs, 2, ['latency', String(LATENCY_ROOMS), String(LATENCY_WARMUP_MS), String(LATENCY_CLICKS_PER_ROOM), String(LATENCY_INTERVAL_PACKETS)]);
    // A's jitter buffers while the clicks flow (rtp_load runs warm-up + clicks x interval x 20 ms)
    await new Promise((resolve) => setTimeout(resolve, LATENCY_WARMUP_MS + 1000));
    const inputs = legs.filter((_, i) => i % 2 === 0).map((l) => engine.legStats(l.leg));
    const result = keyValues(await phones.next('result'));
    await phones.exited;
    const samples = phones.lines.map((l) => Number(l.split(' ')[2]) / 1000);
    const aligned = phones.lines.filter((l) => l.split(' ')[3] === String(CLICK_POS)).length;
    const r: LatencyResult = {
      samples,
      clicks: result.clicks!,
      lost: result.lost!,
      unmatched: result.unmatched!,
      targetMs: median(inputs.map((s) => s.targetMs)),
      bufferMs: median(inputs.map((s) => s.bufferMs)),
    };
    log(`  ${samples.length}/${r.clicks} clicks heard (${r.lost} lost, ${r.unmatched} unmatched): p50 ${fixed(percentile(samples, 50), 1)} ms, p90 ${fixed(percentile(samples, 90), 1)} ms, p99 ${fixed(percentile(samples, 99), 1)} ms, min ${fixed(Math.min(...samples), 1)} ms, max ${fixed(Math.max(...samples), 1)} ms`);
    log(`  ${aligned}/${samples.length} clicks came out at their sample position in the frame (${CLICK_POS}); jitter buffers of the A legs`);
    log(`  during the run (median): target ${r.targetMs} ms, depth ${r.bufferMs} ms (0 or 20 ms, depending on when it is read)`);
    return r;
  } finally {
    await engine.close();
  }
}

// --- main ---

async function main(): Promise<void> {
  const known = ['mixer', 'instructions', 'capacity', 'latency', 'recording'];
  const asked = process.argv.slice(2);
  const bad = asked.filter((a) => !known.includes(a));
  if (bad.length) {
    log(`unknown section(s) ${bad.join(', ')}; known: ${known.join(', ')}`);
    process.exit(2);
  }
  const run = (s: string) => asked.length === 0 || asked.includes(s);
  const started = Date.now();
  buildPrograms();
  if (!existsSync(join(BIN_DIR, 'rtp_load'))) throw new Error(`${BIN_DIR}/rtp_load was not built`);
  log(`confbox media benchmark on ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}, parallelism ${availableParallelism()}), Node ${process.version}:`);
  log('the engine, this process\'s JS thread and the rtp_load phones share them.');

  const mixer = run('mixer') ? mixerBench() : [];
  const instructions = run('instructions') ? instructionsBench() : [];
  const capacity = run('capacity') ? await capacityBench() : [];
  const latency = run('latency') ? await latencyBench() : null;
  const recording = run('recording') ? await recordingBench() : null;

  log('\n' + '='.repeat(104));
  log('confbox media benchmark (loopback; the engine and the phones share the machine\'s cores)');
  log('-'.repeat(104));
  log(`${'figure'.padEnd(54)} ${'measured'.padStart(14)} ${'target'.padStart(12)}  baseline / ratio`);
  const row = (figure: string, measured: string, target = '', baseline = '') => log(`${figure.padEnd(54)} ${measured.padStart(14)} ${target.padStart(12)}  ${baseline}`);
  for (const m of mixer) {
    const room = `${m.members} members${m.talkers === m.members ? '' : `, ${m.talkers} talking`}`;
    row(`mixer, ${room}: ns per member-frame (C)`, fixed(m.cNs, 1), '', `${fixed(m.cNs / m.memcpyNs, 1)}x memcpy (${fixed(m.memcpyNs, 1)} ns); TS mixer ${fixed(m.tsNs / m.cNs, 2)}x C (${fixed(m.tsNs, 1)} ns)`);
  }
  for (const r of instructions) {
    row(`mixer, ${r.room === '3' ? '3 members' : '32 members, 3 talking'}: instructions per member-frame (${r.arch})`, fixed(r.mixer, 0), '', `${fixed(r.mixer / r.memcpy, 1)}x memcpy's ${fixed(r.memcpy, 0)} (a count, not time)`);
  }
  if (capacity.length) {
    const carried = capacity.filter((r) => r.carried);
    const best = carried.length ? carried[carried.length - 1]! : null;
    const allCarried = carried.length === capacity.length;
    const largest = best ? `${best.participants}${allCarried ? '+' : ''}` : 'none';
    const at600 = capacity.find((r) => r.participants === TARGET.participants);
    row(`participants carried (<= ${CARRIED_MAX_PCT}% late/missing/concealed)`, largest, `>= ${TARGET.participants}`, `Asterisk ConfBridge: ~${ASTERISK.realTimeParticipants} on both cores${best ? ` (${fixed(best.participants / ASTERISK.realTimeParticipants, 1)}x)` : ''}`);
    if (best) {
      const per = best.engineCpuPct / best.participants;
      row(`engine CPU per participant at ${best.participants}`, `${fixed(per, 3)}% core`, '', `Asterisk: ${ASTERISK.cpuPerParticipantPct.join('-')}% (${fixed(ASTERISK.cpuPerParticipantPct[0] / per, 0)}-${fixed(ASTERISK.cpuPerParticipantPct[1] / per, 0)}x less)`);
      row(`engine CPU at ${best.participants} (media thread)`, `${fixed(best.engineCpuPct, 1)}% core`, '', `whole process ${fixed(best.processCpuPct, 1)}%, phones ${fixed(best.phonesCpuPct, 1)}%`);
    }
    if (at600) {
      row(`engine CPU at ${TARGET.participants} participants`, `${fixed(at600.engineCpuPct, 1)}% core`, `< ${TARGET.oneCorePct}% core`, `${at600.carried ? 'carried' : 'NOT carried'}; late ${fixed(at600.latePct, 2)}%, missing ${fixed(at600.missingPct, 2)}%, concealed ${fixed(at600.concealedPct, 2)}%`);
      row(`RSS at ${TARGET.participants} participants (whole process)`, mb(at600.rss), '', `+${mb(at600.rssGrowth)} over the process before the engine started`);
    }
  }
  if (latency) {
    const p50 = percentile(latency.samples, 50);
    row('added latency packet in -> mixed packet out, p50', `${fixed(p50, 1)} ms`, `<= ${TARGET.latencyP50Ms} ms`, `Asterisk ConfBridge ${ASTERISK.latencyP50Ms.join('-')} ms without a jitter buffer (${fixed(p50 / ASTERISK.latencyP50Ms[1], 2)}-${fixed(p50 / ASTERISK.latencyP50Ms[0], 2)}x)`);
    row('added latency packet in -> mixed packet out, p99', `${fixed(percentile(latency.samples, 99), 1)} ms`, '', `${latency.samples.length} clicks; jitter buffer target ${latency.targetMs} ms`);
  }
  if (recording) {
    const { plain, recorded } = recording;
    row(`engine CPU, ${plain.participants} participants, 1 room recorded`, `${fixed(recorded.engineCpuPct, 2)}% core`, '', `without: ${fixed(plain.engineCpuPct, 2)}% (${fixed(recorded.engineCpuPct / plain.engineCpuPct, 2)}x)`);
    row(`whole process CPU, ${plain.participants} participants, 1 room recorded`, `${fixed(recorded.processCpuPct, 2)}% core`, '', `without: ${fixed(plain.processCpuPct, 2)}% (${recorded.processCpuPct >= plain.processCpuPct ? '+' : ''}${fixed(recorded.processCpuPct - plain.processCpuPct, 2)} points)`);
  }
  log('-'.repeat(104));
  log(`figures only, no thresholds enforced; CPU in % of one core (${cpus().length} cores in all). duration ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

await main();
