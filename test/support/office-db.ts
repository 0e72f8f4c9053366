// An office's own MariaDB server for the tests of the Database setting: one mariadbd on a TCP port of loopback with its
// own data directory, an account with a password for the box, and (when asked) TLS with a certificate this helper
// makes, signed by a CA of its own, for the names and addresses the tests choose.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './box.ts';

export interface OfficeDbOptions {
  /** TLS: the names the server's certificate is made for, as subjectAltName entries (DNS:db.office.lan, IP:127.0.0.1). */
  tlsNames?: string[];
}

export class OfficeDb {
  readonly dir = mkdtempSync(join(tmpdir(), 'confbox-office-db-'));
  port = 0;
  /** The CA certificate (PEM) that signed the server's, with tlsNames. */
  ca: string | null = null;
  private proc: ChildProcess | null = null;

  get socket(): string {
    return join(this.dir, 'mysqld.sock');
  }

  async start(opts: OfficeDbOptions = {}): Promise<void> {
    const data = join(this.dir, 'data');
    mkdirSync(data, { recursive: true });
    mkdirSync(join(this.dir, 'tmp'), { recursive: true });
    const user = process.getuid?.() === 0 ? ['--user=root'] : [];
    const install = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', '--skip-name-resolve', ...user], { encoding: 'utf8' });
    if (install.status !== 0) throw new Error(`mariadb-install-db: ${install.stdout}${install.stderr}`);
    const tls = opts.tlsNames ? this.makeCertificates(opts.tlsNames) : [];
    this.port = await freePort();
    this.proc = spawn('mariadbd', [
      '--no-defaults', `--datadir=${data}`, `--tmpdir=${join(this.dir, 'tmp')}`, `--socket=${this.socket}`, `--port=${this.port}`,
      '--bind-address=127.0.0.1', `--pid-file=${join(this.dir, 'mysqld.pid')}`, `--log-error=${join(this.dir, 'error.log')}`, '--skip-name-resolve',
      '--innodb-buffer-pool-size=16M', '--innodb-log-file-size=8M', ...tls, ...user,
    ], { stdio: 'ignore' });
    this.proc.on('error', () => undefined);
    const end = Date.now() + 60_000;
    for (;;) {
      try {
        await this.root('SELECT 1');
        return;
      } catch (e) {
        if (Date.now() > end || this.proc.exitCode !== null) throw new Error(`the office's MariaDB did not start: ${(e as Error).message}\n${this.errorLog()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /** An account for the box from 127.0.0.1 with all rights on a database; creates the database unless told not to. */
  async account(user: string, password: string, database: string, create = true): Promise<void> {
    if (create) await this.root(`CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4`);
    await this.root('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [user, '127.0.0.1', password]);
    await this.root(`GRANT ALL ON \`${database}\`.* TO ?@?`, [user, '127.0.0.1']);
  }

  /** One statement as root through the socket; the rows. */
  async root(sql: string, params: unknown[] = []): Promise<Array<Record<string, unknown>>> {
    const c = await mysql.createConnection({ socketPath: this.socket, user: 'root' });
    try {
      const [rows] = await c.query(sql, params);
      return rows as Array<Record<string, unknown>>;
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  errorLog(): string {
    try {
      return readFileSync(join(this.dir, 'error.log'), 'utf8').split('\n').slice(-15).join('\n');
    } catch {
      return '(no error log)';
    }
  }

  /** The server stops answering, as a server that hangs or a cable pulled would (SIGSTOP); resume() undoes it. */
  async pause(): Promise<void> {
    this.proc?.kill('SIGSTOP');
  }

  async resume(): Promise<void> {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 20_000))]);
      if (p.exitCode === null) p.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** A CA, and a server certificate for names signed by it; mariadbd's TLS options. */
  private makeCertificates(names: string[]): string[] {
    const d = join(this.dir, 'tls');
    mkdirSync(d);
    const openssl = (...args: string[]) => {
      const r = spawnSync('openssl', args, { cwd: d, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
    };
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=office test CA');
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${names[0]!.replace(/^\w+:/, '')}`);
    writeFileSync(join(d, 'ext.cnf'), `subjectAltName=${names.join(',')}\n`);
    openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
    this.ca = readFileSync(join(d, 'ca.pem'), 'utf8');
    return [`--ssl-ca=${join(d, 'ca.pem')}`, `--ssl-cert=${join(d, 'server.pem')}`, `--ssl-key=${join(d, 'server.key')}`];
  }
}
