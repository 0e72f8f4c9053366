// A coverage-guided fuzzer for the firmware's TypeScript parsers, on V8's own block coverage
// (node:inspector, Profiler.takePreciseCoverage): an input that makes the firmware run a block it had
// not run, or run one a new number of times (counts bucketed as libFuzzer buckets them), joins the
// corpus, and mutations of the corpus are tried next. Jazzer.js, the library made for this, cannot be
// used here (THIRD_PARTY.md says why).
import { Session } from 'node:inspector';

export interface FuzzTarget {
  name: string;
  /** What the target feeds: the entry points it calls, for the report. */
  about: string;
  /** Inputs to start from (the corpus in the repository is added to them). */
  seeds(): Buffer[];
  /** Tokens the mutator inserts: the format's keywords and separators. */
  dictionary: string[];
  /** Runs one input; throws FuzzFinding (or anything unexpected) when the firmware misbehaves. */
  run(input: Buffer): void | Promise<void>;
}

/** What a target reports when an input broke one of its properties. */
export class FuzzFinding extends Error {}

/** Fails the input when cond does not hold. */
export function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new FuzzFinding(what);
}

interface Coverage {
  result: Array<{ url: string; functions: Array<{ ranges: Array<{ startOffset: number; endOffset: number; count: number }> }> }>;
}

/** Block coverage of the firmware's own modules, read and reset after every input. */
export class CoverageProbe {
  private readonly session = new Session();

  constructor(private readonly scope = '/firmware/') {
    this.session.connect();
    this.post('Profiler.enable');
    this.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  }

  private post(method: string, params?: object): unknown {
    let out: unknown;
    let error: Error | null = null;
    // A session on this thread answers synchronously.
    this.session.post(method, params ?? {}, (err, result) => {
      error = err;
      out = result;
    });
    if (error) throw error;
    return out;
  }

  /** Blocks seen so far per function ("url:offset"): V8 lists a block only where its count differs from the block
   * around it, so a block once seen and now absent ran as often as that one. */
  private readonly known = new Map<string, Map<string, [number, number]>>();

  /** Features reached since the last call: "script:function:block:bucket" for every block run. */
  take(): string[] {
    const coverage = this.post('Profiler.takePreciseCoverage') as Coverage;
    const features: string[] = [];
    for (const script of coverage.result) {
      if (!script.url.includes(this.scope) || script.url.includes('/node_modules/')) continue;
      for (const fn of script.functions) {
        const ranges = fn.ranges;
        if (!ranges.length || ranges[0]!.count === 0) continue;
        const key = `${script.url}:${ranges[0]!.startOffset}`;
        let known = this.known.get(key);
        if (!known) this.known.set(key, (known = new Map()));
        for (const r of ranges) known.set(`${r.startOffset}-${r.endOffset}`, [r.startOffset, r.endOffset]);
        for (const [block, [start, end]] of known) {
          let count = 0;
          let width = Infinity;
          for (const r of ranges) {
            if (r.startOffset <= start && end <= r.endOffset && r.endOffset - r.startOffset < width) {
              width = r.endOffset - r.startOffset;
              count = r.count;
            }
          }
          if (count > 0) features.push(`${key}:${block}:${bucket(count)}`);
        }
      }
    }
    return features;
  }

  close(): void {
    this.post('Profiler.stopPreciseCoverage');
    this.session.disconnect();
  }
}

function bucket(count: number): number {
  if (count <= 3) return count;
  if (count <= 7) return 4;
  if (count <= 15) return 8;
  if (count <= 31) return 16;
  if (count <= 127) return 32;
  return 128;
}

/** xorshift32: a mutator that a seed makes repeatable. */
export class Random {
  constructor(private state: number) {
    if (this.state === 0) this.state = 0x9e3779b9;
  }

  next(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state;
  }

  below(n: number): number {
    return n <= 0 ? 0 : this.next() % n;
  }
}

const INTERESTING = ['0', '-1', '1', '255', '256', '65535', '65536', '2147483647', '4294967296', '99999999999999999999', '1e308', 'NaN', ''];

/** One mutation of input: bytes flipped, set, inserted, removed or duplicated, a dictionary token or an
 * interesting number put in, or a piece of another corpus entry spliced in. */
export function mutate(input: Buffer, corpus: readonly Buffer[], dictionary: readonly string[], rnd: Random, maxLen: number): Buffer {
  let b = Buffer.from(input);
  const rounds = 1 + rnd.below(4);
  for (let k = 0; k < rounds; k++) {
    const at = rnd.below(b.length + 1);
    switch (rnd.below(9)) {
      case 0: // flip a bit
        if (b.length) b[rnd.below(b.length)]! ^= 1 << rnd.below(8);
        break;
      case 1: // set a byte
        if (b.length) b[rnd.below(b.length)] = rnd.below(256);
        break;
      case 2: // insert a byte
        b = Buffer.concat([b.subarray(0, at), Buffer.from([rnd.below(256)]), b.subarray(at)]);
        break;
      case 3: { // remove a range
        const n = 1 + rnd.below(Math.min(16, Math.max(1, b.length - at)));
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + n))]);
        break;
      }
      case 4: { // duplicate a range
        const from = rnd.below(b.length + 1);
        const piece = b.subarray(from, from + 1 + rnd.below(32));
        b = Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
        break;
      }
      case 5:
      case 6: { // a dictionary token
        const word = dictionary.length ? dictionary[rnd.below(dictionary.length)]! : '';
        const replace = rnd.below(2) ? Math.min(b.length - at, word.length) : 0;
        b = Buffer.concat([b.subarray(0, at), Buffer.from(word, 'latin1'), b.subarray(at + replace)]);
        break;
      }
      case 7: { // a number replaced by an interesting one
        const text = b.toString('latin1');
        const numbers = [...text.matchAll(/-?\d+/g)];
        if (numbers.length) {
          const m = numbers[rnd.below(numbers.length)]!;
          const v = INTERESTING[rnd.below(INTERESTING.length)]!;
          b = Buffer.from(text.slice(0, m.index) + v + text.slice(m.index! + m[0].length), 'latin1');
        }
        break;
      }
      default: { // splice another corpus entry
        const other = corpus.length ? corpus[rnd.below(corpus.length)]! : Buffer.alloc(0);
        const from = rnd.below(other.length + 1);
        b = Buffer.concat([b.subarray(0, at), other.subarray(from, from + 1 + rnd.below(64))]);
        break;
      }
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b;
}
