// The SIP transport's TCP/TLS connections: one idle past the idle time is closed, unless a call holds it
// (its BYE must go over it); released, it is closed at the next idle time. Real TLS sockets on loopback.
import { connect, type TLSSocket } from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { silentLogger } from '../../firmware/log.ts';
import { makeResponse, SipTransport, type Remote } from '../../firmware/sip/stack.ts';
import { makeSelfSigned } from '../../firmware/tls-identity.ts';
import { freePort } from '../support/box.ts';

const IDLE_MS = 400;

function options(port: number, id: string): string {
  return [
    `OPTIONS sip:box.test:${port};transport=tls SIP/2.0`, `Via: SIP/2.0/TLS 127.0.0.1:9;branch=z9hG4bK${id}`,
    `From: <sip:probe@127.0.0.1>;tag=${id}`, 'To: <sip:box.test>', `Call-ID: ${id}@probe`, 'CSeq: 1 OPTIONS',
    'Max-Forwards: 70', 'Content-Length: 0', '', '',
  ].join('\r\n');
}

/** A TLS client that sends one OPTIONS and resolves once it has the answer. */
async function client(port: number, ca: Buffer, id: string): Promise<{ sock: TLSSocket; closed: Promise<void> }> {
  const sock = await new Promise<TLSSocket>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca }, () => resolve(s));
    s.once('error', reject);
  });
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  const answered = new Promise<string>((resolve) => sock.once('data', (b: Buffer) => resolve(b.toString('latin1'))));
  sock.write(options(port, id));
  assert.match(await answered, /^SIP\/2\.0 200 /);
  return { sock, closed };
}

test('an idle connection is closed; one a call holds stays open until the call lets go of it', async () => {
  const { cert, key } = makeSelfSigned(['127.0.0.1'], new Date());
  const tlsPort = await freePort();
  const remotes = new Map<string, Remote>();
  let transport: SipTransport | null = null;
  transport = await SipTransport.start(
    { port: await freePort(), bind: '127.0.0.1', publicAddress: 'box.test', tls: { port: tlsPort, cert, key }, log: silentLogger, idleMs: IDLE_MS },
    (rq, remote) => {
      remotes.set(String(rq.headers['call-id']), remote);
      transport?.respond(makeResponse(rq, 200, 'OK'));
    },
  );
  try {
    const held = await client(tlsPort, cert, 'held');
    const idle = await client(tlsPort, cert, 'idle');
    assert.is(remotes.get('held@probe')?.protocol, 'TLS');
    const release = transport.keepOpen(remotes.get('held@probe')!);
    // The held connection went idle first (the idle one was opened after it), yet it answers after the idle one closed.
    await idle.closed;
    const again = Promise.race([
      new Promise<string>((resolve) => held.sock.once('data', (b: Buffer) => resolve(b.toString('latin1')))),
      held.closed.then(() => 'closed'),
    ]);
    held.sock.write(options(tlsPort, 'held-again'));
    assert.match(await again, /^SIP\/2\.0 200 /, 'the held connection outlived the idle one');
    release();
    release();
    await held.closed;
  } finally {
    transport.stop();
  }
});

test.run();
