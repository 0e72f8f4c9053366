// RFC 4475 "SIP Torture Test Messages" against a running box, as a phone or test tool would see it:
// each of the 50 messages of the RFC's archive goes as one UDP datagram (and over TCP where the RFC
// distinguishes the transports), the box's answer is checked against what MANIFEST.tsv says the RFC
// wants from an endpoint, and after every message the box must still answer a valid OPTIONS.
// The messages are read byte for byte from ../shared/conformance at test time; they are not in the repo.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import {
  buildOptions, conformancePath, cseqMethod, declareSkipped, describe, echoComplaints, firstLine, header, headerTokens, isFinal,
  missingMaterial, notableOutput, observeDatagram, optionsAlive, readBytes, readTsv, sha256, sleep, TcpClient, untilAnswering, type SipMessage,
} from '../support/conformance.ts';

/** What the box, a conference endpoint (UAS + registrar for its extensions), must do with a message. */
interface Handling {
  /** answer: a final response with one of `statuses`; answer-or-drop: that, or nothing at all; silent: nothing may come back. */
  kind: 'answer' | 'answer-or-drop' | 'silent';
  statuses?: number[];
  /** Why, in the test name. */
  why: string;
  /** Extra checks on the answer; returns a complaint or null. */
  check?: (rs: SipMessage, all: SipMessage[]) => string | null;
  /** Whether the answer's Call-ID and CSeq must echo the request's (RFC 3261 8.2.6.2); off where the request has several. */
  echo?: boolean;
}

const ALLOW_LISTED = (rs: SipMessage) => {
  if (rs.status !== 501 && rs.status !== 405) return null;
  const allow = headerTokens(rs, 'allow');
  return allow.includes('invite') && allow.includes('options') ? null : `no Allow header listing the supported methods (Allow: ${header(rs, 'allow') ?? 'absent'})`;
};

/** An authenticating endpoint (RFC 3261 8.2: authentication first) rejects a caller that is not one of its extensions. */
const AUTH_REJECT = [403, 407];
/** A registrar refuses to bind an address of record it does not serve / that did not authenticate (RFC 3261 10.3). */
const REG_REFUSE = [401, 403, 404];

const EXPECT: Record<string, Handling> = {
  'wsinv.dat': { kind: 'answer', statuses: [481, ...AUTH_REJECT], why: 'well-formed INVITE whose To tag names no dialog: 481 (or an authentication rejection), never 400 or silence' },
  'intmeth.dat': { kind: 'answer', statuses: [501], why: 'well-formed unknown method: 501 with Allow', check: ALLOW_LISTED },
  'esc01.dat': { kind: 'answer', statuses: AUTH_REJECT, why: 'well-formed INVITE with %-escapes from a non-extension: processed, rejected by authentication (403/407), not 400' },
  'escnull.dat': { kind: 'answer', statuses: REG_REFUSE, why: 'well-formed REGISTER with %00 in the AOR: parsed, the non-extension AOR is refused (401/403/404), not 400 or 500' },
  'esc02.dat': {
    kind: 'answer', statuses: [501], why: 'RE%47IST%45R is an unknown method, not REGISTER: 501 with Allow',
    check: (rs) => ALLOW_LISTED(rs) ?? (cseqMethod(rs) === 'RE%47IST%45R' ? null : `the answer's CSeq method is "${cseqMethod(rs)}", not RE%47IST%45R`),
  },
  'lwsdisp.dat': { kind: 'answer', statuses: [200], why: 'no LWS between display name and <: accepted, OPTIONS answered 200' },
  'longreq.dat': { kind: 'answer', statuses: AUTH_REJECT, why: 'long header values: accepted, INVITE from a non-extension rejected by authentication (403/407)' },
  'dblreq.dat': {
    kind: 'answer', statuses: REG_REFUSE, why: 'REGISTER followed by INVITE-looking octets in one datagram: only the REGISTER is handled (401/403/404), the INVITE octets never',
    check: (rs, all) => {
      if (cseqMethod(rs) !== 'REGISTER') return `the answer is for ${cseqMethod(rs)}, not the REGISTER`;
      const invite = all.find((m) => (header(m, 'call-id') ?? '').includes('dblreq.0ha0isnda977644900765'));
      return invite ? `the trailing INVITE octets were processed: ${describe(invite)}` : null;
    },
  },
  'semiuri.dat': { kind: 'answer', statuses: [200], why: 'semicolon-separated parameters in the R-URI user part: accepted, 200' },
  'transports.dat': { kind: 'answer', statuses: [200], why: 'varied and unknown Via transports: accepted, 200' },
  'mpart01.dat': { kind: 'answer', statuses: [405, 501], why: 'multipart MESSAGE with binary body: framed by Content-Length; the box does not do MESSAGE: 405/501 with Allow', check: ALLOW_LISTED },
  'unreason.dat': { kind: 'silent', why: 'stray 200 with an unusual reason phrase: parsed and dropped, never answered' },
  'noreason.dat': { kind: 'silent', why: 'stray 100 with an empty reason phrase: parsed and dropped, never answered' },
  'badinv01.dat': { kind: 'answer', statuses: [400], why: 'extraneous ;;,;,, separators in Via and Contact: 400' },
  'clerr.dat': { kind: 'answer', statuses: [400], why: 'Content-Length larger than the datagram: 400' },
  'ncl.dat': { kind: 'answer', statuses: [400], why: 'negative Content-Length: 400, rest of the datagram discarded' },
  'scalar02.dat': { kind: 'answer', statuses: [400], why: 'CSeq > 2^32-1 (and Max-Forwards > 255, huge Expires): 400' },
  'scalarlg.dat': { kind: 'silent', why: 'stray 503 with overlarge CSeq/Retry-After/Warning code: discarded, never answered' },
  'quotbal.dat': {
    kind: 'answer', statuses: [400, ...AUTH_REJECT], why: 'unterminated quote in the To display name: 400, or processed only if the closing quote is inferred correctly',
    check: (rs) => (rs.status === 400 || (header(rs, 'to') ?? '').includes('<sip:j.user@example.com>') ? null : `processed without a correctly inferred To (the answer's To is ${JSON.stringify(header(rs, 'to'))})`),
  },
  'ltgtruri.dat': { kind: 'answer', statuses: [400, ...AUTH_REJECT], why: '<> around the Request-URI: 400 (or the brackets ignored and the INVITE processed), not 416' },
  'lwsruri.dat': { kind: 'answer', statuses: [400, 481, ...AUTH_REJECT], why: 'LWS inside the Request-URI: 400 (or the LWS ignored and the request processed), not silence' },
  'lwsstart.dat': { kind: 'answer', statuses: [400, ...AUTH_REJECT], why: 'several SP between Request-Line elements: rejected as malformed (400) or processed liberally, not silence' },
  'trws.dat': { kind: 'answer', statuses: [400, 200], why: 'SP after SIP-Version: rejected as malformed (400) or processed liberally (200)' },
  'escruri.dat': { kind: 'answer', statuses: [400, ...AUTH_REJECT], why: 'escaped headers in the R-URI: 400, or ignored and processed' },
  'baddate.dat': { kind: 'answer', statuses: AUTH_REJECT, why: 'Date in EST: irrelevant to the box, so ignored and the INVITE processed (403/407 for a non-extension)' },
  'regbadct.dat': { kind: 'answer', statuses: [400, ...REG_REFUSE], why: 'Contact URI with ?header but no <>: 400, or the REGISTER refused for the non-extension AOR' },
  'badaspec.dat': { kind: 'answer', statuses: [400, 200], why: 'spaces inside <addr-spec>: 400, or the spaces ignored (200); the parser must not break' },
  'baddn.dat': {
    kind: 'answer-or-drop', statuses: [400, 200],
    why: 'unquoted display names with commas: 400 or quotes inferred (200); the archive copy ends without the empty line, so dropping the unterminated datagram is also acceptable',
  },
  'badvers.dat': { kind: 'answer', statuses: [505], why: 'SIP/7.0: 505 Version Not Supported, itself a SIP/2.0 response' },
  'mismatch01.dat': { kind: 'answer', statuses: [400], why: 'OPTIONS with CSeq method INVITE: 400' },
  'mismatch02.dat': { kind: 'answer', statuses: [501, 400], why: 'unknown method with CSeq method INVITE: 501 with Allow (400 also acceptable per RFC 4475)', check: ALLOW_LISTED },
  'bigcode.dat': { kind: 'silent', why: 'stray response with code 4294967301: dropped, never answered' },
  'badbranch.dat': { kind: 'answer', statuses: [400, 200], why: 'branch is only the magic cookie: 400 or RFC 2543 matching (200); the parser must not break' },
  'insuf.dat': { kind: 'answer-or-drop', statuses: [400], why: 'no Call-ID, From or To: 400 ideally, or dropped' },
  'unkscm.dat': { kind: 'answer', statuses: [416], why: 'Request-URI with an unknown scheme: 416' },
  'novelsc.dat': { kind: 'answer', statuses: [416, 404], why: 'soap.beep Request-URI: 416 (404 if the scheme were meaningful to the box)' },
  'unksm2.dat': { kind: 'answer', statuses: [400], why: 'REGISTER whose To is not a SIP/SIPS URI: a registrar answers 400' },
  'bext01.dat': {
    kind: 'answer', statuses: [420], why: 'Require with unknown option tags: 420 with Unsupported listing the Require tags (not the Proxy-Require ones)',
    check: (rs) => {
      const u = headerTokens(rs, 'unsupported');
      if (!u.includes('nothingsupportsthis') || !u.includes('nothingsupportsthiseither')) return `Unsupported does not list both Require tags (Unsupported: ${header(rs, 'unsupported') ?? 'absent'})`;
      if (u.some((t) => t.includes('proxies'))) return `Unsupported lists Proxy-Require tags, which are for proxies (Unsupported: ${header(rs, 'unsupported')})`;
      return null;
    },
  },
  'invut.dat': {
    kind: 'answer', statuses: AUTH_REJECT,
    why: 'unknown Content-Type from a non-extension: an endpoint that authenticates first (RFC 3261 8.2 order) answers 403/407 before content processing; 415 is for callers it accepts',
  },
  'regaut01.dat': { kind: 'answer', statuses: REG_REFUSE, why: 'REGISTER with an unknown Authorization scheme: ignored or challenged (401); the non-extension AOR is refused, never 400/500' },
  'multi01.dat': { kind: 'answer', statuses: [400], why: 'several Call-ID/To/From/CSeq/Max-Forwards values: 400', echo: false },
  'mcl01.dat': { kind: 'answer', statuses: [400], why: 'two conflicting Content-Length values: an error (400), rest of the datagram discarded' },
  'bcast.dat': { kind: 'silent', why: 'stray 200 with a broadcast Via: discarded by an endpoint, never answered or forwarded' },
  'zeromf.dat': { kind: 'answer', statuses: [200], why: 'Max-Forwards 0 to an endpoint: processed as usual (200), not 483' },
  'cparam01.dat': { kind: 'answer', statuses: REG_REFUSE, why: 'REGISTER with a contact-param: parsed; the non-extension AOR is refused (401/403/404), not 400' },
  'cparam02.dat': { kind: 'answer', statuses: REG_REFUSE, why: 'REGISTER with a url-parameter in Contact: parsed; the non-extension AOR is refused (401/403/404), not 400' },
  'regescrt.dat': { kind: 'answer', statuses: REG_REFUSE, why: 'REGISTER with an escaped header in the Contact URI: parsed; the non-extension AOR is refused (401/403/404), not 400' },
  'sdp01.dat': { kind: 'answer', statuses: [406, 400, ...AUTH_REJECT], why: 'Accept without application/sdp: 406 or 400, or the non-extension caller rejected by authentication first (403/407)' },
  'inv2543.dat': { kind: 'answer', statuses: AUTH_REJECT, why: 'RFC 2543 INVITE (no branch, no From tag, no Content-Length): accepted, the non-extension caller rejected by authentication (403/407)' },
  'test.dat': { kind: 'answer-or-drop', statuses: [400], why: 'no SIP-Version in the Request-Line, header without colon: 400 or dropped' },
};

/** Messages the RFC treats differently over a stream transport. */
const TCP_CASES = ['clerr.dat', 'ncl.dat', 'mcl01.dat'];
/** 50 over UDP, the clerr TCP connection (two tests), ncl and mcl01 over TCP, the final check. */
const TEST_COUNT = Object.keys(EXPECT).length + TCP_CASES.length + 1 + 1;

const MANIFEST = 'rfc4475/MANIFEST.tsv';
const MESSAGES = 'rfc4475/messages';
/** The package keeps a server transaction 32 s; the same bytes over TCP sooner would be a retransmission. */
const TRANSACTION_LIFETIME_MS = 33_000;
/** How long the box may keep an idle connection with an incomplete message before it is "unreasonable". */
const IDLE_CLOSE_LIMIT_MS = 150_000;

const missing = missingMaterial(MANIFEST, MESSAGES);
if (missing) {
  declareSkipped(TEST_COUNT, `RFC 4475 torture messages: ${missing}`);
} else {
  const rows = readTsv(conformancePath(MANIFEST));
  let box: RunningBox;
  const report: string[] = [];
  const udpSentAt = new Map<string, number>();
  let clerrTcp: TcpClient | null = null;
  let clerrSentAt = 0;
  const t0 = Date.now();

  const bytesOf = (file: string): Buffer => {
    const row = rows.find((r) => r.file === file);
    const buf = readBytes(conformancePath(MESSAGES, file));
    assert.ok(row, `${file} is not in MANIFEST.tsv`);
    assert.is(buf.length, Number(row!.size_bytes), `${file}: size differs from MANIFEST`);
    assert.is(sha256(buf), row!.sha256, `${file}: sha256 differs from MANIFEST`);
    return buf;
  };

  const tail = () => box.output().split('\n').slice(-30).join('\n');

  const assertAlive = async (after: string) => {
    const live = await optionsAlive(box.sipPort);
    assert.ok(box.proc.exitCode === null && box.proc.signalCode === null, `the box exited (${box.proc.exitCode ?? box.proc.signalCode}) after ${after}; output:\n${tail()}`);
    assert.ok(live && live.status === 200, `no 200 to a valid OPTIONS after ${after} (got ${describe(live)}); box output:\n${tail()}`);
  };

  test.before(async () => {
    box = await startBox();
    // The box says "ready" before its sockets are bound (a deviation of its own); wait until it answers.
    const missed = await untilAnswering(box.sipPort);
    if (missed) report.push(`  note: ${missed} OPTIONS went unanswered right after "confbox ready" (sockets not yet bound)`);
  });

  test.after(async () => {
    clerrTcp?.destroy();
    console.log(`\nrfc4475 results (${((Date.now() - t0) / 1000).toFixed(1)} s):\n${report.join('\n')}`);
    if (box) {
      const notable = notableOutput(box.output());
      if (notable.length) console.log(`box output worth a look:\n  ${notable.join('\n  ')}`);
      await box.stop();
      removeDataDir(box.dataDir);
    }
  });

  // Opened first so that the idle-close check at the end overlaps the rest of the run.
  test('clerr.dat over TCP: Content-Length 9999 > body; the box waits for the rest and does not answer the incomplete INVITE', async () => {
    const buf = bytesOf('clerr.dat');
    // The box logs "confbox ready" before its TCP listener is up (a race); retry briefly and report it.
    const { client, refusals } = await TcpClient.connectRetrying(box.sipPort, 3000);
    if (refusals) report.push(`  note: TCP connection refused ${refusals} time(s) right after the box logged "confbox ready"`);
    clerrTcp = client;
    clerrSentAt = Date.now();
    assert.ok(await clerrTcp.write(buf), 'could not write clerr.dat');
    const rs = await clerrTcp.waitFor(() => true, 3000);
    report.push(`  clerr.dat/TCP: ${describe(rs)} within 3 s; connection ${clerrTcp.isClosed ? 'closed' : 'open'}`);
    await assertAlive('clerr.dat over TCP');
    assert.is(rs, null, `the box answered an INVITE whose body has not arrived: ${describe(rs)}`);
  });

  for (const row of rows) {
    const file = row.file!;
    const h = EXPECT[file];
    const name = `${file} (RFC 4475 ${row.section}, ${row.rfc_class}) over UDP: ${h ? h.why : 'no expectation defined'}`;
    test(name, async () => {
      assert.ok(h, `no expectation defined for ${file}; MANIFEST says: ${row.expected_behaviour_per_rfc}`);
      const buf = bytesOf(file);
      udpSentAt.set(file, Date.now());
      const silent = h!.kind === 'silent';
      const obs = await observeDatagram(box.sipPort, buf, {
        silent,
        answerWaitMs: silent ? 500 : h!.kind === 'answer' ? 3000 : 750,
        extraWaitMs: file === 'dblreq.dat' ? 750 : 50,
      });
      const rs = obs.answer;
      const unparsed = obs.garbage.length ? ` (+${obs.garbage.length} unparseable datagram(s): ${firstLine(obs.garbage[0]!)})` : '';
      const got = (silent ? (obs.all.length ? obs.all.map(describe).join(' | ') : 'nothing') : describe(rs)) + unparsed;
      const strays = obs.strays ? ` (${obs.strays} datagram(s) from other addresses than the box's, not counted)` : '';
      report.push(`  ${file.padEnd(15)} want ${silent ? 'no answer' : `${h!.statuses!.join('/')}${h!.kind === 'answer-or-drop' ? ' or drop' : ''}`}; got ${got}${strays}`);

      assert.ok(box.proc.exitCode === null && box.proc.signalCode === null, `the box exited after ${file}; output:\n${tail()}`);
      assert.ok(obs.live && obs.live.status === 200, `no 200 to a valid OPTIONS after ${file} (got ${describe(obs.live)}); box output:\n${tail()}`);
      assert.is(obs.garbage.length, 0, `${file}: the box sent something that is not a SIP message: ${unparsed}`);
      if (silent) {
        assert.is(obs.all.length, 0, `the box answered a response: ${got}`);
        return;
      }
      if (!rs) {
        assert.ok(h!.kind === 'answer-or-drop', `no answer to ${firstLine(buf)}; RFC 4475 wants ${h!.statuses!.join(' or ')}`);
        return;
      }
      assert.ok(h!.statuses!.includes(rs.status!), `${file}: got ${describe(rs)}; RFC 4475 wants ${h!.statuses!.join(' or ')} (${row.expected_behaviour_per_rfc})`);
      // A client matches the answer to its request by Call-ID and CSeq; multi01 has several of each.
      assert.equal(echoComplaints(buf, rs, h!.echo !== false), [], `${file}: the answer cannot be matched to the request`);
      const complaint = h!.check?.(rs, obs.all) ?? null;
      assert.is(complaint, null, `${file}: ${complaint}`);
    });
  }

  for (const file of ['ncl.dat', 'mcl01.dat']) {
    const why = file === 'ncl.dat' ? 'negative Content-Length' : 'conflicting Content-Length values';
    test(`${file} over TCP: ${why} is an unrecoverable framing error: an error answer (400) and the box closes the connection`, async () => {
      const buf = bytesOf(file);
      const since = Date.now() - (udpSentAt.get(file) ?? 0);
      if (since < TRANSACTION_LIFETIME_MS) await sleep(TRANSACTION_LIFETIME_MS - since);
      const tcp = await TcpClient.connect(box.sipPort);
      try {
        assert.ok(await tcp.write(buf), `could not write ${file}`);
        const rs = await tcp.waitFor(isFinal, 3000);
        const closed = await tcp.waitClosed(5000);
        report.push(`  ${file}/TCP: ${describe(rs)}; connection ${closed ? 'closed by the box' : 'still open 5 s later'}`);
        await assertAlive(`${file} over TCP`);
        assert.ok(rs, `no answer over TCP to ${file}; RFC 4475 wants an error response`);
        assert.is(rs!.status, 400, `${file} over TCP: got ${describe(rs)}`);
        assert.is(rs!.version, '2.0', `${file} over TCP: not a SIP/2.0 response: ${describe(rs)}`);
        assert.ok(closed, `${file} over TCP: the box kept the connection open after an unrecoverable framing error (RFC 4475: "the connection should be closed")`);
      } finally {
        tcp.destroy();
      }
    });
  }

  test(`clerr.dat over TCP: with no more data, the box closes the connection within a reasonable period (${IDLE_CLOSE_LIMIT_MS / 1000} s)`, async () => {
    assert.ok(clerrTcp, 'the clerr.dat connection was not opened');
    const closed = await clerrTcp!.waitClosed(Math.max(0, clerrSentAt + IDLE_CLOSE_LIMIT_MS - Date.now()));
    const after = clerrTcp!.closedAt ? `${((clerrTcp!.closedAt - clerrSentAt) / 1000).toFixed(1)} s` : `not within ${IDLE_CLOSE_LIMIT_MS / 1000} s`;
    report.push(`  clerr.dat/TCP: connection closed by the box ${after}; answers on it: ${clerrTcp!.received.map(describe).join(' | ') || 'none'}`);
    assert.is(clerrTcp!.received.length, 0, `the box answered the incomplete INVITE: ${clerrTcp!.received.map(describe).join(' | ')}`);
    assert.ok(closed, 'the box never closed the idle connection holding an incomplete message');
  });

  test('after all torture messages the box process still runs and answers OPTIONS over UDP and TCP', async () => {
    assert.equal(rows.map((r) => r.file).sort(), Object.keys(EXPECT).sort(), 'MANIFEST.tsv and the expectations name different files');
    await assertAlive('the whole RFC 4475 set');
    const tcp = await TcpClient.connect(box.sipPort);
    try {
      const o = buildOptions(box.sipPort, tcp.localPort, 'TCP');
      assert.ok(await tcp.write(o.buf));
      const rs = await tcp.waitFor((m) => isFinal(m) && header(m, 'call-id') === o.callId, 5000);
      assert.is(rs?.status, 200, `OPTIONS over TCP: ${describe(rs)}`);
    } finally {
      tcp.destroy();
    }
    assert.is(box.proc.exitCode, null);
    assert.is(box.proc.signalCode, null);
  });

  test.run();
}
