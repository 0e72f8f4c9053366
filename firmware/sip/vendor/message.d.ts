// Types of the message parser of the patched `sip` copy beside this file (message.js), as the tests use it directly.
import type { Message } from './sip.js';

export function parse(s: string | Buffer): Message | undefined;
export function stringify(m: Message): string;
export function makeResponse(rq: Message, status: number, reason?: string, ext?: { headers?: Record<string, unknown>; content?: string }): Message;
/** Whether a parsed message has what every message needs (a method or a status, Via, Call-ID, To, From, CSeq). */
export function checkMessage(m: Message): boolean;
/** A parser of a byte stream: feed it chunks; onMessage gets each whole message, onFlood is called on oversized ones. */
export function makeStreamParser(onMessage: (m: Message) => void, onFlood?: () => void, maxBytesHeaders?: number, maxContentLength?: number): (data: string) => void;
