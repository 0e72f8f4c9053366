import { networkInterfaces } from 'node:os';

/** The address phones should use for the box when none is configured: the bind address, else the first external IPv4. */
export function detectPublicAddress(bind: string): string {
  if (bind !== '0.0.0.0' && bind !== '::') return bind;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
