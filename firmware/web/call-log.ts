import type { CallLogEntry } from '../conference/types.ts';
import { BoxError } from '../errors.ts';

const DAY_MS = 86_400_000;
/** The range a page or a download shows when none is asked for: the last 7 days, today included. */
export const DEFAULT_RANGE_DAYS = 7;

/** A range of whole days (UTC, as the box's clock keeps them), both ends included. */
export interface DayRange {
  /** YYYY-MM-DD */
  from: string;
  /** YYYY-MM-DD */
  to: string;
  /** The first instant of `from`. */
  start: Date;
  /** The first instant after `to`. */
  end: Date;
}

/** One join or leave as the page, the API and the CSV give it. */
export interface CallLogRow {
  at: string;
  action: 'join' | 'leave';
  room: number | null;
  caller: string | null;
  displayName: string | null;
  source: string;
  /** For a leave: how the participant left; for a join: how many were then in the room. */
  reason: string;
  /** For a leave: seconds in the room. */
  durationSeconds: number | null;
}

function dayOf(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/** "2025-03-01" as the first instant of that day; throws naming the field when it is no such date. */
function parseDay(value: string, field: 'from' | 'to'): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  const date = m ? new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))) : null;
  if (!date || dayOf(date) !== value) throw new BoxError(400, `${field} must be a date as YYYY-MM-DD, not "${value}"`, field, 'bad-date');
  return date;
}

/** The range asked for by ?from=&to=; an absent or empty end takes the default (the last 7 days up to today). */
export function parseDayRange(from: string | null | undefined, to: string | null | undefined, now: Date): DayRange {
  const toDay = to ? parseDay(to, 'to') : parseDay(dayOf(now), 'to');
  const fromDay = from ? parseDay(from, 'from') : new Date(toDay.getTime() - (DEFAULT_RANGE_DAYS - 1) * DAY_MS);
  if (fromDay > toDay) throw new BoxError(400, `to (${dayOf(toDay)}) must not be before from (${dayOf(fromDay)})`, 'to', 'bad-range');
  return { from: dayOf(fromDay), to: dayOf(toDay), start: fromDay, end: new Date(toDay.getTime() + DAY_MS) };
}

export function callLogRow(e: CallLogEntry): CallLogRow {
  return {
    at: e.at.toISOString(), action: e.action === 'leave' ? 'leave' : 'join', room: e.room, caller: e.caller,
    displayName: e.displayName ?? null, source: e.source, reason: e.reason, durationSeconds: e.durationSeconds ?? null,
  };
}

const CSV_HEADER = ['Time (UTC)', 'Event', 'Room', 'Caller', 'Display name', 'From address', 'Reason', 'Seconds in the room'];

/**
 * One CSV field, quoted per RFC 4180. A value a spreadsheet would take for a formula (starting with = + - @, or a tab
 * or carriage return) is prefixed with ' : display names come from the callers' phones.
 */
export function csvField(value: string | number | null): string {
  let s = value === null ? '' : String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return `"${s.replace(/"/g, '""')}"`;
}

/** The rows as CSV (header first, CRLF line ends). */
export function callLogCsv(rows: readonly CallLogRow[]): string {
  const lines = [CSV_HEADER.map(csvField).join(',')];
  for (const r of rows) {
    lines.push([r.at, r.action, r.room, r.caller, r.displayName, r.source, r.reason, r.durationSeconds].map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

export function csvFileName(range: DayRange): string {
  return `confbox-call-log-${range.from}-to-${range.to}.csv`;
}
