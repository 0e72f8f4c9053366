/**
 * A small SIP user agent for integration tests: real UDP or TCP sockets on loopback, its own message builder and
 * a tolerant parser (no `sip` package), digest answers from firmware/sip/digest.ts, and a real RTP socket per call.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect, isIPv6, type Socket as TcpSocket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { answerChallenge } from '../../firmware/sip/digest.ts';
import type { CliResult, RunningBox } from './box.ts';

export type Transport = 'udp' | 'tcp' | 'tls';
export type Algorithm = 'SHA-256' | 'MD5';

const DEFAULT_TIMEOUT_MS = 10_000;

// --- messages ---

const COMPACT: Record<string, string> = {
  i: 'call-id', m: 'contact', e: 'content-encoding', l: 'content-length', c: 'content-type', f: 'from', s: 'subject',
  k: 'supported', t: 'to', v: 'via', o: 'event', u: 'allow-events', r: 'refer-to', x: 'session-expires',
};

/** A parsed SIP request or response; header names are lower-case full names, values in arrival order. */
export class SipMessage {
  constructor(
    /** The first line, as received. */
    readonly startLine: string,
    readonly headers: ReadonlyArray<readonly [string, string]>,
    readonly body: string,
    readonly raw: string,
  ) {}

  get isResponse(): boolean {
    return /^SIP\/2\.0\s/i.test(this.startLine);
  }

  get status(): number {
    const m = /^SIP\/2\.0\s+(\d{3})/i.exec(this.startLine);
    return m ? Number(m[1]) : 0;
  }

  get reason(): string {
    return /^SIP\/2\.0\s+\d{3}\s*(.*)$/i.exec(this.startLine)?.[1] ?? '';
  }

  get method(): string {
    return this.isResponse ? '' : (this.startLine.split(/\s+/)[0] ?? '').toUpperCase();
  }

  get uri(): string {
    return this.isResponse ? '' : (this.startLine.split(/\s+/)[1] ?? '');
  }

  get(name: string): string | undefined {
    return this.getAll(name)[0];
  }

  getAll(name: string): string[] {
    const n = name.toLowerCase();
    return this.headers.filter(([k]) => k === n).map(([, v]) => v);
  }

  get callId(): string {
    return this.get('call-id') ?? '';
  }

  get cseq(): { seq: number; method: string } {
    const m = /^\s*(\d+)\s+(\S+)/.exec(this.get('cseq') ?? '');
    return { seq: m ? Number(m[1]) : -1, method: (m?.[2] ?? '').toUpperCase() };
  }

  get toTag(): string | null {
    return tagOf(this.get('to'));
  }

  get fromTag(): string | null {
    return tagOf(this.get('from'));
  }

  /** The branch of the top Via. */
  get branch(): string {
    return /;\s*branch=([^;,\s]+)/i.exec(this.get('via') ?? '')?.[1] ?? '';
  }

  /** The quoted text of the first `Warning: 399 host "text"`, or undefined. */
  get warning(): string | undefined {
    for (const w of this.getAll('warning')) {
      const m = /^\s*399\s+\S+\s+"((?:[^"\\]|\\.)*)"/.exec(w);
      if (m) return m[1];
    }
    return undefined;
  }

  /** The whole Warning header(s), for messages. */
  get warningHeader(): string {
    return this.getAll('warning').join(' | ');
  }

  get contentType(): string {
    return (this.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  }

  /** The URI of the first Contact, without angle brackets. */
  get contactUri(): string | undefined {
    const c = this.get('contact');
    if (!c) return undefined;
    const m = /<([^>]*)>/.exec(c);
    return (m ? m[1] : c.split(/[;,]/)[0])!.trim();
  }

  /** Every Contact (also comma-joined ones) with its expires parameter. */
  contacts(): Array<{ uri: string; expires: number | null }> {
    const out: Array<{ uri: string; expires: number | null }> = [];
    for (const line of this.getAll('contact')) {
      for (const part of line.match(/(?:[^,"<]|"[^"]*"|<[^>]*>)+/g) ?? []) {
        const p = part.trim();
        if (!p) continue;
        const m = /<([^>]*)>(.*)$/.exec(p);
        const uri = (m ? m[1]! : p.split(';')[0]!).trim();
        const params = m ? m[2]! : p.slice(p.indexOf(';') >= 0 ? p.indexOf(';') : p.length);
        const e = /;\s*expires=(\d+)/i.exec(params);
        out.push({ uri, expires: e ? Number(e[1]) : null });
      }
    }
    return out;
  }

  /** Challenge values of WWW-Authenticate or Proxy-Authenticate, one per challenge even when comma-joined on a line. */
  challenges(): string[] {
    const name = this.status === 407 ? 'proxy-authenticate' : 'www-authenticate';
    return this.getAll(name).flatMap((v) => v.split(/,\s*(?=Digest\s)/i)).map((v) => v.trim());
  }

  /** One line for assertion messages. */
  describe(): string {
    return `${this.startLine}${this.warning !== undefined ? ` [Warning: "${this.warning}"]` : ''}`;
  }
}

function tagOf(header: string | undefined): string | null {
  if (!header) return null;
  const afterUri = header.includes('>') ? header.slice(header.lastIndexOf('>')) : header;
  return /;\s*tag=([^;,\s]+)/i.exec(afterUri)?.[1] ?? null;
}

/** Parses one message; tolerant of LF line ends, folded lines, compact names and a missing Content-Length. Null for garbage. */
export function parseMessage(input: string | Buffer): SipMessage | null {
  const raw = typeof input === 'string' ? input : input.toString('latin1');
  const text = raw.replace(/^(\r?\n)+/, '');
  const split = /\r?\n\r?\n/.exec(text);
  const head = split ? text.slice(0, split.index) : text;
  let body = split ? text.slice(split.index + split[0].length) : '';
  const lines: string[] = [];
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && lines.length > 1) lines[lines.length - 1] += ' ' + line.trim();
    else lines.push(line);
  }
  const start = lines.shift()?.trim() ?? '';
  if (!/^SIP\/2\.0\s+\d{3}/i.test(start) && !/^[A-Za-z][A-Za-z0-9.!%*_+`'~-]*\s+\S+\s+SIP\/2\.0$/i.test(start)) return null;
  const headers: Array<[string, string]> = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.push([COMPACT[name] ?? name, line.slice(colon + 1).trim()]);
  }
  const cl = headers.find(([k]) => k === 'content-length')?.[1];
  if (cl !== undefined && /^\d+$/.test(cl)) body = body.slice(0, Number(cl));
  return new SipMessage(start, headers, body, raw);
}

/** Splits a TCP byte stream into messages by Content-Length (RFC 3261 section 18.3); skips CRLF keep-alives. */
class StreamFramer {
  private buf = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.buf = Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    for (;;) {
      let skip = 0;
      while (skip < this.buf.length && (this.buf[skip] === 0x0d || this.buf[skip] === 0x0a)) skip++;
      if (skip) this.buf = this.buf.subarray(skip);
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const head = this.buf.subarray(0, end).toString('latin1');
      const m = /^(?:content-length|l)[ \t]*:[ \t]*(\d+)/im.exec(head);
      const total = end + 4 + (m ? Number(m[1]) : 0);
      if (this.buf.length < total) return out;
      out.push(this.buf.subarray(0, total));
      this.buf = this.buf.subarray(total);
    }
  }
}

/** A host as written in a URI or Via: an IPv6 address in brackets. */
export function hostText(address: string): string {
  return isIPv6(address) ? `[${address}]` : address;
}

export function newTag(): string {
  return randomBytes(6).toString('hex');
}

export function newBranch(): string {
  return 'z9hG4bK' + randomBytes(9).toString('hex');
}

export function newCallId(): string {
  return randomBytes(12).toString('hex') + '@phone.test';
}

/** Text as its UTF-8 bytes, one character a byte: how it goes into a message that sendRaw sends as latin1. */
export function utf8Bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Builds a request or response: start line, headers in the given order, then Content-Length and the body. */
export function buildMessage(startLine: string, headers: Array<[string, string]>, body = ''): string {
  const lines = [startLine, ...headers.filter(([k]) => k.toLowerCase() !== 'content-length').map(([k, v]) => `${k}: ${v}`)];
  lines.push(`Content-Length: ${Buffer.byteLength(body, 'latin1')}`);
  return lines.join('\r\n') + '\r\n\r\n' + body;
}

// --- SDP ---

const PAYLOAD: Record<string, { pt: number; rtpmap: string }> = {
  PCMU: { pt: 0, rtpmap: 'PCMU/8000' },
  PCMA: { pt: 8, rtpmap: 'PCMA/8000' },
  G722: { pt: 9, rtpmap: 'G722/8000' },
  G729: { pt: 18, rtpmap: 'G729/8000' },
};

export interface OfferOptions {
  address: string;
  port: number;
  /** In order of preference; default PCMU, PCMA. */
  codecs?: Array<keyof typeof PAYLOAD>;
  /** Adds telephone-event/8000 as payload type 101; default true. */
  dtmf?: boolean;
  direction?: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  /** The a=ptime line; default 20. */
  ptime?: number;
  sessionId?: string;
  version?: number;
  /** The m= line's transport; default RTP/AVP. */
  proto?: string;
  /** Extra media-level lines, e.g. a=crypto. */
  attributes?: string[];
}

/** An audio offer like a desk phone's: PCMU/PCMA/telephone-event at 20 ms. */
export function sdpOffer(o: OfferOptions): string {
  const codecs = o.codecs ?? ['PCMU', 'PCMA'];
  const pts = codecs.map((c) => PAYLOAD[c]!.pt);
  const dtmf = o.dtmf ?? true;
  if (dtmf) pts.push(101);
  const ip = isIPv6(o.address) ? 'IP6' : 'IP4';
  const lines = [
    'v=0',
    `o=phone ${o.sessionId ?? '4242'} ${o.version ?? 1} IN ${ip} ${o.address}`,
    's=phone',
    `c=IN ${ip} ${o.address}`,
    't=0 0',
    `m=audio ${o.port} ${o.proto ?? 'RTP/AVP'} ${pts.join(' ')}`,
    ...codecs.map((c) => `a=rtpmap:${PAYLOAD[c]!.pt} ${PAYLOAD[c]!.rtpmap}`),
    ...(dtmf ? ['a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16'] : []),
    `a=ptime:${o.ptime ?? 20}`,
    `a=${o.direction ?? 'sendrecv'}`,
    ...(o.attributes ?? []),
  ];
  return lines.join('\r\n') + '\r\n';
}

export interface SdpInfo {
  /** The c= address that applies to the first audio stream. */
  address: string | null;
  port: number;
  proto: string;
  formats: string[];
  /** Encoding names in m= line order (static payload types named by RFC 3551). */
  codecs: string[];
  direction: string;
  ptime: number | null;
}

/** The first audio stream of an SDP body, or null when there is none. */
export function parseSdp(body: string): SdpInfo | null {
  const lines = body.split(/\r?\n/);
  let sessionC: string | null = null;
  let info: SdpInfo | null = null;
  let sessionDir = 'sendrecv';
  let inFirstAudio = false;
  const rtpmap = new Map<string, string>();
  for (const line of lines) {
    if (line.startsWith('m=')) {
      if (info) {
        inFirstAudio = false;
        continue;
      }
      const [type = '', port = '', proto = '', ...formats] = line.slice(2).trim().split(/\s+/);
      if (type !== 'audio') continue;
      info = { address: sessionC, port: Number(port.split('/')[0]), proto, formats, codecs: [], direction: sessionDir, ptime: null };
      inFirstAudio = true;
    } else if (line.startsWith('c=')) {
      const addr = line.trim().split(/\s+/)[2] ?? null;
      if (!info) sessionC = addr;
      else if (inFirstAudio) info.address = addr;
    } else if (line.startsWith('a=')) {
      const a = line.slice(2).trim();
      const dir = /^(sendrecv|sendonly|recvonly|inactive)$/.test(a) ? a : null;
      if (!info && dir) sessionDir = dir;
      if (info && inFirstAudio) {
        if (dir) info.direction = dir;
        const m = /^rtpmap:(\d+)\s+([^/\s]+)/.exec(a);
        if (m) rtpmap.set(m[1]!, m[2]!);
        const p = /^ptime:(\d+)/.exec(a);
        if (p) info.ptime = Number(p[1]);
      }
    }
  }
  if (!info) return null;
  const statics: Record<string, string> = { '0': 'PCMU', '8': 'PCMA', '9': 'G722', '18': 'G729' };
  info.codecs = info.formats.map((f) => rtpmap.get(f) ?? statics[f] ?? `PT${f}`);
  return info;
}

/** A minimal RTP packet: version 2, PCMU, 20 ms of silence. */
export function rtpPacket(seq = 1, payloadType = 0): Buffer {
  const b = Buffer.alloc(12 + 160, 0xff);
  b[0] = 0x80;
  b[1] = payloadType & 0x7f;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE(seq * 160, 4);
  b.writeUInt32BE(0x12345678, 8);
  return b;
}

// --- the phone ---

export interface PhoneOptions {
  transport?: Transport;
  boxPort: number;
  /** Where the box listens; default 127.0.0.1. */
  boxAddress?: string;
  /** Extension number; also the From user. */
  user?: string;
  password?: string;
  displayName?: string;
  /** Source address of SIP and RTP; any 127.x.y.z works on Linux loopback. Default 127.0.0.1. */
  localAddress?: string;
  /** Retransmit requests over UDP as RFC 3261 timers A and E say (default true); never over TCP. */
  retransmit?: boolean;
  /** Over TLS: the certificate to trust for the box (its generated one). */
  ca?: Buffer;
  /** The User-Agent header of every request, as a desk phone names its model and firmware. */
  userAgent?: string;
}

const T1 = 500;
const T2 = 4000;
const TIMER_B = 32_000;

export interface RequestOptions {
  uri?: string;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  /** Adds ;tag= to To (an in-dialog request). */
  toTag?: string;
  toUser?: string;
  headers?: Array<[string, string]>;
  body?: string;
  contentType?: string;
  timeoutMs?: number;
}

export interface RegisterOptions {
  /** Expires header; omitted when undefined. */
  expires?: number;
  algorithm?: Algorithm;
  /** Overrides the phone's password (a wrong one, say). */
  password?: string;
  /** The Contact URI (without brackets); null sends no Contact (a query). Default: this phone's address. */
  contact?: string | null;
  /** Answer a 401 (default true). */
  auth?: boolean;
  timeoutMs?: number;
}

export interface SubscribeOptions {
  event?: string;
  /** Expires header; omitted when undefined. */
  expires?: number;
  /** Answer a 407 (default: when the phone has a password). */
  auth?: boolean;
  /** A subscription made before: the SUBSCRIBE goes within its dialog. */
  dialog?: Pick<Subscription, 'callId' | 'fromTag' | 'toTag' | 'cseq'>;
  timeoutMs?: number;
}

export interface Subscription {
  /** The final response to the (last) SUBSCRIBE. */
  final: SipMessage;
  callId: string;
  fromTag: string;
  /** The box's tag, from its 2xx. */
  toTag: string | null;
  /** CSeq of the last SUBSCRIBE. */
  cseq: number;
  /** The NOTIFYs of this subscription received so far, in order. */
  notifies(): SipMessage[];
  /** Resolves with the NOTIFY that comes after `since` of them (0: the first). */
  nextNotify(since: number, timeoutMs?: number): Promise<SipMessage>;
}

export interface RegisterResult {
  /** The last final response. */
  final: SipMessage;
  /** Every final response, first REGISTER's included. */
  finals: SipMessage[];
}

export interface InviteOptions {
  /** The body; undefined = the default offer on a freshly bound RTP port; null = no body. */
  sdp?: string | null;
  /** Default application/sdp when there is a body. */
  contentType?: string;
  /** Codecs of the default offer. */
  codecs?: OfferOptions['codecs'];
  /** Transport, extra lines and telephone-event of the default offer (SRTP: RTP/SAVP and a=crypto). */
  offer?: Pick<OfferOptions, 'proto' | 'attributes' | 'dtmf'>;
  /** Answer a 407/401 with credentials (default: when the phone has a password). */
  auth?: boolean;
  algorithm?: Algorithm;
  /** ACK every 2xx at once (default true). */
  autoAck?: boolean;
  headers?: Array<[string, string]>;
  /** Send the display name in From without quotes. */
  unquotedName?: boolean;
  /** The whole Request-URI instead of sip:<dial>@box. */
  requestUri?: string;
}

interface Waiter {
  test: (m: SipMessage) => boolean;
  resolve: (m: SipMessage) => void;
}

export class Phone {
  /** Every message received, in order. */
  readonly messages: SipMessage[] = [];
  readonly transport: Transport;
  readonly boxPort: number;
  readonly boxAddress: string;
  readonly localAddress: string;
  readonly user: string;
  readonly displayName: string;
  readonly userAgent: string;
  password: string | undefined;
  private waiters: Waiter[] = [];
  private calls = new Map<string, Call>();
  private udp: UdpSocket | null = null;
  private tcp: TcpSocket | null = null;
  private registerCallId = newCallId();
  private registerCseq = 0;
  private registerTag = newTag();
  private closed = false;
  private readonly retransmit: boolean;
  private readonly ca: Buffer | undefined;
  /** Client transactions being retransmitted over UDP, by branch + method. */
  private pendingTx = new Map<string, NodeJS.Timeout>();
  localPort = 0;

  private constructor(o: PhoneOptions) {
    this.transport = o.transport ?? 'udp';
    this.boxPort = o.boxPort;
    this.boxAddress = o.boxAddress ?? '127.0.0.1';
    this.localAddress = o.localAddress ?? '127.0.0.1';
    this.user = o.user ?? 'anonymous';
    this.password = o.password;
    this.displayName = o.displayName ?? `Phone ${this.user}`;
    this.userAgent = o.userAgent ?? 'confbox-test-phone';
    this.retransmit = o.retransmit ?? true;
    this.ca = o.ca;
  }

  static async open(o: PhoneOptions): Promise<Phone> {
    const p = new Phone(o);
    if (p.transport === 'udp') {
      const s = createSocket(isIPv6(p.localAddress) ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(0, p.localAddress, () => {
          s.off('error', reject);
          resolve();
        });
      });
      s.on('message', (b) => p.receive(b));
      s.on('error', () => undefined);
      p.udp = s;
      p.localPort = s.address().port;
    } else {
      const framer = new StreamFramer();
      const s = await new Promise<TcpSocket>((resolve, reject) => {
        const ready = () => {
          c.off('error', reject);
          resolve(c);
        };
        const c = p.transport === 'tls'
          ? tlsConnect({ socket: connect({ host: p.boxAddress, port: p.boxPort, localAddress: p.localAddress }), host: p.boxAddress, ca: p.ca }, ready)
          : connect({ host: p.boxAddress, port: p.boxPort, localAddress: p.localAddress }, ready);
        c.once('error', reject);
      });
      s.on('data', (chunk) => {
        for (const m of framer.push(chunk)) p.receive(m);
      });
      s.on('error', () => undefined);
      p.tcp = s;
      p.localPort = s.localPort ?? 0;
    }
    return p;
  }

  get domain(): string {
    return hostText(this.boxAddress);
  }

  get aor(): string {
    return `sip:${this.user}@${this.domain}`;
  }

  get contactUri(): string {
    return `sip:${this.user}@${hostText(this.localAddress)}:${this.localPort}${this.transport === 'udp' ? '' : `;transport=${this.transport}`}`;
  }

  via(branch: string): string {
    return `SIP/2.0/${this.transport.toUpperCase()} ${hostText(this.localAddress)}:${this.localPort};branch=${branch};rport`;
  }

  /** Sends bytes as they are, to the box. */
  sendRaw(data: string | Buffer): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (this.udp) this.udp.send(b, this.boxPort, this.boxAddress);
    else this.tcp?.write(b);
  }

  /**
   * Sends a request that starts a client transaction. Over UDP it is retransmitted (T1 doubling; capped at T2 for
   * non-INVITE) until a response (INVITE) or a final response (others) arrives, or for 32 s.
   */
  sendRequest(text: string, branch: string, method: string): void {
    this.sendRaw(text);
    if (this.transport !== 'udp' || !this.retransmit || method === 'ACK') return;
    const key = `${branch} ${method}`;
    const started = Date.now();
    let interval = T1;
    const again = () => {
      if (this.closed || Date.now() - started >= TIMER_B) return void this.pendingTx.delete(key);
      this.sendRaw(text);
      interval = method === 'INVITE' ? interval * 2 : Math.min(interval * 2, T2);
      this.pendingTx.set(key, setTimeout(again, interval));
    };
    this.pendingTx.set(key, setTimeout(again, interval));
  }

  /** Resolves with the first message (received from `since` on, default: any so far) that matches. */
  waitFor(test: (m: SipMessage) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS, since = 0, what = 'a matching message'): Promise<SipMessage> {
    const hit = this.messages.slice(since).find(test);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        const seen = this.messages.slice(since).map((m) => m.describe()).slice(-8).join('; ');
        reject(new Error(`phone ${this.user} (${this.transport}): no ${what} within ${timeoutMs} ms; received: ${seen || 'nothing'}`));
      }, timeoutMs);
      const waiter: Waiter = { test, resolve: (m) => { clearTimeout(timer); resolve(m); } };
      this.waiters.push(waiter);
    });
  }

  waitForResponse(test: (m: SipMessage) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS, since = 0): Promise<SipMessage> {
    return this.waitFor((m) => m.isResponse && test(m), timeoutMs, since, 'matching response');
  }

  /** The final response of the client transaction with this branch and method. */
  finalFor(branch: string, method: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<SipMessage> {
    return this.waitFor((m) => m.isResponse && m.branch === branch && m.cseq.method === method && m.status >= 200, timeoutMs, 0, `final response to ${method}`);
  }

  /** Sends an out-of-dialog (or, with toTag, in-dialog) request and resolves with its final response. */
  async request(method: string, o: RequestOptions = {}): Promise<SipMessage> {
    const branch = newBranch();
    const uri = o.uri ?? `sip:${o.toUser ?? 'confbox'}@${this.domain}:${this.boxPort}`;
    const headers: Array<[string, string]> = [
      ['Via', this.via(branch)],
      ['Max-Forwards', '70'],
      ['From', `"${utf8Bytes(this.displayName)}" <${this.aor}>;tag=${o.fromTag ?? newTag()}`],
      ['To', `<${uri}>${o.toTag ? `;tag=${o.toTag}` : ''}`],
      ['Call-ID', o.callId ?? newCallId()],
      ['CSeq', `${o.cseq ?? 1} ${method}`],
      ['Contact', `<${this.contactUri}>`],
      ['User-Agent', this.userAgent],
      ...(o.headers ?? []),
    ];
    if (o.body) headers.push(['Content-Type', o.contentType ?? 'application/sdp']);
    const final = this.finalFor(branch, method, o.timeoutMs);
    this.sendRequest(buildMessage(`${method} ${uri} SIP/2.0`, headers, o.body ?? ''), branch, method);
    return final;
  }

  /** REGISTER to the box, answering its 401 with the wanted algorithm's challenge. */
  async register(o: RegisterOptions = {}): Promise<RegisterResult> {
    const uri = `sip:${this.domain}:${this.boxPort}`;
    const finals: SipMessage[] = [];
    let authorization: string | null = null;
    for (let round = 0; round < 2; round++) {
      const branch = newBranch();
      const headers: Array<[string, string]> = [
        ['Via', this.via(branch)],
        ['Max-Forwards', '70'],
        ['From', `"${utf8Bytes(this.displayName)}" <${this.aor}>;tag=${this.registerTag}`],
        ['To', `<${this.aor}>`],
        ['Call-ID', this.registerCallId],
        ['CSeq', `${++this.registerCseq} REGISTER`],
      ];
      const contact = o.contact === undefined ? this.contactUri : o.contact;
      if (contact !== null) headers.push(['Contact', contact === '*' ? '*' : `<${contact}>`]);
      if (o.expires !== undefined) headers.push(['Expires', String(o.expires)]);
      if (authorization) headers.push(['Authorization', authorization]);
      headers.push(['User-Agent', this.userAgent]);
      const final = this.finalFor(branch, 'REGISTER', o.timeoutMs);
      this.sendRequest(buildMessage(`REGISTER ${uri} SIP/2.0`, headers), branch, 'REGISTER');
      const rs = await final;
      finals.push(rs);
      if (rs.status !== 401 || o.auth === false || authorization) break;
      authorization = this.answer(rs, 'REGISTER', uri, o.algorithm, o.password);
    }
    return { final: finals[finals.length - 1]!, finals };
  }

  /**
   * SUBSCRIBE to the box (a desk phone's BLF key), answering a 407 with credentials; the NOTIFYs that follow are in
   * `notifies()` (the phone answers them 200). With `dialog` it is a refresh (or, Expires 0, the end) within that subscription.
   */
  async subscribe(target: string, o: SubscribeOptions = {}): Promise<Subscription> {
    const uri = `sip:${target}@${this.domain}:${this.boxPort}`;
    const dialog = o.dialog;
    const callId = dialog?.callId ?? newCallId();
    const fromTag = dialog?.fromTag ?? newTag();
    let cseq = dialog ? dialog.cseq : 0;
    let authorization: string | null = null;
    let final: SipMessage | null = null;
    for (let round = 0; round < 2; round++) {
      const branch = newBranch();
      const headers: Array<[string, string]> = [
        ['Via', this.via(branch)],
        ['Max-Forwards', '70'],
        ['From', `"${utf8Bytes(this.displayName)}" <${this.aor}>;tag=${fromTag}`],
        ['To', `<${uri}>${dialog?.toTag ? `;tag=${dialog.toTag}` : ''}`],
        ['Call-ID', callId],
        ['CSeq', `${++cseq} SUBSCRIBE`],
        ['Contact', `<${this.contactUri}>`],
        ['Event', o.event ?? 'dialog'],
        ['Accept', 'application/dialog-info+xml'],
        ['User-Agent', this.userAgent],
      ];
      if (o.expires !== undefined) headers.push(['Expires', String(o.expires)]);
      if (authorization) headers.push(['Proxy-Authorization', authorization]);
      const pending = this.finalFor(branch, 'SUBSCRIBE', o.timeoutMs);
      this.sendRequest(buildMessage(`SUBSCRIBE ${uri} SIP/2.0`, headers), branch, 'SUBSCRIBE');
      final = await pending;
      if (final.status !== 407 || o.auth === false || authorization || !this.password) break;
      authorization = this.answer(final, 'SUBSCRIBE', uri);
    }
    const toTag = final!.status < 300 ? tagOf(final!.get('to') ?? '') : dialog?.toTag ?? null;
    // Retransmissions over UDP carry the same CSeq: each NOTIFY counts once.
    const notifies = () => {
      const seen = new Set<string>();
      return this.messages.filter((m) => !m.isResponse && m.method === 'NOTIFY' && m.callId === callId && !seen.has(m.get('cseq') ?? '') && seen.add(m.get('cseq') ?? ''));
    };
    return {
      final: final!, callId, fromTag, toTag, cseq, notifies,
      nextNotify: async (since: number, timeoutMs = DEFAULT_TIMEOUT_MS) => {
        await this.waitFor(() => notifies().length > since, timeoutMs, 0, `NOTIFY number ${since + 1} of the subscription`);
        return notifies()[since]!;
      },
    };
  }

  /** The Authorization value for a 401/407, using the challenge with the wanted algorithm. */
  answer(rs: SipMessage, method: string, uri: string, algorithm?: Algorithm, password?: string): string {
    const challenges = rs.challenges();
    const chosen = algorithm
      ? challenges.find((c) => new RegExp(`algorithm="?${algorithm.replace('-', '\\-')}"?(\\s|,|$)`, 'i').test(c))
      : challenges[0];
    if (!chosen) throw new Error(`no ${algorithm ?? 'digest'} challenge in ${rs.describe()}: ${challenges.join(' | ') || '(none)'}`);
    return answerChallenge(chosen, { username: this.user, password: password ?? this.password ?? '', method, uri });
  }

  /** Starts a call: binds an RTP port (for the default offer), sends the INVITE; `call.final()` waits for the answer. */
  async invite(dial: string, o: InviteOptions = {}): Promise<Call> {
    const call = new Call(this, dial, o);
    this.calls.set(call.callId, call);
    await call.start();
    return call;
  }

  /** invite() and wait for the final answer (after any digest round). */
  async dial(dial: string, o: InviteOptions = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Call> {
    const call = await this.invite(dial, o);
    await call.final(timeoutMs);
    return call;
  }

  /** Closes the SIP socket and every call's RTP socket. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.pendingTx.values()) clearTimeout(t);
    this.pendingTx.clear();
    for (const c of this.calls.values()) c.close();
    this.udp?.close();
    this.tcp?.destroy();
    this.waiters = [];
  }

  /** Answers a request from the box with a response copying its Via, From, To, Call-ID and CSeq. */
  respond(rq: SipMessage, status: number, reason: string, extra: Array<[string, string]> = []): void {
    let to = rq.get('to') ?? '';
    if (!tagOf(to)) to += `;tag=${newTag()}`;
    const headers: Array<[string, string]> = [
      ...rq.getAll('via').map((v): [string, string] => ['Via', v]),
      ['From', rq.get('from') ?? ''],
      ['To', to],
      ['Call-ID', rq.callId],
      ['CSeq', rq.get('cseq') ?? ''],
      ...extra,
    ];
    this.sendRaw(buildMessage(`SIP/2.0 ${status} ${reason}`, headers));
  }

  private receive(b: Buffer): void {
    const m = parseMessage(b);
    if (!m) return;
    this.messages.push(m);
    if (m.isResponse) {
      const key = `${m.branch} ${m.cseq.method}`;
      const timer = this.pendingTx.get(key);
      if (timer && (m.cseq.method === 'INVITE' || m.status >= 200)) {
        clearTimeout(timer);
        this.pendingTx.delete(key);
      }
    }
    if (!m.isResponse) this.onRequest(m);
    this.calls.get(m.callId)?.onMessage(m);
    for (const w of [...this.waiters]) {
      if (w.test(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  }

  private onRequest(rq: SipMessage): void {
    const call = this.calls.get(rq.callId);
    switch (rq.method) {
      case 'ACK':
        return;
      case 'BYE':
        if (!call) return this.respond(rq, 481, 'Call/Transaction Does Not Exist');
        return this.respond(rq, 200, 'OK');
      case 'OPTIONS':
      case 'INFO':
      case 'NOTIFY':
        return this.respond(rq, 200, 'OK');
      default:
        return this.respond(rq, 501, 'Not Implemented');
    }
  }
}

/** One call from a phone to the box: the INVITE transaction(s) and the dialog that follows. */
export class Call {
  readonly callId = newCallId();
  readonly fromTag = newTag();
  /** Every response to this call's INVITEs (initial, digest retry, re-INVITEs), retransmissions included. */
  readonly responses: SipMessage[] = [];
  /** Requests the box sent within this call (BYE...). */
  readonly requests: SipMessage[] = [];
  /** The box's tag, from the final response to the INVITE. */
  toTag: string | null = null;
  /** CSeq of the current INVITE. */
  cseq = 0;
  inviteBranch = '';
  /** Where in-dialog requests go: the box's Contact. */
  remoteTarget: string;
  /** The body of the current INVITE. */
  offer: string | null = null;
  /** The RTP socket of the default offer. */
  rtp: UdpSocket | null = null;
  rtpPort = 0;
  readonly rtpIn: Buffer[] = [];
  /** The last RTP socket error (e.g. ECONNREFUSED after sending to an unbound port). */
  rtpError: Error | null = null;
  ended = false;
  private localCseq = 0;
  private readonly requestUri: string;
  /** The final answer to each INVITE CSeq; retransmissions are only counted. */
  private finals = new Map<number, SipMessage>();
  private inviteUris = new Map<number, { branch: string; to: string; uri: string }>();
  private authTried = false;
  private finalWaiters: Array<(m: SipMessage) => void> = [];
  /** Whether the 2xx to each INVITE CSeq is ACKed automatically. */
  private ackOn = new Map<number, boolean>();
  private established = false;
  private readonly autoAck: boolean;
  private readonly auth: boolean;
  private rtpSeq = 1;

  constructor(readonly phone: Phone, readonly dial: string, private readonly o: InviteOptions) {
    this.requestUri = o.requestUri ?? `sip:${dial}@${phone.domain}:${phone.boxPort}`;
    this.remoteTarget = this.requestUri;
    this.autoAck = o.autoAck ?? true;
    this.auth = o.auth ?? phone.password !== undefined;
  }

  async start(): Promise<void> {
    if (this.o.sdp === undefined) {
      const s = createSocket(isIPv6(this.phone.localAddress) ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(0, this.phone.localAddress, () => {
          s.off('error', reject);
          resolve();
        });
      });
      s.on('message', (b) => this.rtpIn.push(b));
      s.on('error', (e) => (this.rtpError = e));
      this.rtp = s;
      this.rtpPort = s.address().port;
      this.offer = sdpOffer({ address: this.phone.localAddress, port: this.rtpPort, codecs: this.o.codecs, ...this.o.offer });
    } else {
      this.offer = this.o.sdp;
    }
    this.sendInvite(null);
  }

  /** The final response to the current INVITE (after the digest round, if any). */
  final(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<SipMessage> {
    const have = this.finals.get(this.cseq);
    if (have && !this.isChallengeToAnswer(have)) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no final response to INVITE ${this.dial} (CSeq ${this.cseq}) within ${timeoutMs} ms; got: ${this.responses.map((r) => r.describe()).join('; ') || 'nothing'}`));
      }, timeoutMs);
      this.finalWaiters.push((m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }

  /** The status of the final answer so far (0 before it). */
  get status(): number {
    return this.finals.get(this.cseq)?.status ?? 0;
  }

  /** The box's SDP answer in the 2xx to the current INVITE. */
  get answer(): SdpInfo | null {
    const f = this.finals.get(this.cseq);
    return f && f.status < 300 ? parseSdp(f.body) : null;
  }

  /** How many 200 OKs arrived for an INVITE CSeq (default: the current one); retransmissions are count - 1. */
  okCount(cseq = this.cseq): number {
    return this.responses.filter((r) => r.status >= 200 && r.status < 300 && r.cseq.method === 'INVITE' && r.cseq.seq === cseq).length;
  }

  /** ACK for the 2xx of the current INVITE (a new transaction, sent to the box's Contact). */
  ack(cseq = this.cseq): void {
    const headers: Array<[string, string]> = [
      ['Via', this.phone.via(newBranch())],
      ['Max-Forwards', '70'],
      ['From', this.from()],
      ['To', this.to()],
      ['Call-ID', this.callId],
      ['CSeq', `${cseq} ACK`],
    ];
    this.phone.sendRaw(buildMessage(`ACK ${this.remoteTarget} SIP/2.0`, headers));
  }

  async bye(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<SipMessage> {
    const rs = await this.inDialog('BYE', undefined, timeoutMs);
    this.ended = true;
    return rs;
  }

  /** CANCEL for the current INVITE; resolves with the response to the CANCEL (the INVITE's 487 comes to final()). */
  cancel(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<SipMessage> {
    const headers: Array<[string, string]> = [
      ['Via', this.phone.via(this.inviteBranch)],
      ['Max-Forwards', '70'],
      ['From', this.from()],
      ['To', `<${this.requestUri}>`],
      ['Call-ID', this.callId],
      ['CSeq', `${this.cseq} CANCEL`],
    ];
    const rs = this.phone.finalFor(this.inviteBranch, 'CANCEL', timeoutMs);
    this.phone.sendRequest(buildMessage(`CANCEL ${this.requestUri} SIP/2.0`, headers), this.inviteBranch, 'CANCEL');
    return rs;
  }

  /** A re-INVITE in the dialog; resolves with its final response (ACKed unless autoAck is false). */
  async reinvite(sdp: string, o: { autoAck?: boolean; timeoutMs?: number } = {}): Promise<SipMessage> {
    this.offer = sdp;
    this.sendInDialogInvite(o.autoAck);
    return this.final(o.timeoutMs);
  }

  /** Waits for a request of this method from the box in this call (a BYE is answered 200 automatically). */
  waitForRequest(method: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<SipMessage> {
    return this.phone.waitFor((m) => !m.isResponse && m.method === method && m.callId === this.callId, timeoutMs, 0, `${method} for call ${this.dial}`);
  }

  /** Whether the box sent a request of this method in this call so far. */
  received(method: string): boolean {
    return this.requests.some((r) => r.method === method);
  }

  /** Sends one RTP packet to the port and address of the box's answer. */
  sendRtp(): void {
    const a = this.answer;
    if (!this.rtp || !a || !a.address) throw new Error('sendRtp: no RTP socket or no answer');
    this.rtp.send(rtpPacket(this.rtpSeq++), a.port, a.address);
  }

  /** Resolves when an RTP packet arrived from the box. */
  async waitForRtp(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.rtpIn.length === 0) {
      if (Date.now() > deadline) throw new Error(`no RTP from the box on port ${this.rtpPort} within ${timeoutMs} ms`);
      await sleep(50);
    }
    return this.rtpIn[0]!;
  }

  close(): void {
    try {
      this.rtp?.close();
    } catch {
      // already closed
    }
    this.rtp = null;
  }

  onMessage(m: SipMessage): void {
    if (!m.isResponse) {
      this.requests.push(m);
      if (m.method === 'BYE') this.ended = true;
      return;
    }
    const { seq, method } = m.cseq;
    if (method !== 'INVITE') return;
    this.responses.push(m);
    if (m.status < 200) return;
    const first = !this.finals.has(seq);
    if (m.status < 300) {
      if (first) {
        this.toTag = m.toTag;
        this.remoteTarget = m.contactUri ?? this.remoteTarget;
      }
      this.established = true;
      if (this.ackOn.get(seq)) this.ack(seq);
    } else {
      this.ackNon2xx(m);
    }
    if (!first) return;
    this.finals.set(seq, m);
    if (seq !== this.cseq) return;
    if (this.isChallengeToAnswer(m)) {
      this.authTried = true;
      const auth = this.phone.answer(m, 'INVITE', this.requestUri, this.o.algorithm);
      this.sendInvite(auth, m.status === 401 ? 'Authorization' : 'Proxy-Authorization');
      return;
    }
    const waiters = this.finalWaiters.splice(0);
    for (const w of waiters) w(m);
  }

  /** Challenges are answered once, for the initial INVITE only. */
  private isChallengeToAnswer(m: SipMessage): boolean {
    return (m.status === 407 || m.status === 401) && this.auth && !this.authTried && !this.established;
  }

  private from(): string {
    // Most phones quote the display name; some send it bare, UTF-8 and all (RFC 3261 wants a quoted-string then).
    const name = utf8Bytes(this.phone.displayName);
    return `${this.o.unquotedName ? name : `"${name}"`} <${this.phone.aor}>;tag=${this.fromTag}`;
  }

  private to(): string {
    return `<${this.requestUri}>${this.toTag ? `;tag=${this.toTag}` : ''}`;
  }

  private body(): Array<[string, string]> {
    return this.offer ? [['Content-Type', this.o.contentType ?? 'application/sdp']] : [];
  }

  private sendInvite(auth: string | null, authHeader = 'Proxy-Authorization'): void {
    this.cseq = ++this.localCseq;
    this.inviteBranch = newBranch();
    this.inviteUris.set(this.cseq, { branch: this.inviteBranch, to: `<${this.requestUri}>`, uri: this.requestUri });
    this.ackOn.set(this.cseq, this.autoAck);
    const headers: Array<[string, string]> = [
      ['Via', this.phone.via(this.inviteBranch)],
      ['Max-Forwards', '70'],
      ['From', this.from()],
      ['To', `<${this.requestUri}>`],
      ['Call-ID', this.callId],
      ['CSeq', `${this.cseq} INVITE`],
      ['Contact', `<${this.phone.contactUri}>`],
      ['Allow', 'INVITE, ACK, CANCEL, BYE, OPTIONS, INFO'],
      ['User-Agent', this.phone.userAgent],
      ...(this.o.headers ?? []),
      ...(auth ? [[authHeader, auth] as [string, string]] : []),
      ...this.body(),
    ];
    this.phone.sendRequest(buildMessage(`INVITE ${this.requestUri} SIP/2.0`, headers, this.offer ?? ''), this.inviteBranch, 'INVITE');
  }

  private sendInDialogInvite(autoAck?: boolean): void {
    this.cseq = ++this.localCseq;
    this.inviteBranch = newBranch();
    this.inviteUris.set(this.cseq, { branch: this.inviteBranch, to: this.to(), uri: this.remoteTarget });
    this.ackOn.set(this.cseq, autoAck ?? true);
    const headers: Array<[string, string]> = [
      ['Via', this.phone.via(this.inviteBranch)],
      ['Max-Forwards', '70'],
      ['From', this.from()],
      ['To', this.to()],
      ['Call-ID', this.callId],
      ['CSeq', `${this.cseq} INVITE`],
      ['Contact', `<${this.phone.contactUri}>`],
      ...this.body(),
    ];
    this.phone.sendRequest(buildMessage(`INVITE ${this.remoteTarget} SIP/2.0`, headers, this.offer ?? ''), this.inviteBranch, 'INVITE');
  }

  /** ACK for a non-2xx final response: same branch as its INVITE, To from the response. */
  private ackNon2xx(m: SipMessage): void {
    const tx = this.inviteUris.get(m.cseq.seq);
    if (!tx) return;
    const headers: Array<[string, string]> = [
      ['Via', this.phone.via(tx.branch)],
      ['Max-Forwards', '70'],
      ['From', this.from()],
      ['To', m.get('to') ?? tx.to],
      ['Call-ID', this.callId],
      ['CSeq', `${m.cseq.seq} ACK`],
    ];
    this.phone.sendRaw(buildMessage(`ACK ${tx.uri} SIP/2.0`, headers));
  }

  /** An INFO in the dialog with the body (e.g. a key as application/dtmf-relay); resolves with its final response. */
  info(contentType: string, body: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<SipMessage> {
    return this.inDialog('INFO', body, timeoutMs, [['Content-Type', contentType]]);
  }

  private inDialog(method: string, body: string | undefined, timeoutMs: number, extra: Array<[string, string]> = []): Promise<SipMessage> {
    const branch = newBranch();
    const headers: Array<[string, string]> = [
      ['Via', this.phone.via(branch)],
      ['Max-Forwards', '70'],
      ['From', this.from()],
      ['To', this.to()],
      ['Call-ID', this.callId],
      ['CSeq', `${++this.localCseq} ${method}`],
      ...extra,
    ];
    const rs = this.phone.finalFor(branch, method, timeoutMs);
    this.phone.sendRequest(buildMessage(`${method} ${this.remoteTarget} SIP/2.0`, headers, body ?? ''), branch, method);
    return rs;
  }
}

// --- helpers for tests against a running box ---

/** The RTP port range the box was started with, read from its "media ready" log line. */
export function rtpRange(box: RunningBox): { min: number; max: number } {
  const m = /"msg":"media ready"[^\n]*"rtpPorts":"(\d+)-(\d+)"/.exec(box.output());
  if (!m) throw new Error('the box did not log its RTP port range ("media ready")');
  return { min: Number(m[1]), max: Number(m[2]) };
}

/** True when a UDP port on the address is held by someone (binding it fails with EADDRINUSE). */
export function udpPortBound(port: number, address = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', (e: NodeJS.ErrnoException) => {
      s.close();
      resolve(e.code === 'EADDRINUSE');
    });
    s.bind(port, address, () => s.close(() => resolve(false)));
  });
}

/** Polls until fn returns a truthy value (or stops throwing); rejects with the last reason after timeoutMs. */
export async function eventually<T>(fn: () => Promise<T> | T, timeoutMs = 20_000, intervalMs = 250, what = 'condition'): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what} not reached within ${timeoutMs} ms${last ? `: ${last instanceof Error ? last.message : String(last)}` : ''}`);
    await sleep(intervalMs);
  }
}

/** `room list --json`, parsed. */
export async function roomList(box: RunningBox): Promise<Array<Record<string, unknown>>> {
  const r = await box.cli('room', 'list', '--json');
  if (r.code !== 0) throw new Error(`room list --json failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
}
