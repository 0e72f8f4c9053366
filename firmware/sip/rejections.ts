import type { BoxError } from '../errors.ts';

export interface InviteRejection {
  status: number;
  /** Headers besides the Warning the user agent adds from the reason. */
  headers: Record<string, string>;
}

/**
 * The final answer to an INVITE the box turns down for a reason of the conference (docs/CALLS.md, "Outcomes").
 *
 * No refusal of a caller who passed (or never needed) authentication is a 403: linphone reads a 403 to an INVITE it
 * authenticated as "bad credentials", asks its user for the password again and, unanswered, drops it, so that its
 * next registration refresh fails. A wrong PIN, a delete by someone else, a room that exists, a locked room and a
 * blocked caller are 603 Decline instead: a global "no" that no phone or PBX takes for an authentication failure, and
 * that a forking PBX does not try elsewhere. The 403 they used to be is kept in a Reason header (RFC 3326) with the
 * words, for phones and PBXs that show it; the Warning carries the same words.
 */
export function inviteRejection(e: BoxError, retryAfterS: number): InviteRejection {
  const reason = { reason: `SIP;cause=${e.sipStatus};text="${e.message.replace(/["\\\r\n]/g, "'")}"` };
  if (e.sipStatus === 403 || e.code === 'locked') return { status: 603, headers: reason };
  if (e.sipStatus === 503) return { status: 503, headers: { 'retry-after': String(retryAfterS) } };
  return { status: e.sipStatus, headers: {} };
}
