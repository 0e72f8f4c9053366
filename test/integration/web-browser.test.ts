// The web page in headless Chromium (Debian's, driven by playwright-core) against the built bundle,
// with SIPp as the phone in a conference: what a technician or office manager does and sees.
// Screenshots of every page land in test/artifacts/.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { beside, chromiumAvailable, launchBrowser, newPage, screenshot } from '../support/browser.ts';
import { describeRun, runSipp, sippAvailable, type SippResult } from '../support/sipp.ts';
import { setupCodeOf } from '../support/web.ts';
import { testsNeeding } from '../support/requirements.ts';

const ADMIN_PASSWORD = 'meeting-rooms-42';
const EXT = { number: '100', password: 's3cret' };
/** A display name that would run if the page put it into markup unescaped. */
const EVIL_NAME = 'Front desk <img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';

const TESTS = 9;
const { enabled, t } = testsNeeding(TESTS, chromiumAvailable() && sippAvailable() ? null : 'Chromium (/usr/bin/chromium) or SIPp is not installed');

let box: RunningBox;
let dataDir = '';
let browser: Browser;
let context: BrowserContext;
let page: Page;
let url = '';
let sipp: Promise<SippResult> | null = null;

test.before(async () => {
  if (!enabled) return;
  dataDir = mkdtempSync(join(tmpdir(), 'confbox-web-test-'));
  // SIPp answers only MD5 digest and sends no RTP.
  await configure(dataDir, [
    ['settings', 'set', 'digestAlgorithms', 'MD5'],
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ['extension', 'add', EXT.number, '--password', EXT.password, '--name', EVIL_NAME],
  ]);
  box = await startBox({ dataDir, logLevel: 'info' });
  url = box.webUrl;
  browser = await launchBrowser();
  ({ context, page } = await newPage(browser));
  page.on('dialog', (d) => void d.accept());
});

test.after(async () => {
  if (!enabled) return;
  await browser?.close();
  await box?.stop();
  if (dataDir) removeDataDir(dataDir);
});


t('first visit (plain HTTP, sent on to HTTPS) asks for the admin password, then opens the rooms page', async () => {
  await page.goto(`http://127.0.0.1:${box.httpPort}/`);
  assert.is(page.url(), `${url}/setup`);
  await screenshot(page, 'setup');
  await page.fill('#f-code', setupCodeOf(box.dataDir));
  await page.fill('#f-password', 'short');
  await page.fill('#f-confirm', 'short');
  await page.click('button.primary');
  assert.match(await beside(page, 'password'), /at least 8 characters/);
  await page.fill('#f-password', ADMIN_PASSWORD);
  await page.fill('#f-confirm', ADMIN_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/rooms');
  assert.match(await page.locator('.notice').innerText(), /Password set/);
});

t('log out, a wrong password is refused beside the field, the right one logs in', async () => {
  await page.click('text=Log out');
  await page.waitForURL('**/login');
  await page.fill('#f-password', 'not it at all');
  await page.click('button.primary');
  assert.match(await beside(page, 'password'), /Wrong password/);
  await screenshot(page, 'login');
  await page.fill('#f-password', ADMIN_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/rooms');
});

t('add a room through the form; wrong input shows the message beside the field, with and without JavaScript', async () => {
  await page.fill('#f-id', '2');
  await page.fill('#f-pin', '5678');
  await page.fill('#f-duration', '120');
  await page.click('text=Add room');
  await page.waitForSelector('tr[data-room="2"]');
  assert.match(await page.locator('.notice').innerText(), /Room 2 added\. Callers join with \*400\*2\*5678/);
  assert.match(await page.locator('tr[data-room="2"]').innerText(), /5678\s+—\s+120/, 'PIN, no moderator PIN, minutes');

  // With JavaScript: the message appears as soon as the field is left, and the form is not sent.
  await page.fill('#f-id', '999');
  await page.locator('#f-id').blur();
  assert.match(await beside(page, 'id'), /room number must be a whole number from 1 to 200/i);
  await page.fill('#f-pin', '12x');
  await page.click('text=Add room');
  assert.match(await beside(page, 'pin'), /PIN must be 1 to 16 digits/);
  await page.fill('#f-pin', '');
  await page.click('text=Add room');
  assert.is(await beside(page, 'pin'), 'PIN is required.', 'an empty field is named by its label');
  assert.match(page.url(), /\/rooms$/);
  await screenshot(page, 'rooms-inline-error');

  // Without JavaScript: the box answers with the same message beside the field and keeps what was typed.
  const noJs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors: true });
  await noJs.addCookies(await context.cookies());
  const p = await noJs.newPage();
  await p.goto(url + '/rooms');
  await p.fill('#f-id', '2');
  await p.fill('#f-pin', '1111');
  await p.click('text=Add room');
  assert.match(await beside(p, 'id'), /Room 2 already exists/);
  assert.is(await p.inputValue('#f-pin'), '1111');
  await p.fill('#f-id', '7');
  await p.fill('#f-duration', '5000');
  await p.click('text=Add room');
  assert.match(await beside(p, 'duration'), /duration in minutes must be a whole number from 1 to 1440, not "5000"/i);
  await screenshot(p, 'rooms-server-error');
  await noJs.close();
});

t('a SIPp caller joins: the live view shows the participant without a reload, names shown as text', async () => {
  await page.goto(url + '/live');
  assert.match(await page.locator('#live').innerText(), /No conference is running/);
  sipp = runSipp({
    scenario: 'call-box-hangs-up.xml', port: box.sipPort, service: '*400*2*5678', keys: { ext: EXT.number },
    auth: { user: EXT.number, password: EXT.password }, timeoutS: 120,
  });
  const row = page.locator('li[data-participant]');
  await row.waitFor({ timeout: 20_000 });
  const text = await row.innerText();
  assert.ok(text.includes('<script>window.pwned=2</script>'), `the name is shown as text: ${text}`);
  assert.ok(text.includes(EXT.number));
  assert.is(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'nothing from the name ran');
  assert.match(await page.locator('.conference h2').innerText(), /Room 2/);
  assert.match(await page.locator('.conference .time-left').innerText(), /(119|120) min left/);
  await screenshot(page, 'live');

  // The rooms page shows the room in use, and live too.
  const other = await context.newPage();
  await other.goto(url + '/rooms');
  assert.match(await other.locator('tr[data-room="2"] .in-use').innerText(), /1 in call/);
  await other.close();
});

t('deleting a room with people in it asks first (without JavaScript too)', async () => {
  const noJs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors: true });
  await noJs.addCookies(await context.cookies());
  const p = await noJs.newPage();
  await p.goto(url + '/rooms');
  await p.click('tr[data-room="2"] button:has-text("Delete")');
  assert.match(await p.locator('h1').innerText(), /Delete room 2\?/);
  assert.match(await p.locator('main').innerText(), /1 person is in room 2 now/);
  await screenshot(p, 'rooms-confirm-delete');
  await p.click('text=Keep it');
  await p.waitForURL('**/rooms');
  assert.is(await p.locator('tr[data-room="2"]').count(), 1, 'the room is still there');
  await noJs.close();
});

t('remove the participant from the page: the SIPp caller receives the BYE', async () => {
  await page.goto(url + '/live');
  await page.click('li[data-participant] button:has-text("Remove")');
  const r = await sipp!;
  assert.ok(r.ok && r.successful === 1, `SIPp got the box's BYE and answered it\n${describeRun(r)}`);
  await page.waitForSelector('text=No conference is running', { timeout: 20_000 });
});

t('delete a room from the rooms page', async () => {
  await page.goto(url + '/rooms');
  await page.fill('#f-id', '3');
  await page.fill('#f-pin', '3333');
  await page.click('text=Add room');
  await page.waitForSelector('tr[data-room="3"]');
  await page.click('tr[data-room="3"] button:has-text("Delete")');
  await page.waitForSelector('.notice:has-text("Room 3 deleted")');
  assert.is(await page.locator('tr[data-room="3"]').count(), 0);
  const api = await page.evaluate(async () => (await fetch('/api/rooms')).json());
  assert.not.ok((api as Array<{ id: number }>).some((r) => r.id === 3), 'gone from the box');
});

t('extensions, peers, settings, blocked and status pages work and show the LEDs', async () => {
  await page.goto(url + '/extensions');
  assert.match(await page.locator('table').innerText(), /100/);
  await page.fill('#f-number', '205');
  await page.fill('#f-displayName', 'Meeting room 2');
  await page.fill('#f-password', 'pw-205');
  await page.click('text=Add extension');
  await page.waitForSelector('.notice:has-text("Extension 205 saved")');
  await screenshot(page, 'extensions');

  await page.goto(url + '/peers');
  await page.fill('#f-cidr', '10.20.0.0/16');
  await page.fill('#f-description', 'Head office PBX');
  await page.click('text=Add peer');
  await page.waitForSelector('td:has-text("10.20.0.0/16")');
  await page.fill('#f-cidr', '10.20.0.999');
  await page.click('text=Add peer');
  assert.ok((await beside(page, 'cidr')).length > 0, 'a bad address is named beside the field');
  await screenshot(page, 'peers');

  await page.goto(url + '/settings');
  await page.fill('#f-maxParticipants', '8');
  await page.click('text=Save settings');
  await page.waitForSelector('.notice:has-text("Settings saved")');
  assert.is(await page.inputValue('#f-maxParticipants'), '8');
  await screenshot(page, 'settings');

  await page.goto(url + '/blocked');
  assert.match(await page.locator('main').innerText(), /Nothing is blocked/);
  await screenshot(page, 'blocked');

  await page.goto(url + '/status');
  assert.is(await page.locator('.led').count(), 4);
  assert.match(await page.locator('[data-led="power"]').innerText(), /on/);
  assert.match(await page.locator('[data-led="sip"]').innerText(), /on/, 'a trusted peer lights the SIP LED');
  // The fault LED may blink for missed media ticks on a loaded test machine: it must show what the status model says.
  const leds = await page.evaluate(async () => (await (await fetch('/api/status')).json()).leds);
  const fault = await page.locator('[data-led="fault"] .led').getAttribute('class');
  assert.is(fault, leds.fault.kind === 'off' ? 'led off' : `led code-${leds.fault.blinks}`);
  assert.match(await page.locator('.facts').innerText(), /Database\s+ok/);
  const served = new X509Certificate(box.certificate()).fingerprint256;
  assert.is(await page.locator('.facts .fingerprint').innerText(), served, 'the Status page shows the fingerprint of the certificate the box serves');
  await screenshot(page, 'status');
});

t('the pages fit a phone screen', async () => {
  const { context: mobile, page: m } = await newPage(browser, { mobile: true });
  await mobile.addCookies(await context.cookies());
  for (const name of ['rooms', 'live', 'status']) {
    await m.goto(`${url}/${name}`);
    const overflow = await m.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} is ${overflow}px wider than the screen`);
    await screenshot(m, `${name}-phone`);
  }
  await mobile.close();
});

test.run();
