// One target's fuzzing run, in a process of its own (test/fuzz/run.ts starts it with a capped heap and watches it):
//   node --import tsx test/fuzz/worker.ts TARGET SECONDS WORKDIR [--merge]
// Replays the target's regression inputs, then fuzzes for SECONDS from its seeds and corpus. Before each input it
// writes it to WORKDIR/current, so that the watcher keeps an input that hangs the process or exhausts its memory.
// Inputs that reach new code go to WORKDIR/corpus/; with --merge, those that still add coverage after the
// repository's corpus join test/fuzz/corpus/TARGET/. A finding is written to WORKDIR/finding and the process exits 1.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoverageProbe, mutate, Random } from './coverage-fuzzer.ts';
import { TARGETS } from './targets.ts';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const MAX_LEN = 8192;

const [name, secondsText, workdir] = process.argv.slice(2);
const merge = process.argv.includes('--merge');
const target = TARGETS.find((t) => t.name === name);
if (!target || !workdir || !/^\d+$/.test(secondsText ?? '')) {
  process.stderr.write(`usage: worker.ts TARGET SECONDS WORKDIR [--merge]; targets: ${TARGETS.map((t) => t.name).join(', ')}\n`);
  process.exit(2);
}
const seconds = Number(secondsText);
const repoCorpus = join(HERE, 'corpus', target.name);
const regressions = join(HERE, 'regressions', target.name);
const workCorpus = join(workdir, 'corpus');
mkdirSync(workCorpus, { recursive: true });

const readDir = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort().map((f) => readFileSync(join(dir, f))) : []);
const hash = (b: Buffer) => createHash('sha1').update(b).digest('hex');
const heartbeat = () => process.send?.('alive');

let lastBeat = 0;
async function runOne(input: Buffer): Promise<void> {
  if (Date.now() - lastBeat > 250) {
    heartbeat();
    lastBeat = Date.now();
  }
  writeFileSync(join(workdir!, 'current'), input);
  try {
    await target!.run(input);
  } catch (err) {
    writeFileSync(join(workdir!, 'finding'), input);
    const e = err as Error;
    process.stdout.write(`finding: ${e?.stack ?? String(err)}\n`);
    process.exit(1);
  }
}

const probe = new CoverageProbe();
const seen = new Set<string>();
/** Runs input and says whether it reached a feature not seen before. Taking coverage resets its
 * counts, and only firmware code counts: what the fuzzer runs between inputs is never in scope. */
async function novel(input: Buffer): Promise<boolean> {
  await runOne(input);
  let fresh = false;
  for (const f of probe.take()) {
    if (!seen.has(f)) {
      seen.add(f);
      fresh = true;
    }
  }
  return fresh;
}

for (const input of readDir(regressions)) await runOne(input);
const corpus: Buffer[] = [];
const repoInputs = readDir(repoCorpus);
for (const input of [...target.seeds(), ...repoInputs]) {
  if (input.length <= MAX_LEN && (await novel(input))) corpus.push(input);
}
if (corpus.length === 0) corpus.push(Buffer.alloc(0));
const rnd = new Random(Number(process.env.CONFBOX_FUZZ_SEED ?? Date.now() % 0xffffffff));
const found: Buffer[] = [];
const started = Date.now();
let inputs = 0;
while (Date.now() - started < seconds * 1000) {
  const parent = corpus[rnd.below(corpus.length)]!;
  const input = mutate(parent, corpus, target.dictionary, rnd, MAX_LEN);
  inputs++;
  if (await novel(input)) {
    corpus.push(input);
    found.push(input);
    writeFileSync(join(workCorpus, hash(input)), input);
  }
}

const features = seen.size;
let merged = 0;
if (merge) {
  // Coverage again from scratch: the repository's corpus first, then the new inputs smallest first; an input joins the
  // repository's corpus only if it still adds something.
  seen.clear();
  for (const input of repoInputs) await novel(input);
  mkdirSync(repoCorpus, { recursive: true });
  for (const input of [...found].sort((a, b) => a.length - b.length)) {
    if (await novel(input)) {
      writeFileSync(join(repoCorpus, hash(input)), input);
      merged++;
    }
  }
}
probe.close();
process.stdout.write(`done inputs=${inputs} features=${features} corpus=${corpus.length} new=${found.length} merged=${merged}\n`);
process.exit(0);
