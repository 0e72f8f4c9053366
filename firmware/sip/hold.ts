/**
 * Hold (RFC 3264 section 8.4, and the older c=0.0.0.0 of RFC 2543): what the box does with a caller's audio by the
 * direction of its latest offer, and how long a caller may stay on hold.
 *
 * A caller that sends only (a=sendonly: its PBX plays hold music) or nothing (a=inactive, c=0.0.0.0) is on hold: the
 * box sends it nothing and nobody in the room hears what it sends, and its silence is never taken for a dead call.
 * Only the caller (by resuming or hanging up), a session timer or the hold-time limit setting ends a held call.
 */
import type { Logger } from '../log.ts';
import type { Direction } from './sdp.ts';
import type { Call, Session } from './session.ts';

/** Whether the box sends to the caller, and whether the room hears the caller, for the caller's direction. */
export function mediaFlow(direction: Direction): { send: boolean; receive: boolean } {
  return { send: direction === 'sendrecv' || direction === 'recvonly', receive: direction === 'sendrecv' };
}

/** The caller put the box on hold: it sends hold music or nothing, and wants nothing back. */
export function isHold(direction: Direction): boolean {
  return direction === 'sendonly' || direction === 'inactive';
}

export interface HoldOptions {
  /** The hold-time limit in seconds; 0: none. Read when a hold starts. */
  limitSeconds: () => number;
  now: () => number;
  log: Logger;
  /** The call went on hold or came back. */
  changed: (call: Call, onHold: boolean) => void;
  /** Ends a call held longer than the limit. */
  hangUp: (call: Call, why: string) => void;
}

/** Follows which calls are on hold (Session.heldSince) and ends those held longer than the limit. */
export class HoldTracker {
  private limits = new Map<string, NodeJS.Timeout>();

  constructor(private readonly o: HoldOptions) {}

  /** After an answered offer: the call's media (call.media) says whether it is on hold now. */
  update(call: Session): void {
    const held = call.media !== null && isHold(call.media.direction);
    if (held === (call.heldSince !== null)) return;
    if (held) {
      call.heldSince = this.o.now();
      const limit = this.o.limitSeconds();
      if (limit > 0) {
        this.limits.set(call.key, setTimeout(() => {
          this.limits.delete(call.key);
          this.o.log.info('on hold longer than the hold-time limit: hanging up', { source: call.source, caller: call.caller, seconds: limit });
          this.o.hangUp(call, 'on hold too long');
        }, limit * 1000));
      }
      this.o.log.info('caller put the call on hold', { source: call.source, caller: call.caller, direction: call.media!.direction });
    } else {
      this.o.log.info('caller resumed the call', { source: call.source, caller: call.caller, heldSeconds: Math.round((this.o.now() - call.heldSince!) / 1000) });
      call.heldSince = null;
      this.stopLimit(call);
    }
    this.o.changed(call, held);
  }

  /** The call ended. */
  clear(call: Session): void {
    this.stopLimit(call);
  }

  private stopLimit(call: Session): void {
    const t = this.limits.get(call.key);
    if (t) clearTimeout(t);
    this.limits.delete(call.key);
  }
}
