/**
 * Firmware updates: a signed RAUC bundle (from the page, the API or `confbox update FILE`) is installed into the
 * inactive root slot while the box runs on; then the calls hear that the box restarts, are ended cleanly, and the
 * box asks the board to restart into the new slot. After a start, the running slot is marked good once the box is
 * healthy; a slot that never gets there is abandoned by U-Boot's boot counter (board/rootfs: the slot check).
 */
import { createWriteStream, mkdirSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type Readable } from 'node:stream';
import { BoxError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Status } from '../status.ts';
import { Rauc, RaucError, type Slot } from './rauc.ts';

/** A bundle is the root file system, compressed: a few hundred MB. */
export const MAX_BUNDLE_BYTES = 2048 * 1048576;
/** Room left on the data partition after an upload, for the database and recordings. */
const KEEP_FREE_BYTES = 256 * 1048576;
/** Between "the box restarts" and the restart: the calls hear it, then are ended. */
export const RESTART_NOTICE_MS = 10_000;

export type UpdatePhase = 'idle' | 'receiving' | 'installing' | 'restarting' | 'failed';

export interface UpdateView {
  /** This system installs updates (RAUC answers); otherwise why not. */
  available: boolean;
  reason: string;
  /** Both root slots: the running one, and the other with what it holds. */
  slots: Slot[];
  booted: string;
  phase: UpdatePhase;
  percent: number;
  step: string;
  /** The last failure, in words. */
  error: string;
  /** When the box restarts (ms since the epoch), once an update is installed. */
  restartAt: number | null;
  /** The running slot was marked good in this start. */
  markedGood: boolean;
}

export interface UpdaterOptions {
  dataDir: string;
  status: Status;
  log: Logger;
  rauc?: Rauc;
  /** The calls hear that the box restarts and are ended; resolves when they are gone. */
  endCalls: (why: string) => Promise<void>;
  restartNoticeMs?: number;
}

export const idleUpdate: UpdateView = {
  available: false, reason: 'starting', slots: [], booted: '', phase: 'idle', percent: 0, step: '', error: '', restartAt: null, markedGood: false,
};

export class Updater {
  private readonly rauc: Rauc;
  private view: UpdateView = { ...idleUpdate };
  private restartTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: UpdaterOptions) {
    this.rauc = o.rauc ?? new Rauc();
  }

  get state(): Readonly<UpdateView> {
    return this.view;
  }

  /** Where the bundle of a request is kept until it is installed: the data partition, which updates never touch. */
  get incomingDir(): string {
    return join(this.o.dataDir, 'updates');
  }

  /** The restart the board carries out (board/rootfs: confbox-restart.path reboots when this file appears). */
  get restartRequestFile(): string {
    return join(this.o.dataDir, 'restart-requested');
  }

  async refresh(): Promise<void> {
    try {
      const s = await this.rauc.status();
      this.set({ available: true, reason: '', slots: s.slots, booted: s.booted });
    } catch (e) {
      this.set({ available: false, reason: e instanceof RaucError ? e.message : String(e), slots: [], booted: '' });
    }
  }

  /** The box is healthy (database answered, engine ticking, SIP bound): the running slot is kept. */
  async markGood(): Promise<void> {
    await this.refresh();
    if (!this.view.available) {
      this.o.log.info('updates unavailable: no slot to mark good', { reason: this.view.reason });
      return;
    }
    try {
      const said = await this.rauc.markGood();
      this.set({ markedGood: true });
      this.o.log.info('running slot marked good', { slot: this.view.booted, rauc: said });
      await this.refresh();
    } catch (e) {
      this.o.log.error('the running slot could not be marked good: the boot loader will fall back to the other', { slot: this.view.booted, err: e });
    }
  }

  /** An upload from the page or the API: stored under the data directory, then installed. */
  async receive(body: Readable, declaredBytes: number | null): Promise<UpdateView> {
    this.claim('receiving');
    const file = join(this.incomingDir, 'upload.raucb');
    try {
      mkdirSync(this.incomingDir, { recursive: true, mode: 0o750 });
      const free = freeBytes(this.incomingDir);
      const limit = Math.min(MAX_BUNDLE_BYTES, Math.max(0, free - KEEP_FREE_BYTES));
      if (declaredBytes !== null && declaredBytes > limit) throw tooLarge(declaredBytes, limit, free);
      let seen = 0;
      const counter = new Transform({
        transform: (chunk: Buffer, _enc, done) => {
          seen += chunk.length;
          if (seen > limit) return done(tooLarge(seen, limit, free));
          if (declaredBytes) this.set({ percent: Math.floor((seen / declaredBytes) * 100), step: `receiving ${mb(seen)} of ${mb(declaredBytes)}` });
          done(null, chunk);
        },
      });
      await pipeline(body, counter, createWriteStream(file, { mode: 0o640 }));
      if (seen === 0) throw new BoxError(400, 'the update file is empty', 'bundle', 'empty');
      this.o.log.info('update bundle received', { bytes: seen, file });
    } catch (e) {
      rmSync(file, { force: true });
      return this.fail(e);
    }
    this.set({ phase: 'idle' });
    return this.install(file, { removeAfter: true });
  }

  /**
   * Installs a bundle (RAUC checks its signature and that it is made for this box); on success the calls are warned
   * and ended and the box restarts into the new slot. Resolves when the install has ended, with the state then.
   */
  async install(file: string, opts: { removeAfter?: boolean; onProgress?: (v: UpdateView) => void } = {}): Promise<UpdateView> {
    this.claim('installing');
    const listener = opts.onProgress ? () => opts.onProgress!(this.view) : null;
    if (listener) this.o.status.on('change', listener);
    try {
      await this.refresh();
      if (!this.view.available) throw new BoxError(503, `this system cannot install updates: ${this.view.reason}`, undefined, 'updates-unavailable');
      this.set({ phase: 'installing', percent: 0, step: 'checking the bundle' });
      this.o.log.info('installing update', { file, into: this.view.slots.find((s) => s.state !== 'booted')?.bootname ?? '?' });
      await this.rauc.install(file, (p) => this.set({ percent: p.percent, step: p.step }));
      await this.refresh();
      const next = this.view.slots.find((s) => s.primary);
      const restartAt = Date.now() + (this.o.restartNoticeMs ?? RESTART_NOTICE_MS);
      this.set({ phase: 'restarting', percent: 100, step: `installed into slot ${next?.bootname ?? '?'}`, restartAt, error: '' });
      this.o.log.info('update installed; the box restarts into the new slot', { slot: next?.bootname, version: next?.version, inSeconds: Math.round((restartAt - Date.now()) / 1000) });
      this.scheduleRestart(restartAt);
      return this.view;
    } catch (e) {
      return this.fail(e);
    } finally {
      if (listener) this.o.status.off('change', listener);
      if (opts.removeAfter) rmSync(file, { force: true });
    }
  }

  stop(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
  }

  private scheduleRestart(at: number): void {
    const why = 'the box restarts for a software update';
    void this.o.endCalls(why).catch((e: unknown) => this.o.log.warn('calls could not all be ended before the restart', { err: e }));
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      try {
        writeFileSync(this.restartRequestFile, `${new Date().toISOString()} ${why}\n`);
        this.o.log.info('restart requested', { file: this.restartRequestFile });
      } catch (e) {
        this.o.log.error('the restart could not be requested: restart the box to use the update', { err: e });
      }
    }, Math.max(0, at - Date.now()));
    this.restartTimer.unref();
  }

  private claim(phase: UpdatePhase): void {
    if (this.view.phase === 'receiving' || this.view.phase === 'installing') throw new BoxError(409, 'an update is being installed already', undefined, 'update-busy');
    if (this.view.phase === 'restarting') throw new BoxError(409, 'an update is installed and the box is restarting', undefined, 'update-busy');
    this.set({ phase, percent: 0, step: phase === 'receiving' ? 'receiving the file' : 'starting', error: '' });
  }

  private fail(e: unknown): never {
    const message = e instanceof RaucError ? `the update was refused: ${e.message}` : e instanceof Error ? e.message : String(e);
    this.set({ phase: 'failed', step: '', error: message });
    this.o.log.warn('update failed', { err: message });
    if (e instanceof BoxError) throw e;
    if (e instanceof RaucError) throw new BoxError(422, message, 'bundle', 'update-refused');
    throw e;
  }

  private set(patch: Partial<UpdateView>): void {
    this.view = { ...this.view, ...patch };
    this.o.status.set({ update: this.view });
  }
}

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

function mb(n: number): string {
  return `${(n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0)} MB`;
}

function tooLarge(bytes: number, limit: number, free: number): BoxError {
  const why = limit < MAX_BUNDLE_BYTES ? `the data partition has ${mb(free)} free and keeps ${mb(KEEP_FREE_BYTES)} for the database` : `an update is at most ${mb(MAX_BUNDLE_BYTES)}`;
  return new BoxError(413, `the update file (${mb(bytes)}) is too large: ${why}`, 'bundle', 'too-large');
}
