import type { StatusSnapshot } from '../status.ts';
import type { LedName } from './profile.ts';

/** What one LED shows, as data: the controller plays it, the web page can draw it. */
export type LedPattern =
  | { kind: 'off' }
  | { kind: 'on' }
  | { kind: 'blink'; onMs: number; offMs: number }
  /** `blinks` flashes of onMs/offMs, then dark for pauseMs, repeated: a fault's blink code. */
  | { kind: 'code'; blinks: number; onMs: number; offMs: number; pauseMs: number };

export type LedPatterns = Record<LedName, LedPattern>;

/** The status fields the LEDs read; the optional ones are published by subsystems that may not report them yet. */
export type LedInputs = Pick<
  StatusSnapshot,
  'ready' | 'database' | 'media' | 'registeredExtensions' | 'trustedPeers' | 'activeConferences' | 'callsInSetup'
> & {
  /** The data partition is nearly full. */
  diskFull?: boolean;
  /** The media engine reports buffer overruns (it is alive but losing audio). */
  mediaOverrun?: boolean;
  /** A recording stopped growing (why, or "": none). */
  recordingStalled?: string;
  /** The box is moving to another database: the power LED blinks as while it starts. */
  databaseSwitching?: boolean;
};

export const OFF: LedPattern = { kind: 'off' };
export const ON: LedPattern = { kind: 'on' };
/** Power LED while the box starts, and while it moves to another database. */
export const SLOW_BLINK: LedPattern = { kind: 'blink', onMs: 500, offMs: 500 };
/** Conference LED while a call is being set up. */
export const FAST_BLINK: LedPattern = { kind: 'blink', onMs: 100, offMs: 100 };

/** The fault LED's blink codes: the number of flashes per cycle tells the technician the cause. */
export const FAULT_CODES = { database: 1, media: 2, disk: 3, recording: 4 } as const;
export type FaultCause = keyof typeof FAULT_CODES;

export function faultCode(blinks: number): LedPattern {
  return { kind: 'code', blinks, onMs: 250, offMs: 250, pauseMs: 1500 };
}

/** Current fault causes, most important first. */
export function faultCauses(s: LedInputs): FaultCause[] {
  const causes: FaultCause[] = [];
  if (s.database === 'down') causes.push('database');
  if (s.media === 'down' || s.mediaOverrun) causes.push('media');
  if (s.diskFull) causes.push('disk');
  if (s.recordingStalled) causes.push('recording');
  return causes;
}

/** The pure mapping from a status snapshot to what each LED shows. */
export function ledPatterns(s: LedInputs): LedPatterns {
  // One code at a time: the most important cause; the status page lists them all.
  const cause = faultCauses(s)[0];
  return {
    power: s.ready && !s.databaseSwitching ? ON : SLOW_BLINK,
    sip: s.registeredExtensions > 0 || s.trustedPeers > 0 ? ON : OFF,
    conference: s.callsInSetup > 0 ? FAST_BLINK : s.activeConferences > 0 ? ON : OFF,
    fault: cause ? faultCode(FAULT_CODES[cause]) : OFF,
  };
}

/** A pattern as a repeating list of (level, duration) steps; a steady pattern is one step with no duration. */
export function patternSteps(p: LedPattern): { on: boolean; ms: number }[] {
  switch (p.kind) {
    case 'off': return [{ on: false, ms: Infinity }];
    case 'on': return [{ on: true, ms: Infinity }];
    case 'blink': return [{ on: true, ms: p.onMs }, { on: false, ms: p.offMs }];
    case 'code': {
      const steps: { on: boolean; ms: number }[] = [];
      for (let i = 0; i < p.blinks; i++) steps.push({ on: true, ms: p.onMs }, { on: false, ms: i === p.blinks - 1 ? p.pauseMs : p.offMs });
      return steps;
    }
  }
}

export function samePattern(a: LedPattern, b: LedPattern): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A short human description, for logs and the status page: "blink 500/500 ms", "code 2". */
export function describePattern(p: LedPattern): string {
  switch (p.kind) {
    case 'off':
    case 'on': return p.kind;
    case 'blink': return `blink ${p.onMs}/${p.offMs} ms`;
    case 'code': return `code ${p.blinks}`;
  }
}
