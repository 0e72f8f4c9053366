// The server transactions the box holds, driven over loopback UDP: bounded in count whatever arrives.
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { makeResponse, type Message } from '../../firmware/sip/stack.ts';
import { fromWire, toWire, TransactionCore } from '../../firmware/sip/transactions.ts';
import { freePort } from '../support/box.ts';

const options = (port: number, i: number, branch = `z9hG4bK-${i}`) => Buffer.from([
  `OPTIONS sip:box@127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:9;branch=${branch}`, `From: <sip:a@127.0.0.1>;tag=${i}`,
  `To: <sip:box@127.0.0.1>`, `Call-ID: call-${i}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', '',
].join('\r\n'));

/** The box's sockets on the port, as SipTransport makes them: datagrams go to the core once it exists. */
async function boxSockets(port: number, tcp: boolean, core: () => TransactionCore) {
  const udp = createSocket('udp4');
  await new Promise<void>((r) => udp.bind(port, '127.0.0.1', () => r()));
  udp.on('message', (b, rinfo) => core().receive(b, rinfo));
  let server: Server | undefined;
  if (tcp) {
    server = createServer();
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', () => r()));
  }
  return { udp, udpFamily: 4 as const, tcp: server, via: () => ({ host: 'box.test', port }) };
}

async function harness(answer: (core: TransactionCore, rq: Message) => void, admit?: () => boolean) {
  const port = await freePort();
  const clock = { t: 0 };
  const seen: string[] = [];
  const transport = await boxSockets(port, false, () => core);
  const core: TransactionCore = new TransactionCore({
    transport,
    onParsed: () => undefined,
    admit,
    onError: (e) => { throw e; },
    onRequest: (rq) => {
      seen.push(rq.headers['call-id']!);
      answer(core, rq);
    },
    now: () => clock.t,
  });
  const client: Socket = createSocket('udp4');
  const answers: string[] = [];
  client.on('message', (m) => answers.push(m.toString('latin1')));
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  const send = async (bufs: Buffer[]) => {
    for (const b of bufs) await new Promise<void>((r) => client.send(b, port, '127.0.0.1', () => r()));
  };
  const settle = async (count: number) => {
    for (let i = 0; i < 200 && seen.length < count; i++) await new Promise((r) => setTimeout(r, 25));
  };
  return { port, clock, seen, core, answers, send, settle, close: () => { client.close(); core.destroy(); } };
}

test('a retransmission of an answered request is answered from memory, not handed on again', async () => {
  const h = await harness((core, rq) => core.respond(makeResponse(rq, 403, 'Forbidden')));
  try {
    await h.send([options(h.port, 1)]);
    await h.settle(1);
    await h.send([options(h.port, 1)]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(h.seen, ['call-1']);
    assert.is(h.answers.filter((a) => a.startsWith('SIP/2.0 403')).length, 2);
  } finally {
    h.close();
  }
});

test('a flood of new requests: the answers kept for retransmissions are bounded in count', async () => {
  const h = await harness((core, rq) => core.respond(makeResponse(rq, 200, 'OK')));
  try {
    const n = 6000;
    for (let i = 0; i < n; i += 100) {
      await h.send(Array.from({ length: 100 }, (_, k) => options(h.port, i + k)));
      await h.settle(i + 100);
    }
    assert.is(h.seen.length, n, 'every request handed on once');
    assert.equal(h.core.held(), { unanswered: 0, refusedInvites: 0, answers: 4096 });
    // The oldest was let go: its retransmission is a new request, answered anew (RFC 3261 8.2.7).
    await h.send([options(h.port, 0)]);
    await h.settle(n + 1);
    assert.is(h.seen.at(-1), 'call-0');
  } finally {
    h.close();
  }
});

test('a request answered outside its transaction, or never, is not held', async () => {
  const h = await harness((core, rq) => {
    if (rq.headers['call-id'] === 'call-1') core.forget(rq);
  });
  try {
    await h.send([options(h.port, 1), options(h.port, 2)]);
    await h.settle(2);
    assert.equal(h.core.held(), { unanswered: 1, refusedInvites: 0, answers: 0 });
    h.clock.t += 32_000;
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(h.core.held(), { unanswered: 0, refusedInvites: 0, answers: 0 });
    // Let go: the same request again is new.
    await h.send([options(h.port, 2)]);
    await h.settle(3);
    assert.equal(h.seen, ['call-1', 'call-2', 'call-2']);
  } finally {
    h.close();
  }
});

const invite = (port: number, i: number) => Buffer.from([
  `INVITE sip:*400@127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-i${i}`, `From: <sip:a@127.0.0.1>;tag=${i}`,
  `To: <sip:*400@127.0.0.1>`, `Call-ID: invite-${i}`, 'CSeq: 1 INVITE', 'Content-Length: 0', '', '',
].join('\r\n'));

test('INVITEs answered with an error keep their transaction (it retransmits until the ACK), at most 1024 of them', async () => {
  const h = await harness((core, rq) => core.respond(makeResponse(rq, 407, 'Proxy Authentication Required')));
  try {
    for (let i = 0; i < 1100; i += 100) {
      await h.send(Array.from({ length: 100 }, (_, k) => invite(h.port, i + k)));
      await h.settle(i + 100);
    }
    assert.equal(h.core.held(), { unanswered: 0, refusedInvites: 1024, answers: 0 });
  } finally {
    h.close();
  }
});

test('a request that is not admitted gets no transaction and reaches nobody', async () => {
  let open = false;
  const h = await harness((core, rq) => core.respond(makeResponse(rq, 200, 'OK')), () => open);
  try {
    await h.send([options(h.port, 1)]);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(h.seen, []);
    assert.equal(h.core.held(), { unanswered: 0, refusedInvites: 0, answers: 0 });
    assert.equal(h.answers, []);
    open = true;
    await h.send([options(h.port, 1)]);
    await h.settle(1);
    assert.equal(h.seen, ['call-1'], 'admitted once the source may send again');
  } finally {
    h.close();
  }
});

const utf8Invite = (port: number, callId: string, body: string) => [
  `INVITE sip:box@127.0.0.1:${port} SIP/2.0`, `Via: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bK-${callId}`, `From: "Zoë Ünlü" <sip:100@127.0.0.1>;tag=1`,
  'To: "Zoë Ünlü" <sip:box@127.0.0.1>', `Call-ID: ${callId}`, 'CSeq: 1 INVITE', 'P-Asserted-Identity: "Zoë Ünlü" <sip:100@127.0.0.1>',
  'Content-Type: application/sdp', `Content-Length: ${Buffer.byteLength(body)}`, '', body,
].join('\r\n');

test('over TCP, headers and bodies are UTF-8 and Content-Length counts bytes, both ways', async () => {
  const port = await freePort();
  const got: Message[] = [];
  const transport = await boxSockets(port, true, () => core);
  const core: TransactionCore = new TransactionCore({
    transport,
    onParsed: () => undefined,
    onError: (e) => { throw e; },
    onRequest: (rq) => {
      got.push(rq);
      core.respond({ ...makeResponse(rq, 200, 'OK'), content: 's=Zoë\r\n' });
    },
  });
  const sock = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  sock.on('data', (b: Buffer) => chunks.push(b));
  try {
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const body = 'v=0\r\ns=Zoë Ünlü\r\n';
    sock.write(Buffer.from(utf8Invite(port, 'c1', body) + utf8Invite(port, 'c2', 'v=0\r\n'), 'utf8'));
    for (let i = 0; i < 200 && (got.length < 2 || Buffer.concat(chunks).toString('latin1').split('SIP/2.0 200').length < 3); i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(got.map((m) => m.headers['call-id']), ['c1', 'c2']);
    assert.is(got[0]!.content, body);
    assert.is(got[0]!.headers.from?.name, '"Zoë Ünlü"');
    assert.is(got[0]!.headers.to?.name, '"Zoë Ünlü"');
    assert.is(got[0]!.headers['p-asserted-identity'], '"Zoë Ünlü" <sip:100@127.0.0.1>');
    const answers = Buffer.concat(chunks).toString('utf8').split(/(?=SIP\/2\.0 200)/);
    assert.is(answers.length, 2);
    assert.match(answers[0]!, /\r\nFrom: "Zoë Ünlü" <sip:100@127\.0\.0\.1>;tag=1\r\n/);
    assert.match(answers[0]!, /\r\nTo: "Zoë Ünlü" <sip:box@127\.0\.0\.1>\r\n/);
    assert.match(answers[0]!, new RegExp(`\r\nContent-Length: ${Buffer.byteLength('s=Zoë\r\n')}\r\n\r\ns=Zoë\r\n$`));
  } finally {
    sock.destroy();
    core.destroy();
  }
});

test('text that is not valid UTF-8 keeps its bytes, and Via and Call-ID stay as sent; UTF-8 text goes back to the same bytes', () => {
  const bytes = (t: string) => Buffer.from(t, 'utf8').toString('latin1');
  const wire: Message = {
    method: 'INVITE', uri: 'sip:box@h', content: bytes('s=Zoë\r\n'),
    headers: { from: { name: bytes('"Zoë Ünlü"'), uri: 'sip:100@h', params: {} }, 'call-id': bytes('ë'), subject: 'caf\xe9', via: [{ host: 'h', params: { branch: bytes('ë') } }] },
  };
  const text = fromWire(wire);
  assert.is(text.headers.from?.name, '"Zoë Ünlü"');
  assert.is(text.content, 's=Zoë\r\n');
  assert.is(text.headers.subject, 'caf\xe9');
  assert.is(text.headers['call-id'], bytes('ë'));
  const back = toWire(text);
  delete back.headers.subject;
  delete wire.headers.subject;
  assert.equal(back, wire);
});

test.run();
