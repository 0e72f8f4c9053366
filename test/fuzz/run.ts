// Runs the TypeScript fuzz targets, each in a process of its own with its heap capped, watched for hangs:
//   node --import tsx test/fuzz/run.ts SECONDS [--merge] [TARGET...]      (--list: the targets' names)
// Prints "ok - TARGET: ..." or "not ok - TARGET: ..." per target and ends with "N passed, N failed, 0 skipped".
// A finding (an error that is not the product's own, a broken property, a hang of HANG_S, more than HEAP_MB of heap)
// is kept as test/fuzz/findings/TARGET-<sha1>; once fixed it belongs in test/fuzz/regressions/TARGET/.
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TARGETS } from './targets.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const HEAP_MB = 256;
const HANG_S = 10;

async function runTarget(name: string, seconds: number, merge: boolean): Promise<{ ok: boolean; line: string }> {
  const work = mkdtempSync(join(tmpdir(), `confbox-fuzz-${name}-`));
  try {
    const child = fork(join(HERE, 'worker.ts'), [name, String(seconds), work, ...(merge ? ['--merge'] : [])], {
      execArgv: ['--import', 'tsx', `--max-old-space-size=${HEAP_MB}`],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const started = Date.now();
    let last = started;
    child.on('message', () => (last = Date.now()));
    let hung = false;
    const watch = setInterval(() => {
      // the worker beats at least every 250 ms while it runs inputs; its start (loading the firmware) gets a little longer
      if (Date.now() - last > HANG_S * 1000 * (last === started ? 3 : 1)) {
        hung = true;
        child.kill('SIGKILL');
      }
    }, 500);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearInterval(watch);
    const done = /done inputs=(\d+) features=(\d+) corpus=(\d+) new=(\d+) merged=(\d+)/.exec(out);
    if (code === 0 && done) {
      const [, inputs, features, corpus, , merged] = done;
      return { ok: true, line: `ok - ${name}: ${inputs} inputs in ${seconds} s, no finding (${features} features, corpus ${corpus}${merge ? `, ${merged} merged into test/fuzz/corpus/${name}/` : ''})` };
    }
    const input = existsSync(join(work, 'finding')) ? join(work, 'finding') : join(work, 'current');
    let kept = '(no input)';
    if (existsSync(input)) {
      mkdirSync(join(HERE, 'findings'), { recursive: true });
      kept = join(HERE, 'findings', `${name}-${createHash('sha1').update(readFileSync(input)).digest('hex')}`);
      copyFileSync(input, kept);
    }
    const why = hung ? `no progress for ${HANG_S} s (a hang)` : /heap out of memory|Allocation failed/i.test(out) ? `more than ${HEAP_MB} MB of heap` : code === null ? 'killed by a signal' : `exit ${code}`;
    return { ok: false, line: `${out.trim().split('\n').slice(-15).join('\n')}\nnot ok - ${name}: ${why}; the input is kept as ${kept}` };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args[0] === '--list') {
  console.log(TARGETS.map((t) => t.name).join(' '));
  process.exit(0);
}
const seconds = Number(args[0]);
const merge = args.includes('--merge');
const names = args.slice(1).filter((a) => a !== '--merge');
const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
if (!Number.isInteger(seconds) || seconds < 1 || unknown.length) {
  console.error(`usage: run.ts SECONDS [--merge] [TARGET...]; targets: ${TARGETS.map((t) => t.name).join(', ')}${unknown.length ? `; no target ${unknown.join(', ')}` : ''}`);
  process.exit(2);
}
let passed = 0;
let failed = 0;
for (const t of names.length ? TARGETS.filter((x) => names.includes(x.name)) : TARGETS) {
  const r = await runTarget(t.name, seconds, merge);
  console.log(r.line);
  if (r.ok) passed++;
  else failed++;
}
console.log(`${passed} passed, ${failed} failed, 0 skipped`);
process.exit(failed ? 1 : 0);
