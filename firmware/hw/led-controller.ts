import type { Clock, Timer } from '../clock.ts';
import type { LedDriver } from './leds.ts';
import { ledPatterns, OFF, patternSteps, samePattern, type LedInputs, type LedPattern, type LedPatterns } from './patterns.ts';
import { LED_NAMES, type LedName } from './profile.ts';

/** What the controller reads: the one status model (`Status` from firmware/status.ts) fits. */
export interface LedStatusSource {
  get(): Readonly<LedInputs>;
  on(event: 'change', listener: () => void): unknown;
  off(event: 'change', listener: () => void): unknown;
}

interface Player {
  pattern: LedPattern;
  step: number;
  timer: Timer | null;
}

/** Plays the patterns of the status model on the LEDs; nothing else drives them. */
export class LedController {
  private players = new Map<LedName, Player>();
  private source: LedStatusSource | null = null;
  private readonly onChange = () => this.show(ledPatterns(this.source!.get()));

  /** Does nothing until `start`. `onPattern` hears each LED's new pattern as it starts (for the log). */
  constructor(
    private readonly driver: LedDriver,
    private readonly clock: Clock,
    private readonly options: { onPattern?: (led: LedName, pattern: LedPattern) => void } = {},
  ) {}

  start(source: LedStatusSource): void {
    if (this.source) throw new Error('LedController already started');
    this.source = source;
    source.on('change', this.onChange);
    this.onChange();
  }

  /** Shows these patterns now; an LED whose pattern did not change keeps its rhythm. */
  show(patterns: LedPatterns): void {
    for (const led of LED_NAMES) {
      const pattern = patterns[led];
      const p = this.players.get(led);
      if (p && samePattern(p.pattern, pattern)) continue;
      if (p?.timer) this.clock.clearTimeout(p.timer);
      const player: Player = { pattern, step: 0, timer: null };
      this.players.set(led, player);
      this.options.onPattern?.(led, pattern);
      this.play(led, player);
    }
  }

  /** What each LED shows, for the status page. */
  patterns(): LedPatterns {
    const out = {} as LedPatterns;
    for (const led of LED_NAMES) out[led] = this.players.get(led)?.pattern ?? OFF;
    return out;
  }

  /** Stops following the status and darkens every LED; the driver stays open (the caller owns it). */
  stop(): void {
    this.source?.off('change', this.onChange);
    this.source = null;
    for (const [led, p] of this.players) {
      if (p.timer) this.clock.clearTimeout(p.timer);
      this.driver.set(led, false);
    }
    this.players.clear();
  }

  private play(led: LedName, player: Player): void {
    const steps = patternSteps(player.pattern);
    const step = steps[player.step % steps.length]!;
    this.driver.set(led, step.on);
    player.timer = null;
    if (!Number.isFinite(step.ms)) return;
    player.timer = this.clock.setTimeout(() => {
      player.step = (player.step + 1) % steps.length;
      this.play(led, player);
    }, step.ms);
  }
}

/** `confbox led test`: every LED off, then each lit alone for `ms`, in order; resolves when all are dark again. */
export function ledTest(driver: LedDriver, clock: Clock, options: { ms?: number; onLed?: (led: LedName) => void } = {}): Promise<void> {
  const ms = options.ms ?? 1000;
  for (const led of LED_NAMES) driver.set(led, false);
  return new Promise((resolve) => {
    const next = (i: number) => {
      const prev = LED_NAMES[i - 1];
      if (prev) driver.set(prev, false);
      const led = LED_NAMES[i];
      if (!led) return resolve();
      options.onLed?.(led);
      driver.set(led, true);
      clock.setTimeout(() => next(i + 1), ms);
    };
    next(0);
  });
}
