import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A per-box secret kept in the data directory, made on first use. */
export function boxSecret(dataDir: string, name: string): Buffer {
  const dir = join(dataDir, 'secrets');
  const file = join(dir, `${name}.key`);
  try {
    const b = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
    if (b.length >= 32) return b;
  } catch {
    // made below
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = randomBytes(32);
  writeFileSync(file, key.toString('hex') + '\n', { mode: 0o600 });
  return key;
}
