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

function serialise(v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, code: (v as NodeJS.ErrnoException).code };
  if (typeof v === 'bigint') return v.toString();
  return v;
}

export function createLogger(level: Level = 'info', base: Record<string, unknown> = {}, sink: Sink = stdoutSink): Logger {
  const min = rank[level];
  const emit = (lv: Level, msg: string, fields?: Record<string, unknown>) => {
    if (rank[lv] < min) return;
    const rec: Record<string, unknown> = { time: new Date().toISOString(), level: lv, ...base, msg };
    if (fields) for (const k of Object.keys(fields)) rec[k] = serialise(fields[k]);
    sink(JSON.stringify(rec) + '\n');
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
