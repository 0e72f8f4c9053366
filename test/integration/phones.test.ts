// Real phones at the box's default settings (nothing set but extensions and rooms): SIPp, baresip 1.0 and linphone
// 5.1 (linphonec) register and join; each rejection (wrong PIN, full room, blocked caller) reaches them as something
// other than an authentication failure, so they stay registered and keep their passwords: linphone never asks for
// its password, and the REGISTER after the rejection succeeds. The Extensions API tells why an attempt failed.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { baresipMissing, startBaresip } from '../support/baresip.ts';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { linphoneMissing, startLinphone, type RunningLinphone } from '../support/linphone.ts';
import { Phone } from '../support/phone.ts';
import { describeRun, received, registerRow, runSipp, sippAvailable } from '../support/sipp.ts';
import { setupCodeOf, WebClient } from '../support/web.ts';

const TESTS = 6;
const missing = [linphoneMissing(), baresipMissing(), sippAvailable() ? null : 'sipp not installed'].filter(Boolean).join('; ');
if (missing) console.log(`confbox-skipped: ${TESTS} ${missing}`);

const PIN = '1234';
const LINPHONE = { user: '201', password: 'pw-201' };
const BARESIP = { user: '202', password: 'pw-202' };
const SIPP = { user: '203', password: 'pw-203' };
const ROOM = { sipp: 10, baresip: 11, linphone: 12, wrongPin: 13, blocked: 14, fullForBaresip: 15, fullForLinphone: 16 };
/** The test phone that fills a room of two with two calls (RTP-silent callers are hung up after 30 s: fill it just before). */
const FILLER = { user: '204', password: 'pw-204' };

let box: RunningBox | undefined;
let dataDir = '';
let linphone: RunningLinphone | undefined;
let filler: Phone | undefined;
let web: WebClient | undefined;

/** The extension as GET /api/extensions shows it. */
async function extensionRow(number: string): Promise<{ registered: boolean; algorithm: string | null; lastFailure: { reason: string; method: string } | null }> {
  const res = await web!.api('GET', '/api/extensions');
  assert.is(res.status, 200, res.text);
  const rows = res.json as Array<{ number: string; registered: boolean; algorithm: string | null; lastFailure: { reason: string; method: string } | null }>;
  const row = rows.find((r) => r.number === number);
  assert.ok(row, `extension ${number} in /api/extensions: ${JSON.stringify(rows)}`);
  return row;
}

if (!missing) {
  test.before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'confbox-phones-box-'));
    await configure(dataDir, [
      ...[LINPHONE, BARESIP, SIPP, FILLER].map((e) => ['extension', 'add', e.user, '--password', e.password]),
      // A room is gone once its last caller leaves: each join gets a room of its own.
      ...[ROOM.sipp, ROOM.baresip, ROOM.linphone, ROOM.wrongPin, ROOM.blocked].map((id) => ['room', 'add', String(id), '--pin', PIN]),
      ...[ROOM.fullForBaresip, ROOM.fullForLinphone].map((id) => ['room', 'add', String(id), '--pin', PIN, '--max-participants', '2']),
    ]);
    box = await startBox({ dataDir, logLevel: 'debug' });
    web = new WebClient(box.webUrl, box.certificate());
    const setup = await web.setup('phones-admin-pass', setupCodeOf(dataDir));
    assert.is(setup.status, 303, setup.text.slice(0, 500));
  });

  test.after(async () => {
    await linphone?.quit();
    filler?.close();
    await box?.stop();
    if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output());
    if (dataDir) removeDataDir(dataDir);
  });

  test('SIPp registers (register.xml) and joins (call-auth.xml) at the default digest setting: MD5 is what it is asked', async () => {
    const reg = await runSipp({ scenario: 'register.xml', port: box!.sipPort, injection: { rows: [registerRow(SIPP.user, SIPP.password)] } });
    assert.ok(reg.ok && reg.successful === 1, describeRun(reg));
    const challenge = received(reg).find((m) => m.start.startsWith('SIP/2.0 401 '));
    assert.ok(challenge, describeRun(reg));
    assert.equal([...challenge.text.matchAll(/^WWW-Authenticate:.*algorithm=([\w-]+)/gim)].map((m) => m[1]), ['MD5'], challenge.text);
    const call = await runSipp({
      scenario: 'call-auth.xml', port: box!.sipPort, service: `*400*${ROOM.sipp}*${PIN}`, holdMs: 300,
      keys: { ext: SIPP.user }, auth: { user: SIPP.user, password: SIPP.password },
    });
    assert.ok(call.ok && call.successful === 1, describeRun(call));
  });

  test('baresip 1.0 registers and joins at the default settings', async () => {
    const b = await startBaresip({ boxPort: box!.sipPort, ...BARESIP, dial: `*400*${ROOM.baresip}*${PIN}`, toneHz: 440, seconds: 6 });
    try {
      await b.waitFor(/200 OK \(confbox[^)]*\) \[\d+ bindings?\]/, 10_000);
      await b.waitFor(/Call established/, 10_000);
    } finally {
      const result = await b.done();
      assert.ok(/Call with .* terminated/.test(result.output), `baresip hung up at the end:\n${result.output.slice(-2000)}`);
    }
    assert.is((await extensionRow(BARESIP.user)).algorithm, 'MD5');
  });

  /** Two calls of the test phone fill the room. */
  async function fill(room: number): Promise<void> {
    filler ??= await Phone.open({ boxPort: box!.sipPort, ...FILLER });
    for (let i = 0; i < 2; i++) {
      const inRoom = await filler.invite(`*400*${room}*${PIN}`);
      assert.is((await inRoom.final(10_000)).status, 200, `the test phone's call ${i + 1} into room ${room}`);
    }
  }

  test('baresip: a wrong PIN is 603 Decline and a full room 486 Busy Here; it registers again after each', async () => {
    const wrong = await startBaresip({ boxPort: box!.sipPort, ...BARESIP, dial: `*400*${ROOM.wrongPin}*0000`, toneHz: 440, seconds: 10 });
    try {
      await wrong.waitFor(/session closed: 603 Decline/, 15_000);
    } finally {
      wrong.kill();
      await wrong.done();
    }
    await fill(ROOM.fullForBaresip);
    const full = await startBaresip({ boxPort: box!.sipPort, ...BARESIP, dial: `*400*${ROOM.fullForBaresip}*${PIN}`, toneHz: 440, seconds: 10 });
    try {
      await full.waitFor(/200 OK \(confbox[^)]*\) \[\d+ bindings?\]/, 15_000);
      await full.waitFor(/session closed: 486 Busy Here/, 15_000);
    } finally {
      full.kill();
      await full.done();
    }
    filler?.close();
    filler = undefined;
    assert.is((await extensionRow(BARESIP.user)).registered, true);
  });

  test('linphone registers and joins at the default settings', async () => {
    linphone = await startLinphone({ boxPort: box!.sipPort, ...LINPHONE, expires: 60 });
    await linphone.waitRegistered();
    const from = linphone.output().length;
    linphone.send(`call sip:*400*${ROOM.linphone}*${PIN}@127.0.0.1:${box!.sipPort}`);
    await linphone.waitFor(/Call \d+ with \S+ connected\./, { from, timeoutMs: 15_000 });
    linphone.send('terminate');
    await linphone.waitFor(/Call \d+ with \S+ ended/, { from });
    assert.is((await extensionRow(LINPHONE.user)).registered, true);
  });

  /** linphone dials, the box refuses; linphone must not ask for its password, and registers again with it. */
  async function linphoneRefused(dialed: string, shown: RegExp): Promise<string> {
    const from = linphone!.output().length;
    linphone!.send(`call sip:${dialed}@127.0.0.1:${box!.sipPort}`);
    const ended = await linphone!.waitFor(/Call \d+ with \S+ (ended \([^)]*\)|error\.)/, { from, timeoutMs: 20_000 });
    assert.match(ended, shown, ended);
    assert.not.ok(linphone!.askedForPassword(), `linphone asked for its password after "${ended}":\n${linphone!.output().slice(from)}`);
    return ended;
  }

  async function linphoneRegistersAgain(): Promise<void> {
    linphone!.send('unregister');
    await new Promise((r) => setTimeout(r, 500));
    linphone!.send('register');
    await linphone!.waitRegistered(10_000);
    assert.not.ok(linphone!.askedForPassword(), `linphone asked for its password:\n${linphone!.output().slice(-2000)}`);
  }

  test('linphone: a wrong PIN and a full room end its call, not its registration: it keeps its password and registers again', async () => {
    await linphoneRefused(`*400*${ROOM.wrongPin}*0000`, /declined/i);
    await linphoneRegistersAgain();
    await fill(ROOM.fullForLinphone);
    // linphonec shows a 486 only as "error"; the box's call log says what it answered.
    const busy = box!.waitForLog((r) => r.msg === 'call reject' && r.caller === LINPHONE.user && r.room === ROOM.fullForLinphone, 20_000);
    await linphoneRefused(`*400*${ROOM.fullForLinphone}*${PIN}`, /error\./);
    assert.is((await busy).status, 486);
    await linphoneRegistersAgain();
    filler?.close();
    filler = undefined;
  });

  test('linphone: blocked after wrong PINs, it is declined, stays registered through its own refresh, and the page says why', async () => {
    // Five wrong PINs from this address (with the earlier ones) block it for calls; then even the right PIN is declined.
    for (let i = 0; i < 5; i++) await linphoneRefused(`*400*${ROOM.wrongPin}*000${i}`, /declined/i);
    await linphoneRefused(`*400*${ROOM.blocked}*${PIN}`, /declined/i);
    const refused = await extensionRow(LINPHONE.user);
    assert.equal(refused.lastFailure && { reason: refused.lastFailure.reason, method: refused.lastFailure.method }, { reason: 'blocked', method: 'INVITE' });
    assert.not.ok(linphone!.askedForPassword(), linphone!.output().slice(-2000));
    // Its registration lasts 60 s: after 65 s it is still there only if linphone refreshed it from the blocked address.
    await new Promise((r) => setTimeout(r, 65_000));
    assert.match(await linphone!.registration(), /^registered,/, `linphone is still registered:\n${linphone!.output().slice(-2000)}`);
    assert.not.ok(linphone!.askedForPassword(), linphone!.output().slice(-2000));
    const row = await extensionRow(LINPHONE.user);
    assert.is(row.registered, true);
    assert.equal(row.lastFailure && { reason: row.lastFailure.reason, method: row.lastFailure.method }, { reason: 'blocked', method: 'INVITE' });
  });
}

test.run();
