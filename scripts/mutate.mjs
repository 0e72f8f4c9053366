// Mutation testing of the rules (firmware/conference/), the digest (firmware/sip/digest.ts) and the SDP module
// (firmware/sip/sdp.ts) with StrykerJS, installed on first use under test/artifacts/ so that it stays out of the box's
// dependencies:
//   npm run mutate [-- --rules] [-- FILE-GLOB...]
// Every mutant runs the unit tests of test/mutate/rule-tests.ts (with --rules: only firmware/conference/, against the
// rules' own tests in test/mutate/conference-tests.ts, twice as fast; firmware/sip/digest.ts or firmware/sip/sdp.ts
// asked alone: against its own tests in test/mutate/); prints the score of each file and of
// firmware/conference/ as a whole (target: 85 % or more). The full report: test/artifacts/mutation/mutation.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const STRYKER = { '@stryker-mutator/core': '9.6.1', typescript: '5.9.3' };
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const config = 'test/mutate/stryker.config.json';
const report = join(root, 'test/artifacts/mutation/mutation.json');
// StrykerJS and the TypeScript it reads tsconfig.json with, in a tree of their own (test/artifacts is not kept).
const tools = join(root, 'test/artifacts/mutation/tools');
const installed = (name) => {
  const p = join(tools, 'node_modules', name, 'package.json');
  return existsSync(p) && JSON.parse(readFileSync(p, 'utf8')).version === STRYKER[name];
};
if (!Object.keys(STRYKER).every(installed)) {
  mkdirSync(tools, { recursive: true });
  const specs = Object.entries(STRYKER).map(([name, version]) => `${name}@${version}`);
  const i = spawnSync('npm', ['install', '--prefix', tools, '--no-save', '--no-audit', '--no-fund', '--loglevel=error', ...specs], { stdio: 'inherit' });
  if (i.status !== 0) {
    console.error(`mutate: could not install ${specs.join(' ')}`);
    process.exit(1);
  }
}
const rules = process.argv.includes('--rules');
const only = process.argv.slice(2).filter((a) => a !== '--rules');
// The configuration as asked: which files are mutated, and which tests run against each mutant.
const settings = JSON.parse(readFileSync(join(root, config), 'utf8'));
if (rules) {
  settings.mutate = ['firmware/conference/**/*.ts'];
  settings.commandRunner.command = 'node --import tsx test/mutate/conference-tests.ts';
}
if (only.length) settings.mutate = only;
// A file with tests of its own is tested by those alone when it is the only one asked: several times faster a mutant.
const OWN_TESTS = { 'firmware/sip/digest.ts': 'test/mutate/digest-tests.ts', 'firmware/sip/sdp.ts': 'test/mutate/sdp-tests.ts' };
if (only.length === 1 && OWN_TESTS[only[0]]) settings.commandRunner.command = `node --import tsx ${OWN_TESTS[only[0]]}`;
const asked = join(root, 'test/artifacts/mutation/stryker.config.json');
mkdirSync(dirname(asked), { recursive: true });
writeFileSync(asked, JSON.stringify(settings, null, 2));
const r = spawnSync(process.execPath, [join(tools, 'node_modules/@stryker-mutator/core/bin/stryker.js'), 'run', relative(root, asked)], { cwd: root, stdio: 'inherit' });
if (r.status !== 0 || !existsSync(report)) {
  console.error(`mutate: stryker did not finish (exit ${r.status})`);
  process.exit(1);
}

// Score = killed and timed-out mutants over those that could be tested (no-coverage counts as surviving).
const { files } = JSON.parse(readFileSync(report, 'utf8'));
const tally = (mutants) => {
  const detected = mutants.filter((m) => m.status === 'Killed' || m.status === 'Timeout').length;
  const valid = mutants.filter((m) => !['CompileError', 'RuntimeError', 'Ignored'].includes(m.status)).length;
  return { detected, valid, score: valid ? (100 * detected) / valid : 100 };
};
const rows = Object.entries(files).map(([file, f]) => ({ file: relative(root, join(root, file)), ...tally(f.mutants) }));
for (const row of rows) console.log(`${row.score.toFixed(1).padStart(6)} %  ${String(row.detected).padStart(4)} / ${String(row.valid).padEnd(4)} ${row.file}`);
const conference = tally(Object.entries(files).filter(([file]) => file.includes('firmware/conference/')).flatMap(([, f]) => f.mutants));
if (conference.valid) console.log(`firmware/conference/: ${conference.score.toFixed(1)} % of ${conference.valid} mutants detected (target 85 %)`);
