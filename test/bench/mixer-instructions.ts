// Instructions per member-frame of the C mixer and of the memcpy baseline, counted rather than timed:
// on x86-64 by valgrind (lackey's guest instruction count), on arm64 (the box's boards) by running
// the cross-compiled bench_mixer under qemu-user one instruction per block and counting the blocks it
// executes. A count is exact and repeatable where timings on a shared machine are not, but it is not
// time: memcpy moves 16-32 bytes per instruction, the mixer 8 samples per vector instruction.
// bench_mixer --count TICKS runs exactly TICKS ticks; the difference between two tick counts takes
// the program's start and set-up out.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface InstructionRow {
  arch: string;
  room: string;
  mixer: number;
  memcpy: number;
}

const FEW = 20;
const MORE = 40;

const hasTool = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;

/** Instructions bench_mixer --count executes for ticks ticks, as counted by count(). */
type Counter = (args: string[]) => number;

function perMemberFrame(count: Counter, kernel: 'mixer' | 'memcpy', room: string): number {
  const members = Number(room.split(':')[0]);
  const few = count(['--count', String(FEW), kernel, room]);
  const more = count(['--count', String(MORE), kernel, room]);
  return (more - few) / ((MORE - FEW) * members);
}

function valgrindCounter(binary: string): Counter {
  return (args) => {
    const r = spawnSync('valgrind', ['--tool=lackey', '--basic-counts=yes', binary, ...args], { encoding: 'utf8' });
    const m = /guest instrs:\s+([\d,]+)/.exec(r.stderr);
    if (r.status !== 0 || !m) throw new Error(`valgrind ${binary} ${args.join(' ')} failed: ${r.stderr.slice(-400)}`);
    return Number(m[1]!.replace(/,/g, ''));
  };
}

function qemuCounter(binary: string, dir: string): Counter {
  return (args) => {
    const trace = join(dir, 'trace.log');
    const r = spawnSync('qemu-aarch64-static', ['-singlestep', '-d', 'nochain,exec', '-D', trace, binary, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`qemu-aarch64-static ${binary} ${args.join(' ')} failed: ${r.stderr.slice(-400)}`);
    // one "Trace" line per block executed, one instruction per block
    const text = readFileSync(trace, 'latin1');
    let n = 0;
    for (let i = text.indexOf('Trace'); i >= 0; i = text.indexOf('\nTrace', i + 1)) n++;
    return n;
  };
}

/** The counts for each room on each architecture the tools here allow; a line saying why for the rest. */
export function mixerInstructions(benchDir: string, hostBinary: string, rooms: string[], log: (line: string) => void): InstructionRow[] {
  const rows: InstructionRow[] = [];
  const add = (arch: string, count: Counter) => {
    for (const room of rooms) rows.push({ arch, room, mixer: perMemberFrame(count, 'mixer', room), memcpy: perMemberFrame(count, 'memcpy', room) });
  };
  if (hasTool('valgrind')) add('x86-64', valgrindCounter(hostBinary));
  else log('  x86-64: valgrind is not installed (scripts/setup-host.sh installs it): no count');
  if (hasTool('aarch64-linux-gnu-gcc') && hasTool('qemu-aarch64-static')) {
    const dir = mkdtempSync(join(tmpdir(), 'confbox-insn-'));
    try {
      const binary = join(dir, 'bench_mixer');
      const src = join(benchDir, '../src');
      const cc = spawnSync('aarch64-linux-gnu-gcc', ['-std=c11', '-O3', '-static', `-I${src}`, join(benchDir, 'bench_mixer.c'), join(src, 'mixer.c'), join(src, 'talk_detect.c'), join(src, 'dtmf_detect.c'), '-o', binary], { encoding: 'utf8' });
      if (cc.status !== 0 || !statSync(binary, { throwIfNoEntry: false })) throw new Error(`arm64 bench_mixer did not build: ${cc.stderr}`);
      add('arm64', qemuCounter(binary, dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else {
    log('  arm64: aarch64-linux-gnu-gcc or qemu-aarch64-static is missing (scripts/setup-host.sh installs them): no count');
  }
  return rows;
}
