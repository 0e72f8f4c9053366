// confbox-test: alone (it measures memory and answers under a flood; other tests beside it would share the load)
// A SIP flood against the running bundle (issue 10): 100,000 datagrams, mutated by zzuf from valid INVITE,
// REGISTER and OPTIONS requests with a new transaction in each, plus garbage, from two addresses far over
// the per-address limit and from 500 others each under it. The box keeps answering, a phone's call goes
// through during the flood, memory stays within 2 x idle + 50 MB, and under the board's heap cap
// (--max-old-space-size=192, as its systemd unit runs node) the process does not restart.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { optionsAlive, sleep } from '../support/conformance.ts';
import { flood, GUESSED, loopbackSources, zzufAvailable, type FloodResult } from '../support/flood.ts';
import { Phone } from '../support/phone.ts';

const DATAGRAMS = 100_000;
/** About the rate of the fuzzer in the issue (3,800 a second); bounded by count and by time. */
const RATE = 4000;
const MAX_MS = 60_000;
const MB = 1024 * 1024;
const PASSWORD = 'flood-test-secret';
/** The rooms the phone joins during and after the flood (the last one out of a conference deletes its room). */
const ROOM_DURING = '*400*2*1234';
const ROOM_AFTER = '*400*3*1234';

interface Outcome {
  idle: number;
  peak: number;
  sent: number;
  call: string;
  callAfter: string;
  options: number | null;
  box: RunningBox;
}

async function floodBox(nodeArgs: string[]): Promise<Outcome> {
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-flood-'));
  await configure(dataDir, [
    ['extension', 'add', '100', '--password', PASSWORD],
    ['extension', 'add', GUESSED, '--password', 'not-guessed-by-the-flood'],
    ['room', 'add', '1', '--pin', '1234'],
    ['room', 'add', '2', '--pin', '1234'],
    ['room', 'add', '3', '--pin', '1234'],
  ]);
  const box = await startBox({ dataDir, logLevel: 'info', nodeArgs });
  cleanups.push(async () => {
    await box.stop();
    removeDataDir(dataDir);
  });
  // Idle: started, answered, and left alone for a moment.
  await sleep(3000);
  const idle = box.rss();
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, box.rss())), 100);
  try {
    const half = { boxPort: box.sipPort, count: DATAGRAMS / 2, rate: RATE / 2, maxMs: MAX_MS };
    const floods: Array<Promise<FloodResult>> = [
      flood({ ...half, sources: ['127.66.0.1', '127.66.0.2'], portsPerSource: 8, seed: 1 }),
      flood({ ...half, sources: loopbackSources(500), portsPerSource: 1, seed: 2 }),
    ];
    // A phone of the office calls in while the flood runs.
    await sleep(8000);
    const phone = await Phone.open({ boxPort: box.sipPort, user: '100', password: PASSWORD });
    let call = '';
    try {
      const c = await phone.dial(ROOM_DURING, {}, 30_000);
      call = (await c.final()).describe();
      if (c.status === 200) await c.bye(30_000);
    } finally {
      phone.close();
    }
    const sent = (await Promise.all(floods)).reduce((n, r) => n + r.sent, 0);
    const options = (await optionsAlive(box.sipPort, 5000))?.status ?? null;
    const after = await Phone.open({ boxPort: box.sipPort, user: '100', password: PASSWORD });
    let callAfter = '';
    try {
      const c = await after.dial(ROOM_AFTER, {}, 15_000);
      callAfter = (await c.final()).describe();
      if (c.status === 200) await c.bye();
    } finally {
      after.close();
    }
    return { idle, peak, sent, call, callAfter, options, box };
  } finally {
    clearInterval(sampler);
  }
}

const cleanups: Array<() => Promise<void>> = [];
test.after.each(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const mb = (b: number) => `${(b / MB).toFixed(0)} MB`;

test('zzuf, the mutator of the flood, is installed (scripts/setup-host.sh)', () => {
  assert.ok(zzufAvailable(), 'zzuf is missing: run scripts/setup-host.sh');
});

test(`a flood of ${DATAGRAMS} mutated SIP datagrams: the box answers, a call goes through, RSS stays within 2 x idle + 50 MB`, async () => {
  const o = await floodBox([]);
  assert.is(o.sent, DATAGRAMS, 'the whole flood was sent');
  const bound = 2 * o.idle + 50 * MB;
  assert.ok(o.peak <= bound, `peak RSS ${mb(o.peak)} within 2 x idle ${mb(o.idle)} + 50 MB = ${mb(bound)}`);
  assert.is(o.options, 200, 'OPTIONS answered after the flood');
  assert.match(o.call, /^SIP\/2.0 200 /, `a call from extension 100 during the flood was answered: ${o.call}`);
  assert.match(o.callAfter, /^SIP\/2.0 200 /, `and one after it: ${o.callAfter}`);
  // What a technician reads in the journal: drops are summed up, not logged one by one.
  const records = o.box.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const detailed = records.filter((r) => /^dropped a SIP datagram/.test(String(r.msg))).map((r) => Date.parse(String(r.time)));
  const summaries = records.filter((r) => r.msg === 'dropped more SIP datagrams');
  assert.ok(summaries.some((r) => Number(r.overRateLimit) > 0), 'the two flooding addresses were rate-limited');
  // A report period logs its first five drops in detail and lasts at least 10 s (its summary comes only when more
  // were dropped): so any ten seconds of the journal hold at most two periods' detailed lines, however long the flood.
  const start = detailed.length ? Math.min(...detailed) : 0;
  const at = (t: number) => ((t - start) / 1000).toFixed(2);
  const busiest = Math.max(0, ...detailed.map((t) => detailed.filter((u) => u >= t && u < t + 10_000).length));
  const when = `detailed at ${detailed.map(at).join(' ')} s; summaries at ${summaries.map((r) => at(Date.parse(String(r.time)))).join(' ')} s`;
  assert.ok(busiest <= 10, `${busiest} drops logged one by one within ten seconds (at most ten); ${when}`);
  assert.is(o.box.proc.exitCode, null, 'still running');
});

test('the same flood under the board\'s heap cap (--max-old-space-size=192): no restart, memory bounded, calls work', async () => {
  const o = await floodBox(['--max-old-space-size=192']);
  assert.is(o.box.proc.exitCode, null, 'the process did not exit');
  assert.is(o.box.proc.signalCode, null, 'and was not killed');
  assert.not.match(o.box.output(), /heap out of memory|JavaScript heap/, 'no out-of-memory report');
  const bound = 2 * o.idle + 50 * MB;
  assert.ok(o.peak <= bound, `peak RSS ${mb(o.peak)} within 2 x idle ${mb(o.idle)} + 50 MB = ${mb(bound)}`);
  assert.is(o.options, 200, 'OPTIONS answered after the flood');
  assert.match(o.call, /^SIP\/2.0 200 /, `a call during the flood was answered: ${o.call}`);
  assert.match(o.callAfter, /^SIP\/2.0 200 /, `and one after it: ${o.callAfter}`);
});

test.run();
