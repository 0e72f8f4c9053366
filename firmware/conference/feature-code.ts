import { BoxError } from '../errors.ts';
import { parseDuration, parseModeratorPin, parsePin, parseRoomId } from './validate.ts';

/** What a dialed number asks the box to do (SPEC.md section 2). */
export type FeatureCode =
  | { kind: 'join'; room: number; pin: string }
  | { kind: 'create'; room: number; pin: string; duration: number; moderatorPin: string | null }
  | { kind: 'delete'; room: number; pin: string }
  | { kind: 'menu' };

/**
 * Parses the percent-decoded user part of the Request-URI. Throws BoxError 484 for a malformed
 * code or a value out of range, 404 for a number that is not a feature code at all.
 */
export function parseFeatureCode(dialed: string): FeatureCode {
  const text = dialed.trim().replace(/#$/, '');
  const m = /^\*(40[0-2])(?:\*(.*))?$/.exec(text);
  if (!m) {
    if (text.startsWith('*')) throw new BoxError(484, `"${shown(dialed)}" is not a conference code (dial *400, *401 or *402)`, 'code');
    throw new BoxError(404, `nothing answers at "${shown(dialed)}"`, 'code', 'not-found');
  }
  const service = m[1];
  const args = m[2] === undefined ? [] : m[2].split('*');
  if (service === '400' && args.length === 0) return { kind: 'menu' };
  const want = service === '401' ? [2, 4] : [2, 2];
  if (args.length < want[0]! || args.length > want[1]! || args.includes('')) {
    const form = service === '401' ? '*401*room*PIN, *401*room*PIN*minutes or *401*room*PIN*minutes*moderatorPIN' : `*${service}*room*PIN`;
    throw new BoxError(484, `malformed code "${shown(dialed)}": dial ${form}`, 'code');
  }
  const room = parseRoomId(args[0]!);
  const pin = parsePin(args[1]!);
  if (service === '400') return { kind: 'join', room, pin };
  if (service === '402') return { kind: 'delete', room, pin };
  return { kind: 'create', room, pin, duration: parseDuration(args[2] ?? null), moderatorPin: parseModeratorPin(args[3], pin) };
}

function shown(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 40 ? printable.slice(0, 40) + '…' : printable;
}
