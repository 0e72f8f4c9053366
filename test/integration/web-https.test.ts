// The web page over HTTPS (--tls-cert/--tls-key) with a certificate made for the test, and start-up
// refusing bad web options by name.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, removeDataDir, runBundle, startBox, type RunningBox } from '../support/box.ts';
import { setupCodeOf } from '../support/web.ts';

let box: RunningBox;
let dir = '';
let cert: Buffer;

function httpsRequest(method: string, path: string, opts: { cookie?: string; body?: string } = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const rq = request({
      host: '127.0.0.1', port: box.httpPort, path, method, ca: cert,
      headers: { ...(opts.cookie ? { cookie: opts.cookie } : {}), ...(opts.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
    }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    rq.on('error', reject);
    rq.end(opts.body);
  });
}

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'confbox-tls-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=confbox test', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  cert = readFileSync(join(dir, 'cert.pem'));
  box = await startBox({ extraArgs: ['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')], logLevel: 'info' });
});

test.after(async () => {
  await box?.stop();
  removeDataDir(dir);
});

test('over HTTPS the page is served with the certificate and every cookie is Secure', async () => {
  const setup = await httpsRequest('GET', '/setup');
  assert.is(setup.status, 200);
  const pre = (setup.headers['set-cookie'] as string[])[0]!;
  assert.match(pre, /; Secure/);
  const token = /name="_csrf" value="([^"]+)"/.exec(setup.text)![1]!;
  const done = await httpsRequest('POST', '/setup', { cookie: pre.split(';')[0], body: new URLSearchParams({ _csrf: token, code: setupCodeOf(box.dataDir), password: 'tls-password-1', confirm: 'tls-password-1' }).toString() });
  assert.is(done.status, 303, done.text);
  const session = (done.headers['set-cookie'] as string[]).find((c) => c.startsWith('confbox_session='));
  assert.ok(session);
  assert.match(session, /HttpOnly/);
  assert.match(session, /SameSite=Strict/);
  assert.match(session, /; Secure/);
  const rooms = await httpsRequest('GET', '/rooms', { cookie: session.split(';')[0] });
  assert.is(rooms.status, 200);
  assert.match(rooms.text, /Configured rooms/);
});

test('bad web options stop start-up naming them: one TLS file without the other, a missing file, a taken port', async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'confbox-tls-bad-'));
  try {
    const half = await runBundle(['--data-dir', scratch, '--tls-cert', join(dir, 'cert.pem'), '--bind', '127.0.0.1']);
    assert.ok(half.code !== 0 && half.code !== null, half.out);
    assert.match(half.out, /--tls-key: HTTPS needs both --tls-cert and --tls-key/);

    const port = await freePort();
    const missing = await runBundle([
      '--data-dir', scratch, '--tls-cert', join(dir, 'nope.pem'), '--tls-key', join(dir, 'key.pem'), '--bind', '127.0.0.1',
      '--sip-port', String(await freePort()), '--http-port', String(port), '--rtp-ports', '45000-45099',
    ]);
    assert.ok(missing.code !== 0 && missing.code !== null, missing.out);
    assert.match(missing.out, /--tls-cert \S*nope\.pem: no such file/);

    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
    try {
      const taken = await runBundle([
        '--data-dir', scratch, '--bind', '127.0.0.1', '--sip-port', String(await freePort()), '--http-port', String(port), '--rtp-ports', '45100-45199',
      ]);
      assert.ok(taken.code !== 0 && taken.code !== null, taken.out);
      assert.match(taken.out, new RegExp(`web page port ${port} is already in use \\(--http-port\\)`));
    } finally {
      blocker.close();
    }
  } finally {
    removeDataDir(scratch);
  }
});

test.run();
