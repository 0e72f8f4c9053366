// A meeting run from a desk phone's keypad, end to end: the bundle, real SIP from the test phone, real G.711 RTP over
// loopback, and what each phone hears analysed (Goertzel, RMS). The moderator joins with the room's moderator PIN (or
// is the room's creator calling from that extension); *1 locks, *2 mutes everyone else, *3 removes the last to join,
// *9 ends the conference, *0 says the keys.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Callers, LEVEL, assertAnswered, fmt, hears, hearsNot, levels, responses, type Member } from '../support/callers.ts';
import { activeMs, meanToneLevel, scheduler, until } from '../support/rtp.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-moderator-'));
let box: RunningBox;
const password = (ext: string) => `pw-${ext}`;
const callers = new Callers(() => box, password);
const EXTENSIONS = Array.from({ length: 20 }, (_, i) => String(140 + i));
const PIN = '4826';
const MODERATOR_PIN = '9371';

test.before(async () => {
  await configure(dataDir, [
    ...EXTENSIONS.map((n) => ['extension', 'add', n, '--password', password(n), '--name', `Extension ${n}`]),
    ...[40, 41, 42, 43, 44].map((id) => ['room', 'add', String(id), '--pin', PIN, '--moderator-pin', MODERATOR_PIN, '--max-participants', '5', '--keep']),
    ['room', 'add', '46', '--pin', PIN, '--moderator-pin', MODERATOR_PIN, '--max-participants', '5', '--keep', '--wait-for-moderator', 'yes'],
    ...[47, 48].map((id) => ['room', 'add', String(id), '--pin', PIN, '--moderator-pin', MODERATOR_PIN, '--max-participants', '5', '--keep', '--moderator-leaves', 'end']),
  ]);
  box = await startBox({ dataDir, logLevel: 'debug' });
});

test.after(async () => {
  await callers.close();
  await box?.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
  removeDataDir(dataDir);
  if (scheduler.late || scheduler.skipped) console.log(`RTP scheduler: ${scheduler.late} late ticks, ${scheduler.skipped} skipped`);
});

/** How many log records of the box have this message (and room). */
function logged(msg: string, room?: number): number {
  return box.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((r) => r.msg === msg && (room === undefined || r.room === room)).length;
}


/** The moderator (440 Hz) and two callers (1000 Hz, 1800 Hz) in a room, each hearing the other two. */
async function meeting(room: number, exts: [string, string, string]): Promise<[Member & { tx: NonNullable<Member['tx']> }, Member, Member]> {
  const chair = await callers.dial(exts[0], `*400*${room}*${MODERATOR_PIN}`, { tone: 440 });
  const a = await callers.dial(exts[1], `*400*${room}*${PIN}`, { tone: 1000 });
  const b = await callers.dial(exts[2], `*400*${room}*${PIN}`, { tone: 1800 });
  for (const m of [chair, a, b]) assertAnswered(m);
  const settled = await until(() => hears(chair, 1000) && hears(chair, 1800) && hears(a, 440) && hears(b, 440), 12_000, 200);
  assert.ok(settled, `everyone hears the others: ${[chair, a, b].map((m) => `${m.label}: ${fmt(levels(m.rx.last(1000)))}`).join(' | ')}`);
  return [chair as Member & { tx: NonNullable<Member['tx']> }, a, b];
}

test('*2 from the moderator mutes everyone else (the tones are no longer heard) and *2 again brings them back', async () => {
  const [chair, a, b] = await meeting(40, ['140', '141', '142']);
  try {
    const muted = box.waitForLog((rec) => rec.msg === 'everyone muted' && rec.room === 40, 10_000);
    await chair.tx.dtmf('*2');
    const rec = await muted;
    assert.is(rec.participants, 2, 'both other callers muted');
    const silent = await until(() => hearsNot(chair, 1000) && hearsNot(chair, 1800), 10_000, 200);
    assert.ok(silent, `the moderator no longer hears the others: ${fmt(levels(chair.rx.last(1000)))}`);
    assert.ok(await until(() => hearsNot(a, 1800) && hearsNot(b, 1000), 10_000, 200), `nor do they hear each other: ${fmt(levels(a.rx.last(1000)))} | ${fmt(levels(b.rx.last(1000)))}`);
    assert.ok(await until(() => hears(a, 440) && hears(b, 440), 10_000, 200), `the moderator is still heard: ${fmt(levels(a.rx.last(1000)))} | ${fmt(levels(b.rx.last(1000)))}`);

    await chair.tx.dtmf('*2');
    const back = await until(() => hears(chair, 1000) && hears(chair, 1800), 10_000, 200);
    assert.ok(back, `after *2 again the moderator hears both at about ${LEVEL} dBFS: ${fmt(levels(chair.rx.last(1000)))}`);
  } finally {
    await callers.hangUp(chair, a, b);
  }
});

test('*1 locks: a new caller hears "this conference is locked" and gets 603 (Reason 403, Warning saying so); a moderator still gets in; *1 again opens the room', async () => {
  const [chair, a, b] = await meeting(41, ['143', '144', '145']);
  const late: Member[] = [];
  try {
    const locked = box.waitForLog((rec) => rec.msg === 'conference locked' && rec.room === 41, 10_000);
    await chair.tx.dtmf('*1');
    await locked;
    const turnedAway = await callers.dial('146', `*400*41*${PIN}`, { finalTimeoutMs: 20_000 });
    late.push(turnedAway);
    assert.is(turnedAway.final.status, 603, responses(turnedAway));
    assert.match(turnedAway.final.get('reason') ?? '', /cause=403/, `Reason: ${turnedAway.final.get('reason')}`);
    assert.match(turnedAway.final.get('warning') ?? '', /this conference is locked/, `Warning: ${turnedAway.final.get('warning')}`);
    const spoken = activeMs(turnedAway.rx.pcmBetween(0, turnedAway.answeredAt));
    assert.ok(spoken > 500, `the refusal is spoken before the 603 (${spoken} ms of sound); received ${turnedAway.rx.describe(0, turnedAway.answeredAt)}`);

    const coChair = await callers.dial('147', `*400*41*${MODERATOR_PIN}`);
    late.push(coChair);
    assert.is(coChair.final.status, 200, `a moderator gets into a locked room: ${responses(coChair)}`);

    const unlocked = box.waitForLog((rec) => rec.msg === 'conference unlocked' && rec.room === 41, 10_000);
    await chair.tx.dtmf('*1');
    await unlocked;
    await callers.hangUp(coChair);
    const welcome = await callers.dial('146', `*400*41*${PIN}`);
    late.push(welcome);
    assert.is(welcome.final.status, 200, `after *1 again the room is open: ${responses(welcome)}`);
  } finally {
    await callers.hangUp(chair, a, b, ...late);
  }
});

test('*3 removes the caller who joined last: it hears why and gets a BYE; the others stay', async () => {
  const [chair, a, b] = await meeting(42, ['148', '149', '150']);
  try {
    const since = performance.now();
    await chair.tx.dtmf('*3');
    const bye = await b.call.waitForRequest('BYE', 15_000);
    assert.match(bye.get('reason') ?? '', /removed by the moderator/, `the BYE says why: ${bye.describe()}`);
    const heard = activeMs(b.rx.pcmBetween(since));
    assert.ok(heard > 800, `the removed caller heard why before the BYE (${heard} ms of sound)`);
    await sleep(1000);
    assert.not.ok(a.call.received('BYE'), 'the earlier caller stays');
    assert.not.ok(chair.call.received('BYE'), 'the moderator stays');
    assert.ok(await until(() => hears(chair, 1000), 8000, 200), `the moderator still hears the earlier caller: ${fmt(levels(chair.rx.last(1000)))}`);
  } finally {
    await callers.hangUp(chair, a, b);
  }
});

test('keys of the moderator from a caller who is not one: told so, and nothing happens; *0 says the keys, the moderator\'s list is longer', async () => {
  const [chair, a, b] = await meeting(43, ['151', '140', '141']);
  const late: Member[] = [];
  try {
    const aTx = a.tx!;
    const before = performance.now();
    await aTx.dtmf('*1');
    await sleep(3000);
    assert.is(logged('conference locked', 43), 0, 'the room was not locked');
    const told = activeMs(a.rx.pcmBetween(before), { ignoreTones: [440, 1800] });
    assert.ok(told > 800, `the caller heard that the key is the moderator's (${told} ms of speech)`);
    const another = await callers.dial('142', `*400*43*${PIN}`);
    late.push(another);
    assert.is(another.final.status, 200, `the room is still open: ${responses(another)}`);

    // *0: spoken help; the moderator hears the moderator keys as well.
    await callers.hangUp(b, another);
    chair.tx.silence();
    aTx.silence();
    await sleep(1500);
    const t0 = performance.now();
    await aTx.dtmf('*0');
    await chair.tx.dtmf('*0');
    const helpEnded = await until(() => performance.now() - t0 > 3000 && activeMs(a.rx.last(1500)) === 0 && activeMs(chair.rx.last(1500)) === 0, 40_000, 250);
    assert.ok(helpEnded, `the help ends: ${a.rx.describe(t0)} | ${chair.rx.describe(t0)}`);
    const participantHelp = activeMs(a.rx.pcmBetween(t0));
    const moderatorHelp = activeMs(chair.rx.pcmBetween(t0));
    console.log(`help: participant ${participantHelp} ms, moderator ${moderatorHelp} ms of speech`);
    assert.ok(participantHelp > 2000, `a participant hears its keys (${participantHelp} ms)`);
    assert.ok(moderatorHelp > participantHelp + 3000, `the moderator hears the moderator keys too (${moderatorHelp} ms against ${participantHelp} ms)`);
  } finally {
    await callers.hangUp(chair, a, b, ...late);
  }
});

test('*9 ends the conference for everyone: all hear it and get a BYE saying the moderator ended it', async () => {
  const [chair, a, b] = await meeting(44, ['143', '144', '145']);
  try {
    const since = performance.now();
    await chair.tx.dtmf('*9');
    const byes = await Promise.all([chair, a, b].map((m) => m.call.waitForRequest('BYE', 20_000)));
    for (const bye of byes) assert.match(bye.get('reason') ?? '', /the moderator ended the conference/, bye.describe());
    for (const m of [a, b]) {
      const heard = activeMs(m.rx.pcmBetween(since), { ignoreTones: [440, 1000, 1800] });
      assert.ok(heard > 800, `${m.label} heard the end announced (${heard} ms of speech)`);
    }
  } finally {
    await callers.hangUp(chair, a, b);
  }
});

test('the creator of a room made by phone with a moderator PIN is its moderator when calling from that extension', async () => {
  const create = await callers.dial('146', `*401*45*${PIN}*30*${MODERATOR_PIN}`);
  assertAnswered(create);
  await create.call.waitForRequest('BYE', 20_000);
  await callers.hangUp(create);
  const owner = await callers.dial('146', `*400*45*${PIN}`);
  const guest = await callers.dial('147', `*400*45*${PIN}`);
  try {
    assertAnswered(owner);
    assertAnswered(guest);
    const locked = box.waitForLog((rec) => rec.msg === 'conference locked' && rec.room === 45, 10_000);
    await owner.tx.dtmf('*1');
    await locked;
    await sleep(1500);
    const guestTx = guest.tx!;
    await guestTx.dtmf('*1');
    await sleep(2000);
    assert.is(logged('conference unlocked', 45), 0, 'the guest\'s *1 did not unlock');
  } finally {
    await callers.hangUp(owner, guest);
  }
});

/** Not hearing a tone: at least 10 dB under the level it is sent at (waiting music has no strong partial there). */
const doesNotHear = (m: Member, freq: number) => meanToneLevel(m.rx.last(1000), freq) < LEVEL - 10;

test('wait for the moderator: callers hear why, then music, and not each other; the moderator\'s arrival starts the meeting for all', async () => {
  const a = await callers.dial('152', `*400*46*${PIN}`, { tone: 1000 });
  const b = await callers.dial('153', `*400*46*${PIN}`, { tone: 1800 });
  const late: Member[] = [];
  try {
    assertAnswered(a);
    assertAnswered(b);
    const told = await until(() => activeMs(a.rx.pcmBetween(a.answeredAt), { ignoreTones: [1000, 1800] }) > 2000 && activeMs(b.rx.pcmBetween(b.answeredAt), { ignoreTones: [1000, 1800] }) > 2000, 15_000, 250);
    assert.ok(told, `both hear the wait explained and music: ${a.rx.describe(a.answeredAt)} | ${b.rx.describe(b.answeredAt)}`);
    await sleep(2000);
    assert.ok(doesNotHear(a, 1800) && doesNotHear(b, 1000), `waiting callers do not hear each other: ${fmt(levels(a.rx.last(1000)))} | ${fmt(levels(b.rx.last(1000)))}`);
    const music = activeMs(a.rx.last(1500), { ignoreTones: [1000, 1800] });
    assert.ok(music > 1000, `music plays while they wait (${music} ms of sound in 1.5 s)`);
    assert.ok(logged('waiting for the moderator', 46) >= 2, 'the box logs each caller waiting');

    const begins = box.waitForLog((rec) => rec.msg === 'the moderator joined: the conference begins' && rec.room === 46, 15_000);
    const chair = await callers.dial('154', `*400*46*${MODERATOR_PIN}`, { tone: 440 });
    late.push(chair);
    assertAnswered(chair);
    assert.is((await begins).waited, 2, 'both waiting callers joined the meeting');
    const together = await until(() => hears(a, 1800) && hears(a, 440) && hears(b, 1000) && hears(chair, 1000) && hears(chair, 1800), 15_000, 200);
    assert.ok(together, `everyone hears everyone: ${[a, b, chair].map((m) => `${m.label}: ${fmt(levels(m.rx.last(1000)))}`).join(' | ')}`);
    const another = await callers.dial('155', `*400*46*${PIN}`, { tone: 1000 });
    late.push(another);
    assertAnswered(another);
    assert.ok(await until(() => hears(another, 440), 10_000, 200), `a caller after the moderator joins the meeting at once: ${fmt(levels(another.rx.last(1000)))}`);
  } finally {
    await callers.hangUp(a, b, ...late);
  }
});

test('a room that ends without its moderator: the last moderator leaving is announced and ends the meeting a minute later; a moderator who returns keeps it going', async () => {
  const [gone, a, b] = await meeting(47, ['156', '157', '158']);
  const [back, c, d] = await meeting(48, ['159', '140', '141']);
  const returned: Member[] = [];
  try {
    const since = performance.now();
    await callers.hangUp(gone, back);
    const told = await until(() => [a, b, c, d].every((m) => activeMs(m.rx.pcmBetween(since), { ignoreTones: [440, 1000, 1800] }) > 1500), 15_000, 250);
    assert.ok(told, `everyone heard that the conference ends in a minute: ${[a, b, c, d].map((m) => activeMs(m.rx.pcmBetween(since), { ignoreTones: [440, 1000, 1800] })).join(', ')} ms`);
    await sleep(3000);
    const again = await callers.dial('142', `*400*48*${MODERATOR_PIN}`, { tone: 440 });
    returned.push(again);
    assertAnswered(again);
    await box.waitForLog((rec) => rec.msg === 'a moderator is back: the conference goes on' && rec.room === 48, 10_000);
    const byes = await Promise.all([a, b].map((m) => m.call.waitForRequest('BYE', 75_000)));
    const waited = (performance.now() - since) / 1000;
    for (const bye of byes) assert.match(bye.get('reason') ?? '', /the moderator left/, bye.describe());
    assert.ok(waited > 55, `room 47 ended about a minute after the moderator left (${waited.toFixed(0)} s)`);
    await sleep(2000);
    assert.not.ok(c.call.received('BYE') || d.call.received('BYE'), 'room 48, whose moderator came back, goes on');
    assert.ok(await until(() => hears(c, 440) && hears(again, 1000), 10_000, 200), `and its people hear each other: ${fmt(levels(c.rx.last(1000)))}`);
  } finally {
    await callers.hangUp(gone, a, b, back, c, d, ...returned);
  }
});

test.run();
