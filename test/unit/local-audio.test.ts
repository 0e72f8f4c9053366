// When the box's own microphone and speaker (the local leg) join and leave a room's conference, and what the status
// model says about them: the rules of firmware/local-audio.ts against the real conference rules (fake clock) and the
// mock engine, whose local legs are driven as the engine's device thread would (setLocalState).
import { ECHO_DEFAULT, type AudioDevices } from '../../firmware/hw/index.ts';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { Conferences, type Conference } from '../../firmware/conference/conferences.ts';
import { alsaDeviceAllowed, checkAlsaDevice, parseSetting } from '../../firmware/conference/settings.ts';
import { DEFAULT_SETTINGS, type Room, type Settings } from '../../firmware/conference/types.ts';
import { BoxError } from '../../firmware/errors.ts';
import { LOCAL_PARTICIPANT, LocalAudio, type LocalAudioRooms } from '../../firmware/local-audio.ts';
import { createLogger } from '../../firmware/log.ts';
import { MockEngine } from '../../firmware/media/mock-engine.ts';
import { Status } from '../../firmware/status.ts';

const BOARD = { name: 'rpi4', audio: { capture: 'plughw:1,0', playback: 'plughw:1,0', echo: { ...ECHO_DEFAULT } } };
const settle = () => new Promise((resolve) => setImmediate(resolve));

function setup(o: { settings?: Partial<Settings>; board?: { name: string; audio: AudioDevices | null } } = {}) {
  const clock = new FakeClock();
  const settings: Settings = { ...DEFAULT_SETTINGS, ...o.settings };
  const engine = new MockEngine();
  const status = new Status();
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('debug', {}, (line) => logs.push(JSON.parse(line)));
  const announced: string[] = [];
  const records: string[] = [];
  let local: LocalAudio | null = null;
  const conferences = new Conferences(clock, () => settings, {
    warning: () => undefined,
    expired: () => undefined,
    changed: (c) => local?.conferenceChanged(c),
  });
  const rooms: LocalAudioRooms = {
    conferences,
    settings: () => settings,
    joinLocal: (roomId, who) => {
      const c = conferences.joinInProgress(roomId, who);
      records.push(`join ${roomId} ${who.id}`);
      return c;
    },
    leave: (conf, id) => {
      const out = conferences.leave(conf.key, id);
      records.push(`leave ${conf.roomId} ${id}${out?.ended ? ' ended' : ''}`);
    },
  };
  local = new LocalAudio({
    engine, rooms, status, log, board: o.board === undefined ? BOARD : o.board, pollMs: 0,
    announce: { joined: (c) => announced.push(`joined ${c.roomId}`), left: (c) => announced.push(`left ${c.roomId}`) },
  });
  const room = (id: number, max: number | null = null): Room => ({
    id, pin: '1234', duration: 60, creator: null, maxParticipants: max, createdAt: new Date(clock.now()), createdVia: 'web', keep: false, moderatorPin: null, record: false, waitForModerator: false, moderatorLeaves: 'continue',
  });
  const phone = (r: Room, n: string): Conference =>
    conferences.join(r, r.id, r.pin, { id: `call-${n}`, caller: n, displayName: '', source: '192.0.2.1' });
  const localLegs = () => [...engine.legs].filter(([, l]) => l.local);
  const leg = () => {
    const legs = localLegs();
    assert.is(legs.length, 1, 'one local leg is open');
    return legs[0]![0];
  };
  return { clock, settings, engine, status, logs, announced, records, conferences, local, room, phone, localLegs, leg };
}

test('a board without a sound card and no room asking for local audio: off, "no sound card (local audio not used)", no warning', () => {
  const b = setup({ board: { name: 'mock', audio: null }, settings: { localAudioRoom: 0 } });
  b.local.start();
  const s = b.status.get();
  assert.is(s.localAudio, 'off');
  assert.is(s.localAudioReason, 'no sound card (local audio not used)');
  assert.is(b.localLegs().length, 0);
  assert.not.ok(b.logs.some((l) => l.level === 'warn'), 'nothing to warn about');
  b.local.stop();
});

test('a board without a sound card: a room asks for local audio: it is unavailable and says why; no leg is opened', () => {
  const b = setup({ board: { name: 'mock', audio: null }, settings: { localAudioRoom: 5 } });
  b.local.start();
  const s = b.status.get();
  assert.is(s.localAudio, 'unavailable');
  assert.match(s.localAudioReason, /no sound card: the board profile "mock"/);
  assert.is(b.localLegs().length, 0);
  assert.ok(b.logs.some((l) => l.level === 'warn' && /local audio unavailable/.test(String(l.msg))), 'a warning is logged');
  b.local.stop();
});

test('devices but no room attached: off, devices closed', () => {
  const b = setup();
  b.local.start();
  assert.is(b.status.get().localAudio, 'off');
  assert.match(b.status.get().localAudioReason, /localAudioRoom/);
  assert.is(b.localLegs().length, 0);
});

test('attached: the leg opens the board profile\'s devices, joins the room\'s conference when a caller starts one, and leaves with the last caller', async () => {
  const b = setup({ settings: { localAudioRoom: 5 } });
  b.local.start();
  const leg = b.leg();
  assert.equal(b.engine.legs.get(leg)!.local!.devices, { capture: 'plughw:1,0', playback: 'plughw:1,0', echo: ECHO_DEFAULT });
  b.engine.setLocalState(leg, 'ok', 'microphone "plughw:1,0", speaker "plughw:1,0" at 16000 Hz');
  await settle();
  assert.is(b.status.get().localAudio, 'ok');
  assert.is(b.status.get().localAudioRoom, 5);
  assert.is(b.status.get().localAudioInConference, false, 'no conference yet');

  const r5 = b.room(5);
  const conf = b.phone(r5, '100');
  await settle();
  assert.ok(conf.participants.has(LOCAL_PARTICIPANT.id), 'the local participant is in the conference');
  assert.is(conf.participants.size, 2, 'and counts as a participant');
  assert.is(b.engine.legs.get(leg)!.conference, conf.key, 'its leg is in the engine\'s conference');
  assert.is(b.status.get().localAudioInConference, true);
  assert.equal(b.announced, [], 'at the start the caller\'s own answer announces the room, not the local leg');

  b.phone(r5, '101');
  b.conferences.leave(conf.key, 'call-100');
  await settle();
  assert.is(conf.participants.size, 2, 'the local leg stays while a caller is there');
  b.conferences.leave(conf.key, 'call-101');
  await settle();
  assert.is(b.conferences.get(conf.key), undefined, 'with the last caller gone the local leg leaves and the conference ends');
  assert.equal(b.records, ['join 5 local-audio', 'leave 5 local-audio ended']);
  assert.is(b.engine.legs.get(leg)!.conference, null);
  assert.is(b.status.get().localAudioInConference, false);

  const again = b.phone(r5, '102');
  await settle();
  assert.ok(again.participants.has(LOCAL_PARTICIPANT.id), 'the next conference in the room gets it again');
  b.local.stop();
  assert.ok(!again.participants.has(LOCAL_PARTICIPANT.id), 'stop leaves the conference');
  assert.is(b.localLegs().length, 0, 'and closes the leg');
  assert.equal(b.announced, [], 'quietly');
});

test('a device that fails is reported; the leg leaves the conference (the others hear it) and rejoins when it is back', async () => {
  const b = setup({ settings: { localAudioRoom: 5 } });
  b.local.start();
  const leg = b.leg();
  b.engine.setLocalState(leg, 'ok', 'microphone ok');
  const r5 = b.room(5, 4);
  const conf = b.phone(r5, '100');
  b.phone(r5, '101');
  await settle();
  assert.is(conf.participants.size, 3);

  b.engine.setLocalState(leg, 'unavailable', 'capture device "plughw:1,0" lost: No such device');
  await settle();
  const s = b.status.get();
  assert.is(s.localAudio, 'unavailable');
  assert.match(s.localAudioReason, /lost: No such device/);
  assert.ok(!conf.participants.has(LOCAL_PARTICIPANT.id), 'out of the conference while the device is away');
  assert.equal(b.announced, ['left 5']);
  assert.is(b.localLegs().length, 1, 'the leg stays open: the engine retries the device');

  b.engine.setLocalState(leg, 'ok', 'microphone ok');
  await settle();
  assert.ok(conf.participants.has(LOCAL_PARTICIPANT.id), 'back in the conference');
  assert.equal(b.announced, ['left 5', 'joined 5'], 'the others hear it come back');
  assert.is(b.status.get().localAudio, 'ok');
  const warnings = b.logs.filter((l) => l.level === 'warn').map((l) => String(l.reason));
  assert.equal(warnings, ['capture device "plughw:1,0" lost: No such device'], 'one warning for the loss');
});

test('a device that is away when a conference starts: callers are alone (no local participant) until it comes', async () => {
  const b = setup({ settings: { localAudioRoom: 5 } });
  b.local.start();
  const leg = b.leg();
  b.engine.setLocalState(leg, 'unavailable', 'capture device "plughw:1,0" cannot be opened: No such file or directory');
  const conf = b.phone(b.room(5), '100');
  await settle();
  assert.is(conf.participants.size, 1);
  b.engine.setLocalState(leg, 'ok', 'microphone ok');
  await settle();
  assert.is(conf.participants.size, 2);
  assert.equal(b.announced, ['joined 5'], 'the caller alone stops hearing waiting music and hears the join tone');
});

test('a full room keeps the local leg out until a place is free; the status says why', async () => {
  const b = setup({ settings: { localAudioRoom: 5, maxParticipants: 2 } });
  b.local.start();
  const leg = b.leg();
  const r5 = b.room(5);
  const conf = b.phone(r5, '100');
  b.phone(r5, '101');
  b.engine.setLocalState(leg, 'ok', 'microphone ok');
  await settle();
  assert.ok(!conf.participants.has(LOCAL_PARTICIPANT.id));
  assert.is(b.status.get().localAudio, 'ok');
  assert.match(b.status.get().localAudioReason, /room 5 is full \(2 participants\)/);
  b.conferences.leave(conf.key, 'call-101');
  await settle();
  assert.ok(conf.participants.has(LOCAL_PARTICIPANT.id), 'joins when a place is free');
  assert.not.match(b.status.get().localAudioReason, /full/);
});

test('settings: a device override reopens the leg; another room moves it; off closes it', async () => {
  const b = setup({ settings: { localAudioRoom: 5 } });
  b.local.start();
  const first = b.leg();
  b.engine.setLocalState(first, 'ok', 'ok');
  const c5 = b.phone(b.room(5), '100');
  b.phone(b.room(5), '101');
  const c6 = b.phone(b.room(6), '200');
  await settle();
  assert.ok(c5.participants.has(LOCAL_PARTICIPANT.id));

  b.settings.localAudioRoom = 6;
  b.local.refresh();
  await settle();
  assert.ok(!c5.participants.has(LOCAL_PARTICIPANT.id), 'out of room 5');
  assert.ok(c6.participants.has(LOCAL_PARTICIPANT.id), 'into room 6');
  assert.equal(b.announced, ['left 5', 'joined 6']);

  b.settings.localAudioCapture = 'plughw:2,0';
  b.local.refresh();
  const second = b.leg();
  assert.is.not(second, first, 'a new leg for the new device');
  assert.equal(b.engine.legs.get(second)!.local!.devices, { capture: 'plughw:2,0', playback: 'plughw:1,0', echo: ECHO_DEFAULT });
  assert.ok(!c6.participants.has(LOCAL_PARTICIPANT.id), 'out until the new device works');
  b.engine.setLocalState(second, 'ok', 'ok');
  await settle();
  assert.ok(c6.participants.has(LOCAL_PARTICIPANT.id));

  b.settings.localAudioRoom = 0;
  b.local.refresh();
  assert.is(b.localLegs().length, 0);
  assert.is(b.status.get().localAudio, 'off');
  assert.is(b.status.get().localAudioRoom, null);
  assert.ok(!c6.participants.has(LOCAL_PARTICIPANT.id));
});

test('the settings: localAudioRoom is a room number or off; the devices are ALSA names or the board\'s', () => {
  assert.is(DEFAULT_SETTINGS.localAudioRoom, 0);
  assert.is(parseSetting('localAudioRoom', '12'), 12);
  for (const off of ['off', '0', '', 'none']) assert.is(parseSetting('localAudioRoom', off), 0);
  for (const bad of ['201', '-1', 'five', '1.5']) {
    try {
      parseSetting('localAudioRoom', bad);
      assert.unreachable(`"${bad}" is refused`);
    } catch (e) {
      assert.instance(e, BoxError);
      assert.match((e as Error).message, /localAudioRoom must be a room number from 1 to 200, or off/);
    }
  }
  assert.is(parseSetting('localAudioCapture', 'plughw:CARD=Device,DEV=0'), 'plughw:CARD=Device,DEV=0');
  assert.is(parseSetting('localAudioPlayback', 'board'), '');
  assert.is(parseSetting('localAudioPlayback', ''), '');
  assert.throws(() => parseSetting('localAudioCapture', 'hw:1, 0'), /localAudioCapture must be an ALSA device name/);
});

test('device settings that would run a command or name a plugin are refused with the setting named', () => {
  const attacks = [
    "file:'|touch${IFS}/tmp/x',raw", 'file:"|id",raw', "file:|id", 'plug:{type file file "|id"}', 'hw:0, 0', "hw:0,0'",
    'file:/tmp/x,raw', '/dev/snd/pcmC0D0c', 'default;id', 'plughw:1,0|id', 'tee:{', 'x'.repeat(40),
  ];
  for (const bad of attacks) {
    let refused = false;
    try {
      checkAlsaDevice('localAudioCapture', parseSetting('localAudioCapture', bad), []);
    } catch (e) {
      refused = true;
      assert.instance(e, BoxError);
      assert.is((e as BoxError).field, 'localAudioCapture', `the error of ${bad} names the setting`);
      assert.is((e as BoxError).sipStatus, 400);
    }
    assert.ok(refused, `${bad} is refused`);
  }
  // simple arguments are a plugin's too: only the names of sound cards, or what ALSA itself lists, get through
  assert.throws(() => checkAlsaDevice('localAudioPlayback', parseSetting('localAudioPlayback', 'file:x,raw'), ['hw:CARD=Device,DEV=0']),
    /localAudioPlayback "file:x,raw" is not a sound device of this box: .*\(hw:CARD=Device,DEV=0\)/);
});

test('device settings take the names of sound cards and the names ALSA lists on the box', () => {
  for (const ok of ['default', 'sysdefault', 'hw:0', 'hw:1,0', 'plughw:1,0', 'plughw:CARD=Device,DEV=0', 'sysdefault:CARD=Headphones', 'dsnoop:CARD=Device,DEV=0', 'front:1,0']) {
    assert.ok(alsaDeviceAllowed(parseSetting('localAudioCapture', ok), []), `${ok} is allowed`);
  }
  for (const unlisted of ['pulse', 'confbox_room_mic', 'null', 'file:x', 'hw:CARD=a b']) assert.not.ok(alsaDeviceAllowed(unlisted, []), `${unlisted} needs listing`);
  assert.ok(alsaDeviceAllowed('confbox_room_mic', ['null', 'confbox_room_mic']), 'a name ALSA lists');
  assert.not.ok(alsaDeviceAllowed("file:'|id'", ["file:'|id'"]), 'never a listed name of the wrong shape');
});

test('a stored device setting that is not a sound device of the box never reaches the engine; the status says why', async () => {
  const b = setup({ settings: { localAudioRoom: 5, localAudioCapture: "file:'|touch${IFS}/tmp/x',raw" } });
  b.local.start();
  await settle();
  assert.is(b.localLegs().length, 0, 'no local leg opened');
  assert.not.ok(b.engine.calls.some((c) => c.method === 'openLocalLeg'), 'the engine was never asked to open it');
  assert.is(b.status.get().localAudio, 'unavailable');
  assert.match(String(b.status.get().localAudioReason), /localAudioCapture "file:'\|touch\$\{IFS\}\/tmp\/x',raw" is not a sound device of this box/);

  b.settings.localAudioCapture = 'room_mic';
  b.local.refresh();
  await settle();
  assert.is(b.localLegs().length, 0, 'a name ALSA does not list is refused too');
  b.engine.alsaDeviceList = ['null', 'room_mic'];
  b.settings.localAudioCapture = '';
  b.local.refresh();
  b.settings.localAudioCapture = 'room_mic';
  b.local.refresh();
  assert.equal(b.engine.legs.get(b.leg())!.local!.devices, { capture: 'room_mic', playback: 'plughw:1,0', echo: ECHO_DEFAULT }, 'listed by ALSA: opened');
  b.local.stop();
});

test.run();
