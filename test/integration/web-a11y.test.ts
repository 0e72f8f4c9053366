// Every page of the web page, at desktop and phone size, in headless Chromium against the built bundle with a phone in
// a conference: axe-core (injected unmodified) finds no accessibility violation; a keyboard user reaches a skip link
// first; on a 390 px phone the menu shows every section and no table cuts off a column.
// Screenshots land in test/artifacts/.
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { chromiumAvailable, launchBrowser, logIn, newPage, screenshot } from '../support/browser.ts';
import { Phone } from '../support/phone.ts';
import { testsNeeding } from '../support/requirements.ts';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const PASSWORD = 'every page for everyone';
const PIN = '2468';
/** Every page a logged-in user reaches from the menu, and the forms behind a link. */
const PAGES = ['/rooms', '/rooms/7/edit', '/live', '/extensions', '/extensions/301', '/peers', '/settings', '/blocked', '/calls', '/recordings', '/status'];
const SECTIONS = ['Rooms', 'Live', 'Extensions', 'Trusted peers', 'Settings', 'Blocked', 'Call log', 'Status'];

const TESTS = 6;
const { enabled, t } = testsNeeding(TESTS, chromiumAvailable() ? null : 'Chromium (/usr/bin/chromium) is not installed');

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-web-a11y-'));
let box: RunningBox;
let browser: Browser;
let desktop: { context: BrowserContext; page: Page };
let phoneSize: { context: BrowserContext; page: Page };
let phone: Phone | null = null;

interface AxeViolation {
  id: string;
  impact: string;
  help: string;
  nodes: Array<{ target: string[]; failureSummary: string }>;
}

/** axe-core's violations on the page as loaded, in words a developer can act on. */
async function violations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const found = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: AxeViolation[] }> } }).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations;
  });
  return found.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => `${n.target.join(' ')} [${n.failureSummary.replace(/\s+/g, ' ')}]`).join('; ')}`);
}

test.before(async () => {
  if (!enabled) return;
  await configure(dataDir, [
    ['admin', 'set-password', '--password', PASSWORD],
    ['extension', 'add', '301', '--password', 'pw-301', '--name', 'Dana Reyes'],
    ['extension', 'add', '302', '--password', 'pw-302', '--name', 'Eli Novak'],
    ['peer', 'add', '10.20.0.0/16', '--description', 'Head office PBX'],
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ['room', 'add', '7', '--pin', PIN, '--keep', '--creator', '301', '--max-participants', '6'],
    ['room', 'add', '8', '--pin', PIN],
  ]);
  box = await startBox({ dataDir, logLevel: 'info' });
  phone = await Phone.open({ boxPort: box.sipPort, user: '301', password: 'pw-301' });
  assert.is((await phone.register()).final.status, 200);
  assert.is((await phone.dial(`*400*7*${PIN}`)).status, 200);
  browser = await launchBrowser();
  desktop = await newPage(browser, { injectScripts: true });
  phoneSize = await newPage(browser, { mobile: true, injectScripts: true });
  await logIn(desktop.page, box.webUrl, PASSWORD);
  await logIn(phoneSize.page, box.webUrl, PASSWORD);
});

test.after(async () => {
  phone?.close();
  await browser?.close();
  await box?.stop();
  removeDataDir(dataDir);
});

for (const size of ['desktop', 'phone'] as const) {
  t(`axe-core finds no violation on any page at ${size} size, logged in and before`, async () => {
    const { page } = size === 'desktop' ? desktop : phoneSize;
    const problems: string[] = [];
    for (const path of PAGES) {
      await page.goto(box.webUrl + path);
      for (const v of await violations(page)) problems.push(`${path}: ${v}`);
    }
    const { context: anonymous, page: login } = await newPage(browser, { mobile: size === 'phone', injectScripts: true });
    await login.goto(`${box.webUrl}/login`);
    for (const v of await violations(login)) problems.push(`/login: ${v}`);
    await anonymous.close();
    assert.equal(problems, [], problems.join('\n'));
  });
}

t('a keyboard user reaches "Skip to the content" first, and it takes them past the menu', async () => {
  const { page } = desktop;
  await page.goto(`${box.webUrl}/extensions`);
  await page.keyboard.press('Tab');
  assert.is(await page.evaluate(() => document.activeElement?.textContent), 'Skip to the content');
  assert.ok(await page.locator('a.skip').isVisible(), 'the link shows when it has the focus');
  await page.keyboard.press('Enter');
  assert.is(await page.evaluate(() => document.activeElement?.id), 'main');
  await page.keyboard.press('Tab');
  assert.not.ok(await page.evaluate(() => !!document.activeElement?.closest('nav')), 'the next Tab is in the content, not the menu');
});

t('after a form is sent, the row it changed has the focus: a room added, an extension saved', async () => {
  const { page } = desktop;
  await page.goto(`${box.webUrl}/rooms`);
  await page.fill('#f-id', '9');
  await page.click('text=Add room');
  await page.waitForSelector('.notice:has-text("Room 9 added")');
  assert.is(await page.evaluate(() => document.activeElement?.id), 'room-9');
  await page.goto(`${box.webUrl}/extensions/302`);
  await page.fill('#f-displayName', 'Eli Novak (reception)');
  await page.click('button.primary:has-text("Save")');
  await page.waitForSelector('.notice:has-text("Extension 302 saved")');
  assert.is(await page.evaluate(() => document.activeElement?.id), 'extension-302');
});

t('on a 390 px phone the menu shows every section', async () => {
  const { page } = phoneSize;
  await page.goto(`${box.webUrl}/rooms`);
  const width = page.viewportSize()!.width;
  for (const name of SECTIONS) {
    const link = page.locator('nav[aria-label="Main"] a', { hasText: name });
    const b = await link.boundingBox();
    assert.ok(b && b.x >= 0 && b.x + b.width <= width, `"${name}" in the menu is on screen: ${JSON.stringify(b)} in ${width} px`);
  }
  await screenshot(page, 'menu-phone');
});

t('on a 390 px phone no page is wider than the screen and every table shows every column', async () => {
  const { page } = phoneSize;
  const width = page.viewportSize()!.width;
  for (const path of PAGES) {
    await page.goto(box.webUrl + path);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${path} is ${overflow}px wider than the screen`);
    const cut = await page.evaluate((w) => [...document.querySelectorAll('main td, main th')]
      .filter((c) => (c as HTMLElement).offsetParent !== null)
      .map((c) => c.getBoundingClientRect())
      .filter((r) => r.width > 0 && (r.right > w + 0.5 || r.left < -0.5)).length, width);
    assert.is(cut, 0, `${path}: ${cut} table cells outside the screen`);
    await screenshot(page, `phone${path.replace(/\//g, '-')}`);
  }
});

test.run();
