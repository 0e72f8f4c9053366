// The signed update bundle that `npm run image` writes beside the image: the root file system image, in RAUC's bundle
// format, signed with the update signing key. The key is made once per machine that builds images and kept outside
// the repository (CONFBOX_SIGNING_DIR, default ~/.config/confbox/update-signing); the image carries its certificate
// as RAUC's keyring, so a box accepts bundles signed with that key only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { ImageConfig } from './config.ts';
import { runLogged } from './build.ts';

export interface SigningKey {
  dir: string;
  key: string;
  cert: string;
  /** Made by this build (the message says where it is and that it must be kept). */
  made: boolean;
}

export function signingDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.CONFBOX_SIGNING_DIR ?? join(env.XDG_CONFIG_HOME ?? join(homedir(), '.config'), 'confbox', 'update-signing');
}

/** The signing key and certificate, made with openssl when this machine has none yet. */
export function signingKey(log: string): SigningKey {
  const dir = signingDir();
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  if (existsSync(key) && existsSync(cert)) return { dir, key, cert, made: false };
  if (existsSync(key) !== existsSync(cert)) throw new Error(`${dir} has only one of key.pem and cert.pem: restore the other from your backup, or move the directory away to make a new key (boxes flashed with the old one then refuse new bundles)`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const r = spawnSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:4096', '-nodes', '-sha256', '-days', '7300', '-keyout', key, '-out', cert,
    '-subj', '/O=confbox/CN=confbox update signing', '-addext', 'keyUsage=critical,digitalSignature,keyCertSign',
  ], { encoding: 'utf8' });
  writeFileSync(log, `${r.stdout}${r.stderr}`, { flag: 'a' });
  if (r.status !== 0) {
    rmSync(key, { force: true });
    rmSync(cert, { force: true });
    throw new Error(`openssl could not make the update signing key: ${r.stderr.trim().split('\n').at(-1)}`);
  }
  return { dir, key, cert, made: true };
}

export function manifest(c: ImageConfig, version: string, image: string): string {
  return `[update]
compatible=${c.updates.compatible}
version=${version}
description=confbox ${version}

[bundle]
format=${c.updates.bundleFormat}

[image.rootfs]
filename=${image}
`;
}

/** Writes `out` (.raucb): the root file system image `rootImg`, signed. */
export async function writeBundle(c: ImageConfig, version: string, rootImg: string, out: string, signing: SigningKey, work: string, log: string): Promise<void> {
  const dir = join(work, 'bundle');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await runLogged('ln', [rootImg, join(dir, 'rootfs.ext4')], log);
  writeFileSync(join(dir, 'manifest.raucm'), manifest(c, version, 'rootfs.ext4'));
  rmSync(out, { force: true });
  await runLogged('nice', ['-n', '10', 'rauc', 'bundle', `--cert=${signing.cert}`, `--key=${signing.key}`, dir, out], log);
  await runLogged('rauc', ['info', `--keyring=${signing.cert}`, out], log);
  rmSync(dir, { recursive: true, force: true });
}
