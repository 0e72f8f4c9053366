import { peerAccepts, type Extension, type Peer } from '../conference/types.ts';
import type { Logger } from '../log.ts';
import type { Store } from '../store/types.ts';
import { cidrContains } from './netmatch.ts';

const REFRESH_MS = 5000;

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

  /**
   * An extension by number, from the cache alone: a made-up number costs no more than a real one (no database
   * read a stranger could time). Changes made on the web page refresh the cache at once, others within seconds.
   */
  extension(number: string): Extension | undefined {
    return this.extensions.get(number);
  }

  /** Every extension, ordered by number as the database lists them. */
  extensionList(): Extension[] {
    return [...this.extensions.values()];
  }

  /** The trusted peer that is the office's outbound PBX (numbers that are not extensions are called through it), if any. */
  outboundPbx(): Peer | undefined {
    return this.peers.find((p) => p.outboundPort !== null);
  }

  /**
   * The trusted peer whose most specific CIDR holds the address; with a transport ("UDP", "TCP", "TLS"), only when
   * that peer accepts it, so that a forged UDP source cannot pass as a peer restricted to TCP or TLS.
   */
  trustedPeer(address: string, protocol?: string): Peer | undefined {
    let best: Peer | undefined;
    let bestBits = -1;
    for (const p of this.peers) {
      const bits = Number(p.cidr.split('/')[1] ?? 128);
      if (bits > bestBits && cidrContains(p.cidr, address)) {
        best = p;
        bestBits = bits;
      }
    }
    if (!best || protocol === undefined) return best;
    return peerAccepts(best, protocol) ? best : undefined;
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
