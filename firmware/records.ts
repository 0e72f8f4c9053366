import { PEER_TRANSPORTS, type Extension, type Peer, type PeerTransport } from './conference/types.ts';
import { BoxError } from './errors.ts';
import { ha1 } from './sip/digest.ts';
import { parseCidr } from './sip/netmatch.ts';

/** Extensions and trusted peers as a technician enters them, checked the same way on the command line and the web page. */

export function validateExtensionPassword(p: string | undefined | null, hint = ''): string {
  if (p === undefined || p === null || p.length === 0) throw new BoxError(400, `a password is required${hint}`, 'password');
  if (p.length > 128 || /[\x00-\x1f\x7f]/.test(p)) throw new BoxError(400, 'password must be 1 to 128 printable characters', 'password');
  return p;
}

export function validateText(n: string | undefined | null, field: string, what: string): string {
  const s = String(n ?? '').trim();
  if (s.length > 128 || /[\x00-\x1f\x7f]/.test(s)) throw new BoxError(400, `${what} must be at most 128 printable characters`, field);
  return s;
}

/** The HA1 hashes a phone's digest is checked against; the password itself is not stored. */
export function extensionRecord(number: string, password: string, displayName: string, realm: string): Extension {
  return { number, displayName, realm, ha1Md5: ha1('MD5', number, realm, password), ha1Sha256: ha1('SHA-256', number, realm, password) };
}

export function peerRecord(address: string, description: string | undefined | null, transport?: string | null, outboundPort?: string | number | boolean | null): Peer {
  const cidr = parseCidrField(address);
  return { cidr, description: validateText(description, 'description', 'description'), transport: parsePeerTransport(transport), outboundPort: parseOutboundPort(outboundPort, cidr) };
}

/**
 * Whether a peer is the outbound PBX, and its SIP port: absent, empty, no or off: not; yes or on: 5060; a port number.
 * Only a single address can be called.
 */
export function parseOutboundPort(value: string | number | boolean | undefined | null, cidr: string): number | null {
  const v = typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value ?? '').trim().toLowerCase();
  if (v === '' || v === 'no' || v === 'off' || v === 'false') return null;
  const port = v === 'yes' || v === 'on' || v === 'true' ? 5060 : /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new BoxError(400, `outbound port must be yes or a port from 1 to 65535, not "${v.slice(0, 16)}"`, 'outboundPort');
  if (!/\/(32|128)$/.test(cidr)) throw new BoxError(400, `the outbound PBX must be one address, not the network ${cidr}`, 'outboundPort');
  return port;
}

/** Absent means any transport, as before peers could be restricted. */
export function parsePeerTransport(value: string | undefined | null): PeerTransport {
  const v = String(value ?? '').trim().toLowerCase() || 'any';
  if (!(PEER_TRANSPORTS as readonly string[]).includes(v)) {
    throw new BoxError(400, `transport must be one of ${PEER_TRANSPORTS.join(', ')}, not "${String(value).slice(0, 32)}"`, 'transport');
  }
  return v as PeerTransport;
}

export function parseCidrField(address: string): string {
  const c = parseCidr(String(address ?? ''));
  if (!c.ok) throw new BoxError(400, c.reason, 'cidr');
  return c.cidr;
}
