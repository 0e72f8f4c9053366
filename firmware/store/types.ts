import type { Block, FailureCount } from '../conference/lockout.ts';
import type { CallAction, CallLogEntry, Extension, Peer, Room, Settings } from '../conference/types.ts';

/**
 * The box's configuration in MySQL/MariaDB. Every method rejects with StoreUnavailable
 * (firmware/errors.ts) when the database cannot be reached, and with BoxError for a
 * rule the database enforces (a duplicate room id: sipStatus 403, code 'exists').
 */
export interface Store {
  readonly rooms: {
    list(): Promise<Room[]>;
    get(id: number): Promise<Room | null>;
    /** Inserts; rejects with BoxError(403, "room N already exists", 'id', 'exists') when the id is taken. */
    insert(room: Room): Promise<void>;
    /** Stores a room's changed PIN, duration, creator, maximum and keep; false when it does not exist. */
    update(room: Room): Promise<boolean>;
    /** Deletes; resolves false when no such room. */
    delete(id: number): Promise<boolean>;
  };
  readonly extensions: {
    list(): Promise<Extension[]>;
    get(number: string): Promise<Extension | null>;
    /** Inserts or replaces by number. */
    put(ext: Extension): Promise<void>;
    delete(number: string): Promise<boolean>;
  };
  readonly peers: {
    list(): Promise<Peer[]>;
    /** Inserts or replaces by cidr. */
    put(peer: Peer): Promise<void>;
    delete(cidr: string): Promise<boolean>;
  };
  readonly settings: {
    /** Stored values over DEFAULT_SETTINGS. */
    get(): Promise<Settings>;
    set<K extends keyof Settings>(key: K, value: Settings[K]): Promise<void>;
  };
  readonly callLog: {
    append(entry: CallLogEntry): Promise<void>;
    /** Newest first. */
    recent(limit: number): Promise<CallLogEntry[]>;
    /** Entries at or after `from` and before `to`, newest first, at most `limit`; only these actions when given. */
    between(from: Date, to: Date, limit: number, actions?: readonly CallAction[]): Promise<CallLogEntry[]>;
  };
  /** Which rooms have a conference in progress on this box, and how many are in each. */
  readonly live: {
    set(roomId: number, participants: number, startedAt: Date | null): Promise<void>;
    /** Forget every live row this box wrote (at start-up and shutdown). */
    clear(): Promise<void>;
    list(): Promise<Array<{ roomId: number; participants: number; startedAt: Date | null }>>;
    /** This box still runs, and its rows: the box and its rows are kept from expiring. */
    refresh(): Promise<void>;
    /** The boxes that said they run within `freshSeconds`, this one included (once it refreshed); older ones are forgotten after `expireSeconds`. */
    boxes(freshSeconds: number, expireSeconds: number): Promise<string[]>;
    /**
     * Every box's live rows that their box refreshed within `freshSeconds` (boxes sharing the database), with the box
     * that hosts each; rows of a box silent for `expireSeconds` are deleted, so a dead box leaves no room in use.
     */
    everywhere(freshSeconds: number, expireSeconds: number): Promise<LiveRow[]>;
  };
  /** Registrar bindings, so that a restart keeps phones reachable, and every box sharing the database can reach them. */
  readonly bindings: {
    list(): Promise<Binding[]>;
    /** An extension's bindings that have not expired at `now`, whichever box took them. */
    of(aor: string, now: Date): Promise<Binding[]>;
    put(b: Binding): Promise<void>;
    delete(aor: string, contact: string): Promise<void>;
  };
  /** Lockout blocks, so that a restart does not lift them. */
  readonly blocks: {
    /** Blocks that ended less than a day ago or have not ended; older rows are deleted. */
    list(now: Date): Promise<Block[]>;
    /** Inserts or replaces by key. */
    put(block: Block): Promise<void>;
    delete(key: string): Promise<void>;
  };
  /** Failed attempts each box counted and has not yet blocked: boxes sharing the database count a guesser once. */
  readonly failureCounts: {
    /** Replaces this box's counts with these. */
    publish(counts: FailureCount[]): Promise<void>;
    /** The other boxes' counts newer than `since`, summed per target; older rows are deleted. */
    others(since: Date): Promise<FailureCount[]>;
  };
  /** The web page's one admin account and the API tokens made on the page. */
  readonly admin: {
    /** The salted slow hash of the admin password; null until it is set. */
    passwordHash(): Promise<string | null>;
    setPasswordHash(hash: string): Promise<void>;
    /** Stores the first password only if none exists, in one statement: false when another was set first. */
    setFirstPasswordHash(hash: string): Promise<boolean>;
    tokens(): Promise<ApiToken[]>;
    /** The token whose SHA-256 (hex) this is, if any. */
    tokenByHash(hash: string): Promise<ApiToken | null>;
    addToken(token: ApiToken & { hash: string }): Promise<void>;
    deleteToken(id: string): Promise<boolean>;
  };
  /** Resolves true when a trivial query is answered. Never rejects. */
  /**
   * A counter technician commands raise after each change, so that a running box (or every box on a shared
   * database) picks the change up at once with one cheap read.
   */
  readonly changes: {
    version(): Promise<number>;
    bump(): Promise<void>;
  };
  /** The box's whole configuration at once, for a backup and a restore. */
  readonly configuration: {
    read(): Promise<Configuration>;
    /** Replaces every room, extension, peer, setting, the admin password and the tokens in one transaction: all or nothing. */
    replace(c: Configuration): Promise<void>;
  };
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** What a backup holds: the configuration, not what happens (call log, registrations, blocks are left out). */
export interface Configuration {
  rooms: Room[];
  extensions: Extension[];
  peers: Peer[];
  /** Settings as stored: name and text, only those set (the others are the firmware's defaults). */
  settings: Array<{ name: string; value: string }>;
  /** The admin password's salted slow hash, or null before first use. */
  adminPasswordHash: string | null;
  /** API tokens with the SHA-256 of each (the token itself is never stored). */
  tokens: Array<ApiToken & { hash: string }>;
}

/** A conference as the box that hosts it wrote it into the shared table. */
export interface LiveRow {
  box: string;
  roomId: number;
  participants: number;
  startedAt: Date | null;
  refreshedAt: Date;
}

export interface Binding {
  /** Extension number. */
  aor: string;
  /** Contact URI as the phone sent it. */
  contact: string;
  /** Where the REGISTER came from: "udp:1.2.3.4:5060". */
  source: string;
  /** The REGISTER's User-Agent header (the phone's model and firmware), empty when it sent none. */
  userAgent: string;
  expiresAt: Date;
  /**
   * The proxies the REGISTER came through that asked to stay on the way to the phone (RFC 3327 Path), as Route URIs:
   * a request to the phone goes through them, from any box. Empty: the phone is reached directly.
   */
  path: string[];
}

export interface ApiToken {
  id: string;
  label: string;
  createdAt: Date;
}
