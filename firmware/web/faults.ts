/**
 * What the fault LED means, in words: the banner on every page and the Status page say which cause blinks, what it
 * does to the office's calls and what to do about it.
 */
import { FAULT_CODES, faultCauses, type FaultCause } from '../hw/index.ts';
import type { StatusSnapshot } from '../status.ts';

export interface FaultExplanation {
  cause: FaultCause;
  /** Flashes per cycle of the fault LED. */
  blinks: number;
  /** What is wrong: "the audio engine fell behind in the last minute". */
  what: string;
  /** What it means for calls, and what to do. */
  advice: string;
}

type FaultInputs = Pick<StatusSnapshot, 'ready' | 'database' | 'media' | 'mediaOverrun' | 'diskFull' | 'recordingStalled' | 'registeredExtensions' | 'trustedPeers' | 'activeConferences' | 'callsInSetup'>;

/** Every current fault, most important first (the LED blinks the first). */
export function explainFaults(s: FaultInputs): FaultExplanation[] {
  return faultCauses(s).map((cause) => ({ cause, blinks: FAULT_CODES[cause], ...words(cause, s) }));
}

function words(cause: FaultCause, s: FaultInputs): { what: string; advice: string } {
  switch (cause) {
    case 'database':
      return {
        what: 'the database is not answering',
        advice: 'Conferences go on and known rooms can be joined, but rooms, extensions and settings cannot be changed. The box restarts its database by itself; if this lasts more than a few minutes, restart the box.',
      };
    case 'media':
      return s.media === 'down'
        ? { what: 'the audio engine is not running', advice: 'Calls have no sound. The box restarts it by itself; if this lasts, restart the box.' }
        : {
          what: 'the audio engine fell behind in the last minute',
          advice: 'Callers may have heard short gaps. If it keeps happening, the box is overloaded: fewer people per room, or audio encryption off, relieve it.',
        };
    case 'disk':
      return {
        what: 'the storage is nearly full',
        advice: 'Changes and the call log may not be saved. Free space on the SD card (old logs) or replace it with a larger one.',
      };
    case 'recording':
      return {
        what: `a recording stopped growing (${s.recordingStalled})`,
        advice: 'The meeting goes on, but part of it is missing from its recording. Delete old recordings on the Recordings page, or lower the retention setting; if the disk has space, restart the box.',
      };
  }
}

/** "Fault, 2 flashes: the audio engine fell behind in the last minute". */
export function faultHeadline(f: FaultExplanation): string {
  return `Fault, ${f.blinks} flash${f.blinks === 1 ? '' : 'es'}: ${f.what}`;
}
