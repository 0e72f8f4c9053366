import type { MediaLegOptions } from '../media/index.ts';
import { headerText } from './auth.ts';
import { mediaFlow } from './hold.ts';
import type { RemoteMedia } from './sdp.ts';
import type { Message } from './stack.ts';

declare const CONFBOX_VERSION: string | undefined;

/** The box's Server and User-Agent header. */
export const SERVER = `confbox/${typeof CONFBOX_VERSION === 'string' ? CONFBOX_VERSION : 'dev'}`;

export const REASONS: Record<number, string> = {
  100: 'Trying', 180: 'Ringing', 183: 'Session Progress', 200: 'OK', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 420: 'Bad Extension', 422: 'Session Interval Too Small',
  423: 'Interval Too Brief', 480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist', 484: 'Address Incomplete',
  486: 'Busy Here', 487: 'Request Terminated', 488: 'Not Acceptable Here', 491: 'Request Pending', 500: 'Server Internal Error',
  501: 'Not Implemented', 503: 'Service Unavailable', 505: 'Version Not Supported', 603: 'Decline', 604: 'Does Not Exist Anywhere',
};

/** What the engine needs of the negotiated media to code (and encrypt) a leg and which way its audio flows; localKey is the box's SRTP key. */
export function codecOf(m: RemoteMedia, localKey: Uint8Array): Pick<MediaLegOptions, 'codec' | 'payloadType' | 'ptime' | 'dtmfPayloadType' | 'srtp' | 'send' | 'receive'> {
  const srtp = m.crypto ? { suite: m.crypto.suite, local: localKey, remote: m.crypto.key } : null;
  return { codec: m.codec, payloadType: m.payloadType, ptime: m.ptime, dtmfPayloadType: m.dtmfPayloadType, srtp, ...mediaFlow(m.direction) };
}

export function numberHeader(rq: Message, name: string): number | null {
  const v = headerText(rq, name)?.trim();
  return v && /^\d{1,10}$/.test(v) ? Number(v) : null;
}

/** A challenge header value back into the package's object form, so it stringifies it. */
export function authObject(value: string): Record<string, string> {
  const sp = value.indexOf(' ');
  const out: Record<string, string> = { scheme: value.slice(0, sp) };
  for (const m of value.slice(sp + 1).matchAll(/([A-Za-z0-9-]+)=("(?:[^"\\]|\\.)*"|[^,\s]*)/g)) out[m[1]!] = m[2]!;
  return out;
}
