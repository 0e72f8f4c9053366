/**
 * The box's web page and JSON API in this process, on a loopback port: the real WebServer with the real Operations,
 * AdminAuth, RoomService, Directory, Registrar, recordings and updater, over an in-memory store (memory-store.ts) and
 * the mock media engine. No SIP stack runs: no calls, no conferences. Starting one takes milliseconds, so a test (or a
 * fuzz target) may start a box for every request.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConferenceCalls } from '../../firmware/calls/index.ts';
import { systemClock } from '../../firmware/clock.ts';
import type { Room } from '../../firmware/conference/types.ts';
import { ledPatterns } from '../../firmware/hw/patterns.ts';
import { createLogger, type Level } from '../../firmware/log.ts';
import { MockEngine } from '../../firmware/media/mock-engine.ts';
import { Voice } from '../../firmware/media/voice.ts';
import { ConferenceRecorder, RecordingLibrary } from '../../firmware/recordings/index.ts';
import { wavHeader } from '../../firmware/recordings/recorder.ts';
import { RoomService } from '../../firmware/rooms.ts';
import { AuthRecords } from '../../firmware/sip/auth-records.ts';
import { Directory } from '../../firmware/sip/directory.ts';
import { Registrar } from '../../firmware/sip/registrar.ts';
import { Status } from '../../firmware/status.ts';
import type { Configuration } from '../../firmware/store/types.ts';
import { Rauc, Updater } from '../../firmware/update/index.ts';
import { AdminAuth, hashPassword, type Session } from '../../firmware/web/auth.ts';
import { HostNames } from '../../firmware/web/host-names.ts';
import { Operations } from '../../firmware/web/operations.ts';
import { WebServer } from '../../firmware/web/server.ts';
import { SetupCode } from '../../firmware/web/setup-code.ts';
import { MemoryStore } from './memory-store.ts';

/** The administrator's password on a box past first use. */
export const ADMIN_PASSWORD = 'correct horse battery';
/** An API token the box knows (only its SHA-256 is stored, as the box stores it). */
export const API_TOKEN = 'cbx_Wq0rY7hUe2Lk9sVb4Xn1Ti6Op3Za8Mc5';
/** The recording on the box's disk: room 2, 1 December 2026 09:30:00 UTC, a tenth of a second. */
export const RECORDING_NAME = 'room-2-20261201-093000.wav';

const room = (id: number, extra: Partial<Room>): Room => ({
  id, pin: '5829', duration: 60, creator: null, maxParticipants: null, createdAt: new Date('2026-11-01T08:00:00.000Z'), createdVia: 'web', keep: true,
  moderatorPin: null, record: false, waitForModerator: false, moderatorLeaves: 'continue', ...extra,
});

/** What the box holds at start: two rooms, two extensions, a trusted peer, a changed setting, the password and a token. */
function configuration(adminPasswordHash: string | null): Configuration {
  const ha1 = (algorithm: string, number: string) => createHash(algorithm).update(`${number}:confbox:secret-${number}`).digest('hex');
  return {
    rooms: [
      room(2, { moderatorPin: '7316', record: true, waitForModerator: true, moderatorLeaves: 'end', creator: '201', maxParticipants: 5 }),
      room(7, { pin: '4096', duration: 30, createdVia: 'phone', keep: false, creator: '202' }),
    ],
    extensions: ['201', '202'].map((number) => ({ number, displayName: `Desk ${number}`, realm: 'confbox', ha1Md5: ha1('md5', number), ha1Sha256: ha1('sha256', number) })),
    peers: [{ cidr: '192.0.2.5/32', description: 'Office PBX', transport: 'tcp', outboundPort: null }],
    settings: [{ name: 'maxParticipants', value: '6' }],
    adminPasswordHash,
    tokens: [{ id: 'a1b2c3d4e5f6', label: 'monitoring', createdAt: new Date('2026-11-02T10:00:00.000Z'), hash: createHash('sha256').update(API_TOKEN).digest('hex') }],
  };
}

/** scrypt is slow on purpose: the password's hash is made once per process. */
let adminPasswordHash: Promise<string> | null = null;

export interface WebBoxOptions {
  /** No administrator password yet: the page asks for the setup code (first use). */
  firstUse?: boolean;
  /** Records below this level are not kept in `logs`; default warn. */
  logLevel?: Level;
}

export interface WebBox {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  store: MemoryStore;
  /** A browser session logged in as the administrator: its cookie value (`id`) and its forms' CSRF token (`csrf`). */
  session: Session;
  /** The administrator's password; null on first use. */
  password: string | null;
  /** An API token the box knows. */
  apiToken: string;
  /** The setup code of a box on first use; null past it. */
  setupCode: string | null;
  /** Every log record the box wrote at the level asked or above. */
  logs: Array<Record<string, unknown>>;
  stop(): Promise<void>;
}

/** Starts a box's web page on a free loopback port, its data directory a new temporary one. */
export async function startWebBox(o: WebBoxOptions = {}): Promise<WebBox> {
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-web-'));
  const stops: Array<() => unknown> = [() => rmSync(dataDir, { recursive: true, force: true })];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  try {
    const logs: Array<Record<string, unknown>> = [];
    const log = createLogger(o.logLevel ?? 'warn', {}, (line) => logs.push(JSON.parse(line) as Record<string, unknown>));
    adminPasswordHash ??= hashPassword(ADMIN_PASSWORD);
    const store = new MemoryStore(configuration(o.firstUse ? null : await adminPasswordHash));
    const recordingsDir = join(dataDir, 'recordings');
    mkdirSync(recordingsDir);
    const samples = 1600;
    writeFileSync(join(recordingsDir, RECORDING_NAME), Buffer.concat([wavHeader(samples * 2), Buffer.alloc(samples * 2)]));

    const status = new Status();
    status.set({ ready: true, sip: 'ok', media: 'ok' });
    const changes = new EventEmitter<{ change: [] }>();
    status.on('change', () => changes.emit('change'));
    const rooms = new RoomService(store, systemClock, log, status, { warning: () => undefined, expired: () => undefined, changed: () => changes.emit('change') });
    await rooms.start();
    stops.push(() => rooms.stop());
    const directory = new Directory(store, log, () => status.set({ trustedPeers: directory.peerCount() }));
    await directory.start();
    stops.push(() => directory.stop());
    const registrar = new Registrar(store, systemClock, log, () => changes.emit('change'));
    await registrar.start();
    stops.push(() => registrar.stop());
    const authRecords = new AuthRecords(systemClock, () => changes.emit('change'));
    const engine = new MockEngine();
    const recorder = new ConferenceRecorder({ engine, dir: recordingsDir, minFreeBytes: () => 0 });
    stops.push(() => recorder.stopAll());
    const calls = new ConferenceCalls({ rooms, engine, voice: new Voice(engine, log), log, confirmationMs: 300, recorder });
    // A machine without RAUC, as a development machine is: updates are refused as unavailable.
    const updater = new Updater({ dataDir, status, log, rauc: new Rauc(join(dataDir, 'rauc')), endCalls: async () => undefined });
    stops.push(() => updater.stop());
    const ops = new Operations({
      store, rooms, sip: calls, directory, registrar, authRecords, status, version: '0.1.0-test',
      recordings: new RecordingLibrary(recordingsDir, () => recorder.list().map((r) => r.file)),
      leds: () => ledPatterns(status.get()), sipPort: 5060, sipTlsPort: 5061, httpPort: 0, httpsPort: 0,
      publicAddresses: { v4: '127.0.0.1', v6: null }, log, localAudio: null, alsaDevices: () => ['default'], updater, boxId: 'memory-box',
      database: { inUse: { kind: 'embedded', setBy: 'default' }, dataDir },
    });
    const setupCode = SetupCode.open(dataDir, !o.firstUse);
    const auth = new AdminAuth(store, setupCode);
    const web = new WebServer({
      port: 0, bind: '127.0.0.1', tls: null, ops, auth, log, onChange: (listener) => changes.on('change', listener),
      hostNames: new HostNames(['127.0.0.1'], () => rooms.settings().webHostNames),
    });
    await web.start();
    stops.push(() => web.stop());
    return {
      url: `http://127.0.0.1:${web.port}`, port: web.port, store, logs, session: auth.newSession(), password: o.firstUse ? null : ADMIN_PASSWORD,
      apiToken: API_TOKEN, setupCode: setupCode.shown, stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
