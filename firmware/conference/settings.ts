import { BoxError } from '../errors.ts';
import { PARTICIPANTS_MAX, PARTICIPANTS_MIN, ROOM_ID_MAX, ROOM_ID_MIN } from './validate.ts';
import type { Settings } from './types.ts';

type Parser<K extends keyof Settings> = (text: string) => Settings[K];

function range(name: string, min: number, max: number, unit = ''): Parser<never> {
  return ((text: string) => {
    const s = String(text).trim();
    const n = /^\d{1,9}$/.test(s) ? Number(s) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new BoxError(400, `${name} must be a whole number from ${min} to ${max}${unit}, not "${s.slice(0, 24)}"`, name);
    return n;
  }) as Parser<never>;
}

/**
 * What an ALSA device name may look like before it is even considered: a PCM name, optionally with
 * simple arguments (`plughw:1,0`, `hw:CARD=Device,DEV=0`). Never plugin definitions, quotes, paths or
 * pipes: ALSA's file plugin runs any command a name like `file:'|cmd'` gives it.
 */
const ALSA_SHAPE = /^[A-Za-z_][A-Za-z0-9_]{0,31}(:[A-Za-z0-9_]{1,32}(=[A-Za-z0-9_]{1,32})?(,[A-Za-z0-9_]{1,32}(=[A-Za-z0-9_]{1,32})?){0,3})?$/;
/** Names every ALSA installation resolves to a sound card: the default devices and a card's hardware, by number or name. */
const ALSA_CARD_NAME = /^(default|sysdefault)$|^(hw|plughw|default|sysdefault|dsnoop|dmix|front):(\d{1,2}(,\d{1,2})?|CARD=[A-Za-z0-9_]{1,32}(,DEV=\d{1,2})?)$/;

function onOff(name: string): Parser<never> {
  return ((text: string) => {
    const s = String(text).trim().toLowerCase();
    if (['on', 'true', 'yes', '1'].includes(s)) return true;
    if (['off', 'false', 'no', '0'].includes(s)) return false;
    throw new BoxError(400, `${name} must be on or off, not "${s.slice(0, 24)}"`, name);
  }) as Parser<never>;
}

/** An ALSA device name, or "" (also "board") for the board profile's device. */
function alsaDevice(name: string): Parser<never> {
  return ((text: string) => {
    const s = String(text).trim();
    if (s === '' || s.toLowerCase() === 'board') return '';
    if (!ALSA_SHAPE.test(s)) {
      throw new BoxError(400, `${name} must be an ALSA device name such as plughw:1,0 or hw:CARD=Device,DEV=0, or "board" for the board profile's (no spaces, quotes, paths, pipes or plugin settings), not "${s.slice(0, 24)}"`, name);
    }
    return s;
  }) as Parser<never>;
}

export const ALSA_DEVICE_SETTINGS = ['localAudioCapture', 'localAudioPlayback'] as const;

/**
 * Whether a device name may reach ALSA: a card's own name (`default`, `sysdefault`, `hw:`/`plughw:`
 * and the like with a card and device), or a name that ALSA's configuration on this box lists
 * (`listed`, as `aplay -L` shows them), which only root can change.
 */
export function alsaDeviceAllowed(device: string, listed: readonly string[]): boolean {
  if (!ALSA_SHAPE.test(device)) return false;
  return ALSA_CARD_NAME.test(device) || listed.includes(device);
}

/** Throws a BoxError naming the setting when a device name is not one alsaDeviceAllowed takes. */
export function checkAlsaDevice(name: string, device: string, listed: readonly string[]): void {
  if (device === '' || alsaDeviceAllowed(device, listed)) return;
  const known = listed.filter((d) => ALSA_SHAPE.test(d)).slice(0, 12);
  throw new BoxError(
    400,
    `${name} "${device.slice(0, 40)}" is not a sound device of this box: use default, sysdefault, hw:CARD,DEVICE or plughw:CARD,DEVICE` +
      (known.length ? `, or one ALSA lists here (${known.join(', ')})` : ''),
    name,
  );
}

const HOLD_LIMIT_MIN = 5;
const HOLD_LIMIT_MAX = 86_400;

/** Every box setting with its validation; the command line and the web page both use these. */
export const SETTINGS: { [K in keyof Settings]: { help: string; parse: Parser<K> } } = {
  maxParticipants: { help: 'participants allowed in one room', parse: range('maxParticipants', PARTICIPANTS_MIN, PARTICIPANTS_MAX) },
  lockoutFailures: { help: 'failed passwords or PINs that block an address or a caller behind a peer (twice as many close an extension or a room, ten times a peer)', parse: range('lockoutFailures', 1, 100) },
  lockoutWindowMinutes: { help: 'minutes within which those failures count', parse: range('lockoutWindowMinutes', 1, 1440, ' minutes') },
  lockoutBlockMinutes: { help: 'minutes an address or caller stays blocked (the longest block of an extension or a room)', parse: range('lockoutBlockMinutes', 1, 10080, ' minutes') },
  realm: {
    help: 'SIP digest realm (changing it means setting every extension password again)',
    parse: (text) => {
      const s = String(text).trim();
      if (!/^[A-Za-z0-9][A-Za-z0-9.\-_]{0,63}$/.test(s)) throw new BoxError(400, `realm must be 1 to 64 letters, digits or . - _, not "${s.slice(0, 24)}"`, 'realm');
      return s;
    },
  },
  digestAlgorithms: {
    help: 'digest algorithms offered to phones: auto (MD5 to a new phone, SHA-256 to each phone that shows it can), or a fixed list in order: MD5,SHA-256 or SHA-256,MD5 or MD5 or SHA-256',
    parse: (text) => {
      if (String(text).trim().toLowerCase() === 'auto') return 'auto';
      const list = String(text).split(',').map((a) => a.trim().toUpperCase()).filter(Boolean);
      const ok = list.length > 0 && list.length <= 2 && new Set(list).size === list.length && list.every((a) => a === 'MD5' || a === 'SHA-256');
      if (!ok) throw new BoxError(400, `digestAlgorithms must be auto, or list MD5 and/or SHA-256, e.g. "SHA-256,MD5", not "${String(text).slice(0, 24)}"`, 'digestAlgorithms');
      return list.join(',');
    },
  },
  symmetricRtp: { help: 'for phones behind NAT: send audio back to where it comes from (on/off)', parse: onOff('symmetricRtp') },
  srtp: {
    help: 'audio encryption (SRTP): optional = when the phone offers it, required = calls without it are refused, off = never',
    parse: (text) => {
      const s = String(text).trim().toLowerCase();
      if (s === 'off' || s === 'optional' || s === 'required') return s;
      throw new BoxError(400, `srtp must be off, optional or required, not "${s.slice(0, 24)}"`, 'srtp');
    },
  },
  rtpTimeoutSeconds: { help: 'seconds without audio after which a participant is hung up', parse: range('rtpTimeoutSeconds', 5, 3600, ' seconds') },
  holdLimitSeconds: {
    help: 'seconds a caller may keep a call on hold (its music is never heard in the room) before it is hung up (off: no limit)',
    parse: (text) => {
      const s = String(text).trim().toLowerCase();
      if (['', 'off', 'none', '0'].includes(s)) return 0;
      const n = /^\d{1,9}$/.test(s) ? Number(s) : NaN;
      if (!Number.isInteger(n) || n < HOLD_LIMIT_MIN || n > HOLD_LIMIT_MAX) {
        throw new BoxError(400, `holdLimitSeconds must be off or ${HOLD_LIMIT_MIN} to ${HOLD_LIMIT_MAX} seconds, not "${s.slice(0, 24)}"`, 'holdLimitSeconds');
      }
      return n;
    },
  },
  localAudioRoom: {
    help: 'room whose conferences the box\'s own microphone and speaker join, like a speakerphone (off: none)',
    parse: (text) => {
      const s = String(text).trim().toLowerCase();
      if (['', 'off', 'none', '0'].includes(s)) return 0;
      const n = /^\d{1,9}$/.test(s) ? Number(s) : NaN;
      if (!Number.isInteger(n) || n < ROOM_ID_MIN || n > ROOM_ID_MAX) {
        throw new BoxError(400, `localAudioRoom must be a room number from ${ROOM_ID_MIN} to ${ROOM_ID_MAX}, or off, not "${s.slice(0, 24)}"`, 'localAudioRoom');
      }
      return n;
    },
  },
  localAudioCapture: { help: 'ALSA device of the box\'s microphone (board: the board profile\'s)', parse: alsaDevice('localAudioCapture') },
  localAudioPlayback: { help: 'ALSA device of the box\'s speaker (board: the board profile\'s)', parse: alsaDevice('localAudioPlayback') },
  webHostNames: {
    help: 'other names the web page answers to, e.g. confbox.office.lan (its addresses, localhost and its host name always work)',
    parse: (text) => {
      const names = String(text).split(/[\s,]+/).map((n) => n.toLowerCase().replace(/\.$/, '')).filter(Boolean);
      const bad = names.find((n) => n.length > 253 || !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(n));
      if (bad !== undefined) throw new BoxError(400, `webHostNames must be host names such as confbox.office.lan, separated by commas, not "${bad.slice(0, 40)}"`, 'webHostNames');
      if (names.length > 16) throw new BoxError(400, 'webHostNames takes at most 16 names', 'webHostNames');
      return [...new Set(names)].join(',');
    },
  },
  httpRedirect: { help: 'plain HTTP sends browsers to the HTTPS page (on/off; off: HTTP serves the page too, passwords then cross the network in clear)', parse: onOff('httpRedirect') },
  refuseEasyPins: { help: 'rooms added or edited on the page, the API or the command line may not have an easy PIN: shorter than 4 digits, one digit repeated, a run like 1234 or 9876, a repeated pair like 1212, or the room number (on/off)', parse: onOff('refuseEasyPins') },
};

export function isSettingName(name: string): name is keyof Settings {
  return Object.prototype.hasOwnProperty.call(SETTINGS, name);
}

export function parseSetting<K extends keyof Settings>(name: K, text: string): Settings[K] {
  return SETTINGS[name].parse(text);
}
