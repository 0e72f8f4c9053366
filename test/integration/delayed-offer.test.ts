// Delayed offer (RFC 3261 13.2.1), as Cisco CUCM and many PBX trunks call: an INVITE without SDP gets the box's
// offer in its 200 and the caller's answer comes in the ACK. SIPp is the caller; it echoes the RTP the box sends to
// the answered port back to the box (-rtp_echo), so a call whose media went anywhere else would be hung up for
// silence (rtpTimeoutSeconds 5, calls held 8 s).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { describeRun, received, runSipp, sippAvailable, type SippOptions, type SippResult } from '../support/sipp.ts';
import { testsNeeding } from '../support/requirements.ts';

const EXT = { number: '100', password: 's3cret' };
const ROOMS = { join: { id: 31, pin: '3131' }, noAnswer: { id: 32, pin: '3232' } } as const;

const TESTS = 3;
const { enabled, t } = testsNeeding(TESTS, sippAvailable() ? null : 'sipp (Debian package sip-tester) is not installed');

let box: RunningBox;
let dataDir = '';

function asExtension(o: Omit<SippOptions, 'port' | 'keys' | 'auth'>): Promise<SippResult> {
  return runSipp({ port: box.sipPort, keys: { ext: EXT.number }, auth: { user: EXT.number, password: EXT.password }, ...o });
}

function passed(r: SippResult): void {
  assert.ok(r.ok && r.successful === 1 && r.failed === 0, `expected the call to succeed\n${describeRun(r)}`);
}

test.before(async () => {
  if (!enabled) return;
  dataDir = mkdtempSync(join(tmpdir(), 'confbox-delayed-offer-test-'));
  await configure(dataDir, [
    ['settings', 'set', 'digestAlgorithms', 'MD5'],
    ['settings', 'set', 'rtpTimeoutSeconds', '5'],
    ['extension', 'add', EXT.number, '--password', EXT.password],
    ...Object.values(ROOMS).map((r) => ['room', 'add', String(r.id), '--pin', r.pin]),
  ]);
  box = await startBox({ dataDir });
});

test.after(async () => {
  if (!enabled) return;
  await box?.stop();
  if (dataDir) removeDataDir(dataDir);
});


t('INVITE without SDP: the 200 offers the box\'s codecs and telephone-event, the ACK answers, audio flows both ways for 8 s; an offerless re-INVITE gets an offer of the codec in use', async () => {
  const joined = box.waitForLog((l) => l.msg === 'call join' && l.room === ROOMS.join.id, 20_000);
  const r = await asExtension({ scenario: 'delayed-offer.xml', service: `*400*${ROOMS.join.id}*${ROOMS.join.pin}`, holdMs: 8000, extraArgs: ['-rtp_echo'], timeoutS: 40 });
  passed(r);
  await joined;
  const offer = received(r).find((m) => m.start.startsWith('SIP/2.0 200 ') && m.cseq === '2 INVITE');
  assert.ok(offer, describeRun(r));
  assert.match(offer.text, /^Content-Type:\s*application\/sdp/im);
  assert.match(offer.text, /^c=IN IP4 127\.0\.0\.1\r?$/m);
});

t('an ACK without the answer ends the call: the box sends BYE saying why', async () => {
  const r = await asExtension({ scenario: 'delayed-offer-no-answer.xml', service: `*400*${ROOMS.noAnswer.id}*${ROOMS.noAnswer.pin}` });
  passed(r);
  const bye = received(r).find((m) => m.start.startsWith('BYE '));
  assert.ok(bye, describeRun(r));
  assert.match(bye.text, /^Reason:.*no SDP answer/im);
});

t('no call was hung up for silence, and nothing went wrong in the box', () => {
  const lines = box.output().split('\n');
  assert.equal(lines.filter((l) => /no audio from the phone/.test(l)), []);
  assert.equal(lines.filter((l) => /"level":"error"/.test(l)), []);
});

test.run();
