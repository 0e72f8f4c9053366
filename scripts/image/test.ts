// `npm run image:test`: builds the image (with the base root file system cached this takes minutes), checks its
// structure without mounting anything, then boots it under qemu-system-aarch64 (-M virt, -snapshot: the image is not
// changed) and requires the firmware's health line on the serial console, a SIP OPTIONS answer, an HTTP redirect and
// the HTTPS page with the certificate whose fingerprint the box logged, through qemu's user-mode network. Ends with "N passed, N failed".
//   node --import tsx scripts/image/test.ts [--image FILE.img[.xz]] [--boot-timeout SECONDS]
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import type { TLSSocket } from 'node:tls';
import { basename, join, relative, resolve } from 'node:path';
import { root, which } from './arm64.ts';
import { buildImage } from './build.ts';
import { loadImageConfig, type ImageConfig } from './config.ts';

const MiB = 1024 * 1024;
/** The size of the emulated SD card: larger than the image, so that first boot grows the root partition. */
const CARD_BYTES = 4096 * MiB;
const config = loadImageConfig(join(root, 'image.yml'));
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

let passed = 0;
let failed = 0;
function check(name: string, ok: boolean, detail = ''): boolean {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`);
  return ok;
}

function run(cmd: string, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? r.error.message : '') };
}

function parseArgs(): { image: string | null; bootTimeoutS: number } {
  const args = process.argv.slice(2);
  let image: string | null = null;
  let bootTimeoutS = 900;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--image') image = value();
    else if (a === '--boot-timeout') {
      bootTimeoutS = Number(value());
      if (!Number.isInteger(bootTimeoutS) || bootTimeoutS < 30) throw new Error(`--boot-timeout: expected whole seconds, at least 30, got ${args[i]}`);
    } else throw new Error(`unknown argument ${a} (known: --image FILE, --boot-timeout SECONDS)`);
  }
  return { image, bootTimeoutS };
}

// --- structure, read from the image file ---------------------------------------------------------------------------

interface Partition { start: number; size: number; type: string; bootable?: boolean }

function structure(c: ImageConfig, image: string, scratch: string): { bootOffset: number; rootOffset: number } | null {
  const table = run('sfdisk', ['-J', image]);
  if (!check('partition table readable (sfdisk -J)', table.code === 0, table.err.trim())) return null;
  const pt = (JSON.parse(table.out) as { partitiontable: { label: string; partitions: Partition[] } }).partitiontable;
  const [boot, rootPart] = pt.partitions;
  check(`${c.partitions.table} table with two partitions`, pt.label === 'dos' && pt.partitions.length === 2, `${pt.label}, ${pt.partitions.length}`);
  if (!boot || !rootPart) return null;
  check(`boot partition: FAT32 (type c), bootable, at ${c.partitions.boot.offsetMiB} MiB, ${c.partitions.boot.sizeMiB} MiB`,
    boot.type === 'c' && boot.bootable === true && boot.start === c.partitions.boot.offsetMiB * 2048 && boot.size === c.partitions.boot.sizeMiB * 2048,
    `type ${boot.type}, start ${boot.start}, size ${boot.size}`);
  check('root partition: Linux (type 83) right after it, inside the image', rootPart.type === '83' && rootPart.start === boot.start + boot.size && (rootPart.start + rootPart.size) * 512 <= statSync(image).size);
  const bootOffset = boot.start * 512;
  const rootOffset = rootPart.start * 512;

  // The boot partition, through mtools (no mount).
  const fd = openSync(image, 'r');
  const label = Buffer.alloc(11);
  readSync(fd, label, 0, 11, bootOffset + 0x47);
  closeSync(fd);
  check(`boot partition label ${c.partitions.boot.label}`, label.toString('latin1').trimEnd() === c.partitions.boot.label, label.toString('latin1').trimEnd());
  const fat = `${image}@@${bootOffset}`;
  const dir = run('mdir', ['-b', '-i', fat, '::']);
  const files = dir.out.split('\n').map((l) => l.trim().replace(/^::\//, '')).filter(Boolean);
  const kernel = files.find((f) => /^vmlinuz-/.test(f));
  const initrd = files.find((f) => /^initrd\.img-/.test(f));
  check('boot files: kernel and initramfs', Boolean(kernel && initrd), `${kernel}, ${initrd}`);
  const needed = ['config.txt', 'cmdline.txt', 'bootcode.bin', 'start.elf', 'fixup.dat', 'start4.elf', 'fixup4.dat', 'bcm2837-rpi-3-b.dtb', 'bcm2837-rpi-3-b-plus.dtb', 'bcm2711-rpi-4-b.dtb', 'bcm2711-rpi-400.dtb'];
  const lacking = needed.filter((f) => !files.includes(f));
  check('boot files: Pi firmware, config.txt, cmdline.txt, Pi 3 and Pi 4 device trees', lacking.length === 0, lacking.length ? `missing ${lacking.join(', ')}` : `${files.length} files`);
  const cmdline = run('mtype', ['-i', fat, '::cmdline.txt']).out;
  check('cmdline.txt: root by label, serial console', cmdline.includes(`root=LABEL=${c.partitions.root.label}`) && cmdline.includes(`console=${c.boot.console}`), cmdline.trim());
  const configTxt = run('mtype', ['-i', fat, '::config.txt']).out;
  check('config.txt: 64-bit, the kernel and initramfs that are there', /^arm_64bit=1/m.test(configTxt) && configTxt.includes(`kernel=${kernel}`) && configTxt.includes(`initramfs ${initrd}`));

  // The root partition, through e2fsprogs (no mount).
  const ext = `${image}?offset=${rootOffset}`;
  const fsck = run('e2fsck', ['-fn', ext]);
  check('root file system clean (e2fsck -fn)', fsck.code === 0, fsck.code === 0 ? '' : (fsck.out + fsck.err).trim().split('\n').slice(-3).join(' | '));
  const header = run('dumpe2fs', ['-h', ext]).out;
  check(`root partition label ${c.partitions.root.label}`, new RegExp(`^Filesystem volume name:\\s+${c.partitions.root.label}$`, 'm').test(header));
  const cat = (path: string) => run('debugfs', ['-R', `cat ${path}`, ext]).out;
  const ids = (file: string) => new Map(cat(file).split('\n').filter(Boolean).map((l) => [l.split(':')[0]!, Number(l.split(':')[2])]));
  const users = ids('/etc/passwd');
  const groups = ids('/etc/group');
  check(`the firmware's user ${c.firmware.user} exists`, users.has(c.firmware.user));
  const stat = (path: string) => {
    const out = run('debugfs', ['-R', `stat ${path}`, ext]).out;
    const t = /Type:\s+(\S+)\s+Mode:\s+(\d+)/.exec(out);
    const u = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(out);
    return t && u ? { type: t[1]!, mode: t[2]!, uid: Number(u[1]), gid: Number(u[2]) } : null;
  };
  const app = c.install.app;
  const payload: Array<[string, string, number, number]> = [
    [c.node.path, '0755', 0, 0],
    [`${app}/confbox.mjs`, '0755', 0, 0],
    [`${app}/confbox_engine.node`, '0755', 0, 0],
    [`${app}/prompts/index.json`, '0644', 0, 0],
    [`${app}/board/profiles/rpi4.json`, '0644', 0, 0],
    ['/usr/local/bin/confbox', '0755', 0, 0],
    ['/usr/lib/confbox/first-boot', '0755', 0, 0],
    ['/usr/lib/confbox/setup-code', '0755', 0, 0],
    ['/etc/confbox/first-boot.conf', '0644', 0, 0],
    [`/etc/systemd/system/${c.firmware.unit}`, '0644', 0, 0],
    ['/etc/systemd/system/confbox-firstboot.service', '0644', 0, 0],
    ['/var/lib/mysql', '0755', users.get('mysql') ?? -1, groups.get('mysql') ?? -1],
  ];
  for (const [path, mode, uid, gid] of payload) {
    const s = stat(path);
    check(`${path}: mode ${mode}, owner ${uid}:${gid}`, s !== null && s.mode === mode && s.uid === uid && s.gid === gid, s ? `${s.type} ${s.mode} ${s.uid}:${s.gid}` : 'missing');
  }
  // Enabled units are symlinks in the .wants directories of the targets they are installed into.
  const wants = ['multi-user', 'sysinit', 'network-online', 'sockets', 'dbus-org']
    .map((t) => run('debugfs', ['-R', `ls -l /etc/systemd/system/${t}.target.wants`, ext]).out).join('\n');
  const enabled = (unit: string) => {
    const name = unit.includes('.') ? unit : `${unit}.service`;
    return new RegExp(`\\s${name.replace(/[.]/g, '\\.')}\\s*$`, 'm').test(wants) || (name.endsWith('.service') && new RegExp(`\\s${name.replace('.service', '\\.socket')}\\s*$`, 'm').test(wants));
  };
  for (const unit of c.services.enable) check(`${unit} enabled`, enabled(unit));
  for (const unit of c.services.disable) check(`${unit} disabled`, !enabled(unit));
  check('/etc/machine-id empty (each box makes its own on first boot)', stat('/etc/machine-id') !== null && cat('/etc/machine-id') === '');
  for (const [path, what] of [[c.node.path, 'node'], [`${app}/confbox_engine.node`, 'engine addon']] as const) {
    const dumped = join(scratch, basename(path));
    run('debugfs', ['-R', `dump ${path} ${dumped}`, ext]);
    const head = existsSync(dumped) ? readFileSync(dumped).subarray(0, 20) : Buffer.alloc(20);
    check(`${what} is an arm64 ELF`, head.readUInt32BE(0) === 0x7f454c46 && head.readUInt16LE(18) === 183);
    rmSync(dumped, { force: true });
  }
  return { bootOffset, rootOffset };
}

// --- boot under qemu-system-aarch64 ---------------------------------------------------------------------------------

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

/** One OPTIONS over UDP; resolves with the first response's text, or null after timeoutMs. */
function options(port: number, timeoutMs: number): Promise<string | null> {
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

async function boot(c: ImageConfig, image: string, bootOffset: number, scratch: string, timeoutS: number, logFile: string): Promise<void> {
  // qemu loads the kernel itself (the Pi's firmware stage is not emulated): take them from the boot partition.
  const fat = `${image}@@${bootOffset}`;
  const files = run('mdir', ['-b', '-i', fat, '::']).out.split('\n').map((l) => l.trim().replace(/^::\//, ''));
  const kernel = files.find((f) => f.startsWith('vmlinuz-'));
  const initrd = files.find((f) => f.startsWith('initrd.img-'));
  if (!kernel || !initrd) {
    check('boot: kernel and initramfs found', false);
    return;
  }
  run('mcopy', ['-n', '-i', fat, `::${kernel}`, `::${initrd}`, scratch]);
  // The guest sees a card larger than the image (a throwaway overlay), so first boot has a partition to grow.
  const card = join(scratch, 'card.qcow2');
  const overlay = run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', image, card, `${CARD_BYTES}`]);
  if (!check('boot: a larger card made from the image (qemu-img overlay)', overlay.code === 0, overlay.err.trim())) return;
  const sipPort = await freePort();
  const httpPort = await freePort();
  const httpsPort = await freePort();
  const args = [
    '-M', 'virt', '-cpu', 'cortex-a72', '-smp', '2', '-m', '2048', '-nographic', '-no-reboot', '-snapshot',
    '-kernel', join(scratch, kernel), '-initrd', join(scratch, initrd),
    '-append', `root=LABEL=${c.partitions.root.label} rw rootwait console=ttyAMA0 ${c.boot.cmdline.join(' ')}`,
    '-drive', `if=none,file=${card},format=qcow2,id=hd0`, '-device', 'virtio-blk-pci,drive=hd0',
    '-netdev', `user,id=n0,hostfwd=udp:127.0.0.1:${sipPort}-:${c.firmware.sipPort},hostfwd=tcp:127.0.0.1:${httpPort}-:${c.firmware.httpPort},hostfwd=tcp:127.0.0.1:${httpsPort}-:${c.firmware.httpsPort}`,
    '-device', 'virtio-net-pci,netdev=n0,romfile=',
  ];
  console.log(`# booting: qemu-system-aarch64 ${args.join(' ')}`);
  console.log(`# serial console: ${relative(root, logFile)}; SIP on udp 127.0.0.1:${sipPort}, HTTP on 127.0.0.1:${httpPort}, HTTPS on 127.0.0.1:${httpsPort}`);
  const started = Date.now();
  const qemu = spawn('nice', ['-n', '10', 'qemu-system-aarch64', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let serial = '';
  qemu.stdout.on('data', (b: Buffer) => { serial += b.toString('utf8'); });
  qemu.stderr.on('data', (b: Buffer) => { serial += b.toString('utf8'); });
  let exited: number | null | undefined;
  qemu.on('exit', (code) => { exited = code; });
  const deadline = started + timeoutS * 1000;
  const waitFor = async <T>(find: () => T | null | undefined, what: string): Promise<T | null> => {
    while (Date.now() < deadline && exited === undefined) {
      const v = find();
      if (v) return v;
      await new Promise((r) => setTimeout(r, 500));
    }
    const v = find();
    if (!v) console.log(`# ${what}: not seen within ${timeoutS} s${exited !== undefined ? ` (qemu exited with ${exited})` : ''}`);
    return v ?? null;
  };
  const jsonLines = () => serial.split('\n').flatMap((line) => {
    const at = line.indexOf('{"');
    if (at < 0) return [];
    try {
      return [JSON.parse(line.slice(at).trim()) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
  try {
    const firstBoot = await waitFor(() => /confbox first boot: (done|FAILED)/.exec(serial)?.[1], 'first boot');
    check('first boot finished', firstBoot === 'done', firstBoot ?? 'not seen');
    const grown = Number(/confbox first boot: root partition grown to the card: (\d+) bytes/.exec(serial)?.[1] ?? 0);
    const rootStart = (c.partitions.boot.offsetMiB + c.partitions.boot.sizeMiB) * MiB;
    check('first boot grew the root partition to the end of the card', grown === CARD_BYTES - rootStart, grown ? `${(grown / MiB).toFixed(0)} MiB` : 'not grown');
    const host = /confbox first boot: host name (\S+)/.exec(serial)?.[1];
    check(`host name ${c.firstBoot.hostnamePrefix}-XXXX`, new RegExp(`^${c.firstBoot.hostnamePrefix}-[0-9a-f]{4}$`).test(host ?? ''), host ?? 'not set');
    const ready = await waitFor(() => jsonLines().find((r) => r.msg === 'confbox ready'), 'the firmware\'s "confbox ready"');
    const readyMs = Date.now() - started;
    if (check('the firmware reports itself ready on the serial console', ready !== null, ready ? `after ${(readyMs / 1000).toFixed(0)} s` : '')) {
      const h = ready as { version?: string; node?: string; arch?: string; database?: { answered?: boolean }; engine?: { loaded?: boolean; ticks?: number } };
      check('health: version', h.version === version, String(h.version));
      check(`health: node v${c.node.version} on arm64`, h.node === `v${c.node.version}` && h.arch === 'arm64', `${h.node} ${h.arch}`);
      check('health: database query answered', h.database?.answered === true, JSON.stringify(h.database));
      check('health: media engine loaded and ticking', h.engine?.loaded === true && (h.engine?.ticks ?? 0) > 0, JSON.stringify(h.engine));
      console.log(`# boot to ready: ${(readyMs / 1000).toFixed(1)} s under emulation`);
    }
    let answer: string | null = null;
    while (!answer && Date.now() < deadline && exited === undefined) answer = await options(sipPort, 2000);
    check('SIP OPTIONS answered 200 through the forwarded port', answer?.startsWith('SIP/2.0 200') === true, answer?.split('\r\n')[0] ?? 'no answer');
    // Plain HTTP sends the browser to the box's HTTPS port (8443 inside the guest, forwarded here to httpsPort).
    let redirect: { status: number; location: string | null } | null = null;
    let httpError = '';
    while (!redirect && Date.now() < deadline && exited === undefined) {
      try {
        const first = await fetch(`http://127.0.0.1:${httpPort}/`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
        redirect = { status: first.status, location: first.headers.get('location') };
        await first.body?.cancel();
      } catch (e) {
        httpError = (e as Error).message;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    check('HTTP: redirects to the HTTPS page', redirect?.status === 301 && redirect.location === `https://127.0.0.1:${c.firmware.httpsPort}/`, redirect ? `${redirect.status} -> ${redirect.location}` : httpError || 'no answer');
    // HTTPS with the certificate the box made at first boot: the one whose fingerprint it logged on the console.
    const logged = jsonLines().find((r) => r.msg === 'TLS certificate') as { fingerprint?: string; source?: string } | undefined;
    check('the generated certificate\'s fingerprint is on the console', logged?.source === 'generated' && /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(logged.fingerprint ?? ''), JSON.stringify(logged ?? null));
    const https = await httpsPage(httpsPort, '/').catch((e: Error) => ({ error: e.message }));
    if ('error' in https) check('HTTPS: the web page answers through the forwarded port', false, https.error);
    else {
      const page = https.location ? await httpsPage(httpsPort, https.location).catch(() => null) : null;
      check('HTTPS: served with the logged certificate', https.fingerprint === logged?.fingerprint, https.fingerprint);
      check('HTTPS: the web page answers, first use at /setup', https.status === 303 && https.location === '/setup' && page !== null && /<html/i.test(page.body) && /confbox/i.test(page.body),
        `${https.status}${https.location ? ` -> ${https.location}` : ''}`);
    }
    // systemd colours its status lines; what a technician reads on the console is the text without them.
    const plain = serial.replace(/\x1b\[[0-9;]*m/g, '');
    check('mDNS: avahi-daemon started (it announces the host name as .local)', /\[\s*OK\s*\] Started avahi-daemon\.service/.test(plain));
    const failedUnits = [...plain.matchAll(/\[FAILED\] Failed to start (.*)/g)].map((m) => m[1]!.trim());
    check('no unit failed during boot', failedUnits.length === 0, failedUnits.join('; '));
  } finally {
    qemu.kill('SIGTERM');
    writeFileSync(logFile, serial);
  }
}

/**
 * One GET over HTTPS that accepts any certificate and reports the one served, to be compared with the
 * fingerprint the box logged (a technician's check of a self-signed certificate).
 */
function httpsPage(port: number, path: string): Promise<{ status: number; location: string | null; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const rq = httpsRequest({ host: '127.0.0.1', port, path, rejectUnauthorized: false, timeout: 10_000 }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location ?? null, body, fingerprint }));
    });
    rq.on('timeout', () => rq.destroy(new Error('no answer within 10 s')));
    rq.on('error', reject);
    rq.end();
  });
}

async function main(): Promise<void> {
  const { image: given, bootTimeoutS } = parseArgs();
  const missing = ['qemu-system-aarch64', 'qemu-img', 'mdir', 'mtype', 'mcopy', 'sfdisk', 'e2fsck', 'debugfs', 'dumpe2fs', 'xz']
    .filter((cmd) => !which(cmd) && !existsSync(join('/usr/sbin', cmd)) && !existsSync(join('/sbin', cmd)));
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run "sudo scripts/setup-host.sh image"`);
  const scratch = mkdtempSync(join(tmpdir(), 'confbox-image-test-'));
  try {
    let image: string;
    if (given) {
      if (!existsSync(given)) throw new Error(`--image: ${given} does not exist`);
      if (given.endsWith('.xz')) {
        const sums = `${given}.sha256`;
        if (existsSync(sums)) {
          const r = run('sh', ['-c', `cd "$(dirname "$1")" && sha256sum -c "$(basename "$2")"`, 'sh', given, sums]);
          check(`${basename(given)} matches its .sha256`, r.code === 0, r.out.trim());
        }
        image = join(scratch, basename(given, '.xz'));
        const r = spawnSync('sh', ['-c', 'xz -dc -T0 "$1" >"$2"', 'sh', given, image], { stdio: 'inherit' });
        if (r.status !== 0) throw new Error(`cannot decompress ${given}`);
      } else image = resolve(given);
    } else {
      const built = await buildImage();
      image = built.image;
      const sum = readFileSync(built.sha256, 'utf8').split(' ')[0];
      const r = run('sha256sum', [built.xz]);
      check(`${basename(built.xz)} matches its .sha256`, r.out.split(' ')[0] === sum);
      const bmap = readFileSync(built.bmap, 'utf8');
      check(`${basename(built.bmap)} maps the image`, bmap.includes(`<ImageSize> ${statSync(image).size} </ImageSize>`));
    }
    const offsets = structure(config, image, scratch);
    if (offsets) {
      const logs = join(root, config.output.dir, 'logs');
      mkdirSync(logs, { recursive: true });
      await boot(config, image, offsets.bootOffset, scratch, bootTimeoutS, join(logs, 'boot-serial.log'));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((e) => {
  console.error(`image test: ${(e as Error).message}`);
  console.log(`\n${passed} passed, ${failed + 1} failed`);
  process.exitCode = 1;
});

