/**
 * The backup file: one JSON document with the box's configuration (rooms, extensions as password hashes, trusted
 * peers, settings, the admin password's hash and the API tokens' hashes), its format version and what wrote it;
 * optionally sealed with a passphrase (scrypt, then AES-256-GCM, both from Node's crypto). Reading one checks every
 * value by the rules the box applies when a technician enters it, before anything is changed; a file of a newer
 * format is refused with what to do.
 */
import { createCipheriv, createDecipheriv, randomBytes, scryptSync } from 'node:crypto';
import { isSettingName, parseExtensionNumber, parseSetting, roomFromInput, type CreatedVia, type Extension, type Peer, type Room } from '../conference/index.ts';
import { BoxError } from '../errors.ts';
import { peerRecord, validateText } from '../records.ts';
import type { Configuration } from '../store/types.ts';

export const BACKUP_FORMAT = 'confbox-backup';
export const BACKUP_VERSION = 1;
/** scrypt's cost for the passphrase: about 100 ms here, and 32 MB of memory. */
const KDF = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const CREATED_VIA: readonly CreatedVia[] = ['phone', 'web', 'cli'];

/** What the box writes, and what a restore reports it read. */
export interface BackupSummary {
  rooms: number;
  extensions: number;
  peers: number;
  settings: number;
  adminPassword: boolean;
  tokens: number;
}

export function summary(c: Configuration): BackupSummary {
  return { rooms: c.rooms.length, extensions: c.extensions.length, peers: c.peers.length, settings: c.settings.length, adminPassword: c.adminPasswordHash !== null, tokens: c.tokens.length };
}

/** The backup as text: the configuration, sealed when a passphrase is given. */
export function writeBackup(c: Configuration, o: { firmware: string; now: Date; passphrase?: string | null }): string {
  const content = {
    rooms: c.rooms.map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })),
    extensions: c.extensions,
    peers: c.peers,
    settings: c.settings,
    adminPasswordHash: c.adminPasswordHash,
    tokens: c.tokens.map((t) => ({ ...t, createdAt: t.createdAt.toISOString() })),
  };
  const head = { format: BACKUP_FORMAT, version: BACKUP_VERSION, firmware: o.firmware, createdAt: o.now.toISOString() };
  if (!o.passphrase) return JSON.stringify({ ...head, content }, null, 2) + '\n';
  const salt = randomBytes(16);
  const iv = randomBytes(12);
  const key = scryptSync(o.passphrase, salt, 32, KDF);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`${BACKUP_FORMAT}/${BACKUP_VERSION}`));
  const data = Buffer.concat([cipher.update(JSON.stringify(content), 'utf8'), cipher.final()]);
  const sealed = { kdf: 'scrypt', N: KDF.N, r: KDF.r, p: KDF.p, salt: salt.toString('base64'), iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
  return JSON.stringify({ ...head, sealed }, null, 2) + '\n';
}

/** Reads and checks a backup; the first problem found is a BoxError (400) naming it. Nothing is changed here. */
export function readBackup(text: string, passphrase?: string | null): { configuration: Configuration; firmware: string; createdAt: string; sealed: boolean } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('the file is not a confbox backup (it is not JSON)');
  }
  const d = object(doc, 'the file');
  if (d.format !== BACKUP_FORMAT) throw bad('the file is not a confbox backup (no "format": "confbox-backup")');
  if (typeof d.version !== 'number' || !Number.isInteger(d.version) || d.version < 1) throw bad('the backup has no valid format version');
  if (d.version > BACKUP_VERSION) {
    throw bad(`the backup was made by a newer firmware (${String(d.firmware ?? '?')}, format ${d.version}); this box reads format ${BACKUP_VERSION} and older: update the box first`);
  }
  let content: unknown = d.content;
  const sealed = d.sealed !== undefined;
  if (sealed) content = unseal(object(d.sealed, 'sealed'), passphrase);
  else if (passphrase) throw bad('the backup is not protected by a passphrase; restore it without one');
  return { configuration: checkContent(object(content, 'content')), firmware: String(d.firmware ?? ''), createdAt: String(d.createdAt ?? ''), sealed };
}

function unseal(s: Record<string, unknown>, passphrase: string | null | undefined): unknown {
  if (!passphrase) throw bad('the backup is protected by a passphrase: give it (--passphrase)', 'passphrase');
  if (s.kdf !== 'scrypt' || typeof s.N !== 'number' || typeof s.r !== 'number' || typeof s.p !== 'number' || s.N > 2 ** 20 || s.r > 32 || s.p > 16) throw bad('the backup\'s key parameters are not ones this box uses');
  try {
    const key = scryptSync(passphrase, Buffer.from(String(s.salt), 'base64'), 32, { N: s.N, r: s.r, p: s.p, maxmem: 256 * 1024 * 1024 });
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(String(s.iv), 'base64'));
    decipher.setAAD(Buffer.from(`${BACKUP_FORMAT}/${BACKUP_VERSION}`));
    decipher.setAuthTag(Buffer.from(String(s.tag), 'base64'));
    const plain = Buffer.concat([decipher.update(Buffer.from(String(s.data), 'base64')), decipher.final()]).toString('utf8');
    return JSON.parse(plain);
  } catch {
    throw bad('the passphrase is wrong, or the file was changed after it was written', 'passphrase');
  }
}

function checkContent(c: Record<string, unknown>): Configuration {
  const rooms = list(c.rooms, 'rooms').map((r, i) => within(`room ${i + 1}`, () => checkRoom(object(r, 'room'))));
  const extensions = list(c.extensions, 'extensions').map((e, i) => within(`extension ${i + 1}`, () => checkExtension(object(e, 'extension'))));
  const peers = list(c.peers, 'peers').map((p, i) => within(`peer ${i + 1}`, () => checkPeer(object(p, 'peer'))));
  const settings = list(c.settings, 'settings').map((s, i) => within(`setting ${i + 1}`, () => {
    const o = object(s, 'setting');
    const name = String(o.name ?? '');
    if (!isSettingName(name)) throw bad(`"${name.slice(0, 40)}" is not a setting of this firmware`);
    parseSetting(name, String(o.value ?? ''));
    return { name, value: String(o.value) };
  }));
  const hash = c.adminPasswordHash;
  if (hash !== null && (typeof hash !== 'string' || !/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/.test(hash))) throw bad('the admin password hash is not one this box makes');
  const tokens = list(c.tokens, 'tokens').map((t, i) => within(`token ${i + 1}`, () => {
    const o = object(t, 'token');
    if (typeof o.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(o.id)) throw bad('its id is not valid');
    if (typeof o.hash !== 'string' || !/^[0-9a-f]{64}$/.test(o.hash)) throw bad('its hash is not a SHA-256 in hex');
    return { id: o.id, label: validateText(String(o.label ?? ''), 'label', 'the label'), createdAt: date(o.createdAt), hash: o.hash };
  }));
  unique(rooms.map((r) => String(r.id)), 'room');
  unique(extensions.map((e) => e.number), 'extension');
  unique(peers.map((p) => p.cidr), 'peer');
  unique(settings.map((s) => s.name), 'setting');
  unique(tokens.map((t) => t.id), 'token');
  return { rooms, extensions, peers, settings, adminPasswordHash: hash as string | null, tokens };
}

function checkRoom(o: Record<string, unknown>): Room {
  const via = String(o.createdVia) as CreatedVia;
  if (!CREATED_VIA.includes(via)) throw bad(`createdVia must be phone, web or cli, not "${String(o.createdVia).slice(0, 20)}"`);
  const room = roomFromInput({
    id: String(o.id), pin: String(o.pin ?? ''), duration: String(o.duration), creator: o.creator === null ? null : String(o.creator),
    maxParticipants: o.maxParticipants === null ? null : String(o.maxParticipants), keep: yesNo(o.keep, 'keep'),
    moderatorPin: o.moderatorPin === null || o.moderatorPin === undefined ? null : String(o.moderatorPin), record: yesNo(o.record, 'record'),
    waitForModerator: yesNo(o.waitForModerator, 'waitForModerator'), moderatorLeaves: o.moderatorLeaves === undefined ? null : String(o.moderatorLeaves),
  }, via, date(o.createdAt));
  return room;
}

function checkExtension(o: Record<string, unknown>): Extension {
  const number = parseExtensionNumber(String(o.number ?? ''));
  const realm = String(o.realm ?? '');
  if (!/^[\x21-\x7e]{1,64}$/.test(realm)) throw bad('its realm is not valid');
  if (typeof o.ha1Md5 !== 'string' || !/^[0-9a-f]{32}$/.test(o.ha1Md5)) throw bad('its MD5 password hash is not 32 hex digits');
  if (typeof o.ha1Sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(o.ha1Sha256)) throw bad('its SHA-256 password hash is not 64 hex digits');
  return { number, displayName: validateText(String(o.displayName ?? ''), 'displayName', 'its name'), realm, ha1Md5: o.ha1Md5, ha1Sha256: o.ha1Sha256 };
}

function checkPeer(o: Record<string, unknown>): Peer {
  const port = o.outboundPort === null || o.outboundPort === undefined ? null : String(o.outboundPort);
  return peerRecord(String(o.cidr ?? ''), String(o.description ?? ''), o.transport === undefined ? null : String(o.transport), port);
}

function yesNo(v: unknown, field: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw bad(`${field} must be true or false`);
  return v;
}

function date(v: unknown): Date {
  const d = typeof v === 'string' ? new Date(v) : new Date(NaN);
  if (Number.isNaN(d.getTime())) throw bad(`"${String(v).slice(0, 30)}" is not a date`);
  return d;
}

function object(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw bad(`${what} is not an object`);
  return v as Record<string, unknown>;
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw bad(`the backup has no list of ${what}`);
  if (v.length > 10_000) throw bad(`the backup lists more than 10000 ${what}`);
  return v;
}

function unique(keys: string[], what: string): void {
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw bad(`${what} ${k} is in the backup twice`);
    seen.add(k);
  }
}

/** Runs a check, putting where in the backup the problem is before its message. */
function within<T>(where: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof BoxError) throw bad(`${where}: ${e.message}`, e.field);
    throw e;
  }
}

function bad(message: string, field = 'backup'): BoxError {
  return new BoxError(400, message, field, 'bad-backup');
}
