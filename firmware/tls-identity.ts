import { createPrivateKey, generateKeyPairSync, randomBytes, sign, X509Certificate } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname as osHostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';

/** The certificate and key the box serves HTTPS and SIP over TLS with. */
export interface TlsIdentity {
  cert: Buffer;
  key: Buffer;
  /** SHA-256 of the (first) certificate, as colon-separated hex: what a technician compares with the browser's. */
  fingerprint: string;
  /** Made by the box under its data directory, or given with --tls-cert/--tls-key. */
  source: 'generated' | 'given';
  certFile: string;
  /** Host names and addresses the certificate is valid for. */
  names: string[];
  validTo: string;
}

export interface TlsIdentityOptions {
  dataDir: string;
  /** --tls-cert and --tls-key: when given they replace the generated certificate. */
  certFile: string | null;
  keyFile: string | null;
  /** Names and addresses for a generated certificate beside the machine's own (e.g. --public-address). */
  extraNames?: string[];
  /** Reports a generated certificate that could not be read and was made again. */
  onReplaced?(file: string, why: string): void;
}

const VALID_YEARS = 10;

/**
 * The given certificate, else the one generated at first start under the data directory
 * (ECDSA P-256, ten years, the host name, localhost and the box's addresses), else a new one.
 */
export function loadTlsIdentity(o: TlsIdentityOptions): TlsIdentity {
  if (o.certFile && o.keyFile) return given(o.certFile, o.keyFile);
  const dir = join(o.dataDir, 'tls');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  let existing: Buffer | null = null;
  try {
    existing = readFileSync(certFile);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`${certFile}: ${(e as Error).message}`, { cause: e });
  }
  if (existing) {
    try {
      const key = readFileSync(keyFile);
      const id = identity(existing, key, 'generated', certFile);
      chmodSync(keyFile, 0o600);
      return id;
    } catch (e) {
      o.onReplaced?.(certFile, e instanceof Error ? e.message : String(e));
    }
  }
  const names = boxNames(o.extraNames ?? []);
  const made = makeSelfSigned(names, new Date());
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Key first, each written aside and renamed: a crash half-way never leaves a certificate without its key.
  writeAtomically(keyFile, made.key, 0o600);
  writeAtomically(certFile, made.cert, 0o644);
  return identity(made.cert, made.key, 'generated', certFile);
}

function given(certFile: string, keyFile: string): TlsIdentity {
  const read = (file: string, option: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`${option} ${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, { cause: e });
    }
  };
  const cert = read(certFile, '--tls-cert');
  const key = read(keyFile, '--tls-key');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new Error(`--tls-cert ${certFile}: not a PEM certificate (${(e as Error).message})`, { cause: e });
  }
  try {
    createPrivateKey(key);
  } catch (e) {
    throw new Error(`--tls-key ${keyFile}: not a PEM private key without a passphrase (${(e as Error).message})`, { cause: e });
  }
  if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error(`--tls-key ${keyFile}: not the key of the certificate in --tls-cert ${certFile}`);
  return describe(x509, cert, key, 'given', certFile);
}

/** Reads a generated pair; throws when either is unreadable or they do not belong together. */
function identity(cert: Buffer, key: Buffer, source: TlsIdentity['source'], certFile: string): TlsIdentity {
  const x509 = new X509Certificate(cert);
  if (!x509.checkPrivateKey(createPrivateKey(key))) throw new Error('the key does not belong to the certificate');
  return describe(x509, cert, key, source, certFile);
}

function describe(x509: X509Certificate, cert: Buffer, key: Buffer, source: TlsIdentity['source'], certFile: string): TlsIdentity {
  const names = (x509.subjectAltName ?? '').split(', ').filter(Boolean).map((n) => n.replace(/^(DNS|IP Address):/, ''));
  return { cert, key, fingerprint: x509.fingerprint256, source, certFile, names, validTo: new Date(x509.validTo).toISOString() };
}

function writeAtomically(file: string, data: Buffer, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, file);
}

/** The machine's host name (and its mDNS name), localhost, and every address of its interfaces. */
export function boxNames(extra: string[] = []): string[] {
  const names = new Set<string>();
  const host = osHostname().toLowerCase();
  if (/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(host)) {
    names.add(host);
    if (!host.includes('.')) names.add(`${host}.local`);
  }
  names.add('localhost');
  for (const n of extra) if (n && n !== '0.0.0.0' && n !== '::') names.add(n.toLowerCase());
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) names.add(a.address.replace(/%.*$/, '').toLowerCase());
  }
  return [...names];
}

// --- a self-signed X.509 v3 certificate in DER (RFC 5280), signed by node:crypto ---

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
};

/** A new P-256 key and a certificate for the names, valid from an hour before `now` for ten years. */
export function makeSelfSigned(names: string[], now: Date): { cert: Buffer; key: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serial = randomBytes(16);
  // Positive, and minimal in DER: the first byte is neither 0 nor has its top bit set.
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const dnsNames = names.filter((n) => !isIP(n));
  const subject = name(dnsNames[0] ?? 'confbox');
  const notBefore = new Date(now.getTime() - 3600_000);
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + VALID_YEARS);
  const algorithm = seq(oid(OID.ecdsaWithSha256));
  const altNames = names.map((n) => {
    const v = isIP(n);
    return v ? der(0x87, ipBytes(n, v)) : der(0x82, Buffer.from(n, 'ascii'));
  });
  const extensions = seq(
    extension(OID.basicConstraints, true, seq()),
    extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth), oid(OID.clientAuth))),
    extension(OID.subjectAltName, false, seq(...altNames)),
  );
  const tbs = seq(
    der(0xa0, integer(Buffer.from([2]))),
    integer(serial),
    algorithm,
    subject,
    seq(time(notBefore), time(notAfter)),
    subject,
    publicKey.export({ type: 'spki', format: 'der' }),
    der(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const cert = seq(tbs, algorithm, der(0x03, Buffer.from([0]), signature));
  return {
    cert: Buffer.from(`-----BEGIN CERTIFICATE-----\n${cert.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`),
    key: Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' })),
  };
}

function der(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  let len: Buffer;
  if (body.length < 0x80) len = Buffer.from([body.length]);
  else {
    const bytes: number[] = [];
    for (let n = body.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

function seq(...parts: Buffer[]): Buffer {
  return der(0x30, ...parts);
}

function integer(b: Buffer): Buffer {
  return der(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return der(0x06, Buffer.from(out));
}

function name(commonName: string): Buffer {
  const attr = (id: string, value: string) => der(0x31, seq(oid(id), der(0x0c, Buffer.from(value, 'utf8'))));
  return seq(attr(OID.organization, 'confbox'), attr(OID.commonName, commonName));
}

/** UTCTime until 2049, GeneralizedTime from 2050 (RFC 5280 section 4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(iso.slice(2), 'ascii')) : der(0x18, Buffer.from(iso, 'ascii'));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [der(0x01, Buffer.from([0xff]))] : []), der(0x04, value));
}

function ipBytes(address: string, version: number): Buffer {
  if (version === 4) return Buffer.from(address.split('.').map(Number));
  const [head, tail] = address.includes('::') ? address.split('::') : [address, ''];
  const part = (s: string | undefined) => (s ? s.split(':') : []);
  const left = part(head);
  const right = part(tail);
  // An IPv4 tail (::ffff:1.2.3.4) is two groups.
  const expand = (groups: string[]) => groups.flatMap((g) => (g.includes('.') ? [((Number(g.split('.')[0]) << 8) | Number(g.split('.')[1])).toString(16), ((Number(g.split('.')[2]) << 8) | Number(g.split('.')[3])).toString(16)] : [g]));
  const l = expand(left);
  const r = expand(right);
  const groups = [...l, ...Array(8 - l.length - r.length).fill('0'), ...r];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
