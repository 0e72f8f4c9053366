import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../firmware/log.ts';
import { MAX_CALLS_IN_SETUP, Overload, RESUME_BELOW_MS, SETUP_LOAD, SHED_ABOVE_MS } from '../../firmware/sip/overload.ts';
import { Status } from '../../firmware/status.ts';

function setup() {
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', {}, (line) => void lines.push(JSON.parse(line) as Record<string, unknown>));
  const status = new Status();
  return { overload: new Overload({ log, status }), status, lines };
}

test('a loop made late by call setups makes the box refuse new calls until it is back under the lower mark', () => {
  const { overload, status, lines } = setup();
  overload.sample(20);
  assert.is(overload.refusal(SETUP_LOAD), null, 'a loop on time takes calls');
  overload.sample(SHED_ABOVE_MS + 50);
  assert.match(String(overload.refusal(SETUP_LOAD)), /the box is overloaded \(its event loop runs 200 ms late\)/);
  assert.ok(status.get().overloaded);
  overload.sample((SHED_ABOVE_MS + RESUME_BELOW_MS) / 2);
  assert.ok(overload.refusal(SETUP_LOAD), 'between the marks it goes on refusing (no flapping)');
  overload.sample(RESUME_BELOW_MS - 10);
  assert.is(overload.refusal(SETUP_LOAD), null, 'back under the lower mark it takes calls again');
  assert.not.ok(status.get().overloaded);
  assert.is(status.get().overloadRefusals, 2, 'each refusal is counted');
  assert.equal(lines.filter((l) => /overloaded|caught up/.test(String(l.msg))).map((l) => l.level), ['warn', 'info'], 'one line as it starts, one as it ends');
});

test('a loop late with few calls being set up (a flood of junk, which the rate limits handle) refuses no call', () => {
  const { overload } = setup();
  overload.sample(SHED_ABOVE_MS + 200);
  assert.is(overload.refusal(SETUP_LOAD - 1), null);
});

test('too many calls being set up at once: the next is refused even with a loop on time', () => {
  const { overload } = setup();
  overload.sample(10);
  assert.is(overload.refusal(MAX_CALLS_IN_SETUP - 1), null);
  assert.match(String(overload.refusal(MAX_CALLS_IN_SETUP)), new RegExp(`${MAX_CALLS_IN_SETUP} calls are being set up`));
});

test.run();
