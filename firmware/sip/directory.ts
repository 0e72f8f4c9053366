import type { Extension, Peer } from '../conference/types.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/types.ts';
import { cidrContains } from './netmatch.ts';

const REFRESH_MS = 5000;
const MISS_REFRESH_MS = 1000;

/**
 * Who may call: extensions and trusted peers, cached from the database so that a REGISTER flood
 * does not become a query flood, refreshed often enough that a technician's change shows at once.
 */
export class Directory {
  private extensions = new Map<string, Extension>();
  private peers: Peer[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastRefresh = 0;
  private refreshing: Promise<void> | null = null;

  constructor(private readonly store: Store, private readonly log: Logger, private readonly onChange: () => void = () => undefined) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** An extension by number; a miss re-reads the database (at most once a second). */
  async extension(number: string): Promise<Extension | undefined> {
    const hit = this.extensions.get(number);
    if (hit) return hit;
    if (Date.now() - this.lastRefresh > MISS_REFRESH_MS) await this.refresh();
    return this.extensions.get(number);
  }

  trustedPeer(address: string): Peer | undefined {
    return this.peers.find((p) => cidrContains(p.cidr, address));
  }

  peerCount(): number {
    return this.peers.length;
  }

  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        const [exts, peers] = await Promise.all([this.store.extensions.list(), this.store.peers.list()]);
        this.extensions = new Map(exts.map((e) => [e.number, e]));
        this.peers = peers;
        this.onChange();
      } catch (e) {
        this.log.debug('directory refresh failed; keeping the last-known extensions and peers', { err: e });
      } finally {
        this.lastRefresh = Date.now();
        this.refreshing = null;
      }
    })();
    return this.refreshing;
  }
}
