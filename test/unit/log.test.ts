import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../firmware/log.ts';

function capture() {
  const lines: string[] = [];
  const log = createLogger('debug', { subsystem: 'test' }, (l) => void lines.push(l));
  return { log, records: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
}

test('an error is logged with its stack and its cause, nested ones too', () => {
  const { log, records } = capture();
  const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' });
  const e = new Error('the database is unreachable', { cause: root });
  log.error('call failed', { err: e, context: { inner: new RangeError('bad port') } });
  const rec = records()[0]!;
  assert.is(rec.err.message, 'the database is unreachable');
  assert.match(rec.err.stack, /Error: the database is unreachable\n\s+at /);
  assert.is(rec.err.cause.message, 'connect ECONNREFUSED 127.0.0.1:3306');
  assert.is(rec.err.cause.code, 'ECONNREFUSED');
  assert.match(rec.err.cause.stack, /at /);
  assert.is(rec.context.inner.name, 'RangeError');
});

test('a cyclic value is logged with "[cyclic]" in its place, and the line is written', () => {
  const { log, records } = capture();
  const a: Record<string, unknown> = { name: 'a', when: new Date('2026-01-02T03:04:05Z'), n: 10n };
  a.self = a;
  a.list = [a, 1];
  log.info('something cyclic', { a });
  const rec = records()[0]!;
  assert.equal(rec.a, { name: 'a', when: '2026-01-02T03:04:05.000Z', n: '10', self: '[cyclic]', list: ['[cyclic]', 1] });
  assert.is(rec.msg, 'something cyclic');
});

test('the same object twice (not a cycle) is written whole both times', () => {
  const { log, records } = capture();
  const shared = { x: 1 };
  log.info('shared', { one: shared, two: shared });
  assert.equal([records()[0]!.one, records()[0]!.two], [{ x: 1 }, { x: 1 }]);
});

test.run();
