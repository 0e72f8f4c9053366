// Hold, packet time and moving media (issue 11), end to end: the bundle, real SIP from the test phone, real G.711 RTP
// over loopback, and what each phone receives analysed (Goertzel). A held caller keeps sending a tone, as a PBX
// keeps playing its hold music: the others hear it only before the hold and after the resume.
// The box hangs up phones silent for 5 s here (rtpTimeoutSeconds), so every call that is not on hold keeps sending.
import { mkdtempSync } from 'node:fs';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone, sdpOffer, type Call, type OfferOptions, type SipMessage } from '../support/phone.ts';
import { RtpReceiver, RtpSender, meanToneLevel, scheduler, telephoneEventPayloadType, until } from '../support/rtp.ts';
import { setupCodeOf, WebClient } from '../support/web.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-hold-'));
let box: RunningBox;
let web: WebClient;
const phones: Phone[] = [];
const members: Member[] = [];

const PIN = '1234';
const EXTENSIONS = Array.from({ length: 16 }, (_, i) => String(200 + i));
const password = (ext: string) => `pw-${ext}`;
const LEVEL = -12;
const LEVEL_TOLERANCE_DB = 3;
/** A tone counts as not heard this far under the sent level. */
const ABSENT_DB = 30;
const RTP_TIMEOUT_S = 5;
const ADMIN_PASSWORD = 'hold test admin';

interface Member {
  phone: Phone;
  call: Call;
  final: SipMessage;
  rx: RtpReceiver;
  tx: RtpSender;
  label: string;
  /** The SDP offer options of the call (kept for re-INVITEs). */
  offer: OfferOptions;
}

async function dial(ext: string, room: number, tone: number | null, offer: Partial<OfferOptions> = {}): Promise<Member> {
  const phone = await Phone.open({ boxPort: box.sipPort, user: ext, password: password(ext) });
  phones.push(phone);
  const call = await phone.invite(`*400*${room}*${PIN}`, { codecs: ['PCMU'], offer: { codecs: ['PCMU'], ...offer } });
  const rx = new RtpReceiver(call.rtp!);
  rx.backfill(call.rtpIn);
  const final = await call.final(10_000);
  assert.is(final.status, 200, `${ext} joins room ${room}: ${call.responses.map((r) => r.describe()).join('; ')}`);
  const answer = call.answer!;
  const tx = new RtpSender(call.rtp!, { address: answer.address!, port: answer.port, payloadType: 0, dtmfPayloadType: telephoneEventPayloadType(final.body) });
  if (tone) tx.tone(tone, LEVEL);
  else tx.silence();
  const m: Member = {
    phone, call, final, rx, tx, label: `${ext}${tone ? ` (${tone} Hz)` : ''}`,
    offer: { address: phone.localAddress, port: call.rtpPort, codecs: ['PCMU'], ...offer },
  };
  members.push(m);
  return m;
}

let version = 10;
/** A re-INVITE with the member's offer changed by `change`; resolves with the 200 (asserted). */
async function reinvite(m: Member, change: Partial<OfferOptions>, what: string): Promise<SipMessage> {
  m.offer = { ...m.offer, ...change };
  const rs = await m.call.reinvite(sdpOffer({ ...m.offer, version: ++version }));
  assert.is(rs.status, 200, `${m.label} ${what}: ${rs.describe()}`);
  return rs;
}

const level = (m: Member, freq: number, ms = 1000) => meanToneLevel(m.rx.last(ms), freq);
const hears = (m: Member, freq: number) => Math.abs(level(m, freq) - LEVEL) <= LEVEL_TOLERANCE_DB;
const absent = (m: Member, freq: number) => level(m, freq) <= LEVEL - ABSENT_DB;
/** Audio packets the member received from the box since `from` (performance.now()). */
const packetsSince = (m: Member, from: number) => m.rx.packetsBetween(from).length;

async function participant(room: number, ext: string): Promise<{ onHold: boolean } | undefined> {
  const confs = (await web.api('GET', '/api/conferences')).json as Array<{ roomId: number; participants: Array<{ caller: string; onHold: boolean }> }>;
  return confs.find((c) => c.roomId === room)?.participants.find((p) => p.caller === ext);
}

async function hangUp(...ms: Member[]): Promise<void> {
  for (const m of ms) {
    m.tx.stop();
    if (!m.call.ended && !m.call.received('BYE')) await m.call.bye().catch(() => undefined);
  }
}

function boxState(): string {
  const p = box.proc;
  return p.exitCode === null && p.signalCode === null ? 'the box is running' : `the box exited (${p.exitCode ?? p.signalCode})`;
}

test.before(async () => {
  await configure(dataDir, [
    ...EXTENSIONS.map((n) => ['extension', 'add', n, '--password', password(n), '--name', `Extension ${n}`]),
    ['settings', 'set', 'rtpTimeoutSeconds', String(RTP_TIMEOUT_S)],
    ['settings', 'set', 'maxParticipants', '5'],
    ...[20, 21, 22, 23, 24, 25, 26].map((id) => ['room', 'add', String(id), '--pin', PIN]),
  ]);
  box = await startBox({ dataDir, logLevel: 'debug' });
  web = new WebClient(box.webUrl, box.certificate());
  const r = await web.setup(ADMIN_PASSWORD, setupCodeOf(dataDir));
  assert.ok(r.status < 400, `first use of the web page: ${r.status}`);
});

test.after(async () => {
  for (const m of members) m.tx.stop();
  await Promise.all(members.filter((m) => !m.call.ended && !m.call.received('BYE')).map((m) => m.call.bye(2000).catch(() => undefined)));
  for (const p of phones) p.close();
  await box?.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
  removeDataDir(dataDir);
  if (scheduler.late || scheduler.skipped) console.log(`RTP scheduler: ${scheduler.late} late ticks, ${scheduler.skipped} skipped`);
});

test('hold with music (a=sendonly, the phone keeps sending a tone): answered a=recvonly; the others stop hearing it, it gets no RTP, the live view says "on hold"; resume brings it back', async () => {
  const a = await dial('200', 20, 440);
  const b = await dial('201', 20, 1000);
  const c = await dial('202', 20, 1800);
  try {
    const before = await until(() => hears(b, 440) && hears(c, 440) && hears(a, 1000), 10_000, 200);
    assert.ok(before, `before the hold, the others hear 440 Hz: ${b.label} ${level(b, 440).toFixed(1)} dBFS, ${c.label} ${level(c, 440).toFixed(1)} dBFS`);

    const held = await reinvite(a, { direction: 'sendonly' }, 'holds');
    assert.match(held.body, /^a=recvonly\r?$/m, 'the hold is answered a=recvonly');
    const gone = await until(() => absent(b, 440) && absent(c, 440), 5000, 200);
    assert.ok(gone, `on hold, the others no longer hear the held phone's music: ${b.label} ${level(b, 440).toFixed(1)} dBFS, ${c.label} ${level(c, 440).toFixed(1)} dBFS; ${boxState()}`);
    await sleep(500);
    const quietFrom = performance.now();
    await sleep(2500);
    assert.is(packetsSince(a, quietFrom), 0, `the held phone receives no RTP: ${a.rx.describe(quietFrom)}`);
    assert.ok(absent(b, 440) && absent(c, 440) && hears(b, 1800) && hears(c, 1000),
      `the rest of the room goes on without the music: ${b.label} 440 Hz ${level(b, 440).toFixed(1)}, 1800 Hz ${level(b, 1800).toFixed(1)}; ${c.label} 440 Hz ${level(c, 440).toFixed(1)}, 1000 Hz ${level(c, 1000).toFixed(1)}`);
    assert.is((await participant(20, '200'))?.onHold, true, 'the API says the held caller is on hold');
    assert.match((await web.get('/live')).text, /badge">on hold</, 'the live view shows "on hold"');

    const resumed = await reinvite(a, { direction: 'sendrecv' }, 'resumes');
    assert.match(resumed.body, /^a=sendrecv\r?$/m, 'the resume is answered a=sendrecv');
    const resumedAt = performance.now();
    const back = await until(() => hears(b, 440) && hears(c, 440) && hears(a, 1000) && hears(a, 1800), 5000, 200);
    assert.ok(back, `after the resume, the others hear 440 Hz again and the caller hears them: ${b.label} ${level(b, 440).toFixed(1)}, ${c.label} ${level(c, 440).toFixed(1)}, ${a.label} hears ${a.rx.describe(resumedAt)}`);
    assert.is((await participant(20, '200'))?.onHold, false, 'the API says the caller is back');
  } finally {
    await hangUp(a, b, c);
  }
});

test(`hold in silence (a=inactive, and c=0.0.0.0) for longer than rtpTimeoutSeconds (${RTP_TIMEOUT_S} s): the call stays up and resumes`, async () => {
  const d = await dial('203', 21, 440);
  const e = await dial('204', 21, 1000);
  const f = await dial('205', 21, 1800);
  try {
    assert.ok(await until(() => hears(e, 440) && hears(e, 1800), 10_000, 200), `the room is up: ${e.label} hears ${e.rx.describe(performance.now() - 1000)}`);
    const inactive = await reinvite(d, { direction: 'inactive' }, 'holds with a=inactive');
    assert.match(inactive.body, /^a=inactive\r?$/m, 'a=inactive is answered a=inactive');
    d.tx.stop();
    // RFC 2543 hold: the phone keeps sending, and says where to send nothing.
    const zero = await reinvite(f, { address: '0.0.0.0' }, 'holds with c=0.0.0.0');
    assert.match(zero.body, /^a=(recvonly|inactive)\r?$/m, `c=0.0.0.0 is answered recvonly or inactive: ${zero.body}`);
    assert.ok(await until(() => absent(e, 1800), 5000, 200), `the c=0.0.0.0 phone is not heard: 1800 Hz at ${level(e, 1800).toFixed(1)} dBFS`);
    const from = performance.now();
    await sleep((RTP_TIMEOUT_S + 3) * 1000);
    assert.not.ok(d.call.received('BYE'), `the silent held phone is not hung up after ${RTP_TIMEOUT_S + 3} s: ${box.output().split('\n').filter((l) => /hanging up/.test(l)).slice(-2).join(' ')}`);
    assert.not.ok(f.call.received('BYE'), 'the c=0.0.0.0 held phone is not hung up either');
    assert.is(packetsSince(d, from) + packetsSince(f, from), 0, `held phones receive no RTP: ${d.rx.describe(from)} | ${f.rx.describe(from)}`);
    assert.ok(absent(e, 1800), `the c=0.0.0.0 phone's tone stays out of the room: ${level(e, 1800).toFixed(1)} dBFS`);

    await reinvite(d, { direction: 'sendrecv' }, 'resumes');
    d.tx.tone(440, LEVEL);
    await reinvite(f, { address: d.offer.address }, 'resumes from c=0.0.0.0');
    const back = await until(() => hears(e, 440) && hears(e, 1800) && hears(d, 1000) && hears(f, 1000), 5000, 200);
    assert.ok(back, `after the resume both are heard and hear again: ${e.label} 440 ${level(e, 440).toFixed(1)}, 1800 ${level(e, 1800).toFixed(1)}; ${d.label} hears 1000 at ${level(d, 1000).toFixed(1)}; ${f.label} hears 1000 at ${level(f, 1000).toFixed(1)}`);
    assert.not.ok(d.call.received('BYE') || f.call.received('BYE'), 'nobody was hung up');
  } finally {
    await hangUp(d, e, f);
  }
});

test('hold-time limit (setting holdLimitSeconds): a call held longer is hung up with BYE; off by default', async () => {
  const settings = (await web.api('GET', '/api/settings')).json as Record<string, unknown>;
  assert.is(settings.holdLimitSeconds, 0, 'no limit by default');
  const page = (await web.get('/settings')).text;
  assert.match(page, /Hang up after on hold for \(seconds\)/, 'the Settings page shows the setting');
  assert.match(page, /name="holdLimitSeconds"[^>]*value="off"/, 'as off');
  const bad = await web.api('PATCH', '/api/settings', { holdLimitSeconds: '3' });
  assert.is(bad.status, 400, `a limit under 5 s is refused: ${bad.text}`);
  assert.match(bad.text, /holdLimitSeconds must be off or 5 to 86400 seconds/);
  const set = await web.api('PATCH', '/api/settings', { holdLimitSeconds: 6 });
  assert.is(set.status, 200, set.text);
  const g = await dial('206', 22, null);
  const h = await dial('207', 22, null);
  try {
    await reinvite(g, { direction: 'sendonly' }, 'holds');
    const heldAt = performance.now();
    const bye = await g.call.waitForRequest('BYE', 20_000).catch(() => null);
    assert.ok(bye, `the held call is hung up after the limit; ${boxState()}`);
    const after = performance.now() - heldAt;
    // A lower bound only: a busy box may be late, never early.
    assert.ok(after >= 5000, `BYE ${after.toFixed(0)} ms after the hold (limit 6 s)`);
    assert.match(bye.get('reason') ?? '', /on hold too long/);
    assert.not.ok(h.call.received('BYE'), 'the other caller stays');
  } finally {
    await web.api('PATCH', '/api/settings', { holdLimitSeconds: 'off' });
    await hangUp(g, h);
  }
});

// Each conference gets a room of its own: the last one out deletes the room.
const PTIME_CALLER: Record<number, { ext: string; room: number }> = { 10: { ext: '208', room: 23 }, 30: { ext: '209', room: 25 }, 60: { ext: '210', room: 26 } };
for (const ptime of [10, 30, 60]) {
  test(`a=ptime:${ptime}: the answer says ${ptime}, and the box's packets carry ${ptime} ms each (timestamps +${ptime * 8})`, async () => {
    const p = await dial(PTIME_CALLER[ptime]!.ext, PTIME_CALLER[ptime]!.room, null, { ptime });
    const q = await dial('215', PTIME_CALLER[ptime]!.room, 1000);
    try {
      assert.is(p.call.answer?.ptime, ptime, `the answer's a=ptime: ${p.final.body}`);
      assert.ok(await until(() => hears(p, 1000), 8000, 200), `the caller hears the room: ${p.rx.describe(performance.now() - 1000)}`);
      const from = performance.now();
      await sleep(2000);
      const pkts = p.rx.packetsBetween(from);
      assert.ok(pkts.length >= (1500 / ptime), `packets arrive: ${pkts.length} in 2 s`);
      const sizes = new Set(pkts.map((x) => x.pcm.length));
      assert.equal([...sizes], [ptime * 8], `every packet carries ${ptime} ms`);
      const steps = new Set(pkts.slice(1).map((x, i) => (x.ts - pkts[i]!.ts) >>> 0));
      assert.equal([...steps], [ptime * 8], `RTP timestamps advance by ${ptime * 8}`);
      const gaps = pkts.slice(1).map((x, i) => x.at - pkts[i]!.at);
      const mean = gaps.reduce((s, g) => s + g, 0) / gaps.length;
      const jitter = gaps.reduce((s, g) => s + Math.abs(g - ptime), 0) / gaps.length;
      console.log(`ptime ${ptime}: ${pkts.length} packets in 2 s, mean spacing ${mean.toFixed(2)} ms, mean deviation from ${ptime} ms ${jitter.toFixed(2)} ms`);
    } finally {
      await hangUp(p, q);
    }
  });
}

test('media moves (re-INVITE with a new port, as Asterisk\'s direct media does): the box follows it, even while the old stream goes on', async () => {
  const m = await dial('213', 24, 440);
  const o = await dial('214', 24, 1000);
  let moved: UdpSocket | null = null;
  let movedTx: RtpSender | null = null;
  try {
    assert.ok(await until(() => hears(o, 440), 8000, 200), `the room is up: ${o.rx.describe(performance.now() - 1000)}`);
    moved = createSocket('udp4');
    await new Promise<void>((r) => moved!.bind(0, m.phone.localAddress, () => r()));
    const rx = new RtpReceiver(moved);
    const rs = await reinvite(m, { port: moved.address().port }, 'moves its media');
    assert.match(rs.body, /^a=sendrecv\r?$/m);
    // The old stream (a 440 Hz tone) goes on; the new one sends 1800 Hz.
    movedTx = new RtpSender(moved, { address: m.call.answer!.address!, port: m.call.answer!.port, payloadType: 0 });
    movedTx.tone(1800, LEVEL);
    const followed = await until(() => hears(o, 1800) && absent(o, 440), 5000, 100);
    assert.ok(followed, `the others hear the new stream instead of the old one: 1800 Hz ${level(o, 1800, 500).toFixed(1)}, 440 Hz ${level(o, 440, 500).toFixed(1)} dBFS`);
    const to = await until(() => Math.abs(meanToneLevel(rx.last(1000), 1000) - LEVEL) <= LEVEL_TOLERANCE_DB, 3000, 100);
    assert.ok(to, `the box sends to the new port: ${rx.describe(performance.now() - 1000)}`);
    const from = performance.now();
    await sleep(1000);
    assert.is(packetsSince(m, from), 0, `nothing goes to the old port any more: ${m.rx.describe(from)}`);
  } finally {
    movedTx?.stop();
    await hangUp(m, o);
    moved?.close();
  }
});

test('no errors in the box log', () => {
  const errors = box.output().split('\n').filter((l) => /"level":"error"/.test(l));
  assert.equal(errors, [], errors.join('\n'));
});

test.run();
