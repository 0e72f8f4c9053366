// The store against a real MariaDB: the embedded server, started in a temp directory.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { RowDataPacket } from 'mysql2/promise';
import { DEFAULT_SETTINGS, type CallLogEntry, type Room } from '../../firmware/conference/types.ts';
import { BoxError, StoreUnavailable } from '../../firmware/errors.ts';
import { createLogger } from '../../firmware/log.ts';
import { connectStore, migrate, openStore, startEmbeddedMariaDb, type EmbeddedDb, type Store } from '../../firmware/store/index.ts';
import { MIGRATIONS } from '../../firmware/store/migrations.ts';
import { openPool } from '../../firmware/store/mysql.ts';

const logLines: string[] = [];
const log = createLogger('debug', {}, (line) => logLines.push(line));
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'confbox-store-'));
const started: EmbeddedDb[] = [];
const opened: Store[] = [];
let store: Store;
let embedded: EmbeddedDb;

/** Resolves the error a promise rejects with, and how long that took. */
async function rejection(p: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    return { err, ms: Date.now() - t0 };
  }
  throw new Error('expected a rejection');
}

function room(id: number, extra: Partial<Room> = {}): Room {
  return { id, pin: '1234', duration: 60, creator: '201', maxParticipants: null, createdAt: new Date('2025-03-04T05:06:07.890Z'), createdVia: 'phone', keep: false, moderatorPin: null, record: false, waitForModerator: false, moderatorLeaves: 'continue', ...extra };
}

async function rawRows(sql: string, params: Array<string | number> = []): Promise<RowDataPacket[]> {
  const pool = openPool(embedded.url, log);
  try {
    return (await pool.query<RowDataPacket[]>(sql, params))[0];
  } finally {
    await pool.end();
  }
}

test.before(async () => {
  const connected = await connectStore({ dataDir, log, boxId: 'box-a' });
  store = connected.store;
  embedded = connected.embedded!;
  started.push(embedded);
  opened.push(store);
  // Every statement the server is sent from here on is kept, for the check that MySQL 8 would take each of them.
  await rawRows("SET GLOBAL log_output = 'TABLE'");
  await rawRows('SET GLOBAL general_log = 1');
});

/**
 * What MariaDB takes and MySQL 8 refuses (or reads otherwise). The box keeps its rooms in the office's server too,
 * which the product document calls MySQL: its schema and queries must be what both servers take.
 */
const MARIADB_ONLY: Array<[RegExp, string]> = [
  [/\bADD\s+(COLUMN\s+|INDEX\s+|KEY\s+|CONSTRAINT\s+)?IF\s+NOT\s+EXISTS\b/i, 'ADD … IF NOT EXISTS'],
  [/\b(DROP|MODIFY|CHANGE)\s+(COLUMN\s+|INDEX\s+|KEY\s+|FOREIGN\s+KEY\s+|CONSTRAINT\s+)?IF\s+EXISTS\b/i, 'DROP/MODIFY/CHANGE … IF EXISTS'],
  [/\bCREATE\s+(UNIQUE\s+)?INDEX\s+IF\s+NOT\s+EXISTS\b/i, 'CREATE INDEX IF NOT EXISTS'],
  [/\bCREATE\s+OR\s+REPLACE\s+(TABLE|INDEX|DATABASE|USER)\b/i, 'CREATE OR REPLACE'],
  [/\bRETURNING\b/i, 'RETURNING'],
  [/\b(INET4|INET6|UUID)\s*(NOT\s+NULL|NULL|DEFAULT|,|\))/i, 'MariaDB data types'],
  [/\bSEQUENCE\b|\bNEXTVAL\s*\(|\bLASTVAL\s*\(/i, 'sequences'],
  [/\bWITH\s+SYSTEM\s+VERSIONING\b|\bFOR\s+SYSTEM_TIME\b/i, 'system-versioned tables'],
  [/\bLIMIT\s+ROWS\s+EXAMINED\b/i, 'LIMIT ROWS EXAMINED'],
  [/\bJSON_(DETAILED|COMPACT|LOOSE|EXISTS|NORMALIZE|EQUALS)\s*\(/i, 'MariaDB JSON functions'],
  [/\/\*M!/, 'MariaDB executable comments'],
  [/\bIDENTIFIED\s+VIA\b/i, 'IDENTIFIED VIA'],
];

test.after(async () => {
  for (const s of opened) await s.close();
  for (const e of started) await e.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

test('the embedded server keeps its files under <dataDir>/mariadb and logs when ready', () => {
  assert.ok(fs.existsSync(path.join(dataDir, 'mariadb', 'data', 'mysql')));
  assert.is(embedded.socketPath, path.join(dataDir, 'mariadb', 'mysqld.sock'));
  assert.ok(embedded.url.startsWith(`mysql://${encodeURIComponent(os.userInfo().username)}@localhost/confbox?socket=`));
  assert.ok(logLines.some((l) => l.includes('"embedded MariaDB ready"')));
});

test('migrate is idempotent, also when two run at once', async () => {
  const pool = openPool(embedded.url, log);
  try {
    await migrate(pool, log);
    await Promise.all([migrate(pool, log), migrate(pool, log)]);
    // Steps whose record was lost run again over the columns they added: nothing fails, nothing changes.
    await pool.query('DELETE FROM schema_version WHERE version >= 4');
    await Promise.all([migrate(pool, log), migrate(pool, log)]);
    const [versions] = await pool.query<RowDataPacket[]>('SELECT version FROM schema_version ORDER BY version');
    assert.equal(versions.map((r) => r.version), MIGRATIONS.map((m) => m.version));
    const [tables] = await pool.query<RowDataPacket[]>('SHOW TABLES');
    const names = tables.map((r) => String(Object.values(r)[0])).sort();
    assert.equal(names, ['api_tokens', 'bindings', 'boxes', 'call_log', 'config_changes', 'extensions', 'live_conferences', 'lockout_blocks', 'lockout_failures', 'peers', 'rooms', 'schema_version', 'settings', 'web_admin']);
  } finally {
    await pool.end();
  }
});

test('a failing migration names itself and is not recorded', async () => {
  const pool = openPool(embedded.url, log);
  try {
    const broken = { version: 99, name: 'a step that cannot work', statements: ['ALTER TABLE no_such_table ADD x INT'] };
    const { err } = await rejection(migrate(pool, log, [...MIGRATIONS, broken]));
    assert.match((err as Error).message, 'schema migration 99 (a step that cannot work) failed');
    const [rows] = await pool.query<RowDataPacket[]>('SELECT version FROM schema_version WHERE version = 99');
    assert.is(rows.length, 0);
  } finally {
    await pool.end();
  }
});

test('rooms: insert, get, list, delete', async () => {
  await store.rooms.insert(room(2));
  await store.rooms.insert(room(1, { creator: null, maxParticipants: 10, createdVia: 'web', duration: 1440 }));
  assert.equal(await store.rooms.get(2), room(2));
  assert.equal(await store.rooms.get(1), room(1, { creator: null, maxParticipants: 10, createdVia: 'web', duration: 1440 }));
  assert.is(await store.rooms.get(3), null);
  assert.equal((await store.rooms.list()).map((r) => r.id), [1, 2]);
  assert.is(await store.rooms.delete(2), true);
  assert.is(await store.rooms.delete(2), false);
  assert.equal((await store.rooms.list()).map((r) => r.id), [1]);
  await store.rooms.delete(1);
});

test('rooms: a taken id is refused with 403 "exists"', async () => {
  await store.rooms.insert(room(7));
  const { err } = await rejection(store.rooms.insert(room(7, { pin: '9999' })));
  assert.instance(err, BoxError);
  const e = err as BoxError;
  assert.is(e.sipStatus, 403);
  assert.is(e.httpStatus, 409);
  assert.is(e.code, 'exists');
  assert.is(e.field, 'id');
  assert.is(e.message, 'room 7 already exists');
  assert.is((await store.rooms.get(7))?.pin, '1234');
  await store.rooms.delete(7);
});

test('extensions: put, replace, get, list, delete', async () => {
  const ext = { number: '201', displayName: 'Alice', realm: 'confbox', ha1Md5: 'a'.repeat(32), ha1Sha256: 'b'.repeat(64) };
  await store.extensions.put(ext);
  await store.extensions.put({ ...ext, number: '202', displayName: 'Bob' });
  assert.equal(await store.extensions.get('201'), ext);
  await store.extensions.put({ ...ext, displayName: 'Alice Smith', ha1Md5: 'c'.repeat(32) });
  assert.equal(await store.extensions.get('201'), { ...ext, displayName: 'Alice Smith', ha1Md5: 'c'.repeat(32) });
  assert.equal((await store.extensions.list()).map((e) => e.number), ['201', '202']);
  assert.is(await store.extensions.delete('202'), true);
  assert.is(await store.extensions.delete('202'), false);
  assert.is(await store.extensions.get('202'), null);
  await store.extensions.delete('201');
});

test('peers: put, replace, list, delete; each keeps the transports it is trusted over and whether it is the outbound PBX', async () => {
  await store.peers.put({ cidr: '192.168.1.0/24', description: 'office PBX', transport: 'any', outboundPort: null });
  await store.peers.put({ cidr: '10.0.0.5/32', description: 'lab', transport: 'tls', outboundPort: 5061 });
  await store.peers.put({ cidr: '192.168.1.0/24', description: 'office PBX (new)', transport: 'tcp', outboundPort: null });
  assert.equal(await store.peers.list(), [
    { cidr: '10.0.0.5/32', description: 'lab', transport: 'tls', outboundPort: 5061 },
    { cidr: '192.168.1.0/24', description: 'office PBX (new)', transport: 'tcp', outboundPort: null },
  ]);
  assert.is(await store.peers.delete('10.0.0.5/32'), true);
  assert.is(await store.peers.delete('10.0.0.5/32'), false);
  assert.equal((await store.peers.list()).length, 1);
  await store.peers.delete('192.168.1.0/24');
});

test('settings: defaults, set, and stored values over defaults', async () => {
  assert.equal(await store.settings.get(), { ...DEFAULT_SETTINGS });
  await store.settings.set('maxParticipants', 8);
  await store.settings.set('realm', 'office.example');
  await store.settings.set('maxParticipants', 12);
  assert.equal(await store.settings.get(), { ...DEFAULT_SETTINGS, maxParticipants: 12, realm: 'office.example' });
  const { err } = await rejection(store.settings.set('nonsense' as 'realm', 'x'));
  assert.instance(err, BoxError);
  const wrongType = await rejection(store.settings.set('maxParticipants', '5' as unknown as number));
  assert.instance(wrongType.err, BoxError);
});

test('settings: a stored value of the wrong type is ignored, not fatal', async () => {
  await rawRows("INSERT INTO settings (name, value) VALUES ('lockoutFailures', '\"many\"'), ('rtpTimeoutSeconds', 'not json'), ('retired', '1')");
  const settings = await store.settings.get();
  assert.is(settings.lockoutFailures, DEFAULT_SETTINGS.lockoutFailures);
  assert.is(settings.rtpTimeoutSeconds, DEFAULT_SETTINGS.rtpTimeoutSeconds);
  assert.not.ok('retired' in settings);
});

test('call log: append, recent newest first', async () => {
  const entry = (at: string, reason: string): CallLogEntry => ({ at: new Date(at), action: 'join', caller: '201', source: 'udp:192.0.2.1:5060', room: 2, status: 200, reason, displayName: null, durationSeconds: null });
  await store.callLog.append(entry('2025-01-01T10:00:00.000Z', 'first'));
  await store.callLog.append(entry('2025-01-01T12:00:00.000Z', 'third'));
  await store.callLog.append(entry('2025-01-01T11:00:00.000Z', 'second'));
  await store.callLog.append(entry('2025-01-01T12:00:00.000Z', 'fourth, same time as third'));
  await store.callLog.append({ ...entry('2025-01-01T09:00:00.123Z', 'x'.repeat(300)), action: 'reject', caller: null, room: null, status: 484 });
  const recent = await store.callLog.recent(3);
  assert.equal(recent.map((e) => e.reason), ['fourth, same time as third', 'third', 'second']);
  assert.equal(recent[1], entry('2025-01-01T12:00:00.000Z', 'third'));
  const all = await store.callLog.recent(100);
  assert.is(all.length, 5);
  assert.equal(all[4], { at: new Date('2025-01-01T09:00:00.123Z'), action: 'reject', caller: null, source: 'udp:192.0.2.1:5060', room: null, status: 484, reason: 'x'.repeat(255), displayName: null, durationSeconds: null });
  assert.equal(await store.callLog.recent(0), []);
});

test('call log: joins and leaves with the name and the time stayed, by date range, newest first', async () => {
  await rawRows('DELETE FROM call_log');
  const line = (at: string, action: CallLogEntry['action'], extra: Partial<CallLogEntry> = {}): CallLogEntry =>
    ({ at: new Date(at), action, caller: '201', source: 'udp:192.0.2.1:5060', room: 7, status: 200, reason: 'joined', displayName: 'Ann Lee', durationSeconds: null, ...extra });
  await store.callLog.append(line('2025-02-28T23:59:59.999Z', 'join'));
  await store.callLog.append(line('2025-03-01T00:00:00.000Z', 'join'));
  await store.callLog.append(line('2025-03-01T00:10:00.000Z', 'leave', { reason: 'hung up', durationSeconds: 600 }));
  await store.callLog.append(line('2025-03-02T00:00:00.000Z', 'join', { displayName: 'n'.repeat(200) }));
  const inRange = await store.callLog.between(new Date('2025-03-01T00:00:00.000Z'), new Date('2025-03-02T00:00:00.000Z'), 100);
  assert.equal(inRange, [
    line('2025-03-01T00:10:00.000Z', 'leave', { reason: 'hung up', durationSeconds: 600 }),
    line('2025-03-01T00:00:00.000Z', 'join'),
  ]);
  assert.equal((await store.callLog.between(new Date('2025-01-01'), new Date('2026-01-01'), 1)).map((e) => e.displayName), ['n'.repeat(128)]);
  assert.equal(await store.callLog.between(new Date('2025-01-01'), new Date('2026-01-01'), 0), []);
  const leaves = await store.callLog.between(new Date('2025-01-01'), new Date('2026-01-01'), 100, ['leave']);
  assert.equal(leaves.map((e) => e.reason), ['hung up']);
});

test('live: set, update, list, clear; each box sees and clears only its own rows', async () => {
  const other = await openStore({ url: embedded.url, log, boxId: 'box-b' });
  opened.push(other);
  const t = new Date('2025-05-06T07:08:09.010Z');
  await store.live.set(3, 1, t);
  await store.live.set(3, 2, t);
  await store.live.set(4, 1, null);
  await other.live.set(3, 5, t);
  assert.equal(await store.live.list(), [
    { roomId: 3, participants: 2, startedAt: t },
    { roomId: 4, participants: 1, startedAt: null },
  ]);
  await store.live.set(4, 0, null);
  assert.equal((await store.live.list()).map((l) => l.roomId), [3]);
  await store.live.clear();
  assert.equal(await store.live.list(), []);
  assert.equal(await other.live.list(), [{ roomId: 3, participants: 5, startedAt: t }]);
  await other.live.clear();
});

test('live: a running box is listed with or without conferences, until it clears or stops refreshing', async () => {
  const other = await openStore({ url: embedded.url, log, boxId: 'box-idle' });
  opened.push(other);
  await other.live.refresh();
  assert.ok((await store.live.boxes(15, 120)).includes('box-idle'), 'a box with no conference is listed once it refreshed');
  await new Promise((r) => setTimeout(r, 20));
  assert.not.ok((await store.live.boxes(0, 120)).includes('box-idle'), 'not when its refresh is older than the freshness asked for');
  await other.live.clear();
  assert.not.ok((await store.live.boxes(15, 120)).includes('box-idle'), 'a box that cleared (it stopped) is not listed');
});

test('failure counts: each box replaces its own; a box reads the others\' summed per target, and old ones go', async () => {
  const b = await openStore({ url: embedded.url, log, boxId: 'box-b' });
  const c = await openStore({ url: embedded.url, log, boxId: 'box-c' });
  opened.push(b, c);
  const t = Date.parse('2025-07-01T10:00:00.000Z');
  await store.failureCounts.publish([{ key: '192.0.2.7', kind: 'address', failures: 9, lastAt: t }]);
  await b.failureCounts.publish([{ key: '192.0.2.7', kind: 'address', failures: 1, lastAt: t }]);
  await b.failureCounts.publish([{ key: '192.0.2.7', kind: 'address', failures: 2, lastAt: t + 1000 }, { key: 'room 5', kind: 'room', failures: 1, lastAt: t - 60_000 }]);
  await c.failureCounts.publish([{ key: '192.0.2.7', kind: 'address', failures: 3, lastAt: t + 2000 }]);
  assert.equal(await store.failureCounts.others(new Date(t - 120_000)), [
    { key: '192.0.2.7', kind: 'address', failures: 5, lastAt: t + 2000 },
    { key: 'room 5', kind: 'room', failures: 1, lastAt: t - 60_000 },
  ], 'box b\'s second word replaced its first; this box\'s own counts are not among the others\'');
  assert.equal(await store.failureCounts.others(new Date(t - 1000)), [{ key: '192.0.2.7', kind: 'address', failures: 5, lastAt: t + 2000 }]);
  assert.equal((await c.failureCounts.others(new Date(t - 120_000))).map((x) => [x.key, x.failures]), [['192.0.2.7', 11]], 'room 5 went with the older rows');
  for (const s of [store, b, c]) await s.failureCounts.publish([]);
  assert.equal(await store.failureCounts.others(new Date(0)), []);
});

test('bindings: put, refresh, list, delete; a Path comes back as it went in', async () => {
  const b = { aor: '201', contact: '<sip:201@192.0.2.10:5060;transport=udp>', source: 'udp:192.0.2.10:5060', userAgent: 'Yealink SIP-T46U 66.86.0.15', expiresAt: new Date('2025-06-07T08:09:10.111Z'), path: [] as string[] };
  const proxies = ['sip:192.0.2.40:5060;transport=tcp;lr;received=sip:192.0.2.11:40312%3Btransport%3Dtcp', 'sip:[2001:db8::40];lr'];
  await store.bindings.put(b);
  await store.bindings.put({ ...b, contact: '<sip:201@192.0.2.11:5060>', userAgent: '', path: proxies });
  await store.bindings.put({ ...b, userAgent: 'Yealink SIP-T46U 66.86.0.20 — Zoë', expiresAt: new Date('2025-06-07T09:00:00.000Z') });
  assert.equal(await store.bindings.list(), [
    { ...b, userAgent: 'Yealink SIP-T46U 66.86.0.20 — Zoë', expiresAt: new Date('2025-06-07T09:00:00.000Z') },
    { ...b, contact: '<sip:201@192.0.2.11:5060>', userAgent: '', path: proxies },
  ]);
  await store.bindings.delete('201', b.contact);
  await store.bindings.delete('201', 'sip:nobody@nowhere');
  assert.equal((await store.bindings.list()).map((x) => x.contact), ['<sip:201@192.0.2.11:5060>']);
  await store.bindings.delete('201', '<sip:201@192.0.2.11:5060>');
});

test('lockout blocks: put, replace, list, delete; rows finished more than a day ago are dropped', async () => {
  const now = new Date('2026-03-04T05:06:07.890Z');
  const t = now.getTime();
  const block = { key: 'extension 100', kind: 'extension' as const, since: t - 60_000, until: t + 60_000, failures: 5, level: 1 };
  await store.blocks.put(block);
  await store.blocks.put({ key: '192.0.2.10/104', kind: 'caller', since: t, until: t + 900_000, failures: 5, level: 1 });
  await store.blocks.put({ ...block, until: t + 120_000, level: 2 });
  await store.blocks.put({ key: 'room 2', kind: 'room', since: t - 3 * 86_400_000, until: t - 2 * 86_400_000, failures: 5, level: 1 });
  assert.equal(await store.blocks.list(now), [
    { ...block, until: t + 120_000, level: 2 },
    { key: '192.0.2.10/104', kind: 'caller', since: t, until: t + 900_000, failures: 5, level: 1 },
  ]);
  await store.blocks.delete('extension 100');
  await store.blocks.delete('192.0.2.10/104');
  assert.equal(await store.blocks.list(now), []);
});

test('SQL metacharacters and 4-byte characters are stored literally', async () => {
  const names = ["'; DROP TABLE rooms; --", 'Robert"); DROP TABLE extensions;--', 'back\\slash %_ \0 nul', 'Zoë 🎉'];
  for (const [i, displayName] of names.entries()) {
    await store.extensions.put({ number: `30${i}`, displayName, realm: "o'brien", ha1Md5: '0'.repeat(32), ha1Sha256: '1'.repeat(64) });
  }
  assert.equal((await store.extensions.list()).map((e) => e.displayName), names);
  await store.peers.put({ cidr: "10.1.1.1/32' OR '1'='1", description: '"; DELETE FROM peers; --', transport: 'any', outboundPort: null });
  assert.equal(await store.peers.list(), [{ cidr: "10.1.1.1/32' OR '1'='1", description: '"; DELETE FROM peers; --', transport: 'any', outboundPort: null }]);
  assert.equal(await store.rooms.list(), []);
  await store.rooms.insert(room(9, { creator: "' OR 1=1 --" }));
  assert.is((await store.rooms.get(9))?.creator, "' OR 1=1 --");
  for (const i of names.keys()) await store.extensions.delete(`30${i}`);
  await store.peers.delete("10.1.1.1/32' OR '1'='1");
  await store.rooms.delete(9);
});

test('a value too long for its column is a 400 naming the field', async () => {
  const { err } = await rejection(store.extensions.put({ number: '401', displayName: 'x'.repeat(129), realm: 'r', ha1Md5: '0'.repeat(32), ha1Sha256: '1'.repeat(64) }));
  assert.instance(err, BoxError);
  assert.is((err as BoxError).field, 'displayName');
  assert.is((err as BoxError).httpStatus, 400);
  assert.match((err as BoxError).message, 'display name is too long');
});

test('admin: the password hash is one row, replaced on change; API tokens are found by their hash only', async () => {
  assert.is(await store.admin.passwordHash(), null);
  await store.admin.setPasswordHash('scrypt$1$first');
  await store.admin.setPasswordHash('scrypt$1$second');
  assert.is(await store.admin.passwordHash(), 'scrypt$1$second');
  const createdAt = new Date('2026-01-02T03:04:05.678Z');
  await store.admin.addToken({ id: 'a1b2c3', label: "ops'; --", createdAt, hash: 'f'.repeat(64) });
  assert.equal(await store.admin.tokenByHash('f'.repeat(64)), { id: 'a1b2c3', label: "ops'; --", createdAt });
  assert.is(await store.admin.tokenByHash('e'.repeat(64)), null);
  assert.equal((await store.admin.tokens()).map((t) => t.id), ['a1b2c3']);
  assert.ok(await store.admin.deleteToken('a1b2c3'));
  assert.not.ok(await store.admin.deleteToken('a1b2c3'));
});

test('every statement the store sent, migrations of an empty database included, is one MySQL 8 takes too', async () => {
  const pool = openPool(embedded.url.replace('/confbox?', '/confbox_portable?'), log);
  try {
    await rawRows('CREATE DATABASE confbox_portable');
    await migrate(pool, log);
    const sent = (await rawRows("SELECT CONVERT(argument USING utf8mb4) AS text FROM mysql.general_log WHERE command_type IN ('Query', 'Execute', 'Prepare')"))
      .map((r) => String(r.text))
      .filter((t) => !t.includes('mysql.general_log'));
    assert.ok(sent.some((t) => /^ALTER TABLE rooms ADD COLUMN (IF NOT EXISTS )?moderator_pin\b/.test(t)), 'the migrations of the empty database were sent');
    assert.ok(sent.some((t) => /^INSERT INTO rooms\b/i.test(t.trim())), 'the store\'s own queries were sent');
    const refused = sent.flatMap((t) => MARIADB_ONLY.filter(([re]) => re.test(t)).map(([, what]) => `${what}: ${t.replace(/\s+/g, ' ').slice(0, 120)}`));
    assert.equal(refused, [], `${sent.length} statements sent`);
  } finally {
    await pool.end();
    await rawRows('DROP DATABASE IF EXISTS confbox_portable');
    await rawRows('SET GLOBAL general_log = 0');
  }
});

test('database stopped: ping() is false, methods fail fast with StoreUnavailable; back after restart()', async () => {
  const exits: Array<number | null> = [];
  embedded.onExit((code) => exits.push(code));
  await store.rooms.insert(room(11));
  await embedded.stop();

  const t0 = Date.now();
  assert.is(await store.ping(), false);
  assert.ok(Date.now() - t0 < 3500, 'ping answers within the deadline');
  for (const p of [store.rooms.list(), store.rooms.insert(room(12)), store.settings.get(), store.live.clear()]) {
    const { err, ms } = await rejection(p);
    assert.instance(err, StoreUnavailable);
    assert.ok(ms < 3500, `rejected after ${ms} ms`);
  }
  assert.ok(logLines.some((l) => l.includes('"database unreachable"')));

  await embedded.restart();
  assert.is(await store.ping(), true);
  assert.equal(await store.rooms.get(11), room(11));
  await store.rooms.delete(11);
  assert.equal(exits, [], 'a requested stop is not an unexpected exit');
});

/** Waits until the kernel shows every thread of the process stopped (state T); false after 5 s. */
async function allThreadsStopped(pid: number): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const states = fs.readdirSync(`/proc/${pid}/task`).map((t) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    });
    if (states.every((s) => s === 'T' || s === 't')) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

test('a hung server: queries give up at the deadline, and the pool recovers when it answers again', async () => {
  // The server this test runs, not whatever the pid file said when it was read (a restart may not have written it yet).
  const pid = embedded.pid!;
  assert.ok(pid > 0);
  await Promise.all([store.ping(), store.ping(), store.ping(), store.ping()]);
  process.kill(pid, 'SIGSTOP');
  try {
    // A signal is delivered, not obeyed at once: every thread of the server must have stopped before the queries go.
    assert.ok(await allThreadsStopped(pid), `the server (pid ${pid}) stopped`);
    const pending = [store.ping(), ...[1, 2, 3, 4, 5].map(() => rejection(store.rooms.list()))];
    const [pinged, ...failures] = await Promise.all(pending);
    assert.is(pinged, false);
    for (const f of failures as Array<{ err: unknown; ms: number }>) {
      assert.instance(f.err, StoreUnavailable);
      assert.ok(f.ms < 3500, `rejected after ${f.ms} ms`);
    }
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  assert.is(await store.ping(), true);
  assert.equal(await store.rooms.list(), []);
});

test('an unexpected exit is reported through onExit, and restart() brings the server back', async () => {
  const exited = new Promise<number | null>((resolve) => embedded.onExit(resolve));
  const pid = Number(fs.readFileSync(path.join(dataDir, 'mariadb', 'mysqld.pid'), 'utf8'));
  process.kill(pid, 'SIGKILL');
  assert.is(await exited, null);
  assert.is(await store.ping(), false);
  await embedded.restart();
  assert.is(await store.ping(), true);
  await store.rooms.insert(room(12));
  assert.is((await store.rooms.get(12))?.id, 12);
});

test('a long data directory puts the socket in the temp directory; a leftover server is stopped, not fought', async () => {
  const longDir = path.join(dataDir, 'a-rather-long-directory-name-for-the-box-data'.repeat(2));
  const first = await startEmbeddedMariaDb({ dataDir: longDir, log });
  started.push(first);
  assert.ok(first.socketPath.startsWith(os.tmpdir()));
  assert.ok(Buffer.byteLength(first.socketPath) <= 107);
  assert.ok(logLines.some((l) => l.includes('too long for a unix socket')));

  // As if the firmware had crashed: the first server still runs when a second start comes.
  const second = await startEmbeddedMariaDb({ dataDir: longDir, log });
  started.push(second);
  assert.is(second.socketPath, first.socketPath);
  assert.ok(logLines.some((l) => l.includes('left running on this data directory')));
  const s = await openStore({ url: second.url, log, boxId: 'box-long' });
  opened.push(s);
  assert.is(await s.ping(), true);
  await s.close();
  await second.stop();
  assert.not.ok(fs.existsSync(second.socketPath));
  fs.rmSync(path.dirname(second.socketPath), { recursive: true, force: true });
});

test('a bad database URL is refused with a message naming it, without the password', async () => {
  const { err } = await rejection(openStore({ url: 'postgres://u:secret@h/db', log }));
  assert.match((err as Error).message, 'postgres://u:***@h/db');
  assert.not.match((err as Error).message, 'secret');
  const noDb = await rejection(openStore({ url: 'mysql://u@h', log }));
  assert.match((noDb.err as Error).message, 'names no database');
});

test.run();
