/**
 * The running box's local door for `confbox update FILE`: a Unix socket in the data directory (mode 0600: the
 * firmware's user and root only). A request is one JSON line, {"update": "/absolute/path.raucb"}; the box answers
 * with JSON lines of progress and a last line {"done": …} or {"error": "…"}. The console thereby installs through
 * the box, which warns and ends its calls before it restarts, exactly as an upload on the page does.
 */
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { Logger } from '../log.ts';
import type { Updater, UpdateView } from './updater.ts';

export function controlSocketPath(dataDir: string): string {
  return join(dataDir, 'control.sock');
}

/** Longest request line: a path. */
const MAX_REQUEST = 8192;

export class ControlSocket {
  private server: Server | null = null;

  constructor(private readonly path: string, private readonly updater: Updater, private readonly log: Logger) {}

  async start(): Promise<void> {
    // A socket left by a box that was killed: nobody listens on it (the data directory is locked to this box).
    rmSync(this.path, { force: true });
    const server = createServer((socket) => this.serve(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    chmodSync(this.path, 0o600);
    server.on('error', (e) => this.log.warn('control socket error', { err: e }));
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    rmSync(this.path, { force: true });
  }

  private serve(socket: Socket): void {
    let buffered = '';
    const reply = (value: unknown) => socket.writable && socket.write(`${JSON.stringify(value)}\n`);
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (d: string) => {
      buffered += d;
      if (buffered.length > MAX_REQUEST) {
        reply({ error: 'the request is too long' });
        socket.end();
        return;
      }
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      const line = buffered.slice(0, nl);
      socket.removeAllListeners('data');
      let request: { update?: unknown };
      try {
        request = JSON.parse(line) as { update?: unknown };
      } catch {
        reply({ error: 'the request is not JSON' });
        socket.end();
        return;
      }
      if (typeof request.update !== 'string' || !isAbsolute(request.update)) {
        reply({ error: 'known requests: {"update": "/absolute/path/to/bundle.raucb"}' });
        socket.end();
        return;
      }
      const file = request.update;
      this.log.info('update requested on the console', { file });
      let last = '';
      this.updater.install(file, {
        onProgress: (v) => {
          const key = `${v.percent} ${v.step}`;
          if (key === last || v.phase !== 'installing') return;
          last = key;
          reply({ percent: v.percent, step: v.step });
        },
      }).then(
        (v) => reply({ done: true, slot: v.slots.find((s) => s.primary)?.bootname ?? '', version: v.slots.find((s) => s.primary)?.version ?? '', restartInSeconds: v.restartAt ? Math.max(0, Math.round((v.restartAt - Date.now()) / 1000)) : null }),
        (e: unknown) => reply({ error: e instanceof Error ? e.message : String(e) }),
      ).finally(() => socket.end());
    });
  }
}

export interface ConsoleUpdateResult {
  slot: string;
  version: string;
  restartInSeconds: number | null;
}

/** `confbox update FILE`: hands the file to the running box and reports its progress. */
export function updateThroughBox(dataDir: string, file: string, onProgress: (p: { percent: number; step: string }) => void): Promise<ConsoleUpdateResult> {
  const path = controlSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    if (!existsSync(path)) {
      reject(new Error(`the box is not running (no ${path}): start it, then run this again`));
      return;
    }
    const socket = createConnection(path);
    let buffered = '';
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      fn();
    };
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ update: file })}\n`));
    socket.on('error', (e: NodeJS.ErrnoException) => settle(() => reject(new Error(e.code === 'EACCES' ? `only root and the box's own user may update it (${path})` : e.code === 'ECONNREFUSED' ? `the box is not running (nobody answers on ${path})` : `the box's control socket: ${e.message}`))));
    socket.on('data', (d: string) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let m: Partial<UpdateView> & { done?: boolean; error?: string; slot?: string; version?: string; restartInSeconds?: number | null };
        try {
          m = JSON.parse(line) as typeof m;
        } catch {
          continue;
        }
        if (m.error !== undefined) settle(() => reject(new Error(m.error)));
        else if (m.done) settle(() => resolve({ slot: m.slot ?? '', version: m.version ?? '', restartInSeconds: m.restartInSeconds ?? null }));
        else if (typeof m.percent === 'number') onProgress({ percent: m.percent, step: m.step ?? '' });
      }
    });
    socket.on('close', () => settle(() => reject(new Error('the box closed the connection without an answer'))));
  });
}
