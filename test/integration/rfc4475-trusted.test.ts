// The INVITEs of RFC 4475 (SIP torture messages) sent from a trusted peer (an office PBX, which the box does not
// challenge), so that what the box does with them past authentication is tested: from a stranger they only reach the
// challenge (see rfc4475.test.ts). The messages are read byte for byte from ../shared/conformance at test time.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { configure, removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import {
  conformancePath, declareSkipped, describe, echoComplaints, header, missingMaterial, observeDatagram, readBytes, readTsv, sha256,
  untilAnswering, type SipMessage,
} from '../support/conformance.ts';

const PBX = '127.0.0.9';

interface Handling {
  statuses: number[];
  why: string;
  /** Also acceptable: no answer at all (the RFC allows dropping the message). */
  mayDrop?: boolean;
  check?: (rs: SipMessage) => string | null;
}

/** A processed INVITE for a number that is not a feature code: 404, whose Warning names the number as the box read it. */
const nothingAt = (number: string) => (rs: SipMessage) => {
  if (rs.status !== 404) return null;
  const w = header(rs, 'warning') ?? '';
  return w.includes(`'${number}'`) ? null : `the 404's Warning does not name the dialed number '${number}': ${w || '(none)'}`;
};

const EXPECT: Record<string, Handling> = {
  'wsinv.dat': { statuses: [481], why: 'To tag naming no dialog: 481' },
  'esc01.dat': { statuses: [404], why: '%-escapes in the R-URI user part are decoded and the INVITE processed like any other: nothing answers at sips:user@example.com (404)', check: nothingAt('sips:user@example.com') },
  'longreq.dat': { statuses: [404], why: 'long header values accepted and the INVITE processed: 404 for a number that is no feature code', check: nothingAt('user') },
  'quotbal.dat': { statuses: [400, 404], why: 'unterminated quote in To: 400, or processed with the closing quote inferred' },
  'ltgtruri.dat': { statuses: [400], why: '<> around the Request-URI: 400' },
  'lwsruri.dat': { statuses: [400], why: 'LWS inside the Request-URI: 400' },
  'lwsstart.dat': { statuses: [400, 404], why: 'several SP between Request-Line elements: 400, or processed liberally' },
  'escruri.dat': { statuses: [400, 404], why: 'escaped headers in the R-URI: 400, or ignored and the INVITE processed' },
  'baddate.dat': { statuses: [404], why: 'a Date in EST does not matter to the box: ignored, the INVITE processed (404)', check: nothingAt('user') },
  'invut.dat': {
    statuses: [415], why: 'a body of an unknown type: 415 with Accept naming application/sdp',
    check: (rs) => ((header(rs, 'accept') ?? '').toLowerCase().includes('application/sdp') ? null : `no Accept: application/sdp in the 415 (Accept: ${header(rs, 'accept') ?? 'absent'})`),
  },
  'sdp01.dat': { statuses: [406, 400], why: 'Accept without application/sdp: the box cannot answer in a type the caller accepts: 406 (or 400)' },
  'inv2543.dat': { statuses: [404], why: 'an RFC 2543 INVITE (no branch, no From tag, no Content-Length) is processed: 404', check: nothingAt('UserB') },
  'badinv01.dat': { statuses: [400], why: 'extraneous ;;,;,, separators in Via and Contact: 400, trusted or not' },
  'clerr.dat': { statuses: [400], why: 'Content-Length larger than the datagram: 400, trusted or not' },
  'ncl.dat': { statuses: [400], why: 'negative Content-Length: 400, trusted or not' },
  'multi01.dat': { statuses: [400], why: 'several Call-ID/To/From/CSeq values: 400, trusted or not' },
  'insuf.dat': { statuses: [400], mayDrop: true, why: 'no Call-ID, From or To: 400 or dropped, trusted or not' },
  'test.dat': { statuses: [400], mayDrop: true, why: 'no SIP-Version in the Request-Line: 400 or dropped, trusted or not' },
};

const MANIFEST = 'rfc4475/MANIFEST.tsv';
const MESSAGES = 'rfc4475/messages';

const missing = missingMaterial(MANIFEST, MESSAGES);
if (missing) {
  declareSkipped(Object.keys(EXPECT).length + 1, `RFC 4475 torture messages: ${missing}`);
} else {
  const rows = readTsv(conformancePath(MANIFEST));
  let box: RunningBox;
  let dataDir = '';

  test.before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'confbox-rfc4475-trusted-'));
    await configure(dataDir, [['peer', 'add', PBX, '--description', 'office PBX']]);
    box = await startBox({ dataDir });
    await untilAnswering(box.sipPort);
  });

  test.after(async () => {
    await box?.stop();
    if (dataDir) removeDataDir(dataDir);
  });

  test('every INVITE of the RFC 4475 set has an expectation here', () => {
    const invites = rows.filter((r) => /^INVITE /.test(readBytes(conformancePath(MESSAGES, r.file!)).toString('latin1'))).map((r) => r.file!);
    assert.equal(invites.sort(), Object.keys(EXPECT).sort());
  });

  for (const [file, h] of Object.entries(EXPECT)) {
    const row = rows.find((r) => r.file === file);
    test(`${file} (RFC 4475 ${row?.section ?? '?'}) from a trusted peer: ${h.why}`, async () => {
      assert.ok(row, `${file} is not in MANIFEST.tsv`);
      const buf = readBytes(conformancePath(MESSAGES, file));
      assert.is(sha256(buf), row!.sha256, `${file}: sha256 differs from MANIFEST`);
      const obs = await observeDatagram(box.sipPort, buf, { answerWaitMs: 3000, from: PBX });
      assert.ok(box.proc.exitCode === null && box.proc.signalCode === null, `the box exited after ${file}`);
      assert.ok(obs.live && obs.live.status === 200, `no 200 to a valid OPTIONS after ${file} (got ${describe(obs.live)})`);
      const rs = obs.answer;
      if (!rs) {
        assert.ok(h.mayDrop, `no answer to ${file}; RFC 4475 wants ${h.statuses.join(' or ')} (${row!.expected_behaviour_per_rfc})`);
        return;
      }
      assert.ok(h.statuses.includes(rs.status!), `${file}: got ${describe(rs)}; wanted ${h.statuses.join(' or ')} (${row!.expected_behaviour_per_rfc})`);
      assert.equal(echoComplaints(buf, rs, file !== 'multi01.dat'), [], `${file}: the answer cannot be matched to the request`);
      assert.is(h.check?.(rs) ?? null, null);
    });
  }

  test.run();
}
