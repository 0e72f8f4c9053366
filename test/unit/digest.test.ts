import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { FakeClock } from '../../firmware/clock.ts';
import {
  DigestAuthority,
  answerChallenge,
  digestResponse,
  ha1,
  parseAuthorization,
  type DigestCredentials,
} from '../../firmware/sip/digest.ts';

const KEY = Buffer.alloc(32, 7);
const REALM = 'confbox';
const USER = '100';
const PASSWORD = 'secret 100';
const HA1 = { md5: ha1('MD5', USER, REALM, PASSWORD), sha256: ha1('SHA-256', USER, REALM, PASSWORD) };
/** One run of the box. */
const EPOCH = Buffer.from([1, 2, 3, 4]);

function setup(extra: { nonceLifetimeMs?: number; maxTrackedNonces?: number } = {}) {
  const clock = new FakeClock();
  const auth = new DigestAuthority({ realm: REALM, key: KEY, clock, epoch: EPOCH, ...extra });
  return { clock, auth };
}

function pick(challenges: string[], algorithm: 'SHA-256' | 'MD5'): string {
  const c = challenges.find((v) => v.includes(`algorithm=${algorithm}`));
  assert.ok(c, `no ${algorithm} challenge`);
  return c;
}

function answer(challenge: string, o: { password?: string; nc?: number; method?: string; cnonce?: string } = {}): DigestCredentials {
  const value = answerChallenge(challenge, {
    username: USER,
    password: o.password ?? PASSWORD,
    method: o.method ?? 'REGISTER',
    uri: 'sip:confbox.local',
    nc: o.nc,
    cnonce: o.cnonce,
  });
  const creds = parseAuthorization(value);
  assert.ok(creds, `answer did not parse: ${value}`);
  return creds;
}

test('RFC 2617 section 3.5 example (MD5, qop=auth)', () => {
  assert.is(ha1('MD5', 'Mufasa', 'testrealm@host.com', 'Circle Of Life'), '939e7578ed9e3c518a452acee763bce9');
  const value = answerChallenge(
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    { username: 'Mufasa', password: 'Circle Of Life', method: 'GET', uri: '/dir/index.html', cnonce: '0a4f113b', nc: 1 },
  );
  const creds = parseAuthorization(value);
  assert.is(creds?.response, '6629fae49393a05397450978507c4ef1');
  assert.is(creds?.nc, '00000001');
  assert.is(creds?.qop, 'auth');
  assert.is(creds?.opaque, '5ccc069c403ebaf9f0171e9517f40e41');
});

test('RFC 7616 section 3.9.1 example, SHA-256 and MD5', () => {
  const base = {
    sess: false,
    nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
    cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    nc: '00000001',
    qop: 'auth',
    method: 'GET',
    uri: '/dir/index.html',
  };
  const realm = 'http-auth@example.org';
  assert.is(
    digestResponse({ ...base, algorithm: 'SHA-256', ha1: ha1('SHA-256', 'Mufasa', realm, 'Circle of Life') }),
    '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
  );
  assert.is(
    digestResponse({ ...base, algorithm: 'MD5', ha1: ha1('MD5', 'Mufasa', realm, 'Circle of Life') }),
    '8ca523f5e9506fed4657c9700eebdbec',
  );
  const value = answerChallenge(
    `Digest realm="${realm}", qop="auth, auth-int", algorithm=SHA-256, nonce="${base.nonce}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
    { username: 'Mufasa', password: 'Circle of Life', method: 'GET', uri: '/dir/index.html', cnonce: base.cnonce, nc: 1 },
  );
  assert.match(value, 'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"');
  assert.match(value, 'algorithm=SHA-256');
});

test('challenge: SHA-256 first, then MD5, one nonce, quoted fields, stale on request', () => {
  const { auth } = setup();
  const values = auth.challenge({});
  assert.is(values.length, 2);
  assert.match(values[0] ?? '', /^Digest realm="confbox", nonce="[A-Za-z0-9_-]+", opaque="[^"]+", algorithm=SHA-256, qop="auth"$/);
  assert.match(values[1] ?? '', /algorithm=MD5, qop="auth"$/);
  const nonceOf = (v: string) => /nonce="([^"]+)"/.exec(v)?.[1];
  assert.is(nonceOf(values[0] ?? ''), nonceOf(values[1] ?? ''));
  assert.not.match(values[0] ?? '', 'stale');
  const stale = auth.challenge({ stale: true, algorithms: ['MD5', 'SHA-256'] });
  assert.ok(stale.every((v) => v.endsWith(', stale=true')));
  assert.match(stale[0] ?? '', 'algorithm=MD5');
  const md5Only = auth.challenge({ algorithms: ['MD5'] });
  assert.is(md5Only.length, 1);
  assert.match(md5Only[0] ?? '', 'algorithm=MD5');
  assert.is.not(nonceOf(auth.challenge({})[0] ?? ''), nonceOf(values[0] ?? ''), 'each challenge has a fresh nonce');
});

test('round trip answerChallenge -> verify, SHA-256 and MD5', () => {
  const { auth } = setup();
  for (const alg of ['SHA-256', 'MD5'] as const) {
    const creds = answer(pick(auth.challenge({}), alg));
    assert.is(creds.algorithm, alg);
    assert.is(auth.verify(creds, 'REGISTER', HA1), 'ok', alg);
  }
});

test('-sess variants verify', () => {
  const { auth } = setup();
  for (const alg of ['SHA-256-sess', 'MD5-sess']) {
    const challenge = (auth.challenge({})[0] ?? '').replace('algorithm=SHA-256', `algorithm=${alg}`);
    assert.is(auth.verify(answer(challenge), 'REGISTER', HA1), 'ok', alg);
  }
});

test('wrong password, wrong method, wrong realm, wrong ha1 are bad', () => {
  const { auth } = setup();
  const challenge = pick(auth.challenge({}), 'SHA-256');
  assert.is(auth.verify(answer(challenge, { password: 'guess' }), 'REGISTER', HA1), 'bad');
  assert.is(auth.verify(answer(challenge), 'INVITE', HA1), 'bad');
  const other = ha1('SHA-256', USER, REALM, 'other');
  assert.is(auth.verify(answer(challenge), 'REGISTER', { md5: HA1.md5, sha256: other }), 'bad');
  const foreign = answer(challenge.replace('realm="confbox"', 'realm="elsewhere"'));
  assert.is(auth.verify(foreign, 'REGISTER', HA1), 'bad');
});

test('upper-case hex in the response is accepted', () => {
  const { auth } = setup();
  const creds = answer(pick(auth.challenge({}), 'MD5'));
  assert.is(auth.verify({ ...creds, response: creds.response.toUpperCase() }, 'REGISTER', HA1), 'ok');
});

test('replayed or lower nc is refused (stale), a higher nc is accepted', () => {
  const { auth } = setup();
  const challenge = pick(auth.challenge({}), 'SHA-256');
  const first = answer(challenge, { nc: 1, cnonce: 'abc' });
  assert.is(auth.verify(first, 'REGISTER', HA1), 'ok');
  assert.is(auth.verify(first, 'REGISTER', HA1), 'stale', 'same nc again');
  assert.is(auth.verify(answer(challenge, { nc: 3 }), 'REGISTER', HA1), 'ok');
  assert.is(auth.verify(answer(challenge, { nc: 2 }), 'REGISTER', HA1), 'stale', 'lower nc');
  assert.is(auth.verify(answer(challenge, { nc: 4 }), 'REGISTER', HA1), 'ok');
  assert.is(auth.verify(answer(challenge, { nc: 5, password: 'guess' }), 'REGISTER', HA1), 'bad');
});

test('replay memory is bounded (least recently used nonce is forgotten)', () => {
  const { auth } = setup({ maxTrackedNonces: 2 });
  const a = answer(pick(auth.challenge({}), 'MD5'));
  assert.is(auth.verify(a, 'REGISTER', HA1), 'ok');
  assert.is(auth.verify(a, 'REGISTER', HA1), 'stale');
  for (let i = 0; i < 2; i++) assert.is(auth.verify(answer(pick(auth.challenge({}), 'MD5')), 'REGISTER', HA1), 'ok');
  assert.is(auth.verify(a, 'REGISTER', HA1), 'ok', 'forgotten after two newer nonces');
});

test('expired nonce: stale with the right password, bad with a wrong one', () => {
  const { auth, clock } = setup({ nonceLifetimeMs: 60_000 });
  const challenge = pick(auth.challenge({}), 'SHA-256');
  clock.advance(59_000);
  assert.is(auth.verify(answer(challenge, { nc: 1 }), 'REGISTER', HA1), 'ok');
  clock.advance(2_000);
  assert.is(auth.verify(answer(challenge, { nc: 2 }), 'REGISTER', HA1), 'stale');
  assert.is(auth.verify(answer(challenge, { nc: 3, password: 'guess' }), 'REGISTER', HA1), 'bad');
});

test('default lifetime is five minutes; a nonce from the future is stale', () => {
  const { auth, clock } = setup();
  const challenge = pick(auth.challenge({}), 'MD5');
  clock.advance(300_001);
  assert.is(auth.verify(answer(challenge), 'REGISTER', HA1), 'stale');
  const later = new DigestAuthority({ realm: REALM, key: KEY, epoch: EPOCH, clock: { now: () => clock.now() - 3_600_000 } });
  assert.is(later.verify(answer(pick(auth.challenge({}), 'MD5')), 'REGISTER', HA1), 'stale');
});

test('after a restart (same key, new epoch) an answer from before it is stale, replayed or not; a wrong one is bad; another key is bad', () => {
  const { auth, clock } = setup();
  const challenge = pick(auth.challenge({}), 'SHA-256');
  const captured = answer(challenge);
  assert.is(auth.verify(captured, 'REGISTER', HA1), 'ok');
  const restarted = new DigestAuthority({ realm: REALM, key: Buffer.from(KEY), clock, epoch: Buffer.from([9, 9, 9, 9]) });
  assert.is(restarted.verify(captured, 'REGISTER', HA1), 'stale', 'the replayed answer is not accepted after the restart');
  assert.is(restarted.verify(captured, 'REGISTER', HA1), 'stale', 'nor the second time');
  assert.is(restarted.verify(answer(challenge, { nc: 2 }), 'REGISTER', HA1), 'stale', 'a fresh answer to the old nonce is stale: re-challenge');
  assert.is(restarted.verify(answer(challenge, { nc: 3, password: 'guess' }), 'REGISTER', HA1), 'bad');
  assert.is(restarted.verify(answer(pick(restarted.challenge({}), 'SHA-256')), 'REGISTER', HA1), 'ok', 'a new challenge works');
  const sameRun = new DigestAuthority({ realm: REALM, key: Buffer.from(KEY), clock, epoch: EPOCH });
  assert.is(sameRun.verify(answer(challenge, { nc: 4 }), 'REGISTER', HA1), 'ok', 'the same epoch and key accept the nonce');
  assert.is(new DigestAuthority({ realm: REALM, key: KEY, clock }).verify(answer(challenge, { nc: 5 }), 'REGISTER', HA1), 'stale', 'the default epoch is new for each run');
  const forger = new DigestAuthority({ realm: REALM, key: Buffer.alloc(32, 8), clock });
  assert.is(auth.verify(answer(pick(forger.challenge({}), 'SHA-256')), 'REGISTER', HA1), 'bad');
});

test('tampered, truncated and made-up nonces are bad', () => {
  const { auth } = setup();
  const creds = answer(pick(auth.challenge({}), 'MD5'));
  const n = creds.nonce;
  const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  for (const nonce of [flip(n, 0), flip(n, 20), flip(n, n.length - 1), n.slice(0, -1), n + 'A', '', 'dcd98b7102dd2f0e8b11d0f600bfb0c093']) {
    const forged = parseAuthorization(
      answerChallenge(`Digest realm="confbox", nonce="${nonce}", qop="auth"`, {
        username: USER, password: PASSWORD, method: 'REGISTER', uri: 'sip:confbox.local',
      }),
    );
    assert.ok(forged);
    assert.is(auth.verify(forged, 'REGISTER', HA1), 'bad', nonce);
  }
});

test('legacy RFC 2069 form (no qop) is accepted once per nonce', () => {
  const { auth } = setup();
  const challenge = pick(auth.challenge({}), 'MD5').replace(', qop="auth"', '');
  const creds = answer(challenge);
  assert.is(creds.qop, null);
  assert.is(creds.nc, null);
  assert.is(auth.verify(creds, 'REGISTER', HA1), 'ok');
  assert.is(auth.verify(creds, 'REGISTER', HA1), 'stale');
  assert.is(auth.verify(answer(pick(auth.challenge({}), 'MD5').replace(', qop="auth"', ''), { password: 'x' }), 'REGISTER', HA1), 'bad');
});

test('unsupported qop, algorithm and malformed nc are bad', () => {
  const { auth } = setup();
  const creds = answer(pick(auth.challenge({}), 'SHA-256'));
  assert.is(auth.verify({ ...creds, qop: 'auth-int' }, 'REGISTER', HA1), 'bad');
  assert.is(auth.verify({ ...creds, algorithm: 'SHA-512-256' }, 'REGISTER', HA1), 'bad');
  assert.is(auth.verify({ ...creds, nc: '1' }, 'REGISTER', HA1), 'bad');
  assert.is(auth.verify({ ...creds, nc: '00000000' }, 'REGISTER', HA1), 'bad');
  assert.is(auth.verify({ ...creds, cnonce: null }, 'REGISTER', HA1), 'bad');
  assert.is(auth.verify({ ...creds, algorithm: 'SHA-256-sess', qop: null }, 'REGISTER', HA1), 'bad');
  assert.is(auth.verify(creds, 'REGISTER', { md5: '', sha256: 'not hex' }), 'bad');
  assert.is(auth.verify(creds, 'REGISTER', HA1), 'ok', 'the unmodified answer still works');
});

test('parseAuthorization: quoting, escapes, whitespace, case', () => {
  const v =
    ' DIGEST  USERNAME = "1\\"0\\\\0" ,realm="confbox",\r\n\tNonce="abc", uri="sip:conf@box;transport=udp",' +
    'response="0123abcd",algorithm="SHA-256",cnonce="x,y", qop=auth ,nc=00000001, opaque="", ,';
  const c = parseAuthorization(v);
  assert.equal(c, {
    username: '1"0\\0',
    realm: 'confbox',
    nonce: 'abc',
    uri: 'sip:conf@box;transport=udp',
    response: '0123abcd',
    algorithm: 'SHA-256',
    cnonce: 'x,y',
    qop: 'auth',
    nc: '00000001',
    opaque: '',
  });
  const unquotedUri = parseAuthorization('Digest username="100", realm="r", nonce="n", uri=sip:100@host, response="ff"');
  assert.is(unquotedUri?.uri, 'sip:100@host');
  assert.is(unquotedUri?.algorithm, null);
});

test('parseAuthorization: other schemes and garbage give null', () => {
  const good = 'Digest username="100", realm="r", nonce="n", uri="sip:x", response="ff"';
  assert.ok(parseAuthorization(good));
  for (const v of [
    '',
    'Basic dXNlcjpwYXNz',
    'Bearer abc',
    'Digest',
    'Digest ',
    'Digestusername="100", realm="r", nonce="n", uri="sip:x", response="ff"',
    good.replace(', response="ff"', ''),
    good + ', realm="r2"',
    good + ', opaque="unterminated',
    good + ', opaque="ends in backslash\\',
    good + ', opaque',
    good + ', ="x"',
    good + ', x=',
    good + ' extra',
    'Digest username="100" realm="r", nonce="n", uri="sip:x", response="ff"',
    'Digest ' + 'a=b, '.repeat(5000),
    'Digest username="' + 'x'.repeat(1_000_000) + '", realm="r", nonce="n", uri="sip:x", response="ff"',
  ]) {
    assert.is(parseAuthorization(v), null, JSON.stringify(v.slice(0, 80)));
  }
  for (const v of [null, undefined, 42, {}, Buffer.from('Digest')] as unknown[]) {
    assert.is(parseAuthorization(v as string), null);
  }
});

test('parser fuzz: random bytes and mutated headers never throw', () => {
  const { auth } = setup();
  const valid = answerChallenge(pick(auth.challenge({}), 'SHA-256'), {
    username: USER, password: PASSWORD, method: 'INVITE', uri: 'sip:*400*1*1234@confbox',
  });
  const alphabet = 'Digest=",\\ \t\r\nabcnonce0123';
  let parsed = 0;
  for (let i = 0; i < 20_000; i++) {
    let s: string;
    const kind = i % 4;
    if (kind === 0) s = randomBytes(i % 300).toString('latin1');
    else if (kind === 1) s = 'Digest ' + randomBytes(i % 200).toString('latin1');
    else if (kind === 2) {
      const chars = [...valid];
      for (let k = 0; k < 1 + (i % 5); k++) chars[Math.floor(Math.random() * chars.length)] = alphabet[Math.floor(Math.random() * alphabet.length)] ?? '';
      s = chars.join('');
    } else {
      const cut = Math.floor(Math.random() * valid.length);
      s = valid.slice(0, cut) + randomBytes(3).toString('utf8') + valid.slice(cut);
    }
    const c = parseAuthorization(s);
    if (c) {
      parsed++;
      assert.ok(['ok', 'stale', 'bad'].includes(auth.verify(c, 'INVITE', HA1)));
    }
  }
  assert.ok(parsed > 0, 'some mutations still parse, so verify was exercised');
});

test('constructor rejects a short key and a realm with control characters', () => {
  const clock = new FakeClock();
  assert.throws(() => new DigestAuthority({ realm: REALM, key: Buffer.alloc(8), clock }), /"key"/);
  assert.throws(() => new DigestAuthority({ realm: 'a\r\nb', key: KEY, clock }), /"realm"/);
  assert.throws(() => new DigestAuthority({ realm: REALM, key: KEY, clock, nonceLifetimeMs: 0 }), /"nonceLifetimeMs"/);
  assert.throws(() => new DigestAuthority({ realm: REALM, key: KEY, clock, epoch: Buffer.alloc(8) }), /"epoch"/);
});

test('answerChallenge refuses what it cannot answer', () => {
  const opts = { username: 'a', password: 'b', method: 'REGISTER', uri: 'sip:x' };
  assert.throws(() => answerChallenge('Basic realm="x"', opts), /not a Digest challenge/);
  assert.throws(() => answerChallenge('Digest realm="x", nonce="n", algorithm=SHA-512', opts), /unsupported algorithm/);
  assert.throws(() => answerChallenge('Digest realm="x", nonce="n", qop="auth-int"', opts), /no supported qop/);
});

test('challenges come in the order the setting asks, so phones that read only the first get that one', () => {
  const auth = new DigestAuthority({ realm: 'confbox', key: randomBytes(32), clock: new FakeClock() });
  assert.equal(auth.challenge({ algorithms: ['MD5', 'SHA-256'] }).map((c) => /algorithm=([\w-]+)/.exec(c)?.[1]), ['MD5', 'SHA-256']);
  assert.equal(auth.challenge().map((c) => /algorithm=([\w-]+)/.exec(c)?.[1]), ['SHA-256', 'MD5']);
  assert.equal(auth.challenge({ algorithms: ['MD5'] }).map((c) => /algorithm=([\w-]+)/.exec(c)?.[1]), ['MD5']);
});

test.run();
