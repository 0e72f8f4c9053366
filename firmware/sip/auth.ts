import { createHmac } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { blockedError, targets, type Lockout, type Target } from '../conference/index.ts';
import type { Peer, Settings } from '../conference/types.ts';
import type { Logger } from '../log.ts';
import type { AuthFailureReason, AuthRecords } from './auth-records.ts';
import { DigestAuthority, parseAuthorization, type DigestAlgorithm, type DigestCredentials } from './digest.ts';
import { diagnoseDigest } from './digest-diagnosis.ts';
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
  /** What each extension's phone last succeeded with, and its last failure. */
  records: AuthRecords;
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
    // A phone may answer every challenge at once (linphone does, one header per algorithm); any right answer will do.
    const answers = authHeaderValues(rq, kind === 'invite' ? 'proxy-authorization' : 'authorization')
      .map(parseAuthorization).filter((c): c is DigestCredentials => c !== null);
    const creds = answers.length > 0 ? this.pickAnswer(answers, rq) : null;
    const claimed = creds?.username ?? userOf(kind === 'register' ? rq.headers.to!.uri : rq.headers.from!.uri) ?? '';
    const ext = this.o.directory.extension(claimed);
    const extTarget = targets.extension(claimed);
    const bound = ext !== undefined && this.o.registrar.boundFrom(ext.number, origin.address);
    const refused = (reason: AuthFailureReason) => {
      if (ext) this.o.records.failed(ext.number, reason, origin.address, rq.method!);
    };
    // The owner's phone, registered from this address, still gets in while strangers guess its password.
    if (this.o.lockout.isBlocked(extTarget.key) && !bound) {
      refused('blocked');
      throw blockedError();
    }
    const order = { claimed, address: origin.address, bound: bound && kind === 'register' };
    if (!creds) return { ok: false, challenges: this.challenges(false, order) };
    // An unknown user, or one whose password was hashed for another realm, is checked against a stand-in; the
    // stand-in is made for every request, so that both take the same work.
    const standIn = this.standIn(claimed);
    const known = ext !== undefined && ext.realm === this.realm;
    const ha1 = known ? { md5: ext.ha1Md5, sha256: ext.ha1Sha256 } : standIn;
    const verdict = this.digest.verify(creds, rq.method!, ha1);
    const uriOk = sameTarget(creds.uri, rq.uri ?? '');
    if (known && uriOk && verdict === 'ok') {
      const callId = kind === 'register' ? String(rq.headers['call-id'] ?? '') : null;
      this.o.records.succeeded(ext.number, /^sha-256/i.test(creds.algorithm ?? '') ? 'SHA-256' : 'MD5', origin.address, callId);
      return { ok: true, caller: ext.number, displayName: ext.displayName };
    }
    if (known && uriOk && verdict === 'stale') return { ok: false, challenges: this.challenges(true, order) };
    if (ext) {
      refused(known
        ? diagnoseDigest(creds, rq.method!, ha1, { realm: this.realm, uriMatches: uriOk })
        : 'password was set for another realm');
    }
    const blocks = this.o.lockout.fail([...origin.targets, extTarget]);
    this.o.log.warn('digest authentication failed', {
      source: origin.address, user: claimed, ...(ext ? { reason: this.o.records.get(ext.number)?.lastFailure?.reason } : {}),
      ...(uriOk ? {} : { uri: creds.uri.slice(0, 80) }),
    });
    if (blocks.length > 0) {
      refused('blocked');
      throw blockedError();
    }
    return { ok: false, challenges: this.challenges(false, order) };
  }

  /**
   * Of several answers, the first that verifies for a known extension, else the first: it is the one checked, counted
   * and explained. Checking an answer that then fails records nothing (its nonce count is kept only on success).
   */
  private pickAnswer(answers: DigestCredentials[], rq: Message): DigestCredentials {
    if (answers.length === 1) return answers[0]!;
    for (const c of answers) {
      const ext = this.o.directory.extension(c.username);
      if (!ext || ext.realm !== this.realm || !sameTarget(c.uri, rq.uri ?? '')) continue;
      if (this.digest.preview(c, rq.method!, { md5: ext.ha1Md5, sha256: ext.ha1Sha256 }) !== 'bad') return c;
    }
    return answers[0]!;
  }

  /** Notes on the extension's record that a request of it was refused for a reason outside the digest. */
  noteRefusal(number: string, reason: AuthFailureReason, origin: Origin, method: string): void {
    if (this.o.directory.extension(number)) this.o.records.failed(number, reason, origin.address, method);
  }

  /** Counts a failed PIN (or any failure of this origin) against the origin and the extra targets. */
  failed(origin: Origin, extra: Target[] = []): void {
    this.o.lockout.fail([...origin.targets, ...extra]);
  }

  isBlocked(origin: Origin): boolean {
    return this.o.lockout.blockOf(origin.targets) !== null;
  }

  /** Whether an INVITE from this origin is turned away unheard; noted on the calling extension's record. */
  inviteBlocked(origin: Origin, rq: Message): boolean {
    if (!this.isBlocked(origin)) return false;
    const ext = origin.peer ? undefined : this.o.directory.extension(userOf(rq.headers.from!.uri) ?? '');
    if (ext) this.o.records.failed(ext.number, 'blocked', origin.address, 'INVITE');
    return true;
  }

  /**
   * Whether a REGISTER from this origin is turned away unheard. An address blocked by wrong PINs is still the
   * address of phones registered from it: the refresh of a live registration (from the same address, under the
   * Call-ID of its last accepted REGISTER) goes on to the digest check, so that a block over calls never unregisters
   * the phone that made them. A guesser at that address does not know the Call-ID, and is turned away unheard.
   */
  registerBlocked(origin: Origin, aor: string, callId: string): boolean {
    if (!this.isBlocked(origin)) return false;
    const ext = this.o.directory.extension(aor);
    if (ext && this.o.registrar.boundFrom(ext.number, origin.address) && this.o.records.isRefresh(ext.number, origin.address, callId)) return false;
    if (ext) this.o.records.failed(ext.number, 'blocked', origin.address, 'REGISTER');
    return true;
  }

  /** The challenges: as the setting lists them, or with "auto" as suits the claimed extension's phone (AuthRecords). */
  private challenges(stale: boolean, who: { claimed: string; address: string; bound: boolean }): string[] {
    const setting = this.o.settings().digestAlgorithms;
    let algorithms: DigestAlgorithm[];
    if (setting === 'auto') {
      const known = this.o.directory.extension(who.claimed) !== undefined;
      algorithms = this.o.records.autoChallenge(known ? who.claimed : null, { address: who.address, boundFromAddress: who.bound });
    } else {
      algorithms = setting.split(',') as DigestAlgorithm[];
    }
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

/** The package parses auth headers into objects of raw values; our parser wants the header text back (at most 4). */
function authHeaderValues(rq: Message, name: 'authorization' | 'proxy-authorization'): string[] {
  const list = rq.headers[name];
  if (!Array.isArray(list)) return [];
  return list
    .filter((a) => typeof a?.scheme === 'string' && a.scheme.toLowerCase() === 'digest')
    .slice(0, 4)
    .map((digest) => 'Digest ' + Object.entries(digest).filter(([k]) => k !== 'scheme').map(([k, v]) => `${k}=${v}`).join(', '));
}
