/**
 * The box calling a phone (RFC 3261 13.2, 17.1.1): an INVITE client transaction with the box's offer, CANCEL when
 * nobody answers in time (9.1), the ACK of the 2xx and the dialog it makes (12.1.2), or the final refusal told as
 * busy, declined, no answer or unreachable. Early media is not listened to: the box waits for the answer. The
 * answered call becomes a call like any other of the SIP layer (BYE, re-INVITE, DTMF), given to the application.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { MediaLegOptions } from '../media/index.ts';
import { SERVER } from './messages.ts';
import { recordRoutesOfResponse } from './routes.ts';
import { acceptAnswer, makeOffer, type LocalMedia, type RemoteMedia } from './sdp.ts';
import { dialogKey, type Session } from './session.ts';
import { SUPPORTED } from './session-timer.ts';
import type { Peer } from '../conference/types.ts';
import type { RegisteredPhone } from './registrar.ts';
import { parseUri, type Message, type Remote, type SipTransport } from './stack.ts';
import { ALLOW } from './wire.ts';

/** Why an invitation did not become a call. */
export type InviteFailure = 'busy' | 'declined' | 'no-answer' | 'unreachable' | 'failed';

export type InviteOutcome =
  | { ok: true; call: Session }
  | { ok: false; why: InviteFailure; status: number; reason: string };

/** Whom to call: where the phone registered (its Contact and the flow its REGISTER came over), as whom. */
export interface InviteTarget {
  /** The Request-URI: the phone's registered Contact. */
  uri: string;
  /** Where to send it: where the phone registered from (reaches phones behind NAT). */
  flow: Remote;
  /** The To: the extension's address of record. */
  to: string;
  /** The extension called. */
  extension: string;
  displayName: string;
  /** Route URIs of the proxies the phone registered through (Path): the INVITE goes through them. */
  route?: string[];
}

/** The parts of the SIP layer an outgoing call uses. */
export interface InviteHost {
  transport(): SipTransport | null;
  log: Logger;
  openLeg(call: Session, options: MediaLegOptions): Promise<number>;
  provisionalCodec(): Pick<MediaLegOptions, 'codec' | 'payloadType' | 'ptime' | 'dtmfPayloadType' | 'srtp'>;
  localMedia(call: Session, port: number): LocalMedia;
  contactUri(call: Session): string;
  /** The box's address as the phone reaches it. */
  addressOf(call: Session): string;
  /** Points the call's leg at the answer's media; false (and logged) when that cannot be used. */
  connect(call: Session, remote: RemoteMedia): boolean;
  /** The answered call joins the dialog table: in-dialog requests, DTMF and BYE reach it. */
  adopt(call: Session): void;
  /** Releases the call's leg and whatever it holds. */
  release(call: Session, why: string): void;
  /** Sends BYE for an answered call the box no longer wants. */
  bye(call: Session, why: string): void;
}

/** Sorts a final status into what the inviting moderator is told. */
export function inviteFailure(status: number): InviteFailure {
  if (status === 486 || status === 600) return 'busy';
  if (status === 603 || status === 403) return 'declined';
  if (status === 408 || status === 480 || status === 487) return 'no-answer';
  if (status === 404 || status === 410 || status === 503 || status === 604) return 'unreachable';
  return 'failed';
}

export class InviteClient {
  constructor(private readonly host: InviteHost) {}

  /**
   * Calls the target with the box's offer, From the given display name; resolves when it answers (the call is
   * confirmed and adopted), refuses, or does not answer within ringMs (then CANCEL).
   */
  async call(target: InviteTarget, from: { user: string; displayName: string }, ringMs: number): Promise<InviteOutcome> {
    const transport = this.host.transport();
    if (!transport) return { ok: false, why: 'failed', status: 503, reason: 'the box is stopping' };
    const callId = `${randomUUID()}@confbox`;
    const localTag = randomBytes(8).toString('hex');
    const placeholder = outboundSession(target, '', callId, localTag);
    const address = this.host.addressOf(placeholder);
    const host = address.includes(':') ? `[${address}]` : address;
    const fromUri = `sip:${from.user}@${host}`;
    const call = outboundSession(target, fromUri, callId, localTag);
    try {
      await this.host.openLeg(call, { ...this.host.provisionalCodec(), rtpTimeoutMs: null });
    } catch (e) {
      return { ok: false, why: 'failed', status: 500, reason: `no audio port for the call: ${e instanceof Error ? e.message : String(e)}` };
    }
    const invite: Message = {
      method: 'INVITE',
      uri: target.uri,
      version: '2.0',
      headers: {
        via: [],
        to: { uri: target.to, params: {} },
        from: { name: `"${from.displayName.replace(/["\\]/g, '')}"`, uri: fromUri, params: { tag: localTag } },
        'call-id': callId,
        cseq: { seq: call.localSeq, method: 'INVITE' },
        'max-forwards': '70',
        ...(target.route?.length ? { route: target.route.map((uri) => ({ uri, params: {} })) } : {}),
        contact: [{ uri: this.host.contactUri(call), params: {} }],
        allow: ALLOW,
        supported: SUPPORTED,
        'user-agent': SERVER,
        'content-type': 'application/sdp',
      },
      content: makeOffer(this.host.localMedia(call, call.localPort)),
    };
    call.invite = invite;
    return new Promise<InviteOutcome>((resolve) => {
      let done = false;
      let cancelled = false;
      const settle = (outcome: InviteOutcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (!outcome.ok) this.host.release(call, outcome.reason);
        resolve(outcome);
      };
      const sent = transport.request(invite, target.flow, (rs) => {
        const status = rs.status ?? 0;
        if (status < 200) return;
        if (status < 300) {
          // Every 2xx is acknowledged, retransmissions and late ones (after a CANCEL) included.
          transport.ack(ackOf(invite, rs), target.flow);
          if (done) return;
          if (cancelled) {
            this.answered(call, rs);
            this.host.bye(call, 'nobody was waiting for the answer any more');
            return settle({ ok: false, why: 'no-answer', status: 408, reason: 'answered after the box gave up' });
          }
          if (!this.answered(call, rs)) {
            this.host.bye(call, 'the answer\'s media cannot be used');
            return settle({ ok: false, why: 'failed', status: 488, reason: 'the answer\'s media cannot be used' });
          }
          return settle({ ok: true, call });
        }
        const reason = rs.headers.warning ? String(rs.headers.warning) : rs.reason ?? '';
        settle({ ok: false, why: cancelled ? 'no-answer' : inviteFailure(status), status, reason: `${status} ${reason}`.trim() });
      });
      const timer = setTimeout(() => {
        if (done) return;
        cancelled = true;
        this.host.log.info('nobody answered the invitation: cancelling it', { extension: target.extension, seconds: Math.round(ringMs / 1000) });
        if (sent) transport.cancel(sent, target.flow);
        // A phone that never answers the CANCEL with 487 is given up on.
        setTimeout(() => settle({ ok: false, why: 'no-answer', status: 408, reason: 'no answer' }), 4000).unref();
      }, ringMs);
    });
  }

  /** The dialog the 2xx makes: the phone's tag, Contact and route set; the leg pointed at its answer. */
  private answered(call: Session, ok: Message): boolean {
    call.remoteTag = String(ok.headers.to?.params.tag ?? '');
    call.key = dialogKey(call.callId, call.localTag);
    const contact = Array.isArray(ok.headers.contact) ? ok.headers.contact[0]?.uri : undefined;
    if (contact) call.remoteTarget = contact;
    call.routeSet = recordRoutesOfResponse(ok);
    call.ok = ok;
    call.state = 'confirmed';
    call.acknowledged = true;
    const answer = ok.content ? acceptAnswer(ok.content, this.host.localMedia(call, call.localPort)) : null;
    if (!answer?.ok) {
      this.host.log.warn('the invited phone answered without usable SDP', { extension: call.caller, reason: answer && !answer.ok ? answer.reason : 'no SDP in the 200' });
      this.host.adopt(call);
      return false;
    }
    this.host.adopt(call);
    return this.host.connect(call, answer.remote);
  }
}

/** Where to call an extension: its most recently registered phone, reached over the flow it registered from. */
export function registeredTarget(extension: string, phones: readonly RegisteredPhone[], boxAddressFor: (remote: string) => string, displayName: string): InviteTarget | null {
  const phone = [...phones].sort((a, b) => b.expiresAt.getTime() - a.expiresAt.getTime())[0];
  const registeredFrom = phone ? flowOf(phone.source) : null;
  if (!phone || !registeredFrom) return null;
  const flow = contactFlow(phone.contact, registeredFrom);
  const box = boxAddressFor(flow.address);
  return { uri: phone.contact, flow, to: `sip:${extension}@${box.includes(':') ? `[${box}]` : box}`, extension, displayName, route: phone.path };
}

/** Where to call a number that is not an extension: through the outbound PBX, at its address and SIP port, over its transport. */
export function pbxTarget(number: string, pbx: Peer): InviteTarget | null {
  if (pbx.outboundPort === null) return null;
  const address = pbx.cidr.replace(/\/\d+$/, '');
  const host = address.includes(':') ? `[${address}]` : address;
  const protocol = pbx.transport === 'tls' ? 'TLS' : pbx.transport === 'tcp' ? 'TCP' : 'UDP';
  const uri = `sip:${number}@${host}:${pbx.outboundPort}${protocol === 'UDP' ? '' : `;transport=${protocol.toLowerCase()}`}`;
  return { uri, flow: { protocol, address, port: pbx.outboundPort, local: { address: '', port: 0 } }, to: uri, extension: number, displayName: '' };
}

/** The flow a phone registered over, from its binding's source ("udp:192.0.2.1:5060", "tcp:2001:db8::1:5060"). */
export function flowOf(source: string): Remote | null {
  const m = /^(udp|tcp|tls):(.+):(\d+)$/i.exec(source);
  if (!m) return null;
  return { protocol: m[1]!.toUpperCase(), address: m[2]!.replace(/^\[|\]$/g, ''), port: Number(m[3]), local: { address: '', port: 0 } };
}

/**
 * Where a request to a registered Contact goes. Over UDP, to the Contact's port when the Contact names the address the
 * phone registered from (no NAT between: a phone may listen on another port than it registered from); otherwise, and
 * over TCP and TLS, back along the flow it registered over (RFC 5626's idea), which reaches phones behind NAT.
 */
function contactFlow(contact: string, registeredFrom: Remote): Remote {
  if (registeredFrom.protocol !== 'UDP') return registeredFrom;
  const uri = parseUri(contact);
  const host = uri?.host?.replace(/^\[|\]$/g, '');
  const transport = String(uri?.params?.transport ?? 'udp').toLowerCase();
  if (!uri || host !== registeredFrom.address || transport !== 'udp') return registeredFrom;
  return { ...registeredFrom, port: uri.port ? Number(uri.port) : 5060 };
}

/** The session of a call the box makes: its own From tag, the phone's Contact as target until the 2xx says otherwise. */
function outboundSession(target: InviteTarget, fromUri: string, callId: string, localTag: string): Session {
  return {
    key: dialogKey(callId, localTag), callId, localTag, remoteTag: '', localUri: fromUri, remoteUri: target.to, remoteTarget: target.uri,
    routeSet: [], flow: target.flow, source: target.flow.address, origin: { address: target.flow.address, peer: null, asserted: '', targets: [] },
    caller: target.extension, displayName: target.displayName, dialed: '', requestUri: target.uri, localSeq: 1, remoteSeq: 0, state: 'proceeding',
    invite: { method: 'INVITE', uri: target.uri, version: '2.0', headers: {} }, ok: null, retransmit: null, ackTimeout: null, cancelled: false,
    media: null, heldSince: null, leg: null, localPort: 0, legOptions: null, srtpKey: new Uint8Array(randomBytes(30)), keysInClear: false,
    sdpVersion: 1, sessionId: String(Math.floor(Math.random() * 1e9)), releaseFlow: null, offerPending: false, acknowledged: false,
  };
}

/** The ACK of a 2xx to the box's INVITE (RFC 3261 13.2.2.4). */
export function ackOf(invite: Message, ok: Message): Message {
  const h = invite.headers;
  return {
    method: 'ACK',
    uri: invite.uri,
    version: '2.0',
    headers: {
      via: [], to: ok.headers.to, from: h.from, 'call-id': h['call-id'], cseq: { seq: h.cseq!.seq, method: 'ACK' },
      'max-forwards': '70', ...(h.route ? { route: h.route } : {}),
    },
  };
}
