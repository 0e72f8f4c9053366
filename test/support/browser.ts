// Headless Debian Chromium driven by playwright-core, for the web page's tests.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT } from './box.ts';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/** Screenshots of every page, kept for a person to look at (ignored by git). */
export const ARTIFACTS = join(ROOT, 'test/artifacts');

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Tests run without a network beyond loopback: keep Chromium from trying to reach its services.
    // playwright gives every launch a new empty profile.
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
}

/**
 * A new profile; it accepts the box's self-signed certificate, as a technician does once in the browser's warning.
 * `injectScripts` lets a test add its own checker (axe-core) past the page's Content-Security-Policy.
 */
export async function newPage(browser: Browser, opts: { mobile?: boolean; injectScripts?: boolean } = {}): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ ...viewFor(opts.mobile ?? false), ignoreHTTPSErrors: true, bypassCSP: opts.injectScripts ?? false });
  const page = await context.newPage();
  return { context, page };
}

/** A desktop window, or a phone of 390 × 844 CSS pixels. */
export function viewFor(mobile: boolean) {
  return mobile ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true } : { viewport: { width: 1280, height: 860 } };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The message shown beside a form field (its hint, or what was wrong with it). */
export function beside(p: Page, field: string): Promise<string> {
  return p.locator(`#f-${field}-msg`).innerText();
}

/** Logs in on the box's login page and waits for the Rooms page. */
export async function logIn(p: Page, webUrl: string, password: string): Promise<void> {
  await p.goto(`${webUrl}/login`);
  await p.fill('#f-password', password);
  await p.click('button.primary');
  await p.waitForURL('**/rooms');
}
