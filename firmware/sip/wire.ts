/**
 * Checks on a request's raw bytes that the `sip` package cannot make once it has parsed them:
 * it unescapes the method, stops parsing at odd separators, keeps the last of repeated
 * Content-Lengths and silently drops what it cannot parse. The verdicts let the box answer
 * 400 (or 501) as RFC 3261 and RFC 4475 expect, statelessly when the package dropped the message.
 */

import { parseUri } from './vendor/sip.js';

/** The methods the box answers; sent in Allow with 405 and 501. */
export const ALLOW = 'INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, UPDATE, PRACK, SUBSCRIBE, NOTIFY';

export interface WireVerdict {
  status: 400 | 501;
  reason: string;
}

const COMPACT: Record<string, string> = { i: 'call-id', t: 'to', f: 'from', l: 'content-length', v: 'via', m: 'contact', c: 'content-type', e: 'content-encoding', s: 'subject', k: 'supported' };
const SINGLE = ['call-id', 'to', 'from', 'cseq', 'max-forwards', 'content-length'];
/** Headers whose URIs the box copies into answers or sends requests to. */
const ROUTES = ['route', 'record-route', 'path'];
const METHOD = /^[A-Za-z0-9.!%*_+`'~-]+$/;
const SIP_URI = /^sips?:(?:[^@<>\s]*@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9.])?)(?::\d{1,5})?(?:[;?][^<>\s]*)?$/i;

export interface RawRequest {
  method: string;
  uri: string;
  version: string;
  /** Header lines unfolded, in order, with lower-case long names. */
  headers: Array<{ name: string; raw: string; value: string }>;
}

/** Splits the header section of a request; null when it does not even start like one. */
export function splitRequest(buf: Buffer): RawRequest | null {
  const text = buf.toString('latin1').replace(/^(\r\n)+/, '');
  const end = text.indexOf('\r\n\r\n');
  const head = end >= 0 ? text.slice(0, end) : text;
  const lines = head.split('\r\n');
  const start = lines.shift() ?? '';
  const m = /^(\S+) (.*) SIP\/(\S*)$/.exec(start);
  if (!m || start.startsWith('SIP/')) return null;
  const headers: RawRequest['headers'] = [];
  for (const line of lines) {
    if (/^[ \t]/.test(line) && headers.length) {
      const last = headers[headers.length - 1]!;
      last.value += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const raw = line.slice(0, colon).trim();
    const lower = raw.toLowerCase();
    headers.push({ name: COMPACT[lower] ?? lower, raw, value: line.slice(colon + 1).trim() });
  }
  return { method: m[1]!, uri: m[2]!, version: m[3]!, headers };
}

export function checkRequest(req: RawRequest): WireVerdict | null {
  if (!METHOD.test(req.method)) return { status: 400, reason: 'the method is not a token' };
  if (/\s/.test(req.uri) || req.uri === '') return { status: 400, reason: 'the request line has extra spaces' };
  if (/[<>]/.test(req.uri)) return { status: 400, reason: 'the request URI must not be enclosed in <>' };
  if (/^sips?:/i.test(req.uri) && !SIP_URI.test(req.uri)) return { status: 400, reason: 'the request URI host is invalid' };
  const counts = new Map<string, Set<string>>();
  for (const h of req.headers) {
    if (!counts.has(h.name)) counts.set(h.name, new Set());
    counts.get(h.name)!.add(h.value);
    if (SINGLE.includes(h.name) && h.value.includes(',') && h.name !== 'to' && h.name !== 'from') {
      return { status: 400, reason: `${h.raw} has more than one value` };
    }
    if (h.name === 'via' || h.name === 'contact') {
      const bare = unquoted(h.value);
      if (bare === null) return { status: 400, reason: `${h.raw} has an unterminated quoted string` };
      if (/;\s*[;,]|,\s*,|[;,]\s*$|^\s*[;,]/.test(bare)) return { status: 400, reason: `${h.raw} has empty parameters or values` };
    }
    if (ROUTES.includes(h.name) && !routeUrisReadable(h.value)) {
      return { status: 400, reason: `${h.raw} has a URI that cannot be read` };
    }
    if ((h.name === 'to' || h.name === 'from') && unquoted(h.value) === null) {
      return { status: 400, reason: `${h.raw} has an unterminated quoted string` };
    }
  }
  for (const name of SINGLE) {
    const values = counts.get(name);
    if (values && values.size > 1) return { status: 400, reason: `${name} is given more than once` };
    if (values && req.headers.filter((h) => h.name === name).length > 1 && name !== 'content-length') {
      return { status: 400, reason: `${name} is given more than once` };
    }
  }
  // The package unescapes the method: "RE%47IST%45R" must stay an unknown method, not become REGISTER.
  if (req.method.includes('%')) return { status: 501, reason: `${req.method.slice(0, 32)} is not supported` };
  return null;
}

/** Whether every <URI> of a Route, Record-Route or Path value is one the package reads, with a host. */
function routeUrisReadable(value: string): boolean {
  const uris = [...value.matchAll(/<([^>]*)>/g)].map((m) => m[1]!);
  return uris.length > 0 && uris.every((u) => Boolean(parseUri(u)?.host));
}

/** The value with quoted strings removed, or null when a quote is not closed. */
function unquoted(value: string): string | null {
  let out = '';
  let inQuote = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (inQuote) {
      if (c === '\\') i++;
      else if (c === '"') inQuote = false;
      continue;
    }
    if (c === '"') inQuote = true;
    else out += c;
  }
  return inQuote ? null : out;
}

/**
 * A response built from the raw request for messages the package dropped (RFC 3261 8.2.6):
 * Via, From, To (with a tag), Call-ID and CSeq copied as they came. Null when they are missing.
 */
export function statelessResponse(req: RawRequest, status: number, reasonPhrase: string, warning: string, toTag: string): string | null {
  if (req.method === 'ACK') return null;
  const pick = (name: string) => req.headers.filter((h) => h.name === name);
  const via = pick('via');
  const [from] = pick('from');
  const [to] = pick('to');
  const [callId] = pick('call-id');
  const [cseq] = pick('cseq');
  if (!via.length || !from || !to || !callId || !cseq) return null;
  const toValue = /;\s*tag=/i.test(to.value) ? to.value : `${to.value};tag=${toTag}`;
  const lines = [
    `SIP/2.0 ${status} ${reasonPhrase}`,
    ...via.map((v) => `Via: ${v.value}`),
    `From: ${from.value}`,
    `To: ${toValue}`,
    `Call-ID: ${callId.value}`,
    `CSeq: ${cseq.value}`,
    `Warning: ${warning}`,
    ...(status === 405 || status === 501 ? [`Allow: ${ALLOW}`] : []),
    'Content-Length: 0',
  ];
  return lines.join('\r\n') + '\r\n\r\n';
}

/**
 * Follows the framing of a TCP stream alongside the package's own parser and reports the first
 * request whose Content-Length makes the stream unreadable (negative, not a number, or given twice
 * with different values): RFC 4475 3.1.2.3 and 3.3.9 want an error answer and the connection closed.
 */
export class StreamFraming {
  private pending = '';
  private bodyLeft = 0;

  /** Feeds a chunk; returns the offending request when the stream just became unreadable. */
  push(chunk: string): RawRequest | null {
    if (this.bodyLeft > 0) {
      const skip = Math.min(this.bodyLeft, chunk.length);
      this.bodyLeft -= skip;
      chunk = chunk.slice(skip);
    }
    this.pending = (this.pending + chunk).slice(-131072);
    for (;;) {
      const end = this.pending.indexOf('\r\n\r\n');
      if (end < 0) return null;
      const head = this.pending.slice(0, end + 4);
      const req = splitRequest(Buffer.from(head, 'latin1'));
      const lengths = new Set(headValues(head, /^(content-length|l)\s*:(.*)$/i).map((v) => v.trim()));
      const [only] = [...lengths];
      if (lengths.size > 1 || (only !== undefined && !/^\d{1,9}$/.test(only))) {
        this.pending = '';
        return req ?? { method: '', uri: '', version: '', headers: [] };
      }
      const length = only === undefined ? 0 : Number(only);
      const rest = this.pending.slice(end + 4);
      if (rest.length >= length) this.pending = rest.slice(length);
      else {
        this.bodyLeft = length - rest.length;
        this.pending = '';
      }
    }
  }
}

function headValues(head: string, re: RegExp): string[] {
  return head.split('\r\n').map((l) => re.exec(l)?.[2]).filter((v): v is string => v !== undefined);
}
