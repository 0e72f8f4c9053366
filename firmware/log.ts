/** One JSON line per event on stdout, for journald. */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const rank: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
export const LEVELS = Object.keys(rank) as Level[];

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  readonly level: Level;
}

type Sink = (line: string) => void;

let stdoutGone = false;
/** When journald or a pipe reader goes away, writing on would only raise EPIPE again and again. */
function stdoutSink(line: string): void {
  if (stdoutGone) return;
  if (process.stdout.listenerCount('error') === 0) process.stdout.on('error', () => { stdoutGone = true; });
  process.stdout.write(line);
}

/** Causes followed at most this deep, and nesting kept at most this deep when a value must be walked. */
const MAX_CAUSES = 4;
const MAX_DEPTH = 12;

/** What a log line keeps of an error: its name, message, code, stack and cause (itself an error, or any value). */
function errorFields(e: Error, depth = 0): Record<string, unknown> {
  const cause = (e as { cause?: unknown }).cause;
  return {
    name: e.name, message: e.message, code: (e as NodeJS.ErrnoException).code, stack: e.stack,
    ...(cause === undefined ? {} : { cause: cause instanceof Error ? (depth < MAX_CAUSES ? errorFields(cause, depth + 1) : cause.message) : cause }),
  };
}

/** JSON.stringify's replacer: errors with what matters, bigints as text. */
function replacer(_key: string, v: unknown): unknown {
  if (v instanceof Error) return errorFields(v);
  if (typeof v === 'bigint') return v.toString();
  return v;
}

/** A copy without cycles ("[cyclic]" where a value contains itself), for a record JSON.stringify refused. */
function acyclic(v: unknown, ancestors: object[] = []): unknown {
  let x = replacer('', v);
  if (x !== null && typeof x === 'object' && typeof (x as { toJSON?: unknown }).toJSON === 'function') x = (x as { toJSON(): unknown }).toJSON();
  if (x === null || typeof x !== 'object') return x;
  if (ancestors.includes(x)) return '[cyclic]';
  if (ancestors.length >= MAX_DEPTH) return '[too deep]';
  ancestors.push(x);
  const out = Array.isArray(x) ? x.map((e) => acyclic(e, ancestors)) : Object.fromEntries(Object.entries(x).map(([k, e]) => [k, acyclic(e, ancestors)]));
  ancestors.pop();
  return out;
}

/** One record as a JSON line: never throws (a cyclic value is written with "[cyclic]" in its place). */
function line(rec: Record<string, unknown>): string {
  try {
    return JSON.stringify(rec, replacer) + '\n';
  } catch {
    return JSON.stringify(acyclic(rec)) + '\n';
  }
}

export function createLogger(level: Level = 'info', base: Record<string, unknown> = {}, sink: Sink = stdoutSink): Logger {
  const min = rank[level];
  const emit = (lv: Level, msg: string, fields?: Record<string, unknown>) => {
    if (rank[lv] < min) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level: lv, ...base, msg };
    if (fields) for (const k of Object.keys(fields)) rec[k] = fields[k];
    sink(line(rec));
  };
  return {
    level,
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, sink),
  };
}

export const silentLogger: Logger = createLogger('silent');
