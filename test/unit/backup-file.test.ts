// The backup file on its own: what it writes reads back the same, sealed or not; a sealed file is unreadable without
// its passphrase and any change to it is noticed; every kind of bad content is refused naming where it is.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readBackup, writeBackup } from '../../firmware/backup/index.ts';
import { BoxError } from '../../firmware/errors.ts';
import type { Configuration } from '../../firmware/store/types.ts';

const NOW = new Date('2026-12-06T09:00:00.000Z');
const CONFIG: Configuration = {
  rooms: [{
    id: 2, pin: '5829', duration: 90, creator: '201', maxParticipants: 5, createdAt: new Date('2026-11-01T08:00:00.000Z'), createdVia: 'web', keep: true,
    moderatorPin: '7316', record: true, waitForModerator: true, moderatorLeaves: 'end',
  }],
  extensions: [{ number: '201', displayName: 'Zoë Ünlü', realm: 'confbox', ha1Md5: 'a'.repeat(32), ha1Sha256: 'b'.repeat(64) }],
  peers: [{ cidr: '192.0.2.5/32', description: 'Office PBX', transport: 'tls', outboundPort: 5061 }],
  settings: [{ name: 'maxParticipants', value: '6' }, { name: 'srtp', value: 'required' }],
  adminPasswordHash: 'scrypt$16384$8$1$c2FsdHNhbHQ$a2V5a2V5a2V5',
  tokens: [{ id: 'tok_1', label: 'wallboard', createdAt: new Date('2026-11-02T08:00:00.000Z'), hash: 'c'.repeat(64) }],
};

const refused = (fn: () => unknown, message: RegExp) => assert.throws(fn, (e: unknown) => e instanceof BoxError && e.httpStatus === 400 && message.test(e.message));

test('a backup reads back as it was written, plain and sealed', () => {
  const plain = readBackup(writeBackup(CONFIG, { firmware: '0.1.0', now: NOW }));
  assert.equal(plain.configuration, CONFIG);
  assert.equal([plain.firmware, plain.createdAt, plain.sealed], ['0.1.0', NOW.toISOString(), false]);
  const sealed = readBackup(writeBackup(CONFIG, { firmware: '0.1.0', now: NOW, passphrase: 'kept in the safe' }), 'kept in the safe');
  assert.equal(sealed.configuration, CONFIG);
  assert.is(sealed.sealed, true);
});

test('a sealed backup: no passphrase, a wrong one, or a changed file are refused; a plain one refuses a passphrase', () => {
  const text = writeBackup(CONFIG, { firmware: '0.1.0', now: NOW, passphrase: 'kept in the safe' });
  refused(() => readBackup(text), /protected by a passphrase/);
  refused(() => readBackup(text, 'kept in the sofa'), /the passphrase is wrong, or the file was changed/);
  const doc = JSON.parse(text);
  const data = Buffer.from(doc.sealed.data, 'base64');
  data[3] = (data[3] ?? 0) ^ 1;
  refused(() => readBackup(JSON.stringify({ ...doc, sealed: { ...doc.sealed, data: data.toString('base64') } }), 'kept in the safe'), /the passphrase is wrong, or the file was changed/);
  refused(() => readBackup(writeBackup(CONFIG, { firmware: '0.1.0', now: NOW }), 'kept in the safe'), /not protected by a passphrase/);
});

test('bad content is refused naming where it is', () => {
  const doc = JSON.parse(writeBackup(CONFIG, { firmware: '0.1.0', now: NOW }));
  const withContent = (change: (c: any) => void) => {
    const d = JSON.parse(JSON.stringify(doc));
    change(d.content);
    return JSON.stringify(d);
  };
  refused(() => readBackup('{"format":"something else"}'), /not a confbox backup/);
  refused(() => readBackup('not json'), /not a confbox backup \(it is not JSON\)/);
  refused(() => readBackup(JSON.stringify({ ...doc, version: 3, firmware: '2.0.0' })), /newer firmware \(2\.0\.0, format 3\)/);
  refused(() => readBackup(withContent((c) => { c.rooms[0].pin = 'x'; })), /^room 1: PIN must be 1 to 16 digits/);
  refused(() => readBackup(withContent((c) => { c.rooms[0].createdVia = 'fax'; })), /^room 1: createdVia must be phone, web or cli/);
  refused(() => readBackup(withContent((c) => { c.rooms.push(c.rooms[0]); })), /room 2 is in the backup twice/);
  refused(() => readBackup(withContent((c) => { c.extensions[0].ha1Md5 = 'password'; })), /^extension 1: its MD5 password hash is not 32 hex digits/);
  refused(() => readBackup(withContent((c) => { c.peers[0].cidr = '192.0.2.0/24'; })), /^peer 1: the outbound PBX must be one address/);
  refused(() => readBackup(withContent((c) => { c.settings[0].value = '0'; })), /^setting 1: maxParticipants must be/);
  refused(() => readBackup(withContent((c) => { c.settings.push({ name: 'teleport', value: 'on' }); })), /^setting 3: "teleport" is not a setting of this firmware/);
  refused(() => readBackup(withContent((c) => { c.adminPasswordHash = 'hunter2'; })), /the admin password hash is not one this box makes/);
  refused(() => readBackup(withContent((c) => { c.tokens[0].hash = 'abc'; })), /^token 1: its hash is not a SHA-256 in hex/);
  refused(() => readBackup(withContent((c) => { delete c.rooms; })), /the backup has no list of rooms/);
});

test.run();
