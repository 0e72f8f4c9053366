import { createHmac } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { blockedError, targets, type Lockout, type Target } from '../conference/index.ts';
import type { Peer, Settings } from '../conference/types.ts';
import type { Logger } from '../log.ts';
import { DigestAuthority, parseAuthorization, type DigestAlgorithm } from './digest.ts';
import type { Directory } from './directory.ts';
import { lockoutSource } from './netmatch.ts';
import type { Registrar } from './registrar.ts';
import { parseUri, type Message, type Remote } from './stack.ts';

export interface AuthOptions {
  /** Secret for stateless digest nonces (see DigestAuthority). */
  nonceKey: Buffer;
  clock: Clock;
  log: Logger;
  directory: Directory;
  registrar: Registrar;
  lockout: Lockout;
  settings: () => Settings;
}

/** Where a request comes from, as the lockout counts it. */
export interface Origin {
  address: string;
  /** The trusted peer the request came through; null when none, or when the peer does not accept this transport. */
  peer: Peer | null;
  /** The caller a trusted peer asserts (P-Asserted-Identity, else From); '' for other sources. */
  asserted: string;
  /** What failures from here count against: the address, or the asserted caller and the peer as a whole. */
  targets: Target[];
}

export type Identity =
  | { ok: true; caller: string; displayName: string }
  /** Answer with a challenge (401 for REGISTER, 407 for INVITE) carrying these header values. */
  | { ok: false; challenges: string[] };

/**
 * Who is calling: a trusted peer's asserted identity, or an extension that proved its password. A made-up user is
 * answered exactly like an extension with a wrong password (the same challenge, the same work, the same count
 * against the lockout), so that answers never tell which numbers exist.
 */
export class Authenticator {
  private digest: DigestAuthority;
  private realm: string;

  constructor(private readonly o: AuthOptions) {
    this.realm = o.settings().realm;
    this.digest = this.makeDigest();
  }

  origin(rq: Message, remote: Remote): Origin {
    const address = remote.address;
    const peer = this.o.directory.trustedPeer(address, remote.protocol);
    if (!peer) {
      // A peer's address over a transport the peer does not use is a stranger: its failures must not block the peer.
      const spoofable = this.o.directory.trustedPeer(address) !== undefined;
      const source = lockoutSource(address);
      return { address, peer: null, asserted: '', targets: [spoofable ? targets.udpAddress(source) : targets.address(source)] };
    }
    const pai = headerText(rq, 'p-asserted-identity');
    const asserted = (pai ? userOf(pai.replace(/^[^<]*<|>.*$/g, '')) : null) ?? userOf(rq.headers.from!.uri) ?? 'unknown';
    return { address, peer, asserted, targets: [targets.caller(address, asserted), targets.peer(address)] };
  }

  async identify(rq: Message, origin: Origin, kind: 'invite' | 'register'): Promise<Identity> {
    if (kind === 'invite' && origin.peer) {
      return { ok: true, caller: origin.asserted, displayName: rq.headers.from?.name?.replace(/^"|"$/g, '') ?? '' };
    }
    this.refresh();
    const raw = authHeaderValue(rq, kind === 'invite' ? 'proxy-authorization' : 'authorization');
    const creds = raw ? parseAuthorization(raw) : null;
    const claimed = creds?.username ?? userOf(kind === 'register' ? rq.headers.to!.uri : rq.headers.from!.uri) ?? '';
    const ext = this.o.directory.extension(claimed);
    const extTarget = targets.extension(claimed);
    // The owner's phone, registered from this address, still gets in while strangers guess its password.
    if (this.o.lockout.isBlocked(extTarget.key) && !(ext && this.o.registrar.boundFrom(ext.number, origin.address))) throw blockedError();
    if (!creds) return { ok: false, challenges: this.challenges(false) };
    // An unknown user, or one whose password was hashed for another realm, is checked against a stand-in; the
    // stand-in is made for every request, so that both take the same work.
    const standIn = this.standIn(claimed);
    const known = ext !== undefined && ext.realm === this.realm;
    const ha1 = known ? { md5: ext.ha1Md5, sha256: ext.ha1Sha256 } : standIn;
    const verdict = this.digest.verify(creds, rq.method!, ha1);
    const uriOk = sameTarget(creds.uri, rq.uri ?? '');
    if (known && uriOk && verdict === 'ok') return { ok: true, caller: ext.number, displayName: ext.displayName };
    if (known && uriOk && verdict === 'stale') return { ok: false, challenges: this.challenges(true) };
    const blocks = this.o.lockout.fail([...origin.targets, extTarget]);
    this.o.log.warn('digest authentication failed', { source: origin.address, user: claimed, ...(uriOk ? {} : { uri: creds.uri.slice(0, 80) }) });
    if (blocks.length > 0) throw blockedError();
    return { ok: false, challenges: this.challenges(false) };
  }

  /** Counts a failed PIN (or any failure of this origin) against the origin and the extra targets. */
  failed(origin: Origin, extra: Target[] = []): void {
    this.o.lockout.fail([...origin.targets, ...extra]);
  }

  isBlocked(origin: Origin): boolean {
    return this.o.lockout.blockOf(origin.targets) !== null;
  }

  private challenges(stale: boolean): string[] {
    const algorithms = this.o.settings().digestAlgorithms.split(',') as DigestAlgorithm[];
    return this.digest.challenge({ stale, algorithms });
  }

  /** Hashes no password has: an unknown user's answer is computed and compared like a real one, and always fails. */
  private standIn(user: string): { md5: string; sha256: string } {
    const mac = createHmac('sha256', this.o.nonceKey).update('confbox stand-in\0').update(user, 'utf8').digest('hex');
    return { md5: mac.slice(0, 32), sha256: mac };
  }

  private refresh(): void {
    const realm = this.o.settings().realm;
    if (realm === this.realm) return;
    this.realm = realm;
    this.digest = this.makeDigest();
  }

  private makeDigest(): DigestAuthority {
    return new DigestAuthority({ realm: this.realm, key: this.o.nonceKey, clock: this.o.clock });
  }
}

/**
 * The digest's uri names the request it was made for (RFC 7616 section 3.4.6): the same scheme, user, host and port
 * as the Request-URI, so an answer cannot be moved to another request.
 */
export function sameTarget(digestUri: string, requestUri: string): boolean {
  if (digestUri === requestUri) return true;
  // The package reads only a lower-case scheme.
  const read = (u: string) => parseUri(u.trim().replace(/^sips?:/i, (m) => m.toLowerCase()));
  const a = read(digestUri);
  const b = read(requestUri);
  if (!a || !b || !a.schema || !b.schema) return false;
  const scheme = a.schema.toLowerCase();
  if (scheme !== b.schema.toLowerCase()) return false;
  const port = (p: unknown) => Number(p || (scheme === 'sips' ? 5061 : 5060));
  return safeDecode(a.user ?? '') === safeDecode(b.user ?? '')
    && (a.host ?? '').toLowerCase() === (b.host ?? '').toLowerCase()
    && port(a.port) === port(b.port);
}

/** A header the package leaves as text (not parsed into objects), or undefined. */
export function headerText(rq: Message, name: string): string | undefined {
  const v = rq.headers[name];
  return typeof v === 'string' ? v : undefined;
}

export function userOf(uri: string): string | null {
  const u = parseUri(uri.trim());
  return u?.user ? safeDecode(u.user) : null;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The package parses auth headers into objects of raw values; our parser wants the header text back. */
function authHeaderValue(rq: Message, name: 'authorization' | 'proxy-authorization'): string | null {
  const list = rq.headers[name];
  if (!Array.isArray(list)) return null;
  const digest = list.find((a) => typeof a?.scheme === 'string' && a.scheme.toLowerCase() === 'digest');
  if (!digest) return null;
  return 'Digest ' + Object.entries(digest).filter(([k]) => k !== 'scheme').map(([k, v]) => `${k}=${v}`).join(', ');
}
