import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FakeClock } from '../../firmware/clock.ts';
import { answerTimer, DEFAULT_SE, expiryDelayMs, MIN_SE, SessionTimer, unsupportedTags, type SessionTimerState } from '../../firmware/sip/session-timer.ts';
import type { Message } from '../../firmware/sip/stack.ts';

const invite = (headers: Record<string, string>): Message => ({ method: 'INVITE', uri: 'sip:*400*1*1111@box', headers });

test('Asterisk: Supported timer, Session-Expires 1800;refresher=uac: the caller refreshes, the 200 says so', () => {
  const a = answerTimer(invite({ supported: 'replaces, timer', 'session-expires': '1800;refresher=uac' }));
  assert.equal(a, { ok: true, timer: { interval: 1800, refresher: 'peer' }, headers: { 'session-expires': '1800;refresher=uac', require: 'timer' } });
});

test('refresher=uas makes the box the refresher; compact form x is read', () => {
  const a = answerTimer(invite({ k: 'timer', x: '600 ; refresher=UAS' }));
  assert.equal(a, { ok: true, timer: { interval: 600, refresher: 'box' }, headers: { 'session-expires': '600;refresher=uas', require: 'timer' } });
});

test('no refresher named: the caller that supports timers refreshes; one that does not gets the box as refresher and no Require', () => {
  assert.equal(answerTimer(invite({ supported: 'timer', 'session-expires': '900' })), { ok: true, timer: { interval: 900, refresher: 'peer' }, headers: { 'session-expires': '900;refresher=uac', require: 'timer' } });
  assert.equal(answerTimer(invite({ 'session-expires': '900' })), { ok: true, timer: { interval: 900, refresher: 'box' }, headers: { 'session-expires': '900;refresher=uas' } });
});

test('a caller that supports timers but asks for none gets the default interval, as refresher; one that does not gets no timer', () => {
  assert.equal(answerTimer(invite({ supported: 'timer' })), { ok: true, timer: { interval: DEFAULT_SE, refresher: 'peer' }, headers: { 'session-expires': `${DEFAULT_SE};refresher=uac`, require: 'timer' } });
  assert.equal(answerTimer(invite({ supported: 'timer', 'min-se': '3600' })), { ok: true, timer: { interval: 3600, refresher: 'peer' }, headers: { 'session-expires': '3600;refresher=uac', require: 'timer' } });
  assert.equal(answerTimer(invite({})), { ok: true, timer: null, headers: {} });
});

test('below the box\'s Min-SE: 422 with Min-SE 90; broken values: 400 naming the header', () => {
  assert.equal(answerTimer(invite({ supported: 'timer', 'session-expires': '60' })), { ok: false, status: 422, reason: 'Session-Expires 60 is below the box\'s minimum of 90 s', headers: { 'min-se': '90' } });
  assert.is(answerTimer(invite({ 'session-expires': String(MIN_SE) })).ok, true);
  const bad = answerTimer(invite({ 'session-expires': 'soon' }));
  assert.ok(!bad.ok && bad.status === 400 && /Session-Expires "soon"/.test(bad.reason));
  const who = answerTimer(invite({ 'session-expires': '1800;refresher=proxy' }));
  assert.ok(!who.ok && who.status === 400 && /refresher "proxy"/.test(who.reason));
  const min = answerTimer(invite({ 'session-expires': '1800', 'min-se': 'x' }));
  assert.ok(!min.ok && /Min-SE/.test(min.reason));
});

test('Require: timer and 100rel are taken; anything else is named for 420', () => {
  assert.equal(unsupportedTags(invite({ require: 'timer, 100rel' })), []);
  assert.equal(unsupportedTags(invite({ require: '100rel, precondition,Timer' })), ['precondition']);
});

test('the caller refreshes: without a refresh the box ends the session interval - min(32, interval/3) in', () => {
  const clock = new FakeClock();
  const expired: string[] = [];
  const t = new SessionTimer({ clock, refresh: () => Promise.reject(new Error('the box is not the refresher')), expire: (why) => expired.push(why) }, 90, 'peer');
  clock.advance(59_000);
  assert.equal(expired, []);
  t.restart(90, 'peer');
  clock.advance(59_000);
  assert.equal(expired, []);
  clock.advance(1_000);
  assert.is(expired.length, 1);
  assert.match(expired[0]!, /no refresh within 90 s/);
  assert.is(expiryDelayMs(1800), 1768_000);
});

test('the box refreshes at half the interval, again after each 2xx; a 481 ends the session', async () => {
  const clock = new FakeClock();
  const refreshes: number[] = [];
  const expired: string[] = [];
  let answer: Message = { status: 200, headers: { 'session-expires': '120;refresher=uac' } };
  new SessionTimer({ clock, refresh: (_s: SessionTimerState) => { refreshes.push(clock.now()); return Promise.resolve({ ...answer, headers: { ...answer.headers } }); }, expire: (why) => expired.push(why) }, 100, 'box');
  const t0 = clock.now();
  clock.advance(50_000);
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(refreshes.map((t) => t - t0), [50_000]);
  // The peer lengthened the interval to 120 s: next refresh 60 s after the first.
  clock.advance(60_000);
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(refreshes.map((t) => t - t0), [50_000, 110_000]);
  answer = { status: 481, headers: {} };
  clock.advance(60_000);
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(expired, ['the refresh was answered 481']);
  assert.is(clock.pending(), 0);
});

test('a refresh that fails otherwise leaves the guard: BYE before the session would lapse', async () => {
  const clock = new FakeClock();
  const expired: string[] = [];
  new SessionTimer({ clock, refresh: () => Promise.resolve({ status: 500, headers: {} }), expire: (why) => expired.push(why) }, 90, 'box');
  clock.advance(45_000);
  await Promise.resolve();
  await Promise.resolve();
  assert.equal(expired, []);
  clock.advance(15_000);
  assert.equal(expired, ['the session could not be refreshed']);
});

test.run();
