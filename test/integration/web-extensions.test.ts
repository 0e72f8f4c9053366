// The Extensions page in headless Chromium (Debian's, driven by playwright-core) against the built bundle, with
// real SIP phones registering: what a technician setting up desk phones reads and sees change.
// Screenshots land in test/artifacts/.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { chromiumAvailable, launchBrowser, newPage, screenshot } from '../support/browser.ts';
import { Phone } from '../support/phone.ts';
import { testsNeeding } from '../support/requirements.ts';

const ADMIN_PASSWORD = 'front-desk-setup-7';
const EXT = { number: '201', password: 'desk-201-secret', name: 'Reception' };
const DESK_PHONE = 'Yealink SIP-T46U 66.86.0.15';
const SOFT_PHONE = 'Linphone-Desktop/5.2.6 (belle-sip/5.3.0)';

const TESTS = 6;
const { enabled, t } = testsNeeding(TESTS, chromiumAvailable() ? null : 'Chromium (/usr/bin/chromium) is not installed');

let box: RunningBox;
let dataDir = '';
let browser: Browser;
let context: BrowserContext;
let page: Page;
let url = '';
const phones: Phone[] = [];

test.before(async () => {
  if (!enabled) return;
  dataDir = mkdtempSync(join(tmpdir(), 'confbox-web-ext-test-'));
  await configure(dataDir, [
    ['admin', 'set-password', '--password', ADMIN_PASSWORD],
    ['extension', 'add', EXT.number, '--password', EXT.password, '--name', EXT.name],
    ['extension', 'add', '202', '--password', 'desk-202-secret', '--name', 'Meeting room'],
  ]);
  box = await startBox({ dataDir, logLevel: 'info' });
  url = box.webUrl;
  browser = await launchBrowser();
  ({ context, page } = await newPage(browser));
  page.on('dialog', (d) => void d.accept());
  await page.goto(url + '/login');
  await page.fill('#f-password', ADMIN_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/rooms');
});

test.after(async () => {
  if (!enabled) return;
  for (const p of phones) p.close();
  await browser?.close();
  await box?.stop();
  if (dataDir) removeDataDir(dataDir);
});


async function openPhone(o: { transport?: 'udp' | 'tcp'; userAgent: string; password?: string }): Promise<Phone> {
  const p = await Phone.open({ boxPort: box.sipPort, transport: o.transport, user: EXT.number, password: o.password ?? EXT.password, userAgent: o.userAgent });
  phones.push(p);
  return p;
}

/** The description beside a term of the "Set up a phone" list. */
async function setupValue(p: Page, term: RegExp): Promise<string> {
  const terms = p.locator('#phone-setup dt');
  const n = await terms.count();
  for (let i = 0; i < n; i++) {
    if (term.test(await terms.nth(i).innerText())) return p.locator('#phone-setup dt').nth(i).locator('xpath=following-sibling::dd[1]').innerText();
  }
  throw new Error(`no "${term}" in the setup panel: ${await p.locator('#phone-setup').innerText()}`);
}

/** Opens the Extensions page and resolves once its live-update stream is connected. */
async function openExtensions(p: Page, path = '/extensions'): Promise<void> {
  const stream = p.waitForResponse((r) => r.url().includes('/events'));
  await p.goto(url + path);
  assert.is((await stream).status(), 200);
  // A marker of this very document: a reload would lose it.
  await p.evaluate(() => { (window as unknown as { sameDocument: boolean }).sameDocument = true; });
}

async function notReloaded(p: Page): Promise<void> {
  assert.ok(await p.evaluate(() => (window as unknown as { sameDocument?: boolean }).sameDocument === true), 'the page was not reloaded');
}

function row(p: Page, number: string) {
  return p.locator(`#extensions tr[data-extension="${number}"]`);
}

t('"Set up a phone" names the box\'s address, its ports, the transports, the user name and where the password comes from', async () => {
  await page.goto(url + '/extensions');
  for (const field of [/SIP server/, /Registrar/, /Outbound proxy/]) {
    assert.match(await setupValue(page, field), /127\.0\.0\.1/, `${field} is the box's address`);
  }
  const ports = await setupValue(page, /Port/);
  assert.match(ports, new RegExp(`${box.sipPort}\\b[^]*UDP[^]*TCP`));
  assert.match(ports, new RegExp(`${box.sipTlsPort}\\b[^]*TLS`));
  const transports = await setupValue(page, /Transport/);
  for (const name of ['UDP', 'TCP', 'TLS']) assert.match(transports, name);
  assert.match(await setupValue(page, /User name/), /extension number/);
  assert.match(await setupValue(page, /Auth/), /extension number/);
  assert.match(await setupValue(page, /Password/), /password set for that extension here[^]*cannot show it again/);
  assert.match(await setupValue(page, /Realm/), /confbox/);
  await screenshot(page, 'extensions-setup');

  // Editing an extension: its number is what the phone's user name field gets.
  await page.click(`tr[data-extension="${EXT.number}"] a:has-text("Edit")`);
  await page.waitForURL(`**/extensions/${EXT.number}`);
  assert.match(await page.locator('#phone-setup h2').innerText(), new RegExp(EXT.number));
  assert.match(await setupValue(page, /User name/), new RegExp(`^${EXT.number}\\b`));
  assert.match(await setupValue(page, /Password/), new RegExp(`extension ${EXT.number}`));
  await screenshot(page, 'extensions-setup-edit');
});

t('the setup panel is there without JavaScript', async () => {
  const noJs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors: true });
  await noJs.addCookies(await context.cookies());
  const p = await noJs.newPage();
  await p.goto(`${url}/extensions/${EXT.number}`);
  assert.match(await setupValue(p, /SIP server/), /127\.0\.0\.1/);
  assert.match(await setupValue(p, /User name/), new RegExp(`^${EXT.number}\\b`));
  await noJs.close();
});

t('with the page open, registering phones appear with their address, User-Agent and expiry, without a reload', async () => {
  await openExtensions(page);
  assert.match(await row(page, EXT.number).innerText(), /not registered/);
  const desk = await openPhone({ userAgent: DESK_PHONE });
  const before = Date.now();
  assert.is((await desk.register({ expires: 600 })).final.status, 200);
  const deskEntry = row(page, EXT.number).locator('li', { hasText: `udp:127.0.0.1:${desk.localPort}` });
  await deskEntry.waitFor({ timeout: 10_000 });
  assert.match(await deskEntry.innerText(), DESK_PHONE);
  const expiry = Date.parse((await deskEntry.locator('time').getAttribute('datetime')) ?? '');
  assert.ok(expiry >= before + 590_000 && expiry <= Date.now() + 601_000, `expires in about 10 minutes: ${new Date(expiry).toISOString()}`);

  // A second phone of the same extension, over TCP, is listed beside the first.
  const soft = await openPhone({ transport: 'tcp', userAgent: SOFT_PHONE });
  assert.is((await soft.register({ expires: 300 })).final.status, 200);
  const softEntry = row(page, EXT.number).locator('li', { hasText: `tcp:127.0.0.1:${soft.localPort}` });
  await softEntry.waitFor({ timeout: 10_000 });
  assert.match(await softEntry.innerText(), SOFT_PHONE);
  assert.match(await row(page, EXT.number).innerText(), /registered[^]*2 phones/);

  // A refresh moves the expiry on.
  await new Promise((r) => setTimeout(r, 1100));
  assert.is((await desk.register({ expires: 600 })).final.status, 200);
  await page.waitForFunction(([source, old]) => {
    const item = [...document.querySelectorAll('#extensions li')].find((li) => li.textContent?.includes(source!));
    return Date.parse(item?.querySelector('time')?.getAttribute('datetime') ?? '') > Number(old);
  }, [`udp:127.0.0.1:${desk.localPort}`, String(expiry)], { timeout: 10_000 });
  await notReloaded(page);
  await screenshot(page, 'extensions-registered');
});

t('a phone that unregisters (Expires: 0) disappears without a reload', async () => {
  const [desk, soft] = phones;
  assert.is((await soft!.register({ expires: 0 })).final.status, 200);
  await row(page, EXT.number).locator('li', { hasText: `tcp:127.0.0.1:${soft!.localPort}` }).waitFor({ state: 'detached', timeout: 10_000 });
  assert.match(await row(page, EXT.number).innerText(), new RegExp(`udp:127\\.0\\.0\\.1:${desk!.localPort}`), 'the other phone stays');
  assert.is((await desk!.register({ expires: 0 })).final.status, 200);
  await page.locator(`#extensions tr[data-extension="${EXT.number}"]:has-text("not registered")`).waitFor({ timeout: 10_000 });
  assert.is(await row(page, EXT.number).locator('li').count(), 0);
  await notReloaded(page);
});

t('a registration with a wrong password shows as the last failed attempt without a reload', async () => {
  assert.match(await row(page, EXT.number).locator('.last-failure').innerText(), /—/);
  const wrong = await openPhone({ userAgent: DESK_PHONE, password: 'not-the-password' });
  assert.is((await wrong.register({ expires: 600 })).final.status, 401);
  const failure = row(page, EXT.number).locator('.last-failure:has-text("wrong password")');
  await failure.waitFor({ timeout: 10_000 });
  assert.match(await failure.innerText(), /registration from 127\.0\.0\.1/);
  await notReloaded(page);
  await screenshot(page, 'extensions-failed');
});

t('the Extensions page fits a phone screen and follows registrations there too', async () => {
  const { context: mobile, page: m } = await newPage(browser, { mobile: true });
  await mobile.addCookies(await context.cookies());
  await openExtensions(m, `/extensions/${EXT.number}`);
  const desk = await openPhone({ userAgent: DESK_PHONE });
  assert.is((await desk.register({ expires: 600 })).final.status, 200);
  await row(m, EXT.number).locator('li', { hasText: DESK_PHONE }).waitFor({ timeout: 10_000 });
  const overflow = await m.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the screen`);
  await screenshot(m, 'extensions-phone');
  await mobile.close();
});

test.run();
