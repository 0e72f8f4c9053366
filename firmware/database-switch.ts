import type { Logger } from './log.ts';
import type { Status } from './status.ts';
import { openDatabase, type EmbeddedDb, type Store, type SwitchableStore } from './store/index.ts';
import { BoxError } from './errors.ts';
import type { OfficeDatabase } from './store/probe.ts';

/** How long the embedded MariaDB is given before it is started again after it died, by attempt. */
const RESTART_BACKOFF_MS = [1000, 2000, 5000, 10000, 30000];
/** A database left behind is closed in the background; one that no longer answers is not waited for longer. */
const CLOSE_WAIT_MS = 5000;

export interface DatabaseSwitchOptions {
  /** The store every part of the box was handed; a switch replaces the database behind it. */
  store: SwitchableStore;
  /** The embedded MariaDB the box started on, if it did. */
  embedded: EmbeddedDb | null;
  /** The box's own database when it is a server (--own-db); null: the embedded MariaDB under dataDir. */
  ownDb: string | null;
  dataDir: string;
  boxId: string;
  log: Logger;
  status: Status;
  /** The embedded MariaDB is back after it died: the box looks at its database at once. */
  embeddedBack: () => void;
}

/** What the running box keeps in its database beyond the configuration, and what it caches from it. */
export interface SwitchHooks {
  /** Runs on the new database before any call goes to it (copying the configuration there, when asked). */
  prepare?: (to: Store) => Promise<void>;
  /** Moves this box's own rows (blocks, registrations) from the old database to the new one; may fail on the old. */
  carry: (from: Store, to: Store) => Promise<void>;
  /** Once calls go to the new database: reload what the box caches and write its live rows there. */
  settle: () => Promise<void>;
}

/**
 * Moves the running box to another database without a restart: the new one is opened and its tables made (or the
 * embedded MariaDB started), what this box keeps there is carried over, and from one moment on every call goes to it;
 * the old one is closed after. Calls in progress never touch the database, so they go on. Also keeps the embedded
 * MariaDB running while it is the one in use.
 */
export class DatabaseSwitch {
  private embedded: EmbeddedDb | null = null;
  private switching = false;
  private stopping = false;

  constructor(private readonly o: DatabaseSwitchOptions) {
    if (o.embedded) this.adopt(o.embedded);
  }

  /**
   * To an office's database, or with null to the box's own. Resolves when calls go to it, with how long it took;
   * rejects with the reason, the box still on the database it had, when the new one cannot be opened or prepared.
   */
  async switchTo(office: OfficeDatabase | null, hooks: SwitchHooks): Promise<{ ms: number }> {
    if (this.switching) throw new BoxError(409, 'the box is already moving to another database; try again when it has', undefined, 'busy');
    this.switching = true;
    const started = Date.now();
    this.o.status.set({ databaseSwitching: true });
    let opened: { store: Store; embedded: EmbeddedDb | null } | null = null;
    try {
      opened = await openDatabase(office, {
        ...(this.o.ownDb !== null ? { ownDb: this.o.ownDb } : {}), dataDir: this.o.dataDir, log: this.o.log, boxId: this.o.boxId,
      });
      await hooks.prepare?.(opened.store);
      const from = this.o.store.inUse;
      try {
        await hooks.carry(from, opened.store);
      } catch (err) {
        this.o.log.warn('blocks and registrations could not all be carried to the new database', { err });
      }
      this.o.store.replace(opened.store);
      const left = this.embedded;
      this.embedded = null;
      if (opened.embedded) this.adopt(opened.embedded);
      opened = null;
      try {
        await hooks.settle();
      } catch (err) {
        // The box is on the new database now; the health check reads it again within seconds.
        this.o.log.warn('the new database could not be read at once after the switch', { err });
      }
      void this.retire(from, left);
      return { ms: Date.now() - started };
    } catch (err) {
      if (opened) {
        await opened.store.close().catch(() => undefined);
        await opened.embedded?.stop().catch(() => undefined);
      }
      throw err;
    } finally {
      this.switching = false;
      this.o.status.set({ databaseSwitching: false });
    }
  }

  /** Stops the embedded MariaDB, if the box runs one (at shutdown, after the store is closed). */
  async close(): Promise<void> {
    this.stopping = true;
    await this.embedded?.stop();
  }

  /** The old database closed, and the embedded MariaDB that served it stopped; neither may hold up the box. */
  private async retire(store: Store, embedded: EmbeddedDb | null): Promise<void> {
    await store.live.clear().catch(() => undefined);
    await Promise.race([store.close(), new Promise((r) => setTimeout(r, CLOSE_WAIT_MS).unref())]).catch(() => undefined);
    if (embedded) await embedded.stop().catch((err: unknown) => this.o.log.warn('the embedded MariaDB left behind did not stop', { err }));
  }

  /** The embedded MariaDB in use is started again when it dies; one left behind by a switch is not. */
  private adopt(db: EmbeddedDb): void {
    this.embedded = db;
    let attempt = 0;
    const current = () => this.embedded === db && !this.stopping;
    db.onExit((code) => {
      if (!current()) return;
      const delay = RESTART_BACKOFF_MS[Math.min(attempt++, RESTART_BACKOFF_MS.length - 1)]!;
      this.o.log.error('embedded MariaDB exited; restarting it', { code, inMs: delay });
      setTimeout(() => {
        if (!current()) return;
        db.restart().then(
          () => { attempt = 0; this.o.log.info('embedded MariaDB restarted'); this.o.embeddedBack(); },
          (e: unknown) => this.o.log.error('embedded MariaDB did not restart', { err: e }),
        );
      }, delay).unref();
    });
  }
}
