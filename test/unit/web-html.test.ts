// The web page's templates: every interpolated value is escaped unless it is itself markup.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { escapeHtml, html, trusted } from '../../firmware/web/html.ts';
import { hashPassword, verifyPassword, validateNewPassword } from '../../firmware/web/auth.ts';
import { ledClass, ledText, minutesLeft } from '../../firmware/web/pages.ts';
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

test.run();
