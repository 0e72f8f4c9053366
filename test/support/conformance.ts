// Helpers for the conformance tests: third-party SIP material read in place from ../shared/conformance
// (byte for byte, as Buffers, never copied into the project) and a small SIP client that talks to a
// running box over UDP and TCP the way a phone or a test tool would.
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { connect, type Socket as TcpSocket } from 'node:net';
import { join } from 'node:path';
import { SHARED } from './box.ts';

/** Where the third-party material lives; it is never copied into the repository. */
export const CONFORMANCE = join(SHARED, 'conformance');

export function conformancePath(...parts: string[]): string {
  return join(CONFORMANCE, ...parts);
}

/** Null when every path exists under ../shared/conformance, else the reason the tests cannot run. */
export function missingMaterial(...relPaths: string[]): string | null {
  for (const p of relPaths) {
    const full = conformancePath(p);
    if (!existsSync(full)) return `${full} is absent (../shared is not mounted)`;
  }
  return null;
}

/** The line scripts/test.mjs counts as skipped tests; the file then registers none. */
export function declareSkipped(count: number, reason: string): void {
  console.log(`confbox-skipped: ${count} ${reason.replace(/\s+/g, ' ')}`);
}

/** A manifest: tab-separated, first line names the columns. */
export function readTsv(path: string): Array<Record<string, string>> {
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l.length > 0);
  const head = (lines.shift() ?? '').split('\t');
  return lines.map((line) => {
    const cells = line.split('\t');
    const row: Record<string, string> = {};
    head.forEach((h, i) => (row[h] = cells[i] ?? ''));
    return row;
  });
}

/** The exact bytes of a file of the material. */
export function readBytes(path: string): Buffer {
  return readFileSync(path);
}

export function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

export function token(bytes = 6): string {
  return randomBytes(bytes).toString('hex');
}

// --- SIP messages as the client sees them ---

const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type',
  f: 'from', s: 'subject', k: 'supported', t: 'to', v: 'via',
};

export interface SipMessage {
  /** The start line, e.g. "SIP/2.0 200 OK". */
  startLine: string;
  /** The SIP version of the start line ("2.0"). */
  version: string;
  /** Response status, or null for a request. */
  status: number | null;
  /** Request method, or null for a response. */
  method: string | null;
  /** Every header value in order, by lower-case full name (compact forms expanded); folded lines joined. */
  headers: Map<string, string[]>;
  body: Buffer;
  raw: Buffer;
  receivedAt: number;
}

export function header(m: SipMessage, name: string): string | undefined {
  return m.headers.get(name.toLowerCase())?.[0];
}

export function headerAll(m: SipMessage, name: string): string[] {
  return m.headers.get(name.toLowerCase()) ?? [];
}

/** The comma-separated tokens of every value of a header (Allow, Unsupported, ...), lower-cased. */
export function headerTokens(m: SipMessage, name: string): string[] {
  return headerAll(m, name).flatMap((v) => v.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean);
}

/** CSeq method of a message, upper-case ('' when absent). */
export function cseqMethod(m: SipMessage): string {
  return (header(m, 'cseq') ?? '').trim().split(/\s+/)[1]?.toUpperCase() ?? '';
}

/** Parses the header section (before CRLFCRLF) and the given body of one message. */
function parseHead(head: Buffer, body: Buffer, raw: Buffer): SipMessage | null {
  const text = head.toString('latin1');
  const lines = text.split('\r\n');
  const startLine = lines.shift() ?? '';
  const unfolded: string[] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && unfolded.length) unfolded[unfolded.length - 1] += ' ' + line.trim();
    else unfolded.push(line);
  }
  const headers = new Map<string, string[]>();
  for (const line of unfolded) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    let name = line.slice(0, colon).trim().toLowerCase();
    name = COMPACT[name] ?? name;
    const list = headers.get(name) ?? [];
    list.push(line.slice(colon + 1).trim());
    headers.set(name, list);
  }
  // Any version is taken, so that an answer in the wrong version is seen (and can be complained about).
  const rs = /^SIP\/(\d+\.\d+) (\d{3})(?: |$)/.exec(startLine);
  const rq = /^(\S+) \S+ SIP\/(\d+\.\d+)$/.exec(startLine);
  if (!rs && !rq) return null;
  return {
    startLine,
    version: (rs ?? rq)![rs ? 1 : 2]!,
    status: rs ? Number(rs[2]) : null,
    method: rq ? rq[1]! : null,
    headers,
    body,
    raw,
    receivedAt: Date.now(),
  };
}

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** The header fields of a raw message whatever its start line looks like (for requests we send). */
export function headersOf(buf: Buffer): Map<string, string[]> {
  const end = buf.indexOf(CRLFCRLF);
  const head = buf.subarray(0, end < 0 ? buf.length : end);
  const fake = Buffer.concat([Buffer.from('SIP/2.0 999 X\r\n'), head.indexOf('\r\n') < 0 ? Buffer.alloc(0) : head.subarray(head.indexOf('\r\n') + 2)]);
  return parseHead(fake, Buffer.alloc(0), fake)?.headers ?? new Map();
}

/** One datagram: headers up to the first CRLFCRLF, the rest is the body. */
export function parseDatagram(buf: Buffer): SipMessage | null {
  const end = buf.indexOf(CRLFCRLF);
  if (end < 0) return null;
  return parseHead(buf.subarray(0, end), buf.subarray(end + 4), buf);
}

/** Frames messages out of a byte stream by Content-Length (absent = 0), ignoring keep-alive CRLFs. */
export class StreamFramer {
  private buf = Buffer.alloc(0);
  constructor(private readonly onMessage: (m: SipMessage) => void) {}

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    for (;;) {
      let start = 0;
      while (start + 1 < this.buf.length && this.buf[start] === 0x0d && this.buf[start + 1] === 0x0a) start += 2;
      if (start) this.buf = this.buf.subarray(start);
      const end = this.buf.indexOf(CRLFCRLF);
      if (end < 0) return;
      const head = this.buf.subarray(0, end);
      const probe = parseHead(head, Buffer.alloc(0), head);
      const len = Math.max(0, Number.parseInt(probe ? header(probe, 'content-length') ?? '0' : '0', 10) || 0);
      if (this.buf.length < end + 4 + len) return;
      const raw = this.buf.subarray(0, end + 4 + len);
      const m = parseHead(head, raw.subarray(end + 4), raw);
      this.buf = this.buf.subarray(end + 4 + len);
      if (m) this.onMessage(m);
    }
  }
}

type Waiter = { test: (m: SipMessage) => boolean; resolve: (m: SipMessage | null) => void; timer: NodeJS.Timeout };

/** Collects messages and lets callers wait for one matching a predicate. */
class Inbox {
  readonly received: SipMessage[] = [];
  private waiters: Waiter[] = [];

  deliver(m: SipMessage): void {
    this.received.push(m);
    for (const w of [...this.waiters]) {
      if (w.test(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(m);
      }
    }
  }

  /** The first message (already received or arriving within timeoutMs) that matches, or null. */
  waitFor(test: (m: SipMessage) => boolean, timeoutMs: number): Promise<SipMessage | null> {
    const have = this.received.find(test);
    if (have) return Promise.resolve(have);
    return new Promise((resolve) => {
      const w: Waiter = {
        test,
        resolve,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          resolve(null);
        }, timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  cancelWaits(): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.resolve(null);
    }
  }
}

export const isFinal = (m: SipMessage): boolean => m.status !== null && m.status >= 200;

/**
 * A UDP socket on 127.0.0.1 that sends raw datagrams and collects what comes back from the addresses it
 * sent to. A datagram from anywhere else is not the box's answer: the port was chosen by the kernel and
 * may have belonged a moment ago to another test's socket, to which a box still retransmits a final
 * answer (every 500 ms up to 4 s, for 32 s, when nobody ACKs it); those are counted as `strays`.
 */
export class UdpClient {
  private readonly inbox = new Inbox();
  /** Datagrams that arrived but do not parse as SIP. */
  readonly garbage: Buffer[] = [];
  /** Datagrams from addresses this client never sent to. */
  strays = 0;
  private readonly peers = new Set<string>();
  private closed = false;

  private constructor(private readonly sock: UdpSocket, readonly port: number) {
    sock.on('message', (data: Buffer, from: RemoteInfo) => {
      if (!this.peers.has(`${from.address}:${from.port}`)) {
        this.strays++;
        return;
      }
      const m = parseDatagram(data);
      if (m) this.inbox.deliver(m);
      else this.garbage.push(data);
    });
    sock.on('error', () => undefined);
  }

  /** address: the source address (any 127.x.y.z on Linux loopback; a trusted peer's, say). */
  static open(address = '127.0.0.1'): Promise<UdpClient> {
    return new Promise((resolve, reject) => {
      const sock = createSocket('udp4');
      sock.once('error', reject);
      sock.bind(0, address, () => {
        sock.removeListener('error', reject);
        resolve(new UdpClient(sock, sock.address().port));
      });
    });
  }

  get received(): SipMessage[] {
    return this.inbox.received;
  }

  send(buf: Buffer, port: number, host = '127.0.0.1'): Promise<void> {
    this.peers.add(`${host}:${port}`);
    return new Promise((resolve, reject) => this.sock.send(buf, port, host, (err) => (err ? reject(err) : resolve())));
  }

  waitFor(test: (m: SipMessage) => boolean, timeoutMs: number): Promise<SipMessage | null> {
    return this.inbox.waitFor(test, timeoutMs);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.inbox.cancelWaits();
    this.sock.close();
  }
}

/** A TCP connection to the box: writes raw bytes, frames what comes back, notices when the box closes. */
export class TcpClient {
  private readonly inbox = new Inbox();
  private readonly framer = new StreamFramer((m) => this.inbox.deliver(m));
  closedAt: number | null = null;
  /** Resolves when the connection is closed (by either side). */
  readonly closed: Promise<void>;

  private constructor(private readonly sock: TcpSocket) {
    sock.on('data', (d: Buffer) => this.framer.push(d));
    sock.on('error', () => undefined);
    this.closed = new Promise((resolve) => sock.once('close', () => {
      this.closedAt = Date.now();
      resolve();
    }));
  }

  /** Connects, retrying a refused connection for up to retryMs; `refusals` counts the refused attempts. */
  static async connectRetrying(port: number, retryMs: number): Promise<{ client: TcpClient; refusals: number }> {
    const until = Date.now() + retryMs;
    for (let refusals = 0; ; refusals++) {
      try {
        return { client: await TcpClient.connect(port), refusals };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > until) throw e;
        await sleep(50);
      }
    }
  }

  static connect(port: number, host = '127.0.0.1'): Promise<TcpClient> {
    return new Promise((resolve, reject) => {
      const sock = connect(port, host);
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.removeListener('error', reject);
        resolve(new TcpClient(sock));
      });
    });
  }

  get received(): SipMessage[] {
    return this.inbox.received;
  }

  get localPort(): number {
    return this.sock.localPort ?? 0;
  }

  get isClosed(): boolean {
    return this.closedAt !== null;
  }

  /** Writes the bytes; resolves false when the connection was already gone. */
  write(buf: Buffer): Promise<boolean> {
    if (this.sock.destroyed || !this.sock.writable) return Promise.resolve(false);
    return new Promise((resolve) => this.sock.write(buf, (err) => resolve(!err)));
  }

  waitFor(test: (m: SipMessage) => boolean, timeoutMs: number): Promise<SipMessage | null> {
    return this.inbox.waitFor(test, timeoutMs);
  }

  /** True when the connection closed within timeoutMs. */
  async waitClosed(timeoutMs: number): Promise<boolean> {
    if (this.isClosed) return true;
    let t: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => (t = setTimeout(() => resolve(false), timeoutMs)));
    const r = await Promise.race([this.closed.then(() => true as const), timeout]);
    clearTimeout(t);
    return r;
  }

  destroy(): void {
    this.inbox.cancelWaits();
    this.sock.destroy();
  }
}

// --- requests a well-behaved client sends ---

export interface BuiltRequest {
  buf: Buffer;
  callId: string;
  branch: string;
  uri: string;
}

function request(lines: string[], body = ''): Buffer {
  return Buffer.from(lines.join('\r\n') + '\r\n' + `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n` + body, 'latin1');
}

/** A valid OPTIONS to the box. */
export function buildOptions(boxPort: number, localPort: number, transport: 'UDP' | 'TCP' = 'UDP'): BuiltRequest {
  const callId = `live-${token()}@127.0.0.1`;
  const branch = `z9hG4bK${token()}`;
  const uri = `sip:confbox@127.0.0.1:${boxPort}`;
  const buf = request([
    `OPTIONS ${uri} SIP/2.0`,
    `Via: SIP/2.0/${transport} 127.0.0.1:${localPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: <sip:liveness@127.0.0.1>;tag=${token(4)}`,
    `To: <${uri}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 OPTIONS',
    'Accept: application/sdp',
  ]);
  return { buf, callId, branch, uri };
}

/** A valid INVITE with an SDP offer, from a caller that is not an extension of the box. */
export function buildInvite(boxPort: number, localPort: number, user = '100'): BuiltRequest {
  const callId = `live-inv-${token()}@127.0.0.1`;
  const branch = `z9hG4bK${token()}`;
  const uri = `sip:${user}@127.0.0.1:${boxPort}`;
  const sdp = [
    'v=0', `o=- ${Date.now()} 1 IN IP4 127.0.0.1`, 's=-', 'c=IN IP4 127.0.0.1', 't=0 0',
    'm=audio 40000 RTP/AVP 0 8 101', 'a=rtpmap:0 PCMU/8000', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:101 telephone-event/8000', 'a=sendrecv', '',
  ].join('\r\n');
  const buf = request([
    `INVITE ${uri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${localPort};branch=${branch};rport`,
    'Max-Forwards: 70',
    `From: "Liveness" <sip:liveness-probe@127.0.0.1>;tag=${token(4)}`,
    `To: <${uri}>`,
    `Call-ID: ${callId}`,
    'CSeq: 1 INVITE',
    `Contact: <sip:liveness-probe@127.0.0.1:${localPort}>`,
    'Content-Type: application/sdp',
  ], sdp);
  return { buf, callId, branch, uri };
}

/** The ACK for a non-2xx final response to an INVITE (RFC 3261 17.1.1.3), built from the response. */
export function buildAck(requestUri: string, rs: SipMessage): Buffer {
  const seq = (header(rs, 'cseq') ?? '1').trim().split(/\s+/)[0] ?? '1';
  const lines = [`ACK ${requestUri} SIP/2.0`];
  const via = header(rs, 'via');
  if (via) lines.push(`Via: ${via.split(/,(?=\s*SIP\s*\/)/i)[0]!.trim()}`);
  lines.push('Max-Forwards: 70');
  for (const h of ['from', 'to', 'call-id']) {
    const v = header(rs, h);
    if (v !== undefined) lines.push(`${h === 'call-id' ? 'Call-ID' : h[0]!.toUpperCase() + h.slice(1)}: ${v}`);
  }
  lines.push(`CSeq: ${seq} ACK`);
  return request(lines);
}

/** Sends a valid OPTIONS from a fresh UDP socket; resolves with the box's final answer, or null. */
export async function optionsAlive(boxPort: number, timeoutMs = 5000): Promise<SipMessage | null> {
  const c = await UdpClient.open();
  try {
    const o = buildOptions(boxPort, c.port);
    return await sendAsPhonesDo(c, o.buf, boxPort, (m) => isFinal(m) && header(m, 'call-id') === o.callId, timeoutMs);
  } finally {
    c.close();
  }
}

/**
 * Sends a request over UDP as a phone does (RFC 3261 17.1.2.2, timer E): again after 500 ms, 1 s, 2 s, then every
 * 4 s, until the answer comes or timeoutMs is over. A datagram lost on a busy machine is not a box that stopped.
 */
async function sendAsPhonesDo(c: UdpClient, buf: Buffer, port: number, match: (m: SipMessage) => boolean, timeoutMs: number): Promise<SipMessage | null> {
  const until = Date.now() + timeoutMs;
  let interval = 500;
  for (;;) {
    await c.send(buf, port);
    const left = until - Date.now();
    if (left <= 0) return null;
    const rs = await c.waitFor(match, Math.min(interval, left));
    if (rs) return rs;
    if (Date.now() >= until) return null;
    interval = Math.min(interval * 2, 4000);
  }
}

/** Sends a valid INVITE from a fresh UDP socket; resolves with the box's final answer (and ACKs it), or null. */
export async function inviteAlive(boxPort: number, timeoutMs = 8000): Promise<SipMessage | null> {
  const c = await UdpClient.open();
  try {
    const inv = buildInvite(boxPort, c.port);
    const rs = await sendAsPhonesDo(c, inv.buf, boxPort, (m) => isFinal(m) && header(m, 'call-id') === inv.callId, timeoutMs);
    if (rs && rs.status !== null && rs.status >= 300) await c.send(buildAck(inv.uri, rs), boxPort);
    return rs;
  } finally {
    c.close();
  }
}

/** What came back for one datagram, and whether the box still answered a valid OPTIONS right after it. */
export interface Observation {
  /** The first final answer, or null. */
  answer: SipMessage | null;
  /** Everything that came back, in order. */
  all: SipMessage[];
  /** Datagrams that came back but are not SIP messages. */
  garbage: Buffer[];
  /** The box's answer to a valid OPTIONS sent right after the datagram (null: none within 5 s). */
  live: SipMessage | null;
  /** Datagrams from other addresses than the box's, left out of `all`. */
  strays: number;
}

/**
 * Sends `buf` as one datagram from a fresh socket (the box answers to the source address, whatever the
 * Via says), then a valid OPTIONS from another socket. The box handles datagrams in order, so once the
 * OPTIONS is answered every synchronous answer to `buf` is out; paths that wait for the database
 * (INVITE, REGISTER) get up to answerWaitMs more. A non-2xx final answer to an INVITE is ACKed.
 */
export async function observeDatagram(boxPort: number, buf: Buffer, o: { answerWaitMs: number; extraWaitMs?: number; silent?: boolean; from?: string }): Promise<Observation> {
  const udp = await UdpClient.open(o.from);
  try {
    await udp.send(buf, boxPort);
    const live = await optionsAlive(boxPort);
    let answer: SipMessage | null = null;
    if (o.silent) await sleep(o.answerWaitMs);
    else {
      const provisional = udp.received.some((m) => m.status !== null && m.status < 200);
      answer = await udp.waitFor(isFinal, provisional ? Math.max(3000, o.answerWaitMs) : o.answerWaitMs);
    }
    await sleep(o.extraWaitMs ?? 50);
    if (answer && answer.status !== null && answer.status >= 300 && cseqMethod(answer) === 'INVITE') {
      const uri = firstLine(buf, 4000).split(/\s+/)[1] ?? '';
      await udp.send(buildAck(/^sips?:/i.test(uri) ? uri : `sip:user@127.0.0.1:${boxPort}`, answer), boxPort);
    }
    return { answer, all: [...udp.received], garbage: [...udp.garbage], live, strays: udp.strays };
  } finally {
    udp.close();
  }
}

/**
 * Complaints about an answer a client could not match to its request: RFC 3261 8.2.6.2 wants the
 * request's Call-ID and CSeq copied, and the answer must be a SIP/2.0 response.
 */
export function echoComplaints(sent: Buffer, rs: SipMessage, matchHeaders = true): string[] {
  const out: string[] = [];
  if (rs.version !== '2.0') out.push(`the answer is not a SIP/2.0 response (${rs.startLine})`);
  const h = headersOf(sent);
  const callId = h.get('call-id')?.[0];
  if (matchHeaders && callId !== undefined && header(rs, 'call-id') !== callId) out.push(`the answer's Call-ID ${JSON.stringify(header(rs, 'call-id'))} does not echo ${JSON.stringify(callId)}`);
  const [seq, method] = (h.get('cseq')?.[0] ?? '').split(/\s+/);
  const [gotSeq, gotMethod] = (header(rs, 'cseq') ?? '').split(/\s+/);
  const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? BigInt(v) : null);
  if (matchHeaders && seq !== undefined && method !== undefined && (num(seq) === null || num(seq) !== num(gotSeq) || gotMethod !== method)) {
    out.push(`the answer's CSeq "${header(rs, 'cseq')}" does not echo the request's "${seq} ${method}"`);
  }
  return out;
}

// --- PROTOS c07-sip cases ---

/** A case file is "<len> <len bytes: INVITE template>" followed by "<len> <len bytes: teardown template>". */
export function splitProtosCase(buf: Buffer): { invite: Buffer; teardown: Buffer } {
  const pdus: Buffer[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const sp = buf.indexOf(0x20, pos);
    const digits = sp > pos ? buf.subarray(pos, sp).toString('latin1') : '';
    if (!/^\d+$/.test(digits)) throw new Error(`bad PROTOS case framing at byte ${pos}`);
    const len = Number(digits);
    if (sp + 1 + len > buf.length) throw new Error(`PROTOS PDU at byte ${pos} claims ${len} bytes, only ${buf.length - sp - 1} left`);
    pdus.push(buf.subarray(sp + 1, sp + 1 + len));
    pos = sp + 1 + len;
  }
  if (pdus.length !== 2) throw new Error(`PROTOS case has ${pdus.length} PDUs, expected 2`);
  return { invite: pdus[0]!, teardown: pdus[1]! };
}

export interface ProtosFill {
  to: string;
  from: string;
  fromAddress: string;
  fromIp: string;
  localPort: number;
  branchId: string;
  callId: string;
  cseq: number;
  teardownMethod: string;
}

/**
 * Fills a template's placeholders. Content-Length is computed last, as the number of bytes after
 * the first CRLFCRLF once everything else is substituted (0 when there is no such separator).
 * Works on latin1 strings, which map every byte to one char and back, so 8-bit and NUL bytes survive.
 */
export function fillProtosTemplate(tpl: Buffer, f: ProtosFill): Buffer {
  const values: Record<string, string> = {
    '<To>': f.to,
    '<From>': f.from,
    '<From-Address>': f.fromAddress,
    '<From-IP>': f.fromIp,
    '<Local-Port>': String(f.localPort),
    '<Branch-ID>': f.branchId,
    '<Call-ID>': f.callId,
    '<CSeq>': String(f.cseq),
    '<Teardown-Method>': f.teardownMethod,
  };
  let s = tpl.toString('latin1');
  for (const [k, v] of Object.entries(values)) s = s.split(k).join(v);
  if (!s.includes('<Content-Length>')) return Buffer.from(s, 'latin1');
  const bodyLength = (text: string) => {
    const i = text.indexOf('\r\n\r\n');
    return i < 0 ? 0 : text.length - i - 4;
  };
  // The placeholder may also sit in the body; iterate until the number describes the filled body.
  let n = bodyLength(s);
  for (let i = 0; i < 8; i++) {
    const next = bodyLength(s.split('<Content-Length>').join(String(n)));
    if (next === n) break;
    n = next;
  }
  return Buffer.from(s.split('<Content-Length>').join(String(n)), 'latin1');
}

/** Case file names 0000000..0004526 for the case numbers. */
export function protosCaseName(n: number): string {
  return String(n).padStart(7, '0');
}

export const MAX_UDP_PAYLOAD = 65_507;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The first line of a raw message, for reports (non-printable bytes escaped). */
export function firstLine(buf: Buffer, max = 100): string {
  const end = buf.indexOf('\r\n');
  const line = buf.subarray(0, end < 0 ? Math.min(buf.length, max) : Math.min(end, max)).toString('latin1');
  return line.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Compact description of a response for assertion messages. */
export function describe(m: SipMessage | null): string {
  if (!m) return 'no answer';
  const warning = header(m, 'warning');
  return `${m.startLine}${warning ? ` (Warning: ${warning})` : ''}`;
}

/** Lines of the box's output worth a look after a run: error records and anything that is not a JSON log record. */
export function notableOutput(out: string, max = 10): string[] {
  const lines = out.split('\n').filter((l) => l.trim() && (!l.startsWith('{') || /"level":"error"/.test(l)));
  const counts = new Map<string, number>();
  for (const l of lines) {
    const key = l.replace(/^\{"time":"[^"]*",/, '{').slice(0, 300);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].slice(0, max).map(([l, n]) => (n > 1 ? `${n} x ${l}` : l));
}

/**
 * Sends valid OPTIONS until the box answers 200; resolves with how many went unanswered first.
 * Needed because the box logs "confbox ready" before its SIP sockets are bound: a datagram sent
 * right then is lost (reported as a deviation; the conformance tests must not be skewed by it).
 */
export async function untilAnswering(boxPort: number, timeoutMs = 5000): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (let missed = 0; ; missed++) {
    const rs = await optionsAlive(boxPort, 300);
    if (rs?.status === 200) return missed;
    if (Date.now() > until) throw new Error(`the box did not answer OPTIONS within ${timeoutMs} ms of "confbox ready"`);
  }
}
