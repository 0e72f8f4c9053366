// The INVITEs of RFC 5118 (SIP torture messages for IPv6) sent from a trusted peer (an office PBX, which the box does
// not challenge), so that what the box does with IPv6 addresses in the Request-URI, Via, Contact and SDP is tested past
// authentication: from a stranger they only reach the challenge (see rfc5118.test.ts). They share Call-ID and branch,
// so each goes to a box of its own. The messages are read byte for byte from ../shared/conformance at test time.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox } from '../support/box.ts';
import {
  conformancePath, declareSkipped, describe, echoComplaints, header, missingMaterial, observeDatagram, readBytes, readTsv, sha256, untilAnswering,
} from '../support/conformance.ts';

const PBX = '127.0.0.9';

/** Each is a well-formed INVITE to sip:user@[2001:db8::10]: processed as any call, nothing answers at "user" (404). */
const EXPECT: Record<string, string> = {
  'ipv6-in-sdp': 'IPv6 Request-URI and c=IN IP6 media: the user part is read, the call processed (404, nothing answers at user)',
  'mult-ip-in-sdp': 'IPv4 audio and IPv6 video in one offer: processed (404, nothing answers at user)',
  'ipv4-mapped-ipv6': '::ffff:192.0.2.2 in Via, Contact and SDP: processed (404, nothing answers at user)',
};

const MANIFEST = 'rfc5118/MANIFEST.tsv';
const MESSAGES = 'rfc5118/wire-crlf-derived';

const missing = missingMaterial(MANIFEST, MESSAGES);
if (missing) {
  declareSkipped(Object.keys(EXPECT).length + 1, `RFC 5118 IPv6 torture messages: ${missing}`);
} else {
  const rows = readTsv(conformancePath(MANIFEST));

  test('every INVITE of the RFC 5118 set has an expectation here', () => {
    const invites = rows.filter((r) => /^INVITE /.test(readBytes(conformancePath(MESSAGES, r.file!)).toString('latin1'))).map((r) => r.file!);
    assert.equal(invites.sort(), Object.keys(EXPECT).sort());
  });

  for (const [file, why] of Object.entries(EXPECT)) {
    const row = rows.find((r) => r.file === file);
    test(`${file} (RFC 5118 ${row?.section ?? '?'}) from a trusted peer: ${why}`, async () => {
      assert.ok(row, `${file} is not in MANIFEST.tsv`);
      const buf = readBytes(conformancePath(MESSAGES, file));
      assert.is(sha256(buf), row!.wire_derived_sha256, `${file}: sha256 differs from MANIFEST`);
      const dataDir = mkdtempSync(join(tmpdir(), 'confbox-rfc5118-trusted-'));
      await configure(dataDir, [['peer', 'add', PBX, '--description', 'office PBX']]);
      const box = await startBox({ dataDir });
      try {
        await untilAnswering(box.sipPort);
        const obs = await observeDatagram(box.sipPort, buf, { answerWaitMs: 3000, from: PBX });
        assert.ok(box.proc.exitCode === null, `the box exited after ${file}`);
        assert.ok(obs.live && obs.live.status === 200, `no 200 to a valid OPTIONS after ${file} (got ${describe(obs.live)})`);
        assert.ok(obs.answer, `no answer to ${file}`);
        assert.is(obs.answer!.status, 404, describe(obs.answer));
        assert.match(header(obs.answer!, 'warning') ?? '', /nothing answers at 'user'/);
        assert.equal(echoComplaints(buf, obs.answer!), [], `${file}: the answer cannot be matched to the request`);
      } finally {
        await box.stop();
        removeDataDir(dataDir);
      }
    });
  }

  test.run();
}
