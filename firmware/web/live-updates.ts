import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Session } from './auth.ts';
import type { Operations } from './operations.ts';
import * as pages from './pages.ts';

const HEARTBEAT_MS = 15_000;
const DEBOUNCE_MS = 100;
const MAX_STREAMS = 200;

export interface LiveUpdatesOptions {
  ops: Operations;
  /** Fires when conferences or the status change. */
  onChange(listener: () => void): void;
  /** Whether a session is still logged in: streams of sessions that ended are closed. */
  alive(sessionId: string): boolean;
  /** The headers every response of the page carries. */
  headers: Record<string, string>;
}

/** One open page's stream: the session it belongs to and the CSRF token its forms carry. */
interface Stream {
  session: string;
  csrf: string;
}

/**
 * The pages' live view over server-sent events: each open page gets a snapshot when it connects, and a new one
 * shortly after the box changes (changes close together make one snapshot).
 */
export class LiveUpdates {
  private readonly streams = new Map<ServerResponse, Stream>();
  private heartbeat: NodeJS.Timeout | null = null;
  private pushTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: LiveUpdatesOptions) {
    o.onChange(() => this.schedulePush());
  }

  /** No room for another stream: the page is told to come back later. */
  get full(): boolean {
    return this.streams.size >= MAX_STREAMS;
  }

  start(): void {
    this.heartbeat = setInterval(() => {
      this.end([...this.streams.values()].map((v) => v.session).filter((id) => !this.o.alive(id)));
      for (const res of this.streams.keys()) res.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.pushTimer) clearTimeout(this.pushTimer);
    for (const res of this.streams.keys()) res.end();
    this.streams.clear();
  }

  /** Starts the stream of a logged-in page: the current snapshot at once, then one after each change. */
  open(rq: IncomingMessage, res: ServerResponse, session: Session): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no', ...this.o.headers });
    res.write('retry: 2000\n\n');
    const csrf = session.csrf;
    res.write(this.snapshotEvent(csrf));
    this.streams.set(res, { session: session.id, csrf });
    rq.socket.setTimeout(0);
    const drop = () => this.streams.delete(res);
    res.once('close', drop);
    rq.once('close', drop);
  }

  /** A session that ended (logout, password change, idle) stops receiving what the box does at once. */
  end(ids: string[] | 'all'): void {
    for (const [res, v] of this.streams) {
      if (ids !== 'all' && !ids.includes(v.session)) continue;
      this.streams.delete(res);
      res.end();
    }
  }

  /** One client's view: its forms carry its own CSRF token, so the markup is rendered per session. */
  private snapshotEvent(csrf: string, shared = this.sharedSnapshot()): string {
    const data = { live: pages.conferenceCards({ csrf }, shared.conferences).text, status: shared.statusHtml, rooms: shared.rooms };
    return `event: snapshot\ndata: ${JSON.stringify(data)}\n\n`;
  }

  private sharedSnapshot() {
    const conferences = this.o.ops.conferences();
    return { conferences, statusHtml: pages.statusBody(this.o.ops.status()).text, rooms: this.roomActivity(conferences) };
  }

  /** Which rooms are in use and by how many: the rooms page updates its "In use" column from this. */
  private roomActivity(conferences: ReturnType<Operations['conferences']>): Array<{ id: number; participants: number }> {
    return conferences.filter((c) => !c.roomDeleted).map((c) => ({ id: c.roomId, participants: c.participants.length }));
  }

  private schedulePush(): void {
    if (this.pushTimer || this.streams.size === 0) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = null;
      if (this.streams.size === 0) return;
      const shared = this.sharedSnapshot();
      const byCsrf = new Map<string, string>();
      for (const [res, { csrf }] of this.streams) {
        let event = byCsrf.get(csrf);
        if (event === undefined) byCsrf.set(csrf, (event = this.snapshotEvent(csrf, shared)));
        res.write(event);
      }
    }, DEBOUNCE_MS);
    this.pushTimer.unref();
  }
}
