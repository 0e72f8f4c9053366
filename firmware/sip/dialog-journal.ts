/**
 * The box's answered calls, kept in a small file of the data directory while they last, so that a box that
 * crashed (or lost power) and starts again can hang up the calls of its previous run: the phones would otherwise
 * sit in a silent call until their user gives up.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from '../log.ts';
import type { Session } from './session.ts';
import type { Remote } from './stack.ts';

/** What a BYE within a call needs. */
export type JournalEntry = Pick<Session, 'callId' | 'localTag' | 'remoteTag' | 'localUri' | 'remoteUri' | 'remoteTarget' | 'routeSet' | 'localSeq'> & {
  flow: Pick<Remote, 'protocol' | 'address' | 'port'>;
};

/** How long a burst of call changes is gathered before the file is written. */
const WRITE_DELAY_MS = 200;

export class DialogJournal {
  private entries = new Map<string, JournalEntry>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly file: string, private readonly log: Logger) {}

  /** The calls the previous run left, read once at start; the file is then the current run's. */
  leftover(): JournalEntry[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    try {
      const parsed = JSON.parse(text) as unknown;
      if (!Array.isArray(parsed)) throw new Error('not a list');
      return parsed.filter(isEntry);
    } catch (e) {
      this.log.warn('the calls of the previous run could not be read; they are not hung up', { file: this.file, err: e });
      return [];
    } finally {
      rmSync(this.file, { force: true });
    }
  }

  /** A call was answered (or changed): it is written down. */
  put(key: string, entry: JournalEntry): void {
    this.entries.set(key, entry);
    this.schedule();
  }

  /** A call ended. */
  remove(key: string): void {
    if (this.entries.delete(key)) this.schedule();
  }

  /** Writes what is pending now (at shutdown every call has ended, so the file goes). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    try {
      if (this.entries.size === 0) return rmSync(this.file, { force: true });
      const tmp = `${this.file}.tmp`;
      writeFileSync(tmp, JSON.stringify([...this.entries.values()]), { mode: 0o600 });
      renameSync(tmp, this.file);
    } catch (e) {
      this.log.warn('the list of calls in progress could not be written', { file: this.file, err: e });
    }
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), WRITE_DELAY_MS);
    this.timer.unref();
  }
}

function isEntry(v: unknown): v is JournalEntry {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  const flow = e.flow as Record<string, unknown> | undefined;
  return ['callId', 'localTag', 'remoteTag', 'localUri', 'remoteUri', 'remoteTarget'].every((k) => typeof e[k] === 'string')
    && Array.isArray(e.routeSet) && typeof e.localSeq === 'number'
    && typeof flow === 'object' && flow !== null && typeof flow.protocol === 'string' && typeof flow.address === 'string' && typeof flow.port === 'number';
}
