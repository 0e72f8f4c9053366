// Kamailio (Debian's kamailio) as an office's SIP proxy in front of the box, with the configuration in
// test/support/kamailio/pbx.cfg: record-routing, *40x calls sent to the box over TCP; or in front of several boxes
// with the shipped board/cluster/kamailio.cfg (dispatcher: a room's calls hashed to one box).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ROOT } from './box.ts';

const KAMAILIO = process.env.KAMAILIO ?? 'kamailio';
const CONFIG = join(ROOT, 'test/support/kamailio/pbx.cfg');
const CLUSTER_CONFIG = join(ROOT, 'board/cluster/kamailio.cfg');

export function kamailioAvailable(): boolean {
  const r = spawnSync(KAMAILIO, ['-v'], { encoding: 'utf8' });
  return r.error === undefined && /kamailio \d/.test(r.stdout);
}

export interface Proxy {
  address: string;
  /** UDP and TCP. */
  port: number;
  /** What the proxy logged (each request it routed: method, Request-URI, From user, source and transport). */
  output(): string;
  /** Resolves when the proxy has routed a request whose log line matches. */
  waitFor(line: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the proxy on `address` (a loopback address of its own), sending *40x calls to the box's SIP port over TCP. */
export function startProxy(o: { address: string; boxSipPort: number }): Promise<Proxy> {
  return runKamailio(CONFIG, o.address, 32, (_runDir) => [`BOX_URI="sip:127.0.0.1:${o.boxSipPort};transport=tcp"`]);
}

/** Starts the shipped cluster configuration on `address` in front of boxes (their SIP ports on 127.0.0.1, over TCP). */
export function startDispatcher(o: { address: string; boxSipPorts: number[]; shmMb?: number }): Promise<Proxy> {
  return runKamailio(CLUSTER_CONFIG, o.address, o.shmMb ?? 32, (runDir) => {
    const list = join(runDir, 'boxes.list');
    writeFileSync(list, o.boxSipPorts.map((p) => `1 sip:127.0.0.1:${p};transport=tcp`).join('\n') + '\n');
    return [`DISPATCHER_LIST="${list}"`];
  });
}

/** shmMb: Kamailio's shared memory (-m), where its transactions live: it bounds the call rate it carries. */
async function runKamailio(config: string, address: string, shmMb: number, defines: (runDir: string) => string[]): Promise<Proxy> {
  const o = { address };
  const port = await freePort();
  const runDir = mkdtempSync(join(tmpdir(), 'confbox-kamailio-'));
  const args = [
    '-f', config, '-DD', '-E', '-Y', runDir, '-m', String(shmMb), '-M', '4',
    '-l', `udp:${o.address}:${port}`, '-l', `tcp:${o.address}:${port}`,
    ...defines(runDir).flatMap((d) => ['-A', d]), '-A', `PROXY_TCP=tcp:${o.address}:${port}`,
  ];
  const child: ChildProcess = spawn(KAMAILIO, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b) => (out += b));
  child.stderr!.on('data', (b) => (out += b));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proxy: Proxy = {
    address: o.address,
    port,
    output: () => out,
    waitFor: (line, timeoutMs = 20_000) => new Promise((resolve, reject) => {
      const started = Date.now();
      const look = () => {
        if (line.test(out)) return resolve();
        if (Date.now() - started > timeoutMs) return reject(new Error(`the proxy routed nothing matching ${line} within ${timeoutMs} ms:\n${out.slice(-3000)}`));
        setTimeout(look, 50);
      };
      look();
    }),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(runDir, { recursive: true, force: true });
    },
  };
  try {
    await answers(o.address, port, 10_000, () => child.exitCode !== null);
  } catch (e) {
    await proxy.stop();
    throw new Error(`kamailio did not start: ${(e as Error).message}\n${out.slice(-3000)}`);
  }
  return proxy;
}

/** Resolves once the proxy answers an OPTIONS over UDP (any final answer). */
function answers(address: string, port: number, timeoutMs: number, died: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    const started = Date.now();
    let timer: NodeJS.Timeout;
    const done = (e?: Error) => {
      clearTimeout(timer);
      s.close();
      if (e) reject(e);
      else resolve();
    };
    s.on('message', (b) => {
      if (/^SIP\/2\.0 [2-6]\d\d /.test(b.toString('latin1'))) done();
    });
    s.bind(0, '127.0.0.1', () => {
      const ask = () => {
        if (died()) return done(new Error('it exited'));
        if (Date.now() - started > timeoutMs) return done(new Error(`no answer to OPTIONS within ${timeoutMs} ms`));
        const { port: local } = s.address();
        const branch = `z9hG4bK${Math.random().toString(36).slice(2)}`;
        s.send(
          `OPTIONS sip:ping@${address}:${port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${local};branch=${branch};rport\r\nMax-Forwards: 70\r\n` +
            `From: <sip:probe@127.0.0.1>;tag=${branch}\r\nTo: <sip:ping@${address}>\r\nCall-ID: ${branch}@probe\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`,
          port, address,
        );
        timer = setTimeout(ask, 200);
      };
      ask();
    });
  });
}
