/**
 * linphone (linphonec, the console client of liblinphone, Debian package linphone-cli) for integration tests: a real
 * phone that registers to the box, calls, and is driven by its console commands on stdin.
 *
 * Written against Debian 12's linphonec 5.1, where, headless:
 *  - it needs $HOME/.local/share/linphone to exist (its call-history database); without it the core stays in
 *    LinphoneGlobalStartup and never opens a SIP socket ("No listening point matching");
 *  - `soundcard use files` replaces the (absent) sound card by WAV files, so no ALSA or PulseAudio is needed;
 *  - with only a password in its auth_info it answers every digest challenge it can, one Authorization header per
 *    algorithm; it then keeps only the HA1 of the algorithm that worked and forgets the password, so each run gets a
 *    fresh configuration;
 *  - when it takes an answer for "bad credentials" it prints "Password for <user> on <realm>:" and reads the password
 *    from stdin; a console nobody answers then has no password, and its next REGISTER fails;
 *  - `unregister` then `register` (no arguments) registers the default account again from scratch: a REGISTER
 *    that is challenged and must be answered with the password it still has.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './box.ts';

/** Null when linphonec is installed, else why not. */
export function linphoneMissing(): string | null {
  const r = spawnSync('linphonec', ['-v'], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) return 'linphonec not installed (Debian package linphone-cli)';
  return null;
}

export interface LinphoneOptions {
  /** The box's UDP SIP port on 127.0.0.1. */
  boxPort: number;
  user: string;
  password: string;
  /** Seconds the registration asks for. Default 3600. */
  expires?: number;
}

export interface RunningLinphone {
  sipPort: number;
  /** Everything it printed so far. */
  output(): string;
  /** Types a console command. */
  send(command: string): void;
  /**
   * Resolves with the first match of `re` in what it printed after position `from` (default: from the start);
   * rejects on timeout or when it exits.
   */
  waitFor(re: RegExp, opts?: { from?: number; timeoutMs?: number }): Promise<string>;
  /** Its registration as `status register` prints it: "registered, identity=…" or "registered=-1" etc. */
  registration(): Promise<string>;
  /** Waits until `status register` says registered. */
  waitRegistered(timeoutMs?: number): Promise<void>;
  /** Whether it has asked for its password (it took an answer for bad credentials). */
  askedForPassword(): boolean;
  /** Quits (unregistering) and removes its directory. */
  quit(): Promise<void>;
  kill(): void;
}

export async function startLinphone(o: LinphoneOptions): Promise<RunningLinphone> {
  const home = mkdtempSync(join(tmpdir(), 'confbox-linphone-'));
  mkdirSync(join(home, '.local/share/linphone'), { recursive: true });
  const sipPort = await freePort();
  // The box takes its RTP ports from 30000–59999, baresip from 20000–29999; linphone gets 20 of 10000–19999.
  const rtpBase = 10000 + Math.floor(Math.random() * 500) * 20;
  const rc = join(home, 'linphonerc');
  writeFileSync(rc, [
    '[sip]',
    `sip_port=${sipPort}`,
    'sip_tcp_port=0',
    'sip_tls_port=0',
    'default_proxy=0',
    // Plain RTP: what is under test is SIP; SRTP would only add key negotiation to the output.
    'media_encryption=none',
    '[rtp]',
    `audio_rtp_port=${rtpBase}-${rtpBase + 19}`,
    'video_rtp_port=0',
    '[video]',
    'capture=0',
    'display=0',
    'automatically_initiate=0',
    'automatically_accept=0',
    '[sound]',
    'echocancellation=0',
    '[proxy_0]',
    `reg_proxy=<sip:127.0.0.1:${o.boxPort}>`,
    `reg_identity=sip:${o.user}@127.0.0.1`,
    `reg_expires=${o.expires ?? 3600}`,
    'reg_sendregister=1',
    'publish=0',
    '[auth_info_0]',
    `username=${o.user}`,
    `passwd=${o.password}`,
    '',
  ].join('\n'));
  const proc: ChildProcess = spawn('linphonec', ['-c', rc], { cwd: home, env: { ...process.env, HOME: home }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const waiters = new Set<() => void>();
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const w of [...waiters]) w();
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  proc.stdin!.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => {
    gone = true;
    for (const w of [...waiters]) w();
  });

  const send = (command: string) => {
    if (!gone) proc.stdin!.write(command + '\n');
  };
  const waitFor = (re: RegExp, opts: { from?: number; timeoutMs?: number } = {}) =>
    new Promise<string>((resolve, reject) => {
      const from = opts.from ?? 0;
      const check = () => {
        const m = re.exec(out.slice(from));
        if (m) {
          done();
          resolve(m[0]);
        } else if (gone) {
          done();
          reject(new Error(`linphonec exited without printing ${re}; output:\n${out.slice(-3000)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`linphonec did not print ${re} within ${opts.timeoutMs ?? 10_000} ms; output:\n${out.slice(-3000)}`));
      }, opts.timeoutMs ?? 10_000);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const registration = async () => {
    const from = out.length;
    send('status register');
    return waitFor(/registered[=,][^\n]*/, { from });
  };

  // The console is up once it prints its prompt; then the sound card is replaced by files.
  await waitFor(/linphonec> /, { timeoutMs: 20_000 });
  send('soundcard use files');
  await waitFor(/Using wav files instead of soundcard/);

  return {
    sipPort,
    output: () => out,
    send,
    waitFor,
    registration,
    waitRegistered: async (timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const line = await registration();
        if (line.startsWith('registered,')) return;
        if (Date.now() > until) throw new Error(`linphonec is not registered (${line}); output:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    },
    askedForPassword: () => /Password for \S+ on \S+:/.test(out),
    quit: async () => {
      send('quit');
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
      rmSync(home, { recursive: true, force: true });
    },
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      rmSync(home, { recursive: true, force: true });
    },
  };
}
