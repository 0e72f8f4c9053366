// The Database setting against an office's own MariaDB (test/support/office-db.ts): "Test connection" says in words
// what the box would find with the details typed (right ones, a wrong password, a wrong port, a certificate for
// another name, a database that is missing or already holds the box's tables), changing nothing on the server.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../firmware/log.ts';
import { migrate } from '../../firmware/store/migrations.ts';
import { openPool } from '../../firmware/store/mysql.ts';
import { probeDatabase, readDatabaseTarget, type DatabaseTarget } from '../../firmware/store/probe.ts';
import { BoxError } from '../../firmware/errors.ts';
import { OfficeDb } from '../support/office-db.ts';

const PASSWORD = 'Office-db-pass-7';
const office = new OfficeDb();
let target: DatabaseTarget;

test.before(async () => {
  // The certificate is for the server's address and db.office.lan, not for the name localhost.
  await office.start({ tlsNames: ['IP:127.0.0.1', 'DNS:db.office.lan'] });
  await office.account('confbox', PASSWORD, 'confbox');
  target = { host: '127.0.0.1', port: office.port, user: 'confbox', password: PASSWORD, database: 'confbox', tls: 'off' };
});

test.after(async () => {
  await office.stop();
});

test('the right details: connected, the server named, an empty database whose tables will be created', async () => {
  const r = await probeDatabase(target);
  assert.ok(r.ok, r.message);
  assert.match(r.message, /^connected to MariaDB \d+\.\d+, database confbox is empty: its tables will be created$/);
  assert.equal(await office.root("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'confbox'"), [], 'nothing was made there');
});

test('a wrong password, a wrong port, a missing database: each said in words, the password in none', async () => {
  const denied = await probeDatabase({ ...target, password: 'not-the-password' });
  assert.equal([denied.ok, !denied.ok && denied.code], [false, 'access-denied']);
  assert.match(denied.message, /^access denied for user 'confbox'/);
  const closed = await probeDatabase({ ...target, port: office.port + 1 === 65536 ? 1 : office.port + 1 });
  assert.equal([closed.ok, !closed.ok && closed.code], [false, 'unreachable']);
  assert.match(closed.message, new RegExp(`^no server answers at 127\\.0\\.0\\.1:\\d+`));
  await office.account('other', PASSWORD, 'nothere', false);
  const missing = await probeDatabase({ ...target, user: 'other', database: 'nothere' });
  assert.equal([missing.ok, !missing.ok && missing.code], [false, 'no-database']);
  assert.match(missing.message, /it has no database nothere: create it/);
  for (const r of [denied, closed, missing]) assert.not.ok(r.message.includes(PASSWORD), r.message);
});

test('TLS: verified against the CA given, and a certificate for another name is refused as such', async () => {
  const ok = await probeDatabase({ ...target, tls: 'ca', ca: office.ca! });
  assert.ok(ok.ok, ok.message);
  const mismatch = await probeDatabase({ ...target, host: 'localhost', tls: 'ca', ca: office.ca! });
  assert.equal([mismatch.ok, !mismatch.ok && mismatch.code], [false, 'tls-name']);
  assert.is(mismatch.message, 'the certificate does not match the host name localhost: connect with a name the certificate is for');
  const untrusted = await probeDatabase({ ...target, tls: 'on' });
  assert.equal([untrusted.ok, !untrusted.ok && untrusted.code], [false, 'tls-untrusted']);
});

test('a database that already holds the box\'s tables is named as such, with its schema', async () => {
  const pool = openPool(`mysql://confbox:${PASSWORD}@127.0.0.1:${office.port}/confbox`, createLogger('silent'));
  try {
    await migrate(pool, createLogger('silent'));
  } finally {
    await pool.end();
  }
  const r = await probeDatabase(target);
  assert.ok(r.ok && r.contents === 'confbox' && r.schemaVersion! > 10, r.message);
  assert.match(r.message, /already holds confbox tables \(schema \d+\): the box will use them/);
  await office.root('INSERT INTO confbox.schema_version (version, name, applied_at) VALUES (999, ?, NOW())', ['from a newer firmware']);
  const newer = await probeDatabase(target);
  assert.ok(newer.ok && newer.contents === 'newer-confbox', newer.message);
  assert.match(newer.message, /of a newer firmware \(schema 999, this firmware knows \d+\): update this box first/);
});

test('the details typed are checked before any connection, each refusal naming its field', () => {
  const field = (input: Record<string, unknown>) => {
    try {
      readDatabaseTarget(input);
    } catch (e) {
      assert.instance(e, BoxError);
      return (e as BoxError).field;
    }
    return null;
  };
  const good = { host: 'db.office.lan', port: '3306', user: 'confbox', password: 'x', database: 'confbox', tls: 'off' };
  assert.equal(readDatabaseTarget(good), { host: 'db.office.lan', port: 3306, user: 'confbox', password: 'x', database: 'confbox', tls: 'off' });
  assert.equal(readDatabaseTarget({ host: 'fd00::5', user: 'u' }), { host: 'fd00::5', port: 3306, user: 'u', password: '', database: 'confbox', tls: 'off' }, 'port 3306 and database confbox unless given');
  assert.is(field({ ...good, host: 'db office' }), 'host');
  assert.is(field({ ...good, host: '' }), 'host');
  assert.is(field({ ...good, port: '70000' }), 'port');
  assert.is(field({ ...good, user: "x' OR 1" }), 'user');
  assert.is(field({ ...good, database: 'conf-box' }), 'database');
  assert.is(field({ ...good, tls: 'maybe' }), 'tls');
  assert.is(field({ ...good, tls: 'ca', ca: 'not a certificate' }), 'ca');
  assert.is(field({ ...good, password: 'x'.repeat(257) }), 'password');
});

test.run();
