// What the fuzzers found that a phone could send to a running box, replayed end to end against the bundle: each input
// that once broke the box is sent again, and the box must answer it and keep serving calls.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { answersOptions, configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone } from '../support/phone.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-fuzz-findings-'));
let box: RunningBox;
const phones: Phone[] = [];
const PIN = '5678';

test.before(async () => {
  await configure(dataDir, [['extension', 'add', '201', '--password', 'pw-201'], ['extension', 'add', '202', '--password', 'pw-202'], ['room', 'add', '2', '--pin', PIN]]);
  box = await startBox({ dataDir });
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  removeDataDir(dataDir);
});

async function join2(ext: string, headers: Array<[string, string]> = []) {
  const phone = await Phone.open({ boxPort: box.sipPort, user: ext, password: `pw-${ext}` });
  phones.push(phone);
  const call = await phone.invite(`*400*2*${PIN}`, { codecs: ['PCMU'], headers });
  return { call, final: await call.final(10_000) };
}

test('an INVITE whose Record-Route URI cannot be read (sip-datagram finding) is answered, and the box goes on taking calls', async () => {
  const odd = await join2('201', [['Record-Route', '<sip:proxy.sipprovider."com;lr>']]);
  assert.ok(odd.final.status >= 200, `the INVITE gets a final answer: ${odd.call.responses.map((r) => r.describe()).join('; ')}`);
  await answersOptions(box.sipPort, 5000);
  const next = await join2('202');
  assert.is(next.final.status, 200, `the next caller joins: ${next.call.responses.map((r) => r.describe()).join('; ')}`);
  assert.is(box.proc.exitCode, null, `the box is still running:\n${box.output().slice(-2000)}`);
});

test.run();
