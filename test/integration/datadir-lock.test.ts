// One box per data directory: a second box refuses to start, and technician commands never take a running box's database from it.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { answersOptions, freePort, removeDataDir, runBundle, runCli, startBox, type CliResult } from '../support/box.ts';

/** The log lines of a box or a command that show its embedded MariaDB was taken from it or replaced. */
const FOUGHT = /database unreachable|left running on this data directory|embedded MariaDB exited/;

/** The pid of a process that has exited. */
function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', '']);
    p.once('exit', () => resolve(p.pid!));
  });
}

test('a technician command run while the box is starting leaves the box and its MariaDB alone', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-lock-starting-'));
  const started: { cli?: Promise<CliResult> } = {};
  try {
    // "board ready" comes before the box starts its database; "confbox ready" long after.
    const box = await startBox({
      dataDir,
      onLog: (rec) => {
        if (rec.msg === 'board ready') started.cli ??= runCli(dataDir, ['room', 'list']);
      },
    });
    try {
      assert.ok(started.cli, 'the command was started during the box start-up');
      const r = await started.cli!;
      assert.not.match(r.stderr, FOUGHT);
      if (r.code === 0) assert.match(r.stdout, /no rooms/);
      else assert.match(r.stderr, new RegExp(`^confbox: .*pid ${box.proc.pid}`), r.stderr);
      assert.is(box.proc.exitCode, null, 'the box still runs');
      assert.not.match(box.output(), FOUGHT);
      assert.is(box.output().split('"embedded MariaDB ready"').length - 1, 1, 'the box started its MariaDB once');
      const after = await box.cli('room', 'add', '7', '--pin', '4321');
      assert.is(after.code, 0, after.stderr);
      await answersOptions(box.sipPort, 5_000);
    } finally {
      await box.stop();
    }
  } finally {
    await started.cli;
    removeDataDir(dataDir);
  }
});

test('a second box on the same data directory refuses to start, naming it and the running box', async () => {
  const box = await startBox();
  try {
    const added = await box.cli('room', 'add', '5', '--pin', '9876');
    assert.is(added.code, 0, added.stderr);
    const ports = ['--sip-port', String(await freePort()), '--sip-tls-port', String(await freePort()), '--http-port', String(await freePort()), '--https-port', String(await freePort())];
    const second = await runBundle(['--data-dir', box.dataDir, '--bind', '127.0.0.1', '--public-address', '127.0.0.1', ...ports]);
    assert.ok(second.code !== 0 && second.code !== null, second.out);
    assert.ok(second.out.includes(box.dataDir), second.out);
    assert.ok(second.out.includes(`pid ${box.proc.pid}`), second.out);
    assert.not.match(second.out, FOUGHT);

    assert.is(box.proc.exitCode, null, 'the first box still runs');
    assert.not.match(box.output(), FOUGHT);
    await answersOptions(box.sipPort, 5_000);
    const list = await box.cli('room', 'list', '--json');
    assert.is(list.code, 0, list.stderr);
    assert.equal(JSON.parse(list.stdout).map((r: { id: number }) => r.id), [5]);
  } finally {
    await box.stop();
    removeDataDir(box.dataDir);
  }
});

test('a lock left by a box that died does not prevent a start; a stopped box leaves none', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-lock-stale-'));
  try {
    const lockFile = join(dataDir, 'box.pid');
    const dead = await deadPid();
    writeFileSync(lockFile, `${dead}\n`);
    const box = await startBox({ dataDir });
    try {
      assert.is(readFileSync(lockFile, 'utf8').split('\n')[0], String(box.proc.pid));
      const list = await box.cli('room', 'list');
      assert.is(list.code, 0, list.stderr);
    } finally {
      assert.is(await box.stop(), 0);
    }
    assert.not.ok(existsSync(lockFile), 'the lock is released when the box stops');
  } finally {
    removeDataDir(dataDir);
  }
});

test.run();
