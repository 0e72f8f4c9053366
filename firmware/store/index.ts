import type { Logger } from '../log.ts';
import { startEmbeddedMariaDb, type EmbeddedDb } from './embedded.ts';
import { openStore } from './mysql.ts';
import { officeConnection, readDatabaseChoice } from './database-choice.ts';
import type { OfficeDatabase } from './probe.ts';
import type { Store } from './types.ts';

export type { ApiToken, Binding, Store } from './types.ts';
export type { EmbeddedDb, EmbeddedDbOptions } from './embedded.ts';
export type { StoreOptions } from './mysql.ts';
export { startEmbeddedMariaDb } from './embedded.ts';
export { openStore } from './mysql.ts';
export { migrate } from './migrations.ts';
export { SwitchableStore } from './switchable.ts';

export interface ConnectOptions {
  /** Database URL (--db); when absent, the database chosen on the page (database.json), else the box's own. */
  db?: string;
  /** The box's own database (--own-db: the board's server); when absent the box runs its own MariaDB under dataDir. */
  ownDb?: string;
  dataDir: string;
  log: Logger;
  /** Names this box's rows in shared tables; defaults to the host name. */
  boxId?: string;
  /** Share the embedded server of a box running on the same data directory (technician commands). */
  attach?: boolean;
}

/**
 * The store as start-up needs it: the configured database, or the embedded one started
 * first, with the schema migrated. `embedded` is null when a database was configured.
 */
export async function connectStore(opts: ConnectOptions): Promise<{ store: Store; embedded: EmbeddedDb | null }> {
  if (opts.db !== undefined) return { store: await openStore({ url: opts.db, log: opts.log, boxId: opts.boxId }), embedded: null };
  const chosen = readDatabaseChoice(opts.dataDir);
  return openDatabase(chosen, opts);
}

/**
 * An office's database (its tables made or brought up to date), or with null the box's own: the server --own-db
 * names, else the embedded MariaDB, started first. `embedded` is the server started, if one was.
 */
export async function openDatabase(office: OfficeDatabase | null, opts: Omit<ConnectOptions, 'db'>): Promise<{ store: Store; embedded: EmbeddedDb | null }> {
  const { log, boxId } = opts;
  if (office) return { store: await openStore({ ...officeConnection(office), log, boxId }), embedded: null };
  if (opts.ownDb !== undefined) return { store: await openStore({ url: opts.ownDb, log, boxId }), embedded: null };
  const embedded = await startEmbeddedMariaDb({ dataDir: opts.dataDir, log, attach: opts.attach });
  try {
    return { store: await openStore({ url: embedded.url, log, boxId }), embedded };
  } catch (err) {
    await embedded.stop();
    throw err;
  }
}
