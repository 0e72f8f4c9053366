/**
 * baresip (a real, third-party SIP phone) for integration tests: runs it headless with its own config directory,
 * one account, a sine tone as microphone (ausine) and its decoded/encoded audio dumped to WAV files (sndfile).
 *
 * Written against Debian 12's baresip 1.0.0, where:
 *  - ausine needs 48 kHz stereo capture (ausrc_srate/ausrc_channels); its device string is the frequency in Hz,
 *    baresip resamples it to the 8 kHz of G.711;
 *  - aufile is a source only (no WAV player), so what the phone receives is recorded by the sndfile audio filter,
 *    which writes <snd_path>/dump-<time>-dec.wav (received, decoded) and -enc.wav (sent), 8 kHz mono S16LE;
 *  - the player is an aubridge device nobody reads (a sink); the alert player likewise;
 *  - its digest client only knows MD5 and gives up on a 401 that lists any other algorithm, even after MD5 (ENOSYS,
 *    "Function not implemented"); the box's default (digestAlgorithms auto) offers a phone it has not seen MD5 alone,
 *    and tries SHA-256 on it once, on a refresh, which that refresh then fails (baresip tries again at once);
 *  - net_interface takes an IP address ("lo" fails: "could not get network address").
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort } from './box.ts';

export const BARESIP_MODULE_DIR = '/usr/lib/baresip/modules';
const NEEDED_MODULES = ['g711.so', 'ausine.so', 'aubridge.so', 'sndfile.so', 'account.so', 'menu.so', 'srtp.so', 'stun.so', 'ctrl_tcp.so'];

/** Null when baresip and the modules the tests need are there, else why not. */
export function baresipMissing(): string | null {
  const r = spawnSync('baresip', ['-h'], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return 'baresip not installed';
  const absent = NEEDED_MODULES.filter((m) => !existsSync(join(BARESIP_MODULE_DIR, m)));
  return absent.length ? `baresip not installed (modules missing in ${BARESIP_MODULE_DIR}: ${absent.join(' ')})` : null;
}

export interface BaresipOptions {
  /** The box's SIP port on 127.0.0.1: its UDP port, or its TLS port with transport 'tls'. */
  boxPort: number;
  /** udp (default), tcp, or tls: registration and call over TLS, trusting the certificate in caFile. */
  transport?: 'udp' | 'tcp' | 'tls';
  /** Registers with this address and port (a proxy in front of the boxes) instead of 127.0.0.1 and boxPort. */
  registrar?: { address: string; port: number };
  /** Answers a call by itself (answermode=auto); default: only calls out. */
  autoAnswer?: boolean;
  /** PEM file of the certificate baresip trusts for TLS (sip_cafile): the box's own. */
  caFile?: string;
  user: string;
  password: string;
  /** The user part to dial, e.g. "*400*10*1234"; none: it only registers (and answers with autoAnswer). */
  dial?: string;
  /** The frequency ausine sends, Hz. */
  toneHz: number;
  /** baresip quits (hanging up) after this many seconds from its start (-t). */
  seconds: number;
  /** Media encryption of the account (srtp module): "srtp" (best effort), "srtp-mand" (RTP/SAVP only). */
  mediaenc?: 'srtp' | 'srtp-mand';
  /** A STUN server (host:port) baresip asks for the address its RTP is reached at, which goes into its SDP. */
  stunServer?: string;
  /** Print SIP messages (-s): the SDP both ways appears in its output. */
  sipTrace?: boolean;
  /** Dials this address and port (a proxy in front of the boxes) instead of 127.0.0.1 and boxPort. */
  dialVia?: { address: string; port: number };
  /** Takes commands on a TCP socket (ctrl_tcp), for command(): keys to press in a call. */
  control?: boolean;
}

export interface Wav {
  sampleRate: number;
  channels: number;
  /** The first channel. */
  pcm: Int16Array;
}

export interface BaresipResult {
  code: number | null;
  output: string;
  /** What baresip received and decoded (sndfile "dec"), null if it wrote none. */
  received: Wav | null;
  /** What it sent (sndfile "enc"). */
  sent: Wav | null;
}

export interface RunningBaresip {
  dir: string;
  sipPort: number;
  proc: ChildProcess;
  output(): string;
  /** Resolves when a line of its output matches; rejects on timeout or exit. */
  waitFor(match: RegExp, timeoutMs?: number): Promise<string>;
  /** Runs one of its commands (ctrl_tcp, with `control`), e.g. sndcode "31#": resolves with its answer. */
  command(name: string, params?: string): Promise<string>;
  /** Resolves when baresip exited (after `seconds`), with the WAV files it wrote; removes its directory. */
  done(): Promise<BaresipResult>;
  kill(): void;
}

/** Starts baresip with the account and dials at once (if told to); it hangs up and quits by itself after o.seconds. */
export async function startBaresip(o: BaresipOptions): Promise<RunningBaresip> {
  const dir = mkdtempSync(join(tmpdir(), 'confbox-baresip-'));
  const recDir = join(dir, 'rec');
  mkdirSync(recDir);
  const sipPort = await freePort();
  const controlPort = o.control ? await freePort() : 0;
  // The box takes its RTP ports from 30000–59999; baresip gets 20 of 20000–29999.
  const rtpBase = 20000 + Math.floor(Math.random() * 500) * 20;
  const config = [
    `module_path ${BARESIP_MODULE_DIR}`,
    // Without it baresip puts its first non-loopback address (eth0) in c= of its SDP while it sends from
    // 127.0.0.1, and the box (symmetricRtp off) discards RTP whose source does not match the SDP.
    'net_interface 127.0.0.1',
    `sip_listen 127.0.0.1:${sipPort}`,
    `rtp_ports ${rtpBase}-${rtpBase + 19}`,
    ...(o.caFile ? [`sip_cafile ${o.caFile}`] : []),
    `audio_source ausine,${o.toneHz}`,
    'audio_player aubridge,confbox-sink',
    'audio_alert aubridge,confbox-alert',
    'ausrc_srate 48000',
    'ausrc_channels 2',
    `snd_path ${recDir}`,
    'module g711.so',
    'module ausine.so',
    'module aubridge.so',
    'module sndfile.so',
    ...(o.mediaenc ? ['module srtp.so'] : []),
    ...(o.stunServer ? ['module stun.so'] : []),
    ...(o.control ? ['module ctrl_tcp.so', `ctrl_tcp_listen 127.0.0.1:${controlPort}`] : []),
    'module_tmp account.so',
    'module_app menu.so',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'config'), config);
  writeFileSync(
    join(dir, 'accounts'),
    `<sip:${o.user}@${o.registrar?.address ?? '127.0.0.1'}:${o.registrar?.port ?? o.boxPort};transport=${o.transport ?? 'udp'}>;auth_pass=${o.password};audio_codecs=pcmu;regint=60;answermode=${o.autoAnswer ? 'auto' : 'manual'}` +
      (o.mediaenc ? `;mediaenc=${o.mediaenc}` : '') + (o.stunServer ? `;medianat=stun;stunserver=stun:${o.stunServer}` : '') + '\n',
  );
  writeFileSync(join(dir, 'contacts'), '');
  // baresip adds the account's transport parameter to the dialled address itself.
  const args = ['-4', '-f', dir, '-t', String(o.seconds), ...(o.sipTrace ? ['-s'] : []), ...(o.dial ? ['-e', `/dial sip:${o.dial}@${o.dialVia?.address ?? '127.0.0.1'}:${o.dialVia?.port ?? o.boxPort}`] : [])];
  const proc = spawn('baresip', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  const onData = (b: Buffer) => {
    out += b.toString();
    for (const w of [...waiters]) {
      const m = w.re.exec(out);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m[0]);
      }
    }
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const tail = () => out.replace(/\[\d+:\d\d:\d\d\] audio=[^\n]*?\(bit\/s\)\s*/g, '').slice(-3000);

  return {
    dir,
    sipPort,
    proc,
    output: () => out,
    waitFor: (re, timeoutMs = 10_000) =>
      new Promise((resolve, reject) => {
        const m = re.exec(out);
        if (m) return resolve(m[0]);
        const t = setTimeout(() => reject(new Error(`baresip did not print ${re} within ${timeoutMs} ms; output:\n${tail()}`)), timeoutMs);
        waiters.push({ re, resolve: (line) => { clearTimeout(t); resolve(line); } });
        void exited.then((code) => { clearTimeout(t); if (!re.test(out)) reject(new Error(`baresip exited (${code}) without printing ${re}; output:\n${tail()}`)); });
      }),
    command: (name, params) => new Promise((resolve, reject) => {
      if (!controlPort) return reject(new Error('baresip was started without control'));
      const json = JSON.stringify({ command: name, ...(params !== undefined ? { params } : {}), token: 'test' });
      const socket = connect(controlPort, '127.0.0.1', () => socket.write(`${Buffer.byteLength(json)}:${json},`));
      let answer = '';
      const t = setTimeout(() => { socket.destroy(); reject(new Error(`baresip did not answer the command ${name}`)); }, 5000);
      socket.on('data', (b) => {
        answer += b.toString();
        // One netstring: "length:json,"
        const m = /^(\d+):/.exec(answer);
        if (m && answer.length >= m[0].length + Number(m[1]) + 1) {
          clearTimeout(t);
          socket.end();
          resolve(answer.slice(m[0].length, m[0].length + Number(m[1])));
        }
      });
      socket.on('error', (e) => { clearTimeout(t); reject(e); });
    }),
    done: async () => {
      const code = await exited;
      const files = existsSync(recDir) ? readdirSync(recDir) : [];
      const load = (suffix: string) => {
        const f = files.find((n) => n.endsWith(suffix));
        return f ? readWav(join(recDir, f)) : null;
      };
      const result = { code, output: out, received: load('-dec.wav'), sent: load('-enc.wav') };
      rmSync(dir, { recursive: true, force: true });
      return result;
    },
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
}

/** A 16-bit PCM WAV file's first channel. A data chunk whose size was never written (0 or too large) runs to the end of the file. */
export function readWav(path: string): Wav {
  const b = readFileSync(path);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error(`${path}: not a RIFF/WAVE file`);
  let sampleRate = 0, channels = 0, bits = 0;
  for (let off = 12; off + 8 <= b.length; ) {
    const id = b.toString('latin1', off, off + 4);
    let size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      channels = b.readUInt16LE(body + 2);
      sampleRate = b.readUInt32LE(body + 4);
      bits = b.readUInt16LE(body + 14);
    } else if (id === 'data') {
      if (size === 0 || body + size > b.length) size = b.length - body;
      if (bits !== 16 || channels < 1) throw new Error(`${path}: ${bits}-bit, ${channels} channel(s); only 16-bit PCM is read`);
      const frames = Math.floor(size / (2 * channels));
      const pcm = new Int16Array(frames);
      for (let i = 0; i < frames; i++) pcm[i] = b.readInt16LE(body + i * 2 * channels);
      return { sampleRate, channels, pcm };
    }
    off = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}
