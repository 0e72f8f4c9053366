// Running a meeting from the page, in headless Chromium against the built bundle with real SIP phones in a room:
// the live view shows who is moderator; Lock turns new callers away and Unlock lets them in; Mute all mutes everyone
// but the moderator and Unmute all lets them speak; Record starts and stops a recording, which the Recordings page
// lists with a player, downloads and deletes; End conference hangs everyone up. Screenshots land in test/artifacts/.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { configure, killServersOf, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { chromiumAvailable, launchBrowser, logIn, newPage, screenshot } from '../support/browser.ts';
import { Phone, type Call } from '../support/phone.ts';
import { testsNeeding } from '../support/requirements.ts';

const PASSWORD = 'meeting from the page 7';
const PIN = '6142';
const MODERATOR_PIN = '8357';
const PEOPLE = {
  dana: { user: '301', password: 'pw-301', name: 'Dana Moreau' },
  eli: { user: '302', password: 'pw-302', name: 'Eli Novak' },
  fay: { user: '303', password: 'pw-303', name: 'Fay Okoro' },
  gus: { user: '304', password: 'pw-304', name: 'Gus Lind' },
};

const TESTS = 4;
const { enabled, t } = testsNeeding(TESTS, chromiumAvailable() ? null : 'Chromium (/usr/bin/chromium) is not installed');

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-web-moderator-'));
let box: RunningBox;
let browser: Browser;
let page: Page;
const phones: Phone[] = [];
const calls: Record<string, Call> = {};

async function dial(who: keyof typeof PEOPLE, pin: string): Promise<Call> {
  const p = await Phone.open({ boxPort: box.sipPort, user: PEOPLE[who].user, password: PEOPLE[who].password });
  phones.push(p);
  const call = await p.dial(`*400*7*${pin}`);
  calls[who] = call;
  return call;
}

const person = (name: string) => page.locator('li[data-participant]', { hasText: name });

test.before(async () => {
  if (!enabled) return;
  await configure(dataDir, [
    ['admin', 'set-password', '--password', PASSWORD],
    ...Object.values(PEOPLE).map((p) => ['extension', 'add', p.user, '--password', p.password, '--name', p.name]),
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ['settings', 'set', 'maxParticipants', '6'],
    ['room', 'add', '7', '--pin', PIN, '--moderator-pin', MODERATOR_PIN, '--keep'],
  ]);
  box = await startBox({ dataDir, logLevel: 'info' });
  browser = await launchBrowser();
  ({ page } = await newPage(browser));
  await logIn(page, box.webUrl, PASSWORD);
});

test.after(async () => {
  for (const p of phones) p.close();
  await browser?.close();
  await box?.stop();
  killServersOf(dataDir);
  removeDataDir(dataDir);
});

t('the live view shows the moderator; Lock turns a new caller away until Unlock; Mute all spares the moderator, Unmute all undoes it', async () => {
  await page.goto(`${box.webUrl}/live`);
  assert.is((await dial('dana', MODERATOR_PIN)).status, 200);
  assert.is((await dial('eli', PIN)).status, 200);
  await person('Eli Novak').waitFor({ timeout: 15_000 });
  assert.is(await person('Dana Moreau').locator('[data-moderator]').innerText(), 'moderator');
  assert.is(await person('Eli Novak').locator('[data-moderator]').count(), 0, 'only the moderator is marked');

  await page.click('button:has-text("Lock")');
  await page.waitForSelector('.notice:has-text("Room 7 locked")');
  await page.waitForSelector('.conference h2 [data-locked]');
  assert.match(await page.locator('.conference .conf-head').innerText(), /locked, only a moderator can join/);
  await screenshot(page, 'live-locked');
  const turnedAway = await dial('fay', PIN);
  assert.is(turnedAway.status, 603, 'a new caller is turned away');
  assert.match((await turnedAway.final()).get('warning') ?? '', /this conference is locked/);

  await page.click('button:has-text("Unlock")');
  await page.waitForSelector('.notice:has-text("Room 7 is open again")');
  assert.is(await page.locator('.conference h2 [data-locked]').count(), 0);
  assert.is((await dial('fay', PIN)).status, 200, 'after Unlock the caller gets in');
  await person('Fay Okoro').waitFor({ timeout: 15_000 });

  await page.click('button:has-text("Mute all")');
  await page.waitForSelector('.notice:has-text("Muted 2 people in room 7 (moderators keep talking)")');
  for (const name of ['Eli Novak', 'Fay Okoro']) await person(name).locator('.badge:has-text("muted")').waitFor({ timeout: 10_000 });
  assert.is(await person('Dana Moreau').locator('.badge:has-text("muted")').count(), 0, 'the moderator keeps talking');
  const api = (await page.request.get(`${box.webUrl}/api/conferences`)).json();
  const muted = (await api)[0].participants.map((p: { displayName: string; muted: boolean }) => `${p.displayName}: ${p.muted}`).sort();
  assert.equal(muted, ['Dana Moreau: false', 'Eli Novak: true', 'Fay Okoro: true']);
  await screenshot(page, 'live-muted-all');
  await page.click('button:has-text("Unmute all")');
  await page.waitForSelector('.notice:has-text("Unmuted 2 people in room 7")');
  assert.is(await page.locator('.conference .badge:has-text("muted")').count(), 0);
});

t('Record from the live view: the conference shows it; Stop recording; the Recordings page lists it with a player, downloads it and deletes it', async () => {
  await page.goto(`${box.webUrl}/live`);
  await page.click('button:has-text("Record")');
  await page.waitForSelector('.notice:has-text("Room 7 is being recorded")');
  await page.waitForSelector('.conference h2 [data-recording]');
  await screenshot(page, 'live-recording');
  await page.waitForTimeout(2500);
  await page.click('button:has-text("Stop recording")');
  await page.waitForSelector('.notice:has-text("Room 7 is no longer recorded")');
  assert.is(await page.locator('.conference h2 [data-recording]').count(), 0);

  await page.click('nav a[href="/recordings"]');
  await page.waitForURL('**/recordings');
  const row = page.locator('tr[data-recording]').first();
  assert.match(await row.innerText(), /^7\s/, 'room 7');
  assert.match(await row.locator('td[data-label="Length"]').innerText(), /^0:0[2-4]$/, 'about 2.5 s long');
  assert.is(await row.locator('audio[controls]').count(), 1, 'a player');
  const duration = await row.locator('audio').evaluate((a: HTMLAudioElement) => new Promise<number>((resolve, reject) => {
    a.addEventListener('loadedmetadata', () => resolve(a.duration), { once: true });
    a.addEventListener('error', () => reject(new Error(`the player could not load it: ${a.error?.code}`)), { once: true });
    a.preload = 'metadata';
    a.load();
  }));
  assert.ok(duration > 2 && duration < 5, `the browser plays it: ${duration} s`);
  await screenshot(page, 'recordings');
  const [download] = await Promise.all([page.waitForEvent('download'), row.locator('a:has-text("Download")').click()]);
  const file = await download.path();
  const wav = readFileSync(file!);
  assert.is(wav.toString('ascii', 0, 4), 'RIFF');
  assert.match(download.suggestedFilename(), /^room-7-\d{8}-\d{6}\.wav$/);
  page.once('dialog', (d) => void d.accept());
  await row.locator('button:has-text("Delete")').click();
  await page.waitForSelector('.notice:has-text("was deleted")');
  assert.is(await page.locator('tr[data-recording]').count(), 0);
  assert.is(await page.locator('.empty:has-text("No recordings yet.")').count(), 1);
});

t('Invite from the live view: the extension typed survives the page redrawing; one without a phone is said to be unreachable', async () => {
  await page.goto(`${box.webUrl}/live`);
  const field = page.locator('input[name="extension"]');
  await field.fill('304');
  assert.is(await page.locator(`label[for="${await field.getAttribute('id')}"]`).innerText(), 'Extension to invite to room 7');
  // Someone being muted redraws the live view while the extension is being typed.
  const [conf] = await (await page.request.get(`${box.webUrl}/api/conferences`)).json();
  const csrf = await page.locator('meta[name="csrf-token"]').getAttribute('content');
  await page.request.patch(`${box.webUrl}/api/conferences/${encodeURIComponent(conf.key)}/participants/${encodeURIComponent(conf.participants[1].id)}`, {
    data: { muted: true }, headers: { 'x-csrf-token': csrf ?? '' },
  });
  await page.waitForSelector('.conference .badge:has-text("muted")');
  assert.is(await field.inputValue(), '304', 'what was typed is still there');
  await page.click('button:has-text("Invite")');
  await page.waitForSelector('.notice:has-text("Extension 304 did not answer the invitation: it has no registered phone")', { timeout: 15_000 });
});

t('End conference hangs up everyone in it', async () => {
  await page.goto(`${box.webUrl}/live`);
  page.once('dialog', (d) => void d.accept());
  await page.click('button:has-text("End conference")');
  await page.waitForSelector('.notice:has-text("The conference is ending")');
  await Promise.all(['dana', 'eli', 'fay'].map((who) => calls[who]!.waitForRequest('BYE', 20_000)));
  await page.waitForSelector('.empty:has-text("No conference is running")', { timeout: 15_000 });
});

test.run();
