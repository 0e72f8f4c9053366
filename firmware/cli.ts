import { PROCESS_OPTIONS, type Config, type ExtraOption } from './config.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { readBackup, summary, writeBackup, type BackupSummary } from './backup/index.ts';
import { VERSION } from './version.ts';
import {
  ALSA_DEVICE_SETTINGS, checkAlsaDevice, isSettingName, parseExtensionNumber, parseSetting, roomFromInput, roomWithChanges, checkPinStrength, parseRoomId, SETTINGS,
  type Extension, type Room, type Settings,
} from './conference/index.ts';
import { BoxError } from './errors.ts';
import type { Logger } from './log.ts';
import { extensionRecord, parseCidrField, peerRecord, validateExtensionPassword, validateText } from './records.ts';
import { listAlsaDevices } from './media/native-engine.ts';
import { connectStore, type Store } from './store/index.ts';
import { readDatabaseChoice, writeDatabaseChoice } from './store/database-choice.ts';
import { hashPassword, validateNewPassword } from './web/auth.ts';

export const CLI_USAGE = `Technician commands (same --db / --data-dir as the box):
  confbox room add ID --pin PIN [--moderator-pin PIN] [--duration MIN] [--creator EXT] [--max-participants N] [--keep yes|no] [--record yes|no]
      [--wait-for-moderator yes|no] [--moderator-leaves continue|end]
  confbox room edit ID [--pin PIN] [--moderator-pin PIN|""] [--duration MIN] [--creator EXT] [--max-participants N] [--keep yes|no] [--record yes|no]
      [--wait-for-moderator yes|no] [--moderator-leaves continue|end]
  confbox room list [--json]
  confbox backup FILE [--passphrase TEXT|-]      the configuration (rooms, extensions, peers, settings, admin password, tokens)
  confbox restore FILE [--passphrase TEXT|-]     replaces the configuration with the backup's, all or nothing
  confbox room delete ID
  confbox extension add NUMBER --password PASSWORD [--name "Display name"]
  confbox extension list [--json]
  confbox extension delete NUMBER
  confbox peer add ADDRESS-OR-CIDR [--description TEXT] [--transport any|tcp|tls] [--outbound [PORT]]
      (tcp, tls: not trusted over UDP; --outbound: the PBX invitations to numbers that are not extensions go through)
  confbox peer list [--json]
  confbox peer delete ADDRESS-OR-CIDR
  confbox settings get [NAME] [--json]
  confbox settings set NAME VALUE
  confbox admin set-password [--password PASSWORD]   (else read from standard input)
  confbox database use embedded                  the box's own database again from its next start (undoes the page's choice)
Settings: ${Object.keys(SETTINGS).join(', ')}`;

type Out = (line: string) => void;

export const CLI_GROUPS = new Set(['room', 'extension', 'peer', 'settings', 'admin', 'backup', 'restore', 'database']);

const VALUE: ExtraOption = { type: 'string' };
const JSON_OUTPUT: ExtraOption = { type: 'boolean' };
/** yes|no, and bare for yes. */
const YES_NO: ExtraOption = { type: 'string', bare: 'yes' };
const ROOM_FIELDS = {
  pin: VALUE, 'moderator-pin': VALUE, duration: VALUE, creator: VALUE, 'max-participants': VALUE, keep: YES_NO, record: YES_NO,
  'wait-for-moderator': YES_NO, 'moderator-leaves': VALUE, json: JSON_OUTPUT,
};

/** The options each technician command takes (besides the box's --db and --data-dir); any other is refused. */
export const COMMAND_OPTIONS: Record<string, Record<string, ExtraOption>> = {
  'room add': ROOM_FIELDS,
  'room edit': ROOM_FIELDS,
  'room list': { json: JSON_OUTPUT },
  'room delete': {},
  'extension add': { password: VALUE, name: VALUE, json: JSON_OUTPUT },
  'extension list': { json: JSON_OUTPUT },
  'extension delete': {},
  'peer add': { description: VALUE, transport: VALUE, outbound: YES_NO },
  'peer list': { json: JSON_OUTPUT },
  'peer delete': {},
  'settings get': { json: JSON_OUTPUT },
  'settings set': {},
  'config backup': { passphrase: VALUE, json: JSON_OUTPUT },
  'config restore': { passphrase: VALUE, json: JSON_OUTPUT },
  'admin set-password': { password: VALUE },
  'database use': {},
};

/** The technician commands, as "group verb". */
export function commandNames(): string[] {
  return [...Object.keys(commands), ...Object.keys(storeless)];
}

/** Every option some technician command takes, for reading the command line before the command is known. */
export function allCommandOptions(): Record<string, ExtraOption> {
  return Object.assign({}, ...Object.values(COMMAND_OPTIONS)) as Record<string, ExtraOption>;
}

/** Runs one technician command; throws BoxError (a message naming what was wrong) on bad input. */
export async function runCli(config: Config, words: string[], extra: Map<string, string | true>, log: Logger, out: Out): Promise<void> {
  // "confbox backup FILE" and "confbox restore FILE" are the configuration's commands.
  const [group, verb, ...args] = words[0] === 'backup' || words[0] === 'restore' ? ['config', ...words] : words;
  const json = extra.get('json') === true;
  const opt = (name: string): string | undefined => {
    const v = extra.get(name);
    if (v === true) throw new BoxError(400, `--${name} needs a value`, name);
    return v;
  };
  const command = `${group} ${verb}`;
  const handler = commands[command];
  if (!handler && !storeless[command]) throw new BoxError(400, `unknown command "${words.join(' ')}"\n${CLI_USAGE}`);
  const own = COMMAND_OPTIONS[command] ?? {};
  const shown = words[0] === 'backup' || words[0] === 'restore' ? words[0] : command;
  for (const name of extra.keys()) {
    if (!(name in own) && !(name in PROCESS_OPTIONS)) throw new BoxError(400, `--${name} is not an option of "confbox ${shown}"`, name);
  }
  const storelessCommand = storeless[command];
  if (storelessCommand) return storelessCommand(config, args, out);
  const { store, embedded } = await connectStore({ db: config.db ?? undefined, ownDb: config.ownDb ?? undefined, dataDir: config.dataDir, log, attach: true });
  try {
    await handler!({ store, args, opt, flag: (name) => extra.get(name), json, out });
    // A running box watches this counter and takes the change at once.
    if (verb !== 'list' && verb !== 'get' && verb !== 'backup') await store.changes.bump();
  } finally {
    await store.close();
    await embedded?.stop();
  }
}

interface Ctx {
  store: Store;
  args: string[];
  opt(name: string): string | undefined;
  /** An option that may be given bare (--keep) or with a value (--keep no). */
  flag(name: string): string | boolean | undefined;
  json: boolean;
  out: Out;
}

function arg(ctx: Ctx, i: number, what: string): string {
  const v = ctx.args[i];
  if (v === undefined) throw new BoxError(400, `missing ${what}`);
  return v;
}

function keptOrNot(room: { keep: boolean }): string {
  return room.keep ? 'kept after its meetings' : 'deleted when its first meeting ends';
}

/** "PIN 1234, moderator PIN 9911, 60 minutes, creator 201, kept after its meetings" */
function roomSummary(room: Room): string {
  return `PIN ${room.pin}${room.moderatorPin ? `, moderator PIN ${room.moderatorPin}` : ''}, ${room.duration} minutes${room.creator ? `, creator ${room.creator}` : ''}, ${keptOrNot(room)}${room.record ? ', every meeting recorded' : ''}${room.waitForModerator ? ', callers wait for the moderator' : ''}${room.moderatorLeaves === 'end' ? ', ends a minute after the last moderator leaves' : ''}`;
}

function table(out: Out, rows: string[][]): void {
  if (rows.length === 0) return;
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  for (const r of rows) out(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
}

/** Commands that must work when the database does not answer: they do not connect to it. */
const storeless: Record<string, (config: Config, args: string[], out: Out) => void> = {
  'database use'(config, args, out) {
    if (args.length !== 1 || args[0] !== 'embedded') throw new BoxError(400, 'confbox database use embedded is the one form: an office\'s database is chosen on the Settings page');
    const had = readDatabaseChoiceSafely(config.dataDir);
    writeDatabaseChoice(config.dataDir, null);
    out(had ? `the box uses its own database again from its next start (it was ${had}); restart it to switch` : 'the box already uses its own database');
    if (config.db) out('note: a --db option or CONFBOX_DB is in force here, and wins over this');
  },
};

/** What the page chose, in words, or null; a damaged choice counts as one (it is removed all the same). */
function readDatabaseChoiceSafely(dataDir: string): string | null {
  try {
    const c = readDatabaseChoice(dataDir);
    return c ? `${c.host}:${c.port}, database ${c.database}` : null;
  } catch {
    return 'a damaged choice';
  }
}

const commands: Record<string, (ctx: Ctx) => Promise<void>> = {
  async 'room add'(ctx) {
    const room = roomFromInput(
      { id: arg(ctx, 0, 'room number'), pin: ctx.opt('pin') ?? '', duration: ctx.opt('duration'), creator: ctx.opt('creator'), maxParticipants: ctx.opt('max-participants'), keep: ctx.flag('keep'),
        moderatorPin: ctx.opt('moderator-pin'), record: ctx.flag('record'), waitForModerator: ctx.flag('wait-for-moderator'), moderatorLeaves: ctx.opt('moderator-leaves') },
      'cli', new Date(),
    );
    checkPinStrength(room, (await ctx.store.settings.get()).refuseEasyPins);
    await ctx.store.rooms.insert(room);
    ctx.out(ctx.json ? JSON.stringify(room) : `room ${room.id} added: ${roomSummary(room)}`);
  },
  async 'room edit'(ctx) {
    const id = parseRoomId(arg(ctx, 0, 'room number'));
    const current = await ctx.store.rooms.get(id);
    if (!current) throw new BoxError(404, `room ${id} does not exist`, 'id');
    const changes = {
      pin: ctx.opt('pin'), duration: ctx.opt('duration'), creator: ctx.opt('creator'), maxParticipants: ctx.opt('max-participants'), keep: ctx.flag('keep'),
      moderatorPin: ctx.opt('moderator-pin'), record: ctx.flag('record'), waitForModerator: ctx.flag('wait-for-moderator'), moderatorLeaves: ctx.opt('moderator-leaves'),
    };
    if (Object.values(changes).every((v) => v === undefined)) throw new BoxError(400, 'nothing to change: give --pin, --moderator-pin, --duration, --creator, --max-participants, --keep, --record, --wait-for-moderator or --moderator-leaves');
    const room = roomWithChanges(current, changes);
    if (changes.pin !== undefined || changes.moderatorPin !== undefined) checkPinStrength(room, (await ctx.store.settings.get()).refuseEasyPins);
    if (!(await ctx.store.rooms.update(room))) throw new BoxError(404, `room ${id} does not exist`, 'id');
    const inUse = (await ctx.store.live.list()).some((l) => l.roomId === id && l.participants > 0);
    ctx.out(ctx.json ? JSON.stringify(room) : `room ${id} changed: ${roomSummary(room)}${inUse ? ' (in use: the change applies to new joiners; the meeting in progress keeps its end)' : ''}`);
  },
  async 'room list'(ctx) {
    const [rooms, live] = await Promise.all([ctx.store.rooms.list(), ctx.store.live.list()]);
    const count = new Map<number, number>();
    for (const l of live) count.set(l.roomId, (count.get(l.roomId) ?? 0) + l.participants);
    const view = rooms.map((r) => ({
      id: r.id, pin: r.pin, moderatorPin: r.moderatorPin, duration: r.duration, creator: r.creator, maxParticipants: r.maxParticipants,
      createdAt: r.createdAt.toISOString(), createdVia: r.createdVia, keep: r.keep, record: r.record, waitForModerator: r.waitForModerator, moderatorLeaves: r.moderatorLeaves, active: (count.get(r.id) ?? 0) > 0, participants: count.get(r.id) ?? 0,
    }));
    if (ctx.json) return ctx.out(JSON.stringify(view));
    if (view.length === 0) return ctx.out('no rooms');
    table(ctx.out, [['ROOM', 'PIN', 'MODERATOR PIN', 'MINUTES', 'CREATOR', 'MAX', 'VIA', 'AFTER MEETING', 'RECORDED', 'IN USE'], ...view.map((r) => [
      String(r.id), r.pin, r.moderatorPin ?? '-', String(r.duration), r.creator ?? '-', r.maxParticipants === null ? 'box' : String(r.maxParticipants), r.createdVia, r.keep ? 'kept' : 'deleted', r.record ? 'yes' : 'no', r.active ? `${r.participants} in call` : '-',
    ])]);
  },
  async 'room delete'(ctx) {
    const id = parseRoomId(arg(ctx, 0, 'room number'));
    if (!(await ctx.store.rooms.delete(id))) throw new BoxError(404, `room ${id} does not exist`, 'id');
    ctx.out(`room ${id} deleted`);
  },
  async 'extension add'(ctx) {
    const number = parseExtensionNumber(arg(ctx, 0, 'extension number'));
    const settings = await ctx.store.settings.get();
    const ext = extensionRecord(number, validateExtensionPassword(ctx.opt('password'), ' (--password)'), validateText(ctx.opt('name'), 'name', 'display name'), settings.realm);
    await ctx.store.extensions.put(ext);
    ctx.out(ctx.json ? JSON.stringify({ number, displayName: ext.displayName }) : `extension ${number} saved${ext.displayName ? ` (${ext.displayName})` : ''}`);
  },
  async 'extension list'(ctx) {
    const list = (await ctx.store.extensions.list()).map((e) => ({ number: e.number, displayName: e.displayName }));
    if (ctx.json) return ctx.out(JSON.stringify(list));
    if (list.length === 0) return ctx.out('no extensions');
    table(ctx.out, [['NUMBER', 'NAME'], ...list.map((e) => [e.number, e.displayName])]);
  },
  async 'extension delete'(ctx) {
    const number = parseExtensionNumber(arg(ctx, 0, 'extension number'));
    if (!(await ctx.store.extensions.delete(number))) throw new BoxError(404, `extension ${number} does not exist`, 'number');
    ctx.out(`extension ${number} deleted`);
  },
  async 'peer add'(ctx) {
    const peer = peerRecord(arg(ctx, 0, 'address or CIDR'), ctx.opt('description'), ctx.opt('transport'), ctx.flag('outbound'));
    await ctx.store.peers.put(peer);
    const over = peer.transport === 'any' ? '' : ` (trusted over ${peer.transport === 'tls' ? 'TLS only' : 'TCP and TLS'})`;
    ctx.out(`trusted peer ${peer.cidr} saved${over}${peer.outboundPort === null ? '' : `; invitations to numbers that are not extensions go through it, port ${peer.outboundPort}`}`);
  },
  async 'peer list'(ctx) {
    const list = await ctx.store.peers.list();
    if (ctx.json) return ctx.out(JSON.stringify(list));
    if (list.length === 0) return ctx.out('no trusted peers');
    table(ctx.out, [['CIDR', 'TRANSPORT', 'OUTBOUND', 'DESCRIPTION'], ...list.map((p) => [p.cidr, p.transport, p.outboundPort === null ? '-' : `port ${p.outboundPort}`, p.description])]);
  },
  async 'peer delete'(ctx) {
    const cidr = parseCidrField(arg(ctx, 0, 'address or CIDR'));
    if (!(await ctx.store.peers.delete(cidr))) throw new BoxError(404, `trusted peer ${cidr} does not exist`, 'cidr');
    ctx.out(`trusted peer ${cidr} deleted`);
  },
  async 'settings get'(ctx) {
    const s = await ctx.store.settings.get();
    const name = ctx.args[0];
    if (name !== undefined) {
      if (!isSettingName(name)) throw new BoxError(400, `unknown setting "${name}"; known: ${Object.keys(SETTINGS).join(', ')}`, 'name');
      return ctx.out(ctx.json ? JSON.stringify(s[name]) : String(s[name]));
    }
    if (ctx.json) return ctx.out(JSON.stringify(s));
    table(ctx.out, (Object.keys(SETTINGS) as Array<keyof Settings>).map((k) => [k, String(s[k]), SETTINGS[k].help]));
  },
  async 'config backup'(ctx) {
    const file = arg(ctx, 0, 'backup file');
    const configuration = await ctx.store.configuration.read();
    const passphrase = await passphraseOf(ctx);
    writeFileSync(file, writeBackup(configuration, { firmware: VERSION, now: new Date(), passphrase }), { mode: 0o600 });
    const s = summary(configuration);
    ctx.out(ctx.json ? JSON.stringify({ file, ...s, sealed: !!passphrase }) : `backup written to ${file}${passphrase ? ' (protected by the passphrase)' : ''}: ${describeSummary(s)}`);
  },
  async 'config restore'(ctx) {
    const file = arg(ctx, 0, 'backup file');
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new BoxError(400, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`, 'file');
    }
    const backup = readBackup(text, await passphraseOf(ctx));
    await ctx.store.configuration.replace(backup.configuration);
    const s = summary(backup.configuration);
    ctx.out(ctx.json ? JSON.stringify({ file, ...s, firmware: backup.firmware, createdAt: backup.createdAt }) : `restored from ${file} (written ${backup.createdAt} by firmware ${backup.firmware}): ${describeSummary(s)}`);
  },
  async 'admin set-password'(ctx) {
    const password = validateNewPassword(ctx.opt('password') ?? (await readLine()));
    await ctx.store.admin.setPasswordHash(await hashPassword(password));
    ctx.out('web page admin password set');
  },
  async 'settings set'(ctx) {
    const name = arg(ctx, 0, 'setting name');
    if (!isSettingName(name)) throw new BoxError(400, `unknown setting "${name}"; known: ${Object.keys(SETTINGS).join(', ')}`, 'name');
    const value = parseSetting(name, arg(ctx, 1, 'value'));
    if ((ALSA_DEVICE_SETTINGS as readonly string[]).includes(name)) checkAlsaDevice(name, String(value), listAlsaDevices());
    await ctx.store.settings.set(name, value);
    ctx.out(`${name} = ${value}`);
    if (name === 'realm') ctx.out('note: extension passwords were hashed for the old realm; set each again with "confbox extension add NUMBER --password ..."');
  },
};

/** --passphrase P, or --passphrase - for the first line of standard input; none: the backup is not sealed. */
async function passphraseOf(ctx: Ctx): Promise<string | null> {
  const p = ctx.opt('passphrase');
  if (p === undefined) return null;
  const passphrase = p === '-' ? await readLine('Backup passphrase: ') : p;
  if (passphrase.length < 8) throw new BoxError(400, 'the passphrase must have at least 8 characters', 'passphrase');
  return passphrase;
}

function describeSummary(s: BackupSummary): string {
  return `${s.rooms} rooms, ${s.extensions} extensions, ${s.peers} trusted peers, ${s.settings} settings, ${s.adminPassword ? 'the admin password' : 'no admin password'}, ${s.tokens} API tokens`;
}

/** The first line of standard input (a password piped in, or typed at a terminal). */
async function readLine(prompt = 'New web page admin password: '): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(prompt);
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  process.stdin.pause();
  return text.split(/\r?\n/)[0] ?? '';
}
