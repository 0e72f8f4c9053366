// Coverage-guided fuzzing on demand, longer than the test run's bounded pass:
//   npm run fuzz -- [--minutes N] [--no-merge] [target...]      (--list: the targets' names)
// N minutes (default 10) shared among the targets: the media engine's C ones (firmware/media/native/fuzz/fuzz.sh, libFuzzer)
// and the TypeScript ones (test/fuzz/run.ts); default all. Inputs that reach new code are merged, minimised, into the
// targets' corpora in the repository unless --no-merge. Findings are kept under firmware/media/native/build/fuzz/findings/
// and test/fuzz/findings/.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const C_SCRIPT = join(root, 'firmware/media/native/fuzz/fuzz.sh');
const TS_RUNNER = join(root, 'test/fuzz/run.ts');
/** The targets a runner has, as it lists them itself. */
function targetsOf(what, command, args) {
  const listed = spawnSync(command, [...args, '--list'], { cwd: root, encoding: 'utf8' });
  if (listed.status !== 0) {
    console.error(`fuzz: cannot list the ${what} targets: ${listed.stderr}`);
    process.exit(1);
  }
  return listed.stdout.trim().split(/\s+/);
}
const C_TARGETS = targetsOf('C', 'sh', [C_SCRIPT]);
const TS_TARGETS = targetsOf('TypeScript', process.execPath, ['--import', 'tsx', TS_RUNNER]);
const targets = `C targets: ${C_TARGETS.join(' ')}\nTypeScript targets: ${TS_TARGETS.join(' ')}`;
const usage = `usage: npm run fuzz -- [--minutes N] [--no-merge] [target...] | --list\n${targets.replace(/^/gm, '  ')}`;

let parsed;
try {
  parsed = parseArgs({ options: { minutes: { type: 'string', default: '10' }, 'no-merge': { type: 'boolean', default: false }, list: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } }, allowPositionals: true });
} catch (err) {
  console.error(`fuzz: ${err.message}\n${usage}`);
  process.exit(2);
}
if (parsed.values.help) {
  console.log(usage);
  process.exit(0);
}
if (parsed.values.list) {
  console.log(targets);
  process.exit(0);
}
const minutes = Number(parsed.values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0) {
  console.error(`fuzz: --minutes must be a positive number of minutes, not "${parsed.values.minutes}"`);
  process.exit(2);
}
const unknown = parsed.positionals.filter((t) => !C_TARGETS.includes(t) && !TS_TARGETS.includes(t));
if (unknown.length) {
  console.error(`fuzz: no target ${unknown.join(', ')}\n${usage}`);
  process.exit(2);
}
const asked = parsed.positionals.length ? parsed.positionals : [...C_TARGETS, ...TS_TARGETS];
const c = asked.filter((t) => C_TARGETS.includes(t));
const ts = asked.filter((t) => TS_TARGETS.includes(t));
const seconds = Math.max(1, Math.floor((minutes * 60) / asked.length));
const merge = parsed.values['no-merge'] ? [] : ['--merge'];
console.log(`fuzz: ${asked.length} target(s), ${seconds} s each`);
let status = 0;
if (c.length) status |= spawnSync('sh', [C_SCRIPT, String(seconds), ...merge, ...c], { stdio: 'inherit' }).status ?? 1;
if (ts.length) status |= spawnSync(process.execPath, ['--import', 'tsx', TS_RUNNER, String(seconds), ...merge, ...ts], { cwd: root, stdio: 'inherit' }).status ?? 1;
process.exit(status ? 1 : 0);
