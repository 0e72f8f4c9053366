import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BoxError } from '../../firmware/errors.ts';
import { callLogCsv, csvField, parseDayRange } from '../../firmware/web/call-log.ts';

function fieldOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    assert.instance(e, BoxError);
    assert.is((e as BoxError).httpStatus, 400);
    return (e as BoxError).field;
  }
  throw new Error('expected a BoxError');
}

test('csvField quotes per RFC 4180 and neutralises values a spreadsheet would run as a formula', () => {
  assert.is(csvField('Ann "the boss" Lee, Sales'), '"Ann ""the boss"" Lee, Sales"');
  assert.is(csvField('line\nbreak'), '"line\nbreak"');
  assert.is(csvField(null), '""');
  assert.is(csvField(42), '"42"');
  for (const bad of ['=1+1', '+1', '-2', '@SUM(A1)', '\t=1', '\r=1']) assert.is(csvField(bad), `"'${bad}"`);
  assert.is(csvField('Ann = Lee'), '"Ann = Lee"');
});

test('callLogCsv: a header row, then one row per entry, CRLF line ends', () => {
  const csv = callLogCsv([{ at: '2025-03-01T10:00:00.000Z', action: 'leave', room: 7, caller: '201', displayName: '=cmd', source: 'udp:192.0.2.1:5060', reason: 'hung up', durationSeconds: 61 }]);
  assert.is(csv, '"Time (UTC)","Event","Room","Caller","Display name","From address","Reason","Seconds in the room"\r\n'
    + '"2025-03-01T10:00:00.000Z","leave","7","201","\'=cmd","udp:192.0.2.1:5060","hung up","61"\r\n');
});

test('parseDayRange: whole days in UTC, both ends included; the last 7 days by default; bad dates name their field', () => {
  const now = new Date('2025-03-10T15:00:00Z');
  const r = parseDayRange('2025-03-01', '2025-03-02', now);
  assert.equal([r.from, r.to, r.start.toISOString(), r.end.toISOString()], ['2025-03-01', '2025-03-02', '2025-03-01T00:00:00.000Z', '2025-03-03T00:00:00.000Z']);
  const d = parseDayRange(null, '', now);
  assert.equal([d.from, d.to], ['2025-03-04', '2025-03-10']);
  assert.is(fieldOf(() => parseDayRange('2025-02-29', null, now)), 'from');
  assert.is(fieldOf(() => parseDayRange('2025-3-1', null, now)), 'from');
  assert.is(fieldOf(() => parseDayRange(null, 'today', now)), 'to');
  assert.is(fieldOf(() => parseDayRange('2025-03-05', '2025-03-04', now)), 'to');
});

test.run();
