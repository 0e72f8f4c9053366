/**
 * Conference recordings as WAV files: the engine keeps a conference's mix at 16 kHz in a ring on its media thread;
 * this drains it four times a second on the main thread and appends it to a file under the recordings directory, so
 * no file system call ever runs on the media thread. The WAV header is brought up to date with every write: a box
 * that loses power leaves a file that plays up to its last quarter second. A recording that stops growing (the engine
 * dropped what was not drained, or the disk refused a write) is reported once as stalled.
 */
import { closeSync, mkdirSync, openSync, statfsSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { MediaEngine } from '../media/index.ts';

const RATE = 16000;
const HEADER_BYTES = 44;
const DRAIN_MS = 250;
/** Seconds of audio the engine keeps for a late drain. */
const ENGINE_BUFFER_SECONDS = 10;

export interface RecordingInfo {
  conference: string;
  room: number;
  file: string;
  startedAt: Date;
  /** Seconds of audio written. */
  seconds: number;
  bytes: number;
  /** Samples the engine dropped because they were not drained in time. */
  droppedSamples: number;
}

export interface RecorderOptions {
  engine: MediaEngine;
  /** Where the files go (created if missing). */
  dir: string;
  /** A recording does not start with less free space than this on the recordings' file system (asked at each start). */
  minFreeBytes: () => number;
  now?: () => Date;
  /** A recording could not be continued: the disk refused a write, or the engine lost audio. */
  onStalled?: (info: RecordingInfo, why: string) => void;
  /** A recording ended; `stalled` when it had stalled. */
  onStopped?: (info: RecordingInfo, stalled: boolean) => void;
}

/** A 44-byte WAV header for mono 16-bit PCM at 16 kHz holding dataBytes of samples. */
export function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(RATE, 24);
  h.writeUInt32LE(RATE * 2, 28);
  h.writeUInt16LE(2, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

export class RecordingRefused extends Error {}

interface Active {
  info: RecordingInfo;
  fd: number;
  dataBytes: number;
  stalled: boolean;
}

export class ConferenceRecorder {
  private readonly active = new Map<string, Active>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly o: RecorderOptions) {}

  /** Where the recordings are written. */
  get dir(): string {
    return this.o.dir;
  }

  /** Whether a recording in progress has stalled. */
  hasStalled(): boolean {
    return [...this.active.values()].some((a) => a.stalled);
  }

  /** Starts recording the conference into a new file named for the room and the time; refused when space is short. */
  start(conference: string, room: number): RecordingInfo {
    if (this.active.has(conference)) throw new RecordingRefused(`room ${room} is being recorded already`);
    mkdirSync(this.o.dir, { recursive: true, mode: 0o700 });
    const fs = statfsSync(this.o.dir);
    const free = fs.bavail * fs.bsize;
    const needed = this.o.minFreeBytes();
    if (free < needed) {
      throw new RecordingRefused(`only ${Math.floor(free / 1048576)} MB free for recordings; at least ${Math.ceil(needed / 1048576)} MB are needed`);
    }
    const startedAt = (this.o.now ?? (() => new Date()))();
    const { file, fd } = this.create(room, startedAt);
    try {
      writeSync(fd, wavHeader(0), 0, HEADER_BYTES, 0);
      this.o.engine.record(conference, ENGINE_BUFFER_SECONDS);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    const info: RecordingInfo = { conference, room, file, startedAt, seconds: 0, bytes: HEADER_BYTES, droppedSamples: 0 };
    this.active.set(conference, { info, fd, dataBytes: 0, stalled: false });
    this.timer ??= setInterval(() => this.drainAll(), DRAIN_MS);
    this.timer.unref();
    return { ...info };
  }

  /** Writes what is left and closes the file; null when the conference was not being recorded. */
  stop(conference: string): RecordingInfo | null {
    const a = this.active.get(conference);
    if (!a) return null;
    this.drain(a);
    this.o.engine.stopRecording(conference);
    closeSync(a.fd);
    this.active.delete(conference);
    if (this.active.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    this.o.onStopped?.({ ...a.info }, a.stalled);
    return { ...a.info };
  }

  /** The recordings in progress. */
  list(): RecordingInfo[] {
    return [...this.active.values()].map((a) => ({ ...a.info }));
  }

  /** Stops every recording (the box is stopping). */
  stopAll(): void {
    for (const key of [...this.active.keys()]) this.stop(key);
  }

  /** A new file named for the room and the time (UTC), e.g. room-2-20261206-093000.wav; -2, -3 … when taken. */
  private create(room: number, at: Date): { file: string; fd: number } {
    const stamp = at.toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
    for (let n = 1; ; n++) {
      const file = join(this.o.dir, `room-${room}-${stamp}${n === 1 ? '' : `-${n}`}.wav`);
      try {
        return { file, fd: openSync(file, 'wx', 0o600) };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 100) throw e;
      }
    }
  }

  private drainAll(): void {
    for (const a of this.active.values()) this.drain(a);
  }

  private drain(a: Active): void {
    let pcm: Int16Array;
    let dropped: number;
    try {
      ({ pcm, dropped } = this.o.engine.readRecording(a.info.conference));
    } catch {
      return; // the conference ended: its last samples were read by the previous drain
    }
    try {
      if (pcm.length) {
        const bytes = Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
        writeSync(a.fd, bytes, 0, bytes.length, HEADER_BYTES + a.dataBytes);
        a.dataBytes += bytes.length;
        writeSync(a.fd, wavHeader(a.dataBytes), 0, HEADER_BYTES, 0);
      }
    } catch (e) {
      this.stalled(a, `the recording could not be written: ${(e as Error).message}`);
      return;
    }
    if (dropped > a.info.droppedSamples) this.stalled(a, `${((dropped - a.info.droppedSamples) / RATE).toFixed(1)} s of audio were lost before they could be written`);
    a.info.droppedSamples = dropped;
    a.info.bytes = HEADER_BYTES + a.dataBytes;
    a.info.seconds = a.dataBytes / 2 / RATE;
  }

  private stalled(a: Active, why: string): void {
    if (a.stalled) return;
    a.stalled = true;
    this.o.onStalled?.({ ...a.info }, why);
  }
}
