import { isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';

/** The address phones should use for the box when none is configured: the bind address, else the first external IPv4. */
export function detectPublicAddress(bind: string): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** The first external IPv6 address that is not link-local (fe80::/10, which needs a zone), or null. */
export function detectPublicAddressV6(): string | null {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv6' && !a.internal && !/^fe[89ab]/i.test(a.address)) return a.address;
  }
  return null;
}

/**
 * The addresses the box gives phones in Via, Contact and SDP. Bound to :: the box serves IPv4 and IPv6 phones
 * alike, and each must be told an address of its own family: `primary` (--public-address) for IPv4 phones,
 * `v6` (--public-address-v6) for IPv6 phones.
 */
export class PublicAddresses {
  /**
   * primary: what the box calls itself (--public-address); v6: its address for IPv6 phones; v4: its address for
   * IPv4 phones when primary is an IPv6 address.
   */
  constructor(readonly primary: string, readonly v6: string | null, readonly v4: string | null = isIPv6(primary) ? null : primary) {}

  /** From the options: --public-address (default: detected), --public-address-v6 (default: --public-address when that is IPv6, else detected when bound to ::). */
  static from(bind: string, publicAddress: string | null, publicAddressV6: string | null): PublicAddresses {
    const primary = publicAddress ?? detectPublicAddress(bind);
    const v6 = publicAddressV6 ?? (isIPv6(primary) ? primary : bind === '::' ? detectPublicAddressV6() : null);
    let v4: string | null = isIPv6(primary) ? null : primary;
    if (v4 === null && bind === '::') {
      const detected = detectPublicAddress('::');
      v4 = detected === '127.0.0.1' ? null : detected;
    }
    return new PublicAddresses(primary, v6, v4);
  }

  /** The box's address for a phone at this address: of the phone's family, when the box has one. */
  for(remote: string): string {
    if (isIPv6(remote) && !/^::ffff:\d/i.test(remote)) return this.v6 ?? this.primary;
    return this.v4 ?? this.primary;
  }

  /** Every address, for the TLS certificate's names and the web page's host names. */
  all(): string[] {
    return [...new Set([this.primary, ...(this.v6 ? [this.v6] : []), ...(this.v4 ? [this.v4] : [])])];
  }
}
