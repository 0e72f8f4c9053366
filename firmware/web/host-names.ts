import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';

/** How long the box's own addresses are taken as known before they are read again (DHCP may change them). */
const ADDRESSES_TTL_MS = 5000;

/** The name in a Host header, without port, brackets or a final dot; null when the header is no host. */
export function hostOf(header: string | undefined): string | null {
  if (header === undefined) return null;
  const h = header.trim().toLowerCase();
  const m = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/.exec(h) ?? /^([^:\s\[\]]+)(?::\d{1,5})?$/.exec(h);
  if (!m) return null;
  return m[1]!.replace(/\.$/, '');
}

/**
 * The names the web page answers to: the box's own addresses, localhost, its host name and
 * host name .local (mDNS), and the names of the setting webHostNames. A page on any other site that
 * a browser in the office opens cannot reach the box by rebinding its own name to the box's
 * address: its requests carry that name in Host.
 */
export class HostNames {
  private addresses = new Set<string>();
  private readAt = -Infinity;

  constructor(
    /** Addresses the box was told it has (--public-address, --bind). */
    private readonly configured: string[],
    /** The setting webHostNames, read at each request so that a change counts at once. */
    private readonly extra: () => string,
    private readonly now: () => number = Date.now,
  ) {}

  allows(header: string | undefined): boolean {
    const host = hostOf(header);
    if (host === null) return false;
    if (isIP(host)) return this.ownAddresses().has(host.replace(/^::ffff:/, ''));
    const own = hostname().toLowerCase();
    if (host === 'localhost' || host === own || host === `${own}.local`) return true;
    return this.extra().split(',').includes(host);
  }

  private ownAddresses(): Set<string> {
    const now = this.now();
    if (now - this.readAt < ADDRESSES_TTL_MS) return this.addresses;
    const all = new Set(this.configured.filter((a) => isIP(a) && a !== '0.0.0.0' && a !== '::'));
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) all.add(a.address.toLowerCase().replace(/%.*$/, ''));
    this.addresses = all;
    this.readAt = now;
    return all;
  }
}
