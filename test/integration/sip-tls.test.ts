// SIP over TLS (--sip-tls-port) with the certificate the box generated, from the test phone: registration,
// the Contact of the box's answers (transport=tls, or sips: when the phone asks for it), the box's BYE over the
// phone's own connection, and a client that does not trust the certificate.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone } from '../support/phone.ts';
import { setupCodeOf, WebClient } from '../support/web.ts';

const PIN = '1234';
let box: RunningBox;
let dataDir = '';
const phones: Phone[] = [];

async function tlsPhone(user: string, password: string): Promise<Phone> {
  const p = await Phone.open({ transport: 'tls', boxPort: box.sipTlsPort, user, password, ca: box.certificate() });
  phones.push(p);
  return p;
}

test.before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'confbox-sip-tls-'));
  await configure(dataDir, [
    ['extension', 'add', '100', '--password', 'pw-100'],
    ['extension', 'add', '101', '--password', 'pw-101'],
    ['room', 'add', '12', '--pin', PIN],
  ]);
  box = await startBox({ dataDir, logLevel: 'info' });
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  removeDataDir(dataDir);
});

test('a phone registers over TLS: the binding keeps its transport=tls contact', async () => {
  const phone = await tlsPhone('100', 'pw-100');
  const { final } = await phone.register();
  assert.is(final.status, 200, final.describe());
  assert.equal(final.contacts().map((c) => c.uri), [phone.contactUri]);
  assert.match(phone.contactUri, /;transport=tls$/);
});

test('calls over TLS: the box\'s Contact says transport=tls (sips: for a sips: request) and its BYE comes over the connection', async () => {
  const a = await tlsPhone('100', 'pw-100');
  const callA = await a.dial(`*400*12*${PIN}`);
  const okA = await callA.final();
  assert.is(okA.status, 200, okA.describe());
  assert.is(okA.contactUri, `sip:confbox@127.0.0.1:${box.sipTlsPort};transport=tls`);

  const b = await tlsPhone('101', 'pw-101');
  const callB = await b.dial(`*400*12*${PIN}`, { requestUri: `sips:*400*12*${PIN}@127.0.0.1:${box.sipTlsPort}` });
  const okB = await callB.final();
  assert.is(okB.status, 200, okB.describe());
  assert.is(okB.contactUri, `sips:confbox@127.0.0.1:${box.sipTlsPort}`);

  // The conference ended on the web page: the box hangs both up over their TLS connections.
  const web = new WebClient(box.webUrl, box.certificate());
  assert.is((await web.setup('sip-tls-admin-1', setupCodeOf(box.dataDir))).status, 303);
  await web.get('/rooms');
  const conf = (await web.api('GET', '/api/conferences')).json.find((c: { roomId: number }) => c.roomId === 12);
  assert.is((await web.api('DELETE', `/api/conferences/${encodeURIComponent(conf.key)}`)).status, 204);
  for (const call of [callA, callB]) {
    const bye = await call.waitForRequest('BYE', 20_000);
    assert.match(bye.get('via') ?? '', new RegExp(`^SIP/2\\.0/TLS 127\\.0\\.0\\.1:${box.sipTlsPort};`), 'the box\'s Via names TLS and its TLS port');
  }
});

test('a client that does not trust the certificate fails its handshake; the box serves TLS on', async () => {
  const refused = await new Promise<string>((resolve) => {
    const s = connect({ host: '127.0.0.1', port: box.sipTlsPort }, () => {
      s.end();
      resolve('connected');
    });
    s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
  assert.is(refused, 'DEPTH_ZERO_SELF_SIGNED_CERT');
  const phone = await tlsPhone('101', 'pw-101');
  const rs = await phone.request('OPTIONS');
  assert.is(rs.status, 200, rs.describe());
});

test.run();
