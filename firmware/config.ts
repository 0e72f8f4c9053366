import { parseDatabaseUrl } from './store/mysql.ts';
import { isIP, isIPv6 } from 'node:net';
import { resolve } from 'node:path';
import { parseArgs as parseCommandLine } from 'node:util';
import { LEVELS, type Level } from './log.ts';

/** Start-up configuration; every option is also an environment variable CONFBOX_<NAME>. */
export interface Config {
  sipPort: number;
  bind: string;
  publicAddress: string | null;
  /** The box's address for IPv6 phones when it serves both families (bound to ::); null: --public-address if IPv6, else detected. */
  publicAddressV6: string | null;
  /** Plain HTTP: redirects to HTTPS unless the setting httpRedirect is off. */
  httpPort: number;
  httpsPort: number;
  /** SIP over TLS, with the same certificate as the web page. */
  sipTlsPort: number;
  rtpPorts: { min: number; max: number };
  /** Media threads that mix conferences; null: the processors the box may use, less one, at least 1. */
  mediaThreads: number | null;
  dataDir: string;
  db: string | null;
  /** The box's own database when it is a server of its own and not the embedded MariaDB (the board's): the page's
   * choice of an office's database wins over it, --db over both; null: the embedded MariaDB under the data dir. */
  ownDb: string | null;
  /** The name this box's rows carry in tables that several boxes share (live conferences); null: the host name. */
  boxId: string | null;
  logLevel: Level;
  /** Board profile name or path; null: detect from /proc/device-tree/model, else the mock board. */
  board: string | null;
  /** PEM certificate chain and key files for HTTPS and SIP over TLS; null: the one generated under the data dir. */
  tlsCert: string | null;
  tlsKey: string | null;
}

export class ConfigError extends Error {
  constructor(readonly option: string, message: string) {
    super(`${option}: ${message}`);
    this.name = 'ConfigError';
  }
}

interface OptionSpec {
  key: keyof Config;
  help: string;
  parse(v: string, name: string): unknown;
  fallback: string | null;
}

function port(v: string, name: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(name, `"${v}" is not a port number (1-65535)`);
  return n;
}

/** A database URL as --db and --own-db take it: kept as written once it reads as one. */
function databaseUrl(v: string, name: string): string {
  try {
    parseDatabaseUrl(v);
  } catch (e) {
    throw new ConfigError(name, (e as Error).message);
  }
  return v;
}

export const OPTIONS: Record<string, OptionSpec> = {
  'sip-port': { key: 'sipPort', help: 'SIP port, UDP and TCP', parse: port, fallback: '5060' },
  bind: {
    key: 'bind', help: 'address to listen on (default: all)', fallback: '0.0.0.0',
    parse: (v, name) => {
      if (!isIP(v)) throw new ConfigError(name, `"${v}" is not an IP address`);
      return v;
    },
  },
  'public-address': {
    key: 'publicAddress', help: 'address phones reach the box at, used in Contact and SDP (default: detected)', fallback: null,
    parse: (v, name) => {
      if (!isIP(v) && !/^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(v)) throw new ConfigError(name, `"${v}" is not an IP address or host name`);
      return v;
    },
  },
  'public-address-v6': {
    key: 'publicAddressV6', help: 'with --bind ::, the IPv6 address IPv6 phones reach the box at (default: detected); IPv4 phones get --public-address', fallback: null,
    parse: (v, name) => {
      if (!isIPv6(v)) throw new ConfigError(name, `"${v}" is not an IPv6 address`);
      return v;
    },
  },
  'http-port': { key: 'httpPort', help: 'web page over plain HTTP (redirects to HTTPS unless the setting httpRedirect is off)', parse: port, fallback: '8080' },
  'https-port': { key: 'httpsPort', help: 'web page over HTTPS', parse: port, fallback: '8443' },
  'sip-tls-port': { key: 'sipTlsPort', help: 'SIP over TLS', parse: port, fallback: '5061' },
  'rtp-ports': {
    key: 'rtpPorts', help: 'RTP port range, e.g. 20000-20999', fallback: '20000-20999',
    parse: (v, name) => {
      const m = /^(\d+)-(\d+)$/.exec(v);
      if (!m) throw new ConfigError(name, `"${v}" is not a range like 20000-20999`);
      const min = port(m[1]!, name), max = port(m[2]!, name);
      if (min >= max) throw new ConfigError(name, `range ${v} is empty: the first port must be below the last`);
      return { min, max };
    },
  },
  'media-threads': {
    key: 'mediaThreads', help: 'threads that mix conferences, 1-64 (default: the processors less one, at least 1)', fallback: null,
    parse: (v, name) => {
      const n = /^\d+$/.test(v) ? Number(v) : NaN;
      if (!Number.isInteger(n) || n < 1 || n > 64) throw new ConfigError(name, `"${v}" is not a number of threads (1-64)`);
      return n;
    },
  },
  'data-dir': { key: 'dataDir', help: 'where the box keeps its data (embedded database, state)', parse: (v) => resolve(v), fallback: './var' },
  db: {
    key: 'db', help: 'mysql://user:password@host:port/database, or a cluster\'s nodes as host1:port,host2:port,… (default: an embedded MariaDB under the data dir)', fallback: null,
    parse: databaseUrl,
  },
  'own-db': {
    key: 'ownDb', help: 'the box\'s own database when it is not the embedded MariaDB (as --db); the database chosen on the page wins over it, --db over both', fallback: null,
    parse: databaseUrl,
  },
  'box-id': {
    key: 'boxId', help: 'this box\'s name among boxes sharing one database (default: the host name)', fallback: null,
    parse: (v, name) => {
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(v)) throw new ConfigError(name, `"${v.slice(0, 40)}" is not a box name (letters, digits, . _ -, at most 64)`);
      return v;
    },
  },
  board: {
    key: 'board', help: 'board profile (rpi3, rpi4, rpi5, mock or a path; default: detected)', fallback: null,
    parse: (v, name) => {
      if (!/^[A-Za-z0-9._/-]{1,200}$/.test(v)) throw new ConfigError(name, `"${v.slice(0, 40)}" is not a profile name or path`);
      return v;
    },
  },
  'tls-cert': { key: 'tlsCert', help: 'PEM certificate (chain) file for HTTPS and SIP over TLS, with --tls-key (default: generated under the data dir)', parse: (v) => resolve(v), fallback: null },
  'tls-key': { key: 'tlsKey', help: 'PEM private key file of --tls-cert', parse: (v) => resolve(v), fallback: null },
  'log-level': {
    key: 'logLevel', help: `one of ${LEVELS.join(', ')}`, fallback: 'info',
    parse: (v, name) => {
      if (!(LEVELS as string[]).includes(v)) throw new ConfigError(name, `"${v}" is not one of ${LEVELS.join(', ')}`);
      return v;
    },
  },
};

export function envName(option: string): string {
  return 'CONFBOX_' + option.toUpperCase().replace(/-/g, '_');
}

export interface ParsedArgs {
  config: Config;
  /** Words that are not options: the subcommand and its arguments. */
  positional: string[];
  /** Options not in OPTIONS (the command's own, e.g. --pin, --json, and --help, --version, --verbose): a value, or true. */
  extra: Map<string, string | true>;
}

/** An option besides the box's own (a command's, or the process's): whether it takes a value, and the value a bare
 * "--name" stands for when it may be given without one (--keep means --keep yes). */
export interface ExtraOption {
  type: 'string' | 'boolean';
  bare?: string;
}

/** Options of the process itself, whatever it is asked to do. */
export const PROCESS_OPTIONS: Record<string, ExtraOption> = {
  help: { type: 'boolean' },
  version: { type: 'boolean' },
  verbose: { type: 'boolean' },
};

/**
 * Reads the command line with node:util's parseArgs, strictly: an option nobody declared, or one that needs a value
 * and has none, is a ConfigError naming it. Command-line options win over environment variables, which win over
 * defaults. extraOptions declares what the technician commands take; the caller checks that each is the command's.
 */
export function parseArgs(argv: string[], env: NodeJS.ProcessEnv = process.env, extraOptions: Record<string, ExtraOption> = {}): ParsedArgs {
  const declared: Record<string, ExtraOption> = { ...PROCESS_OPTIONS, ...extraOptions };
  for (const name of Object.keys(OPTIONS)) declared[name] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  let positional: string[];
  try {
    ({ values, positionals: positional } = parseCommandLine({
      args: withBareValues(argv, declared),
      options: Object.fromEntries(Object.entries(declared).map(([n, o]) => [n, { type: o.type }])),
      strict: true,
      allowPositionals: true,
    }) as { values: Record<string, string | boolean | undefined>; positionals: string[] });
  } catch (e) {
    throw commandLineError(e);
  }
  const extra = new Map<string, string | true>();
  for (const [name, value] of Object.entries(values)) {
    if (name in OPTIONS || value === undefined || value === false) continue;
    extra.set(name, value);
  }
  const config: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(OPTIONS)) {
    const fromArg = values[name] as string | undefined;
    const fromEnv = env[envName(name)];
    const raw = fromArg ?? (fromEnv !== undefined && fromEnv !== '' ? fromEnv : spec.fallback);
    const label = fromArg !== undefined ? `--${name}` : fromEnv ? envName(name) : `--${name}`;
    config[spec.key] = raw === null ? null : spec.parse(raw, label);
  }
  const c = config as unknown as Config;
  if ((c.tlsCert === null) !== (c.tlsKey === null)) throw new ConfigError(c.tlsCert ? '--tls-key' : '--tls-cert', 'HTTPS needs both --tls-cert and --tls-key');
  const ports: Array<[string, number]> = [['--http-port', c.httpPort], ['--https-port', c.httpsPort], ['--sip-tls-port', c.sipTlsPort], ['--sip-port', c.sipPort]];
  for (const [i, [name, p]] of ports.entries()) {
    const clash = ports.slice(i + 1).find(([, q]) => q === p);
    if (clash) throw new ConfigError(name, `port ${p} is also ${clash[0]}`);
  }
  return { config: c, positional, extra };
}

/** "--keep" with no value after it (the end, or another option next) becomes "--keep=yes", as its bare value says. */
function withBareValues(argv: string[], declared: Record<string, ExtraOption>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const bare = a.startsWith('--') && !a.includes('=') ? declared[a.slice(2)]?.bare : undefined;
    const next = argv[i + 1];
    out.push(bare !== undefined && (next === undefined || next.startsWith('--')) ? `${a}=${bare}` : a);
  }
  return out;
}

/** node:util's parse errors, as a ConfigError that names the option and says what was wrong with it. */
function commandLineError(e: unknown): ConfigError {
  const err = e as { code?: string; message?: string };
  const option = /'(-[^' ]+)/.exec(err.message ?? '')?.[1] ?? 'the command line';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new ConfigError(option, 'is not an option of confbox; see confbox --help');
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(err.message ?? '') ? new ConfigError(option, 'needs a value')
        : /ambiguous/.test(err.message ?? '') ? new ConfigError(option, `needs a value; one that starts with "-" is given as ${option}=VALUE`)
        : new ConfigError(option, 'takes no value');
    default:
      return new ConfigError(option, err.message ?? String(e));
  }
}

export function optionsHelp(): string {
  return Object.entries(OPTIONS)
    .map(([name, s]) => `  --${name.padEnd(16)} ${s.help}${s.fallback ? ` [${s.fallback}]` : ''}  (${envName(name)})`)
    .join('\n');
}
