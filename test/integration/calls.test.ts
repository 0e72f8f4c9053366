// Calls to the box over real SIP (SPEC.md sections 2 and 3): feature codes, dialogs, SDP, who may call.
// Two long calls (a 1-minute room and an unacknowledged 200 OK) start first and are checked last, to keep the file short.
import { readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import {
  Phone, buildMessage, eventually, parseSdp, newBranch, newCallId, newTag, roomList, rtpRange, sdpOffer, udpPortBound,
  type Call, type SipMessage, type Transport,
} from '../support/phone.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-calls-'));
let box: RunningBox;
const phones: Phone[] = [];

const PASSWORDS: Record<string, string> = { '100': 's3cret', '101': 'pw-101', '102': 'pw-102', '103': 'pw-103', '104': 'pw-104' };
const PIN = '5678';
const TRUSTED = '127.0.0.2';
/** Source address of the PIN brute-force test, so its failures count against nobody else. */
const ATTACKER = '127.0.0.5';
/**
 * Each test that dials a room that does not exist calls from its own address: such a dial counts as a failure, and
 * five from one address would block it.
 */
const MISDIAL = { unknownRoom: '127.0.0.21', deletedByCreator: '127.0.0.22', deletedByTechnician: '127.0.0.23', deletedByPhone: '127.0.0.24', wrongPin: '127.0.0.25' };

async function phone(user: string, o: { transport?: Transport; localAddress?: string; password?: string | null } = {}): Promise<Phone> {
  const password = o.password === null ? undefined : o.password ?? PASSWORDS[user];
  const p = await Phone.open({ transport: o.transport ?? 'udp', boxPort: box.sipPort, user, password, localAddress: o.localAddress });
  phones.push(p);
  return p;
}

/** Dials from a fresh phone of that extension. */
async function dial(user: string, code: string, o: Parameters<Phone['invite']>[1] & { transport?: Transport; localAddress?: string } = {}): Promise<Call> {
  const p = await phone(user, { transport: o.transport, localAddress: o.localAddress });
  return p.dial(code, o);
}

function describe(call: Call): string {
  return `dial ${call.dial}: ${call.responses.map((r) => r.describe()).join('; ') || 'no response'}`;
}

/** A rejection as section 2 defines it: the status and a Warning: 399 whose text matches. */
function assertRejected(call: Call, status: number, warning: RegExp): void {
  const final = call.responses.filter((r) => r.status >= 200 && r.cseq.seq === call.cseq).at(-1);
  assert.ok(final, describe(call));
  assert.is(final.status, status, describe(call));
  assert.ok(final.warning !== undefined, `a Warning: 399 header on the ${status}; ${describe(call)} headers: ${final.warningHeader || 'none'}`);
  assert.match(final.warning, warning, `Warning text; ${describe(call)}`);
}

function assertAccepted(call: Call): void {
  assert.is(call.status, 200, describe(call));
}

async function room(id: number): Promise<Record<string, unknown> | undefined> {
  return (await roomList(box)).find((r) => r.id === id);
}

function byeReceived(call: Call): boolean {
  return call.received('BYE');
}

/** The pid of the box's embedded mariadbd, from its pid file. */
function mariadbPid(): number {
  const dir = join(dataDir, 'mariadb');
  const file = readdirSync(dir).find((f) => f.endsWith('.pid'));
  assert.ok(file, `a pid file in ${dir}`);
  const pid = Number(readFileSync(join(dir, file), 'utf8').trim());
  assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mariadbd') || readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mysqld'), `pid ${pid} is a MariaDB server`);
  return pid;
}

test.before(async () => {
  const setup: string[][] = [
    ...Object.entries(PASSWORDS).map(([n, pw]) => ['extension', 'add', n, '--password', pw, '--name', `Extension ${n}`]),
    ['peer', 'add', TRUSTED, '--description', 'office PBX'],
    // These phones send no RTP; calls held past the default 30 s must not be hung up for silence.
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ['room', 'add', '29', '--pin', PIN, '--duration', '1'],
    ...[20, 22, 23, 24, 25, 26, 27, 28, 30, 31, 32, 34, 35].map((id) => ['room', 'add', String(id), '--pin', PIN]),
  ];
  await configure(dataDir, setup);
  box = await startBox({ dataDir });
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
  removeDataDir(dataDir);
});

// --- long calls, started first ---

let expiring: { calls: Call[]; startedAt: number } | null = null;
let unacked: Call | null = null;

test('long calls start: two participants in a 1-minute room, and a call whose 200 OK is never ACKed', async () => {
  const startedAt = Date.now();
  const a = await dial('100', `*400*29*${PIN}`);
  const b = await dial('101', `*400*29*${PIN}`);
  expiring = { calls: [a, b], startedAt };
  assertAccepted(a);
  assertAccepted(b);
  unacked = await dial('102', `*400*32*${PIN}`, { autoAck: false });
  assertAccepted(unacked);
});

// --- plain SIP ---

test('OPTIONS: 200 with Allow', async () => {
  const p = await phone('100');
  const rs = await p.request('OPTIONS');
  assert.is(rs.status, 200, rs.describe());
  const allow = (rs.get('allow') ?? '').split(',').map((s) => s.trim().toUpperCase());
  for (const m of ['INVITE', 'ACK', 'CANCEL', 'BYE', 'OPTIONS']) assert.ok(allow.includes(m), `Allow lists ${m}: ${rs.get('allow')}`);
});

test('an unknown method: 501 with Allow', async () => {
  const p = await phone('100');
  const rs = await p.request('FROBNICATE');
  assert.is(rs.status, 501, rs.describe());
  assert.ok((rs.get('allow') ?? '').includes('INVITE'), `Allow: ${rs.get('allow')}`);
});

test('an in-dialog request for an unknown dialog: 481', async () => {
  const p = await phone('100');
  const bye = await p.request('BYE', { toTag: 'no-such-dialog', cseq: 2 });
  assert.is(bye.status, 481, bye.describe());
  const reinvite = await p.request('INVITE', { toTag: 'no-such-dialog', cseq: 3, body: sdpOffer({ address: '127.0.0.1', port: 40000 }) });
  assert.is(reinvite.status, 481, reinvite.describe());
});

test('CANCEL for an unknown transaction: 481', async () => {
  const p = await phone('100');
  const rs = await p.request('CANCEL', { uri: `sip:*400*20*${PIN}@127.0.0.1:${box.sipPort}` });
  assert.is(rs.status, 481, rs.describe());
});

test('malformed SIP is answered 400 with a Warning (or dropped) and the box keeps answering', async () => {
  const p = await phone('100');
  p.sendRaw(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]));
  p.sendRaw('NOT SIP AT ALL\r\n\r\n');
  const broken = async (cseq: string, extra: Array<[string, string]>) => {
    const callId = newCallId();
    p.sendRaw(buildMessage(`OPTIONS sip:confbox@127.0.0.1:${box.sipPort} SIP/2.0`, [
      ['Via', p.via(newBranch())], ['From', `<${p.aor}>;tag=${newTag()}`], ['To', '<sip:confbox@127.0.0.1>'], ['Call-ID', callId], ['CSeq', cseq], ...extra,
    ]));
    return p.waitForResponse((m) => m.callId === callId, 5000);
  };
  const mismatch = await broken('1 INVITE', []);
  assert.is(mismatch.status, 400, mismatch.describe());
  assert.match(mismatch.warning ?? '', /CSeq/, mismatch.describe());
  const maxForwards = await broken('1 OPTIONS', [['Max-Forwards', 'lots']]);
  assert.is(maxForwards.status, 400, maxForwards.describe());
  assert.match(maxForwards.warning ?? '', /Max-Forwards/, maxForwards.describe());
  const ok = await p.request('OPTIONS');
  assert.is(ok.status, 200, `still answering: ${ok.describe()}`);
  assert.is(box.proc.exitCode, null, 'the box still runs');
});

test('malformed SIP that cannot be answered is dropped and logged with its source', async () => {
  const p = await phone('100', { localAddress: '127.0.0.6' });
  p.sendRaw(Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00, 0xff]));
  p.sendRaw(`OPTIONS sip:confbox@127.0.0.1 SIP/2.0\r\nVia: junk\r\nCSeq: abc\r\nContent-Length: 0\r\n\r\n`);
  const ok = await p.request('OPTIONS');
  assert.is(ok.status, 200, ok.describe());
  await eventually(() => box.output().split('\n').some((l) => l.includes('127.0.0.6') && /malformed|drop|unparse|invalid|garbage/i.test(l)), 5000, 100,
    'a log line naming source 127.0.0.6 for the dropped messages');
});

// --- join ---

test('join accepted: 200 with an SDP answer on a bound port of the RTP range, codec in the phone\'s order; BYE from the phone gets 200', async () => {
  const range = rtpRange(box);
  const a = await dial('100', `*400*20*${PIN}`);
  assertAccepted(a);
  const final = await a.final();
  assert.is(final.contentType, 'application/sdp');
  const answer = a.answer;
  assert.ok(answer, `an SDP answer: ${final.body}`);
  assert.is(answer.address, '127.0.0.1', 'c= address');
  assert.ok(answer.port >= range.min && answer.port <= range.max, `m= port ${answer.port} in ${range.min}-${range.max}`);
  assert.is(answer.codecs[0], 'PCMU', `codec of an offer PCMU, PCMA: ${answer.codecs}`);
  assert.ok(answer.codecs.includes('telephone-event'), `telephone-event kept: ${answer.codecs}`);
  assert.not.ok(answer.codecs.includes('PCMA'), 'one codec chosen');
  assert.ok(await udpPortBound(answer.port), `the box holds UDP port ${answer.port}`);
  // RTP to the answered port: an unbound port would come back as ICMP port unreachable (ECONNREFUSED).
  a.sendRtp();
  await sleep(200);
  a.sendRtp();
  await sleep(200);
  assert.is(a.rtpError, null, `sending RTP to ${answer.port}: ${a.rtpError?.message}`);

  const b = await dial('101', `*400*20*${PIN}`, { codecs: ['PCMA', 'PCMU'] });
  assertAccepted(b);
  assert.is(b.answer?.codecs[0], 'PCMA', `codec of an offer PCMA, PCMU: ${b.answer?.codecs}`);
  assert.is.not(b.answer?.port, answer.port, 'each leg has its own port');

  const byeA = await a.bye();
  assert.is(byeA.status, 200, byeA.describe());
  const byeB = await b.bye();
  assert.is(byeB.status, 200, byeB.describe());
  assert.not.ok(byeReceived(a) || byeReceived(b), 'the box did not hang up on them');
});

test('a percent-encoded dial %2A400%2A23%2A5678 joins', async () => {
  const a = await dial('100', `%2A400%2A23%2A${PIN}`);
  assertAccepted(a);
  assert.is((await a.bye()).status, 200);
});

test('a trailing # is ignored (sent as %23 and as a raw #)', async () => {
  const a = await dial('100', `*400*24*${PIN}%23`);
  const b = await dial('101', `*400*24*${PIN}#`);
  assertAccepted(a);
  assertAccepted(b);
  await a.bye();
  await b.bye();
});

test('join an unknown room: answered exactly like a wrong PIN, 603 "wrong PIN for room 150"', async () => {
  const a = await dial('100', '*400*150*1234', { localAddress: MISDIAL.unknownRoom });
  assertRejected(a, 603, /^wrong PIN for room 150$/);
});

test('join with a wrong PIN: 603 Decline, with Reason cause=403', async () => {
  const a = await dial('100', '*400*25*0000', { localAddress: MISDIAL.wrongPin });
  assertRejected(a, 603, /^wrong PIN for room 25$/);
  const final = a.responses.filter((r) => r.status >= 200).at(-1)!;
  assert.match(final.get('reason') ?? '', /^SIP;cause=403;text="wrong PIN for room 25"$/, describe(a));
});

test('the 4th participant with the default limit 3: 486 "room 26 is full"', async () => {
  const ins = [await dial('100', `*400*26*${PIN}`), await dial('101', `*400*26*${PIN}`), await dial('102', `*400*26*${PIN}`)];
  for (const c of ins) assertAccepted(c);
  const fourth = await dial('103', `*400*26*${PIN}`);
  assertRejected(fourth, 486, /room 26 is full/);
  for (const c of ins) assert.is((await c.bye()).status, 200);
});

test('the last one out deletes the room', async () => {
  const a = await dial('100', `*400*27*${PIN}`);
  const b = await dial('101', `*400*27*${PIN}`);
  assertAccepted(a);
  assertAccepted(b);
  await a.bye();
  const still = await eventually(async () => {
    const r = await room(27);
    return r && r.participants === 1 ? r : null;
  }, 20_000, 250, 'room 27 listed with 1 participant');
  assert.is(still.active, true);
  await b.bye();
  await eventually(async () => (await room(27)) === undefined, 20_000, 500, 'room 27 deleted after the last participant left');
});

// --- create and delete ---

test('create *401*7*1234*120: 200, then the box hangs up, and room list shows room 7 (120 min, creator 100, via phone)', async () => {
  const c = await dial('100', '*401*7*1234*120');
  assertAccepted(c);
  const bye = await c.waitForRequest('BYE', 15_000);
  assert.ok(bye);
  const r = await room(7);
  assert.ok(r, 'room 7 is listed');
  assert.is(r.duration, 120);
  assert.is(r.creator, '100');
  assert.is(r.createdVia, 'phone');
  assert.is(r.pin, '1234');
});

test('create for an existing id: 603 "room 7 already exists"', async () => {
  const c = await dial('101', '*401*7*5555');
  assertRejected(c, 603, /room 7 already exists/);
});

test('malformed codes and values out of range: 484', async () => {
  assertRejected(await dial('100', '*401*7*12a4'), 484, /PIN/);
  assertRejected(await dial('100', '*400*201*1234'), 484, /1 to 200/);
  assertRejected(await dial('100', '*401*8*1234*1441'), 484, /1 to 1440/);
  assertRejected(await dial('100', '*401*8'), 484, /\*401\*room\*PIN/);
  assertRejected(await dial('100', '*401*8*12345678901234567'), 484, /PIN/);
});

test('delete by someone other than the creator: 603', async () => {
  const c = await dial('101', '*402*7*1234');
  assertRejected(c, 603, /creator/);
  assert.ok(await room(7), 'room 7 is still there');
});

test('delete by the creator: 200, the box hangs up, and the room is gone', async () => {
  const c = await dial('100', '*402*7*1234');
  assertAccepted(c);
  await c.waitForRequest('BYE', 15_000);
  assert.is(await room(7), undefined, 'room 7 is no longer listed');
  assertRejected(await dial('100', '*400*7*1234', { localAddress: MISDIAL.deletedByCreator }), 603, /^wrong PIN for room 7$/);
});

// --- a room deleted while active ---

let deleted: { a: Call; b: Call } | null = null;

test('deleted while active (technician `room delete`): the members stay connected, a new joiner is refused like a wrong PIN, the id can be created again', async () => {
  const a = await dial('100', `*400*28*${PIN}`);
  const b = await dial('101', `*400*28*${PIN}`);
  assertAccepted(a);
  assertAccepted(b);
  deleted = { a, b };
  const del = await box.cli('room', 'delete', '28');
  assert.is(del.code, 0, del.stderr);
  assertRejected(await dial('102', `*400*28*${PIN}`, { localAddress: MISDIAL.deletedByTechnician }), 603, /^wrong PIN for room 28$/);
  const created = await dial('103', '*401*28*9999');
  assertAccepted(created);
  await created.waitForRequest('BYE', 15_000);
  assert.not.ok(byeReceived(a) || byeReceived(b), 'the members of the deleted room were not hung up');
});

test('deleted while active: the re-created room 28 is a separate conference, and the old one ending does not delete it', async () => {
  assert.ok(deleted, 'the previous test set up the old conference');
  const { a, b } = deleted;
  try {
    // The old conference has 2 of 3 places; in a separate conference both newcomers fit.
    const c = await dial('102', '*400*28*9999');
    const d = await dial('103', '*400*28*9999');
    assertAccepted(c);
    assertAccepted(d);
    assert.is((await a.bye()).status, 200);
    assert.is((await b.bye()).status, 200);
    await sleep(1000);
    const r = await room(28);
    assert.ok(r, 'the old conference ending did not delete the new room 28');
    assert.is(r.pin, '9999');
    await c.bye();
    await d.bye();
    await eventually(async () => (await room(28)) === undefined, 20_000, 500, 'the new room 28 deleted after its last participant left');
  } finally {
    if (!a.ended) await a.bye().catch(() => undefined);
    if (!b.ended) await b.bye().catch(() => undefined);
  }
});

test('deleted while active (creator dials *402): the members stay, a new joiner is refused like a wrong PIN, the re-created room is a separate conference', async () => {
  const made = await dial('100', '*401*37*1234');
  assertAccepted(made);
  await made.waitForRequest('BYE', 15_000);
  const a = await dial('101', '*400*37*1234');
  const b = await dial('102', '*400*37*1234');
  assertAccepted(a);
  assertAccepted(b);
  try {
    const del = await dial('100', '*402*37*1234');
    assertAccepted(del);
    await del.waitForRequest('BYE', 15_000);
    assertRejected(await dial('103', '*400*37*1234', { localAddress: MISDIAL.deletedByPhone }), 603, /^wrong PIN for room 37$/);
    const again = await dial('100', '*401*37*4321');
    assertAccepted(again);
    await again.waitForRequest('BYE', 15_000);
    const c = await dial('103', '*400*37*4321');
    const d = await dial('104', '*400*37*4321');
    assertAccepted(c);
    assertAccepted(d);
    assert.not.ok(byeReceived(a) || byeReceived(b), 'the members of the deleted room were not hung up');
    await a.bye();
    await b.bye();
    await sleep(1000);
    assert.ok(await room(37), 'the old conference ending did not delete the new room 37');
    await c.bye();
    await d.bye();
  } finally {
    if (!a.ended) await a.bye().catch(() => undefined);
    if (!b.ended) await b.bye().catch(() => undefined);
  }
});

// --- CANCEL, re-INVITE ---

test('CANCEL before the final answer: 200 for the CANCEL, 487 for the INVITE', async () => {
  // The box answers a join within milliseconds; holding its database (SIGSTOP) keeps the INVITE pending for sure.
  const p = await phone('100');
  const pid = mariadbPid();
  let call: Call;
  let cancelled: SipMessage;
  process.kill(pid, 'SIGSTOP');
  try {
    call = await p.invite(`*400*30*${PIN}`);
    await eventually(() => call.cseq === 2 && call.responses.some((r) => r.status === 100 && r.cseq.seq === 2), 5000, 10, '100 Trying to the authenticated INVITE');
    cancelled = await call.cancel();
    await call.final(5000).catch(() => undefined);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  assert.is(cancelled.status, 200, `CANCEL: ${cancelled.describe()}`);
  const final = await call.final(10_000);
  assert.is(final.status, 487, describe(call));
});

test('a cancelled join does not delete the room', async () => {
  await sleep(1500);
  assert.ok(await room(30), 'room 30 is still configured after a join to it was cancelled');
  const a = await dial('100', `*400*30*${PIN}`);
  assertAccepted(a);
  await a.bye();
});

test('re-INVITE to hold (a=sendonly): answer a=recvonly on the same port, 200 retransmitted until ACK', async () => {
  const a = await dial('100', `*400*31*${PIN}`);
  assertAccepted(a);
  const port = a.answer!.port;
  const hold = await a.reinvite(sdpOffer({ address: '127.0.0.1', port: a.rtpPort, direction: 'sendonly', version: 2 }), { autoAck: false });
  assert.is(hold.status, 200, hold.describe());
  assert.is(a.answer?.direction, 'recvonly', `answer to sendonly: ${hold.body}`);
  assert.is(a.answer?.port, port, 'same box port');
  await eventually(() => a.okCount() >= 2, 10_000, 50, 'a retransmission of the re-INVITE 200');
  a.ack();
  const after = a.okCount();
  await sleep(4500);
  assert.is(a.okCount(), after, 'no more retransmissions after the ACK');
  const resume = await a.reinvite(sdpOffer({ address: '127.0.0.1', port: a.rtpPort, direction: 'sendrecv', version: 3 }));
  assert.is(resume.status, 200, resume.describe());
  assert.is(a.answer?.direction, 'sendrecv');
  assert.is((await a.bye()).status, 200);
});

// --- bodies ---

test('INVITE without SDP (delayed offer): the 200 carries the box\'s offer; an ACK without an answer ends the call with BYE saying why', async () => {
  assert.is((await box.cli('room', 'add', '36', '--pin', PIN)).code, 0);
  const a = await dial('100', `*400*36*${PIN}`, { sdp: null });
  assertAccepted(a);
  const ok = a.responses.find((r) => r.status === 200 && r.cseq.seq === a.cseq)!;
  assert.is(ok.contentType, 'application/sdp');
  const offer = parseSdp(ok.body);
  assert.ok(offer && offer.port > 0, `an offer with a bound port: ${ok.body}`);
  assert.match(ok.body, /^a=rtpmap:\d+ telephone-event\/8000\r?$/m);
  await eventually(() => byeReceived(a), 10_000, 100, 'BYE from the box');
  const bye = a.requests.find((r) => r.method === 'BYE')!;
  assert.match(bye.get('reason') ?? '', /no SDP answer/);
});

test('SDP with no common codec (only G729): 488 with Warning', async () => {
  const p = await phone('100');
  const a = await p.dial(`*400*20*${PIN}`, { sdp: sdpOffer({ address: '127.0.0.1', port: 40002, codecs: ['G729'], dtmf: false }) });
  assertRejected(a, 488, /no common codec.*G729/);
});

test('malformed SDP: 400 with Warning', async () => {
  const body = 'v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio notaport RTP/AVP 0\r\n';
  const a = await dial('100', `*400*20*${PIN}`, { sdp: body });
  assertRejected(a, 400, /m= line/);
});

test('a body that is not SDP: 415 with Warning', async () => {
  const a = await dial('100', `*400*20*${PIN}`, { sdp: 'hello box', contentType: 'text/plain' });
  assertRejected(a, 415, /text\/plain/);
});

// --- who may call ---

test('a trusted peer is not challenged; its P-Asserted-Identity becomes the creator', async () => {
  const pbx = await phone('pbx', { localAddress: TRUSTED, password: null });
  const c = await pbx.dial('*401*9*4321', { headers: [['P-Asserted-Identity', '"Reception" <sip:150@127.0.0.2>']] });
  assertAccepted(c);
  assert.not.ok(c.responses.some((r) => r.status === 407 || r.status === 401), `no challenge; ${describe(c)}`);
  await c.waitForRequest('BYE', 15_000);
  const r = await room(9);
  assert.ok(r, 'room 9 is listed');
  assert.is(r.creator, '150');
  const j = await pbx.dial('*400*9*4321');
  assertAccepted(j);
  await j.bye();
});

test('an unknown user from an untrusted address is challenged like an extension, and its answer fails like a wrong password', async () => {
  const stranger = await phone('999', { password: 'guess', localAddress: '127.0.0.26' });
  const known = await phone('101', { password: 'guess', localAddress: '127.0.0.27' });
  const a = await stranger.dial(`*400*20*${PIN}`);
  const b = await known.dial(`*400*20*${PIN}`);
  const rounds = (c: Call) => c.responses.filter((r) => r.status >= 200).map((r) => `${r.status} ${r.reason} ${r.challenges().length} challenges${r.warning === undefined ? '' : ` "${r.warning}"`}`);
  assert.equal(rounds(a), ['407 Proxy Authentication Required 1 challenges', '407 Proxy Authentication Required 1 challenges'], describe(a));
  assert.equal(rounds(a), rounds(b), `the made-up user ${describe(a)} / extension 101 with a wrong password ${describe(b)}`);
});

test('5 wrong PINs from one address block it: 603 without a challenge, even with the right PIN', async () => {
  const p = await phone('104', { localAddress: ATTACKER });
  for (let i = 0; i < 5; i++) {
    const c = await p.dial(`*400*35*000${i}`);
    assertRejected(c, 603, /PIN|too many/i);
  }
  const c = await p.dial(`*400*35*${PIN}`);
  assertRejected(c, 603, /too many failed attempts/);
  assert.not.ok(c.responses.some((r) => r.status === 407), `no challenge; ${describe(c)}`);
});

// --- TCP ---

test('over TCP: join, BYE, and the box\'s BYE after a create', async () => {
  const a = await dial('100', `*400*34*${PIN}`, { transport: 'tcp' });
  assertAccepted(a);
  assert.ok(await udpPortBound(a.answer!.port), 'the answered RTP port is bound');
  assert.is((await a.bye()).status, 200);
  const c = await dial('101', '*401*36*1111', { transport: 'tcp' });
  assertAccepted(c);
  await c.waitForRequest('BYE', 15_000);
});

// --- the long calls ---

test('lost ACK: the box retransmits its 200 OK (at least 3 retransmissions) and sends BYE after about 32 s', async () => {
  const call = unacked;
  assert.ok(call, 'the call was started');
  await eventually(() => call.okCount() >= 4, 30_000, 50, 'three retransmissions of the 200 OK');
  const bye = await call.waitForRequest('BYE', 60_000);
  assert.ok(bye);
  const n = call.okCount();
  await sleep(1500);
  assert.is(call.okCount(), n, 'no retransmissions after the BYE');
});

test('expiry: a 1-minute conference ends about 60 s after it started: BYE to every participant, then the room is deleted', async () => {
  assert.ok(expiring, 'the conference was started');
  const { calls, startedAt } = expiring;
  for (const c of calls) await c.waitForRequest('BYE', 120_000);
  const elapsed = Date.now() - startedAt;
  // A lower bound only: a slow box can be late, never early.
  assert.ok(elapsed >= 50_000, `BYE came ${elapsed} ms after the conference started`);
  await eventually(async () => (await room(29)) === undefined, 20_000, 500, 'room 29 deleted after expiry');
});

test.run();
