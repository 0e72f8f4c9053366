import type { Logger } from './log.ts';
import type { Store } from './store/types.ts';

/** How often the box reads the change counter: one tiny query, so a technician's change shows before they pick up a phone. */
const POLL_MS = 500;

/**
 * Technician commands (and other boxes on a shared database) change the configuration behind the running box's
 * back; they raise a counter in the database, and the box reloads what it caches when the counter moves.
 */
export class ConfigChanges {
  private timer: NodeJS.Timeout | null = null;
  private seen: number | null = null;
  private busy = false;

  constructor(private readonly store: Store, private readonly log: Logger, private readonly reload: () => Promise<void>) {}

  async start(): Promise<void> {
    this.seen = await this.store.changes.version().catch(() => null);
    this.timer = setInterval(() => void this.check(), POLL_MS);
    this.timer.unref();
  }

  /** The counter of another database is the one seen from now on (after a switch, which reloads by itself). */
  async rebase(): Promise<void> {
    this.seen = await this.store.changes.version().catch(() => null);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async check(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const version = await this.store.changes.version();
      if (this.seen !== null && version !== this.seen) {
        await this.reload();
        this.log.info('configuration changed by a technician command: reloaded', { version });
      }
      this.seen = version;
    } catch {
      // The database is away: the health check reports it; the change is taken when it is back.
    } finally {
      this.busy = false;
    }
  }
}
