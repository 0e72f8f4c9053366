/**
 * Answering a REGISTER (RFC 3261 section 10): who may register which extension, the Contacts and expiry asked for,
 * the Path of the proxies in between (RFC 3327), and the answer with the bindings the registrar now holds.
 */
import type { Clock } from '../clock.ts';
import { blockedError } from '../conference/index.ts';
import { BoxError } from '../errors.ts';
import { headerText, type Authenticator } from './auth.ts';
import { numberHeader } from './messages.ts';
import type { ContactRequest, Registrar } from './registrar.ts';
import { registrationPath } from './routes.ts';
import { optionTags } from './session-timer.ts';
import { parseUri, type Message, type Remote } from './stack.ts';

export interface RegisterRequestOptions {
  auth: Authenticator;
  registrar: Registrar;
  clock: Clock;
  reply(rq: Message, status: number, reason?: string, headers?: Record<string, unknown>): void;
  /** Answers with a digest challenge. */
  challenge(rq: Message, status: 401, values: string[]): void;
}

export async function answerRegister(o: RegisterRequestOptions, rq: Message, remote: Remote): Promise<void> {
  try {
    const toUri = parseUri(rq.headers.to!.uri);
    if (!toUri || !/^sips?$/i.test(toUri.schema ?? '')) return o.reply(rq, 400, 'To must be a sip: address of record');
    const origin = o.auth.origin(rq, remote);
    if (o.auth.registerBlocked(origin, toUri.user ?? '', rq.headers['call-id']!)) throw blockedError();
    const who = await o.auth.identify(rq, origin, 'register');
    if (!who.ok) return o.challenge(rq, 401, who.challenges);
    if (who.caller !== toUri.user) {
      o.auth.noteRefusal(who.caller, 'registered another extension', origin, 'REGISTER');
      return o.reply(rq, 403, `${who.caller} may not register ${toUri.user ?? ''}`);
    }
    const contactHeader = rq.headers.contact;
    const headerExpires = numberHeader(rq, 'expires');
    let contacts: ContactRequest[] | '*' = [];
    if (contactHeader === '*' || (Array.isArray(contactHeader) && contactHeader.some((c) => c.uri === '*'))) contacts = '*';
    else if (Array.isArray(contactHeader)) {
      contacts = contactHeader.map((c) => ({ uri: c.uri, expires: c.params.expires != null && /^\d{1,10}$/.test(String(c.params.expires)) ? Number(c.params.expires) : null }));
    }
    const path = registrationPath(rq);
    if (!path.ok) return o.reply(rq, 400, path.error);
    const phone = { source: `${remote.protocol.toLowerCase()}:${remote.address}:${remote.port}`, userAgent: headerText(rq, 'user-agent'), path: path.path };
    const res = o.registrar.register(who.caller, phone, contacts, headerExpires);
    if (!res.ok) return o.reply(rq, res.status, res.reason, res.minExpires ? { 'min-expires': String(res.minExpires) } : {});
    const contact = res.bindings.map((b) => ({ uri: b.contact, params: { expires: String(b.expires) } }));
    // The Path stored is told back to a phone that knows what it is (RFC 3327 5.3).
    const echo = path.path.length && optionTags(rq, 'supported').includes('path') ? { path: path.path.map((uri) => ({ uri, params: {} })) } : {};
    o.reply(rq, 200, undefined, { contact: contact.length ? contact : undefined, date: new Date(o.clock.now()).toUTCString(), ...echo });
  } catch (e) {
    if (e instanceof BoxError) return o.reply(rq, e.sipStatus, e.message);
    throw e;
  }
}
