import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadTlsIdentity, makeSelfSigned } from '../../firmware/tls-identity.ts';

test('the certificate names every host name and address given, IPv6 included, and verifies with its own key', () => {
  const { cert } = makeSelfSigned(['confbox-ab12', 'confbox-ab12.local', 'localhost', '192.168.1.20', '::1', 'fd00::2:3', '::ffff:10.0.0.1'], new Date('2026-06-01T00:00:00Z'));
  const x = new X509Certificate(cert);
  assert.ok(x.verify(x.publicKey), 'self-signed with its own key');
  assert.is(x.subject, 'O=confbox\nCN=confbox-ab12');
  for (const host of ['confbox-ab12', 'confbox-ab12.local', 'localhost']) assert.ok(x.checkHost(host), host);
  for (const ip of ['192.168.1.20', '::1', 'fd00::2:3', '::ffff:10.0.0.1']) assert.ok(x.checkIP(ip), `${ip} in ${x.subjectAltName}`);
  assert.not.ok(x.checkIP('192.168.1.21'));
  assert.is(x.validFrom, 'May 31 23:00:00 2026 GMT');
  assert.is(x.validTo, 'Jun  1 00:00:00 2036 GMT');
  assert.not.ok(x.ca, 'not a CA: its key cannot vouch for other certificates');
});

test('validity past 2049 is written as GeneralizedTime and read back', () => {
  const x = new X509Certificate(makeSelfSigned(['localhost'], new Date('2045-03-01T12:00:00Z')).cert);
  assert.is(x.validTo, 'Mar  1 12:00:00 2055 GMT');
});

test('a generated pair is reused; a broken one is reported and made again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'confbox-tls-unit-'));
  try {
    const first = loadTlsIdentity({ dataDir: dir, certFile: null, keyFile: null });
    assert.is(first.source, 'generated');
    assert.is(statSync(join(dir, 'tls/key.pem')).mode & 0o777, 0o600);
    assert.is(loadTlsIdentity({ dataDir: dir, certFile: null, keyFile: null }).fingerprint, first.fingerprint);
    writeFileSync(join(dir, 'tls/key.pem'), 'truncated');
    const replaced: string[] = [];
    const second = loadTlsIdentity({ dataDir: dir, certFile: null, keyFile: null, onReplaced: (file) => replaced.push(file) });
    assert.equal(replaced, [join(dir, 'tls/cert.pem')]);
    assert.is.not(second.fingerprint, first.fingerprint);
    assert.is(loadTlsIdentity({ dataDir: dir, certFile: null, keyFile: null }).fingerprint, second.fingerprint);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
