// PROTOS c07-sip (OUSPG): all 4,527 test cases against a running box. Each case is an INVITE template
// and a teardown template; the placeholders are filled the way the original tool does, the INVITE is
// sent, then the teardown (CANCEL). The verdict PROTOS defines is survival: after every batch the box
// must still answer a valid OPTIONS and a valid INVITE, and its memory must not grow without bound.
// The cases are read byte for byte from ../shared/conformance at test time; they are not in the repo.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { removeDataDir, startBox, type RunningBox } from '../support/box.ts';
import {
  conformancePath, cseqMethod, declareSkipped, describe, fillProtosTemplate, inviteAlive, isFinal, MAX_UDP_PAYLOAD, missingMaterial, notableOutput,
  optionsAlive, protosCaseName, readBytes, readTsv, sleep, splitProtosCase, TcpClient, token, UdpClient, untilAnswering, type SipMessage,
} from '../support/conformance.ts';

const CASE_COUNT = 4527;
const BATCH = 200;
const BATCHES = Math.ceil(CASE_COUNT / BATCH);
/** Cases in flight at once; each has its own socket, so answers cannot be mixed up. */
const CONCURRENCY = 8;
/** How long to wait for the INVITE's final answer when nothing (or only a 100) came back. */
const INVITE_WAIT_MS = 300;
const INVITE_WAIT_AFTER_PROVISIONAL_MS = 4000;
const TEARDOWN_WAIT_MS = 150;
const TCP_INVITE_WAIT_MS = 3000;
/**
 * One case starts every PACE_MS at most (about 25 cases/s, the whole file in about 3 minutes): slow enough
 * that the box's 32 s transaction timers expire during the run, so its memory reaches a steady state.
 */
const PACE_MS = 40;
/** After the last case, the box gets this long to expire its transactions before the final RSS reading. */
const SETTLE_MS = 35_000;
/** Memory bound: final RSS below 2 x RSS after the first batch + this. */
const RSS_SLACK = 64 * 1024 * 1024;
const TEST_COUNT = BATCHES + 1;

const CASES = 'protos-c07-sip/cases';
const GROUPS = 'protos-c07-sip/GROUPS.tsv';

interface Outcome {
  n: number;
  transport: 'UDP' | 'TCP';
  /** Final status to the INVITE, 'provisional only', 'none', or for TCP 'closed' when the box dropped the connection. */
  invite: string;
  teardown: string;
}

const missing = missingMaterial(CASES, GROUPS);
if (missing) {
  declareSkipped(TEST_COUNT, `PROTOS c07-sip cases: ${missing}`);
} else {
  const groups = readTsv(conformancePath(GROUPS)).map((g) => ({ name: g.group!, first: Number(g.first_case), last: Number(g.last_case) }));
  const groupOf = (n: number) => groups.find((g) => n >= g.first && n <= g.last)?.name ?? '?';
  let box: RunningBox;
  const outcomes: Outcome[] = [];
  const rss: Array<{ after: number; bytes: number }> = [];
  let firstDeadAfter: number | null = null;
  const t0 = Date.now();

  const alive = () => box.proc.exitCode === null && box.proc.signalCode === null;
  const tail = () => box.output().split('\n').slice(-40).join('\n');

  const fillFor = (n: number, localPort: number) => ({
    to: `confbox@127.0.0.1:${box.sipPort}`,
    from: 'protos@127.0.0.1',
    fromAddress: '127.0.0.1',
    fromIp: '127.0.0.1',
    localPort,
    branchId: `${n}x${token(4)}`,
    callId: `protos${n}-${token(6)}`,
    cseq: n + 1,
    teardownMethod: 'CANCEL',
  });

  /** A final status as counted in the summary; an answer in another SIP version than 2.0 is marked. */
  const status = (m: SipMessage | null | undefined) => (m ? `${m.status}${m.version === '2.0' ? '' : ' (not a SIP/2.0 response)'}` : 'none');

  async function runUdp(n: number, invTpl: Buffer, tdTpl: Buffer): Promise<Outcome> {
    const c = await UdpClient.open();
    try {
      const fill = fillFor(n, c.port);
      const inv = fillProtosTemplate(invTpl, fill);
      const td = fillProtosTemplate(tdTpl, fill);
      await c.send(inv, box.sipPort);
      const final = await c.waitFor(isFinal, INVITE_WAIT_MS);
      if (!final && c.received.length) await c.waitFor(isFinal, INVITE_WAIT_AFTER_PROVISIONAL_MS);
      const teardownAt = Date.now();
      await c.send(td, box.sipPort);
      await c.waitFor((m) => isFinal(m) && m.receivedAt >= teardownAt && cseqMethod(m) === 'CANCEL', TEARDOWN_WAIT_MS);
      const finals = c.received.filter(isFinal);
      const invAnswer = finals.find((m) => m.receivedAt < teardownAt || cseqMethod(m) !== 'CANCEL');
      const tdAnswer = finals.find((m) => m.receivedAt >= teardownAt && cseqMethod(m) === 'CANCEL');
      const provisional = c.received.some((m) => m.status !== null && m.status < 200 && cseqMethod(m) !== 'CANCEL');
      const invite = invAnswer ? status(invAnswer) : provisional ? 'provisional only' : c.garbage.length ? 'unparseable answer' : 'none';
      return { n, transport: 'UDP', invite, teardown: status(tdAnswer) };
    } finally {
      c.close();
    }
  }

  async function runTcp(n: number, invTpl: Buffer, tdTpl: Buffer): Promise<Outcome> {
    const { client: c } = await TcpClient.connectRetrying(box.sipPort, 3000);
    try {
      const fill = fillFor(n, c.localPort);
      const inv = fillProtosTemplate(invTpl, fill);
      const td = fillProtosTemplate(tdTpl, fill);
      await c.write(inv);
      const final = await Promise.race([c.waitFor(isFinal, TCP_INVITE_WAIT_MS), c.closed.then(() => null)]);
      const inviteOutcome = final ? status(final) : c.isClosed ? 'closed' : c.received.length ? 'provisional only' : 'none';
      let teardown = 'not sent (closed)';
      if (!c.isClosed && (await c.write(td))) {
        const rs = await Promise.race([c.waitFor((m) => isFinal(m) && cseqMethod(m) === 'CANCEL', 500), c.closed.then(() => null)]);
        teardown = rs ? status(rs) : c.isClosed ? 'closed' : 'none';
      }
      return { n, transport: 'TCP', invite: inviteOutcome, teardown };
    } finally {
      c.destroy();
    }
  }

  async function runCase(n: number): Promise<Outcome> {
    const { invite, teardown } = splitProtosCase(readBytes(conformancePath(CASES, protosCaseName(n))));
    // Sized after filling: a PDU that does not fit in one datagram goes over TCP, both PDUs on one connection.
    const probe = fillFor(n, 65535);
    const big = fillProtosTemplate(invite, probe).length > MAX_UDP_PAYLOAD || fillProtosTemplate(teardown, probe).length > MAX_UDP_PAYLOAD;
    return big ? runTcp(n, invite, teardown) : runUdp(n, invite, teardown);
  }

  let nextSlot = 0;
  /** Waits for the next sending slot, shared by all workers. */
  const pace = async () => {
    const now = Date.now();
    nextSlot = Math.max(now, nextSlot + PACE_MS);
    if (nextSlot > now) await sleep(nextSlot - now);
  };

  const histogram = (list: string[]) => {
    const h = new Map<string, number>();
    for (const s of list) h.set(s, (h.get(s) ?? 0) + 1);
    return [...h.entries()].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', ');
  };

  test.before(async () => {
    box = await startBox({ logLevel: 'info' });
    // The box says "ready" before its sockets are bound (a deviation of its own); wait until it answers.
    const missed = await untilAnswering(box.sipPort);
    if (missed) console.log(`protos note: ${missed} OPTIONS went unanswered right after "confbox ready" (sockets not yet bound)`);
  });

  test.after(async () => {
    const secs = ((Date.now() - t0) / 1000).toFixed(1);
    const udp = outcomes.filter((o) => o.transport === 'UDP');
    const tcp = outcomes.filter((o) => o.transport === 'TCP');
    console.log(`\nprotos summary: ${outcomes.length} of ${CASE_COUNT} cases in ${secs} s (${udp.length} UDP, ${tcp.length} TCP); `
      + `INVITE answers {${histogram(outcomes.map((o) => o.invite))}}; teardown (CANCEL) answers {${histogram(outcomes.map((o) => o.teardown))}}`);
    console.log(`protos TCP cases: INVITE {${histogram(tcp.map((o) => o.invite))}}; teardown {${histogram(tcp.map((o) => o.teardown))}}`);
    for (const g of groups) {
      const inG = outcomes.filter((o) => o.n >= g.first && o.n <= g.last);
      if (inG.length) console.log(`  ${g.name.padEnd(30)} ${String(inG.length).padStart(4)} cases: INVITE {${histogram(inG.map((o) => o.invite))}}`);
    }
    console.log(`protos RSS (MB) after each batch: ${rss.map((r) => (r.bytes / 1048576).toFixed(1)).join(' ')}`);
    if (firstDeadAfter !== null) console.log(`protos: the box was found dead right after case ${firstDeadAfter} (${groupOf(firstDeadAfter)})`);
    if (box) {
      const notable = notableOutput(box.output());
      if (notable.length) console.log(`box output worth a look:\n  ${notable.join('\n  ')}`);
      await box.stop();
      removeDataDir(box.dataDir);
    }
  });

  for (let b = 0; b < BATCHES; b++) {
    const first = b * BATCH;
    const last = Math.min(CASE_COUNT, first + BATCH) - 1;
    const names = [...new Set([groupOf(first), groupOf(last)])].join(' .. ');
    test(`PROTOS cases ${first}-${last} (${names}): the box survives them and then answers a valid OPTIONS (200) and a valid INVITE (a final answer)`, async () => {
      assert.ok(alive(), `the box is no longer running (exit ${box.proc.exitCode ?? box.proc.signalCode}); first found dead after case ${firstDeadAfter}`);
      let next = first;
      const worker = async () => {
        while (next <= last && alive()) {
          const n = next++;
          await pace();
          outcomes.push(await runCase(n));
          if (!alive() && firstDeadAfter === null) firstDeadAfter = n;
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      outcomes.sort((x, y) => x.n - y.n);
      assert.ok(alive(), `the box exited during cases ${first}-${last} (first seen dead after case ${firstDeadAfter}); output:\n${tail()}`);
      const options = await optionsAlive(box.sipPort);
      assert.is(options?.status, 200, `no 200 to a valid OPTIONS after cases ${first}-${last}: ${describe(options)}; output:\n${tail()}`);
      const invite = await inviteAlive(box.sipPort);
      assert.ok(invite && invite.status !== null && invite.status >= 200, `no final answer to a valid INVITE after cases ${first}-${last}: ${describe(invite)}; output:\n${tail()}`);
      rss.push({ after: last, bytes: box.rss() });
    });
  }

  test(`memory: the box's RSS stays bounded (final < 2 x after the first batch + ${RSS_SLACK / 1048576} MB) and the process still runs and answers`, async () => {
    assert.ok(alive(), `the box is no longer running; output:\n${tail()}`);
    const firstBatch = rss[0]?.bytes ?? 0;
    const lastBatch = box.rss();
    await sleep(SETTLE_MS);
    const final = box.rss();
    const mb = (b: number) => (b / 1048576).toFixed(1);
    console.log(`protos RSS: after first batch ${mb(firstBatch)} MB, after last batch ${mb(lastBatch)} MB, max during run ${mb(Math.max(...rss.map((r) => r.bytes)))} MB, `
      + `final (${SETTLE_MS / 1000} s idle later) ${mb(final)} MB; bound ${mb(2 * firstBatch + RSS_SLACK)} MB`);
    assert.ok(alive(), `the box exited while idle after the run; output:\n${tail()}`);
    const options = await optionsAlive(box.sipPort);
    assert.is(options?.status, 200, `no 200 to a valid OPTIONS after the run: ${describe(options)}`);
    assert.ok(firstBatch > 0, 'no RSS sample after the first batch');
    assert.ok(final < 2 * firstBatch + RSS_SLACK, `RSS grew from ${firstBatch} to ${final} bytes`);
  });

  test.run();
}
