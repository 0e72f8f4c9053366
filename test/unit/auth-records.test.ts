import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BoxError } from '../../firmware/errors.ts';
import { blockedError } from '../../firmware/conference/lockout.ts';
import { AuthRecords } from '../../firmware/sip/auth-records.ts';
import { diagnoseDigest } from '../../firmware/sip/digest-diagnosis.ts';
import { answerChallenge, DigestAuthority, ha1, parseAuthorization } from '../../firmware/sip/digest.ts';
import { inviteRejection } from '../../firmware/sip/rejections.ts';

const clock = { now: () => Date.parse('2026-12-05T08:00:00Z') };
const HERE = { address: '192.0.2.10', boundFromAddress: false };
const BOUND = { address: '192.0.2.10', boundFromAddress: true };

test('auto: MD5 alone to a phone not seen yet and to strangers', () => {
  const r = new AuthRecords(clock);
  assert.equal(r.autoChallenge('201', HERE), ['MD5']);
  assert.equal(r.autoChallenge(null, HERE), ['MD5']);
});

test('auto: a phone that answered MD5 is probed once with SHA-256 first on a refresh from where it is registered', () => {
  const r = new AuthRecords(clock);
  r.succeeded('201', 'MD5', '192.0.2.10', null);
  assert.equal(r.autoChallenge('201', HERE), ['MD5'], 'not registered from here: no probe');
  assert.equal(r.autoChallenge('201', { ...BOUND, address: '192.0.2.99' }), ['MD5'], 'another address learns nothing');
  assert.equal(r.autoChallenge('201', BOUND), ['SHA-256', 'MD5'], 'the probe');
  assert.equal(r.autoChallenge('201', BOUND), ['MD5'], 'only once: the phone could not answer it');
  r.succeeded('201', 'MD5', '192.0.2.10', null);
  assert.equal(r.autoChallenge('201', BOUND), ['MD5'], 'answered MD5 again: no second probe');
});

test('auto: a phone that answered SHA-256 gets SHA-256 first, but only from its address', () => {
  const r = new AuthRecords(clock);
  r.succeeded('201', 'SHA-256', '192.0.2.10', null);
  assert.equal(r.autoChallenge('201', HERE), ['SHA-256', 'MD5']);
  assert.equal(r.autoChallenge('201', { address: '192.0.2.99', boundFromAddress: false }), ['MD5']);
});

test('a refresh is a REGISTER under the Call-ID of the last accepted one, from the same address', () => {
  const r = new AuthRecords(clock);
  r.succeeded('201', 'MD5', '192.0.2.10', 'reg-1@phone');
  assert.ok(r.isRefresh('201', '192.0.2.10', 'reg-1@phone'));
  assert.not.ok(r.isRefresh('201', '192.0.2.10', 'guess@attacker'), 'another Call-ID');
  assert.not.ok(r.isRefresh('201', '192.0.2.99', 'reg-1@phone'), 'another address');
  r.succeeded('201', 'MD5', '192.0.2.10', null);
  assert.ok(r.isRefresh('201', '192.0.2.10', 'reg-1@phone'), 'an INVITE does not change it');
});

test('a wrong SHA-256 answer sends the phone back to MD5 alone, and is the last failure', () => {
  const r = new AuthRecords(clock);
  r.succeeded('201', 'SHA-256', '192.0.2.10', null);
  r.failed('201', 'phone answered the SHA-256 challenge wrongly', '192.0.2.10', 'REGISTER');
  assert.equal(r.autoChallenge('201', BOUND), ['MD5']);
  const f = r.get('201')?.lastFailure;
  assert.equal(f && { reason: f.reason, at: f.at.toISOString(), method: f.method }, {
    reason: 'phone answered the SHA-256 challenge wrongly', at: '2026-12-05T08:00:00.000Z', method: 'REGISTER',
  });
  r.forget('201');
  assert.is(r.get('201'), undefined);
});

test('entries and restore: a round trip, and a damaged copy is skipped entry by entry', () => {
  const r = new AuthRecords(clock);
  r.succeeded('201', 'SHA-256', '192.0.2.10', 'reg-1');
  r.failed('202', 'wrong password', '192.0.2.11', 'REGISTER');
  const copy = new AuthRecords(clock);
  assert.is(copy.restore(JSON.parse(JSON.stringify(r.entries()))), 2);
  assert.equal(copy.autoChallenge('201', HERE), ['SHA-256', 'MD5']);
  assert.is(copy.get('202')?.lastFailure?.reason, 'wrong password');
  assert.is(copy.get('202')?.lastFailure?.at.toISOString(), '2026-12-05T08:00:00.000Z');
  const damaged = new AuthRecords(clock);
  assert.is(damaged.restore([['203', { algorithm: 'SHA-1', address: '', registerCallId: '', probed: false, lastFailure: null }], 'x', [null, {}],
    ['204', { algorithm: 'MD5', address: '192.0.2.12', registerCallId: '', probed: true, lastFailure: { at: 'never', reason: 'x', source: '', method: '' } }],
    ['205', { algorithm: 'MD5', address: '192.0.2.13', registerCallId: 'c', probed: false, lastFailure: null }]]), 1);
  assert.is(damaged.restore({ not: 'a list' }), 0);
  assert.is(damaged.get('205')?.algorithm, 'MD5');
});

test('every change is told, a refresh that changes nothing is not', () => {
  let changes = 0;
  const r = new AuthRecords(clock, () => changes++);
  r.succeeded('201', 'MD5', '192.0.2.10', 'reg-1');
  r.succeeded('201', 'MD5', '192.0.2.10', 'reg-1');
  assert.is(changes, 1);
  r.autoChallenge('201', BOUND);
  r.failed('201', 'wrong password', '192.0.2.10', 'REGISTER');
  r.forget('201');
  assert.is(changes, 4);
});

const REALM = 'confbox';
const HA1 = { md5: ha1('MD5', '201', REALM, 'right'), sha256: ha1('SHA-256', '201', REALM, 'right') };
const authority = new DigestAuthority({ realm: REALM, key: Buffer.alloc(32, 7), clock });

function answer(algorithm: 'MD5' | 'SHA-256', password: string, mutate: (s: string) => string = (s) => s) {
  const challenge = authority.challenge({ algorithms: [algorithm] })[0]!;
  return parseAuthorization(mutate(answerChallenge(challenge, { username: '201', password, method: 'REGISTER', uri: 'sip:confbox' })))!;
}
const box = { realm: REALM, uriMatches: true };

test('diagnosis: wrong password, MD5 under the SHA-256 label, another realm, another address, an unknown algorithm', () => {
  assert.is(diagnoseDigest(answer('MD5', 'wrong'), 'REGISTER', HA1, box), 'wrong password');
  assert.is(diagnoseDigest(answer('SHA-256', 'wrong'), 'REGISTER', HA1, box), 'wrong password');
  const md5Creds = answer('MD5', 'right');
  assert.is(diagnoseDigest({ ...md5Creds, algorithm: 'SHA-256' }, 'REGISTER', HA1, box), 'phone answered the SHA-256 challenge wrongly');
  assert.is(diagnoseDigest({ ...md5Creds, realm: 'other' }, 'REGISTER', HA1, box), 'phone answered for another realm');
  assert.is(diagnoseDigest(md5Creds, 'REGISTER', HA1, { ...box, uriMatches: false }), 'answer was made for another address');
  assert.is(diagnoseDigest({ ...md5Creds, algorithm: 'SHA-512-256' }, 'REGISTER', HA1, box), 'phone answered with an algorithm the box does not offer');
  assert.is(diagnoseDigest(md5Creds, 'REGISTER', HA1, box), 'phone answered an expired or foreign challenge', 'the right password: the nonce was the problem');
});

test('preview checks an answer without using up its nonce count', () => {
  const creds = answer('SHA-256', 'right');
  assert.is(authority.preview(creds, 'REGISTER', HA1), 'ok');
  assert.is(authority.verify(creds, 'REGISTER', HA1), 'ok', 'still accepted after the preview');
  assert.is(authority.preview(creds, 'REGISTER', HA1), 'stale', 'a replay');
});

test('rejections of an INVITE: never 403 (phones take it for bad credentials); 603 with the reason kept', () => {
  const wrongPin = inviteRejection(new BoxError(403, 'wrong PIN for room 10', 'pin', 'wrong-pin'), 30);
  assert.equal(wrongPin, { status: 603, headers: { reason: 'SIP;cause=403;text="wrong PIN for room 10"' } });
  assert.is(inviteRejection(blockedError(), 30).status, 603);
  assert.is(inviteRejection(new BoxError(403, 'room 7 already exists', 'id', 'exists'), 30).status, 603);
  assert.is(inviteRejection(new BoxError(480, 'room 7 is locked', 'id', 'locked'), 30).status, 603);
  assert.equal(inviteRejection(new BoxError(486, 'room 7 is full (3 participants)', 'id', 'full'), 30), { status: 486, headers: {} });
  assert.equal(inviteRejection(new BoxError(503, 'database unreachable'), 30), { status: 503, headers: { 'retry-after': '30' } });
  assert.is(inviteRejection(new BoxError(484, 'malformed'), 30).status, 484);
});

test.run();
