import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DataDirInUse, dataDirHolder, LOCK_FILE, lockDataDir } from '../../firmware/datadir-lock.ts';

const dirs: string[] = [];
const children: ChildProcess[] = [];

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'confbox-lock-unit-'));
  dirs.push(dir);
  return dir;
}

/** A process that stays alive until the tests end, standing in for a running box. */
function liveProcess(): number {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(p);
  return p.pid!;
}

function deadPid(): Promise<number> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    p.once('exit', () => resolve(p.pid!));
  });
}

function startTime(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]!;
}

test.after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('the lock file names this process and goes away on release', () => {
  const dir = scratch();
  const lock = lockDataDir(dir);
  assert.is(lock.file, join(dir, LOCK_FILE));
  const [pid, started] = readFileSync(lock.file, 'utf8').split('\n');
  assert.is(pid, String(process.pid));
  assert.is(started, startTime(process.pid));
  assert.is(dataDirHolder(dir), null, 'this process is not another box');
  lock.release();
  assert.not.ok(existsSync(lock.file));
});

test('a live box holding the directory refuses the lock, naming the directory and its pid', () => {
  const dir = scratch();
  const pid = liveProcess();
  writeFileSync(join(dir, LOCK_FILE), `${pid}\n${startTime(pid)}\n`);
  try {
    lockDataDir(dir);
    assert.unreachable('took a held lock');
  } catch (err) {
    assert.instance(err, DataDirInUse);
    assert.ok((err as Error).message.includes(dir));
    assert.ok((err as Error).message.includes(`pid ${pid}`));
  }
  assert.equal(dataDirHolder(dir), { pid });
  assert.is(readFileSync(join(dir, LOCK_FILE), 'utf8').split('\n')[0], String(pid), 'the holder keeps its file');
});

test('a file naming a live pid without a start time counts as held', () => {
  const dir = scratch();
  const pid = liveProcess();
  writeFileSync(join(dir, LOCK_FILE), `${pid}\n`);
  assert.throws(() => lockDataDir(dir), (err: unknown) => err instanceof DataDirInUse && err.pid === pid);
});

test('a stale file is taken over: a dead pid, a reused pid (other start time), garbage, this very pid', async () => {
  const live = liveProcess();
  for (const content of [`${await deadPid()}\n`, `${live}\n1\n`, 'not a pid\n', '', `${process.pid}\n1\n`]) {
    const dir = scratch();
    writeFileSync(join(dir, LOCK_FILE), content);
    assert.is(dataDirHolder(dir), null, JSON.stringify(content));
    const lock = lockDataDir(dir);
    assert.is(readFileSync(lock.file, 'utf8').split('\n')[0], String(process.pid), JSON.stringify(content));
    lock.release();
  }
});

test('release leaves a file that another box wrote since', () => {
  const dir = scratch();
  const lock = lockDataDir(dir);
  const other = liveProcess();
  writeFileSync(lock.file, `${other}\n${startTime(other)}\n`);
  lock.release();
  assert.ok(existsSync(lock.file));
});

test.run();
