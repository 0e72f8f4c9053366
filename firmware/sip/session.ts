import type { BoxError } from '../errors.ts';
import type { MediaLegOptions, TalkState } from '../media/index.ts';
import type { Origin } from './auth.ts';
import { randomUUID } from 'node:crypto';
import { recordRoutes, type RouteHop } from './routes.ts';
import type { ReliableProvisional } from './reliable.ts';
import type { RemoteMedia } from './sdp.ts';
import type { SessionTimer } from './session-timer.ts';
import { parseUri, type Message, type Remote } from './stack.ts';

export type SessionState = 'proceeding' | 'accepted' | 'confirmed' | 'ended';

/** One call to the box: an INVITE server transaction and, once answered, a UAS dialog with its media leg. */
export interface Session {
  key: string;
  callId: string;
  localTag: string;
  remoteTag: string;
  localUri: string;
  remoteUri: string;
  /** Where the caller takes in-dialog requests: its Contact, updated by target refreshes. */
  remoteTarget: string;
  /** The proxies that record-routed the dialog; the box's own requests go through them. */
  routeSet: RouteHop[];
  /** Where the caller last spoke from: the box answers there and, without a route set, sends its requests there. */
  flow: Remote;
  source: string;
  /** Where the call comes from, as the lockout counts it. */
  origin: Origin;
  caller: string;
  displayName: string;
  /** The Request-URI's user part, percent-decoded: what the caller dialed. */
  dialed: string;
  /** The Request-URI of the call's INVITE: the address the caller called (the box, or a proxy in front of it). */
  requestUri: string;
  localSeq: number;
  remoteSeq: number;
  state: SessionState;
  /** The INVITE being answered (initial or re-INVITE) and its 2xx, retransmitted until ACK. */
  invite: Message;
  ok: Message | null;
  retransmit: NodeJS.Timeout | null;
  ackTimeout: NodeJS.Timeout | null;
  cancelled: boolean;
  /** The caller's negotiated media, once the offer was accepted (the latest one after a re-INVITE). */
  media: RemoteMedia | null;
  /** Since when (clock ms) the caller has the call on hold (sendonly, inactive or c=0.0.0.0); null: not on hold. */
  heldSince: number | null;
  leg: number | null;
  localPort: number;
  legOptions: MediaLegOptions | null;
  /** The box's SRTP master key and salt for this call (30 octets), in its answers' a=crypto. */
  srtpKey: Uint8Array;
  /** SRTP keys of this call crossed the network in clear (logged and counted once per call). */
  keysInClear: boolean;
  sdpVersion: number;
  sessionId: string;
  /** The box's last 2xx carried an offer (the INVITE had none): the caller's answer comes in the ACK. */
  offerPending: boolean;
  /** The caller acknowledged the dialog's first 2xx: the call is up. */
  acknowledged: boolean;
  /** Lets go of the TCP or TLS connection the call came over (kept open while the call lasts). */
  releaseFlow: (() => void) | null;
  /** The dialog's session timer (RFC 4028), while one runs. */
  sessionTimer?: SessionTimer | null;
  /** The early media 183 sent reliably (RFC 3262) to a caller that requires 100rel. */
  reliable?: ReliableProvisional | null;
  /** The box's session description as last answered in an UPDATE, when that came after the last 2xx to an INVITE. */
  localSdp?: string | null;
}

/** What the call application may read of a session; the SIP layer alone changes it. */
export type Call = Readonly<Pick<Session, 'key' | 'callId' | 'remoteUri' | 'source' | 'origin' | 'caller' | 'displayName' | 'dialed' | 'state' | 'cancelled' | 'leg' | 'heldSince'>>;

/**
 * The application on top of the SIP layer: it decides what a call is for and what happens in it. It sees calls that
 * are authenticated and carry usable media; transactions, dialogs, offer/answer and timers are the SIP layer's.
 */
export interface CallApplication {
  /** Checks what was dialed before anything else is looked at; a BoxError rejects the call. */
  route(call: Call): void;
  /** Does what the call asks (join, create, delete, the voice menu); a BoxError rejects the call, its reason spoken first. */
  decide(call: Call): Promise<void>;
  /** The call's media leg is open and it is about to be answered. */
  answering(call: Call): void;
  /** Says why the call is rejected, on its leg as early media; resolves when said. */
  explain(call: Call, e: BoxError): Promise<void>;
  /** A call was rejected with this final answer. */
  rejected(call: Call, status: number, reason: string): void;
  /** The caller acknowledged the answer: the call is up. */
  confirmed(call: Call): void;
  /** The caller put the call on hold (nobody hears it, it hears nothing) or resumed it. */
  held(call: Call, onHold: boolean): void;
  /** The caller started or stopped talking, or its line became noisy or quiet (muted callers too). */
  talk(call: Call, state: TalkState): void;
  /** A key the caller pressed, by whichever method it was sent, once. */
  digit(call: Call, digit: string): void;
  /** What the application adds to the SIP layer's log lines about this call (e.g. its room). */
  describe(call: Call): Record<string, unknown>;
  /** The call is over (either side hung up, or it was never answered): release what it holds. */
  ended(call: Call, why: string, answered: boolean): void;
}

export function dialogKey(callId: string, localTag: string): string {
  return `${callId}\n${localTag}`;
}

/** CANCEL carries the INVITE's Call-ID and top Via branch. */
export function pendingKey(rq: Message): string {
  return `${rq.headers['call-id']}\n${rq.headers.via?.[0]?.params.branch ?? ''}`;
}

/** The dialed number: the Request-URI's user part, percent-decoded (%2A is *); null when its %-escapes are broken. */
export function dialedNumber(uri: string): string | null {
  const user = parseUri(uri)?.user ?? '';
  try {
    return decodeURIComponent(user);
  } catch {
    return null;
  }
}

/** What a request of the box within a dialog needs of it: a call's, or a subscription's. */
export type DialogState = Pick<Session, 'callId' | 'localTag' | 'remoteTag' | 'localUri' | 'remoteUri' | 'remoteTarget' | 'routeSet' | 'flow' | 'localSeq'>;

/** The dialog the box's answer to rq makes (a new local tag; the caller's Contact as target; its Record-Route). */
export function answerDialog(rq: Message, remote: Remote): DialogState & { key: string } {
  const localTag = randomUUID().replace(/-/g, '').slice(0, 16);
  const contact = Array.isArray(rq.headers.contact) ? rq.headers.contact[0]?.uri : undefined;
  return {
    key: dialogKey(rq.headers['call-id']!, localTag),
    callId: rq.headers['call-id']!,
    localTag,
    remoteTag: String(rq.headers.from!.params.tag ?? ''),
    localUri: rq.headers.to!.uri,
    remoteUri: rq.headers.from!.uri,
    remoteTarget: contact ?? rq.headers.from!.uri,
    routeSet: recordRoutes(rq),
    flow: remote,
    localSeq: 0,
  };
}
