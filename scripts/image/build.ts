// `node build.mjs image` / `npm run image`: builds the flashable SD card image that image.yml declares.
//   node --import tsx scripts/image/build.ts [--rebuild-base]
// Steps, each shown with its elapsed time; a failing step is named and its log kept under <output dir>/logs/:
//   host -> firmware -> node runtime -> engine -> base root fs (cached) -> root fs -> boot partition ->
//   root partition -> disk image -> compress (.img.xz, .sha256, .bmap)
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync, copyFileSync, cpSync, createReadStream, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync,
  writeFileSync, createWriteStream,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { CROSS, cacheDir, crossBuildEngine, nodeRuntime, root, which } from './arm64.ts';
import { loadImageConfig, outputStem, type ImageConfig } from './config.ts';
import { baseArgs, baseKey } from './base.ts';
import {
  bootScript, firmwareDropIn, firmwareUnit, firstBootConfig, fstab, fwEnvConfig, persistentPlace, raucSystemConf, slotCheckConfig, sysusers, tmpfiles,
  UBOOT_ENV_FILE, UBOOT_ENV_SIZE, ubootConfigTxt,
} from './rootfs.ts';
import { signingKey, writeBundle, type SigningKey } from './update-bundle.ts';

const MiB = 1024 * 1024;

export class StepError extends Error {
  constructor(message: string, readonly log?: string) {
    super(message);
    this.name = 'StepError';
  }
}

/** Runs a program with its output appended to a log file; rejects naming the program and the log. */
export function runLogged(cmd: string, args: string[], log: string, options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = createWriteStream(log, { flags: 'a' });
    out.write(`\n$ ${cmd} ${args.map((a) => (/[\s'"$]/.test(a) ? JSON.stringify(a) : a)).join(' ')}\n`);
    const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    if (options.input !== undefined && child.stdin) {
      // A program that exits without reading its input fails on its own exit code, not on EPIPE here.
      child.stdin.on('error', () => undefined);
      child.stdin.end(options.input);
    }
    child.on('error', (e) => {
      out.end();
      reject(new StepError(`${cmd}: ${e.message}`, log));
    });
    child.on('close', (code, signal) => {
      out.end(() => {
        if (code === 0) resolve();
        else reject(new StepError(`${cmd} ${signal ? `was killed by ${signal}` : `exited with ${code}`}`, log));
      });
    });
  });
}

function tail(file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function duration(ms: number): string {
  const s = ms / 1000;
  return s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

function du(dir: string): number {
  const r = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  return Number(r.stdout.split('\t')[0] ?? 0);
}

export interface BuildOptions {
  rebuildBase?: boolean;
  say?: (line: string) => void;
}

export interface BuildResult {
  image: string;
  /** The signed update bundle of the same root file system. */
  bundle: string;
  xz: string;
  bmap: string;
  sha256: string;
  rawBytes: number;
  xzBytes: number;
  installedBytes: number;
  baseCached: boolean;
  stepMs: Record<string, number>;
}

/** Host programs each step needs, and the Debian package that has it. */
const HOST_TOOLS: Array<[string, string]> = [
  ['mmdebstrap', 'mmdebstrap'], ['arch-test', 'arch-test'], ['zstd', 'zstd'], ['mkfs.vfat', 'dosfstools'], ['mcopy', 'mtools'],
  ['mke2fs', 'e2fsprogs'], ['e2fsck', 'e2fsprogs'], ['sfdisk', 'fdisk'], ['xz', 'xz-utils'], ['bmaptool', 'bmap-tools'],
  [`${CROSS}-gcc`, 'gcc-aarch64-linux-gnu'], [`${CROSS}-strip`, 'binutils-aarch64-linux-gnu'], ['qemu-aarch64-static', 'qemu-user-static'],
  ['systemctl', 'systemd'], ['systemd-sysusers', 'systemd'], ['rauc', 'rauc'], ['mksquashfs', 'squashfs-tools'], ['mkimage', 'u-boot-tools'],
  ['mkenvimage', 'u-boot-tools'], ['openssl', 'openssl'],
];

function checkHost(): void {
  const missing = HOST_TOOLS.filter(([cmd]) => !which(cmd) && !existsSync(join('/usr/sbin', cmd)) && !existsSync(join('/sbin', cmd)));
  if (missing.length) {
    throw new StepError(`missing ${missing.map(([cmd, pkg]) => `${cmd} (${pkg})`).join(', ')}: run "sudo scripts/setup-host.sh image"`);
  }
  if (process.getuid?.() !== 0) throw new StepError('the image is built as root (mmdebstrap, file ownership in the root file system): run it with sudo');
  const arch = spawnSync('arch-test', ['arm64'], { encoding: 'utf8' });
  if (arch.status !== 0) {
    throw new StepError(`arm64 programs cannot run here (arch-test arm64: ${(arch.stdout + arch.stderr).trim()}); the base root file system needs the qemu-aarch64 binfmt rule: run "sudo scripts/setup-host.sh image", or register qemu-aarch64 on the host of this container`);
  }
}

/** The environment for mmdebstrap and chrooted arm64 programs: no sysroot prefix for qemu (the chroot has its own). */
function chrootEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C.UTF-8' };
  delete env.QEMU_LD_PREFIX;
  return env;
}

export async function buildImage(options: BuildOptions = {}): Promise<BuildResult> {
  const say = options.say ?? ((line: string) => console.log(line));
  const config = loadImageConfig(join(root, 'image.yml'));
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  const outDir = join(root, config.output.dir);
  const stem = outputStem(config, pkg.version);
  const logs = join(outDir, 'logs');
  const work = join(outDir, 'work');
  rmSync(logs, { recursive: true, force: true });
  mkdirSync(logs, { recursive: true });
  const started = Date.now();
  const stepMs: Record<string, number> = {};
  const steps = ['host', 'signing key', 'firmware', 'node runtime', 'engine', 'base root fs', 'root fs', 'boot partition', 'root slot', 'data partition', 'disk image', 'update bundle', 'compress'];
  let n = 0;
  async function step<T>(name: string, what: string, fn: (log: string) => Promise<T> | T): Promise<T> {
    n++;
    const log = join(logs, `${String(n).padStart(2, '0')}-${name.replaceAll(' ', '-')}.log`);
    const t0 = Date.now();
    say(`[${n}/${steps.length}] ${name}: ${what}`);
    const ticker = setInterval(() => say(`      ${name}: still running, ${duration(Date.now() - t0)} (log: ${relative(root, log)})`), 60_000);
    try {
      const r = await fn(log);
      stepMs[name] = Date.now() - t0;
      say(`      ${name}: done in ${duration(stepMs[name]!)} (total ${duration(Date.now() - started)})`);
      return r;
    } catch (e) {
      const err = e as Error & { log?: string };
      const logFile = err.log ?? (existsSync(log) ? log : undefined);
      if (!err.log && !existsSync(log)) writeFileSync(log, `${err.stack ?? err.message}\n`);
      const shown = logFile ? tail(logFile) : '';
      throw new StepError(`step "${name}" failed after ${duration(Date.now() - t0)}: ${err.message}${shown ? `\n--- last lines of ${relative(root, logFile ?? log)}:\n${shown}` : ''}\n(log kept: ${relative(root, logFile ?? log)})`, logFile ?? log);
    } finally {
      clearInterval(ticker);
    }
  }

  await step('host', 'tools (scripts/setup-host.sh image), root, arm64 through qemu-user', async (log) => {
    if (process.getuid?.() === 0) await runLogged('bash', [join(root, 'scripts/setup-host.sh'), 'image'], log);
    checkHost();
  });

  const signing = await step('signing key', 'the key update bundles are signed with (kept outside the repository)', (log) => {
    const k = signingKey(log);
    say(k.made ? `      made a new update signing key in ${k.dir}: keep it (and a copy) safe; boxes flashed with this image accept updates signed by it only` : `      ${k.dir}`);
    return k;
  });

  await step('firmware', 'node build.mjs (bundle, board profiles, prompts)', (log) => runLogged(process.execPath, [join(root, 'build.mjs')], log, { cwd: root }));

  const runtime = await step('node runtime', `${config.node.package}@${config.node.version}`, (log) => nodeRuntime(config.node, (l) => writeFileSync(log, `${l}\n`, { flag: 'a' })));

  const engine = await step('engine', `media engine addon cross-compiled with ${CROSS}-gcc against node ${config.node.version}`, () => crossBuildEngine(runtime, join(root, 'firmware/media/native/build/arm64-addon')));

  const key = baseKey(config);
  const baseTar = join(cacheDir(), 'image', `base-${config.debian.suite}-${config.debian.architecture}-${key}.tar.zst`);
  let baseCached = existsSync(baseTar) && !options.rebuildBase;
  await step('base root fs', baseCached ? `cached (${relative(root, baseTar).startsWith('..') ? baseTar : relative(root, baseTar)})` : `mmdebstrap ${config.debian.suite} ${config.debian.architecture}, ${config.debian.packages.length} packages (slow: packages are configured under qemu-user)`, async (log) => {
    if (baseCached) return;
    mkdirSync(dirname(baseTar), { recursive: true });
    const partial = baseTar.replace(/\.tar\.zst$/, '.partial.tar.zst');
    rmSync(partial, { force: true });
    await runLogged('nice', ['-n', '10', 'mmdebstrap', ...baseArgs(config), config.debian.suite, partial, config.debian.mirror], log, { env: chrootEnv() });
    renameSync(partial, baseTar);
    // Older bases of this suite are replaced by the new one.
    for (const f of readdirSync(dirname(baseTar))) {
      if (f.startsWith('base-') && f.endsWith('.tar.zst') && join(dirname(baseTar), f) !== baseTar && !f.includes('.partial.')) rmSync(join(dirname(baseTar), f), { force: true });
    }
  });

  const rootfs = join(work, 'rootfs');
  const installedBytes = await step('root fs', 'base + payload (node, bundle, engine, prompts, overlays, units, first boot)', async (log) => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(rootfs, { recursive: true });
    await runLogged('tar', ['--zstd', '--numeric-owner', '-xpf', baseTar, '-C', rootfs], log);
    await installPayload(config, rootfs, runtime, engine, log);
    installUpdates(config, rootfs, signing, pkg.version);
    return du(rootfs);
  });

  const fw = join(work, 'boot');
  const bootImg = join(work, 'boot.vfat');
  await step('boot partition', `FAT32 "${config.partitions.boot.label}", ${config.partitions.boot.sizeMiB} MiB: Pi firmware, U-Boot, boot.scr (mkfs.vfat + mcopy)`, async (log) => {
    const mount = join(rootfs, config.partitions.boot.mount);
    renameSync(mount, fw);
    mkdirSync(mount, { mode: 0o755 });
    await bootFiles(config, rootfs, fw, work, log);
    await runLogged('mkfs.vfat', ['-F', '32', '-n', config.partitions.boot.label, '-C', bootImg, String(config.partitions.boot.sizeMiB * 1024)], log);
    const files = readdirSync(fw).map((f) => join(fw, f));
    await runLogged('mcopy', ['-s', '-p', '-m', '-i', bootImg, ...files, '::/'], log);
  });

  // Slot A holds the root file system; slot B is empty until the first update (the bundle holds the same image).
  const rootImg = join(work, 'root.ext4');
  const rootMiB = Math.ceil((du(rootfs) * 1.15) / MiB) + 256;
  const { slotMiB } = config.partitions.root;
  await step('root slot', `ext4 "${config.partitions.root.label}", ${rootMiB} MiB of a ${slotMiB} MiB slot (mke2fs -d)`, async (log) => {
    if (rootMiB > slotMiB) throw new StepError(`the root file system needs ${rootMiB} MiB, more than partitions.root.slotMiB (${slotMiB}): make the slots larger in image.yml`);
    await runLogged('mke2fs', ['-q', '-t', 'ext4', '-L', config.partitions.root.label, '-E', 'root_owner=0:0', '-d', rootfs, rootImg, `${rootMiB}M`], log);
    await runLogged('e2fsck', ['-fn', rootImg], log);
  });

  const dataImg = join(work, 'data.ext4');
  await step('data partition', `ext4 "${config.partitions.data.label}", ${config.partitions.data.sizeMiB} MiB: ${config.updates.persistent.join(', ')}`, async (log) => {
    const staging = join(work, 'data');
    mkdirSync(staging, { recursive: true });
    const ids = passwdIds(rootfs);
    for (const dir of config.updates.persistent) {
      const place = join(staging, persistentPlace(config, dir).split('/').at(-1)!);
      const owner = dir === config.firmware.dataDir ? config.firmware.user : dir === '/var/lib/mysql' ? 'mysql' : 'root';
      const id = ids.get(owner);
      if (!id) throw new StepError(`the root file system has no user ${owner} for ${dir}`);
      mkdirSync(place, { recursive: true });
      chmodSync(place, dir === config.firmware.dataDir ? 0o750 : 0o755);
      await runLogged('chown', [`${id.uid}:${id.gid}`, place], log);
    }
    await runLogged('mke2fs', ['-q', '-t', 'ext4', '-L', config.partitions.data.label, '-E', 'root_owner=0:0', '-d', staging, dataImg, `${config.partitions.data.sizeMiB}M`], log);
    await runLogged('e2fsck', ['-fn', dataImg], log);
  });

  const image = join(outDir, `${stem}.img`);
  const { offsetMiB, sizeMiB: bootMiB } = config.partitions.boot;
  const layout = [
    { start: offsetMiB, size: bootMiB, type: 'c', file: bootImg, bootable: true },
    { start: offsetMiB + bootMiB, size: slotMiB, type: '83', file: rootImg },
    { start: offsetMiB + bootMiB + slotMiB, size: slotMiB, type: '83', file: null },
    { start: offsetMiB + bootMiB + 2 * slotMiB, size: config.partitions.data.sizeMiB, type: '83', file: dataImg },
  ];
  await step('disk image', `${config.partitions.table} table ${config.partitions.diskId}: boot, root slots A and B, data (sfdisk, dd)`, async (log) => {
    const end = layout.at(-1)!.start + layout.at(-1)!.size;
    rmSync(image, { force: true });
    await runLogged('truncate', ['-s', `${end}M`, image], log);
    const sectors = (mib: number) => mib * 2048;
    const table = `label: dos\nlabel-id: ${config.partitions.diskId}\n${layout.map((p) => `start=${sectors(p.start)}, size=${sectors(p.size)}, type=${p.type}${p.bootable ? ', bootable' : ''}`).join('\n')}\n`;
    await runLogged('sfdisk', ['--no-reread', '--no-tell-kernel', image], log, { input: table });
    for (const p of layout) if (p.file) await runLogged('dd', [`if=${p.file}`, `of=${image}`, 'bs=1M', `seek=${p.start}`, 'conv=notrunc,sparse', 'status=none'], log);
    rmSync(bootImg);
    rmSync(dataImg);
  });

  const bundle = join(outDir, `${stem}.raucb`);
  await step('update bundle', `${relative(root, bundle)}: RAUC ${config.updates.bundleFormat} bundle for ${config.updates.compatible}, signed`, (log) => writeBundle(config, pkg.version, rootImg, bundle, signing, work, log));
  rmSync(rootImg);

  const xz = `${image}.xz`;
  const bmap = join(outDir, `${stem}.bmap`);
  const sha256 = `${xz}.sha256`;
  await step('compress', `${relative(root, xz)}, .sha256, .bmap`, async (log) => {
    rmSync(bmap, { force: true });
    await runLogged('bmaptool', ['create', '-o', bmap, image], log);
    rmSync(xz, { force: true });
    await runLogged('nice', ['-n', '10', 'xz', '-T0', '-6', '--keep', '--force', image], log);
    const hash = await sha256File(xz);
    writeFileSync(sha256, `${hash}  ${stem}.img.xz\n`);
  });
  rmSync(work, { recursive: true, force: true });
  const result: BuildResult = {
    image, bundle, xz, bmap, sha256, rawBytes: statSync(image).size, xzBytes: statSync(xz).size, installedBytes, baseCached, stepMs,
  };
  say(`update bundle: ${relative(root, bundle)} (${(statSync(bundle).size / MiB).toFixed(0)} MiB)`);
  say(`image: ${relative(root, xz)} (${(result.xzBytes / MiB).toFixed(0)} MiB compressed, ${(result.rawBytes / MiB).toFixed(0)} MiB written to the card, ${(installedBytes / MiB).toFixed(0)} MiB installed) in ${duration(Date.now() - started)}`);
  return result;
}

/** The numeric ids of the root file system's users, from its /etc/passwd. */
function passwdIds(rootfs: string): Map<string, { uid: number; gid: number }> {
  const ids = new Map<string, { uid: number; gid: number }>();
  for (const line of readFileSync(join(rootfs, 'etc/passwd'), 'utf8').split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name && uid && gid) ids.set(name, { uid: Number(uid), gid: Number(gid) });
  }
  return ids;
}

/**
 * What updates need in the root file system: RAUC's configuration and keyring, libubootenv's, the slot check's, the
 * slot's own status (its version, as RAUC would have written it), mount points of the data partition, and the kernel
 * and initramfs under the names the boot script loads (hard links).
 */
function installUpdates(c: ImageConfig, rootfs: string, signing: SigningKey, version: string): void {
  writeFile(rootfs, '/etc/rauc/system.conf', raucSystemConf(c));
  copyFileSync(signing.cert, join(rootfs, 'etc/rauc/keyring.pem'));
  writeFile(rootfs, '/etc/fw_env.config', fwEnvConfig(c));
  writeFile(rootfs, '/etc/confbox/slot-check.conf', slotCheckConfig(c));
  writeFile(rootfs, '/slot.raucs', `[slot]\nbundle.compatible=${c.updates.compatible}\nbundle.version=${version}\nstatus=ok\n`);
  mkdirSync(join(rootfs, c.partitions.data.mount), { recursive: true, mode: 0o755 });
  for (const dir of c.updates.persistent) mkdirSync(join(rootfs, dir), { recursive: true });
  const boot = join(rootfs, 'boot');
  const kernels = readdirSync(boot).filter((f) => /^vmlinuz-/.test(f)).sort();
  const initrds = readdirSync(boot).filter((f) => /^initrd\.img-/.test(f)).sort();
  if (kernels.length !== 1 || initrds.length !== 1) throw new StepError(`/boot must hold one kernel and one initramfs, found ${kernels.join(', ') || 'no kernel'}; ${initrds.join(', ') || 'no initramfs'}`);
  for (const [name, target] of [['vmlinuz', kernels[0]!], ['initrd.img', initrds[0]!]] as const) {
    rmSync(join(boot, name), { force: true });
    linkSync(join(boot, target), join(boot, name));
  }
}

/** The boot partition: the Pi firmware without kernels, U-Boot for the Pi, the boot script and the initial boot state. */
async function bootFiles(c: ImageConfig, rootfs: string, fw: string, work: string, log: string): Promise<void> {
  for (const f of readdirSync(fw)) if (/^(vmlinuz|initrd\.img)-/.test(f) || f === 'cmdline.txt') rmSync(join(fw, f));
  const uboot = join(rootfs, 'usr/lib/u-boot/rpi_arm64/u-boot.bin');
  if (!existsSync(uboot)) throw new StepError('the base root file system has no /usr/lib/u-boot/rpi_arm64/u-boot.bin (u-boot-rpi)');
  copyFileSync(uboot, join(fw, 'u-boot.bin'));
  writeFileSync(join(fw, 'config.txt'), ubootConfigTxt(readFileSync(join(fw, 'config.txt'), 'utf8')));
  const cmd = join(work, 'boot.cmd');
  writeFileSync(cmd, bootScript(c));
  await runLogged('mkimage', ['-A', 'arm64', '-O', 'linux', '-T', 'script', '-C', 'none', '-n', 'confbox A/B boot', '-d', cmd, join(fw, 'boot.scr')], log);
  const state = join(work, 'boot-state.txt');
  writeFileSync(state, `BOOT_ORDER=A B\nBOOT_A_LEFT=${c.updates.bootAttempts}\nBOOT_B_LEFT=${c.updates.bootAttempts}\n`);
  await runLogged('mkenvimage', ['-s', `0x${UBOOT_ENV_SIZE.toString(16)}`, '-o', join(fw, UBOOT_ENV_FILE), state], log);
}

function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (b) => h.update(b)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

function writeFile(rootfs: string, path: string, text: string, mode = 0o644): void {
  const file = join(rootfs, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  chmodSync(file, mode);
}

/** Whether a configuration file in /etc/<dir> or /usr/lib/<dir> of the root file system has a matching line. */
function declared(rootfs: string, dir: string, line: RegExp): boolean {
  for (const base of ['etc', 'usr/lib']) {
    const d = join(rootfs, base, dir);
    if (!existsSync(d)) continue;
    for (const f of readdirSync(d)) if (f.endsWith('.conf') && line.test(readFileSync(join(d, f), 'utf8'))) return true;
  }
  return false;
}

/** Everything that is not a Debian package: runtime, firmware, overlays, generated configuration, enabled units. */
async function installPayload(c: ImageConfig, rootfs: string, runtime: string, engine: string, log: string): Promise<void> {
  const app = join(rootfs, c.install.app);
  const dist = join(root, 'dist');
  // The Node runtime, stripped of its symbols when image.yml says so.
  const node = join(rootfs, c.node.path);
  mkdirSync(dirname(node), { recursive: true });
  copyFileSync(join(runtime, 'bin/node'), node);
  chmodSync(node, 0o755);
  if (c.node.strip) await runLogged(`${CROSS}-strip`, ['--strip-all', node], log);
  copyFileSync(join(runtime, 'LICENSE'), join(dirname(node), 'node.LICENSE'));
  // The firmware as dist/ lays it out, with the arm64 engine instead of this machine's.
  mkdirSync(app, { recursive: true });
  for (const f of ['confbox.mjs', 'confbox.mjs.map']) if (existsSync(join(dist, f))) copyFileSync(join(dist, f), join(app, f));
  chmodSync(join(app, 'confbox.mjs'), 0o755);
  copyFileSync(engine, join(app, 'confbox_engine.node'));
  await runLogged(`${CROSS}-strip`, ['--strip-unneeded', join(app, 'confbox_engine.node')], log);
  cpSync(join(dist, 'board'), join(app, 'board'), { recursive: true });
  if (!existsSync(join(dist, 'prompts/index.json'))) throw new StepError('dist/prompts was not generated (espeak-ng missing?): the image would speak no prompts; run "sudo scripts/setup-host.sh"');
  cpSync(join(dist, 'prompts'), join(app, 'prompts'), { recursive: true });
  writeFile(rootfs, '/usr/local/bin/confbox', `#!/bin/sh\n# The technician's command: confbox <group> <verb> … with the box's data directory.\nexec ${c.node.path} ${c.install.app}/confbox.mjs --data-dir ${c.firmware.dataDir} "$@"\n`, 0o755);
  // Overlays (board/rootfs: units, first-boot setup), owned by root.
  for (const overlay of c.install.overlays) {
    const src = join(root, overlay);
    if (!existsSync(src)) throw new StepError(`install.overlays: ${overlay} does not exist`);
    await runLogged('cp', ['-r', '--no-preserve=ownership', '--preserve=mode', `${src}/.`, `${rootfs}/`], log);
  }
  // The firmware's unit comes from the overlay; an image built without one gets a plain unit of its own.
  const unitPath = `/etc/systemd/system/${c.firmware.unit}`;
  if (!existsSync(join(rootfs, unitPath)) && !existsSync(join(rootfs, '/usr/lib/systemd/system', c.firmware.unit))) {
    writeFileSync(log, `no ${c.firmware.unit} in the overlays: installing the image's own\n`, { flag: 'a' });
    writeFile(rootfs, unitPath, firmwareUnit(c));
  }
  writeFile(rootfs, `/etc/systemd/system/${c.firmware.unit}.d/image.conf`, firmwareDropIn(c));
  // The firmware's user and data directory, unless an overlay declares them already; the users are made now, so
  // that the image's /etc/passwd is complete (systemd-sysusers would make them on boot otherwise).
  if (!declared(rootfs, 'sysusers.d', new RegExp(`^u\\s+${c.firmware.user}\\s`, 'm'))) writeFile(rootfs, '/usr/lib/sysusers.d/confbox-image.conf', sysusers(c));
  await runLogged('systemd-sysusers', [`--root=${rootfs}`], log);
  if (!declared(rootfs, 'tmpfiles.d', new RegExp(`^d\\s+${c.firmware.dataDir}\\s`, 'm'))) writeFile(rootfs, '/usr/lib/tmpfiles.d/confbox-image.conf', tmpfiles(c));
  writeFile(rootfs, '/etc/confbox/first-boot.conf', firstBootConfig(c));
  // Mounts, boot files (the Pi firmware reads config.txt and cmdline.txt), network, an empty machine id (first boot).
  writeFile(rootfs, '/etc/fstab', fstab(c));
  // The boot partition's files come from raspi-firmware; the kernel and initramfs stay in the root slot.
  const bootDir = join(rootfs, c.partitions.boot.mount);
  for (const f of ['config.txt', 'bootcode.bin', 'start4.elf']) {
    if (!existsSync(join(bootDir, f))) throw new StepError(`the base root file system has no ${join(c.partitions.boot.mount, f)}: raspi-firmware did not fill the boot partition`);
  }
  writeFile(rootfs, '/etc/systemd/network/50-wired.network', '[Match]\nName=eth* en*\n\n[Network]\nDHCP=yes\nMulticastDNS=no\nLinkLocalAddressing=yes\n\n[DHCPv4]\nSendHostname=yes\n');
  writeFile(rootfs, '/etc/hostname', `${c.firstBoot.hostnamePrefix}\n`);
  writeFile(rootfs, '/etc/machine-id', '');
  rmSync(join(rootfs, 'var/lib/dbus/machine-id'), { force: true });
  for (const unit of c.services.enable) await runLogged('systemctl', [`--root=${rootfs}`, 'enable', unit], log);
  for (const unit of c.services.disable) await runLogged('systemctl', [`--root=${rootfs}`, 'disable', unit], log);
  // Nothing of the build's downloads stays in the image.
  for (const d of ['var/cache/apt/archives', 'var/lib/apt/lists']) {
    const dir = join(rootfs, d);
    if (existsSync(dir)) for (const f of readdirSync(dir)) if (f !== 'partial' && f !== 'lock') rmSync(join(dir, f), { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--rebuild-base');
  if (unknown.length) {
    console.error(`image: unknown argument ${unknown[0]} (known: --rebuild-base)`);
    process.exit(2);
  }
  try {
    await buildImage({ rebuildBase: args.includes('--rebuild-base') });
  } catch (e) {
    console.error(`image: ${(e as Error).message}`);
    process.exit(1);
  }
}
