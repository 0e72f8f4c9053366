import type { Pool, PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { Logger } from '../log.ts';
import { asStoreError, isServerGone } from './errors.ts';

/**
 * A column added to a table that may already have it (a step repeated by a second box, or one whose record was lost):
 * MySQL has no ADD COLUMN IF NOT EXISTS (MariaDB's own), so the column is looked up first.
 */
export interface AddColumn {
  addColumn: { table: string; column: string; definition: string };
}

/** One step of the schema. Applied once, in order, and recorded in schema_version. */
export interface Migration {
  version: number;
  name: string;
  /** SQL that MySQL 8 and MariaDB 10.6 both take, or a column to add. */
  statements: Array<string | AddColumn>;
}

function addColumn(table: string, column: string, definition: string): AddColumn {
  return { addColumn: { table, column, definition } };
}

const TABLE_OPTIONS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci';

/** Ordered by version; never edit a released step, append a new one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'rooms, extensions, peers, settings, call log, live conferences, bindings',
    statements: [
      `CREATE TABLE IF NOT EXISTS rooms (
        id SMALLINT NOT NULL PRIMARY KEY,
        pin VARCHAR(16) NOT NULL,
        duration INT NOT NULL,
        creator VARCHAR(32) NULL,
        max_participants INT NULL,
        created_at DATETIME(3) NOT NULL,
        created_via VARCHAR(8) NOT NULL
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS extensions (
        number VARCHAR(32) NOT NULL PRIMARY KEY,
        display_name VARCHAR(128) NOT NULL,
        realm VARCHAR(128) NOT NULL,
        ha1_md5 CHAR(32) NOT NULL,
        ha1_sha256 CHAR(64) NOT NULL
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS peers (
        cidr VARCHAR(64) NOT NULL PRIMARY KEY,
        description VARCHAR(255) NOT NULL
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS settings (
        name VARCHAR(64) NOT NULL PRIMARY KEY,
        value TEXT NOT NULL
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS call_log (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        at DATETIME(3) NOT NULL,
        action VARCHAR(16) NOT NULL,
        caller VARCHAR(128) NULL,
        source VARCHAR(64) NOT NULL,
        room INT NULL,
        status SMALLINT NOT NULL,
        reason VARCHAR(255) NOT NULL,
        INDEX call_log_at (at)
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS live_conferences (
        box VARCHAR(64) NOT NULL,
        room_id SMALLINT NOT NULL,
        participants INT NOT NULL,
        started_at DATETIME(3) NULL,
        PRIMARY KEY (box, room_id)
      ) ${TABLE_OPTIONS}`,
      // Binary collation: a contact is matched exactly as the phone sent it.
      `CREATE TABLE IF NOT EXISTS bindings (
        aor VARCHAR(32) NOT NULL,
        contact VARCHAR(512) NOT NULL,
        source VARCHAR(64) NOT NULL,
        expires_at DATETIME(3) NOT NULL,
        PRIMARY KEY (aor, contact)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ],
  },
  {
    version: 2,
    name: 'web page admin password and API tokens',
    statements: [
      `CREATE TABLE IF NOT EXISTS web_admin (
        id TINYINT NOT NULL PRIMARY KEY,
        password_hash VARCHAR(255) NOT NULL,
        updated_at DATETIME(3) NOT NULL
      ) ${TABLE_OPTIONS}`,
      `CREATE TABLE IF NOT EXISTS api_tokens (
        id VARCHAR(16) NOT NULL PRIMARY KEY,
        token_hash CHAR(64) NOT NULL,
        label VARCHAR(64) NOT NULL,
        created_at DATETIME(3) NOT NULL,
        UNIQUE KEY api_tokens_hash (token_hash)
      ) ${TABLE_OPTIONS}`,
    ],
  },
  {
    version: 3,
    name: 'lockout blocks',
    statements: [
      // Binary collation: a key names an address, a caller or a target exactly as the box wrote it.
      `CREATE TABLE IF NOT EXISTS lockout_blocks (
        target VARCHAR(192) NOT NULL PRIMARY KEY,
        kind VARCHAR(16) NOT NULL,
        since DATETIME(3) NOT NULL,
        until DATETIME(3) NOT NULL,
        failures INT NOT NULL,
        level INT NOT NULL,
        INDEX lockout_blocks_until (until)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ],
  },
  {
    version: 4,
    name: 'transports a trusted peer is trusted over',
    statements: [
      addColumn('peers', 'transport', "VARCHAR(8) NOT NULL DEFAULT 'any'"),
    ],
  },
  {
    version: 5,
    name: 'rooms kept after their meeting',
    statements: [
      addColumn('rooms', 'keep_after_meeting', 'TINYINT(1) NOT NULL DEFAULT 0'),
    ],
  },
  {
    version: 6,
    name: 'a change counter raised by technician commands',
    statements: [
      `CREATE TABLE IF NOT EXISTS config_changes (
        id TINYINT NOT NULL PRIMARY KEY,
        version BIGINT NOT NULL
      ) ${TABLE_OPTIONS}`,
      'INSERT IGNORE INTO config_changes (id, version) VALUES (1, 0)',
    ],
  },
  {
    version: 7,
    name: 'the User-Agent a registered phone names itself with',
    statements: [
      addColumn('bindings', 'user_agent', "VARCHAR(255) NOT NULL DEFAULT ''"),
    ],
  },
  {
    version: 8,
    name: 'the call log names who joined and how long they stayed',
    statements: [
      addColumn('call_log', 'display_name', 'VARCHAR(128) NULL'),
      addColumn('call_log', 'duration_s', 'INT NULL'),
    ],
  },
  {
    version: 9,
    name: "a room's moderator PIN",
    statements: [
      addColumn('rooms', 'moderator_pin', 'VARCHAR(16) NULL'),
    ],
  },
  {
    version: 10,
    name: 'rooms whose meetings are recorded',
    statements: [
      addColumn('rooms', 'record_meetings', 'TINYINT(1) NOT NULL DEFAULT 0'),
    ],
  },
  {
    version: 11,
    name: 'rooms whose callers wait for the moderator',
    statements: [
      addColumn('rooms', 'wait_for_moderator', 'TINYINT(1) NOT NULL DEFAULT 0'),
      addColumn('rooms', 'moderator_leaves', "VARCHAR(8) NOT NULL DEFAULT 'continue'"),
    ],
  },
  {
    version: 12,
    name: 'the trusted peer that is the outbound PBX',
    statements: [
      addColumn('peers', 'outbound_port', 'INT NULL'),
    ],
  },
  {
    version: 13,
    name: 'live conferences say when their box last vouched for them',
    statements: [
      addColumn('live_conferences', 'refreshed_at', 'DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)'),
    ],
  },
  {
    version: 14,
    name: 'failed attempts each box counted, for the lockout every box shares',
    statements: [
      `CREATE TABLE IF NOT EXISTS lockout_failures (
        box VARCHAR(64) NOT NULL,
        target VARCHAR(192) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        failures INT NOT NULL,
        last_at DATETIME(3) NOT NULL,
        PRIMARY KEY (box, target),
        INDEX lockout_failures_last (last_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ],
  },
  {
    version: 15,
    name: 'registrations remember the proxies a phone registered through (Path)',
    statements: [
      addColumn('bindings', 'path', "VARCHAR(1024) NOT NULL DEFAULT ''"),
    ],
  },
  {
    version: 16,
    name: 'every box running on the database says so, conferences or none',
    statements: [
      `CREATE TABLE IF NOT EXISTS boxes (
        box VARCHAR(64) NOT NULL PRIMARY KEY,
        refreshed_at DATETIME(3) NOT NULL
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ],
  },
];

const LOCK_NAME = 'confbox_migrate';
const LOCK_WAIT_SECONDS = 10;

/**
 * Brings the schema up to the newest version. Safe when several boxes start at once:
 * they queue on a named lock, and every step is written to be harmless when repeated.
 */
export async function migrate(pool: Pick<Pool, 'getConnection'>, log: Logger, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  let conn: PoolConnection;
  try {
    conn = await pool.getConnection();
  } catch (err) {
    throw asStoreError(err);
  }
  try {
    await migrateOn(conn, log, migrations);
    conn.release();
  } catch (err) {
    // Closing the connection also ends its lock and any transaction left open.
    conn.destroy();
    throw asStoreError(err);
  }
}

async function migrateOn(conn: PoolConnection, log: Logger, migrations: readonly Migration[]): Promise<void> {
  const locked = await takeLock(conn, log);
  await ensureVersionTable(conn);
  const applied = await appliedVersions(conn);
  warnIfNewer(applied, migrations, log);
  for (const m of migrations) {
    if (!applied.has(m.version)) await apply(conn, m, log);
  }
  if (locked) await conn.query('DO RELEASE_LOCK(?)', [LOCK_NAME]);
}

/** Resolves false when the server has no named locks (Galera): the steps are idempotent anyway. */
async function takeLock(conn: PoolConnection, log: Logger): Promise<boolean> {
  let got: unknown;
  try {
    const [rows] = await conn.query<RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [LOCK_NAME, LOCK_WAIT_SECONDS]);
    got = rows[0]?.got;
  } catch (err) {
    if (isServerGone(err)) throw err;
    log.warn('schema migration runs without a lock: the server refused GET_LOCK', { err });
    return false;
  }
  if (Number(got) === 1) return true;
  throw new Error(`another process held the schema migration lock '${LOCK_NAME}' for more than ${LOCK_WAIT_SECONDS} s`);
}

async function ensureVersionTable(conn: PoolConnection): Promise<void> {
  await conn.query(`CREATE TABLE IF NOT EXISTS schema_version (
    version INT NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    applied_at DATETIME(3) NOT NULL
  ) ${TABLE_OPTIONS}`);
}

async function appliedVersions(conn: PoolConnection): Promise<Set<number>> {
  const [rows] = await conn.query<RowDataPacket[]>('SELECT version FROM schema_version');
  return new Set(rows.map((r) => Number(r.version)));
}

/** A box with older firmware keeps working on a schema a newer box has already moved on. */
function warnIfNewer(applied: Set<number>, migrations: readonly Migration[], log: Logger): void {
  const known = Math.max(0, ...migrations.map((m) => m.version));
  const newest = Math.max(0, ...applied);
  if (newest > known) log.warn('the database schema is newer than this firmware knows', { schemaVersion: newest, firmwareVersion: known });
}

/** Adds the column unless the table has it; a box adding it at the same moment (Galera: no lock) is no failure. */
async function addColumnOn(conn: PoolConnection, c: AddColumn['addColumn']): Promise<void> {
  const [rows] = await conn.query<RowDataPacket[]>(
    'SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?',
    [c.table, c.column],
  );
  if (rows.length) return;
  try {
    await conn.query(`ALTER TABLE ${c.table} ADD COLUMN ${c.column} ${c.definition}`);
  } catch (err) {
    if ((err as { code?: string }).code !== 'ER_DUP_FIELDNAME') throw err;
  }
}

/** DDL commits implicitly in MySQL, so the transaction only keeps data steps and their record together. */
async function apply(conn: PoolConnection, m: Migration, log: Logger): Promise<void> {
  await conn.beginTransaction();
  try {
    for (const step of m.statements) await (typeof step === 'string' ? conn.query(step) : addColumnOn(conn, step.addColumn));
    await conn.execute(
      'INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE version = version',
      [m.version, m.name],
    );
    await conn.commit();
  } catch (err) {
    await conn.rollback().catch(() => undefined);
    if (isServerGone(err)) throw err;
    throw new Error(`schema migration ${m.version} (${m.name}) failed: ${(err as Error).message}`, { cause: err });
  }
  log.info('schema migrated', { version: m.version, name: m.name });
}
