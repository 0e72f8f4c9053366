// The Settings page in headless Chromium (Debian's, driven by playwright-core) against the built bundle: the
// settings in named groups, values checked as they are typed with the server's own rules, rejected values named
// by their label, a realm change confirmed first (with and without JavaScript), and hints readable.
// Screenshots land in test/artifacts/.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Dialog, Page } from 'playwright-core';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { beside, chromiumAvailable, launchBrowser, newPage, screenshot } from '../support/browser.ts';
import { testsNeeding } from '../support/requirements.ts';

const ADMIN_PASSWORD = 'settings-page-42';

const GROUPS: Array<[string, string[]]> = [
  ['Rooms', ['maxParticipants', 'refuseEasyPins', 'rtpTimeoutSeconds', 'holdLimitSeconds', 'recordingMinFreeMb', 'recordingRetentionDays']],
  ['Phones and SIP', ['realm', 'digestAlgorithms', 'symmetricRtp', 'srtp']],
  ['Security', ['lockoutFailures', 'lockoutWindowMinutes', 'lockoutBlockMinutes', 'webHostNames', 'httpRedirect']],
  ['Local audio', ['localAudioRoom', 'localAudioCapture', 'localAudioPlayback']],
];

const TESTS = 7;
const { enabled, t } = testsNeeding(TESTS, chromiumAvailable() ? null : 'Chromium (/usr/bin/chromium) is not installed');

let box: RunningBox;
let dataDir = '';
let browser: Browser;
let context: BrowserContext;
let page: Page;
let url = '';

test.before(async () => {
  if (!enabled) return;
  dataDir = mkdtempSync(join(tmpdir(), 'confbox-settings-test-'));
  await configure(dataDir, [
    ['admin', 'set-password', '--password', ADMIN_PASSWORD],
    ['extension', 'add', '100', '--password', 'pw-100'],
    ['extension', 'add', '101', '--password', 'pw-101'],
  ]);
  box = await startBox({ dataDir, logLevel: 'info' });
  url = box.webUrl;
  browser = await launchBrowser();
  ({ context, page } = await newPage(browser));
  await page.goto(url + '/login');
  await page.fill('#f-password', ADMIN_PASSWORD);
  await page.click('button.primary');
  await page.waitForURL('**/rooms');
});

test.after(async () => {
  if (!enabled) return;
  await browser?.close();
  await box?.stop();
  if (dataDir) removeDataDir(dataDir);
});


/** The settings as the box stores them (read through the JSON API with the session of the page). */
async function stored(): Promise<Record<string, unknown>> {
  return page.evaluate(async () => (await fetch('/api/settings')).json());
}

/** PATCH /api/settings from the page, as its scripts would. */
function patchSettings(body: Record<string, unknown>): Promise<{ status: number; json: any }> {
  return page.evaluate(async (b) => {
    const csrf = document.querySelector('meta[name="csrf-token"]')!.getAttribute('content')!;
    const r = await fetch('/api/settings', { method: 'PATCH', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify(b) });
    return { status: r.status, json: await r.json() };
  }, body);
}

/** A second profile with JavaScript off, logged in with the same session. */
async function withoutJavaScript(): Promise<{ noJs: BrowserContext; p: Page }> {
  const noJs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors: true });
  await noJs.addCookies(await context.cookies());
  const p = await noJs.newPage();
  await p.goto(url + '/settings');
  return { noJs, p };
}

t('the settings are shown in four groups, each setting once, in one form with one Save button', async () => {
  await page.goto(url + '/settings');
  const form = page.locator('form[action="/settings"]');
  const legends = await form.locator('fieldset > legend').allInnerTexts();
  assert.equal(legends.map((l) => l.trim()), GROUPS.map(([legend]) => legend));
  for (const [legend, names] of GROUPS) {
    const group = form.locator('fieldset', { has: page.locator(`legend:text-is("${legend}")`) });
    const inGroup = await group.locator('[name]').evaluateAll((els) => els.map((e) => e.getAttribute('name')));
    assert.equal(inGroup, names, `the ${legend} group`);
  }
  const everyName = await form.locator('[name]:not([type=hidden])').evaluateAll((els) => els.map((e) => e.getAttribute('name')));
  assert.is(everyName.length, new Set(everyName).size, 'no setting twice');
  assert.is(everyName.length, GROUPS.flatMap(([, names]) => names).length);
  assert.match(await form.locator('fieldset', { has: page.locator('legend:text-is("Phones and SIP")') }).innerText(), /SIP port\s+\d+/);
  assert.is(await form.locator('button').count(), 1);
  assert.is((await form.locator('button').innerText()).trim(), 'Save settings');
  await screenshot(page, 'settings-groups');
});

t('a bad value is named with its label as soon as it is typed, and the form is not sent', async () => {
  await page.goto(url + '/settings');
  await page.fill('#f-rtpTimeoutSeconds', '3');
  await page.locator('#f-rtpTimeoutSeconds').blur();
  assert.is(await beside(page, 'rtpTimeoutSeconds'), 'Hang up after silence (seconds) must be a whole number from 5 to 3600 seconds.');
  await page.fill('#f-realm', 'has space');
  await page.locator('#f-realm').blur();
  assert.is(await beside(page, 'realm'), 'SIP realm must be 1 to 64 letters, digits or . - _.');
  await page.fill('#f-holdLimitSeconds', '4');
  await page.locator('#f-holdLimitSeconds').blur();
  assert.match(await beside(page, 'holdLimitSeconds'), /^Hang up after on hold for \(seconds\) must be off or 5 to 86400 seconds\.$/);
  await page.fill('#f-localAudioCapture', "file:'|touch /tmp/x'");
  await page.locator('#f-localAudioCapture').blur();
  assert.match(await beside(page, 'localAudioCapture'), /^Box microphone \(ALSA device\) must be an ALSA device name/);
  await page.fill('#f-maxParticipants', '9');
  await page.click('text=Save settings');
  assert.match(page.url(), /\/settings$/);
  assert.is(await page.locator('.notice').count(), 0, 'nothing was sent');
  assert.is((await stored()).maxParticipants, 3, 'nothing was stored');
  await screenshot(page, 'settings-inline-errors');

  // The words the server takes besides numbers pass, and the message goes back to the hint once the value is good.
  await page.fill('#f-rtpTimeoutSeconds', '3600');
  await page.fill('#f-realm', 'confbox');
  await page.fill('#f-holdLimitSeconds', 'Off');
  await page.fill('#f-localAudioCapture', 'board');
  await page.fill('#f-localAudioRoom', 'off');
  await page.fill('#f-webHostNames', 'Confbox.Office.lan, meeting-box.corp.');
  for (const name of ['rtpTimeoutSeconds', 'realm', 'holdLimitSeconds', 'localAudioCapture', 'localAudioRoom', 'webHostNames']) {
    await page.locator(`#f-${name}`).blur();
    assert.not.ok(await page.locator(`#f-${name}`).getAttribute('aria-invalid'), `${name} is taken`);
  }
  assert.match(await beside(page, 'rtpTimeoutSeconds'), /seconds without audio/);
  await page.click('text=Save settings');
  await page.waitForSelector('.notice:has-text("Settings saved")');
  const now = await stored();
  assert.equal([now.maxParticipants, now.rtpTimeoutSeconds, now.holdLimitSeconds, now.webHostNames], [9, 3600, 0, 'confbox.office.lan,meeting-box.corp']);
});

t('without JavaScript, the box names a rejected value by its label beside the field and keeps what was typed', async () => {
  const { noJs, p } = await withoutJavaScript();
  try {
    await p.fill('#f-rtpTimeoutSeconds', '3');
    await p.fill('#f-maxParticipants', '12');
    await p.click('text=Save settings');
    const message = await beside(p, 'rtpTimeoutSeconds');
    assert.is(message, 'Hang up after silence (seconds) must be a whole number from 5 to 3600 seconds, not "3".');
    assert.is(await p.inputValue('#f-rtpTimeoutSeconds'), '3');
    assert.is(await p.inputValue('#f-maxParticipants'), '12');
    assert.is(await p.locator('#f-rtpTimeoutSeconds').getAttribute('aria-invalid'), 'true');
    await screenshot(p, 'settings-server-error');

    // A device of the right shape that this box does not have is refused by the server alone.
    await p.fill('#f-rtpTimeoutSeconds', '60');
    await p.fill('#f-localAudioPlayback', 'confbox_no_such_speaker');
    await p.click('text=Save settings');
    assert.match(await beside(p, 'localAudioPlayback'), /^Box speaker \(ALSA device\) "confbox_no_such_speaker" is not a sound device of this box/);
    assert.is((await stored()).maxParticipants, 9, 'nothing was stored');
  } finally {
    await noJs.close();
  }
});

t('changing the realm asks first, saying what it does: dismissed, the realm stays; accepted, it is stored', async () => {
  await page.goto(url + '/settings');
  const asked: string[] = [];
  let answer = false;
  const onDialog = (d: Dialog) => {
    asked.push(d.message());
    void (answer ? d.accept() : d.dismiss());
  };
  page.on('dialog', onDialog);
  try {
    // Saving other settings does not ask.
    await page.fill('#f-lockoutFailures', '6');
    await page.click('text=Save settings');
    await page.waitForSelector('.notice:has-text("Settings saved")');
    assert.equal(asked, []);

    await page.goto(url + '/settings');
    await page.fill('#f-realm', 'office.example');
    await page.click('text=Save settings');
    await page.waitForTimeout(300);
    assert.is(asked.length, 1);
    assert.match(asked[0]!, /SIP realm/);
    assert.match(asked[0]!, /set each password again/);
    assert.match(asked[0]!, /2 extensions/);
    assert.match(asked[0]!, /cannot register or call/);
    assert.is((await stored()).realm, 'confbox', 'dismissed: the realm is kept');
    assert.is(await page.locator('.notice').count(), 0);

    answer = true;
    await page.click('text=Save settings');
    await page.waitForSelector('.notice:has-text("Settings saved")');
    assert.is(asked.length, 2);
    assert.is((await stored()).realm, 'office.example', 'accepted: the realm is stored');
    assert.is(await page.inputValue('#f-realm'), 'office.example');
  } finally {
    page.off('dialog', onDialog);
  }
  // Back to the realm the extensions' passwords were set for (the JSON API asks nothing).
  assert.is(await patchSettings({ realm: 'confbox' }).then((r) => r.json.realm), 'confbox');
});

t('without JavaScript, a realm change shows a confirmation page and stores nothing until confirmed', async () => {
  const { noJs, p } = await withoutJavaScript();
  try {
    await p.fill('#f-realm', 'hq.example');
    await p.fill('#f-maxParticipants', '7');
    await p.click('text=Save settings');
    assert.match(await p.locator('h1').innerText(), /Change the SIP realm\?/);
    const text = await p.locator('main').innerText();
    assert.match(text, /confbox/);
    assert.match(text, /hq\.example/);
    assert.match(text, /2 extensions/);
    assert.match(text, /cannot register or call/);
    let now = await stored();
    assert.equal([now.realm, now.maxParticipants], ['confbox', 9], 'nothing stored yet');
    await screenshot(p, 'settings-confirm-realm');

    // The way back changes nothing.
    await p.click('text=Back to the settings');
    await p.waitForURL('**/settings');
    assert.is(await p.inputValue('#f-realm'), 'confbox');
    now = await stored();
    assert.equal([now.realm, now.maxParticipants], ['confbox', 9]);

    // Keeping the realm saves the other changes.
    await p.fill('#f-realm', 'hq.example');
    await p.fill('#f-maxParticipants', '7');
    await p.click('text=Save settings');
    await p.click('text=Save the rest, keep the realm confbox');
    await p.waitForSelector('.notice:has-text("Settings saved")');
    now = await stored();
    assert.equal([now.realm, now.maxParticipants], ['confbox', 7]);

    // Confirmed, every value sent is stored.
    await p.fill('#f-realm', 'hq.example');
    await p.fill('#f-maxParticipants', '5');
    await p.click('text=Save settings');
    await p.click('text=Change the realm to hq.example');
    await p.waitForSelector('.notice:has-text("Settings saved")');
    now = await stored();
    assert.equal([now.realm, now.maxParticipants], ['hq.example', 5]);
  } finally {
    await noJs.close();
  }
});

t('the JSON API changes the realm without a confirmation and names a bad value by its key', async () => {
  await page.goto(url + '/settings');
  const changed = await patchSettings({ realm: 'office.example' });
  assert.is(changed.status, 200);
  assert.is(changed.json.realm, 'office.example');
  const bad = await patchSettings({ rtpTimeoutSeconds: '3' });
  assert.is(bad.status, 400);
  assert.is(bad.json.error.field, 'rtpTimeoutSeconds');
  assert.match(bad.json.error.message, /^rtpTimeoutSeconds must be a whole number from 5 to 3600 seconds/);
});

/**
 * Lists hint and muted text whose contrast with the background behind it is below WCAG AA's 4.5:1 (as text, so
 * that the test's compiler adds nothing the page does not have).
 */
const LOW_CONTRAST_TEXT = `(() => {
  const channel = (c) => { const s = c / 255; return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4; };
  const rgb = (css) => (css.match(/[\\d.]+/g) || []).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const behind = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const el of document.querySelectorAll('.msg, .msg *, .muted, .muted *, .empty')) {
    const text = [...el.childNodes].filter((n) => n.nodeType === Node.TEXT_NODE).map((n) => n.textContent.trim()).join('');
    if (!text) continue;
    const a = luminance(rgb(getComputedStyle(el).color));
    const b = luminance(behind(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) out.push(ratio.toFixed(2) + ':1 "' + text.slice(0, 40) + '"');
  }
  return out;
})()`;

t('hints and muted text are readable: at least 4.5:1 against what is behind them', async () => {
  for (const path of ['/settings', '/rooms', '/extensions', '/status']) {
    await page.goto(url + path);
    const poor = (await page.evaluate(LOW_CONTRAST_TEXT)) as string[];
    assert.equal(poor, [], `${path}: text below 4.5:1`);
  }
});

test.run();
