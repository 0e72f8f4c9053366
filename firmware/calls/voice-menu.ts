import { parsePin, parseRoomId } from '../conference/index.ts';
import { BoxError } from '../errors.ts';
import type { Phrase } from '../media/voice.ts';
import type { Call } from '../sip/session.ts';

const MENU_TRIES = 3;
const MENU_DIGIT_TIMEOUT_MS = 20_000;

/** What the menu does through the rest of the application. */
export interface MenuHost {
  say(call: Call, phrase: Phrase): Promise<void>;
  /** Joins the room; a BoxError says why not. */
  join(call: Call, room: number, pin: string): Promise<void>;
  wrongPin(call: Call, room: number): void;
  rejected(call: Call, room: number | null, e: BoxError): void;
  isBlocked(call: Call): boolean;
  hangUp(call: Call, why: string): void;
}

/** The voice menu of "*400" alone: room number, then PIN, each ended with #; three tries. */
export class VoiceMenu {
  private stage: 'room' | 'pin' = 'room';
  private digits = '';
  private room = 0;
  private tries = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly call: Call, private readonly host: MenuHost) {}

  /** The call is up: ask for the room number. */
  start(): Promise<void> {
    return this.prompt({ kind: 'menuRoom' });
  }

  digit(digit: string): void {
    if (this.closed || this.call.state !== 'confirmed') return;
    if (digit !== '#') {
      if (/^[0-9]$/.test(digit) && this.digits.length < 16) this.digits += digit;
      return;
    }
    const digits = this.digits;
    this.digits = '';
    try {
      if (this.stage === 'room') {
        this.room = parseRoomId(digits);
        this.stage = 'pin';
        void this.prompt({ kind: 'menuPin' });
        return;
      }
      void this.join(parsePin(digits));
    } catch (e) {
      void this.failed(e instanceof BoxError ? e : null);
    }
  }

  /** The call ended or joined its room: no more prompts or timeouts. */
  close(): void {
    this.closed = true;
    this.clearTimer();
  }

  private async prompt(phrase: Phrase): Promise<void> {
    if (this.closed || this.call.leg === null) return;
    this.clearTimer();
    await this.host.say(this.call, phrase);
    if (this.closed || this.call.state !== 'confirmed') return;
    this.timer = setTimeout(() => void this.failed(null), MENU_DIGIT_TIMEOUT_MS);
  }

  private async join(pin: string): Promise<void> {
    this.clearTimer();
    try {
      await this.host.join(this.call, this.room, pin);
      this.close();
    } catch (e) {
      if (e instanceof BoxError && e.code === 'wrong-pin') this.host.wrongPin(this.call, this.room);
      await this.failed(e instanceof BoxError ? e : null);
    }
  }

  /** A try went wrong (or timed out): say why and start again, or say goodbye after the third. */
  private async failed(e: BoxError | null): Promise<void> {
    if (this.closed || this.call.leg === null) return;
    this.clearTimer();
    this.tries++;
    this.stage = 'room';
    this.digits = '';
    if (e) this.host.rejected(this.call, this.room || null, e);
    await this.host.say(this.call, e ? { kind: 'rejection', code: e.code, room: this.room || undefined } : { kind: 'menuRetry' });
    if (this.tries >= MENU_TRIES || this.host.isBlocked(this.call)) {
      await this.host.say(this.call, { kind: 'goodbye' });
      this.host.hangUp(this.call, 'voice menu: no valid room and PIN');
      return;
    }
    void this.prompt({ kind: 'menuRoom' });
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
