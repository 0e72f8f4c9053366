import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MockEngine } from '../../firmware/media/mock-engine.ts';
import { PROMPT_NAMES, promptsFrom } from '../../firmware/media/prompts.ts';
import { phraseClips, Voice, type Phrase } from '../../firmware/media/voice.ts';
import { silentLogger } from '../../firmware/log.ts';

const PHRASES: Phrase[] = [
  { kind: 'created', room: 2, minutes: 120 }, { kind: 'created', room: 200, minutes: 1 }, { kind: 'deleted', room: 17 },
  ...['not-found', 'wrong-pin', 'exists', 'full', 'blocked', 'not-creator', 'unavailable', 'not-allowed', 'invalid', 'locked', 'something-else'].map(
    (code) => ({ kind: 'rejection', code, room: 5 }) as Phrase,
  ),
  { kind: 'rejection', code: 'not-found' }, { kind: 'only' }, { kind: 'oneMinute' }, { kind: 'ended' },
  { kind: 'participants', count: 1 }, { kind: 'participants', count: 32 }, { kind: 'participants', count: 3, onHold: 1 }, { kind: 'muted', on: true }, { kind: 'muted', on: false },
  { kind: 'menuRoom' }, { kind: 'menuPin' }, { kind: 'menuRetry' }, { kind: 'goodbye' },
  { kind: 'locked', on: true }, { kind: 'locked', on: false }, { kind: 'allMuted', on: true }, { kind: 'allMuted', on: false },
  { kind: 'moderatorOnly' }, { kind: 'removedLast' }, { kind: 'nobodyToRemove' }, { kind: 'removedByModerator' }, { kind: 'endedByModerator' },
  { kind: 'youAreModerator' }, { kind: 'help', moderator: false }, { kind: 'help', moderator: true },
  { kind: 'recording', on: true }, { kind: 'recording', on: false }, { kind: 'recordingRefused' },
  { kind: 'waitingForModerator' }, { kind: 'moderatorJoined' }, { kind: 'moderatorLeft' },
  { kind: 'inviteNumber' }, { kind: 'calling', number: '102' }, { kind: 'invited', room: 7, by: '100' }, { kind: 'invited', room: 7, by: null },
  ...(['busy', 'declined', 'no-answer', 'unreachable', 'failed'] as const).map((why) => ({ kind: 'inviteFailed' as const, why })),
];

test('a moderator\'s help adds the moderator keys to the keys everyone has', () => {
  assert.equal(phraseClips({ kind: 'help', moderator: false }), ['help-mute', 'help-count']);
  assert.equal(phraseClips({ kind: 'help', moderator: true }), ['help-mute', 'help-count', 'help-lock', 'help-mute-all', 'help-remove', 'help-record', 'help-invite', 'help-end']);
  assert.equal(phraseClips({ kind: 'rejection', code: 'locked', room: 2 }), ['locked']);
  assert.equal(phraseClips({ kind: 'invited', room: 7, by: '102' }), ['invited-to', 'seven', 'invited-by', 'one', 'zero', 'two', 'press-one-to-join']);
});

test('every phrase the box says is made of clips the firmware ships', () => {
  for (const p of PHRASES) {
    const clips = phraseClips(p);
    assert.ok(clips.length > 0, JSON.stringify(p));
    for (const c of clips) assert.ok(PROMPT_NAMES.includes(c), `${JSON.stringify(p)}: clip "${c}" is not shipped`);
  }
});

test('the # count says how many are on hold, when any are', () => {
  assert.equal(phraseClips({ kind: 'participants', count: 3, onHold: 0 }), ['there-are', 'three', 'participants-in-conference']);
  assert.equal(phraseClips({ kind: 'participants', count: 3, onHold: 2 }), ['there-are', 'three', 'participants-in-conference', 'two', 'on-hold']);
});

test('confirmations speak the room and the minutes', () => {
  assert.equal(phraseClips({ kind: 'created', room: 2, minutes: 120 }), ['conference-room', 'two', 'created-for', 'one', 'hundred', 'twenty', 'minutes']);
  assert.equal(phraseClips({ kind: 'created', room: 3, minutes: 1 }), ['conference-room', 'three', 'created-for', 'one', 'minute']);
  assert.equal(phraseClips({ kind: 'rejection', code: 'full', room: 26 }), ['conference-room', 'twenty', 'six', 'is-full']);
});

test('a phrase plays clip after clip, each when the engine reports the previous one finished', async () => {
  const engine = new MockEngine();
  const clips = new Map(PROMPT_NAMES.map((n) => [n, new Int16Array(80).fill(1000)] as const));
  const voice = new Voice(engine, silentLogger);
  assert.is(voice.load(promptsFrom(clips)), PROMPT_NAMES.length);
  const { leg } = await engine.openLeg({ codec: 'PCMU', payloadType: 0, ptime: 20, dtmfPayloadType: null });
  const done = voice.say({ leg }, { kind: 'deleted', room: 2 });
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setImmediate(r));
    const plays = engine.callsOf('play');
    assert.is(plays.length, i + 1, `clip ${i + 1} started only after the previous one ended`);
    engine.finishPlayback(engine.legs.get(leg)!.playing!.id);
  }
  await done;
  assert.is(engine.callsOf('play').length, 3);
});

test.run();
