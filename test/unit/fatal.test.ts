import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FATAL_EXIT_CODE, fatalHandler } from '../../firmware/fatal.ts';
import { createLogger } from '../../firmware/log.ts';

test('an unhandled error is logged with its stack and ends the process with a non-zero code, once', () => {
  const lines: Array<Record<string, unknown>> = [];
  const exits: number[] = [];
  const fatal = fatalHandler(createLogger('info', {}, (l) => lines.push(JSON.parse(l))), (code) => exits.push(code));
  fatal(new TypeError('boom'), 'uncaughtException');
  fatal(new Error('while exiting'), 'unhandledRejection');
  assert.equal(exits, [FATAL_EXIT_CODE]);
  assert.is.not(FATAL_EXIT_CODE, 0);
  assert.is(lines.length, 1);
  assert.is(lines[0]!.level, 'error');
  assert.is(lines[0]!.origin, 'uncaughtException');
  const err = lines[0]!.err as Record<string, unknown>;
  assert.equal([err.name, err.message], ['TypeError', 'boom']);
  assert.match(String(err.stack), /TypeError: boom\n\s+at /);
});

// The handler as the firmware installs it (firmware/main.ts), in a process of its own.
const installed = (fault: string) => `
  import { fatalHandler } from './firmware/fatal.ts';
  import { createLogger } from './firmware/log.ts';
  const fatal = fatalHandler(createLogger('info'));
  process.on('uncaughtException', (e, origin) => fatal(e, origin));
  process.on('unhandledRejection', (e) => fatal(e, 'unhandledRejection'));
  setInterval(() => undefined, 1000);
  ${fault}
`;

const faults: Array<[string, string]> = [
  ['a throw in a timer', "setTimeout(() => { throw new Error('fault in a timer'); }, 10);"],
  ['a rejected promise nobody awaits', "setTimeout(() => void Promise.reject(new Error('fault in a promise')), 10);"],
];
for (const [what, fault] of faults) {
  test(`${what}: the process exits with ${FATAL_EXIT_CODE} instead of running on`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', installed(fault)], { encoding: 'utf8', timeout: 20_000 });
    assert.is(r.status, FATAL_EXIT_CODE, r.stderr);
    assert.match(r.stdout, /"msg":"unexpected error: exiting so that the box restarts in a known state"/);
    assert.match(r.stdout, /fault in a/);
  });
}

test.run();
