// scripts/setup-host.sh as the README's commands run it: as root it installs what is missing itself; as a user it
// runs itself again through sudo when something needs root, and says what to do where there is no sudo. Packages
// are reported missing by a stand-in dpkg-query, and sudo is a stand-in that records how it was called.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'confbox-setup-host-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
chmodSync(dir, 0o755);
// A copy a user other than the checkout's owner can read, wherever the checkout lives.
const script = join(dir, 'setup-host.sh');
copyFileSync(join(root, 'scripts/setup-host.sh'), script);
chmodSync(script, 0o755);

/** A PATH of only what the script needs until it asks for root, plus the stand-ins. */
function bin(name: string, withSudo: boolean): string {
  const d = join(dir, name);
  mkdirSync(d);
  chmodSync(d, 0o777); // the stand-in sudo, run as that user, writes down how it was called
  for (const tool of ['id', 'grep', 'head', 'cat']) {
    const real = ['/usr/bin', '/bin'].map((p) => join(p, tool)).find((p) => existsSync(p));
    if (real) symlinkSync(real, join(d, tool));
  }
  writeFileSync(join(d, 'dpkg-query'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
  if (withSudo) writeFileSync(join(d, 'sudo'), `#!/bin/sh\necho "$@" >"${d}/sudo-called"\nexit 0\n`, { mode: 0o755 });
  return d;
}

/** Runs the script as a user who is not root: nobody when this test runs as root, else the test's own user. */
function runAsUser(path: string, args: string[]): { code: number | null; out: string } {
  const asRoot = process.getuid?.() === 0;
  const cmd = asRoot ? '/usr/bin/setpriv' : '/bin/bash';
  const argv = asRoot ? ['--reuid=65534', '--regid=65534', '--clear-groups', '/bin/bash', script, ...args] : [script, ...args];
  const r = spawnSync(cmd, argv, { env: { PATH: path, HOME: dir }, encoding: 'utf8', cwd: dir });
  return { code: r.status, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

test('a user with sudo: the script runs itself again through sudo, with the same arguments', () => {
  const d = bin('with-sudo', true);
  const r = runAsUser(d, ['image']);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /setup-host: missing packages: mariadb-server .*; asking sudo/);
  assert.is(readFileSync(join(d, 'sudo-called'), 'utf8').trim(), `-- bash ${script} image`);
});

test('a user without sudo: it says what is missing and to run it as root, and fails', () => {
  const d = bin('without-sudo', false);
  const r = runAsUser(d, []);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /setup-host: missing packages: mariadb-server .*; run this script as root \(there is no sudo here\)/);
});

test('an unknown argument is refused before anything is asked', () => {
  const r = runAsUser(bin('unknown', true), ['everything']);
  assert.is(r.code, 2, r.out);
  assert.match(r.out, /unknown argument "everything"/);
  assert.not.ok(existsSync(join(dir, 'unknown', 'sudo-called')));
});

test.run();
