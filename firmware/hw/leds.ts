import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadAddon } from '../media/index.ts';
import { GpioChipLedDriver, type GpioLines } from './gpio-chip.ts';
import type { Clock } from '../clock.ts';
import { LED_NAMES, type BoardProfile, type LedName } from './profile.ts';

/** The LED hardware contract: the controller drives it and never names a driver. */
export interface LedDriver {
  /** Light (`on`) or darken one LED; polarity is the driver's business. */
  set(led: LedName, on: boolean): void;
  /** Darken every LED and release the hardware; further `set` calls are ignored. */
  close(): void;
}

export interface LedChange {
  led: LedName;
  on: boolean;
  /** Clock time of the change, in ms. */
  at: number;
}

/** The mock board: records every change with its time, for tests and the status page. */
export class MockLedDriver implements LedDriver {
  /** The most recent changes, oldest first (at most MockLedDriver.KEEP: a box may blink for weeks). */
  readonly changes: LedChange[] = [];
  static readonly KEEP = 10_000;
  private levels: Record<LedName, boolean> = { power: false, sip: false, conference: false, fault: false };
  private closed = false;

  /**
   * `now` stamps each change; pass the controller's clock so tests see fake time. `onChange` hears each
   * change as it is recorded (the box logs them, so that a test of the running bundle sees the board).
   */
  constructor(private readonly now: () => number = Date.now, private readonly onChange?: (change: LedChange) => void) {}

  static withClock(clock: Pick<Clock, 'now'>, onChange?: (change: LedChange) => void): MockLedDriver {
    return new MockLedDriver(() => clock.now(), onChange);
  }

  set(led: LedName, on: boolean): void {
    if (this.closed || this.levels[led] === on) return;
    this.levels[led] = on;
    const change = { led, on, at: this.now() };
    this.changes.push(change);
    if (this.changes.length > MockLedDriver.KEEP) this.changes.splice(0, this.changes.length - MockLedDriver.KEEP);
    this.onChange?.(change);
  }

  /** What each LED shows now. */
  state(): Record<LedName, boolean> {
    return { ...this.levels };
  }

  close(): void {
    for (const led of LED_NAMES) this.set(led, false);
    this.closed = true;
  }
}

/** The part of the `rpio` package this driver uses. */
export interface RpioModule {
  init(options: { gpiomem?: boolean; mapping?: 'gpio' | 'physical'; mock?: string }): void;
  open(pin: number, mode: number, init?: number): void;
  write(pin: number, value: number): void;
  close(pin: number, reset?: number): void;
  on(event: 'warn', listener: (msg: string) => void): unknown;
  removeListener(event: 'warn', listener: (msg: string) => void): unknown;
  readonly OUTPUT: number;
  readonly HIGH: number;
  readonly LOW: number;
  readonly PIN_PRESERVE?: number;
}

/** A Pi board cannot drive its LEDs: rpio is missing or found no GPIO. */
export class GpioUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GpioUnavailable';
  }
}

/** Loads the optional `rpio` package; only a real Pi board gets here. */
export function loadRpio(): RpioModule {
  try {
    return createRequire(import.meta.url)('rpio') as RpioModule;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') {
      throw new GpioUnavailable('the npm package "rpio" is not installed; install it on the board (npm install rpio) or run with --board mock', { cause: e });
    }
    throw new GpioUnavailable(`the npm package "rpio" failed to load: ${(e as Error).message}`, { cause: e });
  }
}

/** LEDs on a Raspberry Pi's GPIO through rpio, with BCM pin numbers and polarity from the board profile. */
export class RpioLedDriver implements LedDriver {
  private readonly rpio: RpioModule;
  private open = true;

  constructor(private readonly profile: BoardProfile, options: { load?: () => RpioModule } = {}) {
    this.rpio = (options.load ?? loadRpio)();
    // rpio falls back to a mock, with only a 'warn' event, when it finds no Pi; on a board that is a fault.
    const warnings: string[] = [];
    const onWarn = (msg: string) => warnings.push(String(msg));
    this.rpio.on('warn', onWarn);
    try {
      this.rpio.init({ gpiomem: true, mapping: 'gpio' });
    } catch (e) {
      throw new GpioUnavailable(`rpio cannot open the GPIO of board "${profile.name}": ${(e as Error).message}`, { cause: e });
    } finally {
      this.rpio.removeListener('warn', onWarn);
    }
    const fallback = warnings.find((w) => /mock/i.test(w));
    if (fallback) {
      throw new GpioUnavailable(`rpio found no Raspberry Pi GPIO on board "${profile.name}" (${fallback}); refusing its silent mock — use --board mock on a machine without GPIO`);
    }
    for (const led of LED_NAMES) {
      const { pin, activeLow } = profile.leds[led];
      this.rpio.open(pin, this.rpio.OUTPUT, activeLow ? this.rpio.HIGH : this.rpio.LOW);
    }
  }

  set(led: LedName, on: boolean): void {
    if (!this.open) return;
    const { pin, activeLow } = this.profile.leds[led];
    this.rpio.write(pin, on !== activeLow ? this.rpio.HIGH : this.rpio.LOW);
  }

  close(): void {
    if (!this.open) return;
    for (const led of LED_NAMES) this.set(led, false);
    this.open = false;
    // Keep the pins driven dark: a pin reset to input leaves an active-low LED to the pull-ups.
    for (const led of LED_NAMES) this.rpio.close(this.profile.leds[led].pin, this.rpio.PIN_PRESERVE);
  }
}

/**
 * The driver a profile asks for: the mock board is chosen explicitly, never by a fallback. A board's LEDs are driven
 * through the kernel's GPIO character device when its chip is there (every kernel since 5.10: Debian's on the image,
 * Raspberry Pi OS's too); through rpio on an older kernel that only has /dev/gpiomem. `onChange` hears every change
 * the mock board records (real LEDs are not reported).
 */
export function createLedDriver(
  profile: BoardProfile,
  options: {
    clock?: Pick<Clock, 'now'>; loadRpio?: () => RpioModule; onChange?: (change: LedChange) => void;
    /** The addon's GPIO calls (default: the media engine's addon), and how to tell whether a device exists. */
    gpioLines?: () => GpioLines; exists?: (path: string) => boolean;
  } = {},
): LedDriver {
  if (profile.name === 'mock') return new MockLedDriver(options.clock ? () => options.clock!.now() : Date.now, options.onChange);
  const exists = options.exists ?? existsSync;
  if (exists(profile.gpioChip)) {
    try {
      return new GpioChipLedDriver(profile, profile.gpioChip, (options.gpioLines ?? loadAddon)());
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new GpioUnavailable(`the LEDs of board "${profile.name}" cannot be driven through ${profile.gpioChip}${code ? ` (${code})` : ''}: ${(e as Error).message}`, { cause: e });
    }
  }
  if (exists('/dev/gpiomem')) return new RpioLedDriver(profile, options.loadRpio ? { load: options.loadRpio } : {});
  throw new GpioUnavailable(`board "${profile.name}" has neither ${profile.gpioChip} nor /dev/gpiomem: no GPIO for its LEDs (use --board mock on a machine without GPIO)`);
}
