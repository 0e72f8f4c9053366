import { loopDeadline } from '../loop-time.ts';
import { BoxError, StoreUnavailable } from '../errors.ts';

/** Error codes (Node, mysql2 and server) that mean the database cannot be used right now. */
const SERVER_GONE_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOENT',
  'EACCES',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'ER_CON_COUNT_ERROR',
  'ER_TOO_MANY_USER_CONNECTIONS',
  'ER_SERVER_SHUTDOWN',
  'ER_CONNECTION_KILLED',
  'ER_OUT_OF_RESOURCES',
  'ER_ACCESS_DENIED_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_BAD_DB_ERROR',
]);

/** mysql2 raises some of its own errors without a code. */
const SERVER_GONE_MESSAGES: readonly RegExp[] = [/^Pool is closed/, /in closed state/, /^Connection lost/];

interface DriverError extends Error {
  code?: string;
  fatal?: boolean;
  sqlMessage?: string;
}

export function isServerGone(err: unknown): boolean {
  if (err instanceof StoreUnavailable) return true;
  if (!(err instanceof Error)) return false;
  const e = err as DriverError;
  if (e.code !== undefined && SERVER_GONE_CODES.has(e.code)) return true;
  // mysql2 marks every error that killed the connection as fatal.
  if (e.fatal === true) return true;
  return SERVER_GONE_MESSAGES.some((re) => re.test(e.message));
}

/** The error a Store method rejects with: StoreUnavailable, a BoxError for bad values, or the original (a bug). */
export function asStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailable || err instanceof BoxError) return err;
  if (isServerGone(err)) return new StoreUnavailable(err);
  return asValueError(err) ?? err;
}

export function isDuplicateKey(err: unknown): boolean {
  return err instanceof Error && (err as DriverError).code === 'ER_DUP_ENTRY';
}

/** A value the table cannot hold becomes a 400-class answer that names the column. */
function asValueError(err: unknown): BoxError | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as DriverError;
  const column = /column '([^']+)'/.exec(e.sqlMessage ?? e.message)?.[1];
  if (column === undefined) return undefined;
  const words = column.replace(/_/g, ' ');
  const field = column.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
  if (e.code === 'ER_DATA_TOO_LONG') return new BoxError(400, `${words} is too long`, field, 'too-long');
  if (e.code === 'ER_WARN_DATA_OUT_OF_RANGE') return new BoxError(400, `${words} is out of range`, field, 'out-of-range');
  return undefined;
}

/**
 * Rejects with StoreUnavailable when `work` has not settled within `ms` of loop time (see loop-time.ts: a busy box
 * does not take its own lateness for the database's silence); `onTimeout` frees what it holds.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => void = () => undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cancel = loopDeadline(ms, () => {
      onTimeout();
      reject(new StoreUnavailable(new Error(`no answer from the database within ${ms} ms`)));
    });
    work.then(
      (v) => { cancel(); resolve(v); },
      (err: unknown) => { cancel(); reject(err); },
    );
  });
}
