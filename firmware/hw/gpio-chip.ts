/**
 * The status LEDs on the kernel's GPIO character device (/dev/gpiochipN, uAPI v2), through the engine's addon
 * (binding/gpio.c): the four lines are requested once, as outputs, dark, and held while the box runs; the board
 * profile's pin numbers are the chip's line offsets (BCM numbers on a Raspberry Pi's gpiochip0), its polarity is
 * applied here. Works on Debian's kernel, which has no /dev/gpiomem for rpio.
 */
import { LED_NAMES, type BoardProfile, type LedName } from './profile.ts';

/** The addon's three GPIO calls. */
export interface GpioLines {
  gpioRequest(chip: string, offsets: number[], initialBits: number, consumer: string): number;
  gpioSet(fd: number, mask: number, bits: number): void;
  gpioRelease(fd: number): void;
}

export class GpioChipLedDriver {
  private fd: number | null;
  private readonly bit: Record<LedName, number>;

  /** Requests the lines; throws the addon's error (code ENOENT, EACCES, EBUSY, ENOTTY) when it cannot. */
  constructor(private readonly profile: BoardProfile, readonly chip: string, private readonly lines: GpioLines) {
    const offsets = LED_NAMES.map((led) => profile.leds[led].pin);
    this.bit = Object.fromEntries(LED_NAMES.map((led, i) => [led, 1 << i])) as Record<LedName, number>;
    // Dark from the first moment: an active-low LED's line starts high.
    const dark = LED_NAMES.reduce((bits, led) => (profile.leds[led].activeLow ? bits | this.bit[led] : bits), 0);
    this.fd = lines.gpioRequest(chip, offsets, dark, 'confbox');
  }

  set(led: LedName, on: boolean): void {
    if (this.fd === null) return;
    const high = on !== this.profile.leds[led].activeLow;
    this.lines.gpioSet(this.fd, this.bit[led], high ? this.bit[led] : 0);
  }

  close(): void {
    if (this.fd === null) return;
    for (const led of LED_NAMES) this.set(led, false);
    this.lines.gpioRelease(this.fd);
    this.fd = null;
  }
}
