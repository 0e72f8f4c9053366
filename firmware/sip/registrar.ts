import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Binding, Store } from '../store/types.ts';

const MIN_EXPIRES = 60;
const MAX_EXPIRES = 3600;
const DEFAULT_EXPIRES = 3600;
/** The bindings table's user_agent column holds this many characters. */
const MAX_USER_AGENT = 255;

export interface ContactRequest {
  uri: string;
  /** The contact's expires parameter, if any. */
  expires: number | null;
}

/** The phone a REGISTER came from. */
export interface RegisteringPhone {
  /** "udp:192.0.2.1:5060" */
  source: string;
  /** Its User-Agent header, if any. */
  userAgent: string | undefined;
  /** The proxies it came through that stay on the way to it (Path), as Route URIs. */
  path?: string[];
}

/** A live binding: where the phone registered from, what it calls itself, when the registration ends. */
export interface RegisteredPhone {
  contact: string;
  source: string;
  userAgent: string;
  /** Seconds left. */
  expires: number;
  expiresAt: Date;
  /** Route URIs a request to the phone goes through (its REGISTER's Path); empty: straight to it. */
  path: string[];
}

/** A binding as the rest of the box sees it, with the seconds it has left at `now`. */
function registeredPhone(b: Binding, now: number): RegisteredPhone {
  return { contact: b.contact, source: b.source, userAgent: b.userAgent, expires: Math.max(0, Math.round((b.expiresAt.getTime() - now) / 1000)), expiresAt: b.expiresAt, path: b.path };
}

export type RegisterResult =
  | { ok: true; bindings: RegisteredPhone[] }
  | { ok: false; status: 400 | 423; reason: string; minExpires?: number };

/** The location table: which phone (contact) answers for which extension, until when. */
export class Registrar {
  private table = new Map<string, Map<string, Binding>>();
  private sweeper: NodeJS.Timeout | null = null;
  /** Database writes not yet finished; stopping waits for them, so a restart finds every binding its 200 confirmed. */
  private readonly writing = new Set<Promise<void>>();

  constructor(private readonly store: Store, private readonly clock: Clock, private readonly log: Logger, private readonly onChange: () => void) {}

  /** Loads the bindings a previous run left, so phones stay reachable across a restart. */
  async start(): Promise<void> {
    try {
      const now = this.clock.now();
      for (const b of await this.store.bindings.list()) {
        if (b.expiresAt.getTime() > now) this.put(b);
      }
    } catch (e) {
      this.log.warn('registrations from the last run could not be loaded', { err: e });
    }
    this.sweeper = setInterval(() => this.sweep(), 10_000);
    this.sweeper.unref();
    this.onChange();
  }

  async stop(): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    await Promise.allSettled([...this.writing]);
  }

  /** Applies a REGISTER for an authenticated extension (RFC 3261 section 10.3). */
  register(aor: string, phone: RegisteringPhone, contacts: ContactRequest[] | '*', headerExpires: number | null): RegisterResult {
    const now = this.clock.now();
    const { source } = phone;
    const path = phone.path ?? [];
    const userAgent = cleanUserAgent(phone.userAgent);
    if (contacts === '*') {
      if (headerExpires !== 0) return { ok: false, status: 400, reason: 'Contact: * needs Expires: 0' };
      for (const c of this.table.get(aor)?.keys() ?? []) this.remove(aor, c);
      this.onChange();
      return { ok: true, bindings: [] };
    }
    for (const c of contacts) {
      const asked = c.expires ?? headerExpires ?? DEFAULT_EXPIRES;
      if (asked !== 0 && asked < MIN_EXPIRES) return { ok: false, status: 423, reason: `registration interval ${asked} s is too brief`, minExpires: MIN_EXPIRES };
    }
    for (const c of contacts) {
      const asked = c.expires ?? headerExpires ?? DEFAULT_EXPIRES;
      if (asked === 0) {
        this.remove(aor, c.uri);
        continue;
      }
      const expires = Math.min(asked, MAX_EXPIRES);
      const old = this.table.get(aor)?.get(c.uri);
      const b: Binding = { aor, contact: c.uri, source, userAgent, expiresAt: new Date(now + expires * 1000), path };
      this.put(b);
      // Refreshes are frequent; the database only needs a binding when it is new, moved or updated, or half-way to expiry.
      if (!old || old.source !== source || old.userAgent !== userAgent || old.path.join() !== path.join() || old.expiresAt.getTime() < now + (expires * 1000) / 2) {
        this.write(this.store.bindings.put(b));
      }
    }
    this.onChange();
    return { ok: true, bindings: this.current(aor) };
  }

  current(aor: string): RegisteredPhone[] {
    const now = this.clock.now();
    return [...(this.table.get(aor)?.values() ?? [])]
      .filter((b) => b.expiresAt.getTime() > now)
      .map((b) => registeredPhone(b, now));
  }

  /**
   * An extension's live phones: this box's, or when it has none, those another box sharing the database took (a
   * phone registers through a proxy with one box of several). An unreachable database is the same as none there.
   */
  async lookup(aor: string): Promise<RegisteredPhone[]> {
    const here = this.current(aor);
    if (here.length > 0) return here;
    const now = this.clock.now();
    let elsewhere: Binding[];
    try {
      elsewhere = await this.store.bindings.of(aor, new Date(now));
    } catch (e) {
      this.log.warn('the registrations of other boxes could not be read', { aor, err: e });
      return [];
    }
    return elsewhere.map((b) => registeredPhone(b, now));
  }

  /** Whether the extension has a live binding that was registered from this address (any port, any transport). */
  boundFrom(aor: string, address: string): boolean {
    const now = this.clock.now();
    for (const b of this.table.get(aor)?.values() ?? []) {
      if (b.expiresAt.getTime() > now && addressOf(b.source) === address) return true;
    }
    return false;
  }

  /** Every binding held now (a switch to another database writes them there). */
  all(): Binding[] {
    this.sweep();
    return [...this.table.values()].flatMap((m) => [...m.values()]);
  }

  /** Extensions with at least one live binding. */
  registeredCount(): number {
    this.sweep();
    return this.table.size;
  }

  private put(b: Binding): void {
    let m = this.table.get(b.aor);
    if (!m) this.table.set(b.aor, (m = new Map()));
    m.set(b.contact, b);
  }

  private remove(aor: string, contact: string): void {
    const m = this.table.get(aor);
    if (!m?.delete(contact)) return;
    if (m.size === 0) this.table.delete(aor);
    this.write(this.store.bindings.delete(aor, contact));
  }

  private write(done: Promise<void>): void {
    const w = done.catch((e) => this.log.warn('a registration could not be saved', { err: e })).finally(() => this.writing.delete(w));
    this.writing.add(w);
  }

  private sweep(): void {
    const now = this.clock.now();
    let changed = false;
    for (const [aor, m] of this.table) {
      for (const [c, b] of m) {
        if (b.expiresAt.getTime() <= now) {
          this.remove(aor, c);
          changed = true;
        }
      }
    }
    if (changed) this.onChange();
  }
}

/** As it can be shown and stored: no control characters, at most MAX_USER_AGENT characters. */
function cleanUserAgent(header: string | undefined): string {
  const text = (header ?? '').replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return [...text].slice(0, MAX_USER_AGENT).join('');
}

/** "udp:192.0.2.1:5060" or "tcp:::1:5060" to the address. */
function addressOf(source: string): string {
  return source.slice(source.indexOf(':') + 1, source.lastIndexOf(':'));
}
