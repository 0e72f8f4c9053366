import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The four status LEDs, in the order a technician reads them (and `confbox led test` lights them). */
export const LED_NAMES = ['power', 'sip', 'conference', 'fault'] as const;
export type LedName = (typeof LED_NAMES)[number];

export interface LedPin {
  /** BCM GPIO number (not the header pin), 0..27. */
  pin: number;
  /** True when the LED lights with the pin low (wired to 3V3 through the LED). */
  activeLow: boolean;
}

export interface AudioDevices {
  /** ALSA device the room microphone is read from, e.g. "plughw:1,0" (plughw: converts to the 16 kHz mono the box uses). */
  capture: string;
  /** ALSA device the room speaker is played to. */
  playback: string;
  /**
   * Cancelling the speaker's echo in the microphone: on by default with a 100 ms model of the room after the card's
   * 30 ms; `"echo": false` turns it off (a headset, or a speakerphone that cancels echo itself).
   */
  echo: { tailMs: number; delayMs: number; noiseSuppressDb: number } | null;
}

export interface BoardProfile {
  /** The profile's name, the value of `--board`. */
  name: string;
  /** Prefix of /proc/device-tree/model that identifies this board; "" never matches (the mock). */
  model: string;
  comment?: string;
  leds: Record<LedName, LedPin>;
  /** The GPIO character device whose lines the LED pins number ["/dev/gpiochip0"]. */
  gpioChip: string;
  /** Null on a board without a sound card: the box runs without local audio. */
  audio: AudioDevices | null;
}

/** A profile that cannot be used; `field` is the JSON path of the offending value. */
export class ProfileError extends Error {
  constructor(readonly field: string, readonly detail: string, readonly file?: string) {
    super(`${file ? `${file}: ` : ''}${field ? `${field}: ` : ''}${detail}`);
    this.name = 'ProfileError';
  }
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Where profiles are looked for, in order: board/profiles from the sources (firmware/hw/ → ../../board/profiles),
 * beside the bundle (dist/ → ../board/profiles, or dist/board/profiles), and beside the entry script.
 */
export function profileDirs(): string[] {
  const dirs = [join(here, '../../board/profiles'), join(here, '../board/profiles'), join(here, 'board/profiles')];
  if (process.argv[1]) dirs.push(join(dirname(resolve(process.argv[1])), 'board/profiles'));
  return [...new Set(dirs)];
}

/** Names of the profiles shipped in the first profile directory that exists. */
export function listProfiles(dirs: string[] = profileDirs()): string[] {
  const dir = dirs.find((d) => existsSync(d));
  if (!dir) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

/** A profile by name (`rpi4`, looked up in `dirs`) or by path (anything with a slash or ending in .json). */
export function loadProfile(nameOrPath: string, dirs: string[] = profileDirs()): BoardProfile {
  let file: string | undefined;
  if (nameOrPath.includes('/') || nameOrPath.endsWith('.json')) {
    file = nameOrPath;
  } else {
    if (!/^[A-Za-z0-9_-]+$/.test(nameOrPath)) throw new ProfileError('', `not a board name: ${JSON.stringify(nameOrPath)}`);
    file = dirs.map((d) => join(d, `${nameOrPath}.json`)).find((p) => existsSync(p));
    if (!file) {
      const known = listProfiles(dirs);
      throw new ProfileError('', `no board profile "${nameOrPath}"${known.length ? ` (known: ${known.join(', ')})` : ''}`);
    }
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ProfileError('', `cannot read the board profile: ${(e as Error).message}`, file);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ProfileError('', `not valid JSON: ${(e as Error).message}`, file);
  }
  try {
    return parseProfile(json);
  } catch (e) {
    if (e instanceof ProfileError) throw new ProfileError(e.field, e.detail, file);
    throw e;
  }
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates an already parsed profile; every message names the field at fault. */
export function parseProfile(json: unknown): BoardProfile {
  if (!isObject(json)) throw new ProfileError('', `expected an object, got ${show(json)}`);
  const str = (v: unknown, field: string, allowEmpty = false): string => {
    if (typeof v !== 'string' || (!allowEmpty && v.trim() === '')) {
      throw new ProfileError(field, `expected a${allowEmpty ? '' : ' non-empty'} string, got ${show(v)}`);
    }
    return v;
  };
  const name = str(json.name, 'name');
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new ProfileError('name', `expected letters, digits, "-" or "_", got ${show(name)}`);
  const model = str(json.model, 'model', true);
  const comment = json.comment === undefined ? undefined : str(json.comment, 'comment', true);
  if (!isObject(json.leds)) throw new ProfileError('leds', `expected an object with ${LED_NAMES.join(', ')}, got ${show(json.leds)}`);
  const ledsIn = json.leds;
  for (const k of Object.keys(ledsIn)) {
    if (!(LED_NAMES as readonly string[]).includes(k)) throw new ProfileError(`leds.${k}`, `unknown LED (expected ${LED_NAMES.join(', ')})`);
  }
  const used = new Map<number, LedName>();
  const leds = {} as Record<LedName, LedPin>;
  for (const led of LED_NAMES) {
    const v = ledsIn[led];
    if (!isObject(v)) throw new ProfileError(`leds.${led}`, `expected { "pin", "activeLow" }, got ${show(v)}`);
    const pin = v.pin;
    if (typeof pin !== 'number' || !Number.isInteger(pin) || pin < 0 || pin > 27) {
      throw new ProfileError(`leds.${led}.pin`, `expected an integer 0..27, got ${show(pin)}`);
    }
    const other = used.get(pin);
    if (other) throw new ProfileError(`leds.${led}.pin`, `GPIO ${pin} is already the ${other} LED`);
    used.set(pin, led);
    const activeLow = v.activeLow ?? false;
    if (typeof activeLow !== 'boolean') throw new ProfileError(`leds.${led}.activeLow`, `expected true or false, got ${show(activeLow)}`);
    leds[led] = { pin, activeLow };
  }
  let audio: AudioDevices | null = null;
  if (json.audio !== null && json.audio !== undefined) {
    if (!isObject(json.audio)) throw new ProfileError('audio', `expected { "capture", "playback" } or null, got ${show(json.audio)}`);
    audio = { capture: str(json.audio.capture, 'audio.capture'), playback: str(json.audio.playback, 'audio.playback'), echo: echoOf(json.audio.echo) };
  }
  const gpioChip = json.gpioChip === undefined ? '/dev/gpiochip0' : str(json.gpioChip, 'gpioChip');
  if (!/^\/dev\/gpiochip\d{1,3}$/.test(gpioChip)) throw new ProfileError('gpioChip', `expected a path /dev/gpiochipN, got ${show(gpioChip)}`);
  return { name, model, ...(comment !== undefined ? { comment } : {}), leds, gpioChip, audio };
}

function readDeviceTreeModel(): string | Buffer {
  return readFileSync('/proc/device-tree/model');
}

/**
 * The profile whose `model` prefixes the device-tree model (e.g. "Raspberry Pi 4 Model B Rev 1.4"), else "mock".
 * A machine without /proc/device-tree (a PC, a CI runner) is the mock board.
 */
export function detectBoard(readModel: () => string | Buffer = readDeviceTreeModel, dirs: string[] = profileDirs()): string {
  let model: string;
  try {
    // The device tree stores the model NUL-terminated.
    model = readModel().toString().replace(/\0+$/, '').trim();
  } catch {
    return 'mock';
  }
  if (!model) return 'mock';
  let best: BoardProfile | undefined;
  for (const name of listProfiles(dirs)) {
    let p: BoardProfile;
    try {
      p = loadProfile(name, dirs);
    } catch {
      continue; // a broken profile is reported when chosen, not while guessing
    }
    if (p.model && model.startsWith(p.model) && (!best || p.model.length > best.model.length)) best = p;
  }
  return best?.name ?? 'mock';
}

/** The `--board` option: a name or path when given, otherwise the detected board. */
export function resolveBoard(option: string | undefined, readModel?: () => string | Buffer, dirs: string[] = profileDirs()): BoardProfile {
  return loadProfile(option ?? detectBoard(readModel, dirs), dirs);
}

/** The echo canceller of a sound card whose profile says nothing (or of devices named in the settings). */
export const ECHO_DEFAULT = { tailMs: 100, delayMs: 30, noiseSuppressDb: 0 };

/** A profile's audio.echo: absent or true: the defaults; false: off; an object: its numbers over the defaults. */
function echoOf(v: unknown): AudioDevices['echo'] {
  if (v === undefined || v === true) return { ...ECHO_DEFAULT };
  if (v === false || v === null) return null;
  if (!isObject(v)) throw new ProfileError('audio.echo', `expected true, false or { "tailMs", "delayMs", "noiseSuppressDb" }, got ${show(v)}`);
  const out = { ...ECHO_DEFAULT };
  for (const [k, min, max] of [['tailMs', 20, 1000], ['delayMs', 0, 1000], ['noiseSuppressDb', 0, 60]] as const) {
    const x = v[k];
    if (x === undefined) continue;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < min || x > max) throw new ProfileError(`audio.echo.${k}`, `expected an integer ${min}..${max}, got ${show(x)}`);
    out[k] = x;
  }
  return out;
}
