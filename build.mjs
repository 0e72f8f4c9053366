#!/usr/bin/env node
// One build entry: `node build.mjs` bundles the firmware into dist/confbox.mjs.
import { build } from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const target = process.argv[2] ?? 'bundle';

async function bundle() {
  mkdirSync(dist, { recursive: true });
  await build({
    entryPoints: [join(root, 'firmware/main.ts')],
    outfile: join(dist, 'confbox.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: 'linked',
    legalComments: 'eof',
    logLevel: 'warning',
    // Native addons stay beside the bundle; they are copied, not inlined.
    external: ['*.node'],
    define: { CONFBOX_VERSION: JSON.stringify(pkg.version) },
    banner: {
      js: "#!/usr/bin/env node\nimport { createRequire as __confboxRequire } from 'node:module';\nconst require = __confboxRequire(import.meta.url);",
    },
  });
  chmodSync(join(dist, 'confbox.mjs'), 0o755);
  copyNativeAddons();
}

function copyNativeAddons() {
  const dir = join(root, 'firmware/media/native/build/Release');
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) if (f.endsWith('.node')) copyFileSync(join(dir, f), join(dist, f));
}

if (target === 'bundle') await bundle();
else {
  console.error(`build.mjs: unknown target "${target}" (known: bundle)`);
  process.exit(2);
}
