// A RAUC system on this machine for the update tests: the real rauc service (Debian's rauc) on a private D-Bus
// session bus, two root slots that are ext4 image files (RAUC mounts them through loop devices, so root is needed),
// U-Boot's boot state in an environment file read and written by the real fw_setenv/fw_printenv (libubootenv), and
// bundles signed with a key made for the run. Only the boot loader itself is missing: nothing reboots.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const COMPATIBLE = 'confbox-test-board';
const TOOLS: Array<[string, string]> = [
  ['rauc', 'rauc'], ['mksquashfs', 'squashfs-tools'], ['fw_setenv', 'libubootenv-tool'], ['mkenvimage', 'u-boot-tools'],
  ['dbus-daemon', 'dbus'], ['mke2fs', 'e2fsprogs'], ['debugfs', 'e2fsprogs'], ['openssl', 'openssl'],
];

/** Why the RAUC tests cannot run here, or null. */
export function raucMissing(): string | null {
  const missing = TOOLS.filter(([cmd]) => spawnSync('sh', ['-c', `command -v ${cmd} || test -x /usr/sbin/${cmd} || test -x /sbin/${cmd}`]).status !== 0);
  if (missing.length) return `missing ${missing.map(([c, p]) => `${c} (${p})`).join(', ')}: run scripts/setup-host.sh`;
  if (process.getuid?.() !== 0) return 'RAUC mounts its bundles and slots through loop devices, which needs root';
  if (!existsSync('/dev/loop-control')) return 'this machine has no loop devices (/dev/loop-control)';
  return null;
}

function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout || r.error?.message || '').trim()}`);
  return r.stdout;
}

export class RaucSystem {
  readonly dir = mkdtempSync(join(tmpdir(), 'confbox-rauc-'));
  private bus: ChildProcess | null = null;
  private service: ChildProcess | null = null;
  serviceLog = '';
  /** The environment a process needs to talk to this system's rauc service. */
  readonly env: NodeJS.ProcessEnv = { DBUS_STARTER_BUS_TYPE: 'session', DBUS_SESSION_BUS_ADDRESS: `unix:path=${join(this.dir, 'bus')}` };

  async start(): Promise<void> {
    const d = this.dir;
    const subj = (cn: string) => `/O=confbox test/CN=${cn}`;
    sh('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(d, 'key.pem'), '-out', join(d, 'cert.pem'), '-days', '30', '-subj', subj('update signing')]);
    sh('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(d, 'other-key.pem'), '-out', join(d, 'other-cert.pem'), '-days', '30', '-subj', subj('somebody else')]);
    for (const slot of ['A', 'B']) {
      const img = join(d, `slot${slot}.ext4`);
      sh('truncate', ['-s', '16M', img]);
      sh('mke2fs', ['-q', '-t', 'ext4', img]);
    }
    // U-Boot's environment file, as the image keeps it on the boot partition; fw_setenv is told where it is.
    writeFileSync(join(d, 'fw_env.config'), `${join(d, 'uboot.env')} 0x0000 0x4000\n`);
    writeFileSync(join(d, 'boot.env'), 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n');
    sh('mkenvimage', ['-s', '0x4000', '-o', join(d, 'uboot.env'), join(d, 'boot.env')]);
    const bin = join(d, 'bin');
    mkdirSync(bin);
    for (const tool of ['fw_setenv', 'fw_printenv']) {
      writeFileSync(join(bin, tool), `#!/bin/sh\nexec /usr/bin/${tool} -c ${join(d, 'fw_env.config')} "$@"\n`);
      chmodSync(join(bin, tool), 0o755);
    }
    writeFileSync(join(d, 'system.conf'), `[system]
compatible=${COMPATIBLE}
bootloader=uboot
boot-attempts=3
boot-attempts-primary=3
mountprefix=${join(d, 'mnt')}

[keyring]
path=${join(d, 'cert.pem')}

[slot.rootfs.0]
device=${join(d, 'slotA.ext4')}
type=ext4
bootname=A

[slot.rootfs.1]
device=${join(d, 'slotB.ext4')}
type=ext4
bootname=B
`);
    mkdirSync(join(d, 'mnt'));
    this.bus = spawn('dbus-daemon', ['--session', '--nofork', '--nopidfile', `--address=unix:path=${join(d, 'bus')}`], { stdio: 'ignore' });
    await until(() => existsSync(join(d, 'bus')), 5000, 'the D-Bus session bus did not start');
    this.service = spawn('rauc', ['service', `--conf=${join(d, 'system.conf')}`, '--override-boot-slot=A', `--mount=${join(d, 'mnt')}`], {
      env: { ...process.env, ...this.env, PATH: `${bin}:${process.env.PATH}` }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.service.stdout!.on('data', (b: Buffer) => { this.serviceLog += b.toString(); });
    this.service.stderr!.on('data', (b: Buffer) => { this.serviceLog += b.toString(); });
    await until(() => spawnSync('rauc', ['status'], { env: { ...process.env, ...this.env } }).status === 0, 10_000, `the rauc service did not answer:\n${this.serviceLog}`);
  }

  /** A bundle of a root file system holding `version` in /etc/confbox-version; signed by us, or by another key. */
  bundle(name: string, opts: { version: string; compatible?: string; signer?: 'ours' | 'other' }): string {
    const d = join(this.dir, `bundle-${name}`);
    mkdirSync(join(d, 'content', 'etc'), { recursive: true });
    writeFileSync(join(d, 'content', 'etc', 'confbox-version'), `${opts.version}\n`);
    sh('truncate', ['-s', '8M', join(d, 'rootfs.ext4')]);
    sh('mke2fs', ['-q', '-t', 'ext4', '-d', join(d, 'content'), join(d, 'rootfs.ext4')]);
    mkdirSync(join(d, 'in'));
    sh('mv', [join(d, 'rootfs.ext4'), join(d, 'in')]);
    writeFileSync(join(d, 'in', 'manifest.raucm'), `[update]\ncompatible=${opts.compatible ?? COMPATIBLE}\nversion=${opts.version}\n\n[bundle]\nformat=plain\n\n[image.rootfs]\nfilename=rootfs.ext4\n`);
    const key = opts.signer === 'other' ? 'other-' : '';
    const out = join(this.dir, `${name}.raucb`);
    sh('rauc', ['bundle', `--cert=${join(this.dir, `${key}cert.pem`)}`, `--key=${join(this.dir, `${key}key.pem`)}`, join(d, 'in'), out]);
    return out;
  }

  /** U-Boot's boot state as fw_printenv reads it. */
  bootEnv(): Record<string, string> {
    const out = sh(join(this.dir, 'bin', 'fw_printenv'), []);
    return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  }

  /** What U-Boot does at a boot: one attempt of the slot it starts is used up. */
  bootAttempt(slot: 'A' | 'B'): void {
    const left = Number(this.bootEnv()[`BOOT_${slot}_LEFT`]);
    sh(join(this.dir, 'bin', 'fw_setenv'), [`BOOT_${slot}_LEFT`, String(left - 1)]);
  }

  /** A file of a slot's file system (debugfs: nothing is mounted). */
  slotFile(slot: 'A' | 'B', path: string): string {
    return sh('debugfs', ['-R', `cat ${path}`, join(this.dir, `slot${slot}.ext4`)]);
  }

  async stop(): Promise<void> {
    for (const p of [this.service, this.bus]) {
      if (!p || p.exitCode !== null) continue;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (p.exitCode === null) p.kill('SIGKILL');
    }
    // A mount left by a failed install would keep the loop device busy.
    for (const m of readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((p): p is string => !!p && p.startsWith(this.dir))) {
      spawnSync('umount', ['-l', m]);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(what);
    await new Promise((r) => setTimeout(r, 100));
  }
}
