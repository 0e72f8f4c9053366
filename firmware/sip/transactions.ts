import sip from './vendor/sip.js';
import type { Connection, Message, Remote, ServerTransaction, TransactionLayer, Transport, TransportOptions } from './vendor/sip.js';

/**
 * The package's transport and transaction layer, put together as its own `create()` does, but with a
 * handle on each server transaction: the package keeps every finished one for 64 x T1 = 32 s, and one
 * that is never answered for ever, so a flood of new Call-IDs and branches would hold them all.
 */

/** RFC 3261 timers H and J over UDP: how long a finished transaction may be needed for a retransmission. */
const RETRANSMISSION_WINDOW_MS = 32_000;
/**
 * Final answers to non-INVITE requests over UDP, kept as text to answer retransmissions (timer J): about
 * 1 KB each instead of a whole transaction with its timers. Older ones are forgotten early: a retransmission
 * of their request is then answered anew, as a stateless UAS does (RFC 3261 8.2.7). Phones retransmit after
 * 0.5, 1, 2 and 4 s; at the busiest real load (a few hundred requests a second) this many cover the whole
 * window, while a flood cannot make the box hold more.
 */
const MAX_ANSWERS = 4096;
/**
 * INVITEs answered with an error keep their transaction: it retransmits the answer until the ACK comes
 * (timer G), as a phone that got a provisional answer no longer retransmits its INVITE. Each holds timers,
 * so fewer are kept; a flood's INVITEs from forged addresses would otherwise be answered again for 32 s.
 */
const MAX_REFUSED_INVITES = 1024;
/** A request the box has not answered within this long gets no answer any more: its transaction is let go. */
const MAX_UNANSWERED_MS = 32_000;

export interface CoreOptions {
  /** The box's sockets and what goes into Via, for the package's transports. */
  transport: TransportOptions;
  /** Called once per new request (not for retransmissions); ACKs without a transaction (for a 2xx) too. */
  onRequest: (rq: Message, remote: Remote) => void;
  /** Called for every message the package parsed, before it is matched to a transaction. */
  onParsed: () => void;
  /** Whether a new request from this remote is taken on; one that is not gets no transaction and no answer. */
  admit?: (remote: Remote) => boolean;
  onError: (e: unknown) => void;
  now?: () => number;
}

interface Held {
  transaction: ServerTransaction;
  at: number;
  /** What the layer finds the transaction by, without the request it was made for. */
  key: Message;
  remote: Remote;
}

/** A final answer sent over UDP, for retransmissions of its request from the same place. */
interface Answer {
  text: string;
  remote: Remote;
  at: number;
}

export class TransactionCore {
  private readonly transport: Transport;
  private readonly layer: TransactionLayer;
  private readonly now: () => number;
  /** Server transactions without a final answer yet, oldest first. */
  private readonly unanswered = new Map<string, Held>();
  /** INVITE transactions that sent an error answer and wait for the ACK, oldest first. */
  private readonly refused = new Map<string, Held>();
  /** Final answers to non-INVITE requests over UDP, oldest first. */
  private readonly answers = new Map<string, Answer>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly o: CoreOptions) {
    this.now = o.now ?? Date.now;
    this.transport = sip.makeTransport(o.transport, (m, remote) => {
      o.onParsed();
      this.received(m, remote);
    });
    this.layer = sip.makeTransactionLayer({});
    this.sweeper = setInterval(() => this.sweep(), 1000);
    this.sweeper.unref();
  }

  private received(m: Message, remote: Remote): void {
    try {
      const t = m.method ? this.layer.getServer(m) : this.layer.getClient(m);
      if (t) {
        t.message?.(m, remote);
        return;
      }
      if (m.method === 'ACK') return this.o.onRequest(fromWire(m), remote);
      if (!m.method) return;
      const id = transactionId(m);
      const answer = this.answers.get(id);
      if (answer && sameSource(answer.remote, remote)) return this.resend(answer);
      if (this.o.admit && !this.o.admit(remote)) return;
      const transaction = this.layer.createServerTransaction(m, this.transport.get(remote));
      this.unanswered.set(id, { transaction, at: this.now(), key: keyOf(m), remote });
      try {
        this.o.onRequest(fromWire(m), remote);
      } catch (e) {
        this.answer(sip.makeResponse(m, 500, 'Internal Server Error'));
        throw e;
      }
    } catch (e) {
      this.o.onError(e);
    }
  }

  /** A UDP datagram the box has admitted: parsed, then matched to a transaction or taken as a new request. */
  receive(data: Buffer, rinfo: { address: string; port: number }): void {
    this.transport.receive(data, rinfo);
  }

  /** Sends a response through its request's transaction; false when there is none (any more). */
  respond(rs: Message): boolean {
    return this.answer(toWire(rs));
  }

  /** respond() for a response already in the package's binary strings. */
  private answer(rs: Message): boolean {
    const id = transactionId(rs);
    const t = this.layer.getServer(rs);
    if (!t) {
      this.unanswered.delete(id);
      return false;
    }
    t.send(rs);
    const status = rs.status ?? 0;
    if (status < 200) return true;
    const held = this.unanswered.get(id);
    this.unanswered.delete(id);
    if (rs.headers.cseq?.method === 'INVITE') {
      // A 2xx starts the dialog: the package keeps it 32 s to absorb INVITE retransmissions (RFC 6026).
      if (status < 300) return true;
      this.refused.delete(id);
      this.refused.set(id, { transaction: t, at: this.now(), key: keyOf(rs), remote: held?.remote ?? NO_REMOTE });
      while (this.refused.size > MAX_REFUSED_INVITES) this.letGo(this.refused, this.refused.keys().next().value!);
      return true;
    }
    // Over a connection nothing is retransmitted (timer J is 0); over UDP the answer is kept as text.
    t.shutdown();
    if (held?.remote.protocol !== 'UDP') return true;
    this.answers.delete(id);
    this.answers.set(id, { text: sip.stringify(rs), remote: held.remote, at: this.now() });
    if (this.answers.size > MAX_ANSWERS) this.answers.delete(this.answers.keys().next().value!);
    return true;
  }

  /** The request was answered outside its transaction: nothing to keep for it. */
  forget(request: Message): void {
    const rq = toWire(request);
    const id = transactionId(rq);
    this.unanswered.delete(id);
    this.layer.getServer(rq)?.shutdown();
  }

  /** Sends a request to where a flow came from; the callback gets every response (408/503 made up locally). */
  request(request: Message, flow: Remote, onResponse: (rs: Message) => void): Message {
    const rq = toWire(request);
    rq.headers.via = [{ params: {} }, ...(rq.headers.via ?? [])];
    let client: { message(m: Message): void } | null = null;
    const connection: Connection = this.transport.open(flow, () => client?.message(sip.makeResponse(rq, 503)));
    client = this.layer.createClientTransaction(connection, rq, (rs: Message) => onResponse(fromWire(rs)));
    return rq;
  }

  /**
   * CANCEL for an INVITE of the box's (RFC 3261 9.1): its Request-URI, Call-ID, From, To, Route and CSeq number, and
   * its top Via, branch included, so that the phone matches it to the INVITE; a transaction of its own.
   */
  cancel(invite: Message, flow: Remote): void {
    const h = invite.headers;
    const top = h.via?.[0];
    if (!top) return;
    const rq: Message = {
      method: 'CANCEL',
      uri: invite.uri,
      version: '2.0',
      headers: {
        via: [{ ...top, params: { ...top.params } }], to: h.to, from: h.from, 'call-id': h['call-id'], cseq: { seq: h.cseq!.seq, method: 'CANCEL' },
        'max-forwards': '70', ...(h.route ? { route: h.route } : {}),
      },
    };
    const connection: Connection = this.transport.open(flow, (e: unknown) => this.o.onError(e));
    this.layer.createClientTransaction(connection, rq, () => undefined);
  }

  /** Sends an ACK for a 2xx to the box's own INVITE: outside any transaction, with a Via of its own (RFC 3261 13.2.2.4). */
  ack(request: Message, flow: Remote): void {
    const rq = toWire(request);
    rq.headers.via = [{ params: { branch: sip.generateBranch() } }];
    const connection = this.transport.open(flow, (e: unknown) => this.o.onError(e));
    try {
      connection.send(rq);
    } finally {
      connection.release();
    }
  }

  /** What the box holds for requests: what a flood could swell. */
  held(): { unanswered: number; refusedInvites: number; answers: number } {
    return { unanswered: this.unanswered.size, refusedInvites: this.refused.size, answers: this.answers.size };
  }

  destroy(): void {
    clearInterval(this.sweeper);
    this.unanswered.clear();
    this.refused.clear();
    this.answers.clear();
    this.layer.destroy();
    this.transport.destroy();
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, held] of this.unanswered) {
      if (now - held.at < MAX_UNANSWERED_MS) break;
      this.letGo(this.unanswered, id);
    }
    // The package ends these itself after the window; only the references held here are dropped.
    for (const [id, held] of this.refused) {
      if (now - held.at < RETRANSMISSION_WINDOW_MS) break;
      this.refused.delete(id);
    }
    for (const [id, answer] of this.answers) {
      if (now - answer.at < RETRANSMISSION_WINDOW_MS) break;
      this.answers.delete(id);
    }
  }

  private resend(answer: Answer): void {
    const rs = sip.parse(answer.text);
    const cn = this.transport.get(answer.remote);
    if (!rs || !cn) return;
    try {
      cn.send(rs);
    } finally {
      cn.release();
    }
  }

  private letGo(from: Map<string, Held>, id: string): void {
    const held = from.get(id);
    from.delete(id);
    // Only while the layer still holds it: an ended transaction's id may already name a new one.
    if (held && this.layer.getServer(held.key) === held.transaction) held.transaction.shutdown();
  }
}

/**
 * The package reads and writes messages as binary strings (one character a byte), which keeps its Content-Length
 * a count of bytes; the box sees text, as RFC 3261 7.3.1 says it is: UTF-8. A string that is not valid UTF-8
 * is left as its bytes. Via and Call-ID, which find the transaction, are tokens and stay as they came, so that
 * an answer finds its transaction whatever bytes they held.
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const AS_SENT = new Set(['via', 'call-id']);

export function fromWire(m: Message): Message {
  return mapMessage(m, (s) => {
    if (!/[\x80-\xff]/.test(s)) return s;
    try {
      return UTF8.decode(Buffer.from(s, 'latin1'));
    } catch {
      return s;
    }
  });
}

export function toWire(m: Message): Message {
  return mapMessage(m, (s) => (/[^\x00-\x7f]/.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s));
}

function mapMessage(m: Message, f: (s: string) => string): Message {
  const headers: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(m.headers)) headers[name] = AS_SENT.has(name) ? value : mapStrings(value, f);
  return { ...mapStrings({ ...m, headers: {} }, f), headers };
}

/** A copy with each string passed through f. */
function mapStrings<T>(value: T, f: (s: string) => string): T {
  if (typeof value === 'string') return f(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => mapStrings(v, f)) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = mapStrings(v, f);
  return out as T;
}

const NO_REMOTE: Remote = { protocol: '', address: '', port: 0, local: { address: '', port: 0 } };

function sameSource(a: Remote, b: Remote): boolean {
  return a.protocol === b.protocol && a.address === b.address && a.port === b.port;
}

function keyOf(m: Message): Message {
  const via = m.headers.via?.[0];
  return {
    method: m.method === 'ACK' ? 'INVITE' : m.headers.cseq?.method,
    headers: { 'call-id': m.headers['call-id'], cseq: m.headers.cseq, via: via ? [{ params: { branch: via.params.branch } }] : [] },
  };
}

/** The package's own transaction key: CSeq method (INVITE for an ACK), Call-ID and top Via branch. */
function transactionId(m: Message): string {
  const method = m.method === 'ACK' ? 'INVITE' : m.headers.cseq?.method;
  return [method, m.headers['call-id'], m.headers.via?.[0]?.params.branch].join();
}
