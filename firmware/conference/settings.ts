import { BoxError } from '../errors.ts';
import { PARTICIPANTS_MAX, PARTICIPANTS_MIN, ROOM_ID_MAX, ROOM_ID_MIN } from './validate.ts';
import type { Settings } from './types.ts';

/** Reads a setting from text; a bad value throws a BoxError for the setting, whose message calls it `subject` (its name unless told). */
type Parser<K extends keyof Settings> = (text: string, subject?: string) => Settings[K];

/**
 * The rule of a setting that is typed rather than chosen, in the terms of a form's input (so that a browser can
 * check a value as it is typed) and in words. The setting's parser applies this same rule (see followsRule).
 */
export interface SettingRule {
  /** What the whole value must look like: a regular expression without anchors, as an input's pattern attribute. */
  pattern: string;
  /** The smallest and the largest number taken, for a value of digits. */
  min?: number;
  max?: number;
  /** Words taken besides what pattern, min and max allow, in any case ("" included: the value may be left empty). */
  words?: readonly string[];
  /** The rule in words, with what the value is called as its subject: "SUBJECT must be …". */
  says(subject: string): string;
}

/** Whether a value (trimmed) keeps a rule, judged as a browser checks it: a word it lists, or the pattern and, for digits, min and max. */
export function followsRule(rule: SettingRule, text: string): boolean {
  const s = String(text).trim();
  if (rule.words?.includes(s.toLowerCase())) return true;
  if (!new RegExp(`^(?:${rule.pattern})$`).test(s)) return false;
  if (!/^\d+$/.test(s)) return true;
  const n = Number(s);
  return (rule.min === undefined || n >= rule.min) && (rule.max === undefined || n <= rule.max);
}

/** A setting's parser with the rule it applies. */
interface RuledParser {
  parse: Parser<never>;
  rule: SettingRule;
}

function refused(name: keyof Settings, rule: SettingRule, subject: string, value: string): BoxError {
  return new BoxError(400, `${rule.says(subject)}, not "${value.slice(0, 24)}"`, name);
}

/** A whole number from min to max. */
function range(name: keyof Settings, min: number, max: number, unit = ''): RuledParser {
  const rule: SettingRule = { pattern: '\\d{1,9}', min, max, says: (subject) => `${subject} must be a whole number from ${min} to ${max}${unit}` };
  const parse = (text: string, subject: string = name) => {
    const s = String(text).trim();
    if (!followsRule(rule, s)) throw refused(name, rule, subject, s);
    return Number(s);
  };
  return { parse: parse as Parser<never>, rule };
}

/** Words that switch off a setting whose value is otherwise a number (stored as 0). */
const OFF_WORDS = ['', 'off', 'none', '0'] as const;

/** A whole number from min to max, or off (0). */
function numberOrOff(name: keyof Settings, min: number, max: number, says: (subject: string) => string): RuledParser {
  const rule: SettingRule = { pattern: '\\d{1,9}', min, max, words: OFF_WORDS, says };
  const parse = (text: string, subject: string = name) => {
    const s = String(text).trim().toLowerCase();
    if (!followsRule(rule, s)) throw refused(name, rule, subject, s);
    return (OFF_WORDS as readonly string[]).includes(s) ? 0 : Number(s);
  };
  return { parse: parse as Parser<never>, rule };
}

/**
 * What an ALSA device name may look like before it is even considered: a PCM name, optionally with
 * simple arguments (`plughw:1,0`, `hw:CARD=Device,DEV=0`). Never plugin definitions, quotes, paths or
 * pipes: ALSA's file plugin runs any command a name like `file:'|cmd'` gives it.
 */
const ALSA_NAME = '[A-Za-z_][A-Za-z0-9_]{0,31}(:[A-Za-z0-9_]{1,32}(=[A-Za-z0-9_]{1,32})?(,[A-Za-z0-9_]{1,32}(=[A-Za-z0-9_]{1,32})?){0,3})?';
const ALSA_SHAPE = new RegExp(`^(?:${ALSA_NAME})$`);
/** Names every ALSA installation resolves to a sound card: the default devices and a card's hardware, by number or name. */
const ALSA_CARD_NAME = /^(default|sysdefault)$|^(hw|plughw|default|sysdefault|dsnoop|dmix|front):(\d{1,2}(,\d{1,2})?|CARD=[A-Za-z0-9_]{1,32}(,DEV=\d{1,2})?)$/;

function onOff(name: keyof Settings): Parser<never> {
  return ((text: string, subject: string = name) => {
    const s = String(text).trim().toLowerCase();
    if (['on', 'true', 'yes', '1'].includes(s)) return true;
    if (['off', 'false', 'no', '0'].includes(s)) return false;
    throw new BoxError(400, `${subject} must be on or off, not "${s.slice(0, 24)}"`, name);
  }) as Parser<never>;
}

/** An ALSA device name, or "" (also "board") for the board profile's device. */
function alsaDevice(name: keyof Settings): RuledParser {
  const rule: SettingRule = {
    pattern: ALSA_NAME,
    words: ['', 'board'],
    says: (subject) => `${subject} must be an ALSA device name such as plughw:1,0 or hw:CARD=Device,DEV=0, or "board" for the board profile's (no spaces, quotes, paths, pipes or plugin settings)`,
  };
  const parse = (text: string, subject: string = name) => {
    const s = String(text).trim();
    if (!followsRule(rule, s)) throw refused(name, rule, subject, s);
    return s.toLowerCase() === 'board' ? '' : s;
  };
  return { parse: parse as Parser<never>, rule };
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

/** Throws a BoxError for the setting `name` (called `subject` in the message) when a device name is not one alsaDeviceAllowed takes. */
export function checkAlsaDevice(name: string, device: string, listed: readonly string[], subject: string = name): void {
  if (device === '' || alsaDeviceAllowed(device, listed)) return;
  const known = listed.filter((d) => ALSA_SHAPE.test(d)).slice(0, 12);
  throw new BoxError(
    400,
    `${subject} "${device.slice(0, 40)}" is not a sound device of this box: use default, sysdefault, hw:CARD,DEVICE or plughw:CARD,DEVICE` +
      (known.length ? `, or one ALSA lists here (${known.join(', ')})` : ''),
    name,
  );
}

const LOCKOUT_FAILURES_MAX = 100;
const LOCKOUT_WINDOW_MAX_MINUTES = 1440;
const LOCKOUT_BLOCK_MAX_MINUTES = 10_080;
const RTP_TIMEOUT_MIN_SECONDS = 5;
const RTP_TIMEOUT_MAX_SECONDS = 3600;
const HOLD_LIMIT_MIN_SECONDS = 5;
const HOLD_LIMIT_MAX_SECONDS = 86_400;
const RECORDING_MIN_FREE_MB_MIN = 50;
const RECORDING_MIN_FREE_MB_MAX = 1_000_000;
const RECORDING_RETENTION_DAYS_MAX = 3650;

const REALM_RULE: SettingRule = {
  pattern: '[A-Za-z0-9][A-Za-z0-9._\\-]{0,63}',
  says: (subject) => `${subject} must be 1 to 64 letters, digits or . - _`,
};

/** One label of a host name (any case: names are stored in lower case). */
const HOST_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9\\-]{0,61}[A-Za-z0-9])?';
const HOST_NAME = new RegExp(`^${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);
export const HOST_NAMES_MAX = 16;
/** Host names separated by commas or spaces, each may end with a dot; none at all is taken too. */
const HOST_NAMES_RULE: SettingRule = {
  pattern: `[\\s,]*(?:${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?(?:[\\s,]+${HOST_LABEL}(?:\\.${HOST_LABEL})*\\.?)*[\\s,]*)?`,
  says: (subject) => `${subject} must be host names such as confbox.office.lan, separated by commas`,
};

/** Every box setting with its validation; the command line and the web page both use these. */
export const SETTINGS: { [K in keyof Settings]: { help: string; parse: Parser<K>; rule?: SettingRule } } = {
  maxParticipants: { help: 'participants allowed in one room', ...range('maxParticipants', PARTICIPANTS_MIN, PARTICIPANTS_MAX) },
  lockoutFailures: { help: 'failed passwords or PINs that block an address or a caller behind a peer (twice as many close an extension or a room, ten times a peer)', ...range('lockoutFailures', 1, LOCKOUT_FAILURES_MAX) },
  lockoutWindowMinutes: { help: 'minutes within which those failures count', ...range('lockoutWindowMinutes', 1, LOCKOUT_WINDOW_MAX_MINUTES, ' minutes') },
  lockoutBlockMinutes: { help: 'minutes an address or caller stays blocked (the longest block of an extension or a room)', ...range('lockoutBlockMinutes', 1, LOCKOUT_BLOCK_MAX_MINUTES, ' minutes') },
  realm: {
    help: 'SIP digest realm (changing it means setting every extension password again)',
    rule: REALM_RULE,
    parse: (text, subject = 'realm') => {
      const s = String(text).trim();
      if (!followsRule(REALM_RULE, s)) throw refused('realm', REALM_RULE, subject, s);
      return s;
    },
  },
  digestAlgorithms: {
    help: 'digest algorithms offered to phones: auto (MD5 to a new phone, SHA-256 to each phone that shows it can), or a fixed list in order: MD5,SHA-256 or SHA-256,MD5 or MD5 or SHA-256',
    parse: (text, subject = 'digestAlgorithms') => {
      if (String(text).trim().toLowerCase() === 'auto') return 'auto';
      const list = String(text).split(',').map((a) => a.trim().toUpperCase()).filter(Boolean);
      const ok = list.length > 0 && list.length <= 2 && new Set(list).size === list.length && list.every((a) => a === 'MD5' || a === 'SHA-256');
      if (!ok) throw new BoxError(400, `${subject} must be auto, or list MD5 and/or SHA-256, e.g. "SHA-256,MD5", not "${String(text).slice(0, 24)}"`, 'digestAlgorithms');
      return list.join(',');
    },
  },
  symmetricRtp: { help: 'for phones behind NAT: send audio back to where it comes from (on/off)', parse: onOff('symmetricRtp') },
  srtp: {
    help: 'audio encryption (SRTP): optional = when the phone offers it, required = calls without it are refused, off = never',
    parse: (text, subject = 'srtp') => {
      const s = String(text).trim().toLowerCase();
      if (s === 'off' || s === 'optional' || s === 'required') return s;
      throw new BoxError(400, `${subject} must be off, optional or required, not "${s.slice(0, 24)}"`, 'srtp');
    },
  },
  rtpTimeoutSeconds: { help: 'seconds without audio after which a participant is hung up', ...range('rtpTimeoutSeconds', RTP_TIMEOUT_MIN_SECONDS, RTP_TIMEOUT_MAX_SECONDS, ' seconds') },
  holdLimitSeconds: {
    help: 'seconds a caller may keep a call on hold (its music is never heard in the room) before it is hung up (off: no limit)',
    ...numberOrOff('holdLimitSeconds', HOLD_LIMIT_MIN_SECONDS, HOLD_LIMIT_MAX_SECONDS, (subject) => `${subject} must be off or ${HOLD_LIMIT_MIN_SECONDS} to ${HOLD_LIMIT_MAX_SECONDS} seconds`),
  },
  localAudioRoom: {
    help: 'room whose conferences the box\'s own microphone and speaker join, like a speakerphone (off: none)',
    ...numberOrOff('localAudioRoom', ROOM_ID_MIN, ROOM_ID_MAX, (subject) => `${subject} must be a room number from ${ROOM_ID_MIN} to ${ROOM_ID_MAX}, or off`),
  },
  localAudioCapture: { help: 'ALSA device of the box\'s microphone (board: the board profile\'s)', ...alsaDevice('localAudioCapture') },
  localAudioPlayback: { help: 'ALSA device of the box\'s speaker (board: the board profile\'s)', ...alsaDevice('localAudioPlayback') },
  webHostNames: {
    help: 'other names the web page answers to, e.g. confbox.office.lan (its addresses, localhost and its host name always work)',
    rule: HOST_NAMES_RULE,
    parse: (text, subject = 'webHostNames') => {
      const names = String(text).split(/[\s,]+/).filter(Boolean).map((n) => n.toLowerCase().replace(/\.$/, ''));
      const bad = names.find((n) => n.length > 253 || !HOST_NAME.test(n));
      if (bad !== undefined) throw refused('webHostNames', HOST_NAMES_RULE, subject, bad);
      if (names.length > HOST_NAMES_MAX) throw new BoxError(400, `${subject} takes at most ${HOST_NAMES_MAX} names`, 'webHostNames');
      return [...new Set(names)].join(',');
    },
  },
  httpRedirect: { help: 'plain HTTP sends browsers to the HTTPS page (on/off; off: HTTP serves the page too, passwords then cross the network in clear)', parse: onOff('httpRedirect') },
  recordingMinFreeMb: {
    help: 'a recording does not start, and the moderator hears why, with less free space than this (MB) on the box\'s disk',
    ...range('recordingMinFreeMb', RECORDING_MIN_FREE_MB_MIN, RECORDING_MIN_FREE_MB_MAX, ' MB'),
  },
  recordingRetentionDays: {
    help: 'recordings older than this many days are deleted (off: kept until deleted on the page)',
    ...numberOrOff('recordingRetentionDays', 1, RECORDING_RETENTION_DAYS_MAX, (subject) => `${subject} must be off or 1 to ${RECORDING_RETENTION_DAYS_MAX} days`),
  },
  refuseEasyPins: { help: 'rooms added or edited on the page, the API or the command line may not have an easy PIN: shorter than 4 digits, one digit repeated, a run like 1234 or 9876, a repeated pair like 1212, or the room number (on/off)', parse: onOff('refuseEasyPins') },
};

export function isSettingName(name: string): name is keyof Settings {
  return Object.prototype.hasOwnProperty.call(SETTINGS, name);
}

/** Reads a setting from text; a bad value's message calls it `subject` (its name unless told). */
export function parseSetting<K extends keyof Settings>(name: K, text: string, subject: string = name): Settings[K] {
  return SETTINGS[name].parse(text, subject);
}
