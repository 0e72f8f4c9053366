import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from './clock.ts';
import { ConfigChanges } from './config-changes.ts';
import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import { NativeEngine } from './media/index.ts';
import { loadPrompts } from './media/prompts.ts';
import { createLedDriver, describePattern, GpioUnavailable, LedController, MockLedDriver, resolveBoard } from './hw/index.ts';
import { Voice } from './media/voice.ts';
import { LOCAL_PARTICIPANT, LocalAudio } from './local-audio.ts';
import { PublicAddresses } from './net.ts';
import { ConferenceRecorder, RecordingLibrary } from './recordings/index.ts';
import { RoomService } from './rooms.ts';
import { boxSecret } from './secrets.ts';
import { Directory } from './sip/directory.ts';
import { AuthRecordsFile } from './sip/auth-records-file.ts';
import { AuthRecords } from './sip/auth-records.ts';
import { DialogJournal } from './sip/dialog-journal.ts';
import { Registrar } from './sip/registrar.ts';
import { ConferenceCalls } from './calls/index.ts';
import { SipUserAgent } from './sip/user-agent.ts';
import { Status } from './status.ts';
import { connectStore, SwitchableStore, type Store } from './store/index.ts';
import { DatabaseSwitch } from './database-switch.ts';
import { parseDatabaseUrl } from './store/mysql.ts';
import { describeTarget, type OfficeDatabase } from './store/probe.ts';
import type { DatabasePlace, DatabaseView } from './web/database-page.ts';
import { officeConnection, readDatabaseChoice } from './store/database-choice.ts';
import type { SslOptions } from 'mysql2/promise';
import { lockDataDir } from './datadir-lock.ts';
import { AdminAuth } from './web/auth.ts';
import { Operations } from './web/operations.ts';
import { HostNames } from './web/host-names.ts';
import { SetupCode } from './web/setup-code.ts';
import { WebServer } from './web/server.ts';
import { Systemd } from './systemd.ts';
import { loadTlsIdentity } from './tls-identity.ts';
import { ControlSocket, controlSocketPath, Updater } from './update/index.ts';
import { ClusterView } from './cluster-view.ts';
import { hostname } from 'node:os';

/** How long a missed media tick keeps the fault LED on. */
const OVERRUN_FAULT_MS = 60_000;
const DISK_CHECK_MS = 60_000;
/** How often the C heap's free memory is given back to the system. */
const RELEASE_MEMORY_MS = 10_000;
/** Below this much free space the database and call log are at risk. */
const DISK_MIN_FREE_BYTES = 64 * 1024 * 1024;
const DISK_MIN_FREE_RATIO = 0.05;
/** How often recordings past the retention setting are looked for. */
const RETENTION_CHECK_MS = 3_600_000;

/** The running box: config -> store -> conference -> media -> sip, stopped in reverse. */
export async function runBox(config: Config, log: Logger, version = 'dev'): Promise<() => Promise<void>> {
  mkdirSync(config.dataDir, { recursive: true });
  // First of all: a second box on the same data directory would fight this one for its database.
  const lock = lockDataDir(config.dataDir);
  log.info('data directory locked', { dataDir: config.dataDir, file: lock.file });
  const status = new Status();
  const clock = systemClock;
  // Before any child process starts: it takes systemd's variables out of the environment.
  const systemd = new Systemd({ log, status });
  const addresses = PublicAddresses.from(config.bind, config.publicAddress, config.publicAddressV6);
  const publicAddress = addresses.primary;
  if (config.bind === '::' && addresses.v6 === null) log.warn('bound to :: but this machine has no external IPv6 address: IPv6 phones are given the IPv4 one; set --public-address-v6', { publicAddress });
  const tls = loadTlsIdentity({
    dataDir: config.dataDir, certFile: config.tlsCert, keyFile: config.tlsKey, extraNames: [...addresses.all(), config.bind],
    onReplaced: (file, why) => log.warn('the generated TLS certificate could not be used; making a new one', { file, why }),
  });
  status.set({ tlsFingerprint: tls.fingerprint, tlsGenerated: tls.source === 'generated' });
  log.info('TLS certificate', { fingerprint: tls.fingerprint, source: tls.source, file: tls.certFile, validTo: tls.validTo, names: tls.names });

  // The LEDs read the status model from the start, so that power blinks while the rest comes up.
  const board = resolveBoard(config.board ?? undefined);
  let driver;
  try {
    driver = createLedDriver(board, { clock, onChange: (c) => log.debug('led', { led: c.led, on: c.on, at: c.at }) });
  } catch (e) {
    if (!(e instanceof GpioUnavailable)) throw e;
    log.error('status LEDs unavailable on this board; running without them', { board: board.name, err: e });
    driver = new MockLedDriver();
  }
  const leds = new LedController(driver, clock, { onPattern: (led, p) => log.debug('led pattern', { led, pattern: p, shows: describePattern(p) }) });
  leds.start(status);
  log.info('board ready', { board: board.name, audio: board.audio ? 'profile' : 'none' });

  const boxId = config.boxId ?? hostname();
  let connected;
  try {
    connected = await connectStore({ db: config.db ?? undefined, ownDb: config.ownDb ?? undefined, dataDir: config.dataDir, log, boxId });
  } catch (e) {
    lock.release();
    throw e;
  }
  const { embedded } = connected;
  // Every part of the box is handed this one store; a switch on the page replaces the database behind it.
  const store = new SwitchableStore(connected.store);
  /** Once the embedded MariaDB is back, the box looks at once instead of at its next health check. */
  let databaseBack = (): void => undefined;
  const databases = new DatabaseSwitch({ store, embedded, ownDb: config.ownDb, dataDir: config.dataDir, boxId, log, status, embeddedBack: () => databaseBack() });
  const cleanups: Array<() => Promise<void> | void> = [() => lock.release(), () => leds.stop(), async () => store.close(), () => databases.close()];
  /** Run first when the box stops, before anything is taken down. */
  const beforeStop: Array<() => void> = [];
  const stopAll = async () => {
    for (const b of beforeStop) b();
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        log.warn('shutdown step failed', { err: e });
      }
    }
  };
  try {
    log.info('database ready', { embedded: !!embedded, url: embedded ? embedded.socketPath : redact(config.db ?? config.ownDb ?? '') });

    let sip: ConferenceCalls | null = null;
    /** Conferences, registrations, failed attempts or the status changed: the web page's live view follows. */
    const changes = new EventEmitter<{ change: [] }>();
    status.on('change', () => changes.emit('change'));
    let localAudio: LocalAudio | null = null;
    /** A conference started, changed or ended in a room: subscribers to the room's lamp are told. */
    let roomLamps = (_room: number): void => undefined;
    const rooms = new RoomService(store, clock, log, status, {
      warning: (c) => {
        log.info('conference ends in one minute', { room: c.roomId, participants: c.participants.size });
        sip?.warnConference(c);
      },
      expired: (c) => {
        rooms.expired(c);
        void sip?.endConference(c);
      },
      changed: (c) => {
        changes.emit('change');
        localAudio?.conferenceChanged(c);
        roomLamps(c.roomId);
      },
    });
    await rooms.start();
    databaseBack = () => void rooms.checkDatabase();
    beforeStop.push(() => rooms.closing());
    cleanups.push(async () => {
      rooms.stop();
      await store.live.clear().catch(() => undefined);
    });
    log.info('conference rules ready', { rooms: (await rooms.listRooms()).length, maxParticipants: rooms.settings().maxParticipants });

    let engine: NativeEngine;
    try {
      engine = new NativeEngine({
        rtpPorts: config.rtpPorts, bindAddress: config.bind, rtpTimeoutMs: rooms.settings().rtpTimeoutSeconds * 1000,
        ...(config.mediaThreads !== null ? { mediaThreads: config.mediaThreads } : {}),
      });
    } catch (e) {
      throw new Error(`media engine: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    cleanups.push(() => engine.close());
    // Memory freed after a burst of calls goes back to the system instead of staying with the box.
    const memoryTimer = setInterval(() => {
      const before = process.memoryUsage.rss();
      if (engine.releaseMemory()) log.debug('memory given back', { rssMb: Math.round(before / 1048576), nowMb: Math.round(process.memoryUsage.rss() / 1048576) });
    }, RELEASE_MEMORY_MS);
    memoryTimer.unref();
    cleanups.push(() => clearInterval(memoryTimer));
    let overrunTimer: NodeJS.Timeout | null = null;
    engine.events.on('overrun', (late) => {
      const legs = engine.stats().legs;
      log.warn('media engine missed ticks', { lateTicks: late, legs });
      // Audio was lost only where legs were carrying it: a slow start-up or an idle box is no fault to flash.
      if (legs === 0) return;
      status.set({ mediaOverrun: true });
      if (overrunTimer) clearTimeout(overrunTimer);
      overrunTimer = setTimeout(() => status.set({ mediaOverrun: false }), OVERRUN_FAULT_MS);
      overrunTimer.unref();
    });
    const disk = setInterval(() => status.set({ diskFull: diskNearlyFull(config.dataDir) }), DISK_CHECK_MS);
    disk.unref();
    status.set({ diskFull: diskNearlyFull(config.dataDir) });
    cleanups.push(() => {
      clearInterval(disk);
      if (overrunTimer) clearTimeout(overrunTimer);
    });
    const voice = new Voice(engine, log.child({ subsystem: 'voice' }));
    const promptDir = findPromptDir();
    const prompts = loadPrompts(promptDir);
    const loaded = voice.load(prompts);
    if (prompts.problems.length) log.warn('prompts incomplete: calls work, some announcements stay silent', { dir: promptDir, problems: prompts.problems.slice(0, 5) });
    status.set({ media: 'ok' });
    const srtp = engine.srtp();
    status.set({ srtpAvailable: srtp.available, srtpDetail: srtp.available ? srtp.version : srtp.reason });
    if (!srtp.available) log.warn('encrypted audio (SRTP) unavailable: calls offering it are refused', { reason: srtp.reason });
    log.info('media ready', { rtpPorts: `${config.rtpPorts.min}-${config.rtpPorts.max}`, engine: 'native', mediaThreads: engine.stats().threads, prompts: loaded });

    let registrar: Registrar | null = null;
    const directory = new Directory(store, log, () => status.set({ trustedPeers: directory.peerCount() }));
    await directory.start();
    registrar = new Registrar(store, clock, log, () => {
      status.set({ registeredExtensions: registrar?.registeredCount() ?? 0 });
      changes.emit('change');
    });
    await registrar.start();
    cleanups.push(async () => { directory.stop(); await registrar?.stop(); });
    const authFile = new AuthRecordsFile(join(config.dataDir, 'auth-records.json'), log);
    const authRecords: AuthRecords = new AuthRecords(clock, () => {
      authFile.scheduleSave(authRecords);
      changes.emit('change');
    });
    authFile.load(authRecords);
    cleanups.push(() => authFile.flush(authRecords));
    const configChanges = new ConfigChanges(store, log, async () => {
      await Promise.all([directory.refresh(), rooms.reload()]);
      changes.emit('change');
    });
    await configChanges.start();
    cleanups.push(() => configChanges.stop());

    const recorder = new ConferenceRecorder({
      engine, dir: join(config.dataDir, 'recordings'), minFreeBytes: () => rooms.settings().recordingMinFreeMb * 1048576,
      onStalled: (info, why) => {
        log.error('recording stalled', { room: info.room, file: info.file, why });
        status.set({ recordingStalled: `room ${info.room}: ${why}` });
      },
      onStopped: (_info, stalled) => {
        if (stalled && !recorder.hasStalled()) status.set({ recordingStalled: '' });
      },
    });
    cleanups.push(() => recorder.stopAll());
    const recordings = new RecordingLibrary(recorder.dir, () => recorder.list().map((r) => r.file));
    const retention = () => {
      try {
        const gone = recordings.deleteOlderThan(rooms.settings().recordingRetentionDays, new Date(clock.now()));
        if (gone.length) log.info('old recordings deleted', { count: gone.length, days: rooms.settings().recordingRetentionDays, names: gone.map((r) => r.name).slice(0, 20) });
      } catch (e) {
        log.warn('old recordings could not be deleted', { err: e });
      }
    };
    retention();
    const retentionTimer = setInterval(retention, RETENTION_CHECK_MS);
    retentionTimer.unref();
    cleanups.push(() => clearInterval(retentionTimer));
    const calls = new ConferenceCalls({
      rooms, engine, voice, log: log.child({ subsystem: 'calls' }), confirmationMs: 300, recorder,
      muteOther: (id, muted) => id === LOCAL_PARTICIPANT.id && (localAudio?.setMuted(muted) ?? false),
      otherBoxes: () => (status.get().cluster?.boxes ?? []).filter((b) => !b.self).length,
    });
    const journal = new DialogJournal(join(config.dataDir, 'calls-in-progress.json'), log.child({ subsystem: 'sip' }));
    cleanups.push(() => journal.flush());
    const ua = new SipUserAgent({
      port: config.sipPort, tls: { port: config.sipTlsPort, cert: tls.cert, key: tls.key }, bind: config.bind, publicAddress, addressFor: (remote) => addresses.for(remote), codecs: ['PCMU', 'PCMA', 'G722'],
      nonceKey: boxSecret(config.dataDir, 'nonce'), settings: () => rooms.settings(), lockout: rooms.lockout,
      log: log.child({ subsystem: 'sip' }), clock, directory, registrar, authRecords, engine, status, journal,
      rooms: { exists: (id) => rooms.hasRoom(id), busy: (id) => rooms.isBusy(id) },
    });
    roomLamps = (room) => ua.subscriptions.roomChanged(room);
    rooms.onRoomRemoved((room) => ua.subscriptions.roomChanged(room));
    calls.attach(ua);
    await ua.start(calls);
    sip = calls;
    const s = calls;
    cleanups.push(() => ua.stop());
    log.info('sip ready', { port: config.sipPort, tlsPort: config.sipTlsPort, bind: config.bind, publicAddress, publicAddressV6: addresses.v6, transports: ['udp', 'tcp', 'tls'], fingerprint: tls.fingerprint });

    const local = new LocalAudio({
      engine, rooms, status, board, log: log.child({ subsystem: 'local-audio' }),
      announce: { joined: (c) => s.participantJoined(c), left: (c) => s.participantLeft(c) },
    });
    localAudio = local;
    local.start();
    cleanups.push(() => local.stop());

    const updater = new Updater({
      dataDir: config.dataDir, status, log: log.child({ subsystem: 'update' }),
      // Everyone hears why, then is hung up; the restart follows once the notice has run out.
      endCalls: async (why) => {
        await Promise.all(rooms.conferences.list().map((c) => s.endConference(c, why, { kind: 'restartingForUpdate' })));
      },
    });
    cleanups.push(() => updater.stop());
    // On a database server that other boxes may share: every box's conferences, shared blocks, the database's nodes.
    let cluster: ClusterView | null = null;
    const watchCluster = (db: { url: string; ssl?: SslOptions } | null) => {
      cluster?.stop();
      cluster = null;
      status.set({ cluster: null });
      if (!db) return;
      cluster = new ClusterView({ store, boxId, db, status, log: log.child({ subsystem: 'cluster' }), lockout: rooms.lockout,
        windowMinutes: () => rooms.settings().lockoutWindowMinutes,
      });
      cluster.start();
    };
    /** The server of the box's own database (--own-db), or none: the embedded MariaDB is this box's alone. */
    const ownServer = config.ownDb !== null ? { url: config.ownDb } : null;
    const chosen = config.db === null ? readDatabaseChoice(config.dataDir) : null;
    watchCluster(config.db !== null ? { url: config.db } : chosen ? officeConnection(chosen) : ownServer);
    cleanups.push(() => cluster?.stop());
    const control = new ControlSocket(controlSocketPath(config.dataDir), updater, log.child({ subsystem: 'update' }));
    await control.start();
    cleanups.push(() => control.stop());

    // To another database while the box runs: blocks and registrations come along, the caches are read again there.
    const switchDatabase = (office: OfficeDatabase | null, prepare?: (to: Store) => Promise<void>) => databases.switchTo(office, {
      ...(prepare ? { prepare } : {}),
      carry: async (_from, to) => {
        for (const b of rooms.lockout.list()) await to.blocks.put(b);
        for (const b of registrar!.all()) await to.bindings.put(b);
      },
      settle: async () => {
        await Promise.all([rooms.databaseSwitched(), directory.refresh(), configChanges.rebase()]);
        watchCluster(office ? officeConnection(office) : ownServer);
        changes.emit('change');
      },
    });
    const ops = new Operations({
      store, rooms, sip: s, directory, registrar, authRecords, recordings, status, leds: () => leds.patterns(), version,
      sipPort: config.sipPort, sipTlsPort: config.sipTlsPort, httpPort: config.httpPort, httpsPort: config.httpsPort,
      publicAddresses: { v4: addresses.v4, v6: addresses.v6 }, log: log.child({ subsystem: 'web' }), localAudio: local,
      alsaDevices: () => engine.alsaDevices(),
      updater, boxId, database: { inUse: databaseInUse(config, config.dataDir), dataDir: config.dataDir, switchTo: switchDatabase, ...(config.ownDb !== null ? { own: describeUrl(config.ownDb) } : {}) },
    });
    const setupCode = SetupCode.open(config.dataDir, (await store.admin.passwordHash()) !== null);
    const auth = new AdminAuth(store, setupCode);
    // Read once now: the page can then be logged in to even if the database goes away before anyone has.
    await auth.passwordIsSet();
    const web = new WebServer({
      port: config.httpPort, httpsPort: config.httpsPort, bind: config.bind, tls, httpRedirect: () => rooms.settings().httpRedirect,
      ops, auth, log: log.child({ subsystem: 'web' }), onChange: (listener) => changes.on('change', listener),
      hostNames: new HostNames([...addresses.all(), config.bind], () => rooms.settings().webHostNames),
    });
    await web.start();
    cleanups.push(() => web.stop());
    const host = publicAddress.includes(':') ? `[${publicAddress}]` : publicAddress;
    log.info('web page ready', { port: web.port, httpsPort: web.httpsPort, url: `https://${host}:${web.httpsPort}/`, fingerprint: tls.fingerprint, httpRedirect: rooms.settings().httpRedirect });
    // Whoever sets the first admin password on the page must show they hold the box: this code.
    if (setupCode.shown) log.info('web page setup code', { code: setupCode.shown, file: setupCode.file });
    status.set({ sip: 'ok', ready: true });
    // The health line: a database query answered, the media engine ticking, what runs; the image's boot test reads it.
    const queried = Date.now();
    const roomCount = (await store.rooms.list()).length;
    log.info('confbox ready', {
      version, node: process.version, arch: process.arch, board: board.name,
      database: { answered: true, rooms: roomCount, ms: Date.now() - queried },
      engine: { loaded: true, ticks: engine.stats().ticks },
    });
    systemd.ready(() => engine.stats().ticks);
    // Healthy: the slot this box runs from is kept by the boot loader (on a box that installs updates).
    void updater.markGood();
    cleanups.push(() => systemd.stopping());
    return stopAll;
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** The prompts generated at build time: beside the bundle, or in dist/ when run from the sources. */
function findPromptDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'prompts'), join(dirname(process.argv[1] ?? here), 'prompts'), join(here, '../dist/prompts')];
  return candidates.find((d) => existsSync(join(d, 'index.json'))) ?? candidates[0]!;
}

function diskNearlyFull(dir: string): boolean {
  try {
    const s = statfsSync(dir);
    const free = s.bavail * s.bsize;
    return free < DISK_MIN_FREE_BYTES || free < s.blocks * s.bsize * DISK_MIN_FREE_RATIO;
  } catch {
    return false;
  }
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/**
 * Where the configuration is kept since start-up, for the page: the server --db (CONFBOX_DB) names, the one chosen on
 * the page, or the box's own (the server --own-db names, or the embedded MariaDB).
 */
function databaseInUse(config: { db: string | null; ownDb: string | null }, dataDir: string): DatabasePlace & { setBy: DatabaseView['setBy'] } {
  if (config.db !== null) return { kind: 'server', ...describeUrl(config.db), setBy: 'start-up option' };
  const chosen = readDatabaseChoice(dataDir);
  if (chosen) return { kind: 'server', where: describeTarget(chosen), database: chosen.database, tls: chosen.tls, setBy: 'page' };
  return config.ownDb !== null ? { kind: 'embedded', own: describeUrl(config.ownDb), setBy: 'default' } : { kind: 'embedded', setBy: 'default' };
}

function describeUrl(url: string): { where: string; database: string } {
  const t = parseDatabaseUrl(url);
  const where = t.nodes?.length ? t.nodes.map((n) => describeTarget(n)).join(', ') : t.socketPath ? `${t.socketPath} (a local socket)` : describeTarget({ host: t.host ?? 'localhost', port: t.port ?? 3306 });
  return { where, database: t.database };
}
