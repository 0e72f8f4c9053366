#!/usr/bin/env node
// Runs every test of the project and ends with one line: "N passed, N failed, N skipped".
// Each test file runs in its own process (uvu), one after another: integration tests share ports.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
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

if (wants('typecheck')) {
  const r = await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', root], 'tsc');
  report('typecheck (tsc --noEmit)', r, r.code === 0 ? { passed: 1, failed: 0, skipped: 0 } : { passed: 0, failed: 1, skipped: 0 });
}

// The media engine's C unit tests: tiny programs, each ending with "N passed, N failed"; also under ASan + UBSan,
// and cross-compiled for the box's arm64 boards, run under qemu-user.
for (const mode of ['normal', 'asan', 'arm64']) {
  const label = `firmware/media/native C tests (${mode === 'arm64' ? 'arm64, qemu-user' : mode})`;
  if (!wants(label)) continue;
  const r = await run('bash', [join(root, 'firmware/media/native/build.sh'), ...(mode === 'normal' ? [] : [mode])], label);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const m of r.out.matchAll(/^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/gm)) {
    counts.passed += Number(m[1]);
    counts.failed += Number(m[2]);
    counts.skipped += Number(m[3] ?? 0);
  }
  if (r.code !== 0 && counts.failed === 0) counts.failed = 1;
  report(label, r, counts);
}

// Test files that also run as the box runs them: by the arm64 Node runtime of image.yml under qemu-user, with the
// media engine addon cross-compiled for arm64.
const arm64Runs = { 'test/unit/native-engine.test.ts': 'scripts/image/arm64-test.ts' };

const runs = [];
for (const file of find(join(root, 'test'))) {
  const label = relative(root, file);
  runs.push({ label, args: file.endsWith('.ts') ? ['--import', 'tsx', file] : [file] });
  const arm64 = arm64Runs[label.split('\\').join('/')];
  if (arm64) runs.push({ label: `${label} (arm64, qemu-user)`, args: ['--import', 'tsx', join(root, arm64)] });
}

for (const { label, args } of runs) {
  if (!wants(label)) continue;
  const r = await run(process.execPath, args, label);
  const total = Number(/Total:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
  const ok = Number(/Passed:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
  const skip = Number(/Skipped:\s+(\d+)/.exec(r.out)?.[1] ?? 0);
  // A file may declare tests it cannot run here (missing shared material) with "confbox-skipped: N reason".
  const declared = [...r.out.matchAll(/^confbox-skipped: (\d+)/gm)].reduce((s, m) => s + Number(m[1]), 0);
  let counts = { passed: ok, failed: total - ok, skipped: skip + declared };
  if (r.code !== 0 && counts.failed === 0) counts = { ...counts, failed: 1 };
  if (total === 0 && declared === 0 && r.code === 0) counts = { ...counts, failed: 1 };
  report(label, r, counts);
}

process.stdout.write(`\n${passed} passed, ${failed} failed, ${skipped} skipped\n`);
process.exitCode = failed > 0 ? 1 : 0;
