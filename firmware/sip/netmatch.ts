/** IP addresses and CIDR blocks for trusted peers (SPEC.md section 3). Pure functions, never throw. */

export type CidrResult = { ok: true; cidr: string } | { ok: false; reason: string };

interface Block {
  bytes: number[];
  prefix: number;
}

// Long inputs are certainly not addresses; the limit keeps error messages short as well.
const MAX_TEXT = 100;

/** Parses "192.168.1.0/24", "10.0.0.5", "2001:db8::/32"; host bits are cleared, a bare address gets /32 or /128. */
export function parseCidr(text: string): CidrResult {
  if (typeof text !== 'string') return { ok: false, reason: 'the address is not text' };
  const trimmed = text.trim();
  if (trimmed === '') return { ok: false, reason: 'the address is empty' };
  if (trimmed.length > MAX_TEXT) return { ok: false, reason: `${show(trimmed)} is not an IPv4 or IPv6 address` };
  const slash = trimmed.indexOf('/');
  const addrText = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const bytes = parseAddress(addrText);
  if (!bytes) return { ok: false, reason: `${show(addrText)} is not an IPv4 or IPv6 address` };
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = trimmed.slice(slash + 1);
    if (p === '') return { ok: false, reason: 'the prefix length after "/" is missing' };
    if (!/^\d{1,3}$/.test(p)) return { ok: false, reason: `prefix length ${show(p)} is not a number` };
    prefix = Number(p);
    if (prefix > max) return { ok: false, reason: `prefix length ${prefix} is out of range 0..${max}` };
  }
  return { ok: true, cidr: `${formatAddress(mask(bytes, prefix))}/${prefix}` };
}

/** True when address lies in cidr; IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 blocks and back. */
export function cidrContains(cidr: string, address: string): boolean {
  try {
    const block = parseBlock(cidr);
    const addr = typeof address === 'string' ? parseAddress(stripZone(address.trim())) : null;
    if (!block || !addr) return false;
    const a = sameFamily(addr, block.bytes.length);
    if (!a) return false;
    return equalPrefix(a, block.bytes, block.prefix);
  } catch {
    return false;
  }
}

/** Bits of an IPv6 source that the lockout counts as one: a host controls at least its /64 and picks addresses in it at will. */
export const IPV6_SOURCE_PREFIX = 64;

/**
 * What the lockout counts a source's failures against: an IPv4 address as it is, an IPv6 address by its /64
 * ("2001:db8:1:2::/64"), so that a guesser cannot start afresh from the next address of its own network.
 */
export function lockoutSource(address: string): string {
  const bytes = typeof address === 'string' ? parseAddress(stripZone(address.trim())) : null;
  if (!bytes || bytes.length === 4 || isV4Mapped(bytes)) return address;
  return `${formatAddress(mask(bytes, IPV6_SOURCE_PREFIX))}/${IPV6_SOURCE_PREFIX}`;
}

function parseBlock(cidr: string): Block | null {
  const r = parseCidr(cidr);
  if (!r.ok) return null;
  const [addr, p] = r.cidr.split('/');
  const bytes = parseAddress(addr ?? '');
  return bytes ? { bytes, prefix: Number(p) } : null;
}

/** Brings an address to the block's family: IPv4 <-> IPv4-mapped IPv6; null when they cannot match. */
function sameFamily(addr: number[], length: number): number[] | null {
  if (addr.length === length) return addr;
  if (length === 4 && isV4Mapped(addr)) return addr.slice(12);
  if (length === 16 && addr.length === 4) return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...addr];
  return null;
}

function equalPrefix(a: number[], b: number[], prefix: number): boolean {
  const ma = mask(a, prefix);
  const mb = mask(b, prefix);
  return ma.every((x, i) => x === mb[i]);
}

function mask(bytes: number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const bits = Math.min(8, Math.max(0, prefix - i * 8));
    return b & ((0xff << (8 - bits)) & 0xff);
  });
}

// Zones (fe80::1%eth0) come with link-local socket addresses; they do not take part in matching.
function stripZone(s: string): string {
  const pct = s.indexOf('%');
  return pct < 0 ? s : s.slice(0, pct);
}

/** Four bytes for IPv4, sixteen for IPv6, null for anything else. */
export function parseAddress(s: string): number[] | null {
  if (typeof s !== 'string' || s.length === 0 || s.length > 45) return null;
  return s.includes(':') ? parseV6(s) : parseV4(s);
}

function parseV4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out: number[] = [];
  for (const p of parts) {
    // Leading zeros are refused: some tools read them as octal.
    if (!/^(0|[1-9]\d{0,2})$/.test(p)) return null;
    const n = Number(p);
    if (n > 255) return null;
    out.push(n);
  }
  return out;
}

function parseV6(text: string): number[] | null {
  let s = text;
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    // An embedded IPv4 tail (::ffff:1.2.3.4) is rewritten as the two groups it stands for.
    const v4 = parseV4(last);
    if (!v4) return null;
    const [a = 0, b = 0, c = 0, d = 0] = v4;
    s = s.slice(0, lastColon + 1) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return null;
  let groups: number[];
  if (dbl >= 0) {
    const left = hexGroups(s.slice(0, dbl));
    const right = hexGroups(s.slice(dbl + 2));
    if (!left || !right) return null;
    const missing = 8 - left.length - right.length;
    if (missing < 1) return null;
    groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  } else {
    const all = hexGroups(s);
    if (!all || all.length !== 8) return null;
    groups = all;
  }
  const bytes: number[] = [];
  for (const g of groups) bytes.push(g >> 8, g & 0xff);
  return bytes;
}

function hexGroups(part: string): number[] | null {
  if (part === '') return [];
  const out: number[] = [];
  for (const g of part.split(':')) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    out.push(parseInt(g, 16));
  }
  return out;
}

function isV4Mapped(b: number[]): boolean {
  return b.length === 16 && b.slice(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** Dotted quad, or RFC 5952 text for IPv6 (lower case, longest zero run compressed, ::ffff:a.b.c.d). */
export function formatAddress(b: number[]): string {
  if (b.length === 4) return b.join('.');
  if (isV4Mapped(b)) return `::ffff:${b.slice(12).join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

function show(s: string): string {
  return JSON.stringify(s.length > 40 ? s.slice(0, 40) + '...' : s);
}
