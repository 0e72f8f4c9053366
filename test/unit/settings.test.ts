// The box's settings read from text: the rule a browser is given for a typed setting is the one the box applies,
// and a refused value is named as the caller asks (the setting's name by default, a page's label on the page).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BoxError } from '../../firmware/errors.ts';
import { checkAlsaDevice, followsRule, parseSetting, SETTINGS } from '../../firmware/conference/settings.ts';
import type { Settings } from '../../firmware/conference/types.ts';

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

test.run();
