// confbox-test: alone
// Two boxes behind Kamailio with the shipped configuration (board/cluster/kamailio.cfg: dispatcher, a room's calls
// hashed to one box), both on one database (a three-node MariaDB Galera cluster, test/support/galera.ts): twelve rooms, three SIPp
// callers each, all through the proxy. Every room's callers meet on one box, and both boxes host some rooms. A room
// created by phone on one box is joined on the other; two phones creating the same room at the same instant on the
// two boxes: one creates it, the other hears that it exists. One box killed (SIGKILL): Kamailio sends the next calls
// of its rooms to the other box, where the rooms are intact. Wrong PINs guessed on one box block the guesser on both,
// and a slow guesser who spreads guesses over both boxes is counted once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removeDataDir, runCli, startBox, type RunningBox } from '../support/box.ts';
import { GaleraCluster, galeraMissing } from '../support/galera.ts';
import { kamailioAvailable, startDispatcher, type Proxy } from '../support/kamailio.ts';
import { testsNeeding } from '../support/requirements.ts';
import { describeRun, sippAvailable, startSipp, type SippResult } from '../support/sipp.ts';
import { firstAdmin, WebClient } from '../support/web.ts';
import { Phone } from '../support/phone.ts';
import { baresipMissing, startBaresip } from '../support/baresip.ts';

const PROXY_ADDRESS = '127.0.0.6';
const ROOMS = Array.from({ length: 12 }, (_, i) => 31 + i);
const PIN = '7315';
const ADMIN = 'two-boxes-one-office-1';
const EXTENSIONS = ['401', '402', '403', '404', '405'];
const phones: Phone[] = [];

/** A desk phone of an extension that talks to one box directly (not through Kamailio). */
async function phoneOn(box: RunningBox, ext: string, localAddress?: string): Promise<Phone> {
  const p = await Phone.open({ boxPort: box.sipPort, user: ext, password: `pw-${ext}`, localAddress });
  phones.push(p);
  return p;
}
const TESTS = 9;
const missing = [galeraMissing(), !sippAvailable() && 'sipp (sip-tester)', !kamailioAvailable() && 'kamailio', baresipMissing()].filter(Boolean);
const { enabled, t } = testsNeeding(TESTS, missing.length ? missing.join('; ') : null);
const db = new GaleraCluster();
const dataDirs = ['a', 'b'].map((n) => mkdtempSync(join(tmpdir(), `confbox-cluster-${n}-`)));
const boxes: RunningBox[] = [];
let proxy: Proxy;

test.before(async () => {
  if (!enabled) return;
  await db.start(3);
  const url = await db.database('confbox', 'confbox', 'shared-pw-1');
  // The configuration is the office's, in the one database: given once, through either box's command line.
  const configure = async (args: string[]) => {
    const r = await runCli(dataDirs[0]!, [...args, '--db', url]);
    assert.is(r.code, 0, r.stderr);
  };
  await configure(['settings', 'set', 'rtpTimeoutSeconds', '3600']);
  await configure(['peer', 'add', PROXY_ADDRESS, '--description', 'Kamailio in front of the boxes', '--transport', 'tcp']);
  for (const id of ROOMS) await configure(['room', 'add', String(id), '--pin', PIN, '--keep']);
  for (const ext of EXTENSIONS) await configure(['extension', 'add', ext, '--password', `pw-${ext}`]);
  for (const [i, dir] of dataDirs.entries()) boxes.push(await startBox({ dataDir: dir, extraArgs: ['--db', url, '--box-id', `box-${'ab'[i]}`] }));
  proxy = await startDispatcher({ address: PROXY_ADDRESS, boxSipPorts: boxes.map((b) => b.sipPort) });
});

test.after(async () => {
  for (const p of phones) p.close();
  await proxy?.stop();
  for (const b of boxes) await b.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(proxy?.output());
  for (const d of dataDirs) removeDataDir(d);
  if (enabled) await db.stop();
});

t('twelve rooms of three callers through Kamailio: each room meets on one box, and both boxes host rooms', async () => {
  const runs = await Promise.all(ROOMS.map((room, i) => startSipp({
    scenario: 'proxy-call.xml', port: proxy.port, host: PROXY_ADDRESS, service: `*400*${room}*${PIN}`, keys: { ext: String(300 + i) },
    calls: 3, limit: 3, rate: 10, holdMs: 12_000, timeoutS: 60,
  })));
  const calls: Array<Promise<SippResult>> = runs.map((r) => r.done);
  // While the calls are up: where is each room?
  const webs: WebClient[] = [];
  for (const b of boxes) webs.push(await firstAdmin(b, ADMIN).catch(async () => {
    const w = new WebClient(b.webUrl, b.certificate());
    assert.is((await w.login(ADMIN)).status, 303);
    return w;
  }));
  const hosted = new Map<number, Array<{ box: string; participants: number }>>();
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    hosted.clear();
    for (const [i, w] of webs.entries()) {
      const r = await w.api('GET', '/api/conferences');
      for (const c of r.json as Array<{ roomId: number; participants: unknown[] }>) {
        hosted.set(c.roomId, [...(hosted.get(c.roomId) ?? []), { box: 'ab'[i]!, participants: c.participants.length }]);
      }
    }
    const full = ROOMS.every((room) => (hosted.get(room) ?? []).reduce((n, h) => n + h.participants, 0) === 3);
    if (full) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const where = ROOMS.map((room) => `${room}: ${(hosted.get(room) ?? []).map((h) => `${h.box}×${h.participants}`).join('+') || 'nowhere'}`).join(', ');
  console.log(`# ${where}`);
  for (const room of ROOMS) {
    const on = hosted.get(room) ?? [];
    assert.is(on.length, 1, `room ${room} is on one box: ${where}`);
    assert.is(on[0]!.participants, 3, `room ${room} has its three callers: ${where}`);
  }
  const perBox = ['a', 'b'].map((b) => ROOMS.filter((room) => hosted.get(room)?.[0]?.box === b).length);
  assert.ok(perBox.every((n) => n > 0), `both boxes host rooms: a ${perBox[0]}, b ${perBox[1]}`);
  // Each box shows every box's conferences with the box that hosts each, and the database's three nodes.
  const wanted = (box: string) => ROOMS.filter((room) => hosted.get(room)?.[0]?.box === box).join(',');
  for (const [i, w] of webs.entries()) {
    let seen = '';
    const shown = async () => {
      const c = (await w.api('GET', '/api/cluster')).json as { box: string; boxes: Array<{ box: string; self: boolean; conferences: Array<{ roomId: number; participants: number }> }>; databaseNodes: Array<{ state: string }> };
      seen = JSON.stringify(c);
      return ['a', 'b'].every((x) => c.boxes.find((b) => b.box === `box-${x}`)?.conferences.filter((conf) => conf.participants === 3).map((conf) => conf.roomId).join(',') === wanted(x))
        && c.boxes.find((b) => b.self)?.box === `box-${'ab'[i]}` && c.databaseNodes.length === 3 && c.databaseNodes.every((n) => n.state === 'Synced');
    };
    const end = Date.now() + 15_000;
    let ok = await shown();
    while (!ok && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 500));
      ok = await shown();
    }
    assert.ok(ok, `box ${'ab'[i]} shows both boxes' rooms (a: ${wanted('a')}; b: ${wanted('b')}) and its database: ${seen}`);
  }
  const live = await webs[0]!.get('/live');
  const other = ROOMS.find((room) => hosted.get(room)?.[0]?.box === 'b')!;
  assert.match(live.text, new RegExp(`data-box="box-b" data-room="${other}">Room ${other}: 3 participants on <code>box-b</code>`), 'box a\'s Live page lists box b\'s rooms');
  for (const r of await Promise.all(calls)) assert.ok(r.ok && r.failed === 0 && r.successful === 3, describeRun(r));
});

t('a room created by phone on one box is joined on the other; the same room created on both at once: one wins', async () => {
  const [a, b] = boxes as [RunningBox, RunningBox];
  const made = await (await (await phoneOn(a, '401')).invite('*401*50*5150*30')).final();
  assert.is(made.status, 200, `created on box a: ${made.describe()}`);
  const joined = await (await (await phoneOn(b, '402')).invite('*400*50*5150')).final();
  assert.is(joined.status, 200, `joined on box b: ${joined.describe()}`);
  const [one, two] = await Promise.all([
    (await phoneOn(a, '403')).invite('*401*51*5151*30').then((c) => c.final()),
    (await phoneOn(b, '404')).invite('*401*51*5151*30').then((c) => c.final()),
  ]);
  const statuses = [one.status, two.status].sort();
  assert.equal(statuses, [200, 603], `${one.describe()} | ${two.describe()}`);
  const refused = one.status === 603 ? one : two;
  assert.match(String(refused.get('reason')), /cause=403;text="[^"]*already exists/, refused.describe());
});

t('a phone registered through one box is invited into a conference on the other', async () => {
  const [a, b] = boxes as [RunningBox, RunningBox];
  const sipp = await startSipp({ scenario: 'invited-answers.xml', port: a.sipPort, keys: { ext: '405' }, timeoutS: 60, extraArgs: ['-rtp_echo'] });
  try {
    const reg = await (await phoneOn(a, '405')).register({ contact: `sip:405@127.0.0.1:${sipp.sipPort}` });
    assert.is(reg.final.status, 200, 'extension 405 registered with box a');
    const member = await (await phoneOn(b, '402')).invite(`*400*${ROOMS[5]}*${PIN}`);
    assert.is((await member.final()).status, 200, 'a call on box b');
    const webB = new WebClient(b.webUrl, b.certificate());
    assert.is((await webB.login(ADMIN)).status, 303);
    let conf: { key: string } | undefined;
    const until = Date.now() + 10_000;
    while (!conf && Date.now() < until) {
      conf = ((await webB.api('GET', '/api/conferences')).json as Array<{ key: string; roomId: number }>).find((c) => c.roomId === ROOMS[5]);
      if (!conf) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(conf, 'the conference is on box b');
    const invited = await webB.api('POST', `/api/conferences/${encodeURIComponent(conf.key)}/invite`, { extension: '405' });
    assert.is(invited.status, 200, invited.text);
    assert.equal([invited.json.extension, invited.json.answered], ['405', true], invited.text);
    await member.bye().catch(() => undefined);
  } finally {
    sipp.kill();
    await sipp.done.catch(() => undefined);
  }
});

/** The live conference of a room on a box, once it is there. */
async function conferenceOn(box: RunningBox, roomId: number): Promise<{ key: string }> {
  const web = new WebClient(box.webUrl, box.certificate());
  assert.is((await web.login(ADMIN)).status, 303);
  const until = Date.now() + 10_000;
  for (;;) {
    const conf = ((await web.api('GET', '/api/conferences')).json as Array<{ key: string; roomId: number }>).find((c) => c.roomId === roomId);
    if (conf || Date.now() > until) {
      assert.ok(conf, `room ${roomId} has a conference on the box`);
      return conf;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

t('a phone on TCP registered through Kamailio is called by the other box through Kamailio, over the phone\'s own connection', async () => {
  const phone = await startBaresip({
    boxPort: 0, registrar: { address: PROXY_ADDRESS, port: proxy.port }, transport: 'tcp', user: '401', password: 'pw-401',
    toneHz: 700, seconds: 60, autoAnswer: true,
  });
  try {
    await phone.waitFor(/\{0\/TCP\/v4\} 200 OK \(confbox[^)]*\) \[1 binding\]/, 10_000);
    const registeredWith = /extension 401 registers with sip:127\.0\.0\.1:(\d+)/.exec(proxy.output());
    assert.ok(registeredWith, `Kamailio sent the REGISTER to a box: ${proxy.output().slice(-800)}`);
    const home = boxes.find((b) => b.sipPort === Number(registeredWith[1]))!;
    const other = boxes.find((b) => b !== home)!;
    const member = await (await phoneOn(other, '402')).invite(`*400*${ROOMS[6]}*${PIN}`);
    assert.is((await member.final()).status, 200, 'a call on the other box');
    const conf = await conferenceOn(other, ROOMS[6]!);
    const web = new WebClient(other.webUrl, other.certificate());
    assert.is((await web.login(ADMIN)).status, 303);
    const inviting = other.waitForLog((rec) => rec.msg === 'inviting a phone' && rec.extension === '401', 10_000);
    const invited = await web.api('POST', `/api/conferences/${encodeURIComponent(conf.key)}/invite`, { extension: '401' });
    assert.is(invited.status, 200, invited.text);
    assert.equal([invited.json.extension, invited.json.answered], ['401', true], invited.text);
    const how = await inviting;
    assert.equal([how.transport, how.address], ['tcp', PROXY_ADDRESS], `the other box called the phone through Kamailio: ${JSON.stringify(how)}`);
    assert.match(proxy.output(), /INVITE to a phone at sip:127\.0\.0\.1:\d+;transport=tcp/, 'Kamailio sent it over the phone\'s connection (the Path\'s received address)');
    await phone.waitFor(/Call established/, 5000);
    // The conference is ended on the page while the phone hears the invitation: the box hangs it up, and its BYE
    // finds the phone's connection through Kamailio too (the Contact alias).
    const ended = await web.api('DELETE', `/api/conferences/${encodeURIComponent(conf.key)}`);
    assert.is(ended.status, 204, ended.text);
    await phone.waitFor(/Call terminated|terminated \(duration|session closed/i, 15_000);
    assert.match(proxy.output(), /BYE sip:401-\S+ from confbox/, 'the BYE went through Kamailio');
  } finally {
    phone.kill();
    await phone.done().catch(() => undefined);
  }
});

t('callers of the voice menu through Kamailio meet the room\'s other callers on the room\'s box, whichever box answered the menu', async () => {
  const room = ROOMS[8]!;
  // The room's box: where Kamailio sends the room's full code.
  const held = await startSipp({ scenario: 'proxy-call.xml', port: proxy.port, host: PROXY_ADDRESS, service: `*400*${room}*${PIN}`, keys: { ext: '393' }, holdMs: 60_000, timeoutS: 90 });
  const routed = new RegExp(`room ${room} to sip:127\\.0\\.0\\.1:(\\d+)`);
  const until = Date.now() + 10_000;
  while (!routed.test(proxy.output()) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
  const home = boxes.find((b) => b.sipPort === Number(routed.exec(proxy.output())?.[1]))!;
  assert.ok(home, `Kamailio sent room ${room} to a box: ${proxy.output().slice(-600)}`);
  const other = boxes.find((b) => b !== home)!;
  await conferenceOn(home, room);
  const sentOn = other.waitForLog((rec) => rec.msg === 'voice menu: the caller was sent on to the room\'s box' && rec.room === room, 40_000);
  // Two menu callers one after the other: Kamailio gives the menu to the boxes in turn, so one of them reaches the other box.
  const callers = [];
  for (const ext of ['402', '403']) {
    const phone = await startBaresip({
      boxPort: 0, registrar: { address: PROXY_ADDRESS, port: proxy.port }, dialVia: { address: PROXY_ADDRESS, port: proxy.port }, transport: 'tcp',
      user: ext, password: `pw-${ext}`, toneHz: 500, seconds: 60, dial: '*400', control: true,
    });
    callers.push(phone);
    await phone.waitFor(/Call established/, 10_000);
    await new Promise((r) => setTimeout(r, 500));
    await phone.command('sndcode', `${room}#`);
    await new Promise((r) => setTimeout(r, 800));
    await phone.command('sndcode', `${PIN}#`);
    await new Promise((r) => setTimeout(r, 1500));
  }
  try {
    const how = await sentOn;
    console.log(`# voice menu on the other box: ${JSON.stringify(how)}`);
    const web = new WebClient(home.webUrl, home.certificate());
    assert.is((await web.login(ADMIN)).status, 303);
    let seen = '';
    const by = Date.now() + 15_000;
    for (;;) {
      const confs = (await web.api('GET', '/api/conferences')).json as Array<{ roomId: number; participants: Array<{ caller: string }> }>;
      const callersHere = confs.find((c) => c.roomId === room)?.participants.map((p) => p.caller).sort() ?? [];
      seen = callersHere.join(',');
      if (callersHere.includes('402') && callersHere.includes('403') || Date.now() > by) break;
      await new Promise((r) => setTimeout(r, 300));
    }
    assert.match(seen, /402.*403/, `both menu callers are in room ${room} on its box: ${seen}`);
    const webOther = new WebClient(other.webUrl, other.certificate());
    assert.is((await webOther.login(ADMIN)).status, 303);
    const elsewhere = ((await webOther.api('GET', '/api/conferences')).json as Array<{ roomId: number }>).filter((c) => c.roomId === room);
    assert.equal(elsewhere, [], `room ${room} has no conference on the other box`);
  } finally {
    for (const p of callers) p.kill();
    for (const p of callers) await p.done().catch(() => undefined);
    held.kill();
    await held.done.catch(() => undefined);
  }
});

t('a phone that cannot be transferred stays in the voice menu\'s box and is joined there', async () => {
  const room = ROOMS[9]!;
  const [r1, r2] = String(room);
  const [p1, p2, p3, p4] = PIN;
  const answered = Promise.race(boxes.map((b) => b.waitForLog((rec) => rec.msg === 'voice menu: the caller stays on this box' && rec.room === room, 30_000).then((rec) => ({ box: b, rec }))));
  const run = await startSipp({
    scenario: 'proxy-menu-refuses-refer.xml', port: proxy.port, host: PROXY_ADDRESS, service: '*400',
    keys: { ext: '394', r1: r1!, r2: r2!, p1: p1!, p2: p2!, p3: p3!, p4: p4! }, holdMs: 4000, timeoutS: 40,
  });
  const { box, rec } = await answered;
  assert.match(String(rec.why), /refused the transfer: 501/, JSON.stringify(rec));
  const conf = await conferenceOn(box, room);
  assert.ok(conf.key, `room ${room} is held on the box that answered the menu`);
  const r = await run.done;
  assert.ok(r.ok && r.successful === 1, describeRun(r));
});

t('a box killed during calls: Kamailio sends the next calls of its rooms to the other box, where the rooms are intact', async () => {
  const [a, b] = boxes as [RunningBox, RunningBox];
  // A room the hash gives to box a, with a call held on it.
  const webA = new WebClient(a.webUrl, a.certificate());
  assert.is((await webA.login(ADMIN)).status, 303);
  const held = await startSipp({ scenario: 'proxy-call.xml', port: proxy.port, host: PROXY_ADDRESS, service: `*400*${ROOMS[1]}*${PIN}`, keys: { ext: '390' }, holdMs: 60_000, timeoutS: 90 });
  let room = 0;
  const until = Date.now() + 10_000;
  while (!room && Date.now() < until) {
    room = ((await webA.api('GET', '/api/conferences')).json as Array<{ roomId: number }>)[0]?.roomId ?? 0;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(room, 'a call is up on box a');
  const webB = new WebClient(b.webUrl, b.certificate());
  assert.is((await webB.login(ADMIN)).status, 303);
  const showsA = async () => ((await webB.api('GET', '/api/cluster')).json as { boxes: Array<{ box: string; conferences: Array<{ roomId: number }> }> })
    .boxes.some((x) => x.box === 'box-a' && x.conferences.some((c) => c.roomId === room));
  const seenBy = Date.now() + 15_000;
  while (!(await showsA()) && Date.now() < seenBy) await new Promise((r) => setTimeout(r, 300));
  assert.ok(await showsA(), 'box b shows the call on box a');
  const killedAt = Date.now();
  await a.stop('SIGKILL');
  const r = await startSipp({ scenario: 'proxy-call.xml', port: proxy.port, host: PROXY_ADDRESS, service: `*400*${room}*${PIN}`, keys: { ext: '391' }, holdMs: 1000, timeoutS: 30 });
  const after = await r.done;
  const ms = Date.now() - killedAt;
  assert.ok(after.ok && after.successful === 1, describeRun(after));
  console.log(`# room ${room}: the first call after box a was killed was answered by box b ${ms} ms after the kill (a 1 s call)`);
  assert.match(proxy.output(), new RegExp(`room ${room}: sip:127\\.0\\.0\\.1:${b.sipPort};transport=tcp next, the first box failed|room ${room} to sip:127\\.0\\.0\\.1:${b.sipPort}`));
  const rooms = (await webB.api('GET', '/api/rooms')).json as Array<{ id: number }>;
  assert.equal(ROOMS.filter((id) => !rooms.some((x) => x.id === id)), [], 'every room is still configured');
  // The dead box stops vouching for its conferences: box b shows it no more.
  let gone = 0;
  const end = Date.now() + 40_000;
  while (!gone && Date.now() < end) {
    if (!(await showsA())) gone = Date.now() - killedAt;
    else await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(gone, 'box b no longer lists the dead box a');
  console.log(`# box a's conferences left box b's view ${gone} ms after the kill`);
  // Box a comes back: once it answers Kamailio's probes, its rooms go to it again.
  const restarted = Date.now();
  boxes[0] = await startBox({ dataDir: dataDirs[0]!, sipPort: a.sipPort, extraArgs: ['--db', db.url('confbox', 'shared-pw-1', 'confbox'), '--box-id', 'box-a'] });
  let back = 0;
  const backBy = Date.now() + 30_000;
  while (!back && Date.now() < backBy) {
    const call = await startSipp({ scenario: 'proxy-call.xml', port: proxy.port, host: PROXY_ADDRESS, service: `*400*${room}*${PIN}`, keys: { ext: '392' }, holdMs: 500, timeoutS: 30 });
    assert.ok((await call.done).ok, 'the call is answered');
    if (new RegExp(`room ${room} to sip:127\\.0\\.0\\.1:${a.sipPort};transport=tcp`).test(proxy.output().slice(proxy.output().lastIndexOf(`room ${room} to`)))) back = Date.now() - restarted;
  }
  assert.ok(back, `room ${room} goes to box a again once it answers`);
  console.log(`# box a restarted: room ${room} went to it again ${back} ms after it was started (including its start)`);
  held.kill();
  await held.done.catch(() => undefined);
});

t('wrong PINs guessed on one box: the guesser is blocked on the other box too', async () => {
  const [a, b] = boxes as [RunningBox, RunningBox];
  const guesser = '127.0.0.9';
  let last = '';
  for (let i = 0; i < 8; i++) {
    const f = await (await (await phoneOn(a, '403', guesser)).invite(`*400*${ROOMS[0]}*${String(1000 + i)}`)).final();
    last = f.describe();
    if (/too many|blocked/i.test(String(f.get('reason')) + String(f.get('warning')))) break;
  }
  assert.match(last, /603/, `box a blocks the guesser: ${last}`);
  const started = Date.now();
  let refused = '';
  while (!refused && Date.now() - started < 20_000) {
    const call = await (await phoneOn(b, '403', guesser)).invite(`*400*${ROOMS[0]}*${PIN}`);
    const f = await call.final();
    if (f.status === 603) refused = `${f.describe()} ${f.get('reason') ?? ''}`;
    else {
      if (f.status === 200) await call.bye().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  assert.ok(refused, 'box b refuses the blocked guesser, even with the right PIN');
  assert.match(refused, /too many failed attempts|blocked/i);
  console.log(`# a block made on box a held on box b ${Date.now() - started} ms later`);
});

t('a guesser who spreads wrong PINs over both boxes is counted once: blocked after the fifth in all', async () => {
  const [a, b] = boxes as [RunningBox, RunningBox];
  const guesser = '127.0.0.10';
  const guess = async (box: RunningBox, pin: string) => {
    const f = await (await phoneOn(box, '404', guesser)).invite(`*400*${ROOMS[3]}*${pin}`).then((c) => c.final());
    return { answer: f.describe(), why: `${f.get('reason') ?? ''} ${f.get('warning') ?? ''}` };
  };
  const blocked = /too many failed attempts/i;
  for (let i = 0; i < 3; i++) {
    const g = await guess(a, String(2000 + i));
    assert.match(g.why, /PIN/i, `box a turns down wrong PIN ${i + 1}: ${g.answer} ${g.why}`);
    assert.not.match(g.why, blocked, `box a does not block at guess ${i + 1}: ${g.why}`);
  }
  // Each box tells its counts and reads the others' every 5 s: two rounds at most.
  await new Promise((r) => setTimeout(r, 12_000));
  for (const pin of ['2003', '2004']) {
    const g = await guess(b, pin);
    assert.not.match(g.why, blocked, `box b turns down wrong PIN ${pin} as wrong: ${g.why}`);
  }
  const right = await guess(b, PIN);
  assert.match(right.why, blocked, `five wrong PINs in all, two of them on box b: box b refuses even the right PIN: ${right.answer} ${right.why}`);
});

test.run();
