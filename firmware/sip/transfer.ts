/**
 * Sending a caller on (blind transfer, RFC 3515): the box asks the caller's phone, within the call, to call another
 * address (REFER with Refer-To) and follows how that new call went through the NOTIFYs the phone sends back (the
 * implicit subscription, its bodies message/sipfrag of RFC 3420: "SIP/2.0 200 OK" once the new call is answered).
 * The box does not take REFER itself: phones are never sent on by other parties.
 */
import type { Logger } from '../log.ts';
import type { Session } from './session.ts';
import type { Message } from './stack.ts';
import { headerText } from './auth.ts';

/** How long the box waits for the phone to say how its new call went. */
export const TRANSFER_WAIT_MS = 16_000;

export type TransferOutcome = { ok: true } | { ok: false; why: string };

export interface TransferOptions {
  log: Logger;
  /** Sends a request within the call's dialog; resolves with its final answer. */
  dialogRequest(call: Session, method: string, headers: Record<string, unknown>): Promise<Message>;
  /** The box's Contact for the call (REFER makes a subscription, which needs one). */
  contactUri(call: Session): string;
  reply(call: Session, rq: Message, status: number, reason?: string): void;
}

/** The status of a message/sipfrag body's status line ("SIP/2.0 180 Ringing"); null when it has none. */
export function sipfragStatus(body: string): { status: number; reason: string } | null {
  const m = /^\s*SIP\/2\.0\s+([1-6]\d\d)(?:[ \t]+([^\r\n]*))?/i.exec(body);
  return m ? { status: Number(m[1]), reason: (m[2] ?? '').trim() } : null;
}

interface Waiting {
  resolve(outcome: TransferOutcome): void;
  timer: NodeJS.Timeout;
}

/** The transfers the box started, one at most per call. */
export class Transfers {
  private waiting = new Map<string, Waiting>();

  constructor(private readonly o: TransferOptions) {}

  /** Asks the phone to call `referTo` and end this call: resolves when its new call is answered, or with why not. */
  refer(call: Session, referTo: string): Promise<TransferOutcome> {
    if (this.waiting.has(call.key)) return Promise.resolve({ ok: false, why: 'a transfer of this call is under way' });
    return new Promise<TransferOutcome>((resolve) => {
      const finish = (outcome: TransferOutcome) => {
        const w = this.waiting.get(call.key);
        if (!w) return;
        clearTimeout(w.timer);
        this.waiting.delete(call.key);
        resolve(outcome);
      };
      // Waiting before the REFER leaves: a NOTIFY may overtake its 202.
      this.waiting.set(call.key, {
        resolve: finish,
        timer: setTimeout(() => finish({ ok: false, why: `the phone did not say within ${TRANSFER_WAIT_MS / 1000} s how its new call went` }), TRANSFER_WAIT_MS),
      });
      this.o.dialogRequest(call, 'REFER', {
        'refer-to': `<${referTo}>`,
        'referred-by': `<${call.localUri}>`,
        contact: [{ uri: this.o.contactUri(call), params: {} }],
      }).then((rs) => {
        const status = rs.status ?? 0;
        if (status < 200 || status >= 300) finish({ ok: false, why: `the phone refused the transfer: ${status} ${rs.reason ?? ''}`.trim() });
      }, (e: unknown) => finish({ ok: false, why: `the REFER could not be sent: ${(e as Error).message}` }));
    });
  }

  /** A NOTIFY within a call: the news of a transfer the box started. Answers it. */
  notify(call: Session, rq: Message): void {
    const event = (headerText(rq, 'event') ?? headerText(rq, 'o') ?? '').split(';')[0]!.trim().toLowerCase();
    if (event !== 'refer') return this.o.reply(call, rq, 489, `the box takes no NOTIFY for event "${event.slice(0, 32)}"`);
    this.o.reply(call, rq, 200);
    const w = this.waiting.get(call.key);
    if (!w) return;
    const frag = sipfragStatus(rq.content ?? '');
    const terminated = /^\s*terminated/i.test(headerText(rq, 'subscription-state') ?? '');
    if (frag && frag.status >= 200) {
      this.o.log.debug('transfer: the new call was answered', { status: frag.status, reason: frag.reason });
      w.resolve(frag.status < 300 ? { ok: true } : { ok: false, why: `the new call got ${frag.status} ${frag.reason}`.trim() });
    } else if (terminated) {
      w.resolve({ ok: false, why: 'the phone ended the transfer without a final answer' });
    }
  }

  /** The call ended: a transfer under way is over. */
  ended(call: Session, why: string): void {
    this.waiting.get(call.key)?.resolve({ ok: false, why: `the call ended (${why})` });
  }
}
