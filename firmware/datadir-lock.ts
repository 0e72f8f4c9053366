import fs from 'node:fs';
import path from 'node:path';

/**
 * One box per data directory: the running box holds <dataDir>/box.pid for its lifetime.
 * The file names the box's pid and the process's start time (from /proc), so that a pid
 * reused by another process after a crash is not taken for the box.
 */
export interface DataDirLock {
  readonly file: string;
  /** Removes the file if it is still this process's. */
  release(): void;
}

export interface LockHolder {
  pid: number;
}

export const LOCK_FILE = 'box.pid';

export class DataDirInUse extends Error {
  constructor(readonly dataDir: string, readonly pid: number) {
    super(`the data directory ${dataDir} is in use by a running box (pid ${pid}); stop it first or give this box another --data-dir`);
    this.name = 'DataDirInUse';
  }
}

/** Takes the data directory for this process; throws DataDirInUse when a live box holds it. A stale file is taken over. */
export function lockDataDir(dataDir: string, pid = process.pid): DataDirLock {
  const dir = path.resolve(dataDir);
  const file = path.join(dir, LOCK_FILE);
  const content = `${pid}\n${startTimeOf(pid) ?? ''}\n`;
  // Written whole under a private name, then linked into place: the lock file is never seen half-written.
  const staged = path.join(dir, `.${LOCK_FILE}.${pid}`);
  fs.writeFileSync(staged, content, { mode: 0o644 });
  try {
    for (;;) {
      try {
        fs.linkSync(staged, file);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const seen = readOr(file);
      if (seen === null) continue;
      const holder = liveHolder(seen, pid);
      if (holder !== null) throw new DataDirInUse(dir, holder.pid);
      // Stale: removed only if it is still the file judged stale, so that a box that took it over meanwhile keeps it.
      if (readOr(file) === seen) fs.rmSync(file, { force: true });
    }
  } finally {
    fs.rmSync(staged, { force: true });
  }
  const release = () => {
    process.off('exit', release);
    if (readOr(file) === content) fs.rmSync(file, { force: true });
  };
  // A box that exits without stopping (a fatal error) leaves no lock behind; a killed one leaves a stale one.
  process.on('exit', release);
  return { file, release };
}

/** The live box holding this data directory, or null when none does. */
export function dataDirHolder(dataDir: string): LockHolder | null {
  const seen = readOr(path.join(path.resolve(dataDir), LOCK_FILE));
  return seen === null ? null : liveHolder(seen, process.pid);
}

function liveHolder(content: string, self: number): LockHolder | null {
  const [pidText = '', startText = ''] = content.split('\n');
  const pid = Number.parseInt(pidText, 10);
  if (!Number.isInteger(pid) || pid <= 0 || pid === self) return null;
  if (!alive(pid)) return null;
  // Recorded start time and the process's own differ: the pid now belongs to another process.
  const recorded = startText.trim();
  const now = startTimeOf(pid);
  if (recorded !== '' && now !== null && recorded !== now) return null;
  return { pid };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, under another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Field 22 of /proc/<pid>/stat, in clock ticks since boot; null without procfs. */
function startTimeOf(pid: number): string | null {
  const stat = readOr(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19] ?? null;
}

function readOr(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}
