// The Database setting against an office's own MariaDB (test/support/office-db.ts): "Test connection" says in words
// what the box would find with the details typed (right ones, a wrong password, a wrong port, a certificate for
// another name, a database that is missing or already holds the box's tables), changing nothing on the server; and
// the same on the Settings page and in the API of a running box.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../../firmware/log.ts';
import { migrate } from '../../firmware/store/migrations.ts';
import { openPool } from '../../firmware/store/mysql.ts';
import { probeDatabase, readOfficeDatabase, type OfficeDatabase } from '../../firmware/store/probe.ts';
import { BoxError } from '../../firmware/errors.ts';
import { OfficeDb } from '../support/office-db.ts';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, startBox, type RunningBox } from '../support/box.ts';
import { eventually, Phone } from '../support/phone.ts';
import { setupCodeOf, WebClient } from '../support/web.ts';

const PASSWORD = 'Office-db-pass-7';
const office = new OfficeDb();
let target: OfficeDatabase;

test.before(async () => {
  // The certificate is for the server's address and db.office.lan, not for the name localhost.
  await office.start({ tlsNames: ['IP:127.0.0.1', 'DNS:db.office.lan'] });
  await office.account('confbox', PASSWORD, 'confbox');
  target = { host: '127.0.0.1', port: office.port, user: 'confbox', password: PASSWORD, database: 'confbox', tls: 'off' };
});

test.after(async () => {
  await office.stop();
});

test('the right details: connected, the server named, an empty database whose tables will be created', async () => {
  const r = await probeDatabase(target);
  assert.ok(r.ok, r.message);
  assert.match(r.message, /^connected to MariaDB \d+\.\d+, database confbox is empty: its tables will be created$/);
  assert.equal(await office.root("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'confbox'"), [], 'nothing was made there');
});

test('a wrong password, a wrong port, a missing database: each said in words, the password in none', async () => {
  const denied = await probeDatabase({ ...target, password: 'not-the-password' });
  assert.equal([denied.ok, !denied.ok && denied.code], [false, 'access-denied']);
  assert.match(denied.message, /^access denied for user 'confbox'/);
  const closed = await probeDatabase({ ...target, port: office.port + 1 === 65536 ? 1 : office.port + 1 });
  assert.equal([closed.ok, !closed.ok && closed.code], [false, 'unreachable']);
  assert.match(closed.message, new RegExp(`^no server answers at 127\\.0\\.0\\.1:\\d+`));
  await office.account('other', PASSWORD, 'nothere', false);
  const missing = await probeDatabase({ ...target, user: 'other', database: 'nothere' });
  assert.equal([missing.ok, !missing.ok && missing.code], [false, 'no-database']);
  assert.match(missing.message, /it has no database nothere: create it/);
  for (const r of [denied, closed, missing]) assert.not.ok(r.message.includes(PASSWORD), r.message);
});

test('TLS: verified against the CA given, and a certificate for another name is refused as such', async () => {
  const ok = await probeDatabase({ ...target, tls: 'ca', ca: office.ca! });
  assert.ok(ok.ok, ok.message);
  const mismatch = await probeDatabase({ ...target, host: 'localhost', tls: 'ca', ca: office.ca! });
  assert.equal([mismatch.ok, !mismatch.ok && mismatch.code], [false, 'tls-name']);
  assert.is(mismatch.message, 'the certificate does not match the host name localhost: connect with a name the certificate is for');
  const untrusted = await probeDatabase({ ...target, tls: 'on' });
  assert.equal([untrusted.ok, !untrusted.ok && untrusted.code], [false, 'tls-untrusted']);
});

test('on the page and in the API: the database in use, and Test connection\'s answers; the password shown, logged or returned nowhere', async () => {
  await office.account('boxtest', PASSWORD, 'boxtest');
  let box: RunningBox | null = null;
  try {
    box = await startBox({ logLevel: 'info' });
    const web = new WebClient(box.webUrl, box.certificate());
    assert.is((await web.setup('office-manager-2026', setupCodeOf(box.dataDir))).status, 303);
    await web.get('/settings'); // the page's form token, which the API asks of a browser session
    assert.equal((await web.api('GET', '/api/database')).json, { kind: 'embedded', setBy: 'default', nextStart: { kind: 'embedded' } });
    const details = { host: '127.0.0.1', port: office.port, user: 'boxtest', password: PASSWORD, database: 'boxtest', tls: 'off' };
    const right = await web.api('POST', '/api/database/test', details);
    assert.is(right.status, 200, right.text);
    assert.equal([right.json.ok, right.json.contents], [true, 'empty']);
    assert.match(right.json.message, /^connected to MariaDB \d+\.\d+, database boxtest is empty: its tables will be created$/);
    const wrong = await web.api('POST', '/api/database/test', { ...details, password: 'wrong' });
    assert.equal([wrong.status, wrong.json.ok, wrong.json.code], [200, false, 'access-denied']);
    const badPort = await web.api('POST', '/api/database/test', { ...details, port: 'db' });
    assert.equal([badPort.status, badPort.json.error.field], [400, 'port']);

    const settings = await web.get('/settings');
    assert.match(settings.text, /kept in the box's own database \(its embedded MariaDB\)/);
    const page = await web.post('/settings/database/test', { dbHost: '127.0.0.1', dbPort: String(office.port), dbUser: 'boxtest', dbPassword: PASSWORD, dbName: 'boxtest', dbTls: 'off', dbCa: '' });
    assert.is(page.status, 200);
    assert.match(page.text, /<p class="notice" role="status" id="database-test-result">connected to MariaDB [\d.]+, database boxtest is empty: its tables will be created<\/p>/);
    assert.match(page.text, /id="f-dbHost"[^>]*value="127\.0\.0\.1"/, 'the details typed stay in the form');
    const refused = await web.post('/settings/database/test', { dbHost: 'db office', dbPort: '3306', dbUser: 'boxtest', dbPassword: PASSWORD, dbName: 'boxtest', dbTls: 'off', dbCa: '' });
    assert.is(refused.status, 400);
    assert.match(refused.text, /<p class="msg" id="f-dbHost-msg" role="alert">Host must be the server(&#39;|&#x27;|')s host name or IP address/);
    const denied = await web.post('/settings/database/test', { dbHost: '127.0.0.1', dbPort: String(office.port), dbUser: 'boxtest', dbPassword: 'wrong', dbName: 'boxtest', dbTls: 'off', dbCa: '' });
    assert.match(denied.text, /<p class="error-box" role="status" id="database-test-result">access denied for user (&#39;|&#x27;|')boxtest/);
    for (const [what, text] of [['the page', page.text], ['the refusal', refused.text], ['the API', right.text + wrong.text], ['the log', box.output()]] as const) {
      assert.not.ok(text.includes(PASSWORD), `the password is not in ${what}`);
    }
    assert.ok(box.output().includes('"database connection tested"'), 'each test is logged');
    assert.equal(await office.root("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'boxtest'"), [], 'testing made nothing there');
  } finally {
    await box?.stop();
  }
});

test('saved on the page, the office\'s database is used at once, a call going on; going back copies the rooms back when asked', async () => {
  await office.account('switched', PASSWORD, 'switched');
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-switch-'));
  const outputs: string[] = [];
  let box: RunningBox | null = null;
  let phone: Phone | null = null;
  const start = async () => {
    box = await startBox({ dataDir, logLevel: 'info' });
    return new WebClient(box.webUrl, box.certificate());
  };
  const stop = async () => {
    outputs.push(box!.output());
    await box!.stop();
    box = null;
  };
  try {
    let web = await start();
    assert.is((await web.setup('office-manager-2026', setupCodeOf(dataDir))).status, 303);
    await web.get('/settings');
    assert.is((await web.api('POST', '/api/rooms', { id: '7', pin: '7777', keep: true })).status, 201);
    assert.is((await web.api('PUT', '/api/extensions/100', { password: 'phone-pass-100' })).status, 200);
    phone = await Phone.open({ boxPort: box!.sipPort, user: '100', password: 'phone-pass-100' });
    const call = await phone.dial('*400*7*7777');
    assert.is(call.status, 200, 'a call in room 7 before the switch');
    await eventually(() => call.rtpIn.length > 10, 10_000, 100, 'the box\'s audio reaching the phone');

    const details = { host: '127.0.0.1', port: office.port, user: 'switched', password: PASSWORD, database: 'switched', tls: 'off' };
    const refused = await web.api('PUT', '/api/database', { ...details, password: 'wrong' });
    assert.equal([refused.status, refused.json.error.code], [409, 'access-denied'], 'a choice that does not connect is not saved');
    assert.is((await web.api('GET', '/api/database')).json.kind, 'embedded', 'and the box stays where it was');
    const saved = await web.api('PUT', '/api/database', details);
    assert.is(saved.status, 200, saved.text);
    assert.match(saved.json.message, /database switched is empty: its tables will be created\. The box keeps its configuration there from now on: switched in \d+\.\d s; calls in progress went on\.$/);
    assert.equal([saved.json.kind, saved.json.where, saved.json.database, saved.json.setBy], ['server', `127.0.0.1:${office.port}`, 'switched', 'page']);
    assert.ok(saved.json.switchedInMs >= 0 && saved.json.switchedInMs < 30_000);
    assert.is(statSync(join(dataDir, 'database.json')).mode & 0o777, 0o600, 'the password is kept readable by the box alone');

    // At once, without a restart: a room made now is on the office's server, and the call in room 7 goes on.
    assert.is((await web.api('POST', '/api/rooms', { id: '8', pin: '8888', keep: true })).status, 201);
    assert.equal((await office.root('SELECT id, pin FROM switched.rooms')).map((r) => [r.id, r.pin]), [[8, '8888']], 'a room made now is on the office\'s server');
    assert.match((await web.get('/status')).text, new RegExp(`<dt>Database</dt><dd><span class="badge ok">ok</span> 127\\.0\\.0\\.1:${office.port}, database switched</dd>`));
    const heard = call.rtpIn.length;
    await eventually(() => call.rtpIn.length > heard + 25, 10_000, 100, 'audio still reaching the phone after the switch');
    assert.not.ok(call.ended || call.requests.some((m) => m.method === 'BYE'), 'the call was not ended');
    assert.is((await new WebClient(box!.webUrl, box!.certificate()).login('office-manager-2026')).status, 303, 'the administrator password came along to the new database');
    const settingsPage = (await web.get('/settings')).text;
    const backup = await web.api('POST', '/api/backup', {});
    assert.is(backup.status, 200);
    for (const text of [saved.text, settingsPage, backup.text, (await web.api('GET', '/api/database')).text, (await web.api('GET', '/api/settings')).text]) assert.not.ok(text.includes(PASSWORD));

    // Back to the box's own database, the rooms copied back: refused over room 7 unless asked to replace it.
    const conflict = await web.api('DELETE', '/api/database?copy=yes');
    assert.equal([conflict.status, conflict.json.error.code], [409, 'conflict']);
    assert.match(conflict.json.error.message, /^database confbox already holds 1 room, 1 extension, 0 trusted peers and \d+ settings \(rooms 7\)/);
    assert.is((await web.api('GET', '/api/database')).json.kind, 'server', 'refused: the box stays on the office\'s database');
    const back = await web.api('DELETE', '/api/database?copy=yes&replace=yes');
    assert.is(back.status, 200, back.text);
    assert.match(back.json.message, /^The box uses its own database again\. 1 room, 0 extensions, 0 trusted peers and \d+ settings copied back\. Switched in \d+\.\d s; calls in progress went on\.$/);
    assert.equal(((await web.api('GET', '/api/rooms')).json as Array<{ id: number }>).map((r) => r.id), [8]);
    const heardBack = call.rtpIn.length;
    await eventually(() => call.rtpIn.length > heardBack + 25, 10_000, 100, 'audio still reaching the phone after switching back');
    assert.not.ok(call.ended, 'the call went on through both switches');
    await call.bye();
    await stop();

    // Each start after keeps the last choice: the box's own database, as it was left.
    web = await start();
    assert.is((await web.login('office-manager-2026')).status, 303);
    assert.equal(((await web.api('GET', '/api/rooms')).json as Array<{ id: number }>).map((r) => r.id), [8]);
    assert.equal([(await web.api('GET', '/api/database')).json.kind, (await web.api('GET', '/api/database')).json.setBy], ['embedded', 'default']);

    // The console undoes a choice without the office's server: it takes effect at the next start.
    await web.get('/settings');
    assert.is((await web.api('PUT', '/api/database', details)).status, 200);
    await stop();
    const cli = await runCli(dataDir, ['database', 'use', 'embedded']);
    assert.is(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /the box uses its own database again from its next start \(it was 127\.0\.0\.1:\d+, database switched\)/);
    web = await start();
    assert.is((await web.login('office-manager-2026')).status, 303);
    assert.is((await web.api('GET', '/api/database')).json.kind, 'embedded');
    await stop();
    for (const out of outputs) assert.not.ok(out.includes(PASSWORD), 'the password is in no log line');
    const switches = outputs.join('').match(/"msg":"database switched[^\n]*"ms":\d+/g) ?? [];
    assert.is(switches.length, 3, 'each switch logged with how long it took');
  } finally {
    phone?.close();
    if (box) await stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('the rooms come along when asked; the office\'s server gone during a call: the call goes on, and the page takes the box back to its own database', async () => {
  await office.account('copied', PASSWORD, 'copied');
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-copy-'));
  let box: RunningBox | null = null;
  let caller: Phone | null = null;
  let joiner: Phone | null = null;
  try {
    box = await startBox({ dataDir, logLevel: 'info' });
    let web = new WebClient(box.webUrl, box.certificate());
    assert.is((await web.setup('office-manager-2026', setupCodeOf(dataDir))).status, 303);
    await web.get('/settings');
    for (const [id, pin] of [['3', '3333'], ['4', '4444']]) assert.is((await web.api('POST', '/api/rooms', { id, pin, keep: true })).status, 201);
    assert.is((await web.api('PUT', '/api/extensions/100', { password: 'phone-pass-100', displayName: 'Reception' })).status, 200);
    const details = { host: '127.0.0.1', port: office.port, user: 'copied', password: PASSWORD, database: 'copied', tls: 'off' };
    const saved = await web.api('PUT', '/api/database', { ...details, copy: 'yes' });
    assert.is(saved.status, 200, saved.text);
    assert.match(saved.json.message, /is empty: its tables will be created\. 2 rooms, 1 extension, 0 trusted peers and \d+ settings copied there\./);
    assert.equal((await office.root('SELECT id FROM copied.rooms ORDER BY id')).map((r) => r.id), [3, 4]);

    const again = await web.api('PUT', '/api/database', { ...details, copy: 'yes' });
    assert.equal([again.status, again.json.error.code, again.json.error.field], [409, 'conflict', 'replace']);
    assert.match(again.json.error.message, /^database copied already holds 2 rooms, 1 extension, 0 trusted peers and \d+ settings \(rooms 3, 4\): copying would replace them/);
    const page = await web.post('/settings/database/save', { dbHost: '127.0.0.1', dbPort: String(office.port), dbUser: 'copied', dbPassword: PASSWORD, dbName: 'copied', dbTls: 'off', dbCa: '', dbCopy: 'yes' });
    assert.is(page.status, 409);
    assert.match(page.text, /id="f-dbReplace-msg" role="alert">Database copied already holds 2 rooms/);
    assert.is((await web.api('PUT', '/api/database', { ...details, copy: 'yes', replace: 'yes' })).status, 200);
    await box.stop();

    // The next start runs on the office's server with the same rooms, extension and administrator password.
    box = await startBox({ dataDir, logLevel: 'info' });
    web = new WebClient(box.webUrl, box.certificate());
    assert.is((await web.login('office-manager-2026')).status, 303, 'the administrator password came along');
    assert.equal(((await web.api('GET', '/api/rooms')).json as Array<{ id: number }>).map((r) => r.id), [3, 4]);
    assert.equal(((await web.api('GET', '/api/extensions')).json as Array<{ number: string }>).map((e) => e.number), ['100']);
    assert.is((await web.api('GET', '/api/database')).json.setBy, 'page');
    assert.match((await web.get('/status')).text, new RegExp(`<dt>Database</dt><dd><span class="badge ok">ok</span> 127\\.0\\.0\\.1:${office.port}, database copied</dd>`), 'the Status page names the server');

    // The office's server goes away during a call: the box says so, names it, the call goes on, and a phone
    // joins a room the box knows; only changes wait for the database.
    caller = await Phone.open({ boxPort: box.sipPort, user: '100', password: 'phone-pass-100' });
    const inProgress = await caller.dial('*400*3*3333');
    assert.is(inProgress.status, 200);
    await office.pause();
    try {
      const until = Date.now() + 30_000;
      let status = '';
      while (Date.now() < until && !/badge bad">down<\/span> 127\.0\.0\.1:\d+, database copied cannot be reached/.test(status)) {
        await new Promise((r) => setTimeout(r, 500));
        status = (await web.get('/status')).text;
      }
      assert.match(status, /badge bad">down<\/span> 127\.0\.0\.1:\d+, database copied cannot be reached/);
      assert.equal((await web.api('GET', '/api/status')).json.leds.fault, { kind: 'code', blinks: 1, onMs: 250, offMs: 250, pauseMs: 1500 }, 'the fault LED flashes code 1');
      const change = await web.api('POST', '/api/rooms', { id: '5', pin: '5555' });
      assert.is(change.status, 503, 'a change waits for the database');
      joiner = await Phone.open({ boxPort: box.sipPort, user: '100', password: 'phone-pass-100' });
      const join = await joiner.dial('*400*3*3333');
      assert.is(join.status, 200, 'a phone joins a room the box knows while the database is away');
      const heard = inProgress.rtpIn.length;
      await eventually(() => inProgress.rtpIn.length > heard + 25, 10_000, 100, 'audio still reaching the first caller');
      assert.not.ok(inProgress.ended, 'the call in progress went on');
      assert.is((await web.api('GET', '/api/conferences')).json.find((c: { roomId: number }) => c.roomId === 3)?.participants.length, 2, 'both callers in room 3');

      // The wrong setting is undone from the page while that server is away: log in, Settings, back to the box's own.
      const technician = new WebClient(box.webUrl, box.certificate());
      assert.is((await technician.login('office-manager-2026')).status, 303, 'the page can be logged in to while the database is away');
      const settings = await technician.get('/settings');
      assert.is(settings.status, 200);
      assert.match(settings.text, /The tokens cannot be listed while the box cannot reach its database\./);
      assert.is((await technician.post('/settings/database/embedded', {})).status, 303);
      const back = (await technician.api('GET', '/api/database')).json;
      assert.equal([back.kind, back.setBy], ['embedded', 'default']);
      assert.equal(((await technician.api('GET', '/api/rooms')).json as Array<{ id: number }>).map((r) => r.id), [3, 4], 'the box\'s own rooms');
      assert.is((await technician.api('POST', '/api/rooms', { id: '5', pin: '5555' })).status, 201, 'changes are taken again');
      assert.not.ok(inProgress.ended, 'the call in progress went on through that too');
    } finally {
      await office.resume();
    }
  } finally {
    caller?.close();
    joiner?.close();
    await box?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a box whose own database is a server (the board\'s, --own-db): the page\'s choice is used instead, at each start too, and going back returns to that server', async () => {
  await office.account('boardown', PASSWORD, 'boardown');
  await office.account('chosen', PASSWORD, 'chosen');
  const own = `mysql://boardown:${PASSWORD}@127.0.0.1:${office.port}/boardown`;
  // As the board's unit sets it: in the environment, for the box and for the console alike.
  const env = { CONFBOX_OWN_DB: own };
  const dataDir = mkdtempSync(join(tmpdir(), 'confbox-own-'));
  let box: RunningBox | null = null;
  const start = async () => {
    box = await startBox({ dataDir, logLevel: 'info', env });
    return new WebClient(box.webUrl, box.certificate());
  };
  try {
    let web = await start();
    assert.is((await web.setup('office-manager-2026', setupCodeOf(dataDir))).status, 303);
    await web.get('/settings');
    assert.is((await web.api('POST', '/api/rooms', { id: '2', pin: '2222' })).status, 201);
    assert.equal((await office.root('SELECT id FROM boardown.rooms')).map((r) => r.id), [2], 'the room is on the box\'s own server');
    const first = (await web.api('GET', '/api/database')).json;
    assert.equal([first.kind, first.own, first.setBy], ['embedded', { where: `127.0.0.1:${office.port}`, database: 'boardown' }, 'default']);
    assert.match((await web.get('/status')).text, new RegExp(`<dt>Database</dt><dd><span class="badge ok">ok</span> 127\\.0\\.0\\.1:${office.port}, database boardown</dd>`));
    assert.match((await web.get('/settings')).text, /the box&#39;s own database \(<code>127\.0\.0\.1:\d+<\/code>, database <code>boardown<\/code>\)|the box's own database \(<code>127\.0\.0\.1:\d+<\/code>, database <code>boardown<\/code>\)/);
    const saved = await web.api('PUT', '/api/database', { host: '127.0.0.1', port: office.port, user: 'chosen', password: PASSWORD, database: 'chosen', tls: 'off', copy: 'yes' });
    assert.is(saved.status, 200, saved.text);
    assert.equal(saved.json.nextStart, { kind: 'server', where: `127.0.0.1:${office.port}`, database: 'chosen', tls: 'off' });
    await box!.stop();

    // The next start, with the unit's setting unchanged: the office's database chosen on the page.
    web = await start();
    assert.is((await web.login('office-manager-2026')).status, 303);
    const chosen = (await web.api('GET', '/api/database')).json;
    assert.equal([chosen.kind, chosen.database, chosen.setBy], ['server', 'chosen', 'page']);
    assert.is((await web.api('POST', '/api/rooms', { id: '3', pin: '3333' })).status, 201);
    assert.equal((await office.root('SELECT id FROM chosen.rooms ORDER BY id')).map((r) => r.id), [2, 3]);
    assert.equal((await office.root('SELECT id FROM boardown.rooms')).map((r) => r.id), [2], 'the own database is left as it was');

    // Back from the page, the rooms copied back: to the own server, not to an embedded MariaDB.
    await web.get('/settings');
    const refused = await web.post('/settings/database/embedded', { dbBackCopy: 'yes' });
    assert.is(refused.status, 409);
    assert.match(refused.text, /Database boardown already holds 1 room, 0 extensions, 0 trusted peers and \d+ settings \(rooms 2\)/);
    const back = await web.post('/settings/database/embedded', { dbBackCopy: 'yes', dbBackReplace: 'yes' });
    assert.is(back.status, 303);
    assert.match((await web.get('/settings')).text, /The box uses its own database again\. 2 rooms, 0 extensions, 0 trusted peers and \d+ settings copied back\. Switched in \d+\.\d s; calls in progress went on\./);
    assert.equal((await office.root('SELECT id FROM boardown.rooms ORDER BY id')).map((r) => r.id), [2, 3], 'room 3 came back');
    assert.equal((await web.api('GET', '/api/database')).json.own, { where: `127.0.0.1:${office.port}`, database: 'boardown' });
    await box!.stop();

    // The console does the same for the next start, without a running box.
    const cli = await runCli(dataDir, ['database', 'use', 'embedded'], env);
    assert.is(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /the box already uses its own database/);
    web = await start();
    assert.is((await web.login('office-manager-2026')).status, 303);
    assert.equal(((await web.api('GET', '/api/rooms')).json as Array<{ id: number }>).map((r) => r.id), [2, 3]);
    assert.not.ok(existsSync(join(dataDir, 'mariadb')), 'no embedded MariaDB was started at any point');
  } finally {
    await (box as RunningBox | null)?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('two boxes pointed at one office database on their pages see each other and each other\'s conferences', async () => {
  await office.account('shared', PASSWORD, 'shared');
  const dirs = [mkdtempSync(join(tmpdir(), 'confbox-shared-a-')), mkdtempSync(join(tmpdir(), 'confbox-shared-b-'))];
  const boxes: RunningBox[] = [];
  let phone: Phone | null = null;
  try {
    const webs: WebClient[] = [];
    for (const [i, dataDir] of dirs.entries()) {
      const box = await startBox({ dataDir, logLevel: 'info', extraArgs: ['--box-id', `office-box-${i + 1}`] });
      boxes.push(box);
      const web = new WebClient(box.webUrl, box.certificate());
      assert.is((await web.setup('office-manager-2026', setupCodeOf(dataDir))).status, 303);
      await web.get('/settings');
      webs.push(web);
    }
    assert.is((await webs[0]!.api('POST', '/api/rooms', { id: '21', pin: '2121', keep: true })).status, 201);
    assert.is((await webs[0]!.api('PUT', '/api/extensions/100', { password: 'phone-pass-100' })).status, 200);
    const details = { host: '127.0.0.1', port: office.port, user: 'shared', password: PASSWORD, database: 'shared', tls: 'off' };
    assert.is((await webs[0]!.api('PUT', '/api/database', { ...details, copy: 'yes' })).status, 200);
    const second = await webs[1]!.api('PUT', '/api/database', details);
    assert.is(second.status, 200, second.text);
    assert.match(second.json.message, /database shared already holds confbox tables \(schema \d+\): the box will use them and the rooms in them\. The box keeps its configuration there from now on/);
    assert.equal(((await webs[1]!.api('GET', '/api/rooms')).json as Array<{ id: number }>).map((r) => r.id), [21], 'the second box uses the rooms the first copied there');

    phone = await Phone.open({ boxPort: boxes[0]!.sipPort, user: '100', password: 'phone-pass-100' });
    assert.is((await phone.dial('*400*21*2121')).status, 200);
    const seen = await eventually(async () => {
      const c = (await webs[1]!.api('GET', '/api/cluster')).json as { boxes: Array<{ box: string; self: boolean; conferences: Array<{ roomId: number; participants: number }> }> };
      const first = c.boxes.find((b) => b.box === 'office-box-1');
      return first?.conferences.some((x) => x.roomId === 21 && x.participants === 1) ? c : null;
    }, 30_000, 500, 'the second box showing the first box\'s conference in room 21');
    assert.equal(seen.boxes.map((b) => [b.box, b.self]), [['office-box-2', true], ['office-box-1', false]]);
  } finally {
    phone?.close();
    for (const b of boxes) await b.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('a database that already holds the box\'s tables is named as such, with its schema', async () => {
  const pool = openPool(`mysql://confbox:${PASSWORD}@127.0.0.1:${office.port}/confbox`, createLogger('silent'));
  try {
    await migrate(pool, createLogger('silent'));
  } finally {
    await pool.end();
  }
  const r = await probeDatabase(target);
  assert.ok(r.ok && r.contents === 'confbox' && r.schemaVersion! > 10, r.message);
  assert.match(r.message, /already holds confbox tables \(schema \d+\): the box will use them/);
  await office.root('INSERT INTO confbox.schema_version (version, name, applied_at) VALUES (999, ?, NOW())', ['from a newer firmware']);
  const newer = await probeDatabase(target);
  assert.ok(newer.ok && newer.contents === 'newer-confbox', newer.message);
  assert.match(newer.message, /of a newer firmware \(schema 999, this firmware knows \d+\): update this box first/);
});

test('the details typed are checked before any connection, each refusal naming its field', () => {
  const field = (input: Record<string, unknown>) => {
    try {
      readOfficeDatabase(input);
    } catch (e) {
      assert.instance(e, BoxError);
      return (e as BoxError).field;
    }
    return null;
  };
  const good = { host: 'db.office.lan', port: '3306', user: 'confbox', password: 'x', database: 'confbox', tls: 'off' };
  assert.equal(readOfficeDatabase(good), { host: 'db.office.lan', port: 3306, user: 'confbox', password: 'x', database: 'confbox', tls: 'off' });
  assert.equal(readOfficeDatabase({ host: 'fd00::5', user: 'u' }), { host: 'fd00::5', port: 3306, user: 'u', password: '', database: 'confbox', tls: 'off' }, 'port 3306 and database confbox unless given');
  assert.is(field({ ...good, host: 'db office' }), 'host');
  assert.is(field({ ...good, host: '' }), 'host');
  assert.is(field({ ...good, port: '70000' }), 'port');
  assert.is(field({ ...good, user: "x' OR 1" }), 'user');
  assert.is(field({ ...good, database: 'conf-box' }), 'database');
  assert.is(field({ ...good, tls: 'maybe' }), 'tls');
  assert.is(field({ ...good, tls: 'ca', ca: 'not a certificate' }), 'ca');
  assert.is(field({ ...good, password: 'x'.repeat(257) }), 'password');
});

test.run();
