// The box as registrar (SPEC.md section 3), over real UDP and TCP against the built bundle.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone, type SipMessage, type Transport } from '../support/phone.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-registrar-'));
let box: RunningBox;
const phones: Phone[] = [];

async function phone(transport: Transport, o: { user?: string; password?: string; localAddress?: string } = {}): Promise<Phone> {
  const p = await Phone.open({ transport, boxPort: box.sipPort, user: o.user ?? '100', password: o.password ?? 's3cret', localAddress: o.localAddress });
  phones.push(p);
  return p;
}

test.before(async () => {
  await configure(dataDir, [
    ['extension', 'add', '100', '--password', 's3cret', '--name', 'Front desk'],
    ['extension', 'add', '101', '--password', 'other-pw', '--name', 'Back office'],
    ['extension', 'add', '102', '--password', 'pw-102'],
    ['extension', 'add', '103', '--password', 'pw-103'],
    ...['104', '105', '106', '107', '108'].map((n) => ['extension', 'add', n, '--password', `pw-${n}`]),
    ['room', 'add', '20', '--pin', '1234'],
  ]);
  box = await startBox({ dataDir });
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  removeDataDir(dataDir);
});

// Distinct source addresses keep failures of one test from counting towards another's lockout.
const ADDRESSES: Record<'udp' | 'tcp', { wrong: string; lockout: string[]; unknown: string; stranger: string }> = {
  udp: { wrong: '127.0.0.7', lockout: ['127.0.0.9', '127.0.0.15'], unknown: '127.0.0.11', stranger: '127.0.0.13' },
  tcp: { wrong: '127.0.0.8', lockout: ['127.0.0.10', '127.0.0.16'], unknown: '127.0.0.12', stranger: '127.0.0.14' },
};
/** The extension whose phone learns SHA-256 in the digest test (the setting digestAlgorithms is auto by default). */
const AUTO_EXT: Record<'udp' | 'tcp', string> = { udp: '104', tcp: '105' };
/** The extension each lockout test attacks: failures also count against the extension. */
const TARGETS: Record<'udp' | 'tcp', string> = { udp: '102', tcp: '103' };

/** What a scanner compares between two answers: status, reason and every header but the per-request ones, nonces blanked. */
function shape(m: SipMessage): string[] {
  const perRequest = new Set(['via', 'from', 'to', 'call-id', 'cseq', 'contact', 'content-length']);
  return [m.startLine, ...m.headers.filter(([k]) => !perRequest.has(k)).map(([k, v]) => `${k}: ${v.replace(/nonce="[^"]*"/g, 'nonce="…"')}`)];
}

for (const transport of ['udp', 'tcp'] as const) {
  test(`${transport}: digest at the default setting (auto): MD5 alone to a new phone, 200 with the Contact; SHA-256 first on a refresh, kept once answered`, async () => {
    const p = await phone(transport, { user: AUTO_EXT[transport], password: `pw-${AUTO_EXT[transport]}` });
    const algorithms = (m: SipMessage) => m.challenges().map((c) => /algorithm="?([\w-]+)/i.exec(c)?.[1]?.toUpperCase());
    const first = await p.register({ expires: 300 });
    assert.is(first.finals[0]!.status, 401, first.finals[0]!.describe());
    assert.equal(algorithms(first.finals[0]!), ['MD5'], `a phone the box has not seen: ${first.finals[0]!.challenges().join(' | ')}`);
    assert.is(first.final.status, 200, first.final.describe());
    const mine = first.final.contacts().find((c) => c.uri === p.contactUri);
    assert.ok(mine, `200 lists ${p.contactUri}; got ${first.final.getAll('contact').join(' | ')}`);
    assert.ok(mine.expires !== null && mine.expires > 0 && mine.expires <= 300, `expires ${mine.expires}`);
    // Registered from here: the refresh is asked in SHA-256 first, and a phone that answers it keeps SHA-256.
    const refresh = await p.register({ expires: 300, algorithm: 'SHA-256' });
    assert.equal(algorithms(refresh.finals[0]!), ['SHA-256', 'MD5'], `the refresh: ${refresh.finals[0]!.challenges().join(' | ')}`);
    assert.is(refresh.final.status, 200, refresh.final.describe());
    const next = await p.register({ expires: 300, algorithm: 'SHA-256' });
    assert.equal(algorithms(next.finals[0]!), ['SHA-256', 'MD5'], `after a SHA-256 answer: ${next.finals[0]!.challenges().join(' | ')}`);
    assert.is(next.final.status, 200, next.final.describe());
  });

  test(`${transport}: auto: a phone that does not answer the SHA-256 probe stays registered and gets MD5 alone again`, async () => {
    const user = AUTO_EXT[transport] === '104' ? '106' : '107';
    const p = await phone(transport, { user, password: `pw-${user}` });
    assert.is((await p.register({ expires: 300 })).final.status, 200);
    // An MD5-only phone (SIPp, baresip 1.0) gives up on the probe: it sends nothing more for that REGISTER.
    const probe = await p.register({ expires: 300, auth: false });
    assert.is(probe.final.status, 401, probe.final.describe());
    const query = await p.register({ contact: null });
    assert.ok(query.final.contacts().some((c) => c.uri === p.contactUri), `still registered: ${query.final.getAll('contact').join(' | ')}`);
    assert.equal(query.finals[0]!.challenges().map((c) => /algorithm=([\w-]+)/i.exec(c)?.[1]), ['MD5'], 'MD5 alone after the probe');
  });

  test(`${transport}: REGISTER with MD5 digest succeeds too`, async () => {
    const p = await phone(transport);
    const { final } = await p.register({ expires: 600, algorithm: 'MD5' });
    assert.is(final.status, 200, final.describe());
    const mine = final.contacts().find((c) => c.uri === p.contactUri);
    assert.ok(mine, `200 lists ${p.contactUri}; got ${final.getAll('contact').join(' | ')}`);
    assert.ok(mine.expires !== null && mine.expires > 0 && mine.expires <= 600, `expires ${mine.expires}`);
  });

  test(`${transport}: a wrong password is challenged again (401)`, async () => {
    const p = await phone(transport, { localAddress: ADDRESSES[transport].wrong });
    const { finals, final } = await p.register({ expires: 300, password: 'wrong' });
    assert.is(finals.length, 2);
    assert.is(final.status, 401, final.describe());
    assert.ok(final.challenges().length > 0, 'a fresh challenge comes with the 401');
    const ok = await p.register({ expires: 300 });
    assert.is(ok.final.status, 200, `the right password still works: ${ok.final.describe()}`);
  });

  test(`${transport}: an unknown user gets the challenge a real one gets (same status, same headers), and its answer fails like a wrong password`, async () => {
    const real = await phone(transport, { localAddress: ADDRESSES[transport].unknown });
    const madeUp = await phone(transport, { user: '999', password: 'whatever', localAddress: ADDRESSES[transport].unknown });
    const a = await real.register({ expires: 300, auth: false });
    const b = await madeUp.register({ expires: 300, auth: false });
    assert.is(b.final.status, a.final.status, `${b.final.describe()} vs ${a.final.describe()}`);
    assert.is(b.final.status, 401);
    assert.equal(shape(b.final), shape(a.final), 'the same headers with the same parameters, nonces aside');
    const answered = await madeUp.register({ expires: 300 });
    assert.is(answered.finals.length, 2, 'the made-up user answers the challenge');
    assert.is(answered.final.status, 401, `challenged again, as after a wrong password: ${answered.final.describe()}`);
    assert.equal(shape(answered.final), shape(a.final));
  });

  test(`${transport}: Expires below 60 gets 423 with Min-Expires`, async () => {
    const p = await phone(transport);
    const { final } = await p.register({ expires: 30 });
    assert.is(final.status, 423, final.describe());
    const min = Number(final.get('min-expires'));
    assert.ok(Number.isInteger(min) && min >= 60, `Min-Expires: ${final.get('min-expires')}`);
    const again = await p.register({ expires: min });
    assert.is(again.final.status, 200, `at Min-Expires: ${again.final.describe()}`);
  });

  test(`${transport}: unregister (Expires: 0) removes the binding`, async () => {
    const p = await phone(transport);
    const on = await p.register({ expires: 300 });
    assert.is(on.final.status, 200, on.final.describe());
    assert.ok(on.final.contacts().some((c) => c.uri === p.contactUri));
    const off = await p.register({ expires: 0 });
    assert.is(off.final.status, 200, off.final.describe());
    assert.not.ok(off.final.contacts().some((c) => c.uri === p.contactUri), `still bound: ${off.final.getAll('contact').join(' | ')}`);
    const query = await p.register({ contact: null });
    assert.is(query.final.status, 200, query.final.describe());
    assert.not.ok(query.final.contacts().some((c) => c.uri === p.contactUri), `a query still lists it: ${query.final.getAll('contact').join(' | ')}`);
  });

  test(`${transport}: 5 wrong passwords from one address block it (403, no challenge); 10 from two block the extension, but not for the owner's registered phone`, async () => {
    const target = TARGETS[transport];
    const owner = await phone(transport, { user: target, password: `pw-${target}` });
    assert.is((await owner.register({ expires: 300 })).final.status, 200, 'the owner registers before the attack');
    for (const address of ADDRESSES[transport].lockout) {
      const attacker = await phone(transport, { user: target, localAddress: address });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) {
        const { final } = await attacker.register({ expires: 300, password: `wrong-${i}` });
        statuses.push(final.status);
      }
      assert.equal(statuses.slice(0, 4), [401, 401, 401, 401], `answers to wrong passwords 1-4 from ${address}: ${statuses.join(', ')}`);
      // Now blocked: even the right password gets 403 at once, without a challenge.
      const blocked = await attacker.register({ expires: 300, password: `pw-${target}` });
      assert.is(blocked.finals.length, 1, `no challenge round: ${blocked.finals.map((f) => f.describe()).join('; ')}`);
      assert.is(blocked.final.status, 403, blocked.final.describe());
      assert.is(blocked.final.challenges().length, 0, 'no WWW-Authenticate');
      assert.match(blocked.final.warning ?? '', /too many failed attempts/, `a Warning says why: ${blocked.final.warningHeader}`);
    }
    // The extension is closed to strangers for a while, from any address, even with the right password ...
    const stranger = await phone(transport, { user: target, password: `pw-${target}`, localAddress: ADDRESSES[transport].stranger });
    const refused = await stranger.register({ expires: 300 });
    assert.is(refused.final.status, 403, `another address, right password, while the extension is blocked: ${refused.final.describe()}`);
    // ... but its own phone, registered from its own address, still gets in, and other extensions are not affected.
    const again = await owner.register({ expires: 300 });
    assert.is(again.final.status, 200, `the owner's phone: ${again.final.describe()}`);
    const other = await phone(transport, { user: '101', password: 'other-pw', localAddress: ADDRESSES[transport].stranger });
    const fine = await other.register({ expires: 300 });
    assert.is(fine.final.status, 200, `another extension from that address: ${fine.final.describe()}`);
  });
}

test('an address blocked by wrong PINs: the phone registered from it keeps refreshing (same Call-ID); a new REGISTER from it is refused unheard', async () => {
  const address = '127.0.0.19';
  const p = await phone('udp', { user: '108', password: 'pw-108', localAddress: address });
  assert.is((await p.register({ expires: 300 })).final.status, 200);
  for (let i = 0; i < 5; i++) {
    const call = await p.invite(`*400*20*000${i}`);
    assert.is((await call.final(10_000)).status, 603, `wrong PIN ${i + 1}`);
  }
  const refused = await p.invite('*400*20*1234');
  const final = await refused.final(10_000);
  assert.is(final.status, 603, 'the address is blocked for calls');
  assert.match(final.warning ?? '', /too many failed attempts/);
  const refresh = await p.register({ expires: 300 });
  assert.is(refresh.final.status, 200, `the phone's refresh: ${refresh.final.describe()}`);
  const other = await phone('udp', { user: '108', password: 'pw-108', localAddress: address });
  const fresh = await other.register({ expires: 300 });
  assert.equal(fresh.finals.map((f) => f.status), [403], `a new registration from the blocked address: ${fresh.final.describe()}`);
});

test('the registration and the extension survive a restart (SIGTERM, same data dir and SIP port)', async () => {
  const p = await phone('udp');
  const contact = 'sip:100@127.0.0.1:5999';
  const before = await p.register({ expires: 900, contact });
  assert.is(before.final.status, 200, before.final.describe());
  const sipPort = box.sipPort;
  const code = await box.stop('SIGTERM');
  assert.is(code, 0, 'exit code after SIGTERM');
  box = await startBox({ dataDir, sipPort });
  assert.is(box.sipPort, sipPort);
  // A REGISTER without Contact asks for the current bindings (RFC 3261 section 10.2.3).
  const query = await p.register({ contact: null, algorithm: 'MD5' });
  assert.is(query.final.status, 200, `the extension still authenticates: ${query.final.describe()}`);
  const kept = query.final.contacts().find((c) => c.uri === contact);
  assert.ok(kept, `the binding survived the restart; got ${query.final.getAll('contact').join(' | ') || 'no Contact'}`);
  assert.ok(kept.expires !== null && kept.expires > 0 && kept.expires <= 900, `expires ${kept.expires}`);
  const tcp = await phone('tcp');
  const again = await tcp.register({ expires: 300 });
  assert.is(again.final.status, 200, again.final.describe());
  // What the box learnt of the phones survives too: extension 104's phone answered SHA-256 before the restart.
  const learnt = await phone('udp', { user: AUTO_EXT.udp, password: `pw-${AUTO_EXT.udp}` });
  const sha = await learnt.register({ expires: 300 });
  assert.equal(sha.finals[0]!.challenges().map((c) => /algorithm=([\w-]+)/i.exec(c)?.[1]), ['SHA-256', 'MD5'], sha.finals[0]!.describe());
});

test.run();
