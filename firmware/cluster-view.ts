/**
 * Several boxes on one database: every few seconds this box vouches for its own live conferences (their rows are
 * refreshed) and reads every box's, so that its API and its Status page show every box's conferences with the box
 * that hosts each; a box that stopped vouching is shown no more after FRESH_SECONDS and its rows are deleted after
 * EXPIRE_SECONDS, so a dead box leaves no room in use. Blocks of the lockout made or lifted on one box hold on all,
 * and failed attempts are counted once whichever box they reached.
 * The database's nodes are asked how they are.
 */
import mysql, { type SslOptions } from 'mysql2/promise';
import type { Logger } from './log.ts';
import type { Status } from './status.ts';
import { parseDatabaseUrl } from './store/mysql.ts';
import type { Store } from './store/types.ts';
import type { Lockout } from './conference/lockout.ts';

export const CLUSTER_POLL_MS = 5000;
/** A box whose rows were not refreshed for this long is taken for gone. */
export const FRESH_SECONDS = 15;
export const EXPIRE_SECONDS = 120;

export interface BoxView {
  box: string;
  /** This box. */
  self: boolean;
  conferences: Array<{ roomId: number; participants: number; startedAt: string | null }>;
}

export interface DatabaseNodeView {
  address: string;
  /** Galera's word for the node (Synced, Donor/Desynced, Joining…), "answers" for a server outside a cluster, or why it does not. */
  state: string;
  ok: boolean;
}

export interface ClusterSnapshot {
  box: string;
  boxes: BoxView[];
  databaseNodes: DatabaseNodeView[];
}

export class ClusterView {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** The database URL, read once: its nodes are asked at every poll. */
  private readonly target: ReturnType<typeof parseDatabaseUrl>;

  /** `db`: the database's URL (--db, --own-db, or the office's chosen on the page) and its TLS options, if any. */
  constructor(private readonly o: { store: Store; boxId: string; db: { url: string; ssl?: SslOptions }; status: Status; log: Logger; lockout: Lockout; windowMinutes: () => number }) {
    this.target = parseDatabaseUrl(o.db.url);
  }

  start(): void {
    const tick = () => {
      if (this.running) return;
      this.running = true;
      void this.poll().finally(() => { this.running = false; });
    };
    tick();
    this.timer = setInterval(tick, CLUSTER_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async poll(): Promise<void> {
    const [boxes, databaseNodes] = await Promise.all([this.boxes(), this.nodes(), this.blocks()]);
    const next: ClusterSnapshot = { box: this.o.boxId, boxes: boxes ?? this.o.status.get().cluster?.boxes ?? [], databaseNodes };
    // The page follows the status model: only a change is news.
    if (JSON.stringify(next) !== JSON.stringify(this.o.status.get().cluster)) this.o.status.set({ cluster: next });
  }

  private async boxes(): Promise<BoxView[] | null> {
    try {
      await this.o.store.live.refresh();
      const [running, rows] = await Promise.all([
        this.o.store.live.boxes(FRESH_SECONDS, EXPIRE_SECONDS), this.o.store.live.everywhere(FRESH_SECONDS, EXPIRE_SECONDS),
      ]);
      const byBox = new Map<string, BoxView>([this.o.boxId, ...running].map((box) => [box, { box, self: box === this.o.boxId, conferences: [] }]));
      for (const r of rows) {
        const v = byBox.get(r.box) ?? { box: r.box, self: false, conferences: [] };
        v.conferences.push({ roomId: r.roomId, participants: r.participants, startedAt: r.startedAt?.toISOString() ?? null });
        byBox.set(r.box, v);
      }
      return [...byBox.values()].sort((a, b) => (a.self === b.self ? a.box.localeCompare(b.box) : a.self ? -1 : 1));
    } catch (e) {
      this.o.log.debug('the other boxes\' conferences could not be read', { err: e });
      return null;
    }
  }

  /**
   * Blocks another box made or lifted hold here too within a poll, and failed attempts are counted once whichever
   * box they reached: each box tells its own counts and adds the others' to its own.
   */
  private async blocks(): Promise<void> {
    try {
      this.o.lockout.sync(await this.o.store.blocks.list(new Date()), 2 * CLUSTER_POLL_MS);
      const mine = this.o.lockout.takeFailureCounts();
      if (mine) await this.o.store.failureCounts.publish(mine).catch((e: unknown) => {
        this.o.lockout.countsNotTold();
        throw e;
      });
      const window = this.o.windowMinutes() * 60_000;
      this.o.lockout.syncFailures(await this.o.store.failureCounts.others(new Date(Date.now() - window)));
    } catch (e) {
      this.o.log.debug('the shared lockout could not be read or written', { err: e });
    }
  }

  /** Each node of the database URL, asked directly (a short connection of its own). */
  private async nodes(): Promise<DatabaseNodeView[]> {
    const target = this.target;
    const { nodes, ...common } = target;
    const list = nodes ?? [{ host: target.host ?? 'localhost', port: target.port ?? 3306 }];
    return Promise.all(list.map(async (n): Promise<DatabaseNodeView> => {
      const address = target.socketPath ?? `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`;
      let c: mysql.Connection | null = null;
      try {
        c = await mysql.createConnection({ ...common, ...(target.socketPath ? {} : { host: n.host, port: n.port }), ...(this.o.db.ssl ? { ssl: this.o.db.ssl } : {}), connectTimeout: 2000 });
        const [rows] = await c.query("SHOW STATUS LIKE 'wsrep_local_state_comment'");
        const state = String((rows as Array<{ Value?: unknown }>)[0]?.Value ?? '');
        return { address, state: state || 'answers', ok: state === '' || state === 'Synced' };
      } catch (e) {
        return { address, state: `no answer (${(e as { code?: string }).code ?? (e as Error).message})`, ok: false };
      } finally {
        await c?.end().catch(() => undefined);
      }
    }));
  }
}
