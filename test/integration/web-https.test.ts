// HTTPS by default: a fresh box generates its certificate under the data dir and serves the page over
// HTTPS, plain HTTP sends browsers there (unless the setting httpRedirect is off), the certificate is
// reused at the next start, --tls-cert/--tls-key replace it, and bad web options stop start-up by name.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, generatedCertificate, removeDataDir, runBundle, startBox, type RunningBox } from '../support/box.ts';
import { rawRequest, readBody, setupCodeOf, WebClient } from '../support/web.ts';

let dir = '';

/** The certificate the server presents in a real handshake, verified against `ca` for the name `servername`. */
function servedCertificate(port: number, ca: Buffer, servername: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername }, () => {
      const cert = s.getPeerCertificate();
      s.end();
      resolve(cert);
    });
    s.on('error', reject);
  });
}

/** The log record with this message that the box printed so far. */
function logged(box: RunningBox, msg: string): Record<string, any> | null {
  for (const line of box.output().split('\n')) {
    try {
      const rec = JSON.parse(line);
      if (rec.msg === msg) return rec;
    } catch {
      // not a log record
    }
  }
  return null;
}

function plain(box: RunningBox, path: string, opts: { method?: string; host?: string; body?: string } = {}) {
  return rawRequest(`http://127.0.0.1:${box.httpPort}${path}`, {
    method: opts.method, body: opts.body,
    headers: { ...(opts.host ? { host: opts.host } : {}), ...(opts.body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
  });
}

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'confbox-tls-'));
});

test.after(() => {
  removeDataDir(dir);
});

test('a fresh box makes a P-256 certificate for its names, serves HTTPS with it, logs its fingerprint and keeps the key private', async () => {
  const box = await startBox({ logLevel: 'info' });
  try {
    const file = generatedCertificate(box.dataDir);
    const pem = readFileSync(file);
    const x509 = new X509Certificate(pem);
    assert.is(x509.publicKey.asymmetricKeyType, 'ec');
    assert.is(x509.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const years = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / (365.25 * 86400_000);
    assert.ok(years > 9.9 && years < 10.1, `valid for ten years, not ${years.toFixed(2)}`);
    assert.ok(x509.checkHost('localhost'), x509.subjectAltName);
    assert.ok(x509.checkHost(hostname()), `${hostname()} in ${x509.subjectAltName}`);
    assert.ok(x509.checkIP('127.0.0.1'), x509.subjectAltName);
    assert.is(statSync(join(box.dataDir, 'tls/key.pem')).mode & 0o777, 0o600, 'only the box reads its key');

    // A real handshake, verified against the generated certificate for each of its names.
    for (const name of ['localhost', hostname()]) {
      const served = await servedCertificate(box.httpsPort, pem, name);
      assert.is(served.fingerprint256, x509.fingerprint256, `served for ${name}`);
    }
    const rec = logged(box, 'TLS certificate');
    assert.ok(rec, 'the certificate is logged at start-up');
    assert.is(rec.fingerprint, x509.fingerprint256);
    assert.is(rec.source, 'generated');

    // The page and API over HTTPS; their cookies are Secure.
    const web = new WebClient(box.webUrl, pem);
    const setup = await web.get('/setup');
    assert.is(setup.status, 200);
    assert.match(setup.headers.getSetCookie()[0]!, /; Secure/);
    const done = await web.setup('https-password-1', setupCodeOf(box.dataDir));
    assert.is(done.status, 303, done.text);
    const session = done.headers.getSetCookie().find((c) => c.startsWith('confbox_session='));
    assert.ok(session);
    assert.match(session, /HttpOnly/);
    assert.match(session, /SameSite=Strict/);
    assert.match(session, /; Secure/);
    assert.is((await web.get('/rooms')).status, 200);
    const status = await web.api('GET', '/api/status');
    assert.is(status.json.tlsFingerprint, x509.fingerprint256, 'the status model carries the fingerprint');

    // Plain HTTP sends browsers to the same name over HTTPS: GET 301, a form 308 (which keeps the POST).
    const get = await plain(box, '/rooms?x=1');
    assert.is(get.statusCode, 301);
    assert.is(get.headers.location, `https://127.0.0.1:${box.httpsPort}/rooms?x=1`);
    get.resume();
    const byName = await plain(box, '/', { host: `localhost:${box.httpPort}` });
    assert.is(byName.headers.location, `https://localhost:${box.httpsPort}/`);
    byName.resume();
    const post = await plain(box, '/login', { method: 'POST', body: 'password=x' });
    assert.is(post.statusCode, 308);
    assert.is(post.headers.location, `https://127.0.0.1:${box.httpsPort}/login`);
    assert.is(await readBody(post), '', 'nothing of the page over plain HTTP');

    // Turned off, plain HTTP serves the page itself (cookies then without Secure).
    const off = await web.api('PATCH', '/api/settings', { httpRedirect: 'off' });
    assert.is(off.status, 200, off.text);
    const served = new WebClient(`http://127.0.0.1:${box.httpPort}`);
    const login = await served.get('/login');
    assert.is(login.status, 200, login.text);
    assert.ok(login.headers.getSetCookie().every((c) => !/Secure/.test(c)));
    assert.is((await served.login('https-password-1')).status, 303);
    assert.is((await served.api('GET', '/api/status')).json.tlsFingerprint, x509.fingerprint256);
    assert.is((await web.api('PATCH', '/api/settings', { httpRedirect: 'on' })).status, 200);
    const again = await plain(box, '/login');
    assert.is(again.statusCode, 301, 'on again: redirected');
    again.resume();

    // The next start uses the same certificate.
    await box.stop();
    const restarted = await startBox({ dataDir: box.dataDir, logLevel: 'info' });
    try {
      const second = await servedCertificate(restarted.httpsPort, pem, 'localhost');
      assert.is(second.fingerprint256, x509.fingerprint256, 'same certificate after a restart');
      assert.is(logged(restarted, 'TLS certificate')?.fingerprint, x509.fingerprint256);
    } finally {
      await restarted.stop();
    }
  } finally {
    await box.stop();
    removeDataDir(box.dataDir);
  }
});

test('--tls-cert and --tls-key replace the generated certificate', async () => {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=confbox test', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'));
  const box = await startBox({ extraArgs: ['--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')], logLevel: 'info' });
  try {
    const want = new X509Certificate(cert).fingerprint256;
    const served = await servedCertificate(box.httpsPort, cert, '127.0.0.1');
    assert.is(served.fingerprint256, want);
    assert.is(logged(box, 'TLS certificate')?.fingerprint, want);
    assert.is(logged(box, 'TLS certificate')?.source, 'given');
    const setup = await new WebClient(box.webUrl, cert).get('/setup');
    assert.is(setup.status, 200);
  } finally {
    await box.stop();
    removeDataDir(box.dataDir);
  }
});

test('bad web options stop start-up naming them: one TLS file without the other, a missing or broken file, a taken port', async () => {
  const scratch = mkdtempSync(join(tmpdir(), 'confbox-tls-bad-'));
  const ports = async () => ['--sip-port', String(await freePort()), '--sip-tls-port', String(await freePort()), '--http-port', String(await freePort()), '--https-port', String(await freePort())];
  try {
    const half = await runBundle(['--data-dir', scratch, '--tls-cert', join(dir, 'cert.pem'), '--bind', '127.0.0.1']);
    assert.ok(half.code !== 0 && half.code !== null, half.out);
    assert.match(half.out, /--tls-key: HTTPS needs both --tls-cert and --tls-key/);

    const missing = await runBundle(['--data-dir', scratch, '--tls-cert', join(dir, 'nope.pem'), '--tls-key', join(dir, 'key.pem'), '--bind', '127.0.0.1', ...(await ports())]);
    assert.ok(missing.code !== 0 && missing.code !== null, missing.out);
    assert.match(missing.out, /--tls-cert \S*nope\.pem: no such file/);

    writeFileSync(join(dir, 'garbage.pem'), 'not a certificate\n');
    const broken = await runBundle(['--data-dir', scratch, '--tls-cert', join(dir, 'garbage.pem'), '--tls-key', join(dir, 'key.pem'), '--bind', '127.0.0.1', ...(await ports())]);
    assert.ok(broken.code !== 0 && broken.code !== null, broken.out);
    assert.match(broken.out, /--tls-cert \S*garbage\.pem: not a PEM certificate/);

    const otherKey = join(dir, 'other-key.pem');
    execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', otherKey], { stdio: 'ignore' });
    const mismatched = await runBundle(['--data-dir', scratch, '--tls-cert', join(dir, 'cert.pem'), '--tls-key', otherKey, '--bind', '127.0.0.1', ...(await ports())]);
    assert.ok(mismatched.code !== 0 && mismatched.code !== null, mismatched.out);
    assert.match(mismatched.out, /--tls-key \S*other-key\.pem: not the key of the certificate in --tls-cert/);

    for (const option of ['--http-port', '--https-port']) {
      const port = await freePort();
      const blocker = createServer();
      await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', () => resolve()));
      try {
        const args = await ports();
        args[args.indexOf(option) + 1] = String(port);
        const taken = await runBundle(['--data-dir', scratch, '--bind', '127.0.0.1', '--rtp-ports', '45100-45199', ...args]);
        assert.ok(taken.code !== 0 && taken.code !== null, taken.out);
        assert.match(taken.out, new RegExp(`web page port ${port} is already in use \\(${option}\\)`));
      } finally {
        blocker.close();
      }
    }
  } finally {
    removeDataDir(scratch);
  }
});

test.run();
