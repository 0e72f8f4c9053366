import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createSocket } from 'node:dgram';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreUnavailable } from '../../firmware/errors.ts';
import { loopDeadline, loopTime } from '../../firmware/loop-time.ts';
import { withDeadline } from '../../firmware/store/errors.ts';

/** Keeps the event loop busy, as a flood of call setups does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) { /* busy */ }
}

test('loop time follows the clock while the loop turns, and counts a stall for little', async () => {
  const t0 = loopTime();
  await sleep(300);
  const turning = loopTime() - t0;
  assert.ok(turning >= 250, `300 ms of a turning loop count ${turning.toFixed(0)} ms`);
  const t1 = loopTime();
  stall(1000);
  await sleep(0);
  const stalled = loopTime() - t1;
  assert.ok(stalled < 600, `a 1 s stall counts ${stalled.toFixed(0)} ms`);
});

test('a deadline expires after its loop time, also when nothing stalls', async () => {
  let expired = false;
  loopDeadline(50, () => { expired = true; });
  for (let i = 0; i < 100 && !expired; i++) await sleep(20);
  assert.ok(expired);
  let cancelledFired = false;
  loopDeadline(30, () => { cancelledFired = true; })();
  await sleep(200);
  assert.not.ok(cancelledFired, 'a cancelled deadline never fires');
});

test('a database answer that came while the loop was busy is taken, not a timeout', async () => {
  const server = createSocket('udp4');
  const client = createSocket('udp4');
  await new Promise<void>((done) => server.bind(0, '127.0.0.1', done));
  try {
    const query = new Promise<string>((resolve) => server.once('message', (m) => resolve(m.toString())));
    const result = withDeadline(query, 300).then((v) => v, (e: unknown) => e);
    // The answer arrives during a stall; after it, the loop reaches its timers (the deadline is due) before it reads
    // the socket.
    await new Promise<void>((done) => setImmediate(() => {
      client.send('the rows', server.address().port, '127.0.0.1');
      stall(800);
      done();
    }));
    assert.is(await result, 'the rows');
  } finally {
    server.close();
    client.close();
  }
});

test('a database that does not answer is still given up on', async () => {
  const silent = new Promise<string>(() => undefined);
  const r = await withDeadline(silent, 200).then(() => null, (e: unknown) => e);
  assert.instance(r, StoreUnavailable);
});

test.run();
