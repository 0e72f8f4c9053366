// IPv6 end to end over ::1: a box bound to ::1 (IPv6 only) and one bound to :: (both families). Phones are the
// scriptable test phone (RTP tones, analysed) and SIPp over IPv6; what a user checks is that the calls join, the
// Via, Contact and SDP name the box by an address of the phone's family, and the audio goes both ways.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone, type Call, type SipMessage } from '../support/phone.ts';
import { RtpReceiver, RtpSender, meanToneLevel, telephoneEventPayloadType, tonePresent, until } from '../support/rtp.ts';
import { describeRun, received, runSipp, sippAvailable } from '../support/sipp.ts';

const EXT = { '100': 'pw-100', '101': 'pw-101', '102': 'pw-102', '103': 'pw-103' } as const;
const ROOM = { id: 38, pin: '3838' };
const LEVEL = -12;

let v6: RunningBox;
let dual: RunningBox;
const dirs: string[] = [];
const phones: Phone[] = [];
const senders: RtpSender[] = [];

interface Member {
  phone: Phone;
  call: Call;
  final: SipMessage;
  rx: RtpReceiver;
}

async function boxWith(bind: '::1' | '::', extra: string[][] = []): Promise<RunningBox> {
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-ipv6-'));
  dirs.push(dataDir);
  await configure(dataDir, [
    ...Object.entries(EXT).map(([n, pw]) => ['extension', 'add', n, '--password', pw]),
    ['room', 'add', String(ROOM.id), '--pin', ROOM.pin],
    ['room', 'add', '36', '--pin', '3636'],
    ['room', 'add', '37', '--pin', '3737'],
    ['room', 'add', '39', '--pin', '3939'],
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ...extra,
  ]);
  return startBox({ dataDir, bind });
}

/** Dials from a new phone at localAddress; on 200 it sends a tone (Hz) to the answered address. */
async function dialIn(box: RunningBox, ext: keyof typeof EXT, localAddress: string, tone: number, o: { boxAddress?: string; requestUri?: string; room?: { id: number; pin: string } } = {}): Promise<Member> {
  const room = o.room ?? ROOM;
  const phone = await Phone.open({ boxPort: box.sipPort, boxAddress: o.boxAddress ?? localAddress, localAddress, user: ext, password: EXT[ext] });
  phones.push(phone);
  const call = await phone.invite(`*400*${room.id}*${room.pin}`, { codecs: ['PCMU'], requestUri: o.requestUri });
  const rx = new RtpReceiver(call.rtp!);
  rx.backfill(call.rtpIn);
  const final = await call.final(10_000);
  assert.is(final.status, 200, `${ext} from ${localAddress}: ${call.responses.map((r) => r.describe()).join('; ')}`);
  const answer = call.answer!;
  const tx = new RtpSender(call.rtp!, { address: answer.address!, port: answer.port, payloadType: 0, dtmfPayloadType: telephoneEventPayloadType(final.body) });
  tx.tone(tone, LEVEL);
  senders.push(tx);
  return { phone, call, final, rx };
}

async function hearEachOther(a: Member, fa: number, b: Member, fb: number): Promise<void> {
  const ok = await until(() => tonePresent(a.rx.last(1000), fb) && tonePresent(b.rx.last(1000), fa), 10_000, 200);
  assert.ok(ok, `each hears the other's tone: A hears ${meanToneLevel(a.rx.last(1000), fb).toFixed(1)} dBFS at ${fb} Hz, B hears ${meanToneLevel(b.rx.last(1000), fa).toFixed(1)} dBFS at ${fa} Hz`);
}

async function hangUp(...ms: Member[]): Promise<void> {
  for (const s of senders.splice(0)) s.stop();
  for (const m of ms) if (!m.call.ended) await m.call.bye().catch(() => undefined);
}

/** The SDP line of a body that starts with prefix. */
function sdpLine(body: string, prefix: string): string {
  return body.split(/\r?\n/).find((l) => l.startsWith(prefix)) ?? '';
}

test.before(async () => {
  [v6, dual] = await Promise.all([
    // SIPp 3.6 answers MD5 digests only.
    boxWith('::1', [['settings', 'set', 'digestAlgorithms', 'MD5']]),
    boxWith('::'),
  ]);
});

test.after(async () => {
  for (const s of senders) s.stop();
  for (const p of phones) p.close();
  await Promise.all([v6?.stop(), dual?.stop()]);
  for (const d of dirs) removeDataDir(d);
});

test('bound to ::1: two IPv6 phones join room 37 by sip:*400*37*3737@[::1] and hear each other; Via, Contact and SDP name [::1] and IN IP6', async () => {
  const room37 = { id: 37, pin: '3737' };
  const a = await dialIn(v6, '100', '::1', 440, { room: room37, requestUri: `sip:*400*37*3737@[::1]` });
  const b = await dialIn(v6, '101', '::1', 1000, { room: room37 });
  try {
    assert.match(a.final.get('contact') ?? '', new RegExp(`<sip:confbox@\\[::1\\]:${v6.sipPort}>`));
    assert.match(a.final.get('via') ?? '', /^SIP\/2\.0\/UDP \[::1\]:\d+;branch=[^;]+;rport=\d+;received=::1$/);
    assert.is(sdpLine(a.final.body, 'c='), 'c=IN IP6 ::1');
    assert.match(sdpLine(a.final.body, 'o='), / IN IP6 ::1$/);
    await hearEachOther(a, 440, b, 1000);
  } finally {
    await hangUp(a, b);
  }
});

test('bound to ::1: REGISTER from [::1] with digest is bound to its IPv6 contact', async () => {
  const p = await Phone.open({ boxPort: v6.sipPort, boxAddress: '::1', localAddress: '::1', user: '102', password: EXT['102'] });
  phones.push(p);
  const r = await p.register({ expires: 300 });
  assert.is(r.finals[0]?.status, 401, 'challenged first');
  assert.is(r.final.status, 200, r.final.describe());
  assert.match(r.final.get('contact') ?? '', new RegExp(`<sip:102@\\[::1\\]:${p.localPort}>;expires=\\d+`));
});

test('bound to :: : an IPv4 and an IPv6 phone in the same room hear each other; each is given the box address of its own family', async () => {
  const a = await dialIn(dual, '100', '127.0.0.1', 440);
  const b = await dialIn(dual, '101', '::1', 1800);
  try {
    assert.is(sdpLine(a.final.body, 'c='), 'c=IN IP4 127.0.0.1');
    assert.match(a.final.get('contact') ?? '', new RegExp(`<sip:confbox@127\\.0\\.0\\.1:${dual.sipPort}>`));
    assert.is(sdpLine(b.final.body, 'c='), 'c=IN IP6 ::1');
    assert.match(b.final.get('contact') ?? '', new RegExp(`<sip:confbox@\\[::1\\]:${dual.sipPort}>`));
    assert.match(b.final.get('via') ?? '', /received=::1/);
    assert.match(a.final.get('via') ?? '', /received=127\.0\.0\.1/);
    await hearEachOther(a, 440, b, 1800);
    const rooms = await dual.cli('room', 'list', '--json');
    assert.match(rooms.stdout, /"participants":\s*2/, rooms.stdout);
  } finally {
    await hangUp(a, b);
  }
});

test('bound to ::1: SIPp over IPv6 (-i ::1) with digest joins room 38 by sip:*400*38*3838@[::1]', async () => {
  if (!sippAvailable()) throw new Error('sipp (Debian package sip-tester) is not installed');
  const r = await runSipp({
    scenario: 'call-auth.xml', port: v6.sipPort, host: '[::1]', local: '::1', service: `*400*${ROOM.id}*${ROOM.pin}`,
    keys: { ext: '103' }, auth: { user: '103', password: EXT['103'] }, holdMs: 1000,
  });
  assert.ok(r.ok && r.successful === 1, describeRun(r));
  const ok = received(r).find((m) => /^SIP\/2\.0 200/.test(m.start) && m.cseq === '2 INVITE');
  assert.ok(ok, describeRun(r));
  assert.match(ok.text, /^c=IN IP6 ::1\r?$/m);
  assert.match(ok.text, /^Via: SIP\/2\.0\/UDP \[::1\]:\d+;/m);
});

test('bound to :: : five wrong passwords from ::1 block its /64; the right password is then refused, and an IPv4 phone still registers', async () => {
  const p = await Phone.open({ boxPort: dual.sipPort, boxAddress: '::1', localAddress: '::1', user: '102', password: 'wrong' });
  phones.push(p);
  const blocked = dual.waitForLog((rec) => rec.msg === 'blocked after repeated failures', 30_000);
  for (let i = 0; i < 5; i++) {
    const r = await p.register({ expires: 300 });
    assert.ok([401, 403].includes(r.final.status), r.final.describe());
  }
  const block = await blocked;
  p.password = EXT['102'];
  const r = await p.register({ expires: 300 });
  assert.is(r.final.status, 403, r.final.describe());
  assert.match(r.final.warning ?? '', /too many failed attempts/);
  assert.is(block.key, '::/64');
  const v4 = await Phone.open({ boxPort: dual.sipPort, boxAddress: '127.0.0.1', localAddress: '127.0.0.1', user: '103', password: EXT['103'] });
  phones.push(v4);
  assert.is((await v4.register({ expires: 300 })).final.status, 200, 'an IPv4 phone on the same box is not blocked');
});

test('bound to ::1: over TCP from [::1], a phone registers and joins a room; the 200 names the box [::1] over TCP', async () => {
  const p = await Phone.open({ transport: 'tcp', boxPort: v6.sipPort, boxAddress: '::1', localAddress: '::1', user: '101', password: EXT['101'] });
  phones.push(p);
  const r = await p.register({ expires: 300 });
  assert.is(r.final.status, 200, r.final.describe());
  const call = await p.invite('*400*36*3636', { codecs: ['PCMU'] });
  const final = await call.final(10_000);
  assert.is(final.status, 200, call.responses.map((m) => m.describe()).join('; '));
  assert.match(final.get('contact') ?? '', new RegExp(`<sip:confbox@\\[::1\\]:${v6.sipPort};transport=tcp>`));
  assert.match(final.get('via') ?? '', /^SIP\/2\.0\/TCP \[::1\]:\d+;.*received=::1/);
  assert.is(sdpLine(final.body, 'c='), 'c=IN IP6 ::1');
  await call.bye();
});

test('bound to ::1: a trusted peer given as an IPv6 prefix (::/120) calls in without a password', async () => {
  const added = await v6.cli('peer', 'add', '::/120', '--description', 'office PBX on IPv6');
  assert.is(added.code, 0, added.stderr);
  const pbx = await Phone.open({ boxPort: v6.sipPort, boxAddress: '::1', localAddress: '::1', user: '555' });
  phones.push(pbx);
  // The running box reads new peers within seconds: until then the call is challenged.
  const answers: string[] = [];
  for (let i = 0; i < 20; i++) {
    const call = await pbx.invite(`*400*39*3939`, { codecs: ['PCMU'], auth: false });
    const final = await call.final(10_000);
    answers.push(final.describe());
    if (final.status === 200) {
      await call.bye().catch(() => undefined);
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.unreachable(`the peer's call was never answered 200: ${answers.join('; ')}`);
});

test.run();
