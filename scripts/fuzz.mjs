// Coverage-guided fuzzing on demand, longer than the test run's bounded pass:
//   npm run fuzz -- [--minutes N] [--no-merge] [target...]
// N minutes (default 10) shared among the targets (default: all of firmware/media/native/fuzz/fuzz.sh's);
// inputs that reach new code are merged, minimised, into the targets' corpora in the repository
// unless --no-merge. A finding is saved under firmware/media/native/build/fuzz/findings/.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const script = join(root, 'firmware/media/native/fuzz/fuzz.sh');
const TARGETS = ['rtp', 'rtcp', 'jitter', 'codecs', 'srtp'];

let parsed;
try {
  parsed = parseArgs({ options: { minutes: { type: 'string', default: '10' }, 'no-merge': { type: 'boolean', default: false } }, allowPositionals: true });
} catch (err) {
  console.error(`fuzz: ${err.message}\nusage: npm run fuzz -- [--minutes N] [--no-merge] [${TARGETS.join('|')}]...`);
  process.exit(2);
}
const minutes = Number(parsed.values.minutes);
if (!Number.isFinite(minutes) || minutes <= 0) {
  console.error(`fuzz: --minutes must be a positive number of minutes, not "${parsed.values.minutes}"`);
  process.exit(2);
}
const unknown = parsed.positionals.filter((t) => !TARGETS.includes(t));
if (unknown.length) {
  console.error(`fuzz: no target ${unknown.join(', ')}; targets: ${TARGETS.join(', ')}`);
  process.exit(2);
}
const targets = parsed.positionals.length ? parsed.positionals : TARGETS;
const seconds = Math.max(1, Math.floor((minutes * 60) / targets.length));
console.log(`fuzz: ${targets.length} target(s), ${seconds} s each`);
const r = spawnSync('sh', [script, String(seconds), ...(parsed.values['no-merge'] ? [] : ['--merge']), ...targets], { stdio: 'inherit' });
process.exit(r.status ?? 1);
