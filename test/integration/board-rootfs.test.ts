// board/rootfs/: the systemd units, sysusers.d, tmpfiles.d and database files the image installs.
// systemd's own tools check them in a scratch root that holds the overlay and Debian's units
// (mariadb.service among them); the unit's settings are read back through the firmware's own option
// and database URL parsers; the database script runs, twice, against a real MariaDB.
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import mysql from 'mysql2/promise';
import { parseArgs } from '../../firmware/config.ts';
import { silentLogger } from '../../firmware/log.ts';
import { parseDatabaseUrl } from '../../firmware/store/mysql.ts';
import { startEmbeddedMariaDb } from '../../firmware/store/embedded.ts';
import { BUNDLE, ROOT } from '../support/box.ts';

const ROOTFS = join(ROOT, 'board/rootfs');
const UNITS = ['confbox.service', 'confbox-database.service', 'confbox-slot-check.service', 'confbox-restart.path', 'confbox-restart.service'];
/** Where Debian keeps the units of its packages (systemd, mariadb-server), on this machine. */
const SYSTEM_UNITS = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(join(d, 'sysinit.target')));

const scratch = mkdtempSync(join(tmpdir(), 'confbox-rootfs-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

type Section = Map<string, string[]>;

/** A unit file's sections and their settings (every value of a repeated key, in order). */
function readUnit(name: string): Map<string, Section> {
  const sections = new Map<string, Section>();
  let current: Section | undefined;
  for (const raw of readFileSync(join(ROOTFS, 'etc/systemd/system', name), 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(current && eq > 0, `${name}: "${line}" is a key=value line inside a section`);
    const key = line.slice(0, eq);
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

function setting(unit: Map<string, Section>, section: string, key: string): string[] {
  return unit.get(section)?.get(key) ?? [];
}

/** Environment= values as systemd reads them: space-separated assignments, each optionally in double quotes. */
function environment(values: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const v of values) {
    for (const m of v.matchAll(/"([^"]*)"|(\S+)/g)) {
      const assignment = m[1] ?? m[2]!;
      const eq = assignment.indexOf('=');
      env[assignment.slice(0, eq)] = assignment.slice(eq + 1);
    }
  }
  return env;
}

function run(cmd: string, args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input });
  if (r.error) throw new Error(`${cmd} cannot run (${r.error.message}); scripts/setup-host.sh installs it`);
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
}

/** The overlay on top of Debian's units, with a stand-in for each program the units start (the image brings the real ones). */
function scratchRoot(): string {
  const root = join(scratch, 'root');
  if (existsSync(root)) return root;
  assert.ok(SYSTEM_UNITS, 'systemd is installed here (scripts/setup-host.sh)');
  cpSync(ROOTFS, root, { recursive: true });
  cpSync(SYSTEM_UNITS, join(root, 'usr/lib/systemd/system'), { recursive: true });
  for (const name of UNITS) {
    for (const exec of setting(readUnit(name), 'Service', 'ExecStart')) {
      const program = join(root, exec.replace(/^[-@:+!]+/, '').split(/\s+/)[0]!);
      if (existsSync(program)) continue;
      mkdirSync(dirname(program), { recursive: true });
      writeFileSync(program, '#!/bin/sh\nexit 0\n');
      chmodSync(program, 0o755);
    }
  }
  return root;
}

test('systemd-analyze verify accepts the units, with no warning (an unknown or misspelt setting is one)', () => {
  const root = scratchRoot();
  const r = run('systemd-analyze', ['verify', `--root=${root}`, ...UNITS]);
  assert.is(r.err.trim(), '', 'no warnings');
  assert.is(r.code, 0);
  // The check itself can fail: a misspelt setting in a copy is reported.
  const copy = join(root, 'etc/systemd/system/confbox-broken.service');
  writeFileSync(copy, readFileSync(join(root, 'etc/systemd/system/confbox.service'), 'utf8').replace('ProtectHome=yes', 'ProtectHme=yes'));
  assert.match(run('systemd-analyze', ['verify', `--root=${root}`, 'confbox-broken.service']).err, /Unknown key 'ProtectHme'/);
  rmSync(copy);
});

test("confbox.service: notify with a watchdog, restarted always, its own user, no capabilities, read-only but the data directory", () => {
  const unit = readUnit('confbox.service');
  const one = (key: string) => {
    const v = setting(unit, 'Service', key);
    assert.is(v.length, 1, `one ${key}= (${JSON.stringify(v)})`);
    return v[0]!;
  };
  assert.is(one('Type'), 'notify');
  assert.is(one('NotifyAccess'), 'main');
  assert.match(one('WatchdogSec'), /^\d+s$/);
  assert.is(one('Restart'), 'always');
  assert.is(setting(unit, 'Unit', 'StartLimitIntervalSec')[0], '0', 'never gives up restarting');
  for (const [key, value] of <Array<[string, string]>>[['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['PrivateTmp', 'yes'], ['CapabilityBoundingSet', ''], ['AmbientCapabilities', '']]) {
    assert.is(one(key), value, `${key}=${value}`);
  }
  assert.ok(setting(unit, 'Unit', 'After').join(' ').split(/\s+/).includes('mariadb.service'), 'starts after MariaDB');
  assert.ok(setting(unit, 'Unit', 'After').join(' ').split(/\s+/).includes('network-online.target'), 'and after the network');

  const exec = one('ExecStart').split(/\s+/);
  const heap = exec.find((a) => a.startsWith('--max-old-space-size='));
  assert.ok(heap && Number(heap.split('=')[1]) > 0, `the Node heap is capped: ${exec.join(' ')}`);
  assert.ok(exec.includes('--max-semi-space-size=2'), `the young generation is kept small: ${exec.join(' ')}`);
  assert.ok(exec.at(-1)!.endsWith('/confbox.mjs'), 'runs the bundle');

  // The options, read the way the firmware reads them.
  const env = environment(setting(unit, 'Service', 'Environment'));
  const { config } = parseArgs([], env);
  assert.is(config.dataDir, '/var/lib/confbox');
  assert.equal(setting(unit, 'Service', 'ReadWritePaths'), [config.dataDir], 'writable: the data directory alone');
  assert.is(one('WorkingDirectory'), config.dataDir);
  assert.ok(config.ownDb, 'its own database is the system MariaDB, not an embedded one');
  assert.is(config.db, null, 'nothing that wins over the database a technician chooses on the page (--db, CONFBOX_DB)');
  const db = parseDatabaseUrl(config.ownDb);
  assert.equal(db, { socketPath: '/run/mysqld/mysqld.sock', user: one('User'), password: undefined, database: 'confbox' });
});

test('sysusers.d and tmpfiles.d make the user, its groups and the data directory the unit expects', () => {
  const root = scratchRoot();
  const unit = readUnit('confbox.service');
  const r = run('systemd-sysusers', [`--root=${root}`]);
  assert.is(r.code, 0, r.err);
  const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8').split('\n').map((l) => l.split(':'));
  const user = passwd.find((p) => p[0] === setting(unit, 'Service', 'User')[0]);
  assert.ok(user, 'the unit\'s User= exists');
  assert.ok(Number(user[2]) > 0 && Number(user[2]) < 1000, `a system user, not root (uid ${user[2]})`);
  assert.match(user[6]!, /nologin$/, 'nobody logs in as it');
  const groups = readFileSync(join(root, 'etc/group'), 'utf8').split('\n').map((l) => l.split(':'));
  for (const g of setting(unit, 'Service', 'SupplementaryGroups').join(' ').split(/\s+/)) {
    const group = groups.find((x) => x[0] === g);
    assert.ok(group, `group ${g} exists (SupplementaryGroups= fails the start otherwise)`);
    assert.ok(group[3]!.split(',').includes(user[0]!), `${user[0]} is in ${g}, also for a technician's commands`);
  }
  const t = run('systemd-tmpfiles', [`--root=${root}`, '--create', 'confbox.conf']);
  assert.is(t.code, 0, t.err);
  const dir = statSync(join(root, 'var/lib/confbox'));
  assert.ok(dir.isDirectory());
  assert.is(dir.uid, Number(user[2]), 'owned by the box\'s user');
  assert.is(dir.mode & 0o777, 0o750);
});

test('systemd-analyze security rates the sandbox of confbox.service "OK" or better (exposure at most 2.0 of 10)', () => {
  const root = scratchRoot();
  const r = run('systemd-analyze', ['security', '--offline=yes', `--root=${root}`, '--threshold=20', '--no-pager', 'confbox.service']);
  const exposure = /Overall exposure level for confbox\.service: ([\d.]+)/.exec(r.out)?.[1];
  assert.ok(exposure, r.out + r.err);
  assert.is(r.code, 0, `exposure ${exposure}:\n${r.out}`);
  console.log(`confbox.service exposure: ${exposure}`);
});

test('as the unit runs it (its own user, no capabilities, no new privileges) the box binds SIP port 5060 and answers', () => {
  // A network namespace of its own, where 5060 is free whatever else runs here. As root the box runs as
  // nobody; otherwise in a user namespace of this user. Either way every capability is dropped first.
  const asRoot = process.getuid?.() === 0;
  const dataDir = join(scratch, 'unprivileged');
  mkdirSync(dataDir, { recursive: true });
  // The firmware as the image installs it, in a folder that user can read wherever this checkout lives.
  const app = join(scratch, 'app');
  const dist = dirname(BUNDLE);
  cpSync(dist, app, { recursive: true, filter: (src) => src !== join(dist, 'image') });
  const bundle = join(app, basename(BUNDLE));
  if (asRoot) run('chown', ['-R', 'nobody:nogroup', scratch]);
  const ids = asRoot ? '--reuid=nobody --regid=nogroup --clear-groups' : '';
  const probe = `
    const s = require('node:dgram').createSocket('udp4');
    const deadline = Date.now() + 60000;
    s.on('message', (m) => { console.log('answer: ' + m.toString().split('\\r\\n')[0]); process.exit(0); });
    s.bind(0, '127.0.0.1', () => {
      const send = () => {
        if (Date.now() > deadline) { console.log('answer: none'); process.exit(1); }
        const p = s.address().port;
        s.send(['OPTIONS sip:127.0.0.1:5060 SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:' + p + ';branch=z9hG4bK' + Date.now() + ';rport',
          'From: <sip:probe@127.0.0.1>;tag=1', 'To: <sip:127.0.0.1:5060>', 'Call-ID: ' + Date.now() + '@probe', 'CSeq: 1 OPTIONS',
          'Max-Forwards: 70', 'Content-Length: 0', '', ''].join('\\r\\n'), 5060, '127.0.0.1');
        setTimeout(send, 250);
      };
      send();
    });`;
  writeFileSync(join(scratch, 'probe.cjs'), probe);
  const script = `
    ip link set lo up
    setpriv ${ids} --no-new-privs --bounding-set=-all --inh-caps=-all --ambient-caps=-all \
      "${process.execPath}" "${bundle}" --data-dir "${dataDir}" --bind 127.0.0.1 --public-address 127.0.0.1 --board mock --log-level warn &
    box=$!
    "${process.execPath}" "${join(scratch, 'probe.cjs')}"
    grep -E '^(CapEff|CapPrm|NoNewPrivs|Uid):' /proc/$box/status
    kill -TERM $box
    wait $box
    echo "exit: $?"`;
  const r = run('unshare', [...(asRoot ? [] : ['--user', '--map-root-user']), '--net', 'sh', '-c', script]);
  const out = r.out + r.err;
  assert.match(out, /^answer: SIP\/2\.0 200 OK$/m, out);
  assert.match(out, /^CapEff:\s+0+$/m, 'no effective capabilities');
  assert.match(out, /^CapPrm:\s+0+$/m, 'none permitted either');
  assert.match(out, /^NoNewPrivs:\s+1$/m);
  if (asRoot) assert.match(out, /^Uid:\s+65534\s/m, 'runs as nobody');
  assert.match(out, /^exit: 0$/m, 'and stops cleanly');
});

test('the database script makes the account and database the unit connects to, and can run again', async () => {
  const script = readFileSync(join(ROOTFS, 'usr/lib/confbox/create-database.sql'), 'utf8');
  const unit = readUnit('confbox-database.service');
  assert.equal(setting(unit, 'Service', 'StandardInput'), ['file:/usr/lib/confbox/create-database.sql']);
  const server = await startEmbeddedMariaDb({ dataDir: join(scratch, 'db'), log: silentLogger });
  try {
    // As confbox-database.service runs it: the mariadb client, the script on its standard input.
    const client = setting(unit, 'Service', 'ExecStart')[0]!.split(/\s+/);
    for (let i = 0; i < 2; i++) {
      const r = run('mariadb', [...client.slice(1), `--socket=${server.socketPath}`], script);
      assert.is(r.code, 0, `run ${i + 1}: ${r.err}`);
    }
    const target = parseDatabaseUrl(parseArgs([], environment(setting(readUnit('confbox.service'), 'Service', 'Environment'))).config.ownDb!);
    const conn = await mysql.createConnection({ socketPath: server.socketPath, user: new URL(server.url).username, database: 'mysql' });
    try {
      const [grants] = await conn.query<mysql.RowDataPacket[]>(`SHOW GRANTS FOR '${target.user}'@'localhost'`);
      const text = grants.map((g) => Object.values(g)[0]).join('\n');
      assert.match(text, new RegExp(`GRANT ALL PRIVILEGES ON \`${target.database}\`\\.\\* TO \`${target.user}\`@\`localhost\``));
      assert.match(text, /IDENTIFIED VIA unix_socket/, 'no password: the OS user is the account');
      const [dbs] = await conn.query<mysql.RowDataPacket[]>('SELECT DEFAULT_CHARACTER_SET_NAME AS cs FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [target.database]);
      assert.equal(dbs.map((d) => d.cs), ['utf8mb4']);
    } finally {
      await conn.end();
    }
  } finally {
    await server.stop();
  }
});

test.run();
