// The arm64 side of the build: the Node runtime the box runs (an npm package, kept in a cache), the media engine
// addon cross-compiled against that runtime's own headers, and running arm64 programs on this machine (qemu-user).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** The npm package that carries the box's Node runtime: bin/node and include/node (the headers addons build against). */
export interface NodeRuntime {
  package: string;
  version: string;
  /** npm's integrity string (sha512-…) of the package tarball; a download that differs is refused. */
  integrity: string;
}

/** Where downloads and slow build products are kept between runs: CONFBOX_CACHE_DIR, else ~/.cache/confbox. */
export function cacheDir(): string {
  if (process.env.CONFBOX_CACHE_DIR) return process.env.CONFBOX_CACHE_DIR;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'confbox');
}

export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, cmd))) return join(dir, cmd);
  }
  return null;
}

function isRuntimeDir(dir: string): boolean {
  return existsSync(join(dir, 'bin/node')) && existsSync(join(dir, 'include/node/node_api.h')) && existsSync(join(dir, 'include/node/common.gypi'));
}

/**
 * The unpacked runtime package (its directory holds bin/node and include/node), fetched with `npm pack` on first use.
 * npm checks the tarball against the registry's integrity; the pinned integrity must match as well.
 */
export function nodeRuntime(spec: NodeRuntime, say: (line: string) => void = () => undefined): string {
  const dir = join(cacheDir(), 'node', `${spec.package}-${spec.version}`);
  if (isRuntimeDir(dir)) return dir;
  mkdirSync(dirname(dir), { recursive: true });
  const tmp = mkdtempSync(`${dir}.partial-`);
  try {
    say(`fetching ${spec.package}@${spec.version} from the npm registry`);
    const r = spawnSync('npm', ['pack', `${spec.package}@${spec.version}`, '--pack-destination', tmp, '--json', '--loglevel=error'], { encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      throw new Error(`npm pack ${spec.package}@${spec.version} failed: ${(r.stderr || r.error?.message || '').trim().split('\n').slice(-5).join(' | ')}`);
    }
    const packed = (JSON.parse(r.stdout) as Array<{ filename: string; integrity: string }>)[0];
    if (!packed) throw new Error(`npm pack ${spec.package}@${spec.version} returned nothing`);
    if (packed.integrity !== spec.integrity) {
      throw new Error(`${spec.package}@${spec.version} has integrity ${packed.integrity}, but image.yml pins ${spec.integrity}`);
    }
    const t = spawnSync('tar', ['-xzf', join(tmp, packed.filename), '-C', tmp], { encoding: 'utf8' });
    if (t.status !== 0) throw new Error(`cannot unpack ${packed.filename}: ${t.stderr.trim()}`);
    const unpacked = join(tmp, 'package');
    if (!isRuntimeDir(unpacked)) throw new Error(`${spec.package}@${spec.version} holds no bin/node and include/node: not a Node runtime package`);
    try {
      renameSync(unpacked, dir);
    } catch (e) {
      // Another run unpacked it first.
      if (!isRuntimeDir(dir)) throw e;
    }
    return dir;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The arm64 C library that qemu-user gives arm64 programs: Debian's multiarch one when it is installed, otherwise the
 * cross toolchain's sysroot. Never both: a program that loads one's ld.so and the other's libc hangs.
 */
export function qemuLdPrefix(): string | null {
  if (process.env.QEMU_LD_PREFIX) return process.env.QEMU_LD_PREFIX;
  if (existsSync('/lib/ld-linux-aarch64.so.1')) return null;
  return '/usr/aarch64-linux-gnu';
}

/**
 * Debian's arm64 packages of the libraries the media engine loads at run time, each with a file it must bring:
 * libasound2 for the local leg, libsrtp2-1 for SRTP (and what libsrtp2 links: NSS, NSPR, SQLite), libspeexdsp1 for the
 * local leg's echo canceller.
 */
const ARM64_LIBS: ReadonlyArray<[pkg: string, file: string]> = [
  ['libasound2', 'libasound.so.2'],
  ['libsrtp2-1', 'libsrtp2.so.1'],
  ['libspeexdsp1', 'libspeexdsp.so.1'],
  ['libnss3', 'libnss3.so'],
  ['libnspr4', 'libnspr4.so'],
  ['libsqlite3-0', 'libsqlite3.so.0'],
];

/**
 * Those libraries, unpacked into the cache, for the arm64 engine tests run here. apt fetches them with private
 * lists and cache, checking Debian's signatures, without adding arm64 to the machine's architectures or installing
 * anything. Null (with the reason said) when that fails: the local leg then reports ALSA missing and SRTP is
 * unavailable, which the tests name.
 */
export function arm64LibDir(say: (line: string) => void = () => undefined): string | null {
  const dir = join(cacheDir(), 'arm64-libs');
  const lib = join(dir, 'usr/lib/aarch64-linux-gnu');
  const missing = ARM64_LIBS.filter(([, file]) => !existsSync(join(lib, file)));
  if (missing.length === 0) return lib;
  const work = join(cacheDir(), 'arm64-apt');
  for (const d of ['lists/partial', 'cache/archives/partial', 'debs']) mkdirSync(join(work, d), { recursive: true });
  const apt = ['-q', '-o', `Dir::State::Lists=${join(work, 'lists')}`, '-o', `Dir::Cache=${join(work, 'cache')}`, '-o', 'APT::Architectures::=arm64', '-o', 'APT::Architecture=arm64'];
  const names = missing.map(([pkg]) => pkg);
  say(`fetching Debian's arm64 ${names.join(', ')} for the engine tests`);
  const update = spawnSync('apt-get', [...apt, 'update'], { encoding: 'utf8' });
  const download = update.status === 0 ? spawnSync('apt-get', [...apt, 'download', ...names.map((n) => `${n}:arm64`)], { cwd: join(work, 'debs'), encoding: 'utf8' }) : update;
  if (download.status !== 0) {
    say(`arm64 ${names.join(', ')} not fetched: ${(download.stderr || download.error?.message || '').trim().split('\n').slice(-2).join(' | ')}`);
    return null;
  }
  const debs = readdirSync(join(work, 'debs'));
  for (const [pkg, file] of missing) {
    const deb = debs.find((f) => f.startsWith(`${pkg}_`) && f.endsWith('_arm64.deb'));
    const x = deb ? spawnSync('dpkg-deb', ['-x', join(work, 'debs', deb), dir], { encoding: 'utf8' }) : null;
    if (!x || x.status !== 0 || !existsSync(join(lib, file))) {
      say(`arm64 ${pkg} not unpacked: ${x ? x.stderr.trim() : 'no .deb'}`);
      return null;
    }
  }
  return lib;
}

/** The environment for arm64 programs run through binfmt_misc (children inherit it); extra arm64 libraries from libDirs. */
export function arm64Env(base: NodeJS.ProcessEnv = process.env, libDirs: string[] = []): NodeJS.ProcessEnv {
  const prefix = qemuLdPrefix();
  const env: NodeJS.ProcessEnv = prefix ? { ...base, QEMU_LD_PREFIX: prefix } : { ...base };
  if (libDirs.length) env.LD_LIBRARY_PATH = [...libDirs, ...(base.LD_LIBRARY_PATH ? [base.LD_LIBRARY_PATH] : [])].join(':');
  return env;
}

/** Why arm64 programs cannot be started directly here, or null when binfmt_misc runs them through qemu-aarch64. */
export function binfmtProblem(): string | null {
  const rule = '/proc/sys/fs/binfmt_misc/qemu-aarch64';
  let text: string;
  try {
    text = readFileSync(rule, 'utf8');
  } catch {
    return `arm64 programs cannot run here: binfmt_misc has no qemu-aarch64 rule (${rule}); run "sudo scripts/setup-host.sh", or register qemu-aarch64 on the host of this container`;
  }
  if (!/^enabled$/m.test(text)) return `arm64 programs cannot run here: the qemu-aarch64 rule in binfmt_misc is disabled; run "sudo scripts/setup-host.sh"`;
  if (!/^flags:.*F/m.test(text)) return `the qemu-aarch64 rule in binfmt_misc lacks the F flag; re-register it with "sudo scripts/setup-host.sh"`;
  return null;
}

/** node-gyp as shipped with npm, or a project-local one. */
function findNodeGyp(): string {
  const npm = which('npm');
  const candidates = [
    process.env.npm_config_node_gyp,
    join(root, 'node_modules/node-gyp/bin/node-gyp.js'),
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    npm ? join(dirname(realpathSync(npm)), '../node_modules/node-gyp/bin/node-gyp.js') : undefined,
  ];
  const found = candidates.find((p) => p && existsSync(p));
  if (!found) throw new Error('node-gyp not found (it ships with npm)');
  return found;
}

export const CROSS = 'aarch64-linux-gnu';

/**
 * Cross-compiles the media engine addon for arm64 against the runtime's headers, in a copy of its sources under
 * workDir (so the host's own build is untouched). Returns the path of confbox_engine.node.
 */
export function crossBuildEngine(nodeDir: string, workDir: string): string {
  for (const tool of ['gcc', 'g++']) {
    if (!which(`${CROSS}-${tool}`)) throw new Error(`${CROSS}-${tool} not installed: run "sudo scripts/setup-host.sh"`);
  }
  const native = join(root, 'firmware/media/native');
  mkdirSync(workDir, { recursive: true });
  for (const name of readdirSync(workDir)) if (name !== 'build') rmSync(join(workDir, name), { recursive: true, force: true });
  for (const name of ['binding.gyp', 'src', 'binding']) cpSync(join(native, name), join(workDir, name), { recursive: true, preserveTimestamps: true });
  const env = {
    ...process.env,
    CC: `${CROSS}-gcc`, CXX: `${CROSS}-g++`, AR: `${CROSS}-ar`, LINK: `${CROSS}-g++`,
    CC_host: 'cc', CXX_host: 'c++',
  };
  const gyp = findNodeGyp();
  for (const step of [['configure', '--arch=arm64'], ['build', '--jobs', 'max']]) {
    const r = spawnSync(process.execPath, [gyp, ...step, `--nodedir=${nodeDir}`, '--loglevel=warn'], { cwd: workDir, env, encoding: 'utf8' });
    if (r.status !== 0) {
      throw new Error(`node-gyp ${step[0]} (arm64) failed in ${workDir}:\n${`${r.stdout}\n${r.stderr}`.trim().split('\n').slice(-20).join('\n')}`);
    }
  }
  const addon = join(workDir, 'build/Release/confbox_engine.node');
  const head = readFileSync(addon).subarray(0, 20);
  // ELF, 64-bit, little-endian, e_machine 183 (AArch64).
  if (head.readUInt32BE(0) !== 0x7f454c46 || head[4] !== 2 || head.readUInt16LE(18) !== 183) throw new Error(`${addon} is not an arm64 ELF object`);
  return addon;
}
