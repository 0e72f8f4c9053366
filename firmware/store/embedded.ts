import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mysql from 'mysql2/promise';
import { dataDirHolder } from '../datadir-lock.ts';
import type { Logger } from '../log.ts';

/** The box's own MariaDB server, used when no database is configured. */
export interface EmbeddedDb {
  /** mysql://<user>@localhost/confbox?socket=<socketPath>, for openStore. */
  readonly url: string;
  readonly socketPath: string;
  /** The server's process id while this process runs it; null when attached to another's or stopped. */
  readonly pid: number | null;
  /** Shuts the server down cleanly (SIGTERM; SIGKILL after 20 s). Resolves at once when it is not running. */
  stop(): Promise<void>;
  /** Called when the server exits without stop() having been asked; code is null when a signal ended it. */
  onExit(cb: (code: number | null) => void): void;
  /** Stops the server if it runs, then starts it again; resolves when it accepts connections. */
  restart(): Promise<void>;
}

export interface EmbeddedDbOptions {
  /** The box's data directory; the server keeps its files under <dataDir>/mariadb/. */
  dataDir: string;
  log: Logger;
  /**
   * Use a server that a running box already has on this data directory instead of replacing it
   * (technician commands); stop() then leaves it running. While a box holds the data directory
   * (datadir-lock.ts), its server is waited for, also during the box's start, and never stopped;
   * without one, a server is started as usual.
   */
  attach?: boolean;
}

const DATABASE = 'confbox';
/** sun_path holds 108 bytes including the terminating NUL. */
const SOCKET_PATH_MAX = 107;
const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 20_000;
const INSTALL_TIMEOUT_MS = 120_000;
const PROGRAM_DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'];
const INSTALL_HINT = 'install mariadb-server (scripts/setup-host.sh)';

interface ServerFiles {
  /** <dataDir>/mariadb */
  root: string;
  data: string;
  socket: string;
  pidFile: string;
  logFile: string;
  /**
   * The server's temporary files. Its own: a MariaDB starting up deletes every leftover temporary table in its
   * tmpdir, and in a shared /tmp that would be another server's, in use.
   */
  tmp: string;
}

interface Programs {
  server: string;
  installer: string;
}

/** Starts (initialising on first use) the embedded MariaDB and resolves once it accepts connections. */
export async function startEmbeddedMariaDb(opts: EmbeddedDbOptions): Promise<EmbeddedDb> {
  const log = opts.log.child({ subsystem: 'mariadb' });
  const programs = findPrograms();
  const user = osUserName();
  const files = serverFiles(path.resolve(opts.dataDir), log);
  prepareDirectories(files);
  const box = opts.attach ? dataDirHolder(opts.dataDir) : null;
  if (box !== null) {
    // The running box owns the server, also while it is still starting it: wait for it, never replace it.
    await waitForBoxServer(files, user, box.pid, opts.dataDir, log);
    return attached(files, user);
  }
  if (opts.attach && serversHolding(files).length > 0) {
    try {
      await createDatabase(files.socket, user);
      return attached(files, user);
    } catch (err) {
      log.debug('the server on this data directory does not answer; starting one', { err });
    }
  }
  await initialise(files, programs, user, log);
  const db = new EmbeddedMariaDb(files, programs, user, log);
  await db.start();
  return db;
}

/** Until the server of the box holding the data directory answers; throws when it does not within READY_TIMEOUT_MS or the box stops. */
async function waitForBoxServer(files: ServerFiles, user: string, pid: number, dataDir: string, log: Logger): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let logged = false;
  for (;;) {
    if (await databaseAnswers(files, user)) return;
    if (!logged) log.debug('waiting for the database of the box running on this data directory', { pid, dataDir });
    logged = true;
    if (dataDirHolder(dataDir)?.pid !== pid) throw new Error(`the box (pid ${pid}) running on ${dataDir} stopped before its database answered; run the command again`);
    if (Date.now() >= deadline) {
      throw new Error(`the box (pid ${pid}) running on ${dataDir} has no embedded database answering after ${READY_TIMEOUT_MS / 1000} s (if it runs with --db, give the command the same --db); see ${files.logFile}`);
    }
    await sleep(200);
  }
}

function urlFor(files: ServerFiles, user: string): string {
  return `mysql://${encodeURIComponent(user)}@localhost/${DATABASE}?socket=${encodeURIComponent(files.socket)}`;
}

/** Another process owns this server: nothing to stop, restart or watch. */
function attached(files: ServerFiles, user: string): EmbeddedDb {
  return {
    url: urlFor(files, user),
    socketPath: files.socket,
    pid: null,
    stop: async () => undefined,
    onExit: () => undefined,
    restart: async () => {
      throw new Error('the embedded MariaDB belongs to the running box; restart the box instead');
    },
  };
}

class EmbeddedMariaDb implements EmbeddedDb {
  readonly url: string;
  readonly socketPath: string;
  private child: ChildProcess | null = null;

  get pid(): number | null {
    return this.child?.pid ?? null;
  }
  private ready = false;
  private stopping: Promise<void> | null = null;
  private restarting: Promise<void> = Promise.resolve();
  private readonly exitListeners: Array<(code: number | null) => void> = [];

  constructor(
    private readonly files: ServerFiles,
    private readonly programs: Programs,
    private readonly user: string,
    private readonly log: Logger,
  ) {
    this.socketPath = files.socket;
    this.url = urlFor(files, user);
  }

  async start(): Promise<void> {
    const started = Date.now();
    await stopLeftoverServers(this.files, this.log);
    const child = spawnServer(this.programs.server, this.files);
    this.child = child;
    this.ready = false;
    const killOnExit = () => child.kill('SIGTERM');
    // A firmware that exits without stop() must not leave its server behind.
    process.on('exit', killOnExit);
    child.once('exit', (code, signal) => {
      process.off('exit', killOnExit);
      this.exited(child, code, signal);
    });
    try {
      await waitUntilReady(child, this.files, this.user);
    } catch (err) {
      await terminate(child, this.log);
      throw err;
    }
    this.ready = true;
    this.log.info('embedded MariaDB ready', { socket: this.files.socket, dataDir: this.files.data, pid: child.pid, ms: Date.now() - started });
  }

  stop(): Promise<void> {
    const child = this.child;
    if (child === null) return Promise.resolve();
    this.stopping ??= terminate(child, this.log).finally(() => {
      this.stopping = null;
    });
    return this.stopping;
  }

  onExit(cb: (code: number | null) => void): void {
    this.exitListeners.push(cb);
  }

  restart(): Promise<void> {
    // One restart at a time: a second start would take the first one's server for a leftover.
    const next = this.restarting.catch(() => undefined).then(async () => {
      await this.stop();
      await this.start();
    });
    this.restarting = next;
    return next;
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = null;
    const expected = this.stopping !== null || !this.ready;
    this.ready = false;
    if (expected) return;
    this.log.warn('embedded MariaDB exited unexpectedly', { code, signal, logFile: this.files.logFile });
    for (const cb of this.exitListeners) cb(code);
  }
}

function findPrograms(): Programs {
  const server = findProgram(['mariadbd', 'mysqld']);
  const installer = findProgram(['mariadb-install-db', 'mysql_install_db']);
  if (server === undefined || installer === undefined) {
    const missing = server === undefined ? 'mariadbd' : 'mariadb-install-db';
    throw new Error(`the embedded database needs MariaDB, but ${missing} is not in PATH, /usr/sbin or /usr/bin: ${INSTALL_HINT}`);
  }
  return { server, installer };
}

function findProgram(names: string[]): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== ''), ...PROGRAM_DIRS];
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      try {
        fs.accessSync(candidate, fs.constants.X_OK);
        if (fs.statSync(candidate).isFile()) return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return undefined;
}

/** MariaDB's unix_socket authentication lets this OS user in under the same name. */
function osUserName(): string {
  try {
    return os.userInfo().username;
  } catch (err) {
    throw new Error(`the embedded database needs a user name for user id ${process.getuid?.()}, and there is none`, { cause: err });
  }
}

function serverFiles(dataDir: string, log: Logger): ServerFiles {
  const root = path.join(dataDir, 'mariadb');
  return {
    root,
    data: path.join(root, 'data'),
    socket: socketPathFor(root, dataDir, log),
    pidFile: path.join(root, 'mysqld.pid'),
    logFile: path.join(root, 'error.log'),
    tmp: path.join(root, 'tmp'),
  };
}

function socketPathFor(root: string, dataDir: string, log: Logger): string {
  const preferred = path.join(root, 'mysqld.sock');
  if (Buffer.byteLength(preferred) <= SOCKET_PATH_MAX) return preferred;
  const hash = createHash('sha256').update(dataDir).digest('hex').slice(0, 16);
  const fallback = path.join(os.tmpdir(), `confbox-mariadb-${hash}`, 'mysqld.sock');
  if (Buffer.byteLength(fallback) > SOCKET_PATH_MAX) {
    throw new Error(`the MariaDB socket path would be longer than ${SOCKET_PATH_MAX} bytes both under ${root} and under ${os.tmpdir()}; use a shorter data directory`);
  }
  log.debug('the socket path under the data directory is too long for a unix socket; using the temp directory', { preferred, socket: fallback });
  return fallback;
}

/** Private directories: nobody but the box's own user needs the server's files or its socket. */
function prepareDirectories(files: ServerFiles): void {
  fs.mkdirSync(files.root, { recursive: true, mode: 0o700 });
  const socketDir = path.dirname(files.socket);
  if (socketDir === files.root) return;
  fs.mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(socketDir);
  const mine = process.getuid === undefined || st.uid === process.getuid();
  if (!st.isDirectory() || !mine || (st.mode & 0o077) !== 0) {
    throw new Error(`${socketDir} must be a directory private to this user for the MariaDB socket; remove it and start again`);
  }
}

/**
 * Creates the system tables on first use. The install goes to a staging directory renamed
 * into place at the end, so an interrupted first start is redone, not mistaken for done.
 */
async function initialise(files: ServerFiles, programs: Programs, user: string, log: Logger): Promise<void> {
  if (fs.existsSync(path.join(files.data, 'mysql'))) return;
  if (fs.existsSync(files.data) && fs.readdirSync(files.data).length > 0) {
    throw new Error(`${files.data} holds files but no MariaDB system tables; move it away so the box can create a fresh one`);
  }
  const staging = `${files.data}.installing`;
  fs.rmSync(staging, { recursive: true, force: true });
  log.debug('initialising the embedded MariaDB data directory', { dataDir: files.data });
  // No --user: as root, mariadb-install-db would chown the system's auth_pam_tool_dir to that user.
  fs.mkdirSync(files.tmp, { recursive: true, mode: 0o700 });
  const args = [
    '--no-defaults',
    `--datadir=${staging}`,
    `--tmpdir=${files.tmp}`,
    '--auth-root-authentication-method=socket',
    `--auth-root-socket-user=${user}`,
    '--skip-test-db',
    '--skip-name-resolve',
    '--innodb-log-file-size=16M',
  ];
  const result = await runProgram(programs.installer, args, INSTALL_TIMEOUT_MS);
  if (result.code !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw new Error(`${path.basename(programs.installer)} failed (${result.code === null ? 'timed out' : `exit ${result.code}`}) for ${files.data}:\n${installerErrors(result.output)}`);
  }
  fs.renameSync(staging, files.data);
}

function runProgram(file: string, args: string[], timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-16_384);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      output += `\n${err.message}`;
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** A server left running by a firmware that crashed still holds the data directory: stop it so this one can own it. */
async function stopLeftoverServers(files: ServerFiles, log: Logger): Promise<void> {
  for (const pid of serversHolding(files)) {
    log.warn('stopping a MariaDB server left running on this data directory by an earlier start', { pid, dataDir: files.data });
    await terminatePid(pid, files.data, log);
  }
  fs.rmSync(files.socket, { force: true });
  fs.rmSync(files.pidFile, { force: true });
}

function serversHolding(files: ServerFiles): number[] {
  const candidates = new Set<number>();
  const fromPidFile = Number.parseInt(readOr(files.pidFile, ''), 10);
  if (Number.isInteger(fromPidFile) && fromPidFile > 0) candidates.add(fromPidFile);
  let entries: string[] = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    // no procfs: the pid file is all there is
  }
  for (const name of entries) if (/^\d+$/.test(name)) candidates.add(Number(name));
  return [...candidates].filter((pid) => pid !== process.pid && isServerOf(pid, files.data));
}

function isServerOf(pid: number, dataDir: string): boolean {
  const argv = readOr(`/proc/${pid}/cmdline`, '').split('\0');
  const program = path.basename(argv[0] ?? '');
  return (program === 'mariadbd' || program === 'mysqld') && argv.includes(`--datadir=${dataDir}`);
}

function readOr(file: string, fallback: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

function spawnServer(server: string, files: ServerFiles): ChildProcess {
  fs.mkdirSync(files.tmp, { recursive: true, mode: 0o700 });
  const args = [
    '--no-defaults',
    `--datadir=${files.data}`,
    `--tmpdir=${files.tmp}`,
    `--socket=${files.socket}`,
    '--skip-networking',
    `--pid-file=${files.pidFile}`,
    `--log-error=${files.logFile}`,
    '--innodb-buffer-pool-size=32M',
    // The default 96 MB redo log is a lot for an SD card and for a box with a few hundred rooms.
    '--innodb-log-file-size=16M',
  ];
  // mariadbd refuses to run as root unless told to.
  if (process.getuid?.() === 0) args.push('--user=root');
  // Whatever it prints before its error log is open goes to the same file.
  const out = fs.openSync(files.logFile, 'a');
  try {
    // Its own process group: a Ctrl-C meant for the firmware must not reach the database.
    const child = spawn(server, args, { detached: true, stdio: ['ignore', out, out] });
    // A failed spawn leaves no pid; waitUntilReady reports it.
    child.on('error', () => undefined);
    return child;
  } finally {
    fs.closeSync(out);
  }
}

/** Codes that only mean "not listening yet". */
const NOT_UP_YET = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'PROTOCOL_CONNECTION_LOST']);

/** Creates the box's database if the server answers: true once it did, false while the server is not up yet. */
async function databaseAnswers(files: ServerFiles, user: string): Promise<boolean> {
  try {
    await createDatabase(files.socket, user);
    return true;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === undefined || !NOT_UP_YET.has(code)) throw notReady(err, files, user);
    return false;
  }
}

async function waitUntilReady(child: ChildProcess, files: ServerFiles, user: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  if (child.pid === undefined) throw new Error(`could not run ${child.spawnfile}`);
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const how = child.exitCode !== null ? `exit code ${child.exitCode}` : `signal ${child.signalCode}`;
      throw new Error(`MariaDB stopped during start-up (${how}); see ${files.logFile}:\n${logTail(files)}`);
    }
    if (await databaseAnswers(files, user)) return;
    await sleep(100);
  }
  throw new Error(`MariaDB did not accept connections on ${files.socket} within ${READY_TIMEOUT_MS / 1000} s; see ${files.logFile}:\n${logTail(files)}`);
}

function notReady(err: unknown, files: ServerFiles, user: string): Error {
  const code = (err as { code?: string }).code ?? '';
  const message = (err as Error).message;
  if (code.startsWith('ER_ACCESS_DENIED')) {
    return new Error(`the embedded MariaDB in ${files.data} does not let OS user ${user} in (was the data directory made by another user?): ${message}`, { cause: err });
  }
  return new Error(`cannot create database ${DATABASE} in the embedded MariaDB: ${message}`, { cause: err });
}

async function createDatabase(socketPath: string, user: string): Promise<void> {
  const conn = await mysql.createConnection({ socketPath, user, connectTimeout: 1000 });
  try {
    await conn.query(`CREATE DATABASE IF NOT EXISTS ${DATABASE} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end().catch(() => undefined);
  }
}

function logTail(files: ServerFiles): string {
  return lastLines(readOr(files.logFile, '(the log file is empty or missing)'));
}

/** What the installer said went wrong: the server's [ERROR] lines (its closing advice says nothing), else its last lines. */
export function installerErrors(text: string): string {
  const errors = text.split('\n').filter((l) => /\[ERROR\]|^ERROR|failed|Aborting/i.test(l));
  return errors.length ? errors.slice(-12).join('\n') : lastLines(text);
}

function lastLines(text: string, count = 12): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function terminate(child: ChildProcess, log: Logger): Promise<void> {
  if (child.pid === undefined) return;
  const exited = exitOf(child);
  child.kill('SIGTERM');
  if (await settlesWithin(exited, STOP_GRACE_MS)) return;
  log.warn('MariaDB did not stop within the grace period; killing it', { pid: child.pid, graceMs: STOP_GRACE_MS });
  child.kill('SIGKILL');
  await exited;
}

/** A timer that is cleared, so a quick exit does not keep the process alive for the whole grace period. */
function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  return Promise.race([p.then(() => true), late]).finally(() => clearTimeout(timer));
}

/** Like terminate(), for a server this process did not start and so cannot wait on. */
async function terminatePid(pid: number, dataDir: string, log: Logger): Promise<void> {
  // Checked by command line, not by pid alone: an unreaped zombie or a reused pid is not the server.
  const holds = () => isServerOf(pid, dataDir);
  if (!signal(pid, 'SIGTERM')) return;
  if (await waitFor(() => !holds(), STOP_GRACE_MS)) return;
  log.warn('the leftover MariaDB did not stop within the grace period; killing it', { pid });
  signal(pid, 'SIGKILL');
  if (!(await waitFor(() => !holds(), 5_000))) throw new Error(`the MariaDB server (pid ${pid}) holding ${dataDir} does not die`);
}

async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() >= deadline) return false;
    await sleep(100);
  }
  return true;
}

function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw new Error(`cannot stop the MariaDB server (pid ${pid}) that holds the data directory: ${(err as Error).message}`, { cause: err });
  }
}
