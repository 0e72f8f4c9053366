// The base root file system of the image: Debian's packages for the board, installed by mmdebstrap (under qemu-user)
// and cached, keyed by a hash of everything it is made from.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './arm64.ts';
import type { ImageConfig } from './config.ts';

const BASE_HOOKS = ['hooks/essential.sh', 'hooks/customize.sh'];

/** mmdebstrap's arguments for the base root file system, without the output and mirror. */
export function baseArgs(c: ImageConfig, hooks = join(root, 'scripts/image/hooks')): string[] {
  const hook = (name: string) => `sh ${join(hooks, name)} "$1"`;
  return [
    '--mode=root',
    '--variant=minbase',
    `--architectures=${c.debian.architecture}`,
    `--components=${c.debian.components.join(',')}`,
    `--include=${c.debian.packages.join(',')}`,
    // Manuals and translations are of no use on a box without a screen; the copyright files stay.
    '--dpkgopt=path-exclude=/usr/share/man/*',
    '--dpkgopt=path-exclude=/usr/share/locale/*',
    '--dpkgopt=path-include=/usr/share/locale/locale.alias',
    '--dpkgopt=path-exclude=/usr/share/doc/*',
    '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    `--essential-hook=${hook('essential.sh')}`,
    `--customize-hook=${hook('customize.sh')}`,
  ];
}

/** The cache key of the base root file system: everything it is made from. */
export function baseKey(c: ImageConfig): string {
  const h = createHash('sha256');
  const version = spawnSync('mmdebstrap', ['--version'], { encoding: 'utf8' }).stdout.trim();
  // The hooks' place differs from checkout to checkout; their contents are hashed below.
  h.update(JSON.stringify({ debian: c.debian, args: baseArgs(c, '<hooks>'), mmdebstrap: version }));
  for (const f of BASE_HOOKS) h.update(readFileSync(join(root, 'scripts/image', f)));
  return h.digest('hex').slice(0, 16);
}

