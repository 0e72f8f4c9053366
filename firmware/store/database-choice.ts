// The database chosen on the page (an office's MySQL or MariaDB), kept under the data directory like the box's other
// secrets: one file, readable by the box alone, holding the account's password. No file: the embedded database.
// A --db option or CONFBOX_DB that a person set wins over it (box.ts).
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BoxError } from '../errors.ts';
import { readOfficeDatabase, tlsOptions, type OfficeDatabase } from './probe.ts';
import type { SslOptions } from 'mysql2/promise';

const FILE = 'database.json';

/** Where the choice is kept. */
export function databaseChoiceFile(dataDir: string): string {
  return join(dataDir, FILE);
}

/** The office's database chosen on the page, or null for the embedded one; a damaged file is an error naming it. */
export function readDatabaseChoice(dataDir: string): OfficeDatabase | null {
  const file = databaseChoiceFile(dataDir);
  if (!existsSync(file)) return null;
  try {
    return readOfficeDatabase(JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>);
  } catch (e) {
    const why = e instanceof BoxError ? e.message : 'it is not JSON';
    throw new Error(`${file} cannot be read (${why}): choose the database again on the page, or run confbox database use embedded`, { cause: e });
  }
}

/** Keeps the choice (null: back to the embedded database), written whole or not at all. */
export function writeDatabaseChoice(dataDir: string, choice: OfficeDatabase | null): void {
  const file = databaseChoiceFile(dataDir);
  if (choice === null) {
    rmSync(file, { force: true });
    return;
  }
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(choice) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}

/** The store's URL and TLS options for the chosen database. */
export function officeConnection(o: OfficeDatabase): { url: string; ssl?: SslOptions } {
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const url = `mysql://${encodeURIComponent(o.user)}${o.password ? `:${encodeURIComponent(o.password)}` : ''}@${host}:${o.port}/${o.database}`;
  return o.tls === 'off' ? { url } : { url, ssl: tlsOptions(o) };
}
