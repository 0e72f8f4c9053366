/**
 * The recordings on the box's disk, as the page and the API list them: one WAV file per recording under the
 * recordings directory, named for its room and the time it started (see ConferenceRecorder). What a file holds is
 * read from its name and size, so listing never opens a file; a name from a request is taken only when it has that
 * exact shape, so no path outside the directory can be reached.
 */
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BoxError } from '../errors.ts';

const FILE_NAME = /^room-(\d{1,4})-(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})(?:-(\d{1,3}))?\.wav$/;
const HEADER_BYTES = 44;
const BYTES_PER_SECOND = 16000 * 2;
const DAY_MS = 86_400_000;

export interface RecordingFile {
  /** The file's name: what the page and the API call it. */
  name: string;
  room: number;
  startedAt: Date;
  /** Seconds of audio in it so far. */
  seconds: number;
  bytes: number;
  /** Being written now: it cannot be deleted until its meeting or its recording ends. */
  active: boolean;
}

/** Where a recording's name says it started, or null when the name is not a recording's. */
function parseName(name: string): { room: number; startedAt: Date; seq: number } | null {
  const m = FILE_NAME.exec(name);
  if (!m) return null;
  const [, room, y, mo, d, h, mi, s, seq] = m;
  const startedAt = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  return Number.isNaN(startedAt.getTime()) ? null : { room: Number(room), startedAt, seq: Number(seq ?? 1) };
}

export class RecordingLibrary {
  /**
   * @param dir the recordings directory
   * @param activeFiles the paths of the files being written now
   */
  constructor(readonly dir: string, private readonly activeFiles: () => readonly string[]) {}

  /** Every recording, newest first. */
  list(): RecordingFile[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const active = new Set(this.activeFiles());
    const out: Array<RecordingFile & { seq: number }> = [];
    for (const name of names) {
      const parsed = parseName(name);
      if (!parsed) continue;
      let bytes: number;
      try {
        bytes = statSync(join(this.dir, name)).size;
      } catch {
        continue; // deleted meanwhile
      }
      out.push({ name, ...parsed, bytes, seconds: Math.max(0, bytes - HEADER_BYTES) / BYTES_PER_SECOND, active: active.has(join(this.dir, name)) });
    }
    out.sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || b.seq - a.seq || a.room - b.room);
    return out.map(({ seq: _seq, ...r }) => r);
  }

  /** One recording by its name; a name that is not a recording's, or none by that name, is a 404 naming it. */
  get(name: string): RecordingFile & { path: string } {
    const found = parseName(name) ? this.list().find((r) => r.name === name) : undefined;
    if (!found) throw new BoxError(404, `no recording named "${name.slice(0, 80)}"`, 'name');
    return { ...found, path: join(this.dir, name) };
  }

  /** Deletes a recording; one being written is refused (409) until its recording stops. */
  delete(name: string): RecordingFile {
    const r = this.get(name);
    if (r.active) throw new BoxError(409, `recording ${name} is still being written; stop the recording first`, 'name');
    unlinkSync(r.path);
    return r;
  }

  /** Deletes the recordings that started more than `days` days before now (not those being written); 0 keeps all. */
  deleteOlderThan(days: number, now: Date): RecordingFile[] {
    if (days <= 0) return [];
    const cutoff = now.getTime() - days * DAY_MS;
    const gone: RecordingFile[] = [];
    for (const r of this.list()) {
      if (r.active || r.startedAt.getTime() >= cutoff) continue;
      try {
        unlinkSync(join(this.dir, r.name));
        gone.push(r);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return gone;
  }
}
