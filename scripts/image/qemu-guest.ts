// The image booted as a board: qemu-system-aarch64's virt machine started by U-Boot (Debian's u-boot-qemu), which
// runs the image's own boot script and picks root slot A or B as the Pi's U-Boot does; the card is a qcow2 overlay
// on the image (larger than it, so that first boot grows the data partition), kept across the guest's restarts, which
// reset the machine as a reboot resets the board. The serial console is collected; the box's SIP, HTTP and HTTPS
// ports are forwarded to this machine's loopback.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { appendFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import type { ImageConfig } from './config.ts';

export const UBOOT_QEMU = '/usr/lib/u-boot/qemu_arm64/u-boot.bin';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export class Guest {
  serial = '';
  exited: number | null | undefined;
  private qemu: ChildProcess | null = null;

  private constructor(readonly card: string, readonly sipPort: number, readonly httpPort: number, readonly httpsPort: number, private readonly logFile: string) {}

  /** Makes the card (an overlay of `cardBytes` on the image) and starts the machine. */
  static async start(c: ImageConfig, image: string, scratch: string, cardBytes: number, logFile: string): Promise<Guest> {
    const card = join(scratch, 'card.qcow2');
    const r = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image, card, `${cardBytes}`], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`qemu-img: ${r.stderr.trim()}`);
    const g = new Guest(card, await freePort(), await freePort(), await freePort(), logFile);
    const args = [
      '-M', 'virt', '-cpu', 'cortex-a72', '-smp', '2', '-m', '2048', '-nographic', '-bios', UBOOT_QEMU,
      '-drive', `if=none,file=${card},format=qcow2,id=hd0`, '-device', 'virtio-blk-pci,drive=hd0',
      '-netdev', `user,id=n0,hostfwd=udp:127.0.0.1:${g.sipPort}-:${c.firmware.sipPort},hostfwd=tcp:127.0.0.1:${g.httpPort}-:${c.firmware.httpPort},hostfwd=tcp:127.0.0.1:${g.httpsPort}-:${c.firmware.httpsPort}`,
      '-device', 'virtio-net-pci,netdev=n0,romfile=',
    ];
    console.log(`# booting: qemu-system-aarch64 ${args.join(' ')}`);
    console.log(`# serial console: ${logFile}; SIP on udp 127.0.0.1:${g.sipPort}, HTTP on 127.0.0.1:${g.httpPort}, HTTPS on 127.0.0.1:${g.httpsPort}`);
    const qemu = spawn('nice', ['-n', '10', 'qemu-system-aarch64', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The console goes to the log as it comes, so that a long boot can be followed (tail -f).
    writeFileSync(logFile, '');
    const take = (b: Buffer) => {
      g.serial += b.toString('utf8');
      appendFileSync(logFile, b);
    };
    qemu.stdout!.on('data', take);
    qemu.stderr!.on('data', take);
    qemu.on('exit', (code) => { g.exited = code; });
    g.qemu = qemu;
    return g;
  }

  /** The console's text without systemd's colours. */
  get plain(): string {
    return this.serial.replace(/\x1b\[[0-9;]*m/g, '');
  }

  /** Where the console has got to: a mark for `after`. */
  mark(): number {
    return this.serial.length;
  }

  /** Waits for `find` to give something, at most `timeoutS`; null (and a note) if it never did. */
  async waitFor<T>(find: () => T | null | undefined, what: string, timeoutS: number): Promise<T | null> {
    const deadline = Date.now() + timeoutS * 1000;
    while (Date.now() < deadline && this.exited === undefined) {
      const v = find();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 500));
    }
    const v = find();
    if (!v) console.log(`# ${what}: not seen within ${timeoutS} s${this.exited !== undefined ? ` (qemu exited with ${this.exited})` : ''}`);
    return v ?? null;
  }

  /** The console's text since a mark. */
  since(mark: number): string {
    return this.serial.slice(mark).replace(/\x1b\[[0-9;]*m/g, '');
  }

  /** The firmware's JSON log lines on the console since a mark. */
  jsonLines(mark = 0): Array<Record<string, unknown>> {
    return this.serial.slice(mark).split('\n').flatMap((line) => {
      const at = line.indexOf('{"');
      if (at < 0) return [];
      try {
        return [JSON.parse(line.slice(at).trim()) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** One OPTIONS over UDP to the forwarded SIP port; the first response's text, or null after timeoutMs. */
  options(timeoutMs: number): Promise<string | null> {
    const port = this.sipPort;
    return new Promise((resolve) => {
      const sock = createSocket('udp4');
      const timer = setTimeout(() => { sock.close(); resolve(null); }, timeoutMs);
      sock.on('message', (m) => { clearTimeout(timer); sock.close(); resolve(m.toString('latin1')); });
      sock.bind(0, '127.0.0.1', () => {
        const local = (sock.address() as { port: number }).port;
        const id = createHash('sha1').update(String(Math.random())).digest('hex').slice(0, 12);
        const msg = [
          `OPTIONS sip:127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=z9hG4bK${id};rport`,
          `From: <sip:image-test@127.0.0.1>;tag=${id}`, `To: <sip:127.0.0.1:${port}>`, `Call-ID: ${id}@image-test`, 'CSeq: 1 OPTIONS',
          'Max-Forwards: 70', 'Content-Length: 0', '', '',
        ].join('\r\n');
        sock.send(msg, port, '127.0.0.1');
      });
    });
  }

  async stop(): Promise<void> {
    const q = this.qemu;
    if (q && this.exited === undefined) {
      const gone = new Promise((r) => q.once('exit', r));
      q.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    }
  }
}

export interface HttpsReply { status: number; location: string | null; body: string; fingerprint: string; cookies: string[]; type: string }

/**
 * One HTTPS request to the guest that accepts any certificate and reports the one served, to be compared with the
 * fingerprint the box logged (a technician's check of a self-signed certificate).
 */
export function httpsRequestTo(port: number, path: string, o: { method?: string; headers?: Record<string, string>; body?: string | Buffer; timeoutMs?: number } = {}): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const timeoutMs = o.timeoutMs ?? 10_000;
    const rq = httpsRequest({ host: '127.0.0.1', port, path, method: o.method ?? 'GET', headers: o.headers, rejectUnauthorized: false, timeout: timeoutMs }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({
        status: res.statusCode ?? 0, location: res.headers.location ?? null, body, fingerprint,
        cookies: (res.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]!), type: String(res.headers['content-type'] ?? ''),
      }));
    });
    rq.on('timeout', () => rq.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    rq.on('error', reject);
    rq.end(o.body);
  });
}

/** A technician on the box's web page and API: first use with the setup code, then JSON calls with the session. */
export class GuestWeb {
  private cookies = new Map<string, string>();
  private csrf = '';

  constructor(private readonly port: number) {}

  private async call(method: string, path: string, o: { body?: string | Buffer; type?: string; timeoutMs?: number } = {}): Promise<HttpsReply> {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (o.type) headers['content-type'] = o.type;
    if (this.csrf && method !== 'GET') headers['x-csrf-token'] = this.csrf;
    const r = await httpsRequestTo(this.port, path, { method, headers, body: o.body, timeoutMs: o.timeoutMs });
    for (const c of r.cookies) {
      const i = c.indexOf('=');
      this.cookies.set(c.slice(0, i), c.slice(i + 1));
    }
    const meta = /<meta name="csrf-token" content="([^"]+)"/.exec(r.body);
    if (meta) this.csrf = meta[1]!;
    return r;
  }

  private static token(page: string): string {
    return /name="_csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
  }

  /** First use: the admin password, with the code the box printed at first boot. */
  async setup(code: string, password: string): Promise<number> {
    const page = await this.call('GET', '/setup');
    const form = new URLSearchParams({ _csrf: GuestWeb.token(page.body), code, password, confirm: password }).toString();
    const r = await this.call('POST', '/setup', { body: form, type: 'application/x-www-form-urlencoded' });
    await this.call('GET', '/rooms');
    return r.status;
  }

  async login(password: string): Promise<number> {
    this.cookies.clear();
    const page = await this.call('GET', '/login');
    const r = await this.call('POST', '/login', { body: new URLSearchParams({ _csrf: GuestWeb.token(page.body), password }).toString(), type: 'application/x-www-form-urlencoded' });
    await this.call('GET', '/rooms');
    return r.status;
  }

  async api(method: string, path: string, json?: unknown, timeoutMs?: number): Promise<{ status: number; json: any; body: string }> {
    const r = await this.call(method, path, json === undefined ? { timeoutMs } : { body: JSON.stringify(json), type: 'application/json', timeoutMs });
    return { status: r.status, json: r.type.startsWith('application/json') && r.body ? JSON.parse(r.body) : null, body: r.body };
  }

  async upload(path: string, bytes: Buffer, timeoutMs: number): Promise<{ status: number; json: any; body: string }> {
    const r = await this.call('POST', path, { body: bytes, type: 'application/octet-stream', timeoutMs });
    return { status: r.status, json: r.type.startsWith('application/json') && r.body ? JSON.parse(r.body) : null, body: r.body };
  }
}
