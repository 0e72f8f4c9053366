/**
 * systemd's side of supervision, for tests: a notify socket that records every datagram with its
 * sender (test/support/notify-listener.py), and a way to freeze one thread of a running box
 * (test/support/freeze-thread.py), as a hung media thread would be.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const LISTENER = new URL('./notify-listener.py', import.meta.url).pathname;
const FREEZER = new URL('./freeze-thread.py', import.meta.url).pathname;

export interface Notification {
  /** The sender's PID, as the kernel reports it (SCM_CREDENTIALS). */
  pid: number;
  uid: number;
  /** When it arrived, in ms since the epoch. */
  at: number;
  message: string;
}

export interface NotifySocket {
  readonly address: string;
  /** Every datagram so far, oldest first. */
  readonly received: Notification[];
  /** Resolves with the first datagram at index >= from that matches. */
  waitFor(test: (n: Notification) => boolean, timeoutMs?: number, from?: number): Promise<Notification>;
  close(): void;
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** Binds a unix datagram socket ("/path" or "@abstract") that plays systemd's part of sd_notify(3). */
export async function notifySocket(address: string): Promise<NotifySocket> {
  const p = spawn('python3', [LISTENER, address], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(p);
  p.once('exit', () => children.delete(p));
  let stderr = '';
  p.stderr!.on('data', (b) => (stderr += b));
  const received: Notification[] = [];
  const waiters = new Set<() => void>();
  const bound = new Promise<void>((resolve, reject) => {
    p.once('exit', (code) => reject(new Error(`notify-listener.py exited with ${code}: ${stderr}`)));
    createInterface({ input: p.stdout! }).on('line', (line) => {
      const rec = JSON.parse(line);
      if (rec.listening) return resolve();
      received.push(rec as Notification);
      for (const w of [...waiters]) w();
    });
  });
  await bound;
  return {
    address,
    received,
    waitFor: (test, timeoutMs = 20_000, from = 0) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const hit = received.slice(from).find(test);
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no matching notification within ${timeoutMs} ms; received: ${JSON.stringify(received.slice(from).map((n) => n.message))}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
    close: () => p.kill(),
  };
}

export interface FrozenThread {
  tid: number;
  /** Lets the thread run again; resolves once it is detached. */
  thaw(): Promise<void>;
}

/** Stops the thread of `pid` named `name` (ptrace; only that thread), while it waits in epoll. */
export function freezeThread(pid: number, name: string): Promise<FrozenThread> {
  const p = spawn('python3', [FREEZER, String(pid), name, '--in-epoll'], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(p);
  p.once('exit', () => children.delete(p));
  let stderr = '';
  p.stderr!.on('data', (b) => (stderr += b));
  const lines = createInterface({ input: p.stdout! });
  return new Promise((resolve, reject) => {
    p.once('exit', (code) => reject(new Error(`freeze-thread.py exited with ${code}: ${stderr}`)));
    lines.once('line', (line) => {
      const rec = JSON.parse(line);
      if (rec.error) return reject(new Error(`cannot freeze thread ${name} of ${pid}: ${rec.error}`));
      resolve({
        tid: rec.frozen,
        thaw: () =>
          new Promise<void>((done) => {
            lines.once('line', () => done());
            p.stdin!.end('\n');
          }),
      });
    });
  });
}
