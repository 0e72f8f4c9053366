// "Test connection": connects to an office's MySQL or MariaDB server with details a technician typed and says what
// happened in words, changing nothing there. The page and the API show the answer as it is.
import type { RowDataPacket, SslOptions } from 'mysql2/promise';
import mysql from 'mysql2/promise';
import { isIP } from 'node:net';
import { checkServerIdentity, type TLSSocket } from 'node:tls';
import { BoxError } from '../errors.ts';
import { MIGRATIONS } from './migrations.ts';

/** TLS to the server: none, verified against the system's CAs, or against a CA certificate the technician gave. */
export type DatabaseTls = 'off' | 'on' | 'ca';

/** An office's database server as the page describes it. */
export interface OfficeDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  tls: DatabaseTls;
  /** PEM CA certificate(s), with tls 'ca'. */
  ca?: string;
}

/** What the database holds, for the box. */
export type DatabaseContents = 'empty' | 'confbox' | 'newer-confbox' | 'other-tables';

export type ProbeResult =
  | { ok: true; server: string; contents: DatabaseContents; schemaVersion: number | null; message: string }
  | { ok: false; code: string; message: string };

const CONNECT_TIMEOUT_MS = 5000;
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IDENTIFIER = /^[A-Za-z0-9_$]{1,64}$/;

/** The target a form or a JSON body gives, checked; a BoxError (400) names the field that is wrong. */
export function readOfficeDatabase(input: Record<string, unknown>): OfficeDatabase {
  const text = (field: string, max: number) => {
    const v = input[field] ?? '';
    if (typeof v !== 'string' && typeof v !== 'number') throw new BoxError(400, `${field} must be text`, field);
    const s = String(v).trim();
    if (s.length > max) throw new BoxError(400, `${field} must be at most ${max} characters`, field);
    return s;
  };
  const host = text('host', 253);
  if (!host || (!isIP(host) && !HOST_NAME.test(host))) throw new BoxError(400, 'host must be the server\'s host name or IP address, such as db.office.lan', 'host');
  const portText = text('port', 5) || '3306';
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new BoxError(400, `port must be a number from 1 to 65535, not "${portText}"`, 'port');
  const user = text('user', 80);
  if (!user || /[\s'"\\]/.test(user)) throw new BoxError(400, 'user must be the account\'s name, without spaces or quotes', 'user');
  const password = typeof input.password === 'string' ? input.password : '';
  if (password.length > 256) throw new BoxError(400, 'password must be at most 256 characters', 'password');
  const database = text('database', 64) || 'confbox';
  if (!IDENTIFIER.test(database)) throw new BoxError(400, 'database must be 1 to 64 letters, digits, _ or $', 'database');
  const tls = text('tls', 3) || 'off';
  if (tls !== 'off' && tls !== 'on' && tls !== 'ca') throw new BoxError(400, 'tls must be off, on or ca', 'tls');
  const ca = typeof input.ca === 'string' ? input.ca.trim() : '';
  if (tls === 'ca' && !/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(ca)) {
    throw new BoxError(400, 'ca must be the server\'s CA certificate in PEM (-----BEGIN CERTIFICATE----- …)', 'ca');
  }
  return { host, port, user, password, database, tls: tls as DatabaseTls, ...(tls === 'ca' ? { ca } : {}) };
}

/** host:port as people write it ([v6]:port). */
export function describeTarget(t: Pick<OfficeDatabase, 'host' | 'port'>): string {
  return `${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}`;
}

/** Connects with the target's details and says what the box would find there; changes nothing on the server. */
export async function probeDatabase(t: OfficeDatabase, timeoutMs = CONNECT_TIMEOUT_MS): Promise<ProbeResult> {
  let conn: mysql.Connection | null = null;
  try {
    conn = await mysql.createConnection({
      host: t.host, port: t.port, user: t.user, password: t.password, connectTimeout: timeoutMs,
      ...(t.tls === 'off' ? {} : { ssl: tlsOptions(t) }),
    });
    if (t.tls !== 'off' && isIP(t.host)) checkAddress(conn, t.host);
    const [version] = await conn.query<RowDataPacket[]>('SELECT VERSION() AS v');
    const server = serverName(String(version[0]?.v ?? ''));
    const [schemas] = await conn.query<RowDataPacket[]>('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [t.database]);
    if (!schemas.length) {
      return { ok: false, code: 'no-database', message: `connected to ${server}, but it has no database ${t.database}: create it (CREATE DATABASE ${t.database} CHARACTER SET utf8mb4) and give ${t.user} all rights on it` };
    }
    const [tables] = await conn.query<RowDataPacket[]>('SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [t.database]);
    const names = new Set(tables.map((r) => String(r.name)));
    if (names.size === 0) return { ok: true, server, contents: 'empty', schemaVersion: null, message: `connected to ${server}, database ${t.database} is empty: its tables will be created` };
    if (!names.has('schema_version')) {
      return { ok: true, server, contents: 'other-tables', schemaVersion: null, message: `connected to ${server}, database ${t.database} holds ${names.size} other table(s) and no confbox tables: the box's tables will be created beside them` };
    }
    const [rows] = await conn.query<RowDataPacket[]>(`SELECT MAX(version) AS v FROM \`${t.database}\`.schema_version`);
    const schemaVersion = Number(rows[0]?.v ?? 0);
    const known = Math.max(...MIGRATIONS.map((m) => m.version));
    if (schemaVersion > known) {
      return { ok: true, server, contents: 'newer-confbox', schemaVersion, message: `connected to ${server}, database ${t.database} holds confbox tables of a newer firmware (schema ${schemaVersion}, this firmware knows ${known}): update this box first` };
    }
    return { ok: true, server, contents: 'confbox', schemaVersion, message: `connected to ${server}, database ${t.database} already holds confbox tables (schema ${schemaVersion}): the box will use them and the rooms in them` };
  } catch (err) {
    return { ok: false, ...explain(err, t) };
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

/**
 * Verified TLS: the certificate chains to a CA (the one given, or the system's) and is for the host. mysql2 checks a
 * host name itself (verifyIdentity) but not an address, which checkAddress does once connected.
 */
export function tlsOptions(t: Pick<OfficeDatabase, 'host' | 'ca'>): SslOptions {
  return { rejectUnauthorized: true, verifyIdentity: !isIP(t.host), minVersion: 'TLSv1.2', ...(t.ca ? { ca: t.ca } : {}) };
}

/** Throws unless the server's certificate is for the address connected to (an IP subjectAltName). */
function checkAddress(conn: mysql.Connection, address: string): void {
  const stream = (conn as unknown as { connection?: { stream?: TLSSocket } }).connection?.stream;
  if (!stream || typeof stream.getPeerCertificate !== 'function') throw Object.assign(new Error('the TLS connection cannot be checked'), { code: 'TLS_UNCHECKED' });
  const err = checkServerIdentity(address, stream.getPeerCertificate());
  if (err) throw err;
}

/** "MariaDB 10.11" or "MySQL 8.0" from VERSION(). */
function serverName(version: string): string {
  const release = /^(\d+\.\d+)/.exec(version)?.[1] ?? version.slice(0, 20);
  return /mariadb/i.test(version) ? `MariaDB ${release}` : `MySQL ${release}`;
}

/** A failed connection in words a technician can act on. */
function explain(err: unknown, t: OfficeDatabase): { code: string; message: string } {
  const e = err as { code?: string; errno?: number; message?: string };
  const where = describeTarget(t);
  switch (e.code) {
    case 'ER_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR':
      return { code: 'access-denied', message: `access denied for user '${t.user}': check the user name and password, and that the server lets ${t.user} connect from this box's address` };
    case 'ER_DBACCESS_DENIED_ERROR':
    case 'ER_TABLEACCESS_DENIED_ERROR':
      return { code: 'access-denied', message: `user '${t.user}' may not use database ${t.database}: grant it all rights on ${t.database}` };
    case 'ECONNREFUSED':
      return { code: 'unreachable', message: `no server answers at ${where}: check the host and the port, and that the server listens on the network` };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { code: 'unknown-host', message: `the name ${t.host} is not known to this box's DNS` };
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return { code: 'unreachable', message: `no answer from ${where}: the server or a firewall between does not answer` };
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
      return { code: 'tls-name', message: `the certificate does not match the host name ${t.host}: connect with a name the certificate is for` };
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_SIGNATURE_FAILURE':
      return { code: 'tls-untrusted', message: `the server's certificate is not signed by ${t.tls === 'ca' ? 'the CA certificate given' : 'a CA this box trusts'}: give the server's CA certificate` };
    case 'CERT_HAS_EXPIRED':
      return { code: 'tls-expired', message: 'the server\'s certificate has expired' };
    case 'HANDSHAKE_NO_SSL_SUPPORT':
      return { code: 'tls-unsupported', message: `the server at ${where} does not offer TLS: turn TLS off, or on at the server` };
    default:
      if (/self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer/i.test(e.message ?? '')) return explain({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }, t);
      if (/does not match certificate's altnames/i.test(e.message ?? '')) {
        return { code: 'tls-name', message: `the certificate does not match the host name ${t.host}: connect with a name the certificate is for` };
      }
      if (/secure connection|SSL is required|require_secure_transport/i.test(e.message ?? '')) {
        return { code: 'tls-required', message: `the server at ${where} requires TLS: turn TLS on` };
      }
      return { code: 'failed', message: `could not connect to ${where}: ${String(e.message ?? err).slice(0, 160)}` };
  }
}
