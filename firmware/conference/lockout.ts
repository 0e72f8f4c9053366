import type { Clock } from '../clock.ts';
import { BoxError } from '../errors.ts';

export interface LockoutLimits {
  failures: number;
  windowMinutes: number;
  blockMinutes: number;
}

/**
 * What a failure is counted against. An address (no port: an attacker picks ports), a trusted peer as a whole,
 * one caller behind a trusted peer, an extension's password or a room's PIN.
 */
export type BlockKind = 'address' | 'peer' | 'caller' | 'extension' | 'room';

export interface Target {
  /** Names the target everywhere: on the web page, in the API's address and in the database. */
  key: string;
  kind: BlockKind;
}

export interface Block extends Target {
  since: number;
  until: number;
  failures: number;
  /** How many blocks of this target followed one another (each within a day of the last): extensions and rooms get longer ones. */
  level: number;
}

/** Failures one box counted against a target within the window, shared with the boxes on the same database. */
export interface FailureCount extends Target {
  failures: number;
  /** The newest of them (ms). */
  lastAt: number;
}

export interface LockoutEvents {
  blocked(block: Block): void;
  lifted(key: string): void;
}

const MINUTE = 60_000;
/** A trusted PBX carries many callers: it is blocked as a whole only after this many times the failures. */
export const PEER_FACTOR = 10;
/**
 * An extension or a room is closed after this many times the failures, counted from anywhere: one guesser is stopped
 * by its own block first and leaves the target open to everyone else; guesses from many sources close it.
 */
export const TARGET_FACTOR = 2;
/** A target block's length grows when it is blocked again within this time of the last block's end. */
const LEVEL_MEMORY_MS = 24 * 60 * MINUTE;
/** Bounds memory when a flood comes from many addresses or names many targets. */
export const MAX_TRACKED = 10_000;
/** The most failure counts a box tells the others at once: the newest. */
export const MAX_SHARED_COUNTS = 1000;

export const targets = {
  address: (address: string): Target => ({ key: address, kind: 'address' }),
  /** An address of a trusted peer that is refused over UDP: its UDP guesses must not block the peer's TCP or TLS calls. */
  udpAddress: (address: string): Target => ({ key: `udp:${address}`, kind: 'address' }),
  peer: (address: string): Target => ({ key: address, kind: 'peer' }),
  caller: (peerAddress: string, caller: string): Target => ({ key: `${peerAddress}/${caller}`, kind: 'caller' }),
  extension: (number: string): Target => ({ key: `extension ${number}`, kind: 'extension' }),
  room: (id: number): Target => ({ key: `room ${id}`, kind: 'room' }),
};

function factor(kind: BlockKind): number {
  if (kind === 'peer') return PEER_FACTOR;
  return kind === 'extension' || kind === 'room' ? TARGET_FACTOR : 1;
}

/** Every block is answered the same way, whatever was blocked, so that an answer never tells what exists. */
export function blockedError(): BoxError {
  return new BoxError(403, 'too many failed attempts; try again later', undefined, 'blocked');
}

/** How the web page names a block. */
export function describeBlock(b: Target): string {
  switch (b.kind) {
    case 'caller': {
      const slash = b.key.indexOf('/');
      return `caller ${b.key.slice(slash + 1)} via ${b.key.slice(0, slash)}`;
    }
    case 'peer': return `trusted peer ${b.key}`;
    case 'address': return b.key.startsWith('udp:') ? `${b.key.slice(4)} over UDP` : b.key;
    default: return b.key;
  }
}

/**
 * Brute-force limiter: too many failed digest or PIN attempts within the window block what they were counted
 * against. Sources and callers are blocked for the block setting; a trusted peer as a whole only after
 * PEER_FACTOR times the failures. Extensions and rooms are what an attacker on many addresses aims at, but also what
 * their owners use: they are closed after TARGET_FACTOR times the failures, for one minute first, doubling with each
 * new block within a day up to the block setting. A stranger cannot keep a room or a phone locked for long, and a
 * guesser on any number of addresses gets only a few guesses per block.
 */
export class Lockout {
  private failures = new Map<string, { kind: BlockKind; times: number[] }>();
  /** What the other boxes on the database counted, as they last told it. */
  private remote = new Map<string, FailureCount>();
  /** Failures were counted or forgotten since the counts were last taken. */
  private countsChanged = false;
  private blocked = new Map<string, Block>();
  /** The last block of each extension and room, for the growing length. */
  private last = new Map<string, Block>();

  constructor(
    private readonly clock: Clock,
    private readonly limits: () => LockoutLimits,
    private readonly events: LockoutEvents = { blocked: () => undefined, lifted: () => undefined },
  ) {}

  /** Records one failure against each target; returns the blocks it triggered. */
  fail(list: Target | Target[]): Block[] {
    const now = this.clock.now();
    const { failures, windowMinutes, blockMinutes } = this.limits();
    const since = now - windowMinutes * MINUTE;
    const out: Block[] = [];
    for (const t of Array.isArray(list) ? list : [list]) {
      if (this.isBlocked(t.key)) continue;
      const times = (this.failures.get(t.key)?.times ?? []).filter((x) => x > since);
      times.push(now);
      this.failures.delete(t.key);
      this.countsChanged = true;
      const elsewhere = this.remote.get(t.key);
      const count = times.length + (elsewhere && elsewhere.lastAt > since ? elsewhere.failures : 0);
      if (count >= failures * factor(t.kind)) {
        const level = this.nextLevel(t, now);
        const minutes = t.kind === 'extension' || t.kind === 'room' ? Math.min(blockMinutes, 2 ** (level - 1)) : blockMinutes;
        const block: Block = { key: t.key, kind: t.kind, since: now, until: now + minutes * MINUTE, failures: count, level };
        this.remote.delete(t.key);
        this.put(block);
        this.events.blocked(block);
        out.push(block);
        continue;
      }
      this.failures.set(t.key, { kind: t.kind, times });
      if (this.failures.size > MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!);
    }
    return out;
  }

  /** A success does not erase failures: an attacker who knows one PIN must not reset the count. */
  isBlocked(key: string): boolean {
    const b = this.blocked.get(key);
    if (!b) return false;
    if (b.until > this.clock.now()) return true;
    this.blocked.delete(key);
    return false;
  }

  /** The first of the targets that is blocked, if any. */
  blockOf(list: Target[]): Block | null {
    for (const t of list) if (this.isBlocked(t.key)) return this.blocked.get(t.key)!;
    return null;
  }

  list(): Block[] {
    const now = this.clock.now();
    for (const [k, b] of this.blocked) if (b.until <= now) this.blocked.delete(k);
    return [...this.blocked.values()];
  }

  lift(key: string): boolean {
    if (this.failures.delete(key)) this.countsChanged = true;
    this.remote.delete(key);
    this.last.delete(key);
    const had = this.blocked.delete(key);
    if (had) this.events.lifted(key);
    return had;
  }

  /**
   * The blocks in the database that boxes sharing it made (or lifted): theirs hold here too, and a block of this box
   * that is no longer there was lifted elsewhere, unless it is newer than `graceMs` (still being written).
   */
  sync(stored: Block[], graceMs: number): void {
    const now = this.clock.now();
    const keys = new Set(stored.map((b) => b.key));
    for (const [k, b] of this.blocked) {
      if (!keys.has(k) && now - b.since > graceMs) {
        this.blocked.delete(k);
        this.failures.delete(k);
      }
    }
    for (const b of stored) {
      const mine = this.blocked.get(b.key);
      if (b.until > now && (!mine || mine.until < b.until)) this.put(b);
    }
  }

  /**
   * This box's failure counts within the window (the newest MAX_SHARED_COUNTS), for the other boxes on the database;
   * null when nothing changed since they were last taken.
   */
  takeFailureCounts(): FailureCount[] | null {
    if (!this.countsChanged) return null;
    this.countsChanged = false;
    const since = this.clock.now() - this.limits().windowMinutes * MINUTE;
    const out: FailureCount[] = [];
    for (const [key, f] of this.failures) {
      const times = f.times.filter((x) => x > since);
      if (times.length) out.push({ key, kind: f.kind, failures: times.length, lastAt: times[times.length - 1]! });
    }
    return out.sort((a, b) => b.lastAt - a.lastAt).slice(0, MAX_SHARED_COUNTS).sort((a, b) => a.key.localeCompare(b.key));
  }

  /** The counts taken could not be told: they are taken again at the next try. */
  countsNotTold(): void {
    this.countsChanged = true;
  }

  /** What the other boxes counted (their counts summed per target): it adds to this box's own count. */
  syncFailures(counts: FailureCount[]): void {
    this.remote = new Map(counts.slice(0, MAX_TRACKED).map((c) => [c.key, c]));
  }

  /** Blocks from before a restart: the running ones hold again, and recent ones keep the next block long. */
  restore(blocks: Block[]): void {
    const now = this.clock.now();
    for (const b of blocks) {
      if (b.until > now) this.blocked.set(b.key, b);
      if (b.kind === 'extension' || b.kind === 'room') this.remember(b);
    }
  }

  private put(block: Block): void {
    this.blocked.set(block.key, block);
    if (block.kind === 'extension' || block.kind === 'room') this.remember(block);
    if (this.blocked.size > MAX_TRACKED) this.evict();
  }

  /**
   * Guesses from forged addresses could block without end: beyond MAX_TRACKED blocks the expired ones go, then the
   * oldest block of an address. Extensions, rooms, callers and peers stay blocked.
   */
  private evict(): void {
    const now = this.clock.now();
    for (const [k, b] of this.blocked) if (b.until <= now) this.blocked.delete(k);
    for (const [k, b] of this.blocked) {
      if (this.blocked.size <= MAX_TRACKED) return;
      if (b.kind === 'address') this.blocked.delete(k);
    }
  }

  private remember(block: Block): void {
    const prev = this.last.get(block.key);
    if (prev && prev.until > block.until) return;
    this.last.delete(block.key);
    this.last.set(block.key, block);
    if (this.last.size > MAX_TRACKED) this.last.delete(this.last.keys().next().value!);
  }

  private nextLevel(t: Target, now: number): number {
    const prev = this.last.get(t.key);
    return prev && now - prev.until < LEVEL_MEMORY_MS ? prev.level + 1 : 1;
  }
}
