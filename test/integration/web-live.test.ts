// The live view tells the truth, in headless Chromium against the built bundle with real SIP phones in rooms: a
// full room and the number of people in calls show without a reload; buttons are named for whom they act on and the
// keyboard focus survives the page redrawing itself; Remove asks first (with and without JavaScript) and says whom it
// removed; a fault is explained in words on every page; and when the box is frozen, stopped or restarted the page
// says so, greys out its buttons, and comes back by itself or sends the user to log in.
// Screenshots land in test/artifacts/.
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { configure, killServersOf, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { chromiumAvailable, launchBrowser, logIn, newPage, screenshot } from '../support/browser.ts';
import { Phone, type Call } from '../support/phone.ts';
import { RtpSender } from '../support/rtp.ts';
import { testsNeeding } from '../support/requirements.ts';

const PASSWORD = 'live view truth 42';
const PIN = '5678';
const PEOPLE = {
  anna: { user: '201', password: 'pw-201', name: 'Anna Schmidt' },
  ben: { user: '202', password: 'pw-202', name: 'Ben Okafor' },
  chris: { user: '203', password: 'pw-203', name: 'Chris Lee' },
};

const TESTS = 6;
const { enabled, t } = testsNeeding(TESTS, chromiumAvailable() ? null : 'Chromium (/usr/bin/chromium) is not installed');

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-web-live-'));
let box: RunningBox;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const phones: Phone[] = [];
const calls: Record<string, Call> = {};

async function joinRoom(who: keyof typeof PEOPLE, room: number): Promise<Phone> {
  const p = await Phone.open({ boxPort: box.sipPort, user: PEOPLE[who].user, password: PEOPLE[who].password });
  phones.push(p);
  const call = await p.dial(`*400*${room}*${PIN}`);
  assert.is(call.status, 200, `${who} joins room ${room}`);
  calls[who] = call;
  return p;
}

/** The accessible name of the element that has the keyboard focus. */
function focused(p: Page): Promise<string | null> {
  return p.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.id ?? null);
}

function mariadbPid(): number {
  const dir = join(dataDir, 'mariadb');
  const file = readdirSync(dir).find((f) => f.endsWith('.pid'));
  assert.ok(file, `a pid file in ${dir}`);
  return Number(readFileSync(join(dir, file), 'utf8').trim());
}

test.before(async () => {
  if (!enabled) return;
  await configure(dataDir, [
    ['admin', 'set-password', '--password', PASSWORD],
    ...Object.values(PEOPLE).map((p) => ['extension', 'add', p.user, '--password', p.password, '--name', p.name]),
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ['room', 'add', '2', '--pin', PIN, '--max-participants', '2', '--keep'],
    ['room', 'add', '3', '--pin', PIN, '--keep'],
  ]);
  box = await startBox({ dataDir, logLevel: 'info' });
  browser = await launchBrowser();
  ({ context, page } = await newPage(browser));
  await logIn(page, box.webUrl, PASSWORD);
});

test.after(async () => {
  for (const p of phones) p.close();
  await browser?.close();
  await box?.stop();
  killServersOf(dataDir);
  removeDataDir(dataDir);
});

t('two callers fill room 2: without a reload the live view marks it full and the menu counts the people in calls', async () => {
  await page.goto(`${box.webUrl}/live`);
  assert.is(await page.getAttribute('nav [data-people]', 'data-people'), '0');
  await joinRoom('anna', 2);
  await joinRoom('ben', 2);
  await page.waitForSelector('.conference.full h2:has-text("full")', { timeout: 15_000 });
  assert.match(await page.locator('.conference .conf-head').innerText(), /2 of 2: nobody else can join/);
  await page.waitForSelector('nav [data-people="2"]', { timeout: 10_000 });
  assert.is((await page.locator('nav a[href="/live"] .count').textContent())?.replace(/\s+/g, ' '), ', 2 in calls', 'the menu says "Live, 2 in calls"');
  assert.ok(await page.locator('nav a[href="/live"] .count').isVisible(), 'the number shows beside "Live"');
  await screenshot(page, 'live-full-room');
});

t('buttons are named for the person; the focus stays on the button while the page redraws; Mute shows an icon and returns the focus', async () => {
  assert.is(await page.locator('button[aria-label="Mute Anna Schmidt"]').count(), 1);
  assert.is(await page.locator('button[aria-label="Remove Ben Okafor"]').count(), 1);
  await page.focus('button[aria-label="Mute Ben Okafor"]');
  // Someone joining another room redraws the live view.
  await joinRoom('chris', 3);
  await page.waitForSelector('.conference h2:has-text("Room 3")', { timeout: 15_000 });
  assert.is(await focused(page), 'Mute Ben Okafor', 'the focus is where the user left it');

  await page.click('button[aria-label="Mute Anna Schmidt"]');
  await page.waitForSelector('.notice:has-text("Anna Schmidt (201) muted in room 2.")');
  assert.is(await focused(page), 'Unmute Anna Schmidt', 'after the page reloads, the focus is on the button used');
  const anna = page.locator('li[data-participant]', { hasText: 'Anna Schmidt' });
  assert.is(await anna.locator('svg[role="img"][aria-label="Muted"]').count(), 1, 'a muted icon beside the name');
  await screenshot(page, 'live-muted');
});

t('Remove asks first, with and without JavaScript; cancelled, nobody is hung up; confirmed, the notice names the person', async () => {
  let asked = '';
  page.once('dialog', (d) => {
    asked = d.message();
    void d.dismiss();
  });
  await page.click('button[aria-label="Remove Ben Okafor"]');
  assert.match(asked, /^Remove Ben Okafor \(202\) from room 2\? The call is hung up at once\.$/);
  await page.waitForTimeout(500);
  assert.is(await page.locator('button[aria-label="Remove Ben Okafor"]').count(), 1, 'Ben is still in the room');
  assert.not.ok(calls.ben!.received('BYE'), 'no BYE after cancelling');

  const noJs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors: true });
  await noJs.addCookies(await context.cookies());
  const p = await noJs.newPage();
  await p.goto(`${box.webUrl}/live`);
  await p.click('button[aria-label="Remove Ben Okafor"]');
  assert.is(await p.locator('h1').innerText(), 'Remove Ben Okafor (202)?');
  await screenshot(p, 'live-confirm-remove');
  await p.click('text=Keep them');
  await p.waitForURL('**/live');
  assert.is(await p.locator('button[aria-label="Remove Ben Okafor"]').count(), 1, 'kept');
  await noJs.close();

  page.once('dialog', (d) => void d.accept());
  await page.click('button[aria-label="Remove Ben Okafor"]');
  await page.waitForSelector('.notice:has-text("Ben Okafor (202) removed from room 2.")');
  await calls.ben!.waitForRequest('BYE', 10_000);
  await page.waitForSelector('.conference:has-text("Room 2") >> text=1 of 2', { timeout: 10_000 });
});

t('the live view lights "talking" beside the caller who speaks, and puts it out after they stop', async () => {
  await page.goto(`${box.webUrl}/live`);
  const chris = calls.chris!;
  const answer = chris.answer!;
  assert.ok(answer.address, 'the box answered with an address');
  const tx = new RtpSender(chris.rtp!, { address: answer.address, port: answer.port, payloadType: Number(answer.formats[0]) });
  try {
    tx.silence();
    const talking = page.locator('li[data-participant]', { hasText: 'Chris Lee' }).locator('[data-talking]');
    await page.waitForTimeout(1500);
    assert.is(await talking.count(), 0, 'silent: no indicator');
    tx.tone(440, -20);
    await talking.waitFor({ timeout: 10_000 });
    assert.is(await talking.innerText(), 'talking');
    await screenshot(page, 'live-talking');
    tx.silence();
    await talking.waitFor({ state: 'detached', timeout: 10_000 });
  } finally {
    tx.stop();
  }
});

t('a stalled database: every page explains the fault LED in words, and the Status page says what each LED means', async () => {
  await page.goto(`${box.webUrl}/live`);
  // A busy test machine may make the audio engine fall behind (fault code 2): only the database's fault is awaited.
  assert.not.match(await page.locator('#faults').innerText(), /database/, 'no database fault while it answers');
  const pid = mariadbPid();
  process.kill(pid, 'SIGSTOP');
  try {
    const banner = page.locator('.fault-banner', { hasText: 'database' });
    await banner.waitFor({ timeout: 45_000 });
    assert.match(await banner.innerText(), /Fault, 1 flash: the database is not answering\. Conferences go on and known rooms can be joined/);
    await page.goto(`${box.webUrl}/status`);
    assert.match(await page.locator('[data-led="fault"]').innerText(), /1 flash, then a pause\s+Fault, 1 flash: the database is not answering/, 'the database comes first');
    assert.match(await page.locator('[data-led="power"]').innerText(), /The box is running\./);
    const facts = await page.locator('.facts').innerText();
    assert.not.match(facts, /Media engine\s+ok\s+missed/, '"ok" never sits beside a warning');
    assert.match(facts, /Local audio\s+off\s+no sound card \(local audio not used\)/, 'no sound card is no error');
    await screenshot(page, 'status-fault');
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await page.locator('.fault-banner', { hasText: 'database' }).waitFor({ state: 'detached', timeout: 45_000 });
  assert.not.match(await page.locator('[data-led="fault"]').innerText(), /database/);
});

t('the live view says when it loses the box: a frozen box, then a stopped one; back by itself, or to the login after a restart', async () => {
  await page.goto(`${box.webUrl}/live`);
  const mute = page.locator('button[aria-label="Mute Chris Lee"]');
  assert.ok(await mute.isEnabled());
  box.proc.kill('SIGSTOP');
  try {
    await page.waitForSelector('#lost-contact', { timeout: 30_000 });
    assert.match(await page.locator('#lost-contact').innerText(), /^Lost contact with the box at \d\d:\d\d, retrying…$/);
    assert.ok(await mute.isDisabled(), 'the buttons are greyed out');
    await screenshot(page, 'live-lost-contact');
  } finally {
    box.proc.kill('SIGCONT');
  }
  await page.waitForSelector('#lost-contact', { state: 'detached', timeout: 30_000 });
  assert.ok(await mute.isEnabled(), 'the buttons work again');

  const ports = { httpPort: box.httpPort, httpsPort: box.httpsPort };
  await box.stop();
  await page.waitForSelector('#lost-contact', { timeout: 20_000 });
  box = await startBox({ dataDir, logLevel: 'info', ...ports });
  // The restarted box no longer knows the session: the page sends its user to log in.
  await page.waitForURL('**/login', { timeout: 30_000 });
  await logIn(page, box.webUrl, PASSWORD);
});

test.run();
