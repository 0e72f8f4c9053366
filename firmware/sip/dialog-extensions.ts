import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { headerText } from './auth.ts';
import { firstRSeq, parseRAck, ReliableProvisional, requiresReliable } from './reliable.ts';
import { answerTimer, MIN_SE, SessionTimer, SUPPORTED, type SessionTimerState, type TimerAnswer } from './session-timer.ts';
import type { Session } from './session.ts';
import type { Message } from './stack.ts';

/** What the SIP extensions need of the user agent. */
export interface ExtensionHost {
  clock: Clock;
  log: Logger;
  reply(rq: Message, status: number, reason?: string, headers?: Record<string, unknown>): void;
  send(rs: Message): void;
  /** Answers a request of the dialog 200 with these headers and body. */
  ok(call: Session, rq: Message, headers: Record<string, unknown>, body?: string): void;
  /** A request of the box within the dialog; resolves with its final response. */
  dialogRequest(call: Session, method: string, headers: Record<string, unknown>, body?: { type: string; content: string }): Promise<Message>;
  hangUp(call: Session, why: string): void;
  contactUri(call: Session): string;
}

/** The peer takes UPDATE in the dialog: it said so in the Allow of its (re-)INVITE. */
export function allowsUpdate(rq: Message): boolean {
  return (headerText(rq, 'allow') ?? '').split(',').some((m) => m.trim().toUpperCase() === 'UPDATE');
}

/**
 * The extensions of RFC 3261 the box implements in a dialog: session timers (RFC 4028), UPDATE (RFC 3311) and
 * reliable provisional responses (RFC 3262). The user agent asks here what to add to its answers and hands over
 * the requests these extensions bring (PRACK, UPDATE before the answer).
 */
export class DialogExtensions {
  constructor(private readonly host: ExtensionHost) {}

  /** The session timer part of an answer to this INVITE, re-INVITE or UPDATE (422 and 400 included). */
  timer(rq: Message): TimerAnswer {
    return answerTimer(rq);
  }

  /** The 2xx carrying this timer answer was sent: the session's timer starts, restarts or stops. */
  answered(call: Session, answer: TimerAnswer): void {
    if (!answer.ok) return;
    if (!answer.timer) {
      call.sessionTimer?.stop();
      call.sessionTimer = null;
      return;
    }
    const { interval, refresher } = answer.timer;
    if (call.sessionTimer) call.sessionTimer.restart(interval, refresher);
    else {
      call.sessionTimer = new SessionTimer({
        clock: this.host.clock,
        refresh: (state) => this.refresh(call, state),
        expire: (why) => {
          this.host.log.info('session expired: hanging up', { source: call.source, caller: call.caller, callId: call.callId, reason: why });
          this.host.hangUp(call, 'session expired');
        },
      }, interval, refresher);
    }
    this.host.log.debug('session timer', { callId: call.callId, interval, refresher });
  }

  /**
   * The box refreshes the session (RFC 4028 7.4): UPDATE without a body when the caller allows UPDATE, else a
   * re-INVITE offering the box's session description unchanged.
   */
  private refresh(call: Session, state: SessionTimerState): Promise<Message> {
    const headers = {
      'session-expires': `${state.interval};refresher=uac`,
      'Min-SE': String(MIN_SE),
      supported: SUPPORTED,
      contact: [{ uri: this.host.contactUri(call), params: {} }],
    };
    if (allowsUpdate(call.invite)) return this.host.dialogRequest(call, 'UPDATE', headers);
    const sdp = call.localSdp ?? call.ok?.content ?? '';
    return this.host.dialogRequest(call, 'INVITE', headers, sdp ? { type: 'application/sdp', content: sdp } : undefined);
  }

  /** A re-INVITE of the caller was answered 2xx: its session description is the box's current one. */
  reinvited(call: Session, answer: TimerAnswer): void {
    call.localSdp = null;
    this.answered(call, answer);
  }

  /**
   * UPDATE in a confirmed dialog (RFC 3311), already checked and, when it carried an offer, negotiated: 200 with the
   * box's SDP answer (or without a body when it only refreshed the session) and the session timer's headers.
   */
  updated(call: Session, rq: Message, sdp: string | null, answer: TimerAnswer): void {
    const contact = [{ uri: this.host.contactUri(call), params: {} }];
    if (sdp !== null) call.localSdp = sdp;
    this.host.ok(call, rq, { contact, ...(sdp !== null ? { 'content-type': 'application/sdp' } : {}), ...answer.headers }, sdp ?? undefined);
    this.answered(call, answer);
  }

  /** Sends a provisional answer with early media: reliably (RSeq, until PRACK) when the caller requires 100rel. */
  provisional(call: Session, rs: Message): void {
    if (!requiresReliable(call.invite)) return this.host.send(rs);
    call.reliable?.stop();
    const rseq = call.reliable ? call.reliable.rseq + 1 : firstRSeq();
    call.reliable = new ReliableProvisional(this.host.clock, (m) => this.host.send(m), rs, rseq);
  }

  /**
   * Resolves once the caller acknowledged the reliable provisional answer of this call (or it was given up): the
   * final answer waits for it, so that it never overtakes the early media the caller has not confirmed.
   */
  acknowledged(call: Session): Promise<void> {
    return call.reliable?.settled ?? Promise.resolve();
  }

  /** PRACK (RFC 3262 7.2): 200 when its RAck names the reliable provisional answer of this call, 481 otherwise. */
  prack(call: Session, rq: Message): void {
    const rack = parseRAck(rq);
    if (!rack) return this.host.reply(rq, 400, 'RAck is missing or malformed');
    if (!call.reliable?.prack(rack) && !(call.reliable?.acknowledged && call.reliable.rseq === rack.rseq)) {
      return this.host.reply(rq, 481, `RAck ${rack.rseq} ${rack.cseq} ${rack.method} matches no reliable provisional response`);
    }
    this.host.reply(rq, 200);
  }

  /**
   * UPDATE before the INVITE is answered: a session refresh without a body is taken; a new offer is not, the box
   * sends no early media that could change.
   */
  earlyUpdate(call: Session, rq: Message): void {
    if (rq.content) return this.host.reply(rq, 488, 'a new offer in UPDATE is taken once the call is answered');
    const timer = answerTimer(rq);
    if (!timer.ok) return this.host.reply(rq, timer.status, timer.reason, timer.headers);
    this.host.reply(rq, 200, undefined, { ...timer.headers, contact: [{ uri: this.host.contactUri(call), params: {} }] });
  }

  /** The call is over: no more refreshes, expiry or retransmissions. */
  ended(call: Session): void {
    call.sessionTimer?.stop();
    call.sessionTimer = null;
    call.reliable?.stop();
    call.reliable = null;
  }
}
