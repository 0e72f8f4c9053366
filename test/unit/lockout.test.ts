// The lockout's edges, as a guesser and the boxes sharing a database meet them: where the window and a block begin
// and end to the millisecond, what a box tells the others and when, which blocks hold after a restart or a sync, and
// how many targets it keeps in mind. (test/unit/conference.test.ts has the rules as the README states them.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { BoxError } from '../../firmware/errors.ts';
import { blockedError, Lockout, MAX_SHARED_COUNTS, MAX_TRACKED, targets, type Block, type LockoutLimits } from '../../firmware/conference/lockout.ts';

const MINUTE = 60_000;
const LIMITS: LockoutLimits = { failures: 5, windowMinutes: 5, blockMinutes: 15 };

function lock() {
  const clock = new FakeClock();
  const events: string[] = [];
  const l = new Lockout(clock, () => LIMITS, { blocked: (b) => events.push(`blocked ${b.key}`), lifted: (k) => events.push(`lifted ${k}`) });
  return { clock, l, events };
}

const addr = (a: string) => targets.address(a);

function minutesOf(b: Block | undefined): number | undefined {
  return b && (b.until - b.since) / MINUTE;
}

test('a blocked caller hears the same words whatever was blocked: 403, "too many failed attempts; try again later"', () => {
  const e = blockedError();
  assert.instance(e, BoxError);
  assert.equal([e.httpStatus, e.message, e.code, e.field], [403, 'too many failed attempts; try again later', 'blocked', undefined]);
});

test('the window to the millisecond: a failure exactly the window ago counts no more', () => {
  const { clock, l } = lock();
  l.fail(addr('198.51.100.1'));
  clock.advance(5 * MINUTE);
  for (let i = 0; i < 4; i++) l.fail(addr('198.51.100.1'));
  assert.is(l.isBlocked('198.51.100.1'), false, 'four failures within the window, the first on its edge');
  l.fail(addr('198.51.100.1'));
  assert.is(l.isBlocked('198.51.100.1'), true);
});

test('another box\'s count ends with the window too: counted to the last millisecond before, not on its edge', () => {
  const { clock, l } = lock();
  const t0 = clock.now();
  l.syncFailures([{ key: '198.51.100.2', kind: 'address', failures: 4, lastAt: t0 }]);
  clock.advance(5 * MINUTE - 1);
  l.fail(addr('198.51.100.2'));
  assert.is(l.isBlocked('198.51.100.2'), true, 'four there and one here, within the window');
  const other = lock();
  other.l.syncFailures([{ key: '198.51.100.3', kind: 'address', failures: 4, lastAt: other.clock.now() }]);
  other.clock.advance(5 * MINUTE);
  other.l.fail(addr('198.51.100.3'));
  assert.is(other.l.isBlocked('198.51.100.3'), false, 'the other box\'s newest failure is the window ago');
});

test('a block ends at its last millisecond: listed until then, not from then on', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 5; i++) l.fail(addr('198.51.100.4'));
  clock.advance(15 * MINUTE - 1);
  assert.equal(l.list().map((b) => b.key), ['198.51.100.4']);
  clock.advance(1);
  assert.equal(l.list(), [], 'over: the Blocked list is empty');
  assert.is(l.isBlocked('198.51.100.4'), false);
});

test('lifting: nothing to lift says so and tells no one; lifting counted failures tells the other boxes the count is gone', () => {
  const { l, events } = lock();
  assert.is(l.lift('198.51.100.5'), false);
  assert.equal(events, [], 'no "lifted" for what was not blocked');
  for (let i = 0; i < 3; i++) l.fail(addr('198.51.100.5'));
  assert.equal(l.takeFailureCounts()?.map((c) => c.failures), [3]);
  assert.is(l.lift('198.51.100.5'), false, 'counted, not blocked');
  assert.equal(l.takeFailureCounts(), [], 'the other boxes hear that this box counts nothing against it now');
});

test('what a box tells the others: only failures within the window, the newest targets first up to the limit, by key', () => {
  const { clock, l } = lock();
  l.fail(addr('198.51.100.6'));
  clock.advance(5 * MINUTE);
  l.fail(addr('198.51.100.7'));
  assert.equal(l.takeFailureCounts(), [{ key: '198.51.100.7', kind: 'address', failures: 1, lastAt: clock.now() }], 'the failure the window ago is not told');
  for (let n = 0; n < MAX_SHARED_COUNTS + 5; n++) {
    clock.advance(1);
    l.fail(addr(`10.1.${n >> 8}.${n & 255}`));
  }
  const told = l.takeFailureCounts()!;
  assert.is(told.length, MAX_SHARED_COUNTS);
  const keys = told.map((c) => c.key);
  assert.equal(keys, [...keys].sort((a, b) => a.localeCompare(b)), 'in order of their keys');
  for (const oldest of ['198.51.100.7', '10.1.0.0', '10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4']) assert.not.ok(keys.includes(oldest), `${oldest}: among the oldest, left out`);
  assert.ok(keys.includes('10.1.0.5'), 'the oldest of those kept');
  assert.ok(keys.includes(`10.1.${(MAX_SHARED_COUNTS + 4) >> 8}.${(MAX_SHARED_COUNTS + 4) & 255}`), 'the newest told');
});

test('counts that could not be told are told at the next try', () => {
  const { l } = lock();
  l.fail(addr('198.51.100.8'));
  assert.is(l.takeFailureCounts()?.length, 1);
  assert.is(l.takeFailureCounts(), null, 'nothing new');
  l.countsNotTold();
  assert.equal(l.takeFailureCounts()?.map((c) => [c.key, c.failures]), [['198.51.100.8', 1]]);
});

test('the other boxes\' counts: no more targets than the box keeps in mind', () => {
  const { l } = lock();
  const counts = Array.from({ length: MAX_TRACKED + 1 }, (_, n) => ({ key: `10.2.${n >> 8}.${n & 255}`, kind: 'address' as const, failures: 4, lastAt: 0 }));
  l.syncFailures(counts.map((c) => ({ ...c, lastAt: Date.now() })));
  const last = counts[MAX_TRACKED]!.key;
  const first = counts[0]!.key;
  l.fail(addr(last));
  assert.is(l.isBlocked(last), false, 'beyond the limit: not taken in');
  l.fail(addr(first));
  assert.is(l.isBlocked(first), true, 'within it: four there and one here');
});

test('failures are remembered for as many targets as the box keeps in mind, the oldest let go beyond that', () => {
  const { l } = lock();
  for (let i = 0; i < 4; i++) l.fail(addr('198.51.100.9'));
  for (let n = 0; n < MAX_TRACKED - 1; n++) l.fail(addr(`10.3.${n >> 8}.${n & 255}`));
  l.fail(addr('198.51.100.9'));
  assert.is(l.isBlocked('198.51.100.9'), true, 'with as many targets as the limit, the first is still counted');
  const again = lock();
  for (let i = 0; i < 4; i++) again.l.fail(addr('198.51.100.9'));
  for (let n = 0; n < MAX_TRACKED; n++) again.l.fail(addr(`10.3.${n >> 8}.${n & 255}`));
  again.l.fail(addr('198.51.100.9'));
  assert.is(again.l.isBlocked('198.51.100.9'), false, 'one more: the oldest was let go');
});

test('sync(): a block of this box that the database holds stays as this box made it, however the stored copy differs', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 5; i++) l.fail(addr('198.51.100.10'));
  const mine = l.list()[0]!;
  clock.advance(20_000);
  l.sync([{ ...mine, until: mine.since + MINUTE }], 10_000);
  clock.advance(2 * MINUTE);
  assert.is(l.isBlocked('198.51.100.10'), true, 'a shorter stored copy does not shorten it');
  l.sync([{ ...mine, failures: 9 }], 10_000);
  assert.is(l.list()[0]!.failures, 5, 'a stored copy that ends at the same time does not replace it');
  l.sync([{ ...mine, until: mine.until + MINUTE, failures: 9 }], 10_000);
  assert.equal([l.list()[0]!.failures, l.list()[0]!.until], [9, mine.until + MINUTE], 'a longer one does');
});

test('sync(): a block made here is kept through a grace of exactly the time given, then goes when the database lacks it', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 5; i++) l.fail(addr('198.51.100.11'));
  clock.advance(10_000);
  l.sync([], 10_000);
  assert.is(l.isBlocked('198.51.100.11'), true, 'still within the grace');
  clock.advance(1);
  l.sync([], 10_000);
  assert.is(l.isBlocked('198.51.100.11'), false);
});

test('sync(): a stored block that has ended is not taken, and does not lengthen the next block of its room', () => {
  const { clock, l } = lock();
  const now = clock.now();
  l.sync([{ key: 'room 7', kind: 'room', since: now - MINUTE, until: now, failures: 10, level: 1 }], 10_000);
  assert.equal(l.list(), []);
  for (let i = 0; i < 10; i++) l.fail(targets.room(7));
  assert.is(minutesOf(l.list()[0]), 1, 'a first block: one minute');
  const again = lock();
  const t = again.clock.now();
  again.l.sync([{ key: 'room 7', kind: 'room', since: t - MINUTE, until: t + 1, failures: 10, level: 1 }], 10_000);
  again.clock.advance(2);
  for (let i = 0; i < 10; i++) again.l.fail(targets.room(7));
  assert.is(minutesOf(again.l.list()[0]), 2, 'after a block that was still running when taken: two minutes');
});

test('restore(): an extension\'s finished block lengthens its next one as a room\'s does; an address keeps the block setting', () => {
  const { clock } = lock();
  const now = clock.now();
  const restarted = new Lockout(clock, () => LIMITS);
  restarted.restore([
    { key: 'extension 100', kind: 'extension', since: now - 2 * MINUTE, until: now - MINUTE, failures: 10, level: 1 },
    { key: '198.51.100.12', kind: 'address', since: now - 20 * MINUTE, until: now - MINUTE, failures: 5, level: 1 },
  ]);
  for (let i = 0; i < 10; i++) restarted.fail([targets.extension('100'), addr('198.51.100.12')]);
  const blocks = new Map(restarted.list().map((b) => [b.key, b]));
  assert.equal([minutesOf(blocks.get('extension 100')), blocks.get('extension 100')?.level], [2, 2]);
  assert.equal([minutesOf(blocks.get('198.51.100.12')), blocks.get('198.51.100.12')?.level], [15, 1], 'an address\'s blocks are not counted up');
});

test('an extension\'s or a room\'s blocks grow from the longest known: a shorter block taken later does not reset it', () => {
  const { clock, l } = lock();
  const now = clock.now();
  l.sync([{ key: 'extension 200', kind: 'extension', since: now - MINUTE, until: now + 4 * MINUTE, failures: 10, level: 3 }], 10_000);
  l.sync([{ key: 'extension 200', kind: 'extension', since: now - MINUTE, until: now + 4 * MINUTE, failures: 10, level: 3 }, { key: 'room 9', kind: 'room', since: now, until: now + MINUTE, failures: 10, level: 1 }], 10_000);
  l.restore([{ key: 'extension 200', kind: 'extension', since: now - 2 * MINUTE, until: now + MINUTE, failures: 10, level: 1 }]);
  clock.advance(5 * MINUTE);
  for (let i = 0; i < 10; i++) l.fail(targets.extension('200'));
  assert.equal([minutesOf(l.list().find((b) => b.key === 'extension 200')), l.list().find((b) => b.key === 'extension 200')?.level], [8, 4], 'after the four-minute block: eight');
});

test('blocks of forged addresses beyond the limit: as many kept as the limit allows, exactly', () => {
  const { l } = lock();
  for (let n = 0; n < MAX_TRACKED; n++) for (let i = 0; i < 5; i++) l.fail(addr(`10.4.${n >> 8}.${n & 255}`));
  assert.is(l.list().length, MAX_TRACKED, 'at the limit, none let go');
  for (let i = 0; i < 5; i++) l.fail(addr('10.5.0.0'));
  assert.is(l.list().length, MAX_TRACKED, 'one more: the oldest let go');
  assert.is(l.isBlocked('10.4.0.0'), false);
  assert.is(l.isBlocked('10.5.0.0'), true);
});

test('a box that counted nothing has nothing to tell the others (no write to the shared table)', () => {
  const { l } = lock();
  assert.is(l.takeFailureCounts(), null);
});

test('an address blocked again within the day is blocked for the block setting again, not counted up', () => {
  const { clock, l } = lock();
  for (let i = 0; i < 5; i++) l.fail(addr('198.51.100.13'));
  clock.advance(15 * MINUTE);
  for (let i = 0; i < 5; i++) l.fail(addr('198.51.100.13'));
  const b = l.list()[0];
  assert.equal([minutesOf(b), b?.level], [15, 1]);
});

test('beyond the limit, a block that ends that very millisecond makes room before any running one', () => {
  const { clock, l } = lock();
  for (let n = 0; n < MAX_TRACKED - 1; n++) for (let i = 0; i < 5; i++) l.fail(addr(`10.6.${n >> 8}.${n & 255}`));
  for (let i = 0; i < 10; i++) l.fail(targets.room(5));
  clock.advance(MINUTE);
  for (let i = 0; i < 5; i++) l.fail(addr('10.7.0.0'));
  assert.is(l.isBlocked('10.6.0.0'), true, 'the oldest address is still blocked: the room\'s ended block made room');
  assert.is(l.isBlocked('10.7.0.0'), true);
});

test('the growing blocks of extensions and rooms are remembered for as many as the box keeps in mind', () => {
  for (const [others, remembered] of [[MAX_TRACKED - 1, true], [MAX_TRACKED, false]] as const) {
    const { clock, l } = lock();
    for (let i = 0; i < 10; i++) l.fail(targets.room(1));
    for (let n = 0; n < others; n++) for (let i = 0; i < 10; i++) l.fail(targets.room(1000 + n));
    clock.advance(MINUTE);
    for (let i = 0; i < 10; i++) l.fail(targets.room(1));
    const b = l.list().find((x) => x.key === 'room 1');
    assert.is(minutesOf(b), remembered ? 2 : 1, `${others + 1} rooms blocked: room 1's first block ${remembered ? 'remembered' : 'let go'}`);
  }
});

test.run();
