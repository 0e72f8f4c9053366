// The web page's one-time setup code: made by the board's first boot (board/rootfs/usr/lib/confbox/setup-code) or by
// the firmware itself (firmware/web/setup-code.ts); both must agree on the code, which works once.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SetupCode } from '../../firmware/web/setup-code.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const script = join(root, 'board/rootfs/usr/lib/confbox/setup-code');
const CODE = /^[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}$/;
const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'confbox-setup-code-'));
  dirs.push(d);
  return d;
};
process.on('exit', () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

test('first boot writes the code to the data directory and the boot partition; the firmware takes that code', () => {
  const data = scratch();
  const boot = scratch();
  const printed = execFileSync('sh', [script, data, boot, userInfo().username], { encoding: 'utf8' }).trim();
  assert.match(printed, CODE);
  assert.is(readFileSync(join(data, 'setup-code'), 'utf8').trim(), printed);
  assert.is(statSync(join(data, 'setup-code')).mode & 0o777, 0o600, 'only the firmware reads it');
  assert.match(readFileSync(join(boot, 'confbox-setup-code.txt'), 'utf8'), new RegExp(`Setup code of this conference box: ${printed}\\r\\n`));
  assert.is(execFileSync('sh', [script, data, boot, userInfo().username], { encoding: 'utf8' }).trim(), printed, 'a second run keeps the code');

  const code = SetupCode.open(data, false);
  assert.is(code.shown, printed);
  assert.ok(code.matches(printed));
  assert.ok(code.matches(printed.toLowerCase().replace(/-/g, ' ')), 'any case, spaces or dashes');
  assert.not.ok(code.matches(printed.slice(0, -1) + (printed.endsWith('A') ? 'B' : 'A')));
  assert.not.ok(code.matches(''));
  code.consume();
  assert.not.ok(existsSync(join(data, 'setup-code')), 'spent: deleted');
  assert.not.ok(code.matches(printed), 'and no longer accepted');
});

test('the firmware makes a code of its own when there is none, and keeps it across restarts', () => {
  const data = join(scratch(), 'var');
  const first = SetupCode.open(data, false);
  assert.match(first.shown!, CODE);
  assert.is(SetupCode.open(data, false).shown, first.shown);
  const codes = new Set(Array.from({ length: 50 }, () => {
    const d = scratch();
    return SetupCode.open(d, false).shown;
  }));
  assert.is(codes.size, 50, 'every box its own code');
});

test('a damaged code file is replaced; a box whose password is set has no code', () => {
  const data = scratch();
  writeFileSync(join(data, 'setup-code'), 'abc\n');
  const code = SetupCode.open(data, false);
  assert.match(code.shown!, CODE);
  assert.not.ok(code.matches('abc'));
  const set = SetupCode.open(data, true);
  assert.is(set.shown, null);
  assert.not.ok(existsSync(join(data, 'setup-code')));
  assert.not.ok(set.matches(code.shown));
});

test.run();
