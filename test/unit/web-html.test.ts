// The web page's templates: every interpolated value is escaped unless it is itself markup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { escapeHtml, html, trusted } from '../../firmware/web/html.ts';
import { hashPassword, verifyPassword, validateNewPassword } from '../../firmware/web/auth.ts';
import { confirmRealmChangePage, ledClass, ledText, minutesLeft, realmChangeConsequence, settingLabel, settingsPage } from '../../firmware/web/pages.ts';
import { SETTINGS } from '../../firmware/conference/settings.ts';
import { DEFAULT_SETTINGS, type Settings } from '../../firmware/conference/types.ts';
import { faultCode, FAST_BLINK, SLOW_BLINK } from '../../firmware/hw/patterns.ts';

test('text and attribute values are escaped', () => {
  const name = `<script>alert("x")</script> & 'q' \``;
  assert.is(html`<p title="${name}">${name}</p>`.text,
    '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; &#96;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39; &#96;</p>');
  assert.is(escapeHtml('a&amp;b'), 'a&amp;amp;b', 'already-escaped text is escaped again: it is shown as typed');
});

test('fragments, arrays and empty values compose without double escaping', () => {
  const items = ['<a>', 'b&c'];
  const list = html`<ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`;
  assert.is(list.text, '<ul><li>&lt;a&gt;</li><li>b&amp;c</li></ul>');
  assert.is(html`<div>${list}</div>`.text, `<div>${list.text}</div>`);
  assert.is(html`${null}${undefined}${false}${0}`.text, '0');
  assert.is(html`${trusted('<b>bold</b>')}`.text, '<b>bold</b>');
});

test('a value cannot pass as markup by looking like it', () => {
  const fake = { text: '<script>x</script>', toString: () => '<script>x</script>' };
  assert.is(html`${fake as unknown as string}`.text, '&lt;script&gt;x&lt;/script&gt;');
});

test('admin passwords: salted scrypt, verified only by the right password', async () => {
  const a = await hashPassword('correct horse');
  const b = await hashPassword('correct horse');
  assert.match(a, /^scrypt\$16384\$8\$1\$[\w-]+\$[\w-]+$/);
  assert.is.not(a, b, 'a new salt every time');
  assert.ok(await verifyPassword('correct horse', a));
  assert.not.ok(await verifyPassword('correct horsE', a));
  assert.not.ok(await verifyPassword('correct horse', 'md5$abc'));
  assert.throws(() => validateNewPassword('1234567'), /at least 8 characters/);
  assert.throws(() => validateNewPassword('12345678', '12345679'), /differ/);
});

test('LED patterns are drawn with a class and described in words', () => {
  assert.is(ledClass({ kind: 'on' }), 'led on');
  assert.is(ledClass(SLOW_BLINK), 'led blink-slow');
  assert.is(ledClass(FAST_BLINK), 'led blink-fast');
  assert.is(ledClass(faultCode(2)), 'led code-2');
  assert.is(ledText(faultCode(1)), '1 flash, then a pause');
  assert.is(ledText(faultCode(3)), '3 flashes, then a pause');
  assert.is(minutesLeft(7200), '120 min left');
  assert.is(minutesLeft(90), '90 s left');
});

const SETTING_NAMES = Object.keys(SETTINGS) as Array<keyof Settings>;

function renderedSettings(): string {
  return settingsPage({ csrf: 'token' }, { settings: DEFAULT_SETTINGS, sipPort: 5060, tokens: [], newToken: null, extensionsOfRealm: ['100'], database: { kind: 'embedded', setBy: 'default', nextStart: { kind: 'embedded' } }, databaseTest: null }).text;
}

test('the Settings page shows every setting once, in a group with a legend', () => {
  const page = renderedSettings();
  const form = page.slice(page.indexOf('<form method="post" action="/settings"'), page.indexOf('</form>', page.indexOf('action="/settings"')));
  for (const name of SETTING_NAMES) {
    assert.is(form.split(` name="${name}"`).length - 1, 1, `${name} appears once`);
  }
  const groups = [...form.matchAll(/<fieldset[^>]*>\s*<legend>([^<]+)<\/legend>([\s\S]*?)<\/fieldset>/g)];
  assert.equal(groups.map((g) => g[1]), ['Rooms', 'Phones and SIP', 'Security', 'Local audio']);
  const grouped = groups.flatMap((g) => [...g[2]!.matchAll(/ name="([A-Za-z]+)"/g)].map((m) => m[1]));
  assert.equal([...grouped].sort(), [...SETTING_NAMES].sort(), 'every setting is inside a group');
  assert.is(form.split('<button').length - 1, 1, 'one Save button');
});

test('a typed setting carries the server\'s rule for the browser, worded with its label', () => {
  const page = renderedSettings();
  for (const name of SETTING_NAMES) {
    const rule = SETTINGS[name].rule;
    const input = new RegExp(`<input id="f-${name}"[^>]*>`).exec(page)?.[0];
    if (!rule) continue;
    assert.ok(input, `${name} is typed`);
    assert.ok(input!.includes(` pattern="${escapeHtml(rule.pattern)}"`), `${name}: pattern`);
    if (rule.min !== undefined) assert.ok(input!.includes(` min="${rule.min}"`), `${name}: min`);
    if (rule.max !== undefined) assert.ok(input!.includes(` max="${rule.max}"`), `${name}: max`);
    assert.ok(input!.includes(` data-invalid="${escapeHtml(rule.says(settingLabel(name)))}"`), `${name}: message`);
    assert.ok(rule.says(settingLabel(name)).startsWith(settingLabel(name)));
  }
  assert.match(page, /<input id="f-realm"[^>]* data-stored="confbox" data-confirm-change="Change the SIP realm\? [^"]*extension 100[^"]*"/);
});

test('before a realm change, the page without script sends every value again with confirm=yes, or keeps the realm, or goes back', () => {
  const sent = { realm: 'hq.example', maxParticipants: '7', webHostNames: 'a.lan "><script>' };
  const page = confirmRealmChangePage({ csrf: 'token' }, { from: 'confbox', to: 'hq.example', extensionsOfRealm: ['100', '101'], sent, otherChanges: true }).text;
  const forms = [...page.matchAll(/<form method="post" action="\/settings"[^>]*>([\s\S]*?)<\/form>/g)].map((m) => m[1]!);
  const fields = (form: string) => Object.fromEntries([...form.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1], m[2]]));
  assert.is(forms.length, 2);
  assert.equal(fields(forms[0]!), { _csrf: 'token', realm: 'hq.example', maxParticipants: '7', webHostNames: 'a.lan &quot;&gt;&lt;script&gt;', confirm: 'yes' });
  assert.match(forms[0]!, />Change the realm to hq.example</);
  assert.equal(fields(forms[1]!), { _csrf: 'token', realm: 'confbox', maxParticipants: '7', webHostNames: 'a.lan &quot;&gt;&lt;script&gt;' });
  assert.match(page, /<a class="button" href="\/settings">Back to the settings<\/a>/);
  assert.match(page, /the 2 extensions whose passwords were set for the realm confbox \(100, 101\) cannot register or call/);
  const alone = confirmRealmChangePage({ csrf: 'token' }, { from: 'confbox', to: 'hq.example', extensionsOfRealm: [], sent: { realm: 'hq.example' }, otherChanges: false }).text;
  assert.not.match(alone, /Save the rest/, 'no second form when the realm is the only change');
  assert.match(realmChangeConsequence('confbox', []), /no phone stops working/);
  assert.match(realmChangeConsequence('confbox', ['100']), /extension 100, whose password was set for the realm confbox, cannot register or call until you set its password again/);
  assert.match(realmChangeConsequence('confbox', null), /every extension whose password was set for the realm confbox/);
  assert.match(realmChangeConsequence('confbox', Array.from({ length: 12 }, (_, i) => String(200 + i))), /\(200, .*, 209 and 2 more\)/);
});

test.run();
