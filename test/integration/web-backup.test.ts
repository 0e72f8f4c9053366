// Backup and restore on the Settings page, in headless Chromium against the built bundle: a passphrase that is too
// short is named beside its field; Download backup gives the sealed file; a restore without the confirmation tick
// changes nothing and says why; with it, a room deleted since the backup is back at once. The API does the same.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { configure, killServersOf, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { beside, chromiumAvailable, launchBrowser, logIn, newPage, screenshot } from '../support/browser.ts';
import { testsNeeding } from '../support/requirements.ts';
import { WebClient } from '../support/web.ts';

const PASSWORD = 'backup from the page 1';
const TESTS = 2;
const { enabled, t } = testsNeeding(TESTS, chromiumAvailable() ? null : 'Chromium (/usr/bin/chromium) is not installed');
const dataDir = mkdtempSync(join(tmpdir(), 'confbox-web-backup-'));
let box: RunningBox;
let browser: Browser;
let page: Page;
let web: WebClient;
let saved = '';

test.before(async () => {
  if (!enabled) return;
  await configure(dataDir, [
    ['admin', 'set-password', '--password', PASSWORD],
    ['room', 'add', '4', '--pin', '6482', '--keep'],
    ['room', 'add', '5', '--pin', '7391', '--keep'],
  ]);
  box = await startBox({ dataDir });
  browser = await launchBrowser();
  ({ page } = await newPage(browser));
  await logIn(page, box.webUrl, PASSWORD);
  web = new WebClient(box.webUrl, box.certificate());
  assert.is((await web.login(PASSWORD)).status, 303);
});

test.after(async () => {
  await browser?.close();
  await box?.stop();
  killServersOf(dataDir);
  removeDataDir(dataDir);
});

t('Download backup: a short passphrase is named beside its field; a good one gives the sealed file', async () => {
  await page.goto(`${box.webUrl}/settings#backup`);
  await page.fill('#backup #f-passphrase', 'short');
  await page.click('button:has-text("Download backup")');
  await page.waitForSelector('#backup .has-error');
  assert.match(await beside(page, 'passphrase'), /^The passphrase must have at least 8 characters\.$/);
  await page.fill('#backup #f-passphrase', 'a good long passphrase');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('button:has-text("Download backup")')]);
  assert.match(download.suggestedFilename(), /^confbox-backup-\d{4}-\d{2}-\d{2}\.json$/);
  saved = join(dataDir, 'saved-backup.json');
  await download.saveAs(saved);
  const doc = JSON.parse(readFileSync(saved, 'utf8'));
  assert.equal([doc.format, doc.version, typeof doc.sealed, doc.content], ['confbox-backup', 1, 'object', undefined]);
});

t('Restore: without the tick nothing changes; with it a room deleted since is back; the API restores too', async () => {
  assert.is((await web.api('DELETE', '/api/rooms/5')).status, 200);
  await page.goto(`${box.webUrl}/settings#backup`);
  await page.setInputFiles('#f-backup', saved);
  await page.fill('#f-restorePassphrase', 'a good long passphrase');
  await page.click('button:has-text("Restore")');
  await page.waitForSelector('#backup .has-error');
  assert.match(await page.locator('#f-replaceConfirmed-msg').innerText(), /Tick the box to confirm that the configuration is replaced/);
  assert.equal((await web.api('GET', '/api/rooms')).json.map((r: { id: number }) => r.id), [4], 'nothing changed');

  await page.setInputFiles('#f-backup', saved);
  await page.fill('#f-restorePassphrase', 'a good long passphrase');
  await page.check('#f-replaceConfirmed');
  await page.click('button:has-text("Restore")');
  await page.waitForSelector('.notice:has-text("Restored the backup written")');
  await screenshot(page, 'settings-restored');
  assert.match(await page.locator('.notice').innerText(), /2 rooms, 0 extensions, 0 trusted peers, 0 settings, the administrator password, 0 API tokens\./);
  assert.equal((await web.api('GET', '/api/rooms')).json.map((r: { id: number }) => r.id), [4, 5], 'room 5 is back');

  assert.is((await web.api('DELETE', '/api/rooms/4')).status, 200);
  const wrong = await web.api('POST', '/api/restore', { backup: readFileSync(saved, 'utf8'), passphrase: 'not the passphrase' });
  assert.is(wrong.status, 400);
  assert.match(wrong.json.error.message, /the passphrase is wrong/);
  const api = await web.api('POST', '/api/restore', { backup: readFileSync(saved, 'utf8'), passphrase: 'a good long passphrase' });
  assert.is(api.status, 200, api.text);
  assert.is(api.json.rooms, 2);
  assert.equal((await web.api('GET', '/api/rooms')).json.map((r: { id: number }) => r.id), [4, 5]);
  const plain = await web.api('POST', '/api/backup', {});
  assert.is(plain.status, 200);
  assert.match(plain.headers.get('content-disposition') ?? '', /^attachment; filename="confbox-backup-/);
  assert.is(JSON.parse(plain.text).content.rooms.length, 2);
});

test.run();
