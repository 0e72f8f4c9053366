import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import type { Pool, PoolCluster, PoolConnection, PoolOptions, ResultSetHeader, RowDataPacket, SslOptions } from 'mysql2/promise';
import { BoxError, StoreUnavailable } from '../errors.ts';
import type { Logger } from '../log.ts';
import { DEFAULT_SETTINGS, PEER_TRANSPORTS, type PeerTransport } from '../conference/types.ts';
import { MAX_TRACKED, type Block, type BlockKind, type FailureCount } from '../conference/lockout.ts';
import type { CallAction, CallLogEntry, CreatedVia, Extension, Peer, Room, Settings } from '../conference/types.ts';
import type { ApiToken, Binding, Configuration, LiveRow, Store } from './types.ts';
import { asStoreError, isDuplicateKey, isServerGone, withDeadline } from './errors.ts';
import { migrate } from './migrations.ts';

/** How long one query may take before the caller hears "unavailable": a phone is waiting. */
const QUERY_DEADLINE_MS = 3000;
const CONNECT_TIMEOUT_MS = 3000;
const POOL_SIZE = 4;
/**
 * mysql2 sizes its caches of prepared statements (per connection) and row parsers for 16,000 and 15,000 entries and
 * allocates them whole at once, about 450 KB each; the firmware sends fewer than a hundred different statements.
 */
const STATEMENT_CACHE = 256;
mysql.setMaxParserCache(STATEMENT_CACHE);
const MAX_CALL_LOG_ROWS = 10_000;
/** UTC timestamps and strict value checks, whatever the shared server's defaults are. */
const SESSION_SQL = "SET time_zone = '+00:00', sql_mode = 'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'";

export interface StoreOptions {
  /** mysql://user:pass@host:port/db, or mysql://user@localhost/db?socket=/path/to/sock */
  url: string;
  log: Logger;
  /** Names this box's rows in tables that several boxes share; defaults to the host name. */
  boxId?: string;
  /** TLS to the server (an office's database chosen on the page). */
  ssl?: SslOptions;
}

/** Where and as whom to connect, read from a database URL. */
export interface DatabaseTarget {
  host?: string;
  port?: number;
  socketPath?: string;
  user: string;
  password?: string;
  database: string;
  /** A cluster's nodes (mysql://user@h1:3306,h2:3306,h3:3306/db), in the order they are tried; host and port are the first. */
  nodes?: Array<{ host: string; port: number }>;
}

/** Where the store's connections come from: one server's pool, or a cluster's nodes. */
export type Connections = Pick<Pool, 'getConnection' | 'end'>;

/** A cluster node that failed to connect is left out this long before it is tried again. */
const NODE_RETRY_MS = 5000;
/** Galera refuses a transaction that lost certification to another node's (1213), or a node not yet synced (1047). */
const CLUSTER_RETRIES = 3;

/** Opens the pool, migrates the schema and returns the store. Rejects with StoreUnavailable when the server cannot be reached. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const boxId = checkBoxId(opts.boxId ?? os.hostname());
  const log = opts.log.child({ subsystem: 'store' });
  const pool = openConnections(opts.url, log, opts.ssl);
  try {
    await migrate(pool, log);
  } catch (err) {
    await pool.end().catch(() => undefined);
    log.error('cannot open the database', { url: redactUrl(opts.url), err: err instanceof StoreUnavailable ? err.cause : err });
    throw err;
  }
  log.info('store ready', { url: redactUrl(opts.url), boxId });
  return createStore(pool, log, boxId);
}

function poolOptions(target: Omit<DatabaseTarget, 'nodes'>): PoolOptions {
  return {
    ...target,
    connectionLimit: POOL_SIZE,
    waitForConnections: true,
    dateStrings: false,
    timezone: 'Z',
    connectTimeout: CONNECT_TIMEOUT_MS,
    enableKeepAlive: true,
    maxPreparedStatements: STATEMENT_CACHE,
    charset: 'UTF8MB4_UNICODE_CI',
  };
}

/**
 * The connections for a URL: a pool, or for several hosts mysql2's pool cluster, which takes the first node that
 * answers and leaves a node that refused out for NODE_RETRY_MS (a Galera cluster: every node takes writes).
 */
export function openConnections(url: string, log: Logger, ssl?: SslOptions): Connections {
  const target = parseDatabaseUrl(url);
  if (!target.nodes || target.nodes.length < 2) return openPool(url, log, ssl);
  const cluster: PoolCluster = mysql.createPoolCluster({ canRetry: true, removeNodeErrorCount: 1, restoreNodeTimeout: NODE_RETRY_MS, defaultSelector: 'ORDER' });
  const { nodes, ...common } = target;
  for (const [i, n] of nodes.entries()) cluster.add(`node${i + 1}`, poolOptions({ ...common, host: n.host, port: n.port }));
  cluster.on('remove', (id: string) => log.warn('database node left out after it failed; the next one is used', { node: id, retryInMs: NODE_RETRY_MS }));
  const prepared = new WeakSet<object>();
  return {
    getConnection: async () => {
      const c = await cluster.getConnection('*', 'ORDER');
      // The session settings, once for each new connection (a cluster's pools announce none).
      const core = (c as unknown as { connection: object }).connection;
      if (!prepared.has(core)) {
        await c.query(SESSION_SQL);
        prepared.add(core);
      }
      return c;
    },
    end: () => cluster.end(),
  };
}

/** A mysql2 pool for the URL's (first) server; every new connection is switched to UTC and strict mode. */
export function openPool(url: string, log: Logger, ssl?: SslOptions): Pool {
  const { nodes: _nodes, ...target } = parseDatabaseUrl(url);
  const pool = mysql.createPool({ ...poolOptions(target), ...(ssl ? { ssl } : {}) });
  pool.on('connection', (conn) => {
    // mysql2 hands this event its callback-style connection, whatever the typings say.
    const core = conn as unknown as { query(sql: string, cb: (err: Error | null) => void): void };
    core.query(SESSION_SQL, (err) => {
      if (err) log.warn('could not set the database session to UTC and strict mode', { err });
    });
  });
  return pool;
}

export function parseDatabaseUrl(url: string): DatabaseTarget {
  // Several hosts (a cluster): the URL is read with the first, then the list is checked on its own.
  const list = /^([a-z]+:\/\/(?:[^@/]*@)?)([^/?#]*,[^/?#]*)(.*)$/i.exec(url);
  if (list) {
    const hosts = list[2]!.split(',');
    const nodes = hosts.map((h) => {
      if (h === '') throw badUrl(url, 'its host list has an empty entry');
      let t: DatabaseTarget;
      try {
        t = parseDatabaseUrl(`${list[1]}${h}${list[3]}`);
      } catch (e) {
        throw badUrl(url, `its host "${h}" is not a host or host:port (${/not usable: (.*?); expected/.exec((e as Error).message)?.[1] ?? 'unreadable'})`);
      }
      if (t.socketPath) throw badUrl(url, 'a host list cannot go with a socket');
      return { host: t.host!, port: t.port! };
    });
    const first = parseDatabaseUrl(`${list[1]}${hosts[0]}${list[3]}`);
    return { ...first, nodes };
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw badUrl(url, 'it is not a URL');
  }
  if (u.protocol !== 'mysql:' && u.protocol !== 'mariadb:') throw badUrl(url, `the scheme is ${u.protocol}, not mysql:`);
  for (const key of u.searchParams.keys()) {
    if (key !== 'socket') throw badUrl(url, `it has an unknown option "${key}"`);
  }
  const user = decodeURIComponent(u.username);
  const password = u.password === '' ? undefined : decodeURIComponent(u.password);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (user === '') throw badUrl(url, 'it names no user');
  if (database === '' || database.includes('/')) throw badUrl(url, 'it names no database');
  const socketPath = u.searchParams.get('socket');
  if (socketPath !== null) {
    if (!path.isAbsolute(socketPath)) throw badUrl(url, 'the socket is not an absolute path');
    return { socketPath, user, password, database };
  }
  if (u.hostname === '') throw badUrl(url, 'it names no host');
  const port = u.port === '' ? 3306 : Number(u.port);
  // URL keeps the brackets of an IPv6 host.
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port, user, password, database };
}

/** The URL with its password hidden, for logs and messages. */
export function redactUrl(url: string): string {
  if (!/^[a-z]+:\/\//i.test(url)) return '(not a URL)';
  return url.replace(/^([a-z]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

function badUrl(url: string, why: string): Error {
  return new Error(
    `database URL ${redactUrl(url)} is not usable: ${why}; expected mysql://user:pass@host:port/db or mysql://user@localhost/db?socket=/path/to/sock`,
  );
}

function checkBoxId(boxId: string): string {
  if (boxId === '' || [...boxId].length > 64) throw new Error(`box id "${boxId}" must be 1..64 characters`);
  return boxId;
}

type Param = string | number | Date | null;

/** The two ways the store talks to the pool, both bounded by the query deadline. */
interface Db {
  rows(sql: string, params?: Param[]): Promise<RowDataPacket[]>;
  /** Resolves the number of affected rows. */
  run(sql: string, params?: Param[]): Promise<number>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
  /** Runs work on one connection inside a transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(work: (tx: Db) => Promise<T>): Promise<T>;
}

/** Restoring a configuration writes a few hundred rows at most; it gets longer than one query. */
const TRANSACTION_DEADLINE_MS = 20_000;

/** Whether a failed unit of work may simply run again: Galera refused it before anything was committed. */
function clusterRefused(err: unknown): boolean {
  const e = err as { errno?: number; code?: string };
  return e?.errno === 1213 || e?.errno === 1047 || e?.code === 'ER_LOCK_DEADLOCK';
}

async function retryingRefusals<T>(work: () => Promise<T>, log: Logger): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= CLUSTER_RETRIES || !clusterRefused(err)) throw err;
      log.info('the database cluster refused a change (a conflict with another node, or a node not synced); trying again', { attempt, err: (err as Error).message });
    }
  }
}

function createDb(pool: Connections, log: Logger): Db {
  const health = healthReporter(log);
  let closed: Promise<void> | undefined;
  const execute = async <T>(work: (conn: PoolConnection) => Promise<T>): Promise<T> => {
    try {
      const result = await retryingRefusals(() => onConnection(pool, QUERY_DEADLINE_MS, work), log);
      health.reachable();
      return result;
    } catch (err) {
      const e = asStoreError(err);
      if (e instanceof StoreUnavailable && closed === undefined) health.unreachable(err);
      throw e;
    }
  };
  return {
    rows: (sql, params = []) => execute(async (c) => (await c.execute<RowDataPacket[]>(sql, params))[0]),
    run: (sql, params = []) => execute(async (c) => (await c.execute<ResultSetHeader>(sql, params))[0].affectedRows),
    ping: () => execute((c) => c.query('SELECT 1')).then(() => true, () => false),
    close: () => (closed ??= pool.end()),
    transaction: async (work) => {
      try {
        return await retryingRefusals(() => onConnection(pool, TRANSACTION_DEADLINE_MS, async (c) => {
          await c.beginTransaction();
          const tx: Db = {
            rows: async (sql, params = []) => (await c.execute<RowDataPacket[]>(sql, params))[0],
            run: async (sql, params = []) => (await c.execute<ResultSetHeader>(sql, params))[0].affectedRows,
            ping: async () => true,
            close: async () => undefined,
            transaction: () => Promise.reject(new Error('transactions do not nest')),
          };
          try {
            const result = await work(tx);
            await c.commit();
            return result;
          } catch (err) {
            await c.rollback().catch(() => undefined);
            throw err;
          }
        }), log);
      } catch (err) {
        throw asStoreError(err);
      }
    },
  };
}

/**
 * Runs `work` on a pooled connection. Past the deadline the caller is answered at once; a
 * connection still busy then is destroyed, so a hung server cannot use up the pool.
 */
function onConnection<T>(pool: Connections, ms: number, work: (conn: PoolConnection) => Promise<T>): Promise<T> {
  let conn: PoolConnection | undefined;
  let abandoned = false;
  const attempt = (async () => {
    const c = await pool.getConnection();
    if (abandoned) {
      c.release();
      throw new StoreUnavailable();
    }
    conn = c;
    let reusable = true;
    try {
      return await work(c);
    } catch (err) {
      reusable = !isServerGone(err);
      throw err;
    } finally {
      // Past the deadline the connection was destroyed already.
      if (!abandoned) {
        if (reusable) c.release();
        else c.destroy();
      }
    }
  })();
  return withDeadline(attempt, ms, () => {
    abandoned = true;
    conn?.destroy();
  });
}

/** One log line when the database goes away and one when it is back, not one per query. */
function healthReporter(log: Logger): { reachable(): void; unreachable(err: unknown): void } {
  let up = true;
  return {
    reachable() {
      if (!up) log.info('database reachable again');
      up = true;
    },
    unreachable(err) {
      if (up) log.warn('database unreachable', { err: err instanceof StoreUnavailable ? err.cause : err });
      up = false;
    },
  };
}

function createStore(pool: Connections, log: Logger, boxId: string): Store {
  const db = createDb(pool, log);
  return {
    rooms: roomsTable(db),
    extensions: extensionsTable(db),
    peers: peersTable(db),
    settings: settingsTable(db, log),
    callLog: callLogTable(db),
    live: liveTable(db, boxId),
    bindings: bindingsTable(db),
    blocks: blocksTable(db),
    failureCounts: failureCountsTable(db, boxId),
    admin: adminTables(db),
    changes: {
      version: async () => Number((await db.rows('SELECT version FROM config_changes WHERE id = 1'))[0]?.version ?? 0),
      bump: async () => void (await db.run('UPDATE config_changes SET version = version + 1 WHERE id = 1')),
    },
    configuration: {
      read: () => readConfiguration(db),
      replace: (c) => db.transaction(async (tx) => {
        for (const table of ['rooms', 'extensions', 'peers', 'settings', 'api_tokens', 'web_admin']) await tx.run(`DELETE FROM ${table}`);
        for (const room of c.rooms) await roomsTable(tx).insert(room);
        for (const ext of c.extensions) await extensionsTable(tx).put(ext);
        for (const peer of c.peers) await peersTable(tx).put(peer);
        for (const { name, value } of c.settings) await tx.run('INSERT INTO settings (name, value) VALUES (?, ?)', [name, value]);
        const admin = adminTables(tx);
        if (c.adminPasswordHash !== null) await admin.setPasswordHash(c.adminPasswordHash);
        for (const token of c.tokens) await admin.addToken(token);
        await tx.run('UPDATE config_changes SET version = version + 1 WHERE id = 1');
      }),
    },
    ping: () => db.ping(),
    close: () => db.close(),
  };
}

async function readConfiguration(db: Db): Promise<Configuration> {
  const [rooms, extensions, peers, settings, adminPasswordHash, tokens] = await Promise.all([
    roomsTable(db).list(), extensionsTable(db).list(), peersTable(db).list(),
    db.rows('SELECT name, value FROM settings ORDER BY name'), adminTables(db).passwordHash(),
    db.rows('SELECT id, token_hash, label, created_at FROM api_tokens ORDER BY created_at'),
  ]);
  return {
    rooms, extensions, peers, adminPasswordHash,
    settings: settings.map((r) => ({ name: String(r.name), value: String(r.value) })),
    tokens: tokens.map((r) => ({ ...toToken(r), hash: String(r.token_hash) })),
  };
}

function roomsTable(db: Db): Store['rooms'] {
  const columns = 'id, pin, duration, creator, max_participants, created_at, created_via, keep_after_meeting, moderator_pin, record_meetings, wait_for_moderator, moderator_leaves';
  return {
    list: async () => (await db.rows(`SELECT ${columns} FROM rooms ORDER BY id`)).map(toRoom),
    get: async (id) => {
      const [row] = await db.rows(`SELECT ${columns} FROM rooms WHERE id = ?`, [id]);
      return row === undefined ? null : toRoom(row);
    },
    insert: async (room) => {
      try {
        await db.run(
          `INSERT INTO rooms (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [room.id, room.pin, room.duration, room.creator, room.maxParticipants, room.createdAt, room.createdVia, room.keep ? 1 : 0, room.moderatorPin, room.record ? 1 : 0, room.waitForModerator ? 1 : 0, room.moderatorLeaves],
        );
      } catch (err) {
        // The primary key decides, so two boxes creating the same room cannot both win.
        if (isDuplicateKey(err)) throw new BoxError(403, `room ${room.id} already exists`, 'id', 'exists');
        throw err;
      }
    },
    update: async (room) => (await db.run(
      'UPDATE rooms SET pin = ?, duration = ?, creator = ?, max_participants = ?, keep_after_meeting = ?, moderator_pin = ?, record_meetings = ?, wait_for_moderator = ?, moderator_leaves = ? WHERE id = ?',
      [room.pin, room.duration, room.creator, room.maxParticipants, room.keep ? 1 : 0, room.moderatorPin, room.record ? 1 : 0, room.waitForModerator ? 1 : 0, room.moderatorLeaves, room.id],
    )) > 0,
    delete: async (id) => (await db.run('DELETE FROM rooms WHERE id = ?', [id])) > 0,
  };
}

function toRoom(r: RowDataPacket): Room {
  return {
    id: Number(r.id),
    pin: String(r.pin),
    duration: Number(r.duration),
    creator: r.creator === null ? null : String(r.creator),
    maxParticipants: r.max_participants === null ? null : Number(r.max_participants),
    createdAt: r.created_at as Date,
    createdVia: String(r.created_via) as CreatedVia,
    keep: Number(r.keep_after_meeting) === 1,
    moderatorPin: r.moderator_pin === null || r.moderator_pin === undefined ? null : String(r.moderator_pin),
    record: Number(r.record_meetings) === 1,
    waitForModerator: Number(r.wait_for_moderator) === 1,
    moderatorLeaves: r.moderator_leaves === 'end' ? 'end' : 'continue',
  };
}

function extensionsTable(db: Db): Store['extensions'] {
  const columns = 'number, display_name, realm, ha1_md5, ha1_sha256';
  return {
    list: async () => (await db.rows(`SELECT ${columns} FROM extensions ORDER BY number`)).map(toExtension),
    get: async (number) => {
      const [row] = await db.rows(`SELECT ${columns} FROM extensions WHERE number = ?`, [number]);
      return row === undefined ? null : toExtension(row);
    },
    put: async (ext) => {
      await db.run(
        `INSERT INTO extensions (${columns}) VALUES (?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE display_name = VALUES(display_name), realm = VALUES(realm),
           ha1_md5 = VALUES(ha1_md5), ha1_sha256 = VALUES(ha1_sha256)`,
        [ext.number, ext.displayName, ext.realm, ext.ha1Md5, ext.ha1Sha256],
      );
    },
    delete: async (number) => (await db.run('DELETE FROM extensions WHERE number = ?', [number])) > 0,
  };
}

function toExtension(r: RowDataPacket): Extension {
  return {
    number: String(r.number),
    displayName: String(r.display_name),
    realm: String(r.realm),
    ha1Md5: String(r.ha1_md5),
    ha1Sha256: String(r.ha1_sha256),
  };
}

function peersTable(db: Db): Store['peers'] {
  return {
    list: async () =>
      (await db.rows('SELECT cidr, description, transport, outbound_port FROM peers ORDER BY cidr')).map(
        (r): Peer => ({
          cidr: String(r.cidr), description: String(r.description), transport: toPeerTransport(r.transport),
          outboundPort: r.outbound_port === null || r.outbound_port === undefined ? null : Number(r.outbound_port),
        }),
      ),
    put: async (peer) => {
      await db.run(
        'INSERT INTO peers (cidr, description, transport, outbound_port) VALUES (?, ?, ?, ?) ON DUPLICATE KEY UPDATE description = VALUES(description), transport = VALUES(transport), outbound_port = VALUES(outbound_port)',
        [peer.cidr, peer.description, peer.transport, peer.outboundPort],
      );
    },
    delete: async (cidr) => (await db.run('DELETE FROM peers WHERE cidr = ?', [cidr])) > 0,
  };
}

/** A value written by hand that the firmware does not know trusts the peer over nothing weaker than TLS. */
function toPeerTransport(v: unknown): PeerTransport {
  const t = String(v);
  return (PEER_TRANSPORTS as readonly string[]).includes(t) ? (t as PeerTransport) : 'tls';
}

function settingsTable(db: Db, log: Logger): Store['settings'] {
  return {
    get: async () => {
      const settings: Settings = { ...DEFAULT_SETTINGS };
      for (const row of await db.rows('SELECT name, value FROM settings')) {
        applyStoredSetting(settings, String(row.name), String(row.value), log);
      }
      return settings;
    },
    set: async (key, value) => {
      checkSetting(key, value);
      await db.run(
        'INSERT INTO settings (name, value) VALUES (?, ?) ON DUPLICATE KEY UPDATE value = VALUES(value)',
        [key, JSON.stringify(value)],
      );
    },
  };
}

function isSettingName(name: string): name is keyof Settings {
  return Object.prototype.hasOwnProperty.call(DEFAULT_SETTINGS, name);
}

/** A row another firmware version wrote, or one edited by hand, must not break the box: it is skipped. */
function applyStoredSetting(settings: Settings, name: string, text: string, log: Logger): void {
  if (!isSettingName(name)) return;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    log.warn('ignoring a stored setting that is not JSON', { name });
    return;
  }
  if (typeof value !== typeof DEFAULT_SETTINGS[name]) {
    log.warn('ignoring a stored setting of the wrong type', { name });
    return;
  }
  (settings as unknown as Record<string, unknown>)[name] = value;
}

function checkSetting(key: string, value: unknown): void {
  if (!isSettingName(key)) throw new BoxError(400, `there is no setting called ${key}`, key);
  const expected = typeof DEFAULT_SETTINGS[key];
  if (typeof value !== expected || (typeof value === 'number' && !Number.isFinite(value))) {
    throw new BoxError(400, `setting ${key} must be a ${expected}`, key);
  }
}

const CALL_LOG_COLUMNS = 'at, action, caller, source, room, status, reason, display_name, duration_s';

function callLogTable(db: Db): Store['callLog'] {
  return {
    append: async (e) => {
      // A log line is never refused for its length: long values are cut to the column.
      await db.run(
        'INSERT INTO call_log (at, action, caller, source, room, status, reason, display_name, duration_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        [
          e.at, e.action, e.caller === null ? null : clip(e.caller, 128), clip(e.source, 64), e.room, e.status, clip(e.reason, 255),
          e.displayName == null ? null : clip(e.displayName, 128), e.durationSeconds == null ? null : Math.round(e.durationSeconds),
        ],
      );
    },
    recent: async (limit) => {
      const n = Math.min(MAX_CALL_LOG_ROWS, Math.max(0, Math.trunc(limit) || 0));
      if (n === 0) return [];
      const rows = await db.rows(`SELECT ${CALL_LOG_COLUMNS} FROM call_log ORDER BY at DESC, id DESC LIMIT ?`, [n]);
      return rows.map(toCallLogEntry);
    },
    between: async (from, to, limit, actions) => {
      const n = Math.min(MAX_CALL_LOG_ROWS, Math.max(0, Math.trunc(limit) || 0));
      if (n === 0 || actions?.length === 0) return [];
      const only = actions ? ` AND action IN (${actions.map(() => '?').join(', ')})` : '';
      const rows = await db.rows(
        `SELECT ${CALL_LOG_COLUMNS} FROM call_log WHERE at >= ? AND at < ?${only} ORDER BY at DESC, id DESC LIMIT ?`,
        [from, to, ...(actions ?? []), n],
      );
      return rows.map(toCallLogEntry);
    },
  };
}

/** Cuts by characters, as VARCHAR counts them, not by UTF-16 units. */
function clip(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : chars.slice(0, max).join('');
}

function toCallLogEntry(r: RowDataPacket): CallLogEntry {
  return {
    at: r.at as Date,
    action: String(r.action) as CallAction,
    caller: r.caller === null ? null : String(r.caller),
    source: String(r.source),
    room: r.room === null ? null : Number(r.room),
    status: Number(r.status),
    reason: String(r.reason),
    displayName: r.display_name === null ? null : String(r.display_name),
    durationSeconds: r.duration_s === null ? null : Number(r.duration_s),
  };
}

function liveTable(db: Db, boxId: string): Store['live'] {
  return {
    set: async (roomId, participants, startedAt) => {
      // An empty room is no conference: its row goes.
      if (participants <= 0) {
        await db.run('DELETE FROM live_conferences WHERE box = ? AND room_id = ?', [boxId, roomId]);
        return;
      }
      await db.run(
        `INSERT INTO live_conferences (box, room_id, participants, started_at, refreshed_at) VALUES (?, ?, ?, ?, NOW(3))
         ON DUPLICATE KEY UPDATE participants = VALUES(participants), started_at = VALUES(started_at), refreshed_at = NOW(3)`,
        [boxId, roomId, participants, startedAt],
      );
    },
    refresh: async () => {
      await db.run('INSERT INTO boxes (box, refreshed_at) VALUES (?, NOW(3)) ON DUPLICATE KEY UPDATE refreshed_at = NOW(3)', [boxId]);
      await db.run('UPDATE live_conferences SET refreshed_at = NOW(3) WHERE box = ?', [boxId]);
    },
    boxes: async (freshSeconds, expireSeconds) => {
      await db.run('DELETE FROM boxes WHERE refreshed_at < NOW(3) - INTERVAL ? SECOND', [expireSeconds]);
      return (await db.rows('SELECT box FROM boxes WHERE refreshed_at >= NOW(3) - INTERVAL ? SECOND ORDER BY box', [freshSeconds])).map((r) => String(r.box));
    },
    everywhere: async (freshSeconds, expireSeconds) => {
      await db.run('DELETE FROM live_conferences WHERE refreshed_at < NOW(3) - INTERVAL ? SECOND', [expireSeconds]);
      return (await db.rows(
        'SELECT box, room_id, participants, started_at, refreshed_at FROM live_conferences WHERE refreshed_at >= NOW(3) - INTERVAL ? SECOND ORDER BY box, room_id',
        [freshSeconds],
      )).map((r): LiveRow => ({
        box: String(r.box), roomId: Number(r.room_id), participants: Number(r.participants),
        startedAt: r.started_at === null ? null : (r.started_at as Date), refreshedAt: r.refreshed_at as Date,
      }));
    },
    clear: async () => {
      await db.run('DELETE FROM live_conferences WHERE box = ?', [boxId]);
      await db.run('DELETE FROM boxes WHERE box = ?', [boxId]);
    },
    list: async () =>
      (await db.rows('SELECT room_id, participants, started_at FROM live_conferences WHERE box = ? ORDER BY room_id', [boxId])).map(
        (r) => ({
          roomId: Number(r.room_id),
          participants: Number(r.participants),
          startedAt: r.started_at === null ? null : (r.started_at as Date),
        }),
      ),
  };
}

/** A binding's Path as stored: a JSON array of URIs, or '' for none. */
function pathOfColumn(v: unknown): string[] {
  if (typeof v !== 'string' || v === '') return [];
  try {
    const list: unknown = JSON.parse(v);
    return Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function bindingsTable(db: Db): Store['bindings'] {
  const binding = (r: RowDataPacket): Binding => ({
    aor: String(r.aor),
    contact: String(r.contact),
    source: String(r.source),
    userAgent: String(r.user_agent),
    expiresAt: r.expires_at as Date,
    path: pathOfColumn(r.path),
  });
  return {
    list: async () => (await db.rows('SELECT aor, contact, source, user_agent, expires_at, path FROM bindings ORDER BY aor, contact')).map(binding),
    of: async (aor, now) =>
      (await db.rows('SELECT aor, contact, source, user_agent, expires_at, path FROM bindings WHERE aor = ? AND expires_at > ? ORDER BY expires_at DESC', [aor, now])).map(binding),
    put: async (b) => {
      await db.run(
        `INSERT INTO bindings (aor, contact, source, user_agent, expires_at, path) VALUES (?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE source = VALUES(source), user_agent = VALUES(user_agent), expires_at = VALUES(expires_at), path = VALUES(path)`,
        [b.aor, b.contact, b.source, b.userAgent, b.expiresAt, b.path.length ? JSON.stringify(b.path) : ''],
      );
    },
    delete: async (aor, contact) => {
      await db.run('DELETE FROM bindings WHERE aor = ? AND contact = ?', [aor, contact]);
    },
  };
}

/** A finished block is kept a day: the next block of the same extension or room is longer. */
const BLOCK_MEMORY_MS = 24 * 60 * 60 * 1000;

function blocksTable(db: Db): Store['blocks'] {
  return {
    list: async (now) => {
      await db.run('DELETE FROM lockout_blocks WHERE until < ?', [new Date(now.getTime() - BLOCK_MEMORY_MS)]);
      return (await db.rows('SELECT target, kind, since, until, failures, level FROM lockout_blocks ORDER BY since')).map(
        (r): Block => ({
          key: String(r.target),
          kind: String(r.kind) as BlockKind,
          since: (r.since as Date).getTime(),
          until: (r.until as Date).getTime(),
          failures: Number(r.failures),
          level: Number(r.level),
        }),
      );
    },
    put: async (b) => {
      await db.run(
        `INSERT INTO lockout_blocks (target, kind, since, until, failures, level) VALUES (?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE kind = VALUES(kind), since = VALUES(since), until = VALUES(until), failures = VALUES(failures), level = VALUES(level)`,
        [clip(b.key, 192), b.kind, new Date(b.since), new Date(b.until), b.failures, b.level],
      );
    },
    delete: async (key) => {
      await db.run('DELETE FROM lockout_blocks WHERE target = ?', [key]);
    },
  };
}

/** Rows per INSERT when a box tells its failure counts. */
const COUNT_ROWS_PER_INSERT = 200;

function failureCountsTable(db: Db, boxId: string): Store['failureCounts'] {
  return {
    publish: (counts) => db.transaction(async (tx) => {
      await tx.run('DELETE FROM lockout_failures WHERE box = ?', [boxId]);
      for (let i = 0; i < counts.length; i += COUNT_ROWS_PER_INSERT) {
        const part = counts.slice(i, i + COUNT_ROWS_PER_INSERT);
        await tx.run(
          `INSERT INTO lockout_failures (box, target, kind, failures, last_at) VALUES ${part.map(() => '(?, ?, ?, ?, ?)').join(', ')}
           ON DUPLICATE KEY UPDATE failures = failures + VALUES(failures), last_at = GREATEST(last_at, VALUES(last_at))`,
          part.flatMap((c) => [boxId, clip(c.key, 192), c.kind, c.failures, new Date(c.lastAt)]),
        );
      }
    }),
    others: async (since) => {
      await db.run('DELETE FROM lockout_failures WHERE last_at < ?', [since]);
      return (await db.rows(
        `SELECT target, MIN(kind) AS kind, SUM(failures) AS failures, MAX(last_at) AS last_at FROM lockout_failures
         WHERE box <> ? AND last_at >= ? GROUP BY target ORDER BY target LIMIT ${MAX_TRACKED}`,
        [boxId, since],
      )).map((r): FailureCount => ({
        key: String(r.target), kind: String(r.kind) as BlockKind, failures: Number(r.failures), lastAt: (r.last_at as Date).getTime(),
      }));
    },
  };
}

function toToken(r: RowDataPacket): ApiToken {
  return { id: String(r.id), label: String(r.label), createdAt: new Date(r.created_at) };
}

function adminTables(db: Db): Store['admin'] {
  return {
    passwordHash: async () => {
      const [row] = await db.rows('SELECT password_hash FROM web_admin WHERE id = 1');
      return row ? String(row.password_hash) : null;
    },
    setFirstPasswordHash: async (hash) => {
      // The primary key decides: of two first-use requests at once, one inserts and the other changes nothing.
      const inserted = await db.run('INSERT IGNORE INTO web_admin (id, password_hash, updated_at) VALUES (1, ?, UTC_TIMESTAMP(3))', [hash]);
      return inserted === 1;
    },
    setPasswordHash: async (hash) => {
      await db.run(
        'INSERT INTO web_admin (id, password_hash, updated_at) VALUES (1, ?, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash), updated_at = VALUES(updated_at)',
        [hash],
      );
    },
    tokens: async () => (await db.rows('SELECT id, label, created_at FROM api_tokens ORDER BY created_at')).map(toToken),
    tokenByHash: async (hash) => {
      const [row] = await db.rows('SELECT id, label, created_at FROM api_tokens WHERE token_hash = ?', [hash]);
      return row ? toToken(row) : null;
    },
    addToken: async (t) => {
      await db.run('INSERT INTO api_tokens (id, token_hash, label, created_at) VALUES (?, ?, ?, ?)', [t.id, t.hash, t.label, t.createdAt]);
    },
    deleteToken: async (id) => (await db.run('DELETE FROM api_tokens WHERE id = ?', [id])) > 0,
  };
}
