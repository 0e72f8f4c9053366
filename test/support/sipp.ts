// Runs SIPp (Debian sip-tester 3.6) against a box: one scenario from test/sipp, in the foreground,
// with its trace files in a temporary directory, and reads back what happened.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { createSocket, type Socket } from 'node:dgram';
import { freePort, ROOT } from './box.ts';

export const SCENARIOS = join(ROOT, 'test/sipp');
const SIPP = process.env.SIPP ?? 'sipp';
/** USER_HZ of /proc/PID/stat; 100 on every Linux this runs on. */
const CLOCK_TICKS_PER_S = 100;

/** True when the sipp binary runs here; tests report themselves skipped otherwise. */
export function sippAvailable(): boolean {
  const r = spawnSync(SIPP, ['-v'], { encoding: 'utf8' });
  return r.error === undefined && /SIPp v\d/.test(r.stdout + r.stderr);
}

export interface SippOptions {
  /** A file name in test/sipp, or an absolute path. */
  scenario: string;
  /** The box's SIP port; the box is on `host` (127.0.0.1). */
  port: number;
  host?: string;
  /** -i: SIPp's own address (and its RTP's); default 127.0.0.1, ::1 for SIPp over IPv6. */
  local?: string;
  /** -s: the Request-URI user part, here the dialed feature code. */
  service?: string;
  /** -key NAME VALUE: [NAME] in the scenario. */
  keys?: Record<string, string>;
  /** -au / -ap: digest credentials for [authentication]. */
  auth?: { user: string; password: string };
  /** -m: calls to place; default 1. */
  calls?: number;
  /** -r: calls per second; default 10. */
  rate?: number;
  /** -l: most calls at once. */
  limit?: number;
  /** -d: length of a scenario's plain <pause/> in ms (how long a call is held). */
  holdMs?: number;
  transport?: 'udp' | 'tcp';
  /** -inf: one row per call (fields [field0], [field1], ...), read in this order. */
  injection?: { order?: 'SEQUENTIAL' | 'RANDOM' | 'USER'; rows: string[][] };
  /** -timeout: SIPp gives up after this long (the run then fails); also a hard kill 10 s later. Default 60 s. */
  timeoutS?: number;
  /** -trace_rtt: collect every response time (rtd) of every call. */
  rtt?: boolean;
  /** -trace_shortmsg: keep when each message was sent or received, to the microsecond (see responseTimes). */
  timings?: boolean;
  /** -trace_msg: keep every SIP message sent and received (for assertions and failure reports). Default true. */
  messages?: boolean;
  extraArgs?: string[];
}

export interface SippResult {
  /** SIPp's exit code: 0 all calls succeeded, 1 some failed, 97 stopped, 99 no calls processed, 255/254 fatal. */
  code: number | null;
  ok: boolean;
  created: number;
  successful: number;
  failed: number;
  /** Failure counters from the stat file that are not zero (FailedCallRejected, FailedMaxUDPRetrans, ...). */
  failures: Record<string, number>;
  /** Response times in ms by rtd name (the scenario's start_rtd / rtd), when `rtt` was asked for. */
  rtt: Record<string, number[]>;
  /** Every message's first line and time, when `timings` was asked for. */
  shortMessages: ShortMessage[];
  /** Sent and received SIP messages as SIPp logged them (trace_msg), when kept. */
  messages: string;
  /** Unexpected messages and other errors SIPp logged. */
  errors: string;
  /** SIPp's last screen and its stderr. */
  screen: string;
  elapsedMs: number;
  /** CPU seconds SIPp itself used (user + system, sampled from /proc every 200 ms, so a slight undercount). */
  cpuS: number;
  args: string[];
}

/** Runs one scenario to its end; never rejects for a failed call (look at ok/failed), only for a missing binary. */
export async function runSipp(o: SippOptions): Promise<SippResult> {
  // The ports are picked free, but another program on the machine may take one before SIPp binds it:
  // SIPp then stops before placing a call, and the run is repeated on new ports.
  for (let attempt = 1; ; attempt++) {
    const r = await (await startSipp(o)).done;
    if (attempt >= 3 || r.created > 0 || !/errno = 98|Address already in use/.test(r.errors)) return r;
  }
}

export interface SippHandle {
  done: Promise<SippResult>;
  /** The port SIPp takes SIP on (-p): where a SIPp that answers calls registers its Contact. */
  sipPort: number;
  /** SIGUSR1: place no new calls, let the ones in progress finish, then exit. */
  finish(): void;
  /** Ends SIPp at once (calls in progress are abandoned). */
  kill(): void;
}

/** SIPp binds audio RTP/RTCP and video RTP/RTCP at -mp, -mp+1, -mp+2, -mp+3: all four must be free. */
async function freeMediaBase(): Promise<number> {
  for (;;) {
    const base = (await freePort()) & ~1;
    if (base + 3 > 65535) continue;
    const sockets: Socket[] = [];
    let ok = true;
    for (let p = base; p < base + 4 && ok; p++) {
      ok = await new Promise<boolean>((resolve) => {
        const u = createSocket('udp4');
        u.once('error', () => resolve(false));
        u.bind(p, '127.0.0.1', () => {
          sockets.push(u);
          resolve(true);
        });
      });
    }
    await Promise.all(sockets.map((u) => new Promise<void>((r) => u.close(() => r()))));
    if (ok) return base;
  }
}

/** Starts one scenario and returns at once; `done` resolves when SIPp exits. */
export async function startSipp(o: SippOptions): Promise<SippHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'confbox-sipp-'));
  const scenario = isAbsolute(o.scenario) ? o.scenario : join(SCENARIOS, o.scenario);
  const timeoutS = o.timeoutS ?? 60;
  const keepMessages = o.messages ?? true;
  const [sipPort, mediaPort, controlPort] = [await freePort(), await freeMediaBase(), await freePort()];
  const args = [
    `${o.host ?? '127.0.0.1'}:${o.port}`,
    '-sf', scenario,
    '-i', o.local ?? '127.0.0.1',
    '-p', String(sipPort),
    '-mp', String(mediaPort),
    '-cp', String(controlPort),
    '-t', o.transport === 'tcp' ? 't1' : 'u1',
    '-m', String(o.calls ?? 1),
    '-r', String(o.rate ?? 10),
    '-timeout', `${timeoutS}s`, '-timeout_error',
    '-nostdin',
    '-trace_stat', '-stf', join(dir, 'stat.csv'), '-fd', '3600',
    '-trace_err', '-error_file', join(dir, 'errors.log'),
    '-trace_screen', '-screen_file', join(dir, 'screen.log'),
  ];
  if (o.service !== undefined) args.push('-s', o.service);
  if (o.limit !== undefined) args.push('-l', String(o.limit));
  if (o.holdMs !== undefined) args.push('-d', String(o.holdMs));
  if (o.auth) args.push('-au', o.auth.user, '-ap', o.auth.password);
  // The box takes a digest only for the Request-URI it was made for; SIPp's default uri is the box's address (a REGISTER's).
  if (o.auth && o.service !== undefined) args.push('-auth_uri', `${o.service}@${o.host ?? '127.0.0.1'}:${o.port}`);
  for (const [k, v] of Object.entries(o.keys ?? {})) args.push('-key', k, v);
  if (o.injection) {
    const file = join(dir, 'inject.csv');
    writeFileSync(file, [o.injection.order ?? 'SEQUENTIAL', ...o.injection.rows.map((r) => r.join(';'))].join('\n') + '\n');
    args.push('-inf', file);
  }
  if (o.rtt) args.push('-trace_rtt', '-rtt_freq', '1');
  if (o.timings) args.push('-trace_shortmsg', '-shortmessage_file', join(dir, 'short.csv'));
  if (keepMessages) args.push('-trace_msg', '-message_file', join(dir, 'messages.log'));
  args.push(...(o.extraArgs ?? []));

  const started = Date.now();
  // SIPp writes the -trace_rtt file in its working directory, named after the scenario.
  const child = spawn(SIPP, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer) => {
    out += b.toString('latin1');
    if (out.length > 400_000) out = out.slice(-200_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const hardKill = setTimeout(() => child.kill('SIGKILL'), (timeoutS + 10) * 1000);
  let cpuS = 0;
  const sampleCpu = () => { cpuS = Math.max(cpuS, processCpuSeconds(child.pid)); };
  const cpuTimer = setInterval(sampleCpu, 200);
  const done = new Promise<SippResult>((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(hardKill);
      clearInterval(cpuTimer);
      rmSync(dir, { recursive: true, force: true });
      reject(new Error(`cannot run ${SIPP}: ${e.message}`));
    });
    child.once('exit', sampleCpu);
    child.once('close', (code, signal) => {
      clearTimeout(hardKill);
      clearInterval(cpuTimer);
      try {
        resolve({ ...collect(dir, code ?? (signal ? 128 : null), out, Date.now() - started, args, keepMessages), cpuS });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
  return {
    done,
    sipPort,
    finish: () => { if (child.exitCode === null) child.kill('SIGUSR1'); },
    kill: () => { if (child.exitCode === null) child.kill('SIGKILL'); },
  };
}

function read(file: string): string {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return '';
  }
}

/** utime + stime of a live process from /proc/PID/stat, in seconds (0 once it is gone). */
export function processCpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICKS_PER_S;
  } catch {
    return 0;
  }
}

function collect(dir: string, code: number | null, out: string, elapsedMs: number, args: string[], keepMessages: boolean): Omit<SippResult, 'cpuS'> {
  const stat = parseStat(read(join(dir, 'stat.csv')));
  const rtt: Record<string, number[]> = {};
  for (const f of readdirSync(dir).filter((n) => n.endsWith('_rtt.csv'))) {
    for (const [name, ms] of parseRtt(read(join(dir, f)))) (rtt[name] ??= []).push(ms);
  }
  const screens = read(join(dir, 'screen.log'));
  const lastScreen = screens.slice(Math.max(0, screens.lastIndexOf('------------------------------ Scenario Screen')));
  const num = (k: string) => Number(stat[k] ?? 0);
  const failures: Record<string, number> = {};
  for (const [k, v] of Object.entries(stat)) if (/^Failed.*\(C\)$/.test(k) && k !== 'FailedCall(C)' && Number(v) > 0) failures[k.slice(0, -3)] = Number(v);
  return {
    code,
    ok: code === 0,
    created: num('TotalCallCreated'),
    successful: num('SuccessfulCall(C)'),
    failed: num('FailedCall(C)'),
    failures,
    rtt,
    shortMessages: parseShortMessages(read(join(dir, 'short.csv'))),
    messages: keepMessages ? read(join(dir, 'messages.log')) : '',
    errors: read(join(dir, 'errors.log')).slice(-20_000),
    screen: (lastScreen || out).slice(-8000) + (out.includes('rror') ? '\n' + out.slice(-2000) : ''),
    elapsedMs,
    args,
  };
}

/** The stat file: a header line of names and one line per dump; the last line is the final count. */
export function parseStat(text: string): Record<string, string> {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0]?.split(';') ?? [];
  const last = lines.length > 1 ? lines[lines.length - 1]!.split(';') : [];
  const out: Record<string, string> = {};
  header.forEach((name, i) => {
    if (name) out[name] = last[i] ?? '';
  });
  return out;
}

/** -trace_rtt lines: "Date_ms;response_time_ms;rtd_no" (a header line first); SIPp counts whole milliseconds. */
export function parseRtt(text: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(';');
    if (f.length < 3 || f[0] === 'Date_ms') continue;
    const ms = Number(f[1]);
    if (f[2] && Number.isFinite(ms)) out.push([f[2], ms]);
  }
  return out;
}

/** One line of -trace_shortmsg: when SIPp sent (S) or received (R) which message of which call. */
export interface ShortMessage {
  at: number;
  dir: 'S' | 'R';
  callId: string;
  cseq: string;
  start: string;
}

/** -trace_shortmsg lines: date, time, epoch seconds with microseconds, S/R, Call-ID, "CSeq:N METHOD", first line; tab-separated. */
export function parseShortMessages(text: string): ShortMessage[] {
  const out: ShortMessage[] = [];
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f.length < 7 || (f[3] !== 'S' && f[3] !== 'R')) continue;
    out.push({ at: Number(f[2]) * 1000, dir: f[3], callId: f[4]!, cseq: f[5]!.replace(/^CSeq:\s*/, ''), start: f.slice(6).join('\t').trim() });
  }
  return out;
}

/**
 * Microsecond-resolution response times (ms) from the short message trace: for each request of `method`
 * (per Call-ID and CSeq), from its first transmission to the first response whose status is `status`.
 */
export function responseTimes(r: SippResult, method: string, status: number): number[] {
  const sent = new Map<string, number>();
  const out: number[] = [];
  for (const m of r.shortMessages) {
    if (!m.cseq.endsWith(` ${method}`)) continue;
    const key = `${m.callId}\n${m.cseq}`;
    if (m.dir === 'S' && m.start.startsWith(`${method} `)) {
      if (!sent.has(key)) sent.set(key, m.at);
    } else if (m.dir === 'R' && m.start.startsWith(`SIP/2.0 ${status} `)) {
      const t0 = sent.get(key);
      if (t0 !== undefined) {
        out.push(m.at - t0);
        sent.delete(key);
      }
    }
  }
  return out;
}

/** Messages SIPp received, as their first lines (e.g. "SIP/2.0 200 OK", "BYE sip:..."), each with its CSeq. */
export function received(r: SippResult): Array<{ start: string; cseq: string; text: string }> {
  const out: Array<{ start: string; cseq: string; text: string }> = [];
  for (const block of r.messages.split(/^-{10,}.*$/m)) {
    const m = /message received \[\d+\] bytes :\s*\n+([\s\S]*)/.exec(block);
    if (!m) continue;
    const text = m[1]!.trim();
    out.push({ start: text.split(/\r?\n/)[0] ?? '', cseq: /^CSeq:\s*(.*)$/im.exec(text)?.[1]?.trim() ?? '', text });
  }
  return out;
}

/** An injection row for register.xml: the extension and its credentials as an [authentication] keyword. */
export function registerRow(number: string, password: string): string[] {
  return [number, `[authentication username=${number} password=${password}]`];
}

/** Nearest-rank percentile of samples (p in 0..100). */
export function percentile(samples: number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** One paragraph to put in an assertion message: the command, the counts, and SIPp's own account. */
export function describeRun(r: SippResult): string {
  const tail = (s: string, n: number) => (s.length > n ? '…' + s.slice(-n) : s);
  return [
    `sipp ${r.args.join(' ')}`,
    `exit ${r.code}; ${r.successful} successful, ${r.failed} failed${Object.keys(r.failures).length ? ' ' + JSON.stringify(r.failures) : ''}; ${r.elapsedMs} ms`,
    r.errors ? `errors:\n${tail(r.errors, 3000)}` : '',
    r.messages ? `messages:\n${tail(r.messages, 6000)}` : '',
    `screen:\n${tail(r.screen, 3000)}`,
  ].filter(Boolean).join('\n');
}
