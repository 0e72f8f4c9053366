import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Logger } from '../log.ts';
import type { AuthRecords } from './auth-records.ts';

/** How long changes gather before they are written: a burst of failures is one write. */
const SAVE_DELAY_MS = 2000;

/**
 * Keeps AuthRecords in a file of the data directory, so that after a restart the box still knows which phones do
 * SHA-256 and why an extension last failed. A missing or damaged file starts the records empty.
 */
export class AuthRecordsFile {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly path: string, private readonly log: Logger) {}

  load(records: AuthRecords): void {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      return;
    }
    try {
      const n = records.restore(JSON.parse(text));
      this.log.debug('digest records loaded', { extensions: n });
    } catch (err) {
      this.log.warn('digest records of the last run are unreadable: starting without them', { file: this.path, err });
    }
  }

  /** Writes the records a little later (once for many changes). */
  scheduleSave(records: AuthRecords): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.write(records);
    }, SAVE_DELAY_MS);
    this.timer.unref();
  }

  /** Writes now what is waiting (at shutdown). */
  flush(records: AuthRecords): void {
    if (!this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.write(records);
  }

  private write(records: AuthRecords): void {
    const tmp = `${this.path}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(records.entries()), { mode: 0o600 });
      renameSync(tmp, this.path);
    } catch (err) {
      this.log.warn('digest records could not be saved', { file: this.path, err });
    }
  }
}
