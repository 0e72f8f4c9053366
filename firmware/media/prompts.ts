/**
 * The sounds the box plays: spoken prompts, join/leave tones and waiting music, generated at build time by
 * scripts/prompts.mjs into dist/prompts (raw signed 16-bit little-endian mono PCM at 8 kHz, listed in
 * index.json as { name: { file, samples, rate } }). Prompts are clips of a few words; sentences with numbers
 * are composed from them ("conference room" 2 "created for" 120 "minutes").
 *
 * Loading never throws: a missing or damaged catalogue gives fewer clips and a list of problems for the log,
 * and every phrase then comes back shorter or empty (an empty Int16Array means "nothing to play").
 * A phrase of one clip is the catalogue's own array: treat every result as read-only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const PROMPT_RATE = 8000;

const ONES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven',
  'twelve', 'thirteen', 'fourteen', 'fifteen', 'sixteen', 'seventeen', 'eighteen', 'nineteen'] as const;
const TENS = ['twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'] as const;

/** Every sound the firmware expects in the catalogue (scripts/prompts.mjs makes exactly these). */
export const PROMPT_NAMES: readonly string[] = [
  ...ONES, ...TENS, 'hundred', 'thousand',
  'conference-room', 'created-for', 'minutes', 'minute', 'deleted', 'does-not-exist', 'wrong-pin', 'already-exists',
  'is-full', 'not-creator', 'blocked', 'invalid-code', 'unavailable', 'not-allowed', 'not-found', 'only-participant',
  'one-minute-warning', 'ended', 'there-are', 'participants-in-conference', 'one-participant', 'on-hold', 'muted', 'unmuted',
  'menu-room', 'menu-pin', 'menu-retry', 'goodbye',
  'locked', 'conference-locked', 'conference-unlocked', 'all-muted', 'all-unmuted', 'moderator-only', 'removed-last', 'nobody-to-remove',
  'removed-by-moderator', 'ended-by-moderator', 'you-are-moderator',
  'help-mute', 'help-count', 'help-lock', 'help-mute-all', 'help-remove', 'help-end', 'help-record',
  'being-recorded', 'recording-stopped', 'recording-refused', 'waiting-for-moderator', 'moderator-joined', 'moderator-left',
  'help-invite', 'invite-number', 'calling', 'invite-busy', 'invite-no-answer', 'invite-declined', 'invite-unreachable', 'invited-to', 'invited-by',
  'press-one-to-join', 'restarting-for-update', 'box-full',
  'join-tone', 'leave-tone', 'music',
];

/** What a part of a sentence may be: a clip name, or a whole number spoken as words. */
export type SentencePart = string | number;

export interface Prompts {
  /** What was wrong with the catalogue on disk (empty when all is well); for the log. */
  readonly problems: readonly string[];
  /** Names of the clips that loaded. */
  readonly names: readonly string[];
  /** One clip by name ("conference room" and "conference-room" alike), or null when it is not there. Shared: do not modify. */
  clip(name: string): Int16Array | null;
  /** The clips one after another (a new array); numbers are spoken as words, unknown parts are skipped. */
  sentence(parts: readonly SentencePart[]): Int16Array;
  /** "conference room 2 created for 120 minutes" */
  created(room: number, minutes: number): Int16Array;
  /** "conference room 2 deleted" */
  deleted(room: number): Int16Array;
  /**
   * The spoken reason for a rejection, by BoxError code. With the room, the room phrases name it
   * ("conference room 2 does not exist"); 'not-found' without a room is "not found" (nothing answers there).
   */
  rejection(code: string, room?: number): Int16Array;
  /** "there are 3 participants in the conference" / "there is one participant in the conference" */
  participants(n: number): Int16Array;
  /** "you are the only participant" */
  onlyParticipant(): Int16Array;
  /** "the conference ends in one minute" */
  oneMinute(): Int16Array;
  /** "the conference has ended" */
  ended(): Int16Array;
  /** "you are muted" / "you are no longer muted" */
  muted(on: boolean): Int16Array;
  /** "please enter the room number, then press hash" */
  menuRoom(): Int16Array;
  /** "please enter the PIN, then press hash" */
  menuPin(): Int16Array;
  /** "sorry, that did not work" */
  menuRetry(): Int16Array;
  /** "goodbye" */
  goodbye(): Int16Array;
  /** Rising two-note chime, ~300 ms. */
  joinTone(): Int16Array;
  /** Falling two-note chime, ~300 ms. */
  leaveTone(): Int16Array;
  /** Waiting music, ~24 s, made to be looped. */
  music(): Int16Array;
}

/** A whole number 0..999999 as clip names (American style, no "and"); larger ones digit by digit. */
export function numberWords(n: number): string[] {
  if (!Number.isSafeInteger(n) || n < 0) return [];
  if (n >= 1_000_000) return [...String(n)].map((d) => ONES[Number(d)] ?? 'zero');
  const below1000 = (m: number): string[] => {
    const out: string[] = [];
    const h = Math.floor(m / 100), rest = m % 100;
    if (h > 0) out.push(ONES[h] ?? '', 'hundred');
    if (rest >= 20) {
      out.push(TENS[Math.floor(rest / 10) - 2] ?? '');
      if (rest % 10) out.push(ONES[rest % 10] ?? '');
    } else if (rest > 0 || h === 0) out.push(ONES[rest] ?? '');
    return out;
  };
  const thousands = Math.floor(n / 1000), rest = n % 1000;
  if (thousands === 0) return below1000(rest);
  return [...below1000(thousands), 'thousand', ...(rest > 0 ? below1000(rest) : [])];
}

/** "Conference Room" → "conference-room". */
const key = (name: string): string => name.trim().toLowerCase().replace(/[\s_]+/g, '-');

const EMPTY = new Int16Array(0);

function concat(clips: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(clips.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of clips) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** A catalogue over clips already in memory (what loadPrompts builds; also handy for tests of its users). */
export function promptsFrom(clips: ReadonlyMap<string, Int16Array>, problems: readonly string[] = []): Prompts {
  const byKey = new Map<string, Int16Array>();
  for (const [name, pcm] of clips) byKey.set(key(name), pcm);
  const clip = (name: string): Int16Array | null => byKey.get(key(name)) ?? null;
  const sentence = (parts: readonly SentencePart[]): Int16Array => {
    const found: Int16Array[] = [];
    for (const part of parts) {
      for (const name of typeof part === 'number' ? numberWords(part) : [part]) {
        const c = clip(name);
        if (c) found.push(c);
      }
    }
    return concat(found);
  };
  const one = (name: string): Int16Array => clip(name) ?? EMPTY;
  const roomSays = (room: number | undefined, what: string): Int16Array =>
    sentence(room === undefined ? ['conference-room', what] : ['conference-room', room, what]);

  return {
    problems: [...problems],
    names: [...byKey.keys()],
    clip,
    sentence,
    created: (room, minutes) => sentence(['conference-room', room, 'created-for', minutes, minutes === 1 ? 'minute' : 'minutes']),
    deleted: (room) => sentence(['conference-room', room, 'deleted']),
    rejection(code, room) {
      switch (code) {
        case 'not-found': return room === undefined ? one('not-found') : roomSays(room, 'does-not-exist');
        case 'wrong-pin': return one('wrong-pin');
        case 'exists': return roomSays(room, 'already-exists');
        case 'full': return roomSays(room, 'is-full');
        case 'blocked': return one('blocked');
        case 'not-creator': return one('not-creator');
        case 'unavailable': return one('unavailable');
        case 'invalid':
        case 'out-of-range':
        case 'too-long': return one('invalid-code');
        case 'not-allowed': return one('not-allowed');
        case 'box-full': return one('box-full');
        default: return one('menu-retry');
      }
    },
    participants: (n) => (n === 1 ? one('one-participant') : sentence(['there-are', n, 'participants-in-conference'])),
    onlyParticipant: () => one('only-participant'),
    oneMinute: () => one('one-minute-warning'),
    ended: () => one('ended'),
    muted: (on) => one(on ? 'muted' : 'unmuted'),
    menuRoom: () => one('menu-room'),
    menuPin: () => one('menu-pin'),
    menuRetry: () => one('menu-retry'),
    goodbye: () => one('goodbye'),
    joinTone: () => one('join-tone'),
    leaveTone: () => one('leave-tone'),
    music: () => one('music'),
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads dir/index.json and its raw files. Never throws: what cannot be used is listed in `problems`. */
export function loadPrompts(dir: string): Prompts {
  const problems: string[] = [];
  const clips = new Map<string, Int16Array>();
  let index: unknown;
  try {
    index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    problems.push(code === 'ENOENT'
      ? `no prompt catalogue at ${join(dir, 'index.json')} (build with espeak-ng installed: node build.mjs)`
      : `prompt catalogue ${join(dir, 'index.json')} is unreadable: ${(e as Error).message}`);
    return promptsFrom(clips, problems);
  }
  if (!isRecord(index)) {
    problems.push(`prompt catalogue ${join(dir, 'index.json')} is not an object of sounds`);
    return promptsFrom(clips, problems);
  }
  for (const [name, entry] of Object.entries(index)) {
    if (!isRecord(entry)) {
      problems.push(`prompt "${name}": entry is not an object`);
      continue;
    }
    const { file, samples, rate } = entry;
    if (typeof file !== 'string' || !/^[\w.-]+\.raw$/.test(file) || file.startsWith('.')) {
      problems.push(`prompt "${name}": file ${JSON.stringify(file)} is not a plain .raw file name`);
      continue;
    }
    if (typeof samples !== 'number' || !Number.isSafeInteger(samples) || samples <= 0) {
      problems.push(`prompt "${name}": samples ${JSON.stringify(samples)} is not a positive whole number`);
      continue;
    }
    if (rate !== PROMPT_RATE) {
      problems.push(`prompt "${name}": rate ${JSON.stringify(rate)} is not ${PROMPT_RATE}`);
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = readFileSync(join(dir, file));
    } catch (e) {
      problems.push(`prompt "${name}": ${file} is unreadable: ${(e as Error).message}`);
      continue;
    }
    if (bytes.length !== samples * 2) {
      problems.push(`prompt "${name}": ${file} has ${bytes.length} bytes, index.json says ${samples * 2}`);
      continue;
    }
    const pcm = new Int16Array(samples);
    for (let i = 0; i < samples; i++) pcm[i] = bytes.readInt16LE(2 * i); // the file is little-endian whatever the host is
    clips.set(name, pcm);
  }
  const missing = PROMPT_NAMES.filter((n) => !clips.has(n));
  if (missing.length > 0 && clips.size > 0) problems.push(`prompt catalogue ${dir} lacks ${missing.join(', ')}`);
  else if (clips.size === 0 && problems.length === 0) problems.push(`prompt catalogue ${dir} lists no sounds`);
  return promptsFrom(clips, problems);
}
