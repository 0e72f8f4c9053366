// The recordings on disk as the page and API see them: names read for room and start, other files ignored, names
// that are not a recording's refused (no path outside the directory), one being written kept, retention by age.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BoxError } from '../../firmware/errors.ts';
import { RecordingLibrary, wavHeader } from '../../firmware/recordings/index.ts';

function withDir(files: Record<string, number>, active: string[] = []): { lib: RecordingLibrary; dir: string; done(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'confbox-recordings-'));
  for (const [name, seconds] of Object.entries(files)) {
    const data = Buffer.alloc(seconds * 32000);
    writeFileSync(join(dir, name), Buffer.concat([wavHeader(data.length), data]));
  }
  const lib = new RecordingLibrary(dir, () => active.map((n) => join(dir, n)));
  return { lib, dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

test('lists recordings newest first with room, start, length and size; other files are not recordings', () => {
  const { lib, done } = withDir({
    'room-2-20261201-090000.wav': 3,
    'room-2-20261203-100000.wav': 1,
    'room-2-20261203-100000-2.wav': 2,
    'room-17-20261202-083015.wav': 0,
    'notes.txt': 1,
    'room-2-2026.wav': 1,
  });
  try {
    const list = lib.list();
    assert.equal(list.map((r) => r.name), ['room-2-20261203-100000-2.wav', 'room-2-20261203-100000.wav', 'room-17-20261202-083015.wav', 'room-2-20261201-090000.wav']);
    const first = list.find((r) => r.name === 'room-2-20261201-090000.wav')!;
    assert.is(first.room, 2);
    assert.is(first.startedAt.toISOString(), '2026-12-01T09:00:00.000Z');
    assert.is(first.seconds, 3);
    assert.is(first.bytes, 44 + 3 * 32000);
    assert.is(list.find((r) => r.room === 17)!.seconds, 0);
  } finally {
    done();
  }
});

test('a name that is not a recording\'s, or none by that name, is a 404 naming it: nothing outside the directory is reached', () => {
  const { lib, done } = withDir({ 'room-2-20261201-090000.wav': 1 });
  try {
    for (const name of ['../../etc/passwd', 'room-2-20261201-090000.wav/..', '/etc/passwd', 'room-3-20261201-090000.wav', '']) {
      assert.throws(() => lib.get(name), (e: unknown) => e instanceof BoxError && e.httpStatus === 404 && e.message.startsWith('no recording named'), name);
    }
    assert.is(lib.get('room-2-20261201-090000.wav').path, join(lib.dir, 'room-2-20261201-090000.wav'));
  } finally {
    done();
  }
});

test('a recording being written cannot be deleted (409); a finished one can', () => {
  const { lib, dir, done } = withDir({ 'room-2-20261201-090000.wav': 1, 'room-2-20261201-100000.wav': 1 }, ['room-2-20261201-100000.wav']);
  try {
    assert.ok(lib.get('room-2-20261201-100000.wav').active);
    assert.throws(() => lib.delete('room-2-20261201-100000.wav'), (e: unknown) => e instanceof BoxError && e.httpStatus === 409);
    assert.is(lib.delete('room-2-20261201-090000.wav').name, 'room-2-20261201-090000.wav');
    assert.equal(readdirSync(dir), ['room-2-20261201-100000.wav']);
  } finally {
    done();
  }
});

test('retention deletes recordings older than the setting, never one being written; off keeps all', () => {
  const { lib, dir, done } = withDir({
    'room-1-20260101-090000.wav': 1,
    'room-1-20261120-090000.wav': 1,
    'room-1-20261204-090000.wav': 1,
    'room-9-20250101-090000.wav': 1,
  }, ['room-9-20250101-090000.wav']);
  try {
    const now = new Date('2026-12-06T00:00:00Z');
    assert.equal(lib.deleteOlderThan(0, now), [], 'off');
    assert.is(readdirSync(dir).length, 4);
    const gone = lib.deleteOlderThan(14, now).map((r) => r.name);
    assert.equal(gone, ['room-1-20261120-090000.wav', 'room-1-20260101-090000.wav']);
    assert.equal(readdirSync(dir).sort(), ['room-1-20261204-090000.wav', 'room-9-20250101-090000.wav']);
  } finally {
    done();
  }
});

test('an empty or missing recordings directory lists nothing', () => {
  assert.equal(new RecordingLibrary(join(tmpdir(), 'confbox-no-such-dir-recordings'), () => []).list(), []);
});

test.run();
