/**
 * Time as the event loop saw it: it follows the clock while the loop turns, and a stretch in which the loop was too
 * busy to turn counts for little. A deadline measured in it ("no answer from the database within 3 s") is not
 * fooled by a loop that was late to look: an answer that arrived while the loop was busy is read before the deadline
 * expires.
 */
import { performance } from 'node:perf_hooks';

/** How often the loop is looked at; the most one look may add (a late look adds no more). */
const LOOK_MS = 100;
const MOST_PER_LOOK_MS = 2 * LOOK_MS;

let counted = 0;
let lastLook = 0;
let looking: NodeJS.Timeout | null = null;

function look(): void {
  const now = performance.now();
  counted += Math.min(now - lastLook, MOST_PER_LOOK_MS);
  lastLook = now;
}

/** Milliseconds of loop time since an arbitrary start (only differences mean anything). */
export function loopTime(): number {
  if (!looking) {
    lastLook = performance.now();
    looking = setInterval(look, LOOK_MS);
    looking.unref();
  }
  return counted + Math.min(performance.now() - lastLook, MOST_PER_LOOK_MS);
}

/**
 * Calls `expired` once `ms` of loop time have passed, unless cancelled: a timer that, when the loop was stalled and
 * fires late, waits for the rest. Returns the cancel function.
 */
export function loopDeadline(ms: number, expired: () => void): () => void {
  const start = loopTime();
  let timer: NodeJS.Timeout;
  const check = () => {
    const waited = loopTime() - start;
    if (waited >= ms) return expired();
    timer = setTimeout(check, Math.max(1, ms - waited));
  };
  timer = setTimeout(check, ms);
  return () => clearTimeout(timer);
}
