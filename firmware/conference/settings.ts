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

/** An ALSA device name, or "" (also "board") for the board profile's device. */
function alsaDevice(name: string): Parser<never> {
  return ((text: string) => {
    const s = String(text).trim();
    if (s === '' || s.toLowerCase() === 'board') return '';
    if (!/^[\x21-\x7e]{1,127}$/.test(s)) {
      throw new BoxError(400, `${name} must be an ALSA device name such as plughw:1,0 (no spaces), or "board" for the board profile's, not "${s.slice(0, 24)}"`, name);
    }
    return s;
  }) as Parser<never>;
}

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
    help: 'digest algorithms offered to phones, in order: SHA-256,MD5 or MD5 or SHA-256 or MD5,SHA-256',
    parse: (text) => {
      const list = String(text).split(',').map((a) => a.trim().toUpperCase()).filter(Boolean);
      const ok = list.length > 0 && list.length <= 2 && new Set(list).size === list.length && list.every((a) => a === 'MD5' || a === 'SHA-256');
      if (!ok) throw new BoxError(400, `digestAlgorithms must list MD5 and/or SHA-256, e.g. "SHA-256,MD5", not "${String(text).slice(0, 24)}"`, 'digestAlgorithms');
      return list.join(',');
    },
  },
  symmetricRtp: {
    help: 'for phones behind NAT: send audio back to where it comes from (on/off)',
    parse: (text) => {
      const s = String(text).trim().toLowerCase();
      if (['on', 'true', 'yes', '1'].includes(s)) return true;
      if (['off', 'false', 'no', '0'].includes(s)) return false;
      throw new BoxError(400, `symmetricRtp must be on or off, not "${s.slice(0, 24)}"`, 'symmetricRtp');
    },
  },
  rtpTimeoutSeconds: { help: 'seconds without audio after which a participant is hung up', parse: range('rtpTimeoutSeconds', 5, 3600, ' seconds') },
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
};

export function isSettingName(name: string): name is keyof Settings {
  return Object.prototype.hasOwnProperty.call(SETTINGS, name);
}

export function parseSetting<K extends keyof Settings>(name: K, text: string): Settings[K] {
  return SETTINGS[name].parse(text);
}
