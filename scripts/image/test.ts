// `npm run image:test`: builds the image and its update bundle (with the base root file system cached this takes
// minutes), checks the card's structure without mounting anything, then boots it under qemu-system-aarch64 (-M virt)
// through U-Boot and the image's own A/B boot script, on a card that is an overlay of the image (the image is not
// changed). It requires the firmware's health line on the serial console, a SIP OPTIONS answer, an HTTP redirect and
// the HTTPS page with the certificate whose fingerprint the box logged, through qemu's user-mode network; then a
// technician's first use, the page's database setting moving the box to an office's MariaDB and back
// (scripts/image/test-database.ts), and (scripts/image/test-updates.ts) an update into slot B and a broken one that
// U-Boot abandons.
// Ends with "N passed, N failed, N skipped".
//   node --import tsx scripts/image/test.ts [--image FILE.img[.xz] --bundle FILE.raucb] [--boot-timeout SECONDS] [--no-updates]
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { root, which } from './arm64.ts';
import { buildImage } from './build.ts';
import { loadImageConfig, type ImageConfig } from './config.ts';
import { Guest, GuestWeb, httpsRequestTo, UBOOT_QEMU } from './qemu-guest.ts';
import { UBOOT_ENV_FILE } from './rootfs.ts';
import { testDatabaseSwitch } from './test-database.ts';
import { testUpdates } from './test-updates.ts';

const MiB = 1024 * 1024;
/** The administrator password the boot test sets at first use. */
const PASSWORD = 'the office technician 1';
/** The size of the emulated SD card: larger than the image, so that first boot grows the data partition. */
export const CARD_BYTES = 8192 * MiB;
const config = loadImageConfig(join(root, 'image.yml'));
const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;

let passed = 0;
let failed = 0;
let skipped = 0;
function skip(name: string, why: string): void {
  skipped++;
  console.log(`skip ${name}: ${why}`);
}
export function check(name: string, ok: boolean, detail = ''): boolean {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`);
  return ok;
}

export function run(cmd: string, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? r.error.message : '') };
}

function parseArgs(): { image: string | null; bundle: string | null; bootTimeoutS: number; updates: boolean } {
  const args = process.argv.slice(2);
  let image: string | null = null;
  let bundle: string | null = null;
  let bootTimeoutS = 900;
  let updates = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--image') image = value();
    else if (a === '--bundle') bundle = value();
    else if (a === '--no-updates') updates = false;
    else if (a === '--boot-timeout') {
      bootTimeoutS = Number(value());
      if (!Number.isInteger(bootTimeoutS) || bootTimeoutS < 30) throw new Error(`--boot-timeout: expected whole seconds, at least 30, got ${args[i]}`);
    } else throw new Error(`unknown argument ${a} (known: --image FILE, --bundle FILE, --boot-timeout SECONDS, --no-updates)`);
  }
  if (image && updates && !bundle) throw new Error('--image needs --bundle (the update bundle built with it), or --no-updates');
  return { image, bundle, bootTimeoutS, updates };
}

// --- structure, read from the image file ---------------------------------------------------------------------------

interface Partition { start: number; size: number; type: string; bootable?: boolean }

export interface Layout { bootOffset: number; slotOffsets: [number, number]; dataOffset: number; slotBytes: number }

function structure(c: ImageConfig, image: string, scratch: string): Layout | null {
  const table = run('sfdisk', ['-J', image]);
  if (!check('partition table readable (sfdisk -J)', table.code === 0, table.err.trim())) return null;
  const pt = (JSON.parse(table.out) as { partitiontable: { label: string; id: string; partitions: Partition[] } }).partitiontable;
  const [boot, slotA, slotB, data] = pt.partitions;
  check(`${c.partitions.table} table ${c.partitions.diskId} with four partitions: boot, slots A and B, data`, pt.label === 'dos' && pt.id === c.partitions.diskId && pt.partitions.length === 4, `${pt.label} ${pt.id}, ${pt.partitions.length}`);
  if (!boot || !slotA || !slotB || !data) return null;
  check(`boot partition: FAT32 (type c), bootable, at ${c.partitions.boot.offsetMiB} MiB, ${c.partitions.boot.sizeMiB} MiB`,
    boot.type === 'c' && boot.bootable === true && boot.start === c.partitions.boot.offsetMiB * 2048 && boot.size === c.partitions.boot.sizeMiB * 2048,
    `type ${boot.type}, start ${boot.start}, size ${boot.size}`);
  const slotSectors = c.partitions.root.slotMiB * 2048;
  check(`root slots A and B: Linux (type 83), ${c.partitions.root.slotMiB} MiB each, one after the other`,
    [slotA, slotB].every((p) => p.type === '83' && p.size === slotSectors) && slotA.start === boot.start + boot.size && slotB.start === slotA.start + slotA.size);
  check('data partition: Linux (type 83), the last, inside the image', data.type === '83' && data.start === slotB.start + slotB.size && (data.start + data.size) * 512 <= statSync(image).size);
  const bootOffset = boot.start * 512;

  // The boot partition, through mtools (no mount).
  const fd = openSync(image, 'r');
  const label = Buffer.alloc(11);
  readSync(fd, label, 0, 11, bootOffset + 0x47);
  closeSync(fd);
  check(`boot partition label ${c.partitions.boot.label}`, label.toString('latin1').trimEnd() === c.partitions.boot.label, label.toString('latin1').trimEnd());
  const fat = `${image}@@${bootOffset}`;
  const files = run('mdir', ['-b', '-i', fat, '::']).out.split('\n').map((l) => l.trim().replace(/^::\//, '')).filter(Boolean);
  const needed = ['config.txt', 'u-boot.bin', 'boot.scr', UBOOT_ENV_FILE, 'bootcode.bin', 'start.elf', 'fixup.dat', 'start4.elf', 'fixup4.dat', 'bcm2837-rpi-3-b.dtb', 'bcm2837-rpi-3-b-plus.dtb', 'bcm2711-rpi-4-b.dtb', 'bcm2711-rpi-400.dtb'];
  const lacking = needed.filter((f) => !files.includes(f));
  check('boot files: Pi firmware, U-Boot, its boot script and boot state, Pi 3 and Pi 4 device trees', lacking.length === 0, lacking.length ? `missing ${lacking.join(', ')}` : `${files.length} files`);
  check('no kernel on the boot partition: each slot brings its own', !files.some((f) => /^(vmlinuz|initrd\.img)-/.test(f)));
  const configTxt = run('mtype', ['-i', fat, '::config.txt']).out;
  check('config.txt: 64-bit, the Pi firmware starts U-Boot', /^arm_64bit=1/m.test(configTxt) && /^kernel=u-boot\.bin$/m.test(configTxt) && !/^initramfs /m.test(configTxt));
  const script = run('mtype', ['-i', fat, '::boot.scr']).out;
  check('boot.scr: picks a slot by its attempts, boots the slot\'s own kernel', script.includes('BOOT_ORDER') && script.includes('/boot/vmlinuz') && script.includes('rauc.slot=${raucslot}'));

  // Slot A, through e2fsprogs (no mount).
  const ext = `${image}?offset=${slotA.start * 512}`;
  const fsck = run('e2fsck', ['-fn', ext]);
  check('slot A file system clean (e2fsck -fn)', fsck.code === 0, fsck.code === 0 ? '' : (fsck.out + fsck.err).trim().split('\n').slice(-3).join(' | '));
  const header = run('dumpe2fs', ['-h', ext]).out;
  check(`slot A label ${c.partitions.root.label}`, new RegExp(`^Filesystem volume name:\\s+${c.partitions.root.label}$`, 'm').test(header));
  const cat = (path: string, where = ext) => run('debugfs', ['-R', `cat ${path}`, where]).out;
  const ids = (file: string) => new Map(cat(file).split('\n').filter(Boolean).map((l) => [l.split(':')[0]!, Number(l.split(':')[2])]));
  const users = ids('/etc/passwd');
  const groups = ids('/etc/group');
  check(`the firmware's user ${c.firmware.user} exists`, users.has(c.firmware.user));
  const stat = (path: string, where = ext) => {
    const out = run('debugfs', ['-R', `stat ${path}`, where]).out;
    const t = /Type:\s+(\S+)\s+Mode:\s+(\d+)/.exec(out);
    const u = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(out);
    const links = /Links:\s+(\d+)/.exec(out);
    return t && u ? { type: t[1]!, mode: t[2]!, uid: Number(u[1]), gid: Number(u[2]), links: Number(links?.[1] ?? 0) } : null;
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
    ['/usr/lib/confbox/slot-check', '0755', 0, 0],
    ['/etc/confbox/first-boot.conf', '0644', 0, 0],
    ['/etc/rauc/system.conf', '0644', 0, 0],
    ['/etc/rauc/keyring.pem', '0644', 0, 0],
    ['/etc/fw_env.config', '0644', 0, 0],
    [`/etc/systemd/system/${c.firmware.unit}`, '0644', 0, 0],
    ['/etc/systemd/system/confbox-firstboot.service', '0644', 0, 0],
  ];
  for (const [path, mode, uid, gid] of payload) {
    const s = stat(path);
    check(`${path}: mode ${mode}, owner ${uid}:${gid}`, s !== null && s.mode === mode && s.uid === uid && s.gid === gid, s ? `${s.type} ${s.mode} ${s.uid}:${s.gid}` : 'missing');
  }
  const kernel = stat('/boot/vmlinuz');
  const initrd = stat('/boot/initrd.img');
  check('the slot\'s kernel and initramfs under the names the boot script loads (hard links)', kernel?.type === 'regular' && initrd?.type === 'regular' && kernel.links === 2 && initrd.links === 2, JSON.stringify({ kernel, initrd }));
  check(`slot status: version ${version} (the Status page shows it)`, cat('/slot.raucs').includes(`bundle.version=${version}`));
  check(`RAUC: compatible ${c.updates.compatible}, the slots by the card's identifier`, cat('/etc/rauc/system.conf').includes(`compatible=${c.updates.compatible}`) && cat('/etc/rauc/system.conf').includes(`by-partuuid/${c.partitions.diskId.slice(2)}-03`));
  // Enabled units are symlinks in the .wants directories of the targets they are installed into.
  const wants = ['multi-user', 'sysinit', 'network-online', 'sockets', 'dbus-org', 'paths']
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
  // The status LEDs through the GPIO character device need a simulated chip in the guest: gpio-sim or gpio-mockup.
  const configName = run('debugfs', ['-R', 'ls -p /boot', ext]).out.split('\n').map((l) => l.split('/')[5] ?? '').find((f) => f.startsWith('config-'));
  const kernelConfig = configName ? cat(`/boot/${configName}`) : '';
  const sims = ['CONFIG_GPIO_SIM', 'CONFIG_GPIO_MOCKUP'].filter((k) => new RegExp(`^${k}=[ym]$`, 'm').test(kernelConfig));
  if (sims.length === 0) {
    skip('the four LEDs through a simulated GPIO chip in the guest (start-up, a call, the database stopped, shutdown)',
      `the image's kernel (${configName?.replace('config-', '') ?? 'unknown'}) has neither gpio-sim nor gpio-mockup${/^CONFIG_IRQ_SIM=y/m.test(kernelConfig) ? '' : ', nor the IRQ_SIM they need'}, and this machine's kernel has no GPIO; only the driver's side of the line requests is tested (test/unit/leds.test.ts), with the kernel's replaced`);
  } else {
    check(`the image's kernel has ${sims.join(' and ')}, but the LED test under qemu is not written for it yet`, false);
  }
  check('slot B is empty until the first update', run('dumpe2fs', ['-h', `${image}?offset=${slotB.start * 512}`]).code !== 0);

  // The data partition: what updates keep.
  const dataExt = `${image}?offset=${data.start * 512}`;
  check(`data partition label ${c.partitions.data.label}`, new RegExp(`^Filesystem volume name:\\s+${c.partitions.data.label}$`, 'm').test(run('dumpe2fs', ['-h', dataExt]).out));
  const dataDir = stat('/confbox', dataExt);
  const mysqlDir = stat('/mysql', dataExt);
  check(`data partition: the firmware's data directory (0750 ${c.firmware.user}) and MariaDB's (mysql)`, dataDir?.mode === '0750' && dataDir.uid === users.get(c.firmware.user) && mysqlDir?.uid === users.get('mysql') && mysqlDir?.gid === groups.get('mysql'),
    JSON.stringify({ dataDir, mysqlDir }));
  return { bootOffset, slotOffsets: [slotA.start * 512, slotB.start * 512], dataOffset: data.start * 512, slotBytes: slotSectors * 512 };
}

// --- boot under qemu-system-aarch64, through U-Boot ------------------------------------------------------------------

async function boot(c: ImageConfig, g: Guest, layout: Layout, timeoutS: number): Promise<boolean> {
  const started = Date.now();
  const slot = await g.waitFor(() => /confbox boot: slot ([AB]) \(partition (\d)\)/.exec(g.plain), 'U-Boot\'s boot script', 120);
  check('U-Boot ran the image\'s boot script and started slot A (partition 2)', slot?.[1] === 'A' && slot[2] === '2', slot?.[0] ?? 'not seen');
  const firstBoot = await g.waitFor(() => /confbox first boot: (done|FAILED)/.exec(g.serial)?.[1], 'first boot', timeoutS);
  check('first boot finished', firstBoot === 'done', firstBoot ?? 'not seen');
  const grown = Number(/confbox first boot: data partition grown to the card: (\d+) bytes/.exec(g.serial)?.[1] ?? 0);
  check('first boot grew the data partition to the end of the card', grown === CARD_BYTES - layout.dataOffset, grown ? `${(grown / MiB).toFixed(0)} MiB` : 'not grown');
  const host = /confbox first boot: host name (\S+)/.exec(g.serial)?.[1];
  check(`host name ${c.firstBoot.hostnamePrefix}-XXXX`, new RegExp(`^${c.firstBoot.hostnamePrefix}-[0-9a-f]{4}$`).test(host ?? ''), host ?? 'not set');
  const ready = await g.waitFor(() => g.jsonLines().find((r) => r.msg === 'confbox ready'), 'the firmware\'s "confbox ready"', timeoutS);
  const readyMs = Date.now() - started;
  if (check('the firmware reports itself ready on the serial console', ready !== null, ready ? `after ${(readyMs / 1000).toFixed(0)} s` : '')) {
    const h = ready as { version?: string; node?: string; arch?: string; database?: { answered?: boolean }; engine?: { loaded?: boolean; ticks?: number } };
    check('health: version', h.version === version, String(h.version));
    check(`health: node v${c.node.version} on arm64`, h.node === `v${c.node.version}` && h.arch === 'arm64', `${h.node} ${h.arch}`);
    check('health: database query answered', h.database?.answered === true, JSON.stringify(h.database));
    check('health: media engine loaded and ticking', h.engine?.loaded === true && (h.engine?.ticks ?? 0) > 0, JSON.stringify(h.engine));
    console.log(`# boot to ready: ${(readyMs / 1000).toFixed(1)} s under emulation`);
  }
  const good = await g.waitFor(() => g.jsonLines().find((r) => r.msg === 'running slot marked good'), 'the firmware marking its slot good', 60);
  check('healthy: the firmware marked slot A good (rauc status mark-good)', (good as { slot?: string } | null)?.slot === 'A', JSON.stringify(good));
  const checked = await g.waitFor(() => /confbox slot check: slot A is healthy and marked good/.test(g.plain), 'the slot check', 60);
  check('the slot check saw slot A healthy', checked === true);
  let answer: string | null = null;
  const deadline = Date.now() + 120_000;
  while (!answer && Date.now() < deadline && g.exited === undefined) answer = await g.options(2000);
  check('SIP OPTIONS answered 200 through the forwarded port', answer?.startsWith('SIP/2.0 200') === true, answer?.split('\r\n')[0] ?? 'no answer');
  // Plain HTTP sends the browser to the box's HTTPS port (8443 inside the guest, forwarded here to httpsPort).
  let redirect: { status: number; location: string | null } | null = null;
  let httpError = '';
  while (!redirect && Date.now() < deadline && g.exited === undefined) {
    try {
      const first = await fetch(`http://127.0.0.1:${g.httpPort}/`, { redirect: 'manual', signal: AbortSignal.timeout(10_000) });
      redirect = { status: first.status, location: first.headers.get('location') };
      await first.body?.cancel();
    } catch (e) {
      httpError = (e as Error).message;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  check('HTTP: redirects to the HTTPS page', redirect?.status === 301 && redirect.location === `https://127.0.0.1:${c.firmware.httpsPort}/`, redirect ? `${redirect.status} -> ${redirect.location}` : httpError || 'no answer');
  // HTTPS with the certificate the box made at first boot: the one whose fingerprint it logged on the console.
  const logged = g.jsonLines().find((r) => r.msg === 'TLS certificate') as { fingerprint?: string; source?: string } | undefined;
  check('the generated certificate\'s fingerprint is on the console', logged?.source === 'generated' && /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/.test(logged.fingerprint ?? ''), JSON.stringify(logged ?? null));
  const https = await httpsRequestTo(g.httpsPort, '/').catch((e: Error) => ({ error: e.message }));
  if ('error' in https) check('HTTPS: the web page answers through the forwarded port', false, https.error);
  else {
    const page = https.location ? await httpsRequestTo(g.httpsPort, https.location).catch(() => null) : null;
    check('HTTPS: served with the logged certificate', https.fingerprint === logged?.fingerprint, https.fingerprint);
    check('HTTPS: the web page answers, first use at /setup', https.status === 303 && https.location === '/setup' && page !== null && /<html/i.test(page.body) && /confbox/i.test(page.body),
      `${https.status}${https.location ? ` -> ${https.location}` : ''}`);
  }
  check('mDNS: avahi-daemon started (it announces the host name as .local)', /\[\s*OK\s*\] Started avahi-daemon\.service/.test(g.plain));
  const failedUnits = [...g.plain.matchAll(/\[FAILED\] Failed to start (.*)/g)].map((m) => m[1]!.trim());
  check('no unit failed during boot', failedUnits.length === 0, failedUnits.join('; '));
  return ready !== null;
}

async function main(): Promise<void> {
  const { image: given, bundle: givenBundle, bootTimeoutS, updates } = parseArgs();
  const missing = ['qemu-system-aarch64', 'qemu-img', 'mdir', 'mtype', 'mcopy', 'sfdisk', 'e2fsck', 'debugfs', 'dumpe2fs', 'xz', 'rauc']
    .filter((cmd) => !which(cmd) && !existsSync(join('/usr/sbin', cmd)) && !existsSync(join('/sbin', cmd)));
  if (!existsSync(UBOOT_QEMU)) missing.push(`${UBOOT_QEMU} (u-boot-qemu)`);
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run "sudo scripts/setup-host.sh image"`);
  const scratch = mkdtempSync(join(tmpdir(), 'confbox-image-test-'));
  try {
    let image: string;
    let bundle: string | null = givenBundle;
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
      bundle = built.bundle;
      const sum = readFileSync(built.sha256, 'utf8').split(' ')[0];
      const r = run('sha256sum', [built.xz]);
      check(`${basename(built.xz)} matches its .sha256`, r.out.split(' ')[0] === sum);
      const bmap = readFileSync(built.bmap, 'utf8');
      check(`${basename(built.bmap)} maps the image`, bmap.includes(`<ImageSize> ${statSync(image).size} </ImageSize>`));
    }
    if (bundle) {
      const info = run('rauc', ['info', '--no-verify', '--output-format=json', bundle]);
      const parsed = info.code === 0 ? JSON.parse(info.out) as { compatible?: string; version?: string } : null;
      check(`update bundle ${basename(bundle)}: for ${config.updates.compatible}, version ${version}`, parsed?.compatible === config.updates.compatible && parsed.version === version, info.code === 0 ? `${parsed?.compatible} ${parsed?.version}` : info.err.trim());
    }
    const layout = structure(config, image, scratch);
    if (layout) {
      const logs = join(root, config.output.dir, 'logs');
      mkdirSync(logs, { recursive: true });
      const guest = await Guest.start(config, image, scratch, CARD_BYTES, join(logs, 'boot-serial.log'));
      try {
        const up = await boot(config, guest, layout, bootTimeoutS);
        if (up) {
          // First use, as a technician does it: the password with the setup code the console shows, a room, an extension.
          const web = new GuestWeb(guest.httpsPort);
          const code = /confbox first boot: web page setup code: (\S+)/.exec(guest.plain)?.[1] ?? '';
          check('first use with the setup code from the console', (await web.setup(code, PASSWORD)) === 303, code);
          const room = await web.api('POST', '/api/rooms', { id: '12', pin: '5291', keep: true });
          const ext = await web.api('PUT', '/api/extensions/201', { password: 'phone-201-secret', displayName: 'Reception' });
          check('a room and an extension are configured', room.status === 201 && ext.status === 200, `${room.status} ${ext.status}`);
          await testDatabaseSwitch(web, check, 12);
          if (updates && bundle) await testUpdates({ c: config, guest, image, layout, bundle, scratch, version, check, timeoutS: bootTimeoutS, web, password: PASSWORD });
        }
      } finally {
        await guest.stop();
      }
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((e) => {
  console.error(`image test: ${(e as Error).message}`);
  console.log(`\n${passed} passed, ${failed + 1} failed, ${skipped} skipped`);
  process.exitCode = 1;
});
