import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { BoxError, StoreUnavailable } from '../errors.ts';
import type { ApiToken, Store } from '../store/types.ts';
import type { SetupCode } from './setup-code.ts';

/** scrypt cost: about 50 ms on a Raspberry Pi 4, 15 ms on a desktop; 16 MB of memory per check. */
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;
const PASSWORD_MIN = 8;
const PASSWORD_MAX = 256;
const SESSION_IDLE_MS = 12 * 3600_000;
const MAX_SESSIONS = 64;
/** Wrong passwords allowed from one address before each further attempt must wait. */
const FREE_FAILURES = 3;
const MAX_WAIT_S = 300;
const TOKEN_PREFIX = 'cbx_';
const SETUP_CODE_HELP =
  "the setup code is wrong: it is in the box's log, on its console and in confbox-setup-code.txt on the SD card's boot partition";

function scryptAsync(password: string, salt: Buffer, keylen: number, opts: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keylen, { ...opts, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** "scrypt$N$r$p$salt$hash" (base64url): the parameters travel with the hash, so they can grow later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(password, salt, SCRYPT.keylen, SCRYPT);
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, 'base64url');
  const want = Buffer.from(parts[5]!, 'base64url');
  if (!(N > 1 && r > 0 && p > 0) || want.length === 0) return false;
  const got = await scryptAsync(password, salt, want.length, { N, r, p });
  return timingSafeEqual(got, want);
}

export function validateNewPassword(password: unknown, confirm?: unknown): string {
  if (typeof password !== 'string' || password.length < PASSWORD_MIN) {
    throw new BoxError(400, `the password must have at least ${PASSWORD_MIN} characters`, 'password');
  }
  if (password.length > PASSWORD_MAX) throw new BoxError(400, `the password must have at most ${PASSWORD_MAX} characters`, 'password');
  if (confirm !== undefined && confirm !== password) throw new BoxError(400, 'the two passwords differ', 'confirm');
  return password;
}

export interface Session {
  id: string;
  csrf: string;
  createdAt: number;
  lastSeen: number;
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function equalText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * The one admin account: its password (salted scrypt in the database), browser sessions (in
 * memory: a restart logs the admin out), API tokens (only their SHA-256 is stored), and a limiter
 * that makes each wrong password from an address wait longer than the last.
 */
export class AdminAuth {
  private sessions = new Map<string, Session>();
  private failures = new Map<string, { count: number; next: number }>();

  /** Sessions end (logout, password change): the server closes their live-update streams. */
  onSessionsEnded: (ids: string[] | 'all') => void = () => undefined;

  constructor(
    private readonly store: Store,
    /** The one-time code that proves first use comes from someone who holds the box; null: first use only from the command line. */
    private readonly setupCode: SetupCode | null,
    private readonly now: () => number = Date.now,
  ) {}

  /** The admin password's hash as the database last gave it: while the database is away, the page can still be logged in to. */
  private knownHash: string | null | undefined = undefined;

  /** The admin password's hash, from the database, or the one it last gave while it cannot be reached. */
  private async storedHash(): Promise<string | null> {
    try {
      this.knownHash = await this.store.admin.passwordHash();
    } catch (e) {
      if (!(e instanceof StoreUnavailable) || this.knownHash === undefined) throw e;
    }
    return this.knownHash;
  }

  async passwordIsSet(): Promise<boolean> {
    return (await this.storedHash()) !== null;
  }

  /**
   * First use of the page: only while no password exists, and only with the box's setup code. Wrong
   * codes count like wrong passwords. Of two requests at once, the database lets exactly one set it.
   */
  async setFirstPassword(password: string, confirm: string, code: string, address: string): Promise<void> {
    const wait = this.waitSeconds(address);
    if (wait > 0) throw new BoxError(429, `too many wrong setup codes from this address; try again in ${wait} s`, 'code', 'rate-limited');
    if (await this.passwordIsSet()) throw new BoxError(403, 'the admin password is already set; log in instead', 'password', 'exists');
    if (!this.setupCode?.matches(code)) {
      this.failed(address);
      throw new BoxError(403, this.setupCode?.shown ? SETUP_CODE_HELP : 'set the first password with "confbox admin set-password" on the box', 'code', 'wrong-code');
    }
    validateNewPassword(password, confirm);
    const hash = await hashPassword(password);
    if (!(await this.store.admin.setFirstPasswordHash(hash))) {
      throw new BoxError(403, 'the admin password is already set; log in instead', 'password', 'exists');
    }
    this.knownHash = hash;
    this.setupCode.consume();
    this.failures.delete(address);
  }

  async changePassword(current: string, password: string, confirm: string): Promise<void> {
    validateNewPassword(password, confirm);
    const stored = await this.store.admin.passwordHash();
    if (!stored || !(await verifyPassword(current, stored))) throw new BoxError(403, 'the current password is wrong', 'current', 'wrong-password');
    const hash = await hashPassword(password);
    await this.store.admin.setPasswordHash(hash);
    this.knownHash = hash;
    // Everyone else is logged out; the caller logs in again.
    this.sessions.clear();
    this.onSessionsEnded('all');
  }

  /** Seconds an address must wait before its next attempt; 0 when it may try now. */
  waitSeconds(address: string): number {
    const f = this.failures.get(address);
    if (!f) return 0;
    return Math.max(0, Math.ceil((f.next - this.now()) / 1000));
  }

  /** A new session for the right password; a BoxError (403 wrong, 429 wait) otherwise. */
  async login(password: string, address: string): Promise<Session> {
    const wait = this.waitSeconds(address);
    if (wait > 0) throw new BoxError(429, `too many wrong passwords from this address; try again in ${wait} s`, 'password', 'rate-limited');
    const stored = await this.storedHash();
    if (!stored) throw new BoxError(409, 'no admin password is set yet', 'password', 'not-set');
    if (!(await verifyPassword(String(password), stored))) {
      this.failed(address);
      throw new BoxError(403, 'wrong password', 'password', 'wrong-password');
    }
    this.failures.delete(address);
    return this.newSession();
  }

  private failed(address: string): void {
    const f = this.failures.get(address) ?? { count: 0, next: 0 };
    f.count++;
    const over = f.count - FREE_FAILURES;
    f.next = over >= 0 ? this.now() + Math.min(MAX_WAIT_S, 2 ** over) * 1000 : 0;
    this.failures.delete(address);
    this.failures.set(address, f);
    if (this.failures.size > 10_000) this.failures.delete(this.failures.keys().next().value!);
  }

  newSession(): Session {
    const now = this.now();
    const s: Session = { id: randomBytes(32).toString('base64url'), csrf: randomBytes(24).toString('base64url'), createdAt: now, lastSeen: now };
    this.sessions.set(s.id, s);
    while (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    return s;
  }

  session(id: string | undefined): Session | null {
    if (!id) return null;
    const s = this.sessions.get(id);
    if (!s) return null;
    const now = this.now();
    if (now - s.lastSeen > SESSION_IDLE_MS) {
      this.sessions.delete(id);
      return null;
    }
    s.lastSeen = now;
    return s;
  }

  /** Whether a session is still open (without counting this as its use). */
  alive(id: string): boolean {
    const s = this.sessions.get(id);
    return !!s && this.now() - s.lastSeen <= SESSION_IDLE_MS;
  }

  logout(id: string): void {
    this.sessions.delete(id);
    this.onSessionsEnded([id]);
  }

  checkCsrf(session: Session, token: unknown): boolean {
    return typeof token === 'string' && equalText(token, session.csrf);
  }

  /** Makes a token; its text is shown once and only its hash is kept. */
  async createToken(label: string): Promise<{ token: string; info: ApiToken }> {
    const text = String(label ?? '').trim();
    if (!/^[\p{L}\p{N} ._-]{1,64}$/u.test(text)) throw new BoxError(400, 'the token name must be 1 to 64 letters, digits, spaces or . _ -', 'label');
    const id = randomBytes(6).toString('hex');
    const token = TOKEN_PREFIX + randomBytes(24).toString('base64url');
    const info: ApiToken = { id, label: text, createdAt: new Date(this.now()) };
    await this.store.admin.addToken({ ...info, hash: sha256(token) });
    return { token, info };
  }

  tokens(): Promise<ApiToken[]> {
    return this.store.admin.tokens();
  }

  async deleteToken(id: string): Promise<void> {
    if (!(await this.store.admin.deleteToken(String(id)))) throw new BoxError(404, `API token ${id} does not exist`, 'id', 'not-found');
  }

  async tokenValid(token: string): Promise<boolean> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 128) return false;
    return (await this.store.admin.tokenByHash(sha256(token))) !== null;
  }
}
