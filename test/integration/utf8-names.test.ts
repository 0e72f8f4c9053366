// Display names in UTF-8 (RFC 3261 7.3.1): a trusted peer's callers over UDP and TCP, and an extension named in the
// database calling over TLS, show with their own characters in the API and on the Live page.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import { Phone, eventually, utf8Bytes, type Call, type Transport } from '../support/phone.ts';
import { WebClient } from '../support/web.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'confbox-utf8-'));
const PASSWORD = 'utf8 names web password';
const PIN = '5678';
const ROOM = 40;
const TRUSTED = '127.0.0.2';
let box: RunningBox;
let web: WebClient;
const phones: Phone[] = [];

interface Participant {
  caller: string;
  displayName: string;
}

async function joinRoom(o: { user: string; transport: Transport; localAddress?: string; password?: string; displayName?: string; headers?: Array<[string, string]>; unquotedName?: boolean }): Promise<Call> {
  const p = await Phone.open({ boxPort: o.transport === 'tls' ? box.sipTlsPort : box.sipPort, ca: box.certificate(), ...o });
  phones.push(p);
  const call = await p.dial(`*400*${ROOM}*${PIN}`, { headers: o.headers, unquotedName: o.unquotedName });
  assert.is(call.status, 200, `${o.user} over ${o.transport}: ${call.responses.map((r) => r.describe()).join('; ')}`);
  return call;
}

async function participants(count: number): Promise<Participant[]> {
  return eventually(async () => {
    const confs = (await web.api('GET', '/api/conferences')).json as Array<{ roomId: number; participants: Participant[] }>;
    const list = confs.find((c) => c.roomId === ROOM)?.participants ?? [];
    return list.length === count ? list : null;
  }, 20_000, 250, `${count} participants in room ${ROOM}`);
}

test.before(async () => {
  await configure(dataDir, [
    ['admin', 'set-password', '--password', PASSWORD],
    ['peer', 'add', TRUSTED, '--description', 'Büro PBX'],
    ['extension', 'add', '101', '--password', 'pw-101', '--name', 'Zoë Ünlü (Küche)'],
    ['settings', 'set', 'rtpTimeoutSeconds', '3600'],
    ['room', 'add', String(ROOM), '--pin', PIN, '--keep'],
  ]);
  box = await startBox({ dataDir });
  web = new WebClient(box.webUrl, box.certificate());
  assert.is((await web.login(PASSWORD)).status, 303);
});

test.after(async () => {
  for (const p of phones) p.close();
  await box?.stop();
  removeDataDir(dataDir);
});

test('a caller named "Zoë Ünlü" over UDP and over TCP, and an extension so named over TLS: the API and the Live page show the names exactly', async () => {
  const calls = [
    // The quoted display name of the From header, as a trusted peer sends it.
    await joinRoom({ user: '150', transport: 'udp', localAddress: TRUSTED, displayName: 'Zoë Ünlü' }),
    // Over TCP, with a P-Asserted-Identity in UTF-8 that names the caller.
    await joinRoom({ user: 'pbx', transport: 'tcp', localAddress: TRUSTED, displayName: 'Zoë Ünlü', headers: [['P-Asserted-Identity', utf8Bytes('"Zoë Ünlü" <sip:151@127.0.0.2>')]] }),
    await joinRoom({ user: '101', transport: 'tls', password: 'pw-101' }),
  ];
  const list = await participants(3);
  assert.equal(list.map((p) => [p.caller, p.displayName]).sort(), [['101', 'Zoë Ünlü (Küche)'], ['150', 'Zoë Ünlü'], ['151', 'Zoë Ünlü']]);
  const live = await web.get('/live');
  assert.is(live.status, 200);
  assert.is(live.text.split('Zoë Ünlü</strong>').length - 1, 2, 'both callers by name on the Live page');
  assert.ok(live.text.includes('Zoë Ünlü (Küche)</strong>'), 'the extension by name on the Live page');
  assert.not.ok(/Ã|Â/.test(live.text), 'no UTF-8 read as latin1 on the Live page');
  for (const c of calls) await c.bye();
});

test('a display name sent without quotes ("From: Zoë Ünlü <sip:…>"), over UDP and TCP, shows exactly', async () => {
  const calls = [
    await joinRoom({ user: '160', transport: 'udp', localAddress: TRUSTED, displayName: 'Zoë Ünlü', unquotedName: true }),
    await joinRoom({ user: '161', transport: 'tcp', localAddress: TRUSTED, displayName: 'Jürgen Groß', unquotedName: true }),
  ];
  const list = await participants(2);
  assert.equal(list.map((p) => [p.caller, p.displayName]).sort(), [['160', 'Zoë Ünlü'], ['161', 'Jürgen Groß']]);
  for (const c of calls) await c.bye();
});

test.run();
