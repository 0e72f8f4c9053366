// RFC 5118 "SIP Torture Test Messages for IPv6" against a running box: each of the 12 messages
// (the wire-legal CRLF copies) goes as one UDP datagram; the box must parse it without crashing and
// answer as an endpoint would, ipv6-bad with 400; after each it must still answer a valid OPTIONS.
// Several messages share Call-ID, CSeq and Via branch (one transaction per RFC 3261 17.2.3), so each
// message goes to a box of its own; otherwise the later ones would be retransmissions of the first.
// The messages are read byte for byte from ../shared/conformance at test time; they are not in the repo.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import {
  conformancePath, declareSkipped, describe, echoComplaints, firstLine, missingMaterial, notableOutput, observeDatagram, readBytes, readTsv, sha256, untilAnswering,
} from '../support/conformance.ts';

/** An endpoint's answer to each message once parsed; 400 only where the RFC says the message is invalid. */
const AUTH_REJECT = [403, 407];
const REG_REFUSE = [401, 403, 404];
const EXPECT: Record<string, { statuses: number[]; why: string }> = {
  'ipv6-good': { statuses: REG_REFUSE, why: 'bracketed IPv6 references: parsed; the non-extension AOR is refused (401/403/404), not 400' },
  'ipv6-bad': { statuses: [400], why: 'R-URI sip:2001:db8::10 without [ ]: 400 Bad Request' },
  'port-ambiguous': { statuses: REG_REFUSE, why: 'sip:[2001:db8::10:5070]: parses (as an address, default port); the non-extension AOR is refused, not 400' },
  'port-unambiguous': { statuses: REG_REFUSE, why: 'sip:[2001:db8::10]:5070: parsed; the non-extension AOR is refused, not 400' },
  'via-received-param-with-delim': { statuses: [481], why: 'received=[IPv6] accepted; BYE for no dialog: 481' },
  'via-received-param-no-delim': { statuses: [200], why: 'received=IPv6 without brackets: parsed, OPTIONS answered 200' },
  'ipv6-in-sdp': { statuses: AUTH_REJECT, why: 'IP6 addresses in SDP: parsed; INVITE from a non-extension rejected by authentication (403/407)' },
  'mult-ip-in-header': { statuses: [481], why: 'Via values mixing IPv4 and IPv6: parsed; BYE for no dialog: 481' },
  'mult-ip-in-sdp': { statuses: AUTH_REJECT, why: 'IPv4 and IPv6 media in SDP: parsed; INVITE from a non-extension rejected by authentication (403/407)' },
  'ipv4-mapped-ipv6': { statuses: AUTH_REJECT, why: '::ffff:192.0.2.2 in Via, Contact and SDP: parsed; INVITE from a non-extension rejected by authentication (403/407)' },
  'ipv6-bug-abnf-3-colons': { statuses: [200], why: '[2001:db8:::192.0.2.1] (RFC 3261 ABNF bug) tolerated: OPTIONS answered 200' },
  'ipv6-correct-abnf-2-colons': { statuses: [200], why: '[2001:db8::192.0.2.1]: OPTIONS answered 200' },
};

const MANIFEST = 'rfc5118/MANIFEST.tsv';
const MESSAGES = 'rfc5118/wire-crlf-derived';

const missing = missingMaterial(MANIFEST, MESSAGES);
if (missing) {
  declareSkipped(Object.keys(EXPECT).length, `RFC 5118 IPv6 torture messages: ${missing}`);
} else {
  const rows = readTsv(conformancePath(MANIFEST));
  const report: string[] = [];
  const t0 = Date.now();

  test.after(() => {
    console.log(`\nrfc5118 results (${((Date.now() - t0) / 1000).toFixed(1)} s):\n${report.join('\n')}`);
  });

  for (const row of rows) {
    const file = row.file!;
    const h = EXPECT[file];
    test(`${file} (RFC 5118 ${row.section}, ${row.rfc_class}): ${h ? h.why : 'no expectation defined'}`, async () => {
      assert.ok(h, `no expectation defined for ${file}; MANIFEST says: ${row.expected_behaviour}`);
      const buf = readBytes(conformancePath(MESSAGES, file));
      assert.is(buf.length, Number(row.wire_derived_size), `${file}: size differs from MANIFEST`);
      assert.is(sha256(buf), row.wire_derived_sha256, `${file}: sha256 differs from MANIFEST`);
      let box: RunningBox | null = null;
      try {
        box = await startBox();
        const missed = await untilAnswering(box.sipPort);
        if (missed) report.push(`  note (${file}): ${missed} OPTIONS went unanswered right after "confbox ready" (sockets not yet bound)`);
        const obs = await observeDatagram(box.sipPort, buf, { answerWaitMs: 3000 });
        const running = box.proc.exitCode === null && box.proc.signalCode === null;
        const notable = notableOutput(box.output());
        report.push(`  ${file.padEnd(28)} want ${h!.statuses.join('/')}; got ${describe(obs.answer)}${obs.garbage.length ? ` (+${obs.garbage.length} unparseable)` : ''}`
          + `${running ? '' : '; BOX EXITED'}${notable.length ? `; box output: ${notable.join(' | ')}` : ''}`);
        const tail = box.output().split('\n').slice(-30).join('\n');
        assert.ok(running, `the box exited after ${file}; output:\n${tail}`);
        assert.ok(obs.live && obs.live.status === 200, `no 200 to a valid OPTIONS after ${file} (got ${describe(obs.live)}); output:\n${tail}`);
        assert.is(obs.garbage.length, 0, `${file}: the box sent something that is not a SIP message`);
        assert.ok(obs.answer, `no answer to ${firstLine(buf)}; RFC 5118 wants ${h!.statuses.join(' or ')} (${row.expected_behaviour})`);
        assert.ok(h!.statuses.includes(obs.answer!.status!), `${file}: got ${describe(obs.answer)}; RFC 5118 wants ${h!.statuses.join(' or ')} (${row.expected_behaviour})`);
        assert.equal(echoComplaints(buf, obs.answer!), [], `${file}: the answer cannot be matched to the request`);
      } finally {
        if (box) {
          await box.stop();
          removeDataDir(box.dataDir);
        }
      }
    });
  }

  test.run();
}
