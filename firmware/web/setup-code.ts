import { randomInt, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Letters and digits that cannot be mistaken for one another when read off a screen or typed. */
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789';
/** 12 characters of 32: 60 bits, far beyond what the first-use limiter lets anyone guess. */
const LENGTH = 12;
export const SETUP_CODE_FILE = 'setup-code';

/** "ABCD-EFGH-JKLM" → "ABCDEFGHJKLM": what a person may type for the code (any case, spaces or dashes). */
export function normaliseSetupCode(text: string): string {
  return String(text ?? '').toUpperCase().replace(/[\s-]+/g, '').slice(0, 64);
}

export function formatSetupCode(code: string): string {
  return code.replace(/(.{4})(?=.)/g, '$1-');
}

function generate(): string {
  let code = '';
  for (let i = 0; i < LENGTH; i++) code += ALPHABET[randomInt(ALPHABET.length)];
  return code;
}

/**
 * The proof that whoever sets the first admin password holds the box: a one-time code in the box's
 * data directory (`setup-code`), shown in its log and, on the board, written by first boot to the
 * SD card's boot partition and the serial console. It is made once and kept until the password is
 * set, so every place that shows it shows the same code; then it is deleted.
 */
export class SetupCode {
  private constructor(private readonly path: string, private code: string | null) {}

  /** The box's code: the one its data directory holds (first boot may have put it there), or a new one. */
  static open(dataDir: string, passwordIsSet: boolean): SetupCode {
    const path = join(dataDir, SETUP_CODE_FILE);
    if (passwordIsSet) {
      rmSync(path, { force: true });
      return new SetupCode(path, null);
    }
    let code: string | null = null;
    try {
      code = normaliseSetupCode(readFileSync(path, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (!code || code.length < LENGTH || [...code].some((c) => !ALPHABET.includes(c))) {
      code = generate();
      mkdirSync(dataDir, { recursive: true });
      writeFileSync(path, formatSetupCode(code) + '\n', { mode: 0o600 });
    }
    return new SetupCode(path, code);
  }

  /** The code as people read it (ABCD-EFGH-JKLM); null once used. */
  get shown(): string | null {
    return this.code === null ? null : formatSetupCode(this.code);
  }

  get file(): string {
    return this.path;
  }

  matches(text: unknown): boolean {
    if (this.code === null) return false;
    const a = Buffer.from(normaliseSetupCode(String(text ?? '')));
    const b = Buffer.from(this.code);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** The first password is set: the code is spent. */
  consume(): void {
    this.code = null;
    rmSync(this.path, { force: true });
  }
}
