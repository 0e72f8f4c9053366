// A SIP flood over loopback as an attacker on the office LAN would send it: valid INVITE, REGISTER and
// OPTIONS requests with fresh Call-IDs and branches (every one a new transaction), the same requests
// mutated by zzuf (Debian's bit-flipping fuzzer, a mutator the project did not write), and garbage.
// Datagrams leave from many sockets on several 127.x.y.z addresses; the flood is bounded in count and time.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';

/** Fixed-width markers in the templates, replaced in every datagram: a new transaction each time. */
const CALL_ID = 'CALLIDxxxxxxxxxxxxxxxxxx';
const BRANCH = 'BRANCHxxxxxxxxxxxxxxxxxx';
const TAG = 'TAGxxxxxxxxx';
const MARKERS = [CALL_ID, BRANCH, TAG];

export interface FloodOptions {
  boxPort: number;
  /** How many datagrams to send at most. */
  count: number;
  /** Datagrams per second the flood aims at. */
  rate: number;
  /** The flood stops after this long even when not all were sent. */
  maxMs: number;
  /** Source addresses (127.x.y.z) and how many sockets (source ports) each. */
  sources: string[];
  portsPerSource: number;
  /** zzuf's seed, so that a run can be repeated. */
  seed?: number;
}

export interface FloodResult {
  sent: number;
  ms: number;
  /** Datagrams that came back to the flooding sockets. */
  answers: number;
}

/** True when Debian's zzuf is installed (scripts/setup-host.sh installs it). */
export function zzufAvailable(): boolean {
  return spawnSync('zzuf', ['-V'], { stdio: 'ignore' }).status === 0;
}

/** The extension whose password the flood's INVITEs guess: the test's own phones use another one. */
export const GUESSED = '101';

/** The requests a flood mutates: what phones and scanners send to a box. */
export function templates(boxPort: number): Buffer[] {
  const box = `127.0.0.1:${boxPort}`;
  const sdp = [
    'v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', '',
  ].join('\r\n');
  const msg = (lines: string[], body = '') =>
    Buffer.from(lines.join('\r\n') + `\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n` + body, 'latin1');
  const common = (method: string, uri: string, from: string) => [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK${BRANCH};rport`,
    'Max-Forwards: 70',
    `From: <sip:${from}@127.0.0.1>;tag=${TAG}`,
    `To: <${uri}>`,
    `Call-ID: ${CALL_ID}@flood`,
    `CSeq: 1 ${method}`,
  ];
  const auth = (header: string, user: string, uri: string) =>
    `${header}: Digest username="${user}", realm="confbox", nonce="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", uri="${uri}", response="00000000000000000000000000000000", algorithm=MD5, qop=auth, nc=00000001, cnonce="abcdef"`;
  const invite = `sip:*400*1*1234@${box}`;
  const register = `sip:${box}`;
  return [
    msg([...common('INVITE', invite, '100'), 'Contact: <sip:100@127.0.0.1:5060>', 'Content-Type: application/sdp'], sdp),
    msg([...common('INVITE', invite, GUESSED), `Contact: <sip:${GUESSED}@127.0.0.1:5060>`, auth('Proxy-Authorization', GUESSED, invite), 'Content-Type: application/sdp'], sdp),
    msg([...common('REGISTER', register, '100'), 'Contact: <sip:100@127.0.0.1:5060>', 'Expires: 3600']),
    msg([...common('REGISTER', register, '777'), 'Contact: <sip:777@127.0.0.1:5060>', auth('Authorization', '777', register), 'Expires: 3600']),
    msg([...common('OPTIONS', `sip:confbox@${box}`, 'scanner'), 'Accept: application/sdp']),
  ];
}

/** count variants of the template, each mutated by zzuf at the given ratio of bits. */
export function mutate(template: Buffer, count: number, ratio: number, seed: number): Buffer[] {
  const input = Buffer.concat(Array.from({ length: count }, () => template));
  const r = spawnSync('zzuf', ['-s', String(seed), '-r', String(ratio)], { input, maxBuffer: input.length * 2 });
  if (r.status !== 0 || r.stdout.length !== input.length) throw new Error(`zzuf failed (${r.status}): ${r.stderr?.toString().slice(0, 200)}`);
  return Array.from({ length: count }, (_, i) => r.stdout.subarray(i * template.length, (i + 1) * template.length));
}

/** A datagram to send again and again, and where its intact markers are. */
interface Variant {
  buf: Buffer;
  marks: Array<{ at: number; length: number }>;
}

function variant(buf: Buffer): Variant {
  const marks: Variant['marks'] = [];
  for (const m of MARKERS) {
    for (let at = buf.indexOf(m); at >= 0; at = buf.indexOf(m, at + m.length)) marks.push({ at, length: m.length });
  }
  return { buf: Buffer.from(buf), marks };
}

/** The mix of a flood: intact requests, lightly and heavily mutated ones, truncated ones and random bytes. */
export function corpus(boxPort: number, seed = 1): Variant[] {
  const out: Variant[] = [];
  templates(boxPort).forEach((t, i) => {
    out.push(variant(t));
    for (const v of mutate(t, 300, 0.001, seed + i)) out.push(variant(v));
    for (const v of mutate(t, 300, 0.01, seed + 100 + i)) out.push(variant(v));
    for (let k = 0; k < 40; k++) out.push(variant(t.subarray(0, 1 + ((k * 97) % t.length))));
  });
  for (let k = 0; k < 300; k++) out.push(variant(randomBytes(1 + ((k * 131) % 1400))));
  return out;
}

/** Sends the flood; every datagram gets fresh markers, so each intact request starts a new transaction. */
export async function flood(o: FloodOptions): Promise<FloodResult> {
  const variants = corpus(o.boxPort, o.seed ?? 1);
  const sockets: Socket[] = [];
  let answers = 0;
  try {
    for (const address of o.sources) {
      for (let i = 0; i < o.portsPerSource; i++) {
        const s = createSocket('udp4');
        s.on('message', () => answers++);
        s.on('error', () => undefined);
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(0, address, () => resolve());
        });
        sockets.push(s);
      }
    }
    const started = Date.now();
    const prefix = randomBytes(4).toString('hex');
    let sent = 0;
    let inFlight = 0;
    while (sent < o.count && Date.now() - started < o.maxMs) {
      // Paced in slices of 10 ms: the rate is what the flood aims at, not what one loop turn can push.
      const due = Math.min(o.count, Math.floor(((Date.now() - started) / 1000) * o.rate) + 1);
      while (sent < due && inFlight < 2000) {
        const v = variants[sent % variants.length]!;
        const buf = Buffer.from(v.buf);
        const unique = `${prefix}${sent.toString(16)}`;
        for (const m of v.marks) buf.write(unique.padStart(m.length, '0').slice(-m.length), m.at, 'latin1');
        const s = sockets[sent % sockets.length]!;
        inFlight++;
        s.send(buf, o.boxPort, '127.0.0.1', () => inFlight--);
        sent++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = Date.now() - started;
    // Answers already on their way are still counted.
    await new Promise((r) => setTimeout(r, 200));
    return { sent, ms, answers };
  } finally {
    for (const s of sockets) s.close();
  }
}

/** Addresses 127.a.b.c for sources: count of them, all on loopback. */
export function loopbackSources(count: number, base = 77): string[] {
  return Array.from({ length: count }, (_, i) => `127.${base}.${Math.floor(i / 250)}.${(i % 250) + 1}`);
}
