#!/usr/bin/env node
// Runs every test of the project and ends with one line: "N passed, N failed, N skipped".
// Each test file runs in its own process (uvu). Files run side by side, CONFBOX_TEST_JOBS at a time (default 3): every
// box, phone and tool a test starts takes free ports and a directory of its own. A file whose first lines say
// "confbox-test: alone" measures what a busy machine would disturb (audio timing, memory under load); it runs after
// the others, with nothing beside it.
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const filter = process.argv.slice(2);
const FILE_TIMEOUT_MS = 15 * 60 * 1000;

function find(dir) {
  let out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (name !== 'bench' && name !== 'artifacts') out = out.concat(find(p));
    } else if (/\.test\.(ts|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

function run(cmd, args, label) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (b) => { out += b; if (out.length > 4e6) out = out.slice(-2e6); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => { out += `\n${label}: timed out after ${FILE_TIMEOUT_MS / 1000} s\n`; child.kill('SIGKILL'); }, FILE_TIMEOUT_MS);
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code: code ?? 1, signal, out, ms: Date.now() - started }); });
  });
}

let passed = 0, failed = 0, skipped = 0;

function report(label, r, counts) {
  passed += counts.passed; failed += counts.failed; skipped += counts.skipped;
  const verdict = counts.failed ? 'FAIL' : 'ok';
  process.stdout.write(`${verdict.padEnd(4)} ${label}  (${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped, ${(r.ms / 1000).toFixed(1)} s)\n`);
  if (counts.failed) process.stdout.write(r.out.split('\n').map((l) => '     | ' + l).join('\n') + '\n');
}

const wants = (label) => filter.length === 0 || filter.some((f) => label.includes(f));

const jobs = [];

if (wants('typecheck')) {
  jobs.push({
    label: 'typecheck (tsc --noEmit)', cmd: process.execPath, args: [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root],
    count: (r) => (r.code === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 }),
  });
}

// The media engine's C unit tests: tiny programs, each ending with "N passed, N failed"; also under ASan + UBSan,
// and cross-compiled for the box's arm64 boards, run under qemu-user; and its sources checked against .clang-format.
for (const mode of ['normal', 'asan', 'tsan', 'arm64', 'format']) {
  const label = mode === 'format' ? 'firmware/media/native C formatting (clang-format)' : `firmware/media/native C tests (${mode === 'arm64' ? 'arm64, qemu-user' : mode})`;
  if (!wants(label)) continue;
  jobs.push({
    label, cmd: 'bash', args: [join(root, 'firmware/media/native/build.sh'), ...(mode === 'normal' ? [] : [mode])],
    count: (r) => {
      const counts = { passed: 0, failed: 0, skipped: 0 };
      for (const m of r.out.matchAll(/^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/gm)) {
        counts.passed += Number(m[1]);
        counts.failed += Number(m[2]);
        counts.skipped += Number(m[3] ?? 0);
      }
      if (r.code !== 0 && counts.failed === 0) counts.failed = 1;
      return counts;
    },
  });
}

// Coverage-guided fuzzing of the media engine's parsers and decoders (libFuzzer, ASan + UBSan): each target replays
// its regression inputs, then fuzzes for a bounded time from its corpus; npm run fuzz runs them longer.
{
  const seconds = 10;
  const label = `firmware/media/native fuzz targets (libFuzzer, ${seconds} s each)`;
  if (wants(label)) {
    jobs.push({
      label, cmd: 'sh', args: [join(root, 'firmware/media/native/fuzz/fuzz.sh'), String(seconds)],
      count: finalTally,
    });
  }
}

// Coverage-guided fuzzing of the firmware's TypeScript parsers (V8 block coverage): regression inputs, then a bounded run.
{
  const seconds = 5;
  const label = `test/fuzz TypeScript fuzz targets (coverage-guided, ${seconds} s each)`;
  if (wants(label)) {
    jobs.push({
      label, cmd: process.execPath, args: ['--import', 'tsx', join(root, 'test/fuzz/run.ts'), String(seconds)],
      count: finalTally,
    });
  }
}

// The media engine addon, its N-API binding included, built with ASan + UBSan and run under the engine's test file.
{
  const label = 'test/unit/native-engine.test.ts (addon under ASan + UBSan)';
  if (wants(label)) jobs.push({ label, cmd: 'bash', args: [join(root, 'scripts/test-addon-asan.sh')], count: (r) => uvuCounts(r) });
}

// Test files that also run as the box runs them: by the arm64 Node runtime of image.yml under qemu-user, with the
// media engine addon cross-compiled for arm64.
const arm64Runs = { 'test/unit/native-engine.test.ts': 'scripts/image/arm64-test.ts' };

/** The counts of a program that ends with its own "N passed, N failed, N skipped" line. */
function finalTally(r) {
  const m = /^(\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(r.out);
  const counts = m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) } : { passed: 0, failed: 0, skipped: 0 };
  if (r.code !== 0 && counts.failed === 0) counts.failed = 1;
  return counts;
}

function uvuCounts(r) {
  const total = Number(/Total:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
  const skip = Number(/Skipped:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
  // A file may declare tests it cannot run here (missing shared material) with "confbox-skipped: N reason".
  const declared = [...r.out.matchAll(/^confbox-skipped: (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
  let counts = { passed: ok, failed: total - ok, skipped: skip + declared };
  if (r.code !== 0 && counts.failed === 0) counts = { ...counts, failed: 1 };
  if (total === 0 && declared === 0 && r.code === 0) counts = { ...counts, failed: 1 };
  return counts;
}

for (const file of find(join(root, 'test'))) {
  const label = relative(root, file);
  const alone = /confbox-test: alone/.test(readFileSync(file, 'utf8').split('\n').slice(0, 12).join('\n'));
  if (wants(label)) jobs.push({ label, alone, cmd: process.execPath, args: file.endsWith('.ts') ? ['--import', 'tsx', file] : [file], count: uvuCounts });
  const arm64 = arm64Runs[label.split('\\').join('/')];
  const armLabel = `${label} (arm64, qemu-user)`;
  if (arm64 && wants(armLabel)) jobs.push({ label: armLabel, cmd: process.execPath, args: ['--import', 'tsx', join(root, arm64)], count: uvuCounts });
}

const width = Math.max(1, Number(process.env.CONFBOX_TEST_JOBS) || 3);

async function lane(queue) {
  for (let job = queue.shift(); job; job = queue.shift()) {
    const r = await run(job.cmd, job.args, job.label);
    report(job.label, r, job.count(r));
  }
}

const together = jobs.filter((j) => !j.alone);
await Promise.all(Array.from({ length: width }, () => lane(together)));
await lane(jobs.filter((j) => j.alone));

process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = failed > 0 ? 1 : 0;
