// SIPp as the PBXs and phones that speak SIP extensions: session timers (RFC 4028) as Asterisk and FreePBX trunks send
// them, UPDATE (RFC 3311) and reliable provisional responses (RFC 3262). SIPp calls from 127.0.0.1, a trusted peer (an
// office PBX), so the scenarios need no digest. The calls that wait for a session timer (up to 100 s) start first and
// run beside the others.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { describeRun, received, runSipp, sippAvailable, type SippOptions, type SippResult } from '../support/sipp.ts';
import { testsNeeding } from '../support/requirements.ts';

/** Each call its own configured room: the last one out of a room deletes it. */
const ROOMS = {
  uacRefreshes: 1, uacSilent: 2, uasUpdate: 3, uasReinvite: 4, requireTimer: 5, tooSmall: 6, update: 7, reliableJoin: 8, wrongPin: 9, unknown: 10,
} as const;
const PIN = '2468';

const TESTS = 11;
const { enabled, t } = testsNeeding(TESTS, sippAvailable() ? null : 'sipp (Debian package sip-tester) is not installed');

let box: RunningBox;
let dataDir = '';
let uacRefreshes: Promise<SippResult>;
let uacSilent: Promise<SippResult>;
let uasUpdate: Promise<SippResult>;
let uasReinvite: Promise<SippResult>;

const joinCode = (room: number, pin = PIN) => `*400*${room}*${pin}`;

function asPbx(o: Omit<SippOptions, 'port'>): Promise<SippResult> {
  return runSipp({ port: box.sipPort, ...o });
}

function passed(r: SippResult): void {
  assert.ok(r.ok && r.successful === 1 && r.failed === 0, `expected the call to succeed\n${describeRun(r)}`);
}

/** The first message SIPp received whose first line matches. */
function got(r: SippResult, start: RegExp, cseq?: string): string {
  const m = received(r).find((x) => start.test(x.start) && (cseq === undefined || x.cseq === cseq));
  assert.ok(m, `no ${start} ${cseq ?? ''} received\n${describeRun(r)}`);
  return m.text;
}

/** Seconds from the box's 200 to the first INVITE to the first received message whose first line matches. */
function secondsAfterAnswer(r: SippResult, start: RegExp): number {
  const ok = r.shortMessages.find((m) => m.dir === 'R' && m.cseq === '1 INVITE' && m.start.startsWith('SIP/2.0 200 '));
  const then = r.shortMessages.find((m) => m.dir === 'R' && start.test(m.start));
  assert.ok(ok && then, `no 200 and ${start} in the trace\n${describeRun(r)}`);
  return (then.at - ok.at) / 1000;
}

test.before(async () => {
  if (!enabled) return;
  dataDir = mkdtempSync(joinPath(tmpdir(), 'confbox-sipp-dialects-'));
  await configure(dataDir, [
    ['peer', 'add', '127.0.0.1', '--description', 'Asterisk trunk'],
    // SIPp sends no RTP; calls held for minutes must not be hung up for silence.
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ...Object.values(ROOMS).map((id) => ['room', 'add', String(id), '--pin', PIN]),
  ]);
  box = await startBox({ dataDir });
  const long = { timings: true, timeoutS: 130 };
  uacRefreshes = asPbx({ scenario: 'dialect-timer-uac-refreshes.xml', service: joinCode(ROOMS.uacRefreshes), ...long });
  uacSilent = asPbx({ scenario: 'dialect-timer-uac-silent.xml', service: joinCode(ROOMS.uacSilent), ...long });
  uasUpdate = asPbx({ scenario: 'dialect-timer-uas-update.xml', service: joinCode(ROOMS.uasUpdate), ...long });
  uasReinvite = asPbx({ scenario: 'dialect-timer-uas-reinvite.xml', service: joinCode(ROOMS.uasReinvite), ...long });
});

test.after(async () => {
  if (!enabled) return;
  await box?.stop();
  if (dataDir) removeDataDir(dataDir);
});


t('PBX with Require: timer and Session-Expires: 1800: 200 with Session-Expires 1800;refresher=uac, Require: timer, Allow with UPDATE and PRACK', async () => {
  const r = await asPbx({ scenario: 'dialect-require-timer.xml', service: joinCode(ROOMS.requireTimer), holdMs: 300 });
  passed(r);
  const ok = got(r, /^SIP\/2\.0 200 /, '1 INVITE');
  assert.match(ok, /^Session-Expires:\s*1800;refresher=uac\r?$/im);
  assert.match(ok, /^Require:\s*timer\r?$/im);
  assert.match(ok, /^Supported:.*\btimer\b/im);
  assert.match(ok, /^Allow:.*\bUPDATE\b.*\bPRACK\b/im);
});

t('Session-Expires: 60 is refused 422 with Min-SE: 90; the retry with 90 is answered', async () => {
  const r = await asPbx({ scenario: 'dialect-timer-too-small.xml', service: joinCode(ROOMS.tooSmall) });
  passed(r);
  const refused = got(r, /^SIP\/2\.0 422 /);
  assert.match(refused, /^Min-SE:\s*90\r?$/im);
  assert.match(refused, /^Warning: 399 \S+ "Session-Expires 60 is below the box's minimum of 90 s"/im);
  assert.match(got(r, /^SIP\/2\.0 200 /, '2 INVITE'), /^Session-Expires:\s*90;refresher=uac\r?$/im);
});

t('Require: with an extension the box lacks: 420 naming only that one', async () => {
  const r = await asPbx({ scenario: 'dialect-require-unknown.xml', service: joinCode(ROOMS.unknown) });
  passed(r);
  assert.match(got(r, /^SIP\/2\.0 420 /), /^Unsupported:\s*precondition\r?$/im);
});

t('UPDATE in the dialog: without a body 200 without SDP; with an offer to hold, 200 with a=recvonly', async () => {
  const r = await asPbx({ scenario: 'dialect-update.xml', service: joinCode(ROOMS.update) });
  passed(r);
  const plain = got(r, /^SIP\/2\.0 200 /, '2 UPDATE');
  assert.match(plain, /^Content-Length:\s*0\r?$/im);
  const held = got(r, /^SIP\/2\.0 200 /, '3 UPDATE');
  assert.match(held, /^Content-Type:\s*application\/sdp/im);
  assert.match(held, /^a=recvonly\r?$/m);
});

t('Require: 100rel and a wrong PIN: 183 with Require: 100rel and RSeq, sent again until PRACK, PRACK answered 200, then 603 Decline', async () => {
  const r = await asPbx({ scenario: 'dialect-100rel-rejected.xml', service: joinCode(ROOMS.wrongPin, '0000') });
  passed(r);
  const all = received(r);
  const early = all.filter((m) => m.start.startsWith('SIP/2.0 183 '));
  assert.ok(early.length >= 2, `the 183 was sent again while no PRACK came (${early.length} copies)\n${describeRun(r)}`);
  assert.match(early[0]!.text, /^Require:\s*100rel\r?$/im);
  const rseq = /^RSeq:\s*(\d+)\r?$/im.exec(early[0]!.text)?.[1];
  assert.ok(rseq, `RSeq in the 183\n${early[0]!.text}`);
  for (const m of early) assert.match(m.text, new RegExp(`^RSeq:\\s*${rseq}\\r?$`, 'im'));
  const prackOk = all.findIndex((m) => m.start.startsWith('SIP/2.0 200 ') && m.cseq === '2 PRACK');
  const rejected = all.findIndex((m) => m.start.startsWith('SIP/2.0 603 '));
  assert.ok(prackOk >= 0 && rejected > prackOk, `PRACK answered 200 before the 603\n${describeRun(r)}`);
  const lastEarly = all.map((m) => m.start).lastIndexOf(early[early.length - 1]!.start);
  assert.ok(lastEarly < prackOk, `no 183 after the PRACK was answered\n${describeRun(r)}`);
});

t('Require: 100rel on a join: answered 200, never 420', async () => {
  const r = await asPbx({ scenario: 'dialect-100rel-join.xml', service: joinCode(ROOMS.reliableJoin), holdMs: 300 });
  passed(r);
});

t('Asterisk refresher=uac (90 s) refreshing by re-INVITE and UPDATE: the call lasts 100 s, each refresh answered with Session-Expires', async () => {
  const r = await uacRefreshes;
  passed(r);
  assert.match(got(r, /^SIP\/2\.0 200 /, '2 INVITE'), /^Session-Expires:\s*90;refresher=uac\r?$/im);
  assert.match(got(r, /^SIP\/2\.0 200 /, '3 UPDATE'), /^Session-Expires:\s*90;refresher=uac\r?$/im);
});

t('refresher=uac (90 s) that never refreshes: the box hangs up with BYE before the session expires', async () => {
  const r = await uacSilent;
  passed(r);
  const s = secondsAfterAnswer(r, /^BYE /);
  assert.ok(s > 45 && s < 90, `BYE ${s.toFixed(1)} s after the 200: after the refresh was due (45 s) and before expiry (90 s)`);
  assert.match(got(r, /^BYE /), /^Reason:.*session expired/im);
});

t('refresher=uas with UPDATE allowed: the box refreshes with UPDATE (Session-Expires 90;refresher=uac) at about half the interval', async () => {
  const r = await uasUpdate;
  passed(r);
  const update = got(r, /^UPDATE /);
  assert.match(update, /^Session-Expires:\s*90;refresher=uac\r?$/im);
  assert.not.match(update, /^Content-Type:/im);
  const s = secondsAfterAnswer(r, /^UPDATE /);
  assert.ok(s > 30 && s < 60, `UPDATE ${s.toFixed(1)} s after the 200 (half of 90 s is 45 s)`);
});

t('refresher=uas without UPDATE in Allow: the box refreshes with a re-INVITE carrying its SDP, and acknowledges the 200', async () => {
  const r = await uasReinvite;
  passed(r);
  const reinvite = got(r, /^INVITE /);
  assert.match(reinvite, /^Session-Expires:\s*90;refresher=uac\r?$/im);
  assert.match(reinvite, /^m=audio [1-9]\d* RTP\/AVP /m);
  const s = secondsAfterAnswer(r, /^INVITE /);
  assert.ok(s > 30 && s < 60, `re-INVITE ${s.toFixed(1)} s after the 200 (half of 90 s is 45 s)`);
});

t('no unexpected errors in the box log', () => {
  const errors = box.output().split('\n').filter((l) => /"level":"error"/.test(l));
  assert.equal(errors, [], errors.join('\n'));
});

test.run();
