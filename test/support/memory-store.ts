/**
 * The box's store kept in memory, for tests that need the parts above the database (the web page and API, the rooms,
 * the directory) without a MariaDB: the Store interface with the rules the database enforces for it in
 * firmware/store/mysql.ts (a room id taken once, settings typed, text cut at no column but refused when longer than
 * it, rows copied in and out), a database of one box. `reachable = false` makes every call reject with
 * StoreUnavailable, as the real store does while its server is away.
 */
import { BoxError, StoreUnavailable } from '../../firmware/errors.ts';
import { DEFAULT_SETTINGS, type CallLogEntry, type Extension, type Peer, type Room, type Settings } from '../../firmware/conference/types.ts';
import type { Block, FailureCount } from '../../firmware/conference/lockout.ts';
import type { ApiToken, Binding, Configuration, LiveRow, Store } from '../../firmware/store/types.ts';

/** A finished block is kept a day, as the database keeps it. */
const BLOCK_MEMORY_MS = 24 * 60 * 60 * 1000;
const MAX_CALL_LOG_ROWS = 10_000;

/** The text columns a request can fill, with their width in characters (firmware/store/migrations.ts). */
const WIDTHS = {
  pin: 16, moderatorPin: 16, creator: 32, number: 32, displayName: 128, realm: 128, cidr: 64, description: 255, label: 64,
} as const;

/** A value longer than its column is refused as the database in strict mode refuses it, naming the column. */
function fitColumn(field: keyof typeof WIDTHS, value: string | null): void {
  if (value !== null && [...value].length > WIDTHS[field]) {
    throw new BoxError(400, `${field.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)} is too long`, field, 'too-long');
  }
}

function isSettingName(name: string): name is keyof Settings {
  return Object.prototype.hasOwnProperty.call(DEFAULT_SETTINGS, name);
}

const copyRoom = (r: Room): Room => ({ ...r, createdAt: new Date(r.createdAt) });
const copyToken = (t: ApiToken & { hash: string }) => ({ ...t, createdAt: new Date(t.createdAt) });

/** What the store starts with: a configuration as a backup holds it (empty when not given). */
export type MemoryStoreContents = Partial<Configuration>;

export class MemoryStore implements Store {
  /** False: the database is away; every call rejects with StoreUnavailable and ping answers false. */
  reachable = true;

  private roomRows = new Map<number, Room>();
  private extensionRows = new Map<string, Extension>();
  private peerRows = new Map<string, Peer>();
  /** Settings as stored: JSON text by name. */
  private settingRows = new Map<string, string>();
  private callLogRows: CallLogEntry[] = [];
  private liveRows = new Map<number, LiveRow>();
  private bindingRows = new Map<string, Binding>();
  private blockRows = new Map<string, Block>();
  private passwordHash: string | null = null;
  private tokenRows = new Map<string, ApiToken & { hash: string }>();
  private changeVersion = 0;

  constructor(contents: MemoryStoreContents = {}, private readonly boxId = 'memory-box') {
    this.fill({ rooms: [], extensions: [], peers: [], settings: [], adminPasswordHash: null, tokens: [], ...contents });
  }

  /** Resolves with what `work` returns while the database is reachable; rejects with StoreUnavailable otherwise. */
  private answer<T>(work: () => T): Promise<T> {
    if (!this.reachable) return Promise.reject(new StoreUnavailable(new Error('the in-memory database was made unreachable')));
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private fill(c: Configuration): void {
    this.roomRows = new Map(c.rooms.map((r) => [r.id, copyRoom(r)]));
    this.extensionRows = new Map(c.extensions.map((e) => [e.number, { ...e }]));
    this.peerRows = new Map(c.peers.map((p) => [p.cidr, { ...p }]));
    this.settingRows = new Map(c.settings.map((s) => [s.name, s.value]));
    this.passwordHash = c.adminPasswordHash;
    this.tokenRows = new Map(c.tokens.map((t) => [t.id, copyToken(t)]));
  }

  private checkRoom(room: Room): void {
    if (!Number.isInteger(room.id) || room.id < -32768 || room.id > 32767) throw new BoxError(400, 'id is out of range', 'id', 'out-of-range');
    fitColumn('pin', room.pin);
    fitColumn('moderatorPin', room.moderatorPin);
    fitColumn('creator', room.creator);
  }

  private readSettings(): Settings {
    const settings: Record<string, unknown> = { ...DEFAULT_SETTINGS };
    for (const [name, text] of this.settingRows) {
      if (!isSettingName(name)) continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        continue;
      }
      // A row of the wrong type is skipped, as the real store skips it.
      if (typeof value === typeof DEFAULT_SETTINGS[name]) settings[name] = value;
    }
    return settings as unknown as Settings;
  }

  readonly rooms: Store['rooms'] = {
    list: () => this.answer(() => [...this.roomRows.values()].sort((a, b) => a.id - b.id).map(copyRoom)),
    get: (id) => this.answer(() => {
      const r = this.roomRows.get(id);
      return r ? copyRoom(r) : null;
    }),
    insert: (room) => this.answer(() => {
      this.checkRoom(room);
      if (this.roomRows.has(room.id)) throw new BoxError(403, `room ${room.id} already exists`, 'id', 'exists');
      this.roomRows.set(room.id, copyRoom(room));
    }),
    update: (room) => this.answer(() => {
      this.checkRoom(room);
      const current = this.roomRows.get(room.id);
      if (!current) return false;
      // Where and when a room was made is never changed by an update.
      this.roomRows.set(room.id, { ...copyRoom(room), createdAt: current.createdAt, createdVia: current.createdVia });
      return true;
    }),
    delete: (id) => this.answer(() => this.roomRows.delete(id)),
  };

  readonly extensions: Store['extensions'] = {
    list: () => this.answer(() => [...this.extensionRows.values()].sort((a, b) => (a.number < b.number ? -1 : a.number > b.number ? 1 : 0)).map((e) => ({ ...e }))),
    get: (number) => this.answer(() => {
      const e = this.extensionRows.get(number);
      return e ? { ...e } : null;
    }),
    put: (ext) => this.answer(() => {
      fitColumn('number', ext.number);
      fitColumn('displayName', ext.displayName);
      fitColumn('realm', ext.realm);
      this.extensionRows.set(ext.number, { ...ext });
    }),
    delete: (number) => this.answer(() => this.extensionRows.delete(number)),
  };

  readonly peers: Store['peers'] = {
    list: () => this.answer(() => [...this.peerRows.values()].sort((a, b) => (a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0)).map((p) => ({ ...p }))),
    put: (peer) => this.answer(() => {
      fitColumn('cidr', peer.cidr);
      fitColumn('description', peer.description);
      this.peerRows.set(peer.cidr, { ...peer });
    }),
    delete: (cidr) => this.answer(() => this.peerRows.delete(cidr)),
  };

  readonly settings: Store['settings'] = {
    get: () => this.answer(() => this.readSettings()),
    set: (key, value) => this.answer(() => {
      if (!isSettingName(key)) throw new BoxError(400, `there is no setting called ${key}`, key);
      const expected = typeof DEFAULT_SETTINGS[key];
      if (typeof value !== expected || (typeof value === 'number' && !Number.isFinite(value))) throw new BoxError(400, `setting ${key} must be a ${expected}`, key);
      this.settingRows.set(key, JSON.stringify(value));
    }),
  };

  readonly callLog: Store['callLog'] = {
    append: (entry) => this.answer(() => void this.callLogRows.push({ ...entry, at: new Date(entry.at) })),
    recent: (limit) => this.answer(() => this.newestFirst(this.callLogRows, limit)),
    between: (from, to, limit, actions) => this.answer(() => this.newestFirst(
      this.callLogRows.filter((e) => e.at >= from && e.at < to && (!actions || actions.includes(e.action))), limit,
    )),
  };

  private newestFirst(entries: CallLogEntry[], limit: number): CallLogEntry[] {
    const n = Math.min(MAX_CALL_LOG_ROWS, Math.max(0, Math.trunc(limit) || 0));
    // Appended in time order: the newest are last; of two at the same time, the later appended comes first.
    return [...entries].map((e, i) => ({ e, i })).sort((a, b) => b.e.at.getTime() - a.e.at.getTime() || b.i - a.i).slice(0, n).map(({ e }) => ({ ...e, at: new Date(e.at) }));
  }

  readonly live: Store['live'] = {
    set: (roomId, participants, startedAt) => this.answer(() => {
      if (participants <= 0) this.liveRows.delete(roomId);
      else this.liveRows.set(roomId, { box: this.boxId, roomId, participants, startedAt, refreshedAt: new Date() });
    }),
    clear: () => this.answer(() => this.liveRows.clear()),
    list: () => this.answer(() => [...this.liveRows.values()].sort((a, b) => a.roomId - b.roomId).map(({ roomId, participants, startedAt }) => ({ roomId, participants, startedAt }))),
    refresh: () => this.answer(() => {
      for (const row of this.liveRows.values()) row.refreshedAt = new Date();
    }),
    boxes: () => this.answer(() => [this.boxId]),
    everywhere: () => this.answer(() => [...this.liveRows.values()].sort((a, b) => a.roomId - b.roomId).map((r) => ({ ...r }))),
  };

  readonly bindings: Store['bindings'] = {
    list: () => this.answer(() => [...this.bindingRows.values()].map((b) => ({ ...b, path: [...b.path] }))),
    of: (aor, now) => this.answer(() => [...this.bindingRows.values()]
      .filter((b) => b.aor === aor && b.expiresAt > now)
      .sort((a, b) => b.expiresAt.getTime() - a.expiresAt.getTime())
      .map((b) => ({ ...b, path: [...b.path] }))),
    put: (b) => this.answer(() => void this.bindingRows.set(`${b.aor} ${b.contact}`, { ...b, path: [...b.path] })),
    delete: (aor, contact) => this.answer(() => void this.bindingRows.delete(`${aor} ${contact}`)),
  };

  readonly blocks: Store['blocks'] = {
    list: (now) => this.answer(() => {
      for (const [key, b] of this.blockRows) if (b.until < now.getTime() - BLOCK_MEMORY_MS) this.blockRows.delete(key);
      return [...this.blockRows.values()].sort((a, b) => a.since - b.since).map((b) => ({ ...b }));
    }),
    put: (block) => this.answer(() => void this.blockRows.set(block.key, { ...block })),
    delete: (key) => this.answer(() => void this.blockRows.delete(key)),
  };

  /** A database of one box: nobody else counts failures. */
  readonly failureCounts: Store['failureCounts'] = {
    publish: (_counts: FailureCount[]) => this.answer(() => undefined),
    others: () => this.answer((): FailureCount[] => []),
  };

  readonly admin: Store['admin'] = {
    passwordHash: () => this.answer(() => this.passwordHash),
    setPasswordHash: (hash) => this.answer(() => {
      this.passwordHash = hash;
    }),
    setFirstPasswordHash: (hash) => this.answer(() => {
      if (this.passwordHash !== null) return false;
      this.passwordHash = hash;
      return true;
    }),
    tokens: () => this.answer(() => [...this.tokenRows.values()].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime()).map(({ id, label, createdAt }) => ({ id, label, createdAt: new Date(createdAt) }))),
    tokenByHash: (hash) => this.answer(() => {
      const t = [...this.tokenRows.values()].find((row) => row.hash === hash);
      return t ? { id: t.id, label: t.label, createdAt: new Date(t.createdAt) } : null;
    }),
    addToken: (token) => this.answer(() => {
      fitColumn('label', token.label);
      if (this.tokenRows.has(token.id)) throw new Error(`Duplicate entry '${token.id}' for key 'PRIMARY'`);
      this.tokenRows.set(token.id, copyToken(token));
    }),
    deleteToken: (id) => this.answer(() => this.tokenRows.delete(id)),
  };

  readonly changes: Store['changes'] = {
    version: () => this.answer(() => this.changeVersion),
    bump: () => this.answer(() => void this.changeVersion++),
  };

  readonly configuration: Store['configuration'] = {
    read: () => this.answer(() => this.snapshot()),
    replace: (c) => this.answer(() => {
      // All or nothing: every row is checked before any is replaced.
      c.rooms.forEach((r) => this.checkRoom(r));
      for (const e of c.extensions) (['number', 'displayName', 'realm'] as const).forEach((f) => fitColumn(f, e[f]));
      for (const p of c.peers) (['cidr', 'description'] as const).forEach((f) => fitColumn(f, p[f]));
      c.tokens.forEach((t) => fitColumn('label', t.label));
      this.fill(c);
      this.changeVersion++;
    }),
  };

  /** The configuration as a backup holds it: settings as stored text, tokens with their hashes. */
  private snapshot(): Configuration {
    return {
      rooms: [...this.roomRows.values()].sort((a, b) => a.id - b.id).map(copyRoom),
      extensions: [...this.extensionRows.values()].map((e) => ({ ...e })),
      peers: [...this.peerRows.values()].map((p) => ({ ...p })),
      settings: [...this.settingRows].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, value]) => ({ name, value })),
      adminPasswordHash: this.passwordHash,
      tokens: [...this.tokenRows.values()].map(copyToken),
    };
  }

  ping(): Promise<boolean> {
    return Promise.resolve(this.reachable);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
