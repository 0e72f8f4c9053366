// The media engine as the box runs it: the addon cross-compiled for arm64 against the headers of the Node runtime
// pinned in image.yml, and test/unit/native-engine.test.ts run by that arm64 node under qemu-user. The test is
// bundled (esbuild, on this machine) with the addon beside it, so the arm64 node needs no TypeScript loader.
//   node --import tsx scripts/image/arm64-test.ts      prints uvu's tally; exits non-zero on failure
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';
import { arm64LibDir, arm64Env, binfmtProblem, crossBuildEngine, nodeRuntime, root } from './arm64.ts';
import { loadImageConfig } from './config.ts';

function fail(message: string): never {
  console.error(`arm64 engine test: ${message}`);
  process.exit(1);
}

const problem = binfmtProblem();
if (problem) fail(problem);

const work = join(root, 'firmware/media/native/build');
let addon: string;
let node: string;
try {
  const config = loadImageConfig(join(root, 'image.yml'));
  const runtime = nodeRuntime(config.node, (line) => console.log(`# ${line}`));
  node = join(runtime, 'bin/node');
  addon = crossBuildEngine(runtime, join(work, 'arm64-addon'));
} catch (e) {
  fail((e as Error).message);
}

const out = join(work, 'arm64-test');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, 'test/unit/native-engine.test.ts')],
  outfile: join(out, 'native-engine.test.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  external: ['*.node'],
  banner: { js: "import { createRequire as __confboxRequire } from 'node:module';\nconst require = __confboxRequire(import.meta.url);" },
});
// The engine module looks for the addon beside itself, which in the bundle is this directory.
copyFileSync(addon, join(out, 'confbox_engine.node'));

const libs = arm64LibDir((line) => console.log(`# ${line}`));
const env = arm64Env(process.env, libs ? [libs] : []);
const probe = spawnSync(node, ['-p', 'process.arch + " " + process.version'], { env, encoding: 'utf8', timeout: 60_000 });
if (probe.status !== 0 || !probe.stdout.startsWith('arm64 ')) fail(`the arm64 node does not run here: ${probe.error?.message ?? probe.stderr.trim()}`);
console.log(`# ${probe.stdout.trim()} (qemu-user), addon cross-compiled with aarch64-linux-gnu-gcc`);

const child = spawn(node, [join(out, 'native-engine.test.mjs')], { cwd: root, env, stdio: 'inherit' });
child.on('close', (code, signal) => {
  if (signal) console.error(`arm64 engine test: ended by ${signal}`);
  process.exitCode = code ?? 1;
});
