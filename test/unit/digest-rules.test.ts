// The box's digest rules one by one: each answer here is correctly computed (the response matches), so only the rule
// under test can refuse it. Where the box's own client would compute the same wrong thing as the box, the expected
// response is computed here from RFC 2617 and RFC 7616 with node:crypto alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { FakeClock } from '../../firmware/clock.ts';
import { DigestAuthority, answerChallenge, digestResponse, ha1, parseAuthorization, type DigestCredentials } from '../../firmware/sip/digest.ts';

const KEY = Buffer.alloc(32, 7);
const REALM = 'confbox';
const USER = '100';
const PASSWORD = 'secret 100';
const HA1 = { md5: ha1('MD5', USER, REALM, PASSWORD), sha256: ha1('SHA-256', USER, REALM, PASSWORD) };
const URI = 'sip:confbox.local';

function setup(extra: { nonceLifetimeMs?: number; maxTrackedNonces?: number } = {}) {
  const clock = new FakeClock();
  return { clock, auth: new DigestAuthority({ realm: REALM, key: KEY, clock, epoch: Buffer.from([1, 2, 3, 4]), ...extra }) };
}

function nonceOf(auth: DigestAuthority): string {
  return /nonce="([^"]+)"/.exec(auth.challenge({ algorithms: ['MD5'] })[0]!)![1]!;
}

/** A well-formed MD5 answer to a nonce with the fields given, its response computed for exactly those fields. */
function signed(nonce: string, o: Partial<DigestCredentials> & { ha1?: string } = {}): DigestCredentials {
  const creds: DigestCredentials = {
    username: USER, realm: REALM, nonce, uri: URI, response: '', algorithm: 'MD5', cnonce: 'c0ffee', qop: 'auth', nc: '00000001', opaque: null,
    ...o,
  };
  const sess = /-sess$/i.test(creds.algorithm ?? '');
  const algorithm = /^sha-256/i.test(creds.algorithm ?? '') ? 'SHA-256' : 'MD5';
  creds.response = digestResponse({
    algorithm, sess, ha1: o.ha1 ?? (algorithm === 'MD5' ? HA1.md5 : HA1.sha256), nonce, cnonce: creds.cnonce ?? '', nc: creds.nc ?? '', qop: creds.qop, method: 'REGISTER', uri: URI,
  });
  return creds;
}

const h = (algorithm: 'md5' | 'sha256', text: string) => createHash(algorithm).update(text).digest('hex');

test('an answer naming another realm is refused although its response is right for the box', () => {
  const { auth } = setup();
  const nonce = nonceOf(auth);
  assert.is(auth.verify(signed(nonce, { realm: 'elsewhere' }), 'REGISTER', HA1), 'bad');
  assert.is(auth.verify(signed(nonce), 'REGISTER', HA1), 'ok', 'the same answer in the box realm');
});

test('qop other than auth, an nc that is not eight hex digits, a missing cnonce and nc 0 are refused even when signed', () => {
  const { auth } = setup();
  const nonce = nonceOf(auth);
  assert.is(auth.verify(signed(nonce, { qop: 'auth-int' }), 'REGISTER', HA1), 'bad', 'auth-int');
  assert.is(auth.verify(signed(nonce, { nc: '1' }), 'REGISTER', HA1), 'bad', 'nc 1');
  assert.is(auth.verify(signed(nonce, { nc: '0000000g' }), 'REGISTER', HA1), 'bad', 'nc not hex');
  assert.is(auth.verify(signed(nonce, { nc: 'x00000001' }), 'REGISTER', HA1), 'bad', 'nc with a prefix');
  assert.is(auth.verify(signed(nonce, { nc: '00000001x' }), 'REGISTER', HA1), 'bad', 'nc with a suffix');
  assert.is(auth.verify(signed(nonce, { nc: null }), 'REGISTER', HA1), 'bad', 'no nc');
  assert.is(auth.verify(signed(nonce, { cnonce: '' }), 'REGISTER', HA1), 'bad', 'empty cnonce');
  assert.is(auth.verify(signed(nonce, { nc: '00000000' }), 'REGISTER', HA1), 'bad', 'nc 0');
  assert.is(auth.verify(signed(nonce, { qop: 'AUTH' }), 'REGISTER', HA1), 'ok', 'qop in capitals is auth');
});

test('a -sess algorithm without qop is refused even when signed; with qop it verifies against RFC 2617 A1', () => {
  const { auth } = setup();
  const nonce = nonceOf(auth);
  assert.is(auth.verify(signed(nonce, { algorithm: 'MD5-sess', qop: null, cnonce: null, nc: null }), 'REGISTER', HA1), 'bad');
  // RFC 2617 3.2.2.2: A1 = H(user:realm:password):nonce:cnonce for MD5-sess; RFC 7616 3.4.2 the same for SHA-256-sess.
  for (const [algorithm, hash, base] of [['MD5-sess', 'md5', HA1.md5], ['SHA-256-sess', 'sha256', HA1.sha256], ['sha-256-SESS', 'sha256', HA1.sha256]] as const) {
    const a1 = h(hash, `${base}:${nonce}:feed`);
    const a2 = h(hash, `REGISTER:${URI}`);
    const nc = algorithm === 'MD5-sess' ? '00000001' : algorithm === 'SHA-256-sess' ? '00000002' : '00000003';
    const response = h(hash, `${a1}:${nonce}:${nc}:feed:auth:${a2}`);
    const creds: DigestCredentials = { username: USER, realm: REALM, nonce, uri: URI, response, algorithm, cnonce: 'feed', qop: 'auth', nc, opaque: null };
    assert.is(auth.verify(creds, 'REGISTER', HA1), 'ok', algorithm);
  }
  const plain = h('sha256', `${HA1.sha256}:${nonce}:00000004:feed:auth:${h('sha256', `REGISTER:${URI}`)}`);
  assert.is(auth.verify({ username: USER, realm: REALM, nonce, uri: URI, response: plain, algorithm: 'SHA-256', cnonce: 'feed', qop: 'auth', nc: '00000004', opaque: null }, 'REGISTER', HA1), 'ok', 'SHA-256 by RFC 7616');
});

test('a stored password hash that is not hex lets nobody in, whatever they send', () => {
  const { auth } = setup();
  const nonce = nonceOf(auth);
  const damaged = 'zz' + HA1.md5.slice(2);
  assert.is(auth.verify(signed(nonce, { ha1: damaged }), 'REGISTER', { md5: damaged, sha256: HA1.sha256 }), 'bad');
  assert.is(auth.verify(signed(nonce, { ha1: '' }), 'REGISTER', { md5: '', sha256: HA1.sha256 }), 'bad', 'an empty hash');
  const damagedAtEnd = HA1.md5.slice(0, -2) + 'zz';
  assert.is(auth.verify(signed(nonce, { ha1: damagedAtEnd }), 'REGISTER', { md5: damagedAtEnd, sha256: HA1.sha256 }), 'bad', 'a hash damaged at its end');
  const upper = HA1.md5.toUpperCase();
  assert.is(auth.verify(signed(nonce), 'REGISTER', { md5: upper, sha256: HA1.sha256 }), 'ok', 'a stored hash in capitals is the same hash');
});

test('answers whose fields are not text are refused, by verify and by preview, without throwing', () => {
  const { auth } = setup();
  const nonce = nonceOf(auth);
  const odd = { ...signed(nonce), qop: 5 } as unknown as DigestCredentials;
  assert.is(auth.verify(odd, 'REGISTER', HA1), 'bad');
  assert.is(auth.preview(odd, 'REGISTER', HA1), 'bad');
});

test('preview tells what verify would answer and remembers nothing', () => {
  const { auth } = setup();
  const nonce = nonceOf(auth);
  const first = signed(nonce);
  assert.is(auth.preview(first, 'REGISTER', HA1), 'ok', 'a fresh answer');
  assert.is(auth.preview(first, 'REGISTER', HA1), 'ok', 'still fresh: preview did not count it');
  assert.is(auth.verify(first, 'REGISTER', HA1), 'ok');
  assert.is(auth.preview(first, 'REGISTER', HA1), 'stale', 'now a replay');
  assert.is(auth.preview(signed(nonce, { nc: '00000002' }), 'REGISTER', HA1), 'ok', 'a higher count');
  assert.is(auth.preview(signed(nonce, { nc: '00000002', cnonce: 'x', response: '' }), 'REGISTER', { md5: HA1.sha256, sha256: HA1.md5 }), 'bad');
});

test('the nonce lifetime ends after, not at, its last millisecond', () => {
  const { auth, clock } = setup({ nonceLifetimeMs: 60_000 });
  const nonce = nonceOf(auth);
  clock.advance(60_000);
  assert.is(auth.verify(signed(nonce), 'REGISTER', HA1), 'ok');
  clock.advance(1);
  assert.is(auth.verify(signed(nonce, { nc: '00000002' }), 'REGISTER', HA1), 'stale');
});

test('replay memory: by default many nonces are remembered; with a limit of two, the first goes only when a third comes', () => {
  const { auth } = setup();
  const many = Array.from({ length: 50 }, () => signed(nonceOf(auth)));
  for (const c of many) assert.is(auth.verify(c, 'REGISTER', HA1), 'ok');
  for (const c of many) assert.is(auth.verify(c, 'REGISTER', HA1), 'stale', 'each of fifty answers is still a replay');
  const small = setup({ maxTrackedNonces: 2 }).auth;
  const [a, b, c] = [signed(nonceOf(small)), signed(nonceOf(small)), signed(nonceOf(small))];
  assert.is(small.verify(a, 'REGISTER', HA1), 'ok');
  assert.is(small.verify(b, 'REGISTER', HA1), 'ok');
  assert.is(small.verify(a, 'REGISTER', HA1), 'stale', 'two remembered');
  assert.is(small.verify(c, 'REGISTER', HA1), 'ok');
  assert.is(small.verify(b, 'REGISTER', HA1), 'stale', 'the second still remembered');
  assert.is(small.verify(a, 'REGISTER', HA1), 'ok', 'the first forgotten when the third came');
  const one = setup({ maxTrackedNonces: 0 }).auth;
  const d = signed(nonceOf(one));
  assert.is(one.verify(d, 'REGISTER', HA1), 'ok');
  assert.is(one.verify(d, 'REGISTER', HA1), 'stale', 'a limit below one still remembers the last nonce');
});

test('the key may be 16 bytes, not less; the realm may not be empty', () => {
  const clock = new FakeClock();
  const auth = new DigestAuthority({ realm: REALM, key: Buffer.alloc(16, 1), clock });
  assert.is(auth.verify(signed(nonceOf(auth)), 'REGISTER', HA1), 'ok');
  assert.throws(() => new DigestAuthority({ realm: REALM, key: Buffer.alloc(15, 1), clock }), /key/);
  assert.throws(() => new DigestAuthority({ realm: '', key: KEY, clock }), /realm/);
  assert.throws(() => new DigestAuthority({ realm: 5 as unknown as string, key: KEY, clock }), /realm/);
});

test('challenges: each algorithm once, only the two the box knows', () => {
  const { auth } = setup();
  const twice = auth.challenge({ algorithms: ['MD5', 'MD5', 'SHA-256'] });
  assert.equal(twice.map((c) => /algorithm=([\w-]+)/.exec(c)![1]), ['MD5', 'SHA-256']);
  const odd = auth.challenge({ algorithms: ['SHA-512-256', 'MD5'] as never });
  assert.equal(odd.map((c) => /algorithm=([\w-]+)/.exec(c)![1]), ['MD5']);
});

test('a realm with quotes and backslashes is quoted in the challenge and answered', () => {
  const clock = new FakeClock();
  const realm = 'office "a" \\ b';
  const auth = new DigestAuthority({ realm, key: KEY, clock });
  const challenge = auth.challenge({ algorithms: ['SHA-256'] })[0]!;
  assert.ok(challenge.includes('realm="office \\"a\\" \\\\ b"'), challenge);
  const creds = parseAuthorization(answerChallenge(challenge, { username: USER, password: PASSWORD, method: 'REGISTER', uri: URI }))!;
  assert.is(creds.realm, realm);
  assert.is(auth.verify(creds, 'REGISTER', { md5: '', sha256: ha1('SHA-256', USER, realm, PASSWORD) }), 'ok');
});

test('answerChallenge: the algorithm is named back only when the challenge named it; -sess needs qop; a qop list must hold auth', () => {
  const plain = answerChallenge('Digest realm="r", nonce="n", qop="auth"', { username: 'u', password: 'p', method: 'REGISTER', uri: URI });
  assert.not.ok(plain.includes('algorithm='), plain);
  const named = answerChallenge('Digest realm="r", nonce="n", qop="auth", algorithm=MD5', { username: 'u', password: 'p', method: 'REGISTER', uri: URI });
  assert.ok(named.includes('algorithm=MD5'), named);
  assert.throws(() => answerChallenge('Digest realm="r", nonce="n", algorithm=MD5-sess', { username: 'u', password: 'p', method: 'REGISTER', uri: URI }), /-sess algorithm needs qop/);
  assert.throws(() => answerChallenge('Digest realm="r", nonce="n", qop="auth-int"', { username: 'u', password: 'p', method: 'REGISTER', uri: URI }), /no supported qop/);
  assert.ok(answerChallenge('Digest realm="r", nonce="n", qop="auth-int, AUTH"', { username: 'u', password: 'p', method: 'REGISTER', uri: URI }).includes('qop=auth'));
  assert.throws(() => answerChallenge('Digest nonce="n"', { username: 'u', password: 'p', method: 'REGISTER', uri: URI }), /no realm or nonce/);
  assert.throws(() => answerChallenge('Digest realm="r"', { username: 'u', password: 'p', method: 'REGISTER', uri: URI }), /no realm or nonce/);
});

test('a response of another length than the algorithm gives is refused, an empty one included', () => {
  const { auth } = setup();
  const nonce = nonceOf(auth);
  const right = signed(nonce);
  for (const response of ['', right.response.slice(0, 2), right.response.slice(0, -1), right.response + '0']) {
    assert.is(auth.verify({ ...right, response }, 'REGISTER', HA1), 'bad', JSON.stringify(response));
  }
  assert.is(auth.verify(right, 'REGISTER', HA1), 'ok', 'the right response still gets in afterwards');
});

test('the same nonce spelled another way is not the box\'s nonce: a replay cannot hide behind the unused bits of its last character', () => {
  const { auth } = setup();
  const nonce = nonceOf(auth);
  // 43 base64url characters carry 258 bits for 256: the last character's two lowest bits are not part of the nonce.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const respelled = nonce.slice(0, -1) + alphabet[alphabet.indexOf(nonce.at(-1)!) ^ 1];
  assert.ok(Buffer.from(respelled, 'base64url').equals(Buffer.from(nonce, 'base64url')), 'both spellings decode to the same bytes');
  assert.is(auth.verify(signed(nonce), 'REGISTER', HA1), 'ok');
  assert.is(auth.verify(signed(respelled), 'REGISTER', HA1), 'bad', 'the count 1 again under another spelling');
});

test('parseAuthorization: each of username, realm, nonce, uri and response is needed', () => {
  const fields = ['username="100"', 'realm="confbox"', 'nonce="n"', 'uri="sip:confbox.local"', 'response="ff"'];
  assert.ok(parseAuthorization(`Digest ${fields.join(', ')}`), 'all five');
  for (const missing of fields) {
    const value = `Digest ${fields.filter((f) => f !== missing).join(', ')}, qop=auth`;
    assert.is(parseAuthorization(value), null, `without ${missing.split('=')[0]}`);
  }
});

test('parseAuthorization: parameter names are tokens; an unknown one made of token characters is skipped, other names are refused', () => {
  const base = 'Digest username="100", realm="confbox", nonce="n", uri="sip:x", response="ff"';
  const unknown = "x09AZaz!#$%&'*+-.^_`|~";
  assert.is(parseAuthorization(`${base}, ${unknown}="v"`)?.username, '100', 'every token character');
  for (const name of ['x{y', 'x[y', 'x\\y', 'x@y', 'x/y', 'x:y', 'x\x7fy', 'x\u00e9y']) {
    assert.is(parseAuthorization(`${base}, ${name}="v"`), null, JSON.stringify(name));
  }
  assert.is(parseAuthorization(base.replace('username="100"', 'username:"100"')), null, 'a name joined to its value by a colon');
  assert.is(parseAuthorization(`${base}, opaque=ab"cd"`), null, 'a quote inside an unquoted value');
});

test('parseAuthorization: another scheme carrying the same parameters is not a Digest answer, nor a challenge to answer', () => {
  const params = 'username="100", realm="confbox", nonce="n", uri="sip:x", response="ff"';
  for (const scheme of ['Digesx', 'Basic ', 'Dig', 'NTLMv2']) assert.is(parseAuthorization(`${scheme} ${params}`), null, scheme);
  assert.throws(() => answerChallenge('Foobar realm="r", nonce="n"', { username: 'u', password: 'p', method: 'REGISTER', uri: URI }), /not a Digest challenge/);
});

test('parseAuthorization: a header of 8,192 characters is read, one character more is not', () => {
  const head = 'Digest username="100", realm="confbox", nonce="n", uri="sip:x", response="ff", opaque="';
  const at = head + 'o'.repeat(8192 - head.length - 1) + '"';
  assert.is(at.length, 8192);
  assert.is(parseAuthorization(at)?.username, '100');
  assert.is(parseAuthorization(at.slice(0, -1) + 'o"'), null);
});

test.run();
