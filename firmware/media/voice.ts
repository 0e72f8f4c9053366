import type { Logger } from '../log.ts';
import type { MediaEngine, PlayTarget } from './native-engine.ts';
import { numberWords, PROMPT_NAMES, PROMPT_RATE, type Prompts } from './prompts.ts';

/** What the box says; each becomes a sequence of prompt clips. */
export type Phrase =
  | { kind: 'created'; room: number; minutes: number }
  | { kind: 'deleted'; room: number }
  | { kind: 'rejection'; code: string; room?: number }
  | { kind: 'only' }
  | { kind: 'oneMinute' }
  | { kind: 'ended' }
  | { kind: 'participants'; count: number; onHold?: number }
  | { kind: 'muted'; on: boolean }
  | { kind: 'menuRoom' }
  | { kind: 'menuPin' }
  | { kind: 'menuRetry' }
  | { kind: 'goodbye' }
  /** To the room: a moderator locked or unlocked the conference. */
  | { kind: 'locked'; on: boolean }
  /** To a moderator: everyone else muted or unmuted. */
  | { kind: 'allMuted'; on: boolean }
  | { kind: 'moderatorOnly' }
  | { kind: 'removedLast' }
  | { kind: 'nobodyToRemove' }
  | { kind: 'removedByModerator' }
  | { kind: 'endedByModerator' }
  | { kind: 'youAreModerator' }
  /** To the room when a recording starts or stops; to each later joiner while it runs. */
  | { kind: 'recording'; on: boolean }
  /** To a moderator: the recording could not start (the disk is short of space). */
  | { kind: 'recordingRefused' }
  /** To a caller of a room that waits for its moderator; to the room when the moderator comes, or has left. */
  | { kind: 'waitingForModerator' }
  | { kind: 'moderatorJoined' }
  | { kind: 'moderatorLeft' }
  /** Inviting by phone: to the moderator, asking for the number, saying it is called, and what came of it. */
  | { kind: 'inviteNumber' }
  | { kind: 'calling'; number: string }
  | { kind: 'inviteFailed'; why: 'busy' | 'declined' | 'no-answer' | 'unreachable' | 'failed' }
  /** To the invited phone: which room, who invited it (an extension number, when it is one), and how to join. */
  | { kind: 'invited'; room: number; by: string | null }
  /** *0: the keys a caller has; a moderator hears the moderator keys too. */
  | { kind: 'help'; moderator: boolean }
  /** Before the box restarts into an installed update. */
  | { kind: 'restartingForUpdate' };


const GRACE_MS = 1500;

const REJECTIONS: Record<string, (room: string[]) => string[]> = {
  'not-found': (room) => (room.length ? ['conference-room', ...room, 'does-not-exist'] : ['not-found']),
  'wrong-pin': () => ['wrong-pin'],
  exists: (room) => ['conference-room', ...room, 'already-exists'],
  full: (room) => ['conference-room', ...room, 'is-full'],
  blocked: () => ['blocked'],
  'not-creator': () => ['not-creator'],
  unavailable: () => ['unavailable'],
  'not-allowed': () => ['not-allowed'],
  invalid: () => ['invalid-code'],
  locked: () => ['locked'],
  'box-full': () => ['box-full'],
};

const HELP_KEYS = ['help-mute', 'help-count'];
const HELP_MODERATOR_KEYS = ['help-lock', 'help-mute-all', 'help-remove', 'help-record', 'help-invite', 'help-end'];

/** A number as it is dialed, digit by digit ("one zero two"); what is not a digit is left out. */
function digitWords(number: string): string[] {
  return [...number].filter((c) => c >= '0' && c <= '9').flatMap((c) => numberWords(Number(c)));
}

/** The clip names (see PROMPT_NAMES) a phrase is made of, in order. */
export function phraseClips(p: Phrase): string[] {
  switch (p.kind) {
    case 'created': return ['conference-room', ...numberWords(p.room), 'created-for', ...numberWords(p.minutes), p.minutes === 1 ? 'minute' : 'minutes'];
    case 'deleted': return ['conference-room', ...numberWords(p.room), 'deleted'];
    case 'rejection': return (REJECTIONS[p.code] ?? REJECTIONS.invalid!)(p.room === undefined ? [] : numberWords(p.room));
    case 'only': return ['only-participant'];
    case 'oneMinute': return ['one-minute-warning'];
    case 'ended': return ['ended'];
    case 'participants': {
      const count = p.count === 1 ? ['one-participant'] : ['there-are', ...numberWords(p.count), 'participants-in-conference'];
      return p.onHold ? [...count, ...numberWords(p.onHold), 'on-hold'] : count;
    }
    case 'muted': return [p.on ? 'muted' : 'unmuted'];
    case 'menuRoom': return ['menu-room'];
    case 'menuPin': return ['menu-pin'];
    case 'menuRetry': return ['menu-retry'];
    case 'goodbye': return ['goodbye'];
    case 'locked': return [p.on ? 'conference-locked' : 'conference-unlocked'];
    case 'allMuted': return [p.on ? 'all-muted' : 'all-unmuted'];
    case 'moderatorOnly': return ['moderator-only'];
    case 'removedLast': return ['removed-last'];
    case 'nobodyToRemove': return ['nobody-to-remove'];
    case 'removedByModerator': return ['removed-by-moderator'];
    case 'endedByModerator': return ['ended-by-moderator'];
    case 'youAreModerator': return ['you-are-moderator'];
    case 'recording': return [p.on ? 'being-recorded' : 'recording-stopped'];
    case 'recordingRefused': return ['recording-refused'];
    case 'waitingForModerator': return ['waiting-for-moderator'];
    case 'moderatorJoined': return ['moderator-joined'];
    case 'moderatorLeft': return ['moderator-left'];
    case 'inviteNumber': return ['invite-number'];
    case 'calling': return ['calling', ...digitWords(p.number)];
    case 'inviteFailed': return [p.why === 'busy' ? 'invite-busy' : p.why === 'declined' ? 'invite-declined' : p.why === 'no-answer' ? 'invite-no-answer' : 'invite-unreachable'];
    case 'invited': return ['invited-to', ...numberWords(p.room), ...(p.by ? ['invited-by', ...digitWords(p.by)] : []), 'press-one-to-join'];
    case 'help': return p.moderator ? [...HELP_KEYS, ...HELP_MODERATOR_KEYS] : HELP_KEYS;
    case 'restartingForUpdate': return ['restarting-for-update'];
  }
}

interface Pending {
  resolve: () => void;
  timer: NodeJS.Timeout;
}

/**
 * The box's voice: prompts, tones and waiting music played through the engine. Phrases are
 * played clip after clip (the engine tells when each ends), so no sentence is stored per call.
 */
export class Voice {
  private sounds = new Map<string, { id: number; ms: number }>();
  private pending = new Map<number, Pending>();
  private missing = new Set<string>();

  constructor(private readonly engine: MediaEngine, private readonly log: Logger) {
    engine.events.on('played', (playback) => this.finished(playback));
  }

  /** Hands every clip to the engine once, at start-up. Returns how many were loaded. */
  load(clips: Pick<Prompts, 'clip'>, names: Iterable<string> = PROMPT_NAMES): number {
    for (const name of names) {
      const pcm = clips.clip(name);
      if (!pcm || pcm.length === 0) continue;
      this.sounds.set(name, { id: this.engine.addSound(pcm, PROMPT_RATE), ms: (pcm.length * 1000) / PROMPT_RATE });
    }
    return this.sounds.size;
  }

  has(name: string): boolean {
    return this.sounds.has(name);
  }

  /** Says a phrase into a leg or a conference; resolves when it has been heard (or could not be). */
  async say(target: PlayTarget, phrase: Phrase): Promise<void> {
    for (const name of phraseClips(phrase)) {
      if (!(await this.playClip(target, name, true))) return;
    }
  }

  /** A join or leave tone, mixed with the conference. */
  tone(target: PlayTarget, name: 'join-tone' | 'leave-tone'): void {
    void this.playClip(target, name, false);
  }

  /** Waiting music for a conference's lone member, instead of the (empty) mix, until stopped. */
  music(conference: string): void {
    this.musicFor({ conference });
  }

  /** Waiting music for a leg or a conference, until stopped. */
  musicFor(target: PlayTarget): void {
    const s = this.sounds.get('music');
    if (!s) return this.noClip('music');
    try {
      this.engine.play(target, s.id, { loop: true, replace: true });
    } catch (e) {
      this.log.debug('music not played', { err: e });
    }
  }

  stop(target: PlayTarget): void {
    try {
      this.engine.stop(target);
    } catch (e) {
      this.log.debug('stop failed', { err: e });
    }
  }

  private playClip(target: PlayTarget, name: string, replace: boolean): Promise<boolean> {
    const s = this.sounds.get(name);
    if (!s) {
      this.noClip(name);
      return Promise.resolve(true);
    }
    let playback: number;
    try {
      playback = this.engine.play(target, s.id, { replace });
    } catch (e) {
      this.log.debug('prompt not played', { name, err: e });
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      // A stopped or replaced playback never reports its end: do not wait for it forever.
      const timer = setTimeout(() => {
        this.pending.delete(playback);
        resolve(false);
      }, s.ms + GRACE_MS);
      this.pending.set(playback, { resolve: () => resolve(true), timer });
    });
  }

  private finished(playback: number): void {
    const p = this.pending.get(playback);
    if (!p) return;
    this.pending.delete(playback);
    clearTimeout(p.timer);
    p.resolve();
  }

  private noClip(name: string): void {
    if (this.missing.has(name)) return;
    this.missing.add(name);
    this.log.warn('prompt missing from the firmware; nothing is played for it', { name });
  }
}
