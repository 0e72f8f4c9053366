// A MariaDB Galera cluster on this machine's loopback for the tests of several boxes: three mariadbd processes with
// Debian's galera-4 provider, each with its own data directory and ports (client, group communication, IST, SST).
// The first node bootstraps the cluster; the others join it by state transfer (rsync). Run as root, the servers run
// as nobody: rsync's daemon for a state transfer drops to nobody and must be able to write the joiner's files.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './box.ts';

export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so';

/** Why a Galera cluster cannot run here, or null. */
export function galeraMissing(): string | null {
  if (!existsSync(GALERA_PROVIDER)) return `no ${GALERA_PROVIDER} (galera-4): run scripts/setup-host.sh`;
  for (const tool of ['mariadbd', 'mariadb-install-db', 'rsync', 'wsrep_sst_rsync']) {
    if (spawnSync('sh', ['-c', `command -v ${tool} || test -x /usr/sbin/${tool}`]).status !== 0) return `no ${tool}: run scripts/setup-host.sh`;
  }
  return null;
}

interface NodePorts { client: number; gcomm: number; ist: number; sst: number }

export class GaleraNode {
  proc: ChildProcess | null = null;
  constructor(readonly index: number, readonly dir: string, readonly ports: NodePorts) {}

  get socket(): string {
    return join(this.dir, 'mysqld.sock');
  }

  get log(): string {
    return join(this.dir, 'error.log');
  }
}

export class GaleraCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'confbox-galera-'));
  readonly nodes: GaleraNode[] = [];
  private readonly runAs = process.getuid?.() === 0 ? 'nobody' : null;

  /** An empty database and an account for the boxes (from 127.0.0.1), made through the first node; its URL for --db. */
  async database(name: string, user: string, password: string): Promise<string> {
    const first = this.nodes[0]!;
    await this.query(first, `CREATE DATABASE ${name} CHARACTER SET utf8mb4`);
    await this.query(first, 'CREATE USER ?@? IDENTIFIED BY ?', [user, '127.0.0.1', password]);
    await this.query(first, `GRANT ALL ON ${name}.* TO ?@?`, [user, '127.0.0.1']);
    return this.url(user, password, name);
  }

  /** mysql://USER:PASSWORD@127.0.0.1:P1,127.0.0.1:P2,…/DATABASE for the box. */
  url(user: string, password: string, database: string): string {
    return `mysql://${user}:${password}@${this.nodes.map((n) => `127.0.0.1:${n.ports.client}`).join(',')}/${database}`;
  }

  async start(count = 3): Promise<void> {
    chmodSync(this.dir, 0o755);
    for (let i = 1; i <= count; i++) {
      const dir = join(this.dir, `node${i}`);
      mkdirSync(join(dir, 'data'), { recursive: true });
      mkdirSync(join(dir, 'tmp'), { recursive: true });
      this.nodes.push(new GaleraNode(i, dir, { client: await freePort(), gcomm: await freePort(), ist: await freePort(), sst: await freePort() }));
    }
    if (this.runAs) spawnSync('chown', ['-R', `${this.runAs}:`, ...this.nodes.map((n) => n.dir)]);
    const first = this.nodes[0]!;
    const install = spawnSync('mariadb-install-db', [
      '--no-defaults', `--datadir=${join(first.dir, 'data')}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve',
      ...(this.runAs ? [`--user=${this.runAs}`] : []),
    ], { encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`mariadb-install-db: ${install.stdout}${install.stderr}`);
    this.spawn(first, ['--wsrep-new-cluster']);
    await this.synced(first, 60_000);
    for (const n of this.nodes.slice(1)) {
      this.spawn(n);
      await this.synced(n, 120_000);
    }
  }

  private spawn(n: GaleraNode, extra: string[] = []): void {
    const args = [
      '--no-defaults', `--datadir=${join(n.dir, 'data')}`, `--tmpdir=${join(n.dir, 'tmp')}`, `--socket=${n.socket}`, `--port=${n.ports.client}`,
      '--bind-address=127.0.0.1', `--pid-file=${join(n.dir, 'mysqld.pid')}`, `--log-error=${n.log}`, '--skip-name-resolve',
      '--binlog-format=ROW', '--innodb-autoinc-lock-mode=2', '--innodb-buffer-pool-size=32M', '--innodb-log-file-size=16M',
      '--wsrep-on=ON', `--wsrep-provider=${GALERA_PROVIDER}`, '--wsrep-cluster-name=confbox-test',
      `--wsrep-cluster-address=gcomm://${this.nodes.map((m) => `127.0.0.1:${m.ports.gcomm}`).join(',')}`,
      '--wsrep-node-address=127.0.0.1', `--wsrep-node-name=node${n.index}`, `--wsrep-node-incoming-address=127.0.0.1:${n.ports.client}`,
      `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${n.ports.gcomm};ist.recv_addr=127.0.0.1:${n.ports.ist};gcache.size=32M`,
      '--wsrep-sst-method=rsync', `--wsrep-sst-receive-address=127.0.0.1:${n.ports.sst}`,
      ...(this.runAs ? [`--user=${this.runAs}`] : []), ...extra,
    ];
    n.proc = spawn('mariadbd', args, { stdio: 'ignore' });
    n.proc.on('error', () => undefined);
  }

  /** One statement on a node, through its socket as root; the rows. */
  async query(n: GaleraNode, sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    const c = await mysql.createConnection({ socketPath: n.socket, user: 'root' });
    try {
      const [rows] = await c.query(sql, params);
      return rows as Array<Record<string, unknown>>;
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /** wsrep_local_state_comment of a node ("Synced"), or why it cannot be read. */
  async state(n: GaleraNode): Promise<string> {
    try {
      const rows = await this.query(n, "SHOW STATUS LIKE 'wsrep_local_state_comment'");
      return String(rows[0]?.Value ?? 'unknown');
    } catch (e) {
      return `unreachable (${(e as Error).message})`;
    }
  }

  async synced(n: GaleraNode, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      last = await this.state(n);
      if (last === 'Synced') return;
      if (n.proc && n.proc.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`galera node ${n.index} is not synced (${last}); its log:\n${this.tail(n)}`);
  }

  /** Kills a node as a power cut would (SIGKILL). */
  async kill(n: GaleraNode): Promise<void> {
    const p = n.proc;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }

  /** Starts a killed node again: it recovers its position and rejoins (IST, or a full state transfer). */
  async restart(n: GaleraNode, timeoutMs = 120_000): Promise<void> {
    this.spawn(n);
    await this.synced(n, timeoutMs);
  }

  tail(n: GaleraNode, lines = 25): string {
    try {
      return readFileSync(n.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(): Promise<void> {
    for (const n of [...this.nodes].reverse()) {
      const p = n.proc;
      if (!p || p.exitCode !== null) continue;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 15_000))]);
      if (p.exitCode === null) p.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
