// The TypeScript fuzz targets: every parser of the firmware that reads what a stranger sends (SIP datagrams and
// streams, SDP, digest credentials, DTMF INFO bodies, HTTP request bodies, whole requests to the web page and API) or
// what a technician loads (a backup file, a setting, a dialled code). Each says what must hold beyond "no crash": the
// only errors that may escape are the product's own (BoxError), and where the format allows it, what was read reads
// back the same when written again; web-request.ts says what every answer of the web server must be.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage } from 'node:http';
import { readBackup, writeBackup } from '../../firmware/backup/index.ts';
import { parseFeatureCode } from '../../firmware/conference/feature-code.ts';
import { parseSetting, SETTINGS } from '../../firmware/conference/settings.ts';
import { BoxError } from '../../firmware/errors.ts';
import { authObject } from '../../firmware/sip/messages.ts';
import { digestResponse, parseAuthorization } from '../../firmware/sip/digest.ts';
import { parseDtmfInfo } from '../../firmware/sip/dtmf-info.ts';
import { acceptAnswer, negotiate, type LocalMedia } from '../../firmware/sip/sdp.ts';
import { checkMessage, makeResponse, makeStreamParser, parse, stringify } from '../../firmware/sip/vendor/message.js';
import { copiedRecordRoute } from '../../firmware/sip/routes.ts';
import { checkRequest, splitRequest, statelessResponse, StreamFraming } from '../../firmware/sip/wire.ts';
import { readRequestBody } from '../../firmware/web/request-body.ts';
import { check, FuzzFinding, type FuzzTarget } from './coverage-fuzzer.ts';
import { WEB_REQUEST } from './web-request.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFORMANCE = process.env.CONFORMANCE ?? join(ROOT, '../shared/conformance');

/** Files under dir (recursively) whose names end with one of the suffixes; none if dir is missing. */
function files(dir: string, suffixes: string[], limit = 400): Buffer[] {
  if (!existsSync(dir)) return [];
  const out: Buffer[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      if (out.length >= limit) return;
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (suffixes.some((s) => name.endsWith(s)) && statSync(p).size <= 65536) out.push(readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/** The messages the tests' SIPp scenarios send, with their [fields] filled in as SIPp would. */
function sippMessages(): Buffer[] {
  const dir = join(ROOT, 'test/sipp');
  const out: Buffer[] = [];
  for (const name of readdirSync(dir).filter((n) => n.endsWith('.xml')).sort()) {
    const xml = readFileSync(join(dir, name), 'utf8');
    for (const m of xml.matchAll(/<send[^>]*>\s*<!\[CDATA\[([\s\S]*?)\]\]>/g)) {
      const text = m[1]!.trim()
        .replace(/\[service\]/g, '*400*2*5678').replace(/\[remote_ip\]|\[local_ip\]|\[media_ip\]/g, '192.0.2.7')
        .replace(/\[remote_port\]|\[local_port\]/g, '5060').replace(/\[media_port\]/g, '40000').replace(/\[call_id\]/g, 'fuzz-call@192.0.2.7')
        .replace(/\[branch\]/g, 'z9hG4bK-fuzz').replace(/\[pid\]|\[call_number\]|\[cseq\]/g, '1').replace(/\[transport\]/g, 'UDP')
        .replace(/\[local_ip_type\]|\[media_ip_type\]/g, '4').replace(/\[len\]/g, '0').replace(/\[[a-z_0-9:$+-]+\]/gi, 'x');
      const [head, body = ''] = text.split(/\n\s*\n/, 2);
      const crlf = (s: string) => s.split('\n').map((l) => l.trim()).join('\r\n');
      const content = body ? crlf(body) + '\r\n' : '';
      out.push(Buffer.from(crlf(head!).replace(/Content-Length: *\d+/i, `Content-Length: ${content.length}`) + '\r\n\r\n' + content, 'latin1'));
    }
  }
  return out;
}

/** The bodies of the SIPp scenarios' messages that carry SDP. */
function sippSdp(): Buffer[] {
  return sippMessages().map((m) => m.toString('latin1')).filter((t) => t.includes('\r\n\r\nv=0')).map((t) => Buffer.from(t.slice(t.indexOf('\r\n\r\n') + 4), 'latin1'));
}

/** Runs fn; an error that is not the product's own is a finding. */
function onlyBoxErrors(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof BoxError)) throw new FuzzFinding(`${(err as Error)?.name ?? typeof err} escaped instead of a BoxError: ${(err as Error)?.message ?? err}`);
    check(typeof err.message === 'string' && err.message.length > 0 && err.message.length < 2000, 'a BoxError says what was wrong in a bounded message');
  }
}

const SIP_WORDS = ['\r\n', '\r\n\r\n', ': ', ';', ',', '<sip:', '>', '@', '"', 'tag=', 'branch=z9hG4bK', 'SIP/2.0', 'Via: SIP/2.0/UDP ', 'To: ', 'From: ',
  'Call-ID: ', 'CSeq: 1 INVITE', 'Content-Length: ', 'Contact: ', 'Max-Forwards: 70', 'l: ', 'v: ', 'i: ', 'm: ', 'INVITE ', 'REGISTER ', 'ACK ',
  'sips:', '[2001:db8::1]', ';rport', ';received=', ';lr', ' ', '\t', '%', '*400*2*5678', 'Authorization: Digest ', 'Content-Type: application/sdp'];
const SDP_WORDS = ['\r\n', 'v=0', 'o=- 1 1 IN IP4 192.0.2.7', 's=-', 'c=IN IP4 ', 'c=IN IP6 ', 't=0 0', 'm=audio ', ' RTP/AVP ', ' RTP/SAVP ', 'a=rtpmap:',
  'a=fmtp:', 'a=ptime:', 'a=sendonly', 'a=recvonly', 'a=inactive', 'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:', 'telephone-event/8000', 'PCMU/8000',
  'G722/8000', '0.0.0.0', '::', 'm=video ', ' 0 8 9 101', '|2^31|1:1', ' '];

const LOCAL: LocalMedia = { address: '192.0.2.10', port: 40000, codecs: ['PCMU', 'PCMA', 'G722'], sessionId: '4711', sessionVersion: 1 };
const SRTP_LOCAL: LocalMedia = { ...LOCAL, srtp: { policy: 'optional', key: new Uint8Array(30).fill(7) } };

const fakeRequest = (contentType: string, body: Buffer) => Object.assign(Readable.from([body]), { headers: { 'content-type': contentType } }) as unknown as IncomingMessage;

export const TARGETS: FuzzTarget[] = [
  {
    name: 'sip-datagram',
    about: 'a UDP datagram: the wire checks (splitRequest, checkRequest, statelessResponse) and the message parser; the box\'s answer to a request it handles (with its Record-Route) reads back the same',
    seeds: () => [...files(join(CONFORMANCE, 'rfc4475/messages'), ['.dat']), ...files(join(CONFORMANCE, 'rfc5118'), ['']), ...files(join(CONFORMANCE, 'sdp-rtp'), ['.sip']), ...sippMessages()],
    dictionary: SIP_WORDS,
    run(input) {
      const raw = splitRequest(input);
      const verdict = raw ? checkRequest(raw) : null;
      if (raw) {
        const text = statelessResponse(raw, verdict?.status ?? 400, 'Bad Request', '399 confbox "fuzz"', 'abcd1234');
        if (text !== null) check(/^SIP\/2\.0 \d{3} /.test(text) && text.endsWith('\r\n\r\n'), 'a stateless answer is a whole response');
      }
      const m = parse(input);
      // what the box goes on to handle: a message the package reads whose request, if it is one, passed the wire checks
      if (!m || !checkMessage(m) || verdict) return;
      if (!m.method) return;
      // the box's answer to it, as the box builds one (the request's Via, From, To, Call-ID, CSeq and Record-Route), is a
      // message that reads back the same
      const rs = makeResponse(m, 200, 'OK', { headers: { 'record-route': copiedRecordRoute(m) } });
      const again = parse(stringify(rs));
      check(again !== undefined && checkMessage(again), 'the box\'s answer to a request it handles reads back as a message');
      check(again.status === 200 && again.headers['call-id'] === m.headers['call-id'] && again.headers.via?.length === m.headers.via?.length, 'Call-ID and Via survive into the answer');
      check((again.headers['record-route']?.length ?? 0) === (m.headers['record-route']?.length ?? 0), 'the Record-Route entries survive into the answer');
    },
  },
  {
    name: 'sip-stream',
    about: 'a TCP stream cut into pieces where the input says: the stream parser and the box\'s framing check',
    seeds: () => sippMessages(),
    dictionary: SIP_WORDS,
    run(input) {
      const text = input.toString('latin1');
      const framing = new StreamFraming();
      let messages = 0;
      const feed = makeStreamParser(() => messages++, () => undefined, 60480, 604800);
      for (let at = 0, step = 1; at < text.length; at += step, step = 1 + ((input[at] ?? 0) % 97)) {
        const chunk = text.slice(at, at + step);
        feed(chunk);
        framing.push(chunk);
      }
      check(messages <= text.length / 4, 'no more messages than the stream can hold');
    },
  },
  {
    name: 'sdp',
    about: 'an SDP offer (negotiate, plain and with SRTP) and an SDP answer (acceptAnswer); an answer the box writes reads back with the same codec',
    seeds: () => [...files(join(CONFORMANCE, 'sdp-rtp'), ['.sdp']), ...sippSdp()],
    dictionary: SDP_WORDS,
    run(input) {
      const text = input.toString('utf8');
      for (const local of [LOCAL, SRTP_LOCAL]) {
        const n = negotiate(text, local);
        if (!n.ok) {
          check(n.status === 400 || n.status === 488, 'a refused offer is 400 or 488');
          check(n.reason.length > 0 && n.reason.length < 500, 'a refusal names what was wrong, briefly');
          continue;
        }
        check(n.answer.length < 8192, 'the answer fits a datagram');
        // what the box writes is well-formed SDP it reads itself: its answer, taken as an offer, is one it accepts
        const back = negotiate(n.answer, { ...local, port: 40002 });
        check(back.ok && back.remote.codec === n.remote.codec, `the box's answer read as an offer: ${back.ok ? back.remote.codec : back.reason}`);
      }
      acceptAnswer(text, LOCAL);
    },
  },
  {
    name: 'digest',
    about: 'an Authorization header (parseAuthorization) and a challenge (authObject)',
    seeds: () => [
      Buffer.from(`Digest username="201", realm="confbox", nonce="abc", uri="sip:*400*2*5678@192.0.2.10", response="${digestResponse({ algorithm: 'MD5', sess: false, ha1: 'a'.repeat(32), nonce: 'abc', method: 'INVITE', uri: 'sip:x', qop: 'auth', nc: '00000001', cnonce: 'c' })}", algorithm=MD5, qop=auth, nc=00000001, cnonce="c"`),
      Buffer.from('Digest realm="confbox", nonce="n", algorithm=SHA-256, qop="auth"'),
    ],
    dictionary: ['Digest ', 'username=', 'realm=', 'nonce=', 'uri=', 'response=', 'algorithm=', 'MD5', 'SHA-256', 'qop=', 'auth', 'nc=', 'cnonce=', 'opaque=', '"', '\\"', ', ', '='],
    run(input) {
      const text = input.toString('utf8');
      const c = parseAuthorization(text);
      if (c) check(typeof c.username === 'string' && typeof c.response === 'string', 'parsed credentials have a username and a response');
      onlyBoxErrors(() => authObject(text));
    },
  },
  {
    name: 'dtmf-info',
    about: 'an INFO request\'s Content-Type and body (parseDtmfInfo): a key is one of 0-9 * # A-D',
    seeds: () => [Buffer.from('application/dtmf-relay\nSignal=5\r\nDuration=160\r\n'), Buffer.from('application/dtmf\n#'), Buffer.from('application/dtmf-relay; x=y\nsignal= *\n')],
    dictionary: ['application/dtmf-relay', 'application/dtmf', '\n', '\r\n', 'Signal=', 'Duration=', '*', '#', 'A', '16', '=', ';'],
    run(input) {
      const text = input.toString('utf8');
      const nl = text.indexOf('\n');
      const r = parseDtmfInfo(nl < 0 ? text : text.slice(0, nl), nl < 0 ? '' : text.slice(nl + 1));
      if (r.ok) check(r.key === null || /^[0-9*#A-D]$/.test(r.key), `a key is one key: ${r.key}`);
      else check([400, 415].includes(r.status) && r.reason.length < 500, 'a refused body is 400 or 415 with a short reason');
    },
  },
  {
    name: 'http-body',
    about: 'an HTTP request body as JSON, a URL-encoded form or a multipart upload (readRequestBody): only BoxErrors',
    seeds: () => [Buffer.from('application/json\n{"id":2,"pin":"5678"}'), Buffer.from('application/x-www-form-urlencoded\nid=2&pin=5678&keep=on'),
      Buffer.from('multipart/form-data; boundary=XyZ\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="b.json"\r\nContent-Type: application/json\r\n\r\n{}\r\n--XyZ--\r\n')],
    dictionary: ['application/json\n', 'application/x-www-form-urlencoded\n', 'multipart/form-data; boundary=', '--', '\r\n', 'Content-Disposition: form-data; name="', '"; filename="', '%', '&', '=', '{', '}', '[', ']', '"', '+', '%ZZ', '%00'],
    async run(input) {
      const text = input.toString('latin1');
      const nl = text.indexOf('\n');
      try {
        await readRequestBody(fakeRequest(nl < 0 ? '' : text.slice(0, nl), input.subarray(nl + 1)));
      } catch (err) {
        if (!(err instanceof BoxError)) throw new FuzzFinding(`${(err as Error)?.name} escaped readRequestBody instead of a BoxError: ${(err as Error)?.message}`);
      }
    },
  },
  WEB_REQUEST,
  {
    name: 'backup',
    about: 'a backup file (readBackup): only BoxErrors, and what it reads is written and read back the same',
    seeds: () => [Buffer.from(writeBackup({ rooms: [{ id: 2, pin: '5829', duration: 90, creator: '201', maxParticipants: 5, createdAt: new Date('2026-11-01T08:00:00.000Z'), createdVia: 'web', keep: true, moderatorPin: '7316', record: true, waitForModerator: true, moderatorLeaves: 'end' }],
      extensions: [{ number: '201', displayName: 'Zoë', realm: 'confbox', ha1Md5: 'a'.repeat(32), ha1Sha256: 'b'.repeat(64) }], peers: [{ cidr: '192.0.2.5/32', description: 'PBX', transport: 'tls', outboundPort: 5061 }],
      settings: [{ name: 'maxParticipants', value: '6' }], adminPasswordHash: null, tokens: [] }, { firmware: '0.1.0', now: new Date('2026-12-01T00:00:00Z') }))],
    dictionary: ['"rooms"', '"extensions"', '"peers"', '"settings"', '"format"', '"confbox-backup"', '"version"', '"content"', '"sealed"', 'null', 'true', '[]', '{}', '"2026-13-45T00:00:00Z"', '-1', '1e999', '"'],
    run(input) {
      onlyBoxErrors(() => {
        const read = readBackup(input.toString('utf8'));
        const again = readBackup(writeBackup(read.configuration, { firmware: '0.1.0', now: new Date('2026-12-01T00:00:00Z') }));
        check(isDeepStrictEqual(again.configuration, read.configuration), 'a backup that was read writes and reads back the same');
      });
    },
  },
  {
    name: 'settings',
    about: 'a setting as a technician types it (parseSetting for every setting, parseFeatureCode for a dialled code): only BoxErrors',
    seeds: () => [Buffer.from('maxParticipants=5'), Buffer.from('srtp=required'), Buffer.from('*401*2*5678*120'), Buffer.from('*400*2*5678'), Buffer.from('lockoutFailures=5')],
    dictionary: [...Object.keys(SETTINGS).map((k) => `${k}=`), '*40', '*', '#', 'yes', 'no', 'on', 'off', ' ', '-', '.', 'plughw:1,0'],
    run(input) {
      const text = input.toString('utf8');
      const eq = text.indexOf('=');
      const name = eq < 0 ? '' : text.slice(0, eq);
      if (name in SETTINGS) onlyBoxErrors(() => parseSetting(name as keyof typeof SETTINGS, text.slice(eq + 1)));
      onlyBoxErrors(() => parseFeatureCode(text));
    },
  },
];
