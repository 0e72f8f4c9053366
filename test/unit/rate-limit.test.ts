import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../firmware/log.ts';
import { DropLog, REPORT_MS, REQUEST_LIMITS, SourceRateLimit, TokenBucket, UNTRUSTED_LIMITS } from '../../firmware/sip/rate-limit.ts';

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

test('a source gets its burst at once, then the sustained rate', () => {
  const c = clock();
  const limit = new SourceRateLimit({ perSecond: 10, burst: 50 }, c.now);
  let passed = 0;
  for (let i = 0; i < 200; i++) if (limit.take('192.0.2.1')) passed++;
  assert.is(passed, 50, 'the burst');
  c.t += 1000;
  passed = 0;
  for (let i = 0; i < 200; i++) if (limit.take('192.0.2.1')) passed++;
  assert.is(passed, 10, 'one second of the sustained rate');
});

test('one flooding address does not limit another', () => {
  const c = clock();
  const limit = new SourceRateLimit({ perSecond: 1, burst: 5 }, c.now);
  for (let i = 0; i < 100; i++) limit.take('192.0.2.66');
  assert.not.ok(limit.take('192.0.2.66'));
  assert.ok(limit.take('192.0.2.7'));
});

test('the map of sources is bounded; the least recently seen is forgotten', () => {
  const c = clock();
  const limit = new SourceRateLimit({ perSecond: 1, burst: 2 }, c.now, 100);
  limit.take('10.0.0.1');
  limit.take('10.0.0.1');
  assert.not.ok(limit.take('10.0.0.1'), 'empty bucket');
  for (let i = 0; i < 1000; i++) limit.take(`10.1.${i >> 8}.${i & 255}`);
  assert.is(limit.size, 100);
  assert.ok(limit.take('10.0.0.1'), 'forgotten, so a full bucket again');
});

test('a PBX-sized address is not limited at a busy hour: a registration burst of 500 and 50 requests a second', () => {
  const c = clock();
  const limit = new SourceRateLimit(REQUEST_LIMITS, c.now);
  for (let i = 0; i < 500; i++) assert.ok(limit.take('198.51.100.20'), `registration ${i}`);
  for (let s = 0; s < 60; s++) {
    c.t += 1000;
    for (let i = 0; i < 50; i++) assert.ok(limit.take('198.51.100.20'), `second ${s}, request ${i}`);
  }
});

test('all untrusted addresses together: a registration storm of 1,500 passes, a flood gets the sustained rate only', () => {
  const c = clock();
  const all = new TokenBucket(UNTRUSTED_LIMITS, c.now());
  for (let i = 0; i < 1500; i++) assert.ok(all.take(c.now()), `registration ${i}`);
  let passed = 0;
  for (let s = 0; s < 10; s++) {
    c.t += 1000;
    for (let i = 0; i < 4000; i++) if (all.take(c.now())) passed++;
  }
  assert.is(passed, 500 + 10 * UNTRUSTED_LIMITS.perSecond, 'what was left of the burst, then the rate');
});

test('dropped datagrams: a few logged in detail, the rest summed up once per period', () => {
  const c = clock();
  const lines: Array<Record<string, unknown>> = [];
  const drops = new DropLog(createLogger('debug', {}, (l) => lines.push(JSON.parse(l))), c.now);
  for (let i = 0; i < 10_000; i++) drops.note(i % 2 ? 'rate' : 'invalid', { protocol: 'UDP', address: `127.9.${(i >> 8) & 255}.${i & 255}`, port: 5060 }, Buffer.from('\x00\x01junk'));
  assert.is(lines.length, 5, 'five detailed lines, whatever the flood');
  assert.is(lines[0]!.start, '..junk');
  assert.is(lines[0]!.source, 'udp:127.9.0.0:5060');
  c.t += REPORT_MS;
  drops.report();
  assert.is(lines.length, 6);
  assert.is(lines[5]!.msg, 'dropped more SIP datagrams');
  assert.is(Number(lines[5]!.invalid) + Number(lines[5]!.overRateLimit), 9_995);
  assert.is(lines[5]!.sources, 'at least 1000');
  assert.equal(drops.totals, { invalid: 5000, rate: 5000, busy: 0 });
  drops.report();
  assert.is(lines.length, 6, 'a quiet period logs nothing');
});

test('dropped datagrams: the timer that reports a period does not open a second one just after a drop opened one', () => {
  const c = clock();
  const lines: Array<Record<string, unknown>> = [];
  const drops = new DropLog(createLogger('debug', {}, (l) => lines.push(JSON.parse(l))), c.now);
  const flood = (n: number) => {
    for (let i = 0; i < n; i++) drops.note('rate', { protocol: 'UDP', address: '127.9.0.1', port: 5060 }, Buffer.from('x'));
  };
  const detailed = () => lines.filter((l) => String(l.msg).startsWith('dropped a SIP datagram')).length;
  flood(100);
  c.t += REPORT_MS;
  flood(100); // the first drop after ten seconds reports and opens the next period
  c.t += 50;
  drops.reportIfDue(); // the timer, 50 ms late
  flood(100);
  assert.is(detailed(), 10, 'five detailed lines in each of two periods, not five more 50 ms later');
  assert.is(lines.filter((l) => l.msg === 'dropped more SIP datagrams').length, 1);
  c.t += REPORT_MS - 50;
  drops.reportIfDue();
  const last = lines.at(-1)!;
  assert.is(last.msg, 'dropped more SIP datagrams', 'the period is reported once it has lasted ten seconds');
  assert.is(last.overRateLimit, 195);
  assert.is(last.seconds, 10);
});

test.run();
