import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BUNDLE = join(ROOT, 'dist/confbox.mjs');
/** Third-party conformance material, read in place at test time. */
export const SHARED = join(ROOT, '../shared');

/** A port free on 127.0.0.1 for both UDP and TCP. */
/** Ports this process handed out lately: the kernel may offer a port again once its probe closed, before its user binds it. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const u = createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (!udpFree || handedOut.has(port)) continue;
    handedOut.add(port);
    if (handedOut.size > 2000) handedOut.delete(handedOut.values().next().value!);
    return port;
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunningBox {
  sipPort: number;
  /** Plain HTTP (--http-port): redirects to HTTPS unless the setting httpRedirect is off. */
  httpPort: number;
  /** The web page over HTTPS (--https-port). */
  httpsPort: number;
  /** SIP over TLS (--sip-tls-port). */
  sipTlsPort: number;
  /** https://127.0.0.1:PORT of the web page. */
  webUrl: string;
  /** The certificate the box serves (PEM): the one it generated under its data dir, unless --tls-cert gave one. */
  certificate(): Buffer;
  dataDir: string;
  proc: ChildProcess;
  /** Every line the box printed so far. */
  output(): string;
  /** Resolves with the first log record (parsed JSON) whose msg matches. */
  waitForLog(match: RegExp | ((rec: Record<string, unknown>) => boolean), timeoutMs?: number): Promise<Record<string, unknown>>;
  cli(...args: string[]): Promise<CliResult>;
  /** Sends the signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  rss(): number;
}

export interface BoxOptions {
  dataDir?: string;
  sipPort?: number;
  /** The web page's ports; a box started again on the same ones is where an open page looks for it. */
  httpPort?: number;
  httpsPort?: number;
  extraArgs?: string[];
  /** Options for node itself, before the bundle (the board's unit runs it with --max-old-space-size=192). */
  nodeArgs?: string[];
  logLevel?: string;
  /** Where the box listens: IPv4 loopback (default), IPv6 loopback, or :: for both families; IPv6 phones get ::1. */
  bind?: '127.0.0.1' | '::1' | '::';
  /** Added to the environment; systemd's NOTIFY_SOCKET and WATCHDOG_* reach the box only from here. */
  env?: NodeJS.ProcessEnv;
  /** How many RTP ports the box gets (its --rtp-ports range); default 100: 50 legs. */
  rtpPortCount?: number;
  /** The first of them; default: a random one of 30000-59900. */
  rtpPortBase?: number;
  /** Hears every log record from the start, before the box is ready. */
  onLog?: (rec: Record<string, unknown>) => void;
}

/** Starts the built bundle with its embedded MariaDB on loopback; resolves when it logs "confbox ready". */
export async function startBox(opts: BoxOptions = {}): Promise<RunningBox> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'confbox-test-'));
  if (ownDir) temporaryDirs.add(dataDir);
  const sipPort = opts.sipPort ?? (await freePort());
  const httpPort = opts.httpPort ?? (await freePort());
  const httpsPort = opts.httpsPort ?? (await freePort());
  const sipTlsPort = await freePort();
  const rtpBase = opts.rtpPortBase ?? 30000 + Math.floor(Math.random() * 300) * 100;
  const args = [
    ...(opts.nodeArgs ?? []), BUNDLE, '--data-dir', dataDir, '--sip-port', String(sipPort), '--bind', opts.bind ?? '127.0.0.1', '--public-address', opts.bind === '::1' ? '::1' : '127.0.0.1', ...(opts.bind && opts.bind !== '127.0.0.1' ? ['--public-address-v6', '::1'] : []),
    '--http-port', String(httpPort), '--https-port', String(httpsPort), '--sip-tls-port', String(sipTlsPort), '--rtp-ports', `${rtpBase}-${rtpBase + (opts.rtpPortCount ?? 100) - 1}`, '--log-level', opts.logLevel ?? 'debug',
    ...(opts.extraArgs ?? []),
  ];
  const env = { ...process.env };
  // A test run supervised by systemd must not have its boxes notify in its name.
  for (const v of ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID']) delete env[v];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ...opts.env } });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  let out = '';
  const waiters: Array<{ test: (rec: Record<string, unknown>) => boolean; resolve: (rec: Record<string, unknown>) => void }> = [];
  let partial = '';
  const onData = (b: Buffer) => {
    out += b.toString();
    partial += b.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line);
      } catch {
        rec = { msg: line };
      }
      opts.onLog?.(rec);
      for (const w of [...waiters]) {
        if (w.test(rec)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(rec);
        }
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

  const waitForLog: RunningBox['waitForLog'] = (match, timeoutMs = 30_000) =>
    new Promise((resolve, reject) => {
      const test = typeof match === 'function' ? match : (rec: Record<string, unknown>) => match.test(String(rec.msg ?? ''));
      const t = setTimeout(() => reject(new Error(`box did not log ${match} within ${timeoutMs} ms; output:\n${out.slice(-4000)}`)), timeoutMs);
      waiters.push({ test, resolve: (rec) => { clearTimeout(t); resolve(rec); } });
    });

  const given = (opts.extraArgs ?? []).indexOf('--tls-cert');
  const certFile = given >= 0 ? opts.extraArgs![given + 1]! : generatedCertificate(dataDir);
  const box: RunningBox = {
    sipPort,
    httpPort,
    httpsPort,
    sipTlsPort,
    webUrl: `https://127.0.0.1:${httpsPort}`,
    certificate: () => readFileSync(certFile),
    dataDir,
    proc,
    output: () => out,
    waitForLog,
    cli: (...cliArgs) => runCli(dataDir, cliArgs),
    stop: async (signal = 'SIGTERM') => {
      if (proc.exitCode !== null) return proc.exitCode;
      proc.kill(signal);
      return exited;
    },
    rss: () => {
      try {
        const status = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
        return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
      } catch {
        return 0;
      }
    },
  };
  // Ready means a phone gets answers, whatever the log level lets through; where it lets "confbox ready" through,
  // also that the rest (web page, health line) is up: SIP answers before the web page has started.
  const level = opts.logLevel ?? 'debug';
  const readyLine = ['warn', 'error', 'silent'].includes(level) ? Promise.resolve() : waitForLog((rec) => rec.msg === 'confbox ready', 90_000);
  readyLine.catch(() => undefined);
  const ready = Promise.all([answersOptions(sipPort, 90_000, opts.bind === '::1' ? '::1' : '127.0.0.1'), readyLine]);
  const early = exited.then((code) => { throw new Error(`box exited with ${code} before it was ready:\n${out.slice(-4000)}`); });
  await Promise.race([ready, early]);
  early.catch(() => undefined);
  return box;
}

/** Where a box keeps the certificate it generated at its first start. */
export function generatedCertificate(dataDir: string): string {
  return join(dataDir, 'tls/cert.pem');
}

/** Runs a technician command against a box's data directory. */
export function runCli(dataDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BUNDLE, ...args, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (b) => (stdout += b));
    p.stderr.on('data', (b) => (stderr += b));
    p.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Resolves once the box answers an OPTIONS on its SIP port over UDP, at this loopback address. */
export function answersOptions(sipPort: number, timeoutMs: number, host: '127.0.0.1' | '::1' = '127.0.0.1'): Promise<void> {
  const h = host === '::1' ? '[::1]' : host;
  return new Promise((resolve, reject) => {
    const sock = createSocket(host === '::1' ? 'udp6' : 'udp4');
    const deadline = Date.now() + timeoutMs;
    let timer: NodeJS.Timeout;
    const done = (e?: Error) => {
      clearTimeout(timer);
      sock.close();
      if (e) reject(e);
      else resolve();
    };
    sock.on('message', (m) => {
      if (m.toString('latin1').startsWith('SIP/2.0 200')) done();
    });
    sock.bind(0, host, () => {
      const port = (sock.address() as { port: number }).port;
      const probe = () => {
        if (Date.now() > deadline) return done(new Error(`the box did not answer OPTIONS on ${sipPort} within ${timeoutMs} ms`));
        const id = Math.random().toString(36).slice(2);
        const msg = [
          `OPTIONS sip:${h}:${sipPort} SIP/2.0`, `Via: SIP/2.0/UDP ${h}:${port};branch=z9hG4bK${id};rport`,
          `From: <sip:probe@${h}>;tag=${id}`, `To: <sip:${h}:${sipPort}>`, `Call-ID: ${id}@probe`, 'CSeq: 1 OPTIONS',
          'Max-Forwards: 70', 'Content-Length: 0', '', '',
        ].join('\r\n');
        sock.send(msg, sipPort, host);
        timer = setTimeout(probe, 200);
      };
      probe();
    });
  });
}

/** Runs technician commands on a data directory; the first that fails throws with its message. */
export async function configure(dataDir: string, commands: string[][]): Promise<void> {
  for (const args of commands) {
    const r = await runCli(dataDir, args);
    if (r.code !== 0) throw new Error(`confbox ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  }
}

export function removeDataDir(dir: string): void {
  killServersOf(dir);
  rmSync(dir, { recursive: true, force: true });
  temporaryDirs.delete(dir);
}

const running = new Set<ChildProcess>();
const temporaryDirs = new Set<string>();

/** A box killed with SIGKILL cannot stop its embedded MariaDB: find such servers by their data dir. */
export function killServersOf(dataDir: string): void {
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return;
  }
  for (const pid of pids) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (/mariadbd|mysqld/.test(cmd.split('\0')[0] ?? '') && cmd.includes(`--datadir=${dataDir}/`)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

// A test file that ends (or fails) with boxes still running must not leave them, or their databases, behind.
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
  for (const dir of temporaryDirs) {
    killServersOf(dir);
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs the bundle as the box would run, with a kill timer; resolves with its exit code and output. */
export function runBundle(args: string[], timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BUNDLE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (b) => (out += b));
    p.stderr.on('data', (b) => (out += b));
    const timer = setTimeout(() => {
      out += `\n(killed after ${timeoutMs} ms: it did not exit)`;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
