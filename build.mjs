#!/usr/bin/env node
// One build entry: `node build.mjs` bundles the firmware into dist/confbox.mjs, after building the
// media engine addon when a C toolchain is there; `node build.mjs native` builds only the addon;
// `node build.mjs image [--rebuild-base]` builds the flashable SD card image that image.yml declares.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const target = process.argv[2] ?? 'bundle';

/** The web page's stylesheet and script, minified, to be inlined into the bundle. */
async function webAssets() {
  const dir = join(root, 'firmware/web/assets');
  const out = {};
  for (const [key, file, loader] of [['js', 'app.js', 'js'], ['css', 'style.css', 'css']]) {
    const r = await build({ entryPoints: [join(dir, file)], bundle: false, minify: true, write: false, loader: { [`.${loader}`]: loader }, target: ['chrome100', 'firefox100', 'safari15'], logLevel: 'warning' });
    out[key] = r.outputFiles[0].text;
  }
  return out;
}

async function bundle() {
  mkdirSync(dist, { recursive: true });
  const assets = await webAssets();
  await build({
    entryPoints: [join(root, 'firmware/main.ts')],
    outfile: join(dist, 'confbox.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: 'linked',
    // No comments and no indentation in the box's memory: V8 keeps the whole source. Names stay, for stack traces.
    minifyWhitespace: true,
    legalComments: 'eof',
    logLevel: 'warning',
    // Native addons stay beside the bundle; they are copied, not inlined.
    external: ['*.node'],
    define: { CONFBOX_VERSION: JSON.stringify(pkg.version), CONFBOX_WEB_ASSETS: JSON.stringify(assets) },
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __confboxRequire } from 'node:module';\nconst require = __confboxRequire(import.meta.url);",
    },
  });
  // V8 keeps a script's source for the life of the process, in one byte a character only when every character is
  // Latin-1: one non-ASCII character left in a template would double the box's largest string (about 1.7 MB).
  const bundled = readFileSync(join(dist, 'confbox.mjs'), 'latin1');
  const wide = /[^\x00-\x7f]/.exec(bundled);
  if (wide) throw new Error(`build.mjs: dist/confbox.mjs is not ASCII at ${JSON.stringify(bundled.slice(Math.max(0, wide.index - 40), wide.index + 20))}: write the character as an escape or an HTML entity`);
  chmodSync(join(dist, 'confbox.mjs'), 0o755);
  // Board profiles travel with the bundle (firmware/hw looks beside it).
  cpSync(join(root, 'board/profiles'), join(dist, 'board/profiles'), { recursive: true });
  copyNativeAddons();
  // Prompts, tones and waiting music (cached); without espeak-ng the box still builds and logs that it has no prompts.
  if (spawnSync(process.execPath, [join(root, 'scripts/prompts.mjs'), join(dist, 'prompts'), '--quiet'], { stdio: 'inherit' }).status !== 0) console.warn('build.mjs: dist/prompts not generated; the box will run without spoken prompts');
}

function copyNativeAddons() {
  const dir = join(root, 'firmware/media/native/build/Release');
  if (!existsSync(dir)) return;
  // Copy, then rename over the old file: a running box keeps its loaded addon intact.
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.node')) continue;
    copyFileSync(join(dir, f), join(dist, `${f}.new`));
    renameSync(join(dist, `${f}.new`), join(dist, f));
  }
}

// --- the media engine addon (firmware/media/native/binding.gyp) with node-gyp, offline ---

const nativeDir = join(root, 'firmware/media/native');

function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

function runs(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

// node-gyp ships with npm (npm run sets npm_config_node_gyp); a project-local one wins if installed.
function findNodeGyp() {
  const npm = which('npm');
  const candidates = [
    process.env.npm_config_node_gyp,
    join(root, 'node_modules/node-gyp/bin/node-gyp.js'),
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
    npm && join(dirname(realpathSync(npm)), '../node_modules/node-gyp/bin/node-gyp.js'),
  ];
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

// Installed headers of this Node (so nothing is downloaded): npm_config_nodedir, the prefix of
// the running node (/usr for /usr/bin/node), or node-gyp's own cache.
function findNodeDir() {
  const has = (dir) => existsSync(join(dir, 'include/node/node_api.h')) && existsSync(join(dir, 'include/node/common.gypi'));
  const version = process.version.slice(1);
  const cache = process.env.XDG_CACHE_HOME ?? join(process.env.HOME ?? '/', '.cache');
  const candidates = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..'), join(cache, 'node-gyp', version)];
  return candidates.find((d) => d && has(d)) ?? null;
}

/** Why the addon cannot be built here, or null when the toolchain is complete. */
function missingToolchain() {
  const cc = process.env.CC ?? 'cc';
  if (!runs(cc, ['--version'])) return `no C compiler (${cc})`;
  if (!runs(process.env.PYTHON ?? 'python3', ['--version'])) return 'no python3 (node-gyp needs it)';
  if (!which('make')) return 'no make';
  if (!findNodeGyp()) return 'node-gyp not found (it ships with npm)';
  if (!findNodeDir()) return `no Node headers for ${process.version} (set npm_config_nodedir)`;
  return null;
}

/** Builds firmware/media/native/build/Release/confbox_engine.node. Returns false if skipped. */
function native({ optional }) {
  const missing = missingToolchain();
  if (missing) {
    const msg = `build.mjs: media engine addon not built: ${missing}`;
    if (optional) {
      console.warn(msg);
      return false;
    }
    console.error(msg);
    process.exit(1);
  }
  const gyp = findNodeGyp();
  const nodedir = findNodeDir();
  for (const step of [['configure'], ['build', '--jobs', 'max']]) {
    // make's chatter (stdout) is shown only on failure; compiler diagnostics (stderr) always.
    const r = spawnSync(process.execPath, [gyp, ...step, `--nodedir=${nodedir}`, '--loglevel=warn'], {
      cwd: nativeDir, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8',
    });
    if (r.status !== 0) {
      process.stderr.write(r.stdout ?? '');
      console.error(`build.mjs: node-gyp ${step[0]} failed for ${nativeDir}`);
      process.exit(1);
    }
  }
  return true;
}

/** The flashable image (image.yml): scripts/image/build.ts does the work, step by step. */
function image(args) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/image/build.ts'), ...args], { cwd: root, stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

if (target === 'bundle') {
  native({ optional: true });
  await bundle();
} else if (target === 'native') native({ optional: false });
else if (target === 'image') image(process.argv.slice(3));
else {
  console.error(`build.mjs: unknown target "${target}" (known: bundle, native, image)`);
  process.exit(2);
}
