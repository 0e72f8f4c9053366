// The box's settings read from text: the rule a browser is given for a typed setting is the one the box applies,
// and a refused value is named as the caller asks (the setting's name by default, a page's label on the page).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BoxError } from '../../firmware/errors.ts';
import { refusal } from '../support/refusal.ts';
import { readFileSync } from 'node:fs';
import { alsaDeviceAllowed, checkAlsaDevice, followsRule, HOST_NAMES_MAX, isSettingName, parseSetting, SETTINGS } from '../../firmware/conference/settings.ts';
import { DEFAULT_SETTINGS, type Settings } from '../../firmware/conference/types.ts';

const SETTING_NAMES = Object.keys(SETTINGS) as Array<keyof Settings>;

const SAMPLES = [
  '', ' ', '0', '00', '1', '2', '4', '5', '32', '33', '100', '101', '200', '201', '1440', '1441', '3600', '3601', '10080', '10081',
  '86400', '86401', '9999999999', 'off', 'OFF', ' none ', 'board', 'Board', 'five', '1.5', '-1', '+5', '5 ',
  'has space', 'confbox', 'a.b-c_d', '.start', 'x'.repeat(64), 'x'.repeat(65), 'plughw:1,0', 'hw:CARD=Device,DEV=0', "file:'|id'",
  'tee:{', 'confbox.office.lan', 'A.lan, b.corp.', 'bad_name!', 'a..', '.', 'a,,b c', '-a.lan', 'a-.lan',
];

test('every typed setting has a rule, and a value keeps it exactly when the box takes it', () => {
  const typed = SETTING_NAMES.filter((name) => SETTINGS[name].rule);
  assert.equal(typed, [
    'maxParticipants', 'lockoutFailures', 'lockoutWindowMinutes', 'lockoutBlockMinutes', 'realm', 'rtpTimeoutSeconds', 'holdLimitSeconds',
    'localAudioRoom', 'localAudioCapture', 'localAudioPlayback', 'webHostNames', 'recordingMinFreeMb', 'recordingRetentionDays',
  ]);
  for (const name of typed) {
    const rule = SETTINGS[name].rule!;
    for (const value of SAMPLES) {
      let taken = true;
      try {
        parseSetting(name, value);
      } catch (e) {
        assert.instance(e, BoxError);
        taken = false;
      }
      assert.is(followsRule(rule, value), taken, `${name} = ${JSON.stringify(value)}`);
    }
  }
});

test('a refused value is named as asked: the setting\'s name by default, otherwise the subject given, with the rule in words', () => {
  const subject = 'Hang up after silence (seconds)';
  assert.throws(() => parseSetting('rtpTimeoutSeconds', '3'), /^rtpTimeoutSeconds must be a whole number from 5 to 3600 seconds, not "3"$/);
  try {
    parseSetting('rtpTimeoutSeconds', '3', subject);
    assert.unreachable('3 seconds is refused');
  } catch (e) {
    assert.is((e as Error).message, `${subject} must be a whole number from 5 to 3600 seconds, not "3"`);
    assert.is((e as BoxError).field, 'rtpTimeoutSeconds', 'the error still belongs to the setting');
  }
  for (const name of SETTING_NAMES) {
    const rule = SETTINGS[name].rule;
    if (rule) assert.ok(rule.says('The label').startsWith('The label must'), `${name}: "${rule.says('The label')}"`);
  }
  assert.throws(() => parseSetting('srtp', 'sometimes', 'Audio encryption'), /^Audio encryption must be off, optional or required/);
  assert.throws(() => parseSetting('symmetricRtp', 'maybe', 'Phones behind NAT'), /^Phones behind NAT must be on or off/);
  assert.throws(() => checkAlsaDevice('localAudioPlayback', 'confbox_none', [], 'Box speaker'), /^Box speaker "confbox_none" is not a sound device of this box/);
  assert.throws(() => parseSetting('webHostNames', Array.from({ length: 17 }, (_, i) => `n${i}.lan`).join(','), 'Other names'), /^Other names takes at most 16 names$/);
});

test('the README names every setting with its default, and the box starts with those', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const list = readme.slice(readme.indexOf('Settings: `'), readme.indexOf('The Settings page shows them'));
  for (const name of SETTING_NAMES) {
    const at = list.indexOf(`\`${name}\``);
    assert.ok(at >= 0, `the README's list of settings names ${name}`);
    const said = /\((`?)([^;:),`]+)\1[;:),]/.exec(list.slice(at, at + 80))?.[2];
    assert.ok(said !== undefined, `the README gives ${name}'s default`);
    const value = name === 'webHostNames' && said === 'none' ? '' : parseSetting(name, said!);
    assert.equal(value, DEFAULT_SETTINGS[name], `${name}: the README says ${said}`);
  }
});

test('what each setting takes and what it makes of it', () => {
  const takes = <K extends keyof Settings>(name: K, cases: Array<[string, Settings[K]]>) => {
    for (const [text, value] of cases) assert.equal(parseSetting(name, text), value, `${name} = ${JSON.stringify(text)}`);
  };
  const refuses = (name: keyof Settings, texts: string[]) => {
    for (const text of texts) assert.throws(() => parseSetting(name, text), (e: unknown) => e instanceof BoxError && e.sipStatus === 400 && e.field === name, `${name} refuses ${JSON.stringify(text)}`);
  };
  takes('maxParticipants', [['2', 2], [' 32 ', 32], ['007', 7]]);
  refuses('maxParticipants', ['1', '33', '', 'three', '2.5']);
  takes('lockoutFailures', [['1', 1], ['100', 100]]);
  refuses('lockoutFailures', ['0', '101']);
  takes('lockoutWindowMinutes', [['1', 1], ['1440', 1440]]);
  refuses('lockoutWindowMinutes', ['0', '1441']);
  takes('lockoutBlockMinutes', [['1', 1], ['10080', 10_080]]);
  refuses('lockoutBlockMinutes', ['0', '10081']);
  takes('rtpTimeoutSeconds', [['5', 5], ['3600', 3600]]);
  refuses('rtpTimeoutSeconds', ['4', '3601', 'off']);
  takes('holdLimitSeconds', [['off', 0], ['None', 0], ['', 0], ['0', 0], ['5', 5], ['86400', 86_400]]);
  refuses('holdLimitSeconds', ['4', '86401', 'never']);
  takes('localAudioRoom', [['off', 0], ['1', 1], ['200', 200]]);
  refuses('localAudioRoom', ['201', 'room 1']);
  takes('recordingMinFreeMb', [['50', 50], ['1000000', 1_000_000]]);
  refuses('recordingMinFreeMb', ['49', '1000001', 'off']);
  takes('recordingRetentionDays', [['off', 0], ['1', 1], ['3650', 3650]]);
  refuses('recordingRetentionDays', ['3651', 'forever']);
  takes('realm', [[' office.lan ', 'office.lan'], ['A_b-1', 'A_b-1'], ['x'.repeat(64), 'x'.repeat(64)]]);
  refuses('realm', ['', '.office', 'x'.repeat(65), 'two words', 'caf\u00e9']);
  takes('digestAlgorithms', [['AUTO', 'auto'], ['md5', 'MD5'], [' sha-256 , md5 ', 'SHA-256,MD5'], ['MD5,SHA-256', 'MD5,SHA-256']]);
  refuses('digestAlgorithms', ['', 'SHA-512', 'MD5,MD5', 'MD5,SHA-256,MD5']);
  takes('srtp', [['OFF', 'off'], [' optional', 'optional'], ['Required', 'required']]);
  refuses('srtp', ['on', 'yes']);
  for (const name of ['symmetricRtp', 'httpRedirect', 'refuseEasyPins'] as const) {
    takes(name, [['on', true], ['TRUE', true], ['yes', true], ['1', true], ['off', false], ['False', false], [' no ', false], ['0', false]]);
    refuses(name, ['', 'maybe', '2']);
  }
  for (const name of ['localAudioCapture', 'localAudioPlayback'] as const) {
    takes(name, [['board', ''], ['BOARD', ''], ['', ''], ['plughw:1,0', 'plughw:1,0'], ['hw:CARD=Device,DEV=0', 'hw:CARD=Device,DEV=0'], ['Mic', 'Mic']]);
    refuses(name, ["file:'|id'", 'hw:1,0|cat', '/dev/snd/pcmC0D0c', 'plug:{slave hw}', 'a b', 'x'.repeat(33)]);
  }
  takes('webHostNames', [['', ''], ['Confbox.Office.LAN.', 'confbox.office.lan'], ['a.lan, b.lan  a.lan', 'a.lan,b.lan'], [`${'a'.repeat(63)}.lan`, `${'a'.repeat(63)}.lan`]]);
  refuses('webHostNames', ['-a.lan', 'a-.lan', 'a..lan', 'under_score.lan', `${'a'.repeat(64)}.lan`, Array.from({ length: 17 }, (_, i) => `n${i}.lan`).join(' ')]);
  assert.ok(isSettingName('realm') && !isSettingName('toString') && !isSettingName('constructor'), 'only settings are setting names');
});

test('which sound devices may reach ALSA', () => {
  for (const d of ['default', 'sysdefault', 'hw:0', 'plughw:1,0', 'dsnoop:CARD=Mic,DEV=1', 'dmix:2', 'front:CARD=USB']) assert.ok(alsaDeviceAllowed(d, []), `${d} is a card's own name`);
  for (const d of ['mic', 'hw:123', 'hw:CARD=a b', 'plughw:1,0,0', "file:'|id'", 'null']) assert.not.ok(alsaDeviceAllowed(d, []), `${d} is not, unless ALSA lists it`);
  assert.ok(alsaDeviceAllowed('mic', ['speaker', 'mic']), 'a name ALSA lists here is taken');
  assert.not.ok(alsaDeviceAllowed("file:'|id'", ["file:'|id'"]), 'a name of the wrong shape is refused even when listed');
  checkAlsaDevice('localAudioCapture', '', []);
  checkAlsaDevice('localAudioCapture', 'mic', ['mic']);
  const listed = ['bad name', ...Array.from({ length: 14 }, (_, i) => `dev${i}`)];
  try {
    checkAlsaDevice('localAudioCapture', 'nope', listed);
    assert.unreachable('nope is refused');
  } catch (e) {
    assert.instance(e, BoxError);
    assert.is((e as BoxError).field, 'localAudioCapture');
    assert.is((e as Error).message, `localAudioCapture "nope" is not a sound device of this box: use default, sysdefault, hw:CARD,DEVICE or plughw:CARD,DEVICE, or one ALSA lists here (${listed.slice(1, 13).join(', ')})`);
  }
  assert.throws(() => checkAlsaDevice('localAudioCapture', 'nope', []), /plughw:CARD,DEVICE$/);
});

test('every setting explains itself where it is set: a hint on the Settings page, a line in confbox settings', () => {
  for (const name of SETTING_NAMES) assert.ok(SETTINGS[name].help.length >= 20 && /^[a-z]/i.test(SETTINGS[name].help), `${name}: "${SETTINGS[name].help}"`);
});

function refused(name: keyof Settings, text: string): BoxError {
  return refusal(() => parseSetting(name, text), `${name} "${text}"`);
}

test('at the edges: spaces trimmed, the unit in the words, what was typed shown back cut, each refusal naming its setting', () => {
  assert.is(parseSetting('maxParticipants', ' 12 '), 12);
  assert.is(parseSetting('holdLimitSeconds', ' OFF '), 0);
  assert.is(parseSetting('localAudioCapture', ' plughw:1,0 '), 'plughw:1,0');
  assert.is(parseSetting('localAudioCapture', 'board'), '');
  assert.is(parseSetting('digestAlgorithms', ' AUTO '), 'auto');
  assert.is(parseSetting('digestAlgorithms', ' sha-256 , md5 '), 'SHA-256,MD5');
  assert.is(refused('lockoutWindowMinutes', '0').message, `lockoutWindowMinutes must be a whole number from 1 to ${SETTINGS.lockoutWindowMinutes.rule!.max} minutes, not "0"`);
  assert.match(refused('recordingMinFreeMb', '0').message, / MB, not "0"$/);
  assert.is(refused('maxParticipants', '1234567890123456789012345678').message, 'maxParticipants must be a whole number from 2 to 32, not "123456789012345678901234"');
  assert.is(refused('srtp', 'sometimes-but-not-always-ok').message, 'srtp must be off, optional or required, not "sometimes-but-not-always"');
  for (const [name, text] of [['realm', 'has space'], ['digestAlgorithms', 'MD5,FOO'], ['srtp', 'maybe'], ['webHostNames', 'bad_name!']] as const) {
    const e = refused(name, text);
    assert.equal([e.field, e.message.startsWith(`${name} must`)], [name, true], `${name}: ${e.message}`);
  }
  assert.is(refused('digestAlgorithms', 'MD5,MD5').field, 'digestAlgorithms', 'an algorithm listed twice');
  assert.match(refused('digestAlgorithms', 'SHA-256,FOO,MD5,more').message, /not "SHA-256,FOO,MD5,more"$/);
});

test('numbers in rules: a value with anything around its digits is not a number, and a word the rule lists needs no number', () => {
  assert.is(followsRule(SETTINGS.holdLimitSeconds.rule!, 'off'), true);
  const rule = { pattern: '[0-9a-z]{1,4}', min: 10, max: 20, says: () => '' };
  for (const text of ['5x', 'x5']) assert.is(followsRule(rule, text), true, `${text}: not a number, so no bounds apply`);
  assert.is(followsRule(rule, '5'), false, 'a number below the bounds');
});

test('host names for the web page: up to 253 characters each and at most as many names as the box keeps', () => {
  const label = 'a'.repeat(63);
  const name253 = [label, label, label, 'b'.repeat(61)].join('.');
  assert.is(name253.length, 253);
  assert.is(parseSetting('webHostNames', name253), name253);
  assert.is(refused('webHostNames', `${name253}c`).field, 'webHostNames');
  const many = (n: number) => Array.from({ length: n }, (_, i) => `host${i}.office.lan`).join(' ');
  assert.is(String(parseSetting('webHostNames', many(HOST_NAMES_MAX))).split(',').length, HOST_NAMES_MAX);
  assert.is(refused('webHostNames', many(HOST_NAMES_MAX + 1)).message, `webHostNames takes at most ${HOST_NAMES_MAX} names`);
  assert.is(parseSetting('webHostNames', 'a.lan\tb.lan'), 'a.lan,b.lan', 'any white space separates names');
});

test('digest algorithms: a trailing comma is no algorithm; a long refused list is shown back cut at 24 characters', () => {
  assert.is(parseSetting('digestAlgorithms', 'MD5,'), 'MD5');
  assert.match(refused('digestAlgorithms', 'SHA-256,MD5,SHA-256,MD5,SHA-256').message, /not "SHA-256,MD5,SHA-256,MD5,"$/);
  assert.match(refused('lockoutBlockMinutes', '0').message, / minutes, not "0"$/);
});

test('sound devices: only a card\'s own names, whole: names that merely contain one are not a card', () => {
  for (const name of ['mydefault', 'defaults', 'sysdefault2', 'myhw:0', 'hw:0,1,2', 'hw:CARD=Device,DEV=0,x', 'plughw:100']) assert.is(alsaDeviceAllowed(name, []), false, name);
  for (const name of ['default', 'sysdefault', 'hw:0', 'plughw:1,0', 'hw:CARD=Device,DEV=0', 'dmix:CARD=Device', 'hw:10', 'plughw:0,10', 'hw:CARD=Device,DEV=12']) assert.is(alsaDeviceAllowed(name, []), true, name);
});

test('a sound device refused is shown back up to 40 characters', () => {
  const long = `hw:${'x'.repeat(50)}`;
  assert.throws(() => checkAlsaDevice('localAudioCapture', long, []), (e: unknown) => e instanceof BoxError && e.message.startsWith(`localAudioCapture "${long.slice(0, 40)}" is not`));
});

test.run();
