// Firmware updates through the real RAUC service (test/support/rauc.ts: Debian's rauc on a private bus, two ext4
// slot files, U-Boot's boot state in an environment file through libubootenv): the box marks its slot good once it is
// healthy; bundles signed by somebody else, made for another board, or sent as the wrong type are refused with a
// reason and change nothing; a good bundle installed from the console (`confbox update FILE`) lands in the other slot,
// which boots next, while a caller in a conference hears why the box restarts and is hung up before the box asks the
// board to restart; the API shows both slots and refuses a second update while the first restarts the box; after the
// restart, the Status page in headless Chromium sends a bundle with its progress and says when the box restarts.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, runCli, startBox, type RunningBox } from '../support/box.ts';
import { Callers, assertAnswered } from '../support/callers.ts';
import { RaucSystem, raucMissing } from '../support/rauc.ts';
import { testsNeeding } from '../support/requirements.ts';
import { chromiumAvailable, launchBrowser, logIn, newPage, screenshot } from '../support/browser.ts';
import { until } from '../support/rtp.ts';
import { firstAdmin, type WebClient } from '../support/web.ts';

const TESTS = 5;
const { enabled, t } = testsNeeding(TESTS, raucMissing() ?? (chromiumAvailable() ? null : 'Chromium (/usr/bin/chromium) is not installed'));
const dataDir = mkdtempSync(join(tmpdir(), 'confbox-update-'));
const rauc = new RaucSystem();
let box: RunningBox;
let web: WebClient;
const password = (ext: string) => `pw-${ext}`;
const ADMIN = 'updates-are-careful-1';
const callers = new Callers(() => box, password);

interface Slot { bootname: string; state: string; primary: boolean; bootStatus: string; version: string; installedAt: string | null }
interface UpdateView { available: boolean; reason: string; booted: string; slots: Slot[]; phase: string; percent: number; step: string; error: string; restartAt: number | null; markedGood: boolean }

test.before(async () => {
  if (!enabled) return;
  await rauc.start();
  // U-Boot used one of slot A's attempts to start it: the box gives it back once it is healthy.
  rauc.bootAttempt('A');
  await configure(dataDir, [['extension', 'add', '301', '--password', password('301')], ['extension', 'add', '302', '--password', password('302')], ['room', 'add', '7', '--pin', '4826', '--keep']]);
  box = await startBox({ dataDir, env: rauc.env });
  web = await firstAdmin(box, ADMIN);
});

test.after(async () => {
  await callers.close();
  await box?.stop();
  if (process.env.CONFBOX_TEST_DUMP) console.log(box?.output(), rauc.serviceLog);
  removeDataDir(dataDir);
  if (enabled) await rauc.stop();
});

async function update(): Promise<UpdateView> {
  const r = await web.api('GET', '/api/update');
  assert.is(r.status, 200, r.text);
  return r.json as UpdateView;
}

async function upload(file: string, type = 'application/octet-stream'): Promise<{ status: number; json: any; text: string }> {
  const r = await web.request('POST', '/api/update', { body: readFileSync(file), headers: { 'content-type': type }, csrfHeader: true });
  return { status: r.status, json: r.json, text: r.text };
}

t('healthy: the running slot is marked good, and the API shows both slots', async () => {
  assert.ok(await until(() => box.output().includes('"msg":"running slot marked good","slot":"A"'), 20_000), 'the box says it marked slot A good');
  assert.is(rauc.bootEnv().BOOT_A_LEFT, '3', 'the attempt U-Boot used is given back');
  const u = await update();
  assert.equal([u.available, u.booted, u.markedGood, u.phase], [true, 'A', true, 'idle'], JSON.stringify(u));
  assert.equal(u.slots.map((s) => [s.bootname, s.state, s.primary, s.version]), [['A', 'booted', true, ''], ['B', 'inactive', false, '']]);
  const page = await web.get('/status');
  assert.match(page.text, /Slot A: <span class="muted">as flashed<\/span> <span class="badge ok">running, starts next<\/span>/);
  assert.match(page.text, /Slot B: <span class="muted">empty<\/span>/);
  assert.match(page.text, /id="update-form"/);
});

t('refused, and nothing changes: another signer, another board, a form instead of the file', async () => {
  const before = rauc.bootEnv();
  const foreign = await upload(rauc.bundle('foreign', { version: '9.9.9', signer: 'other' }));
  assert.is(foreign.status, 422, foreign.text);
  assert.match(foreign.json.error.message, /^the update was refused: .*signature/i);
  const other = await upload(rauc.bundle('other-board', { version: '9.9.8', compatible: 'somebody-elses-box' }));
  assert.is(other.status, 422, other.text);
  assert.match(other.json.error.message, /compatible/i);
  const form = await upload(rauc.bundle('as-form', { version: '9.9.7' }), 'multipart/form-data; boundary=x');
  assert.is(form.status, 415, form.text);
  assert.match(form.json.error.message, /application\/octet-stream/);
  assert.equal(rauc.bootEnv(), before, 'U-Boot still starts slot A first');
  const u = await update();
  assert.equal([u.phase, u.slots.find((s) => s.bootname === 'B')?.version], ['failed', ''], JSON.stringify(u));
  assert.not.ok(existsSync(join(dataDir, 'updates', 'upload.raucb')), 'a refused upload is not kept');
});

t('confbox update FILE: into slot B, which starts next; the caller hears why and is hung up; then the restart is asked for', async () => {
  // Two callers: one alone would hear the waiting music.
  const m = await callers.dial('301', '*400*7*4826');
  assertAnswered(m);
  const other = await callers.dial('302', '*400*7*4826');
  assertAnswered(other);
  assert.ok(await callers.quiet(m, 1000, 15_000), 'the join announcements are over');
  const file = rauc.bundle('good', { version: '0.2.0' });
  const since = performance.now();
  const cli = await runCli(dataDir, ['update', file]);
  assert.is(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /^\s*\d+% .*Checking bundle/m, 'progress is shown');
  assert.match(cli.stdout, /installed into slot B \(version 0\.2\.0\); the box ends its calls and restarts in \d+ s$/m);
  assert.equal([rauc.bootEnv().BOOT_ORDER, rauc.slotFile('B', '/etc/confbox-version').trim()], ['B A', '0.2.0']);
  const heard = await callers.prompt(m, since, { minMs: 3000 });
  assert.is(heard, null, heard ?? '');
  assert.ok(await until(() => m.call.received('BYE'), 15_000), 'the box hung up');
  const bye = m.call.requests.find((r) => r.method === 'BYE')!;
  assert.match(String(bye.get('reason')), /software update/);
  assert.ok(await until(() => other.call.received('BYE'), 5000), 'the other caller is hung up too');
  assert.ok(await until(() => existsSync(join(dataDir, 'restart-requested')), 20_000), 'the box asked the board to restart');
});

t('while it restarts: the API shows slot B with 0.2.0 starting next, and a second update is refused', async () => {
  const u = await update();
  assert.is(u.phase, 'restarting');
  const b = u.slots.find((s) => s.bootname === 'B')!;
  assert.equal([b.version, b.primary, typeof b.installedAt], ['0.2.0', true, 'string']);
  const again = await upload(rauc.bundle('again', { version: '0.2.1' }));
  assert.is(again.status, 409, again.text);
  assert.match(again.json.error.message, /restarting/);
});

t('after the restart: the Status page sends a bundle, shows its progress, and says when the box restarts', async () => {
  await box.stop();
  box = await startBox({ dataDir, env: rauc.env });
  const browser = await launchBrowser();
  try {
    const { page } = await newPage(browser);
    await logIn(page, box.webUrl, ADMIN);
    await page.goto(`${box.webUrl}/status`);
    await page.waitForSelector('#slots li[data-slot="B"]:has-text("0.2.0")');
    page.on('dialog', (d) => void d.accept());
    await page.setInputFiles('#f-bundle', rauc.bundle('from-the-page', { version: '0.3.0' }));
    await page.click('button:has-text("Install update")');
    await page.waitForSelector('#f-bundle-msg:has-text("Installed into slot B (0.3.0)")', { timeout: 30_000 });
    assert.match(await page.locator('#f-bundle-msg').innerText(), /the box restarts in \d+ s/);
    await page.waitForSelector('#update-state:has-text("restarting")');
    await screenshot(page, 'status-update-installed');
    assert.is(rauc.slotFile('B', '/etc/confbox-version').trim(), '0.3.0');
  } finally {
    await browser.close();
  }
});

test.run();
