import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Session } from './auth.ts';
import { EventStreams } from './event-streams.ts';
import type { Operations } from './operations.ts';
import * as pages from './pages.ts';

/** How often an open page hears from the box; a page that hears nothing for three of these says it lost contact. */
const HEARTBEAT_MS = 5_000;
const DEBOUNCE_MS = 100;
const MAX_STREAMS = 200;

/**
 * The parts of the pages the live view keeps up to date: the live conferences' cards, the status facts, the rooms'
 * "In use" column and the extensions table. A page asks for those it shows: /events?parts=extensions. Every snapshot
 * also carries what every page shows: the fault banner and the number of people in calls ("faults" asks for those
 * alone).
 */
export const LIVE_PARTS = ['live', 'status', 'rooms', 'extensions', 'faults'] as const;
export type LivePart = (typeof LIVE_PARTS)[number];
/** What a stream that names no part gets. */
const DEFAULT_PARTS: readonly LivePart[] = ['live', 'status', 'rooms'];

export interface LiveUpdatesOptions {
  ops: Operations;
  /** Fires when conferences, registrations, failed attempts or the status change. */
  onChange(listener: () => void): void;
  /** Whether a session is still logged in: streams of sessions that ended are closed. */
  alive(sessionId: string): boolean;
  /** The headers every response of the page carries. */
  headers: Record<string, string>;
}

/** One open page's stream: the session it belongs to, the CSRF token its forms carry and the parts it shows. */
interface Stream {
  session: string;
  csrf: string;
  parts: ReadonlySet<LivePart>;
}

/** The parts named in ?parts= (unknown names are ignored), else the default ones. */
export function parseLiveParts(asked: string | null): ReadonlySet<LivePart> {
  const named = (asked ?? '').split(',').map((p) => p.trim()).filter((p): p is LivePart => (LIVE_PARTS as readonly string[]).includes(p));
  return new Set(named.length ? named : DEFAULT_PARTS);
}

/** What the snapshots of one push are made of: each read from the box once, and only when some stream shows it. */
class SnapshotSources {
  private conferenceRows: ReturnType<Operations['conferences']> | null = null;
  private statusMarkup: string | null = null;
  private faultList: ReturnType<Operations['faults']> | null = null;
  private faultMarkup: string | null = null;
  private extensionRows: ReturnType<Operations['extensionsInMemory']> | null = null;

  constructor(private readonly ops: Operations) {}

  conferences(): ReturnType<Operations['conferences']> {
    return (this.conferenceRows ??= this.ops.conferences());
  }

  statusHtml(): string {
    return (this.statusMarkup ??= pages.statusBody(this.ops.status(), this.faults()).text);
  }

  faults(): ReturnType<Operations['faults']> {
    return (this.faultList ??= this.ops.faults());
  }

  faultsHtml(): string {
    return (this.faultMarkup ??= pages.faultList(this.faults()).text);
  }

  people(): number {
    return this.ops.peopleInConferences();
  }

  /** Which rooms are in use and by how many: the rooms page updates its "In use" column from this. */
  roomActivity(): Array<{ id: number; participants: number }> {
    return this.conferences().filter((c) => !c.roomDeleted).map((c) => ({ id: c.roomId, participants: c.participants.length }));
  }

  extensions(): ReturnType<Operations['extensionsInMemory']> {
    return (this.extensionRows ??= this.ops.extensionsInMemory());
  }
}

/**
 * The pages' live view over server-sent events: each open page gets a snapshot when it connects, and a new one
 * shortly after the box changes (changes close together make one snapshot).
 */
export class LiveUpdates {
  private readonly streams: EventStreams<Stream>;
  private heartbeat: NodeJS.Timeout | null = null;
  private pushTimer: NodeJS.Timeout | null = null;

  constructor(private readonly o: LiveUpdatesOptions) {
    this.streams = new EventStreams(MAX_STREAMS, o.headers);
    o.onChange(() => this.schedulePush());
  }

  /** No room for another stream: the page is told to come back later. */
  get full(): boolean {
    return this.streams.full;
  }

  start(): void {
    this.heartbeat = setInterval(() => {
      this.streams.end((s) => !this.o.alive(s.session));
      // An event, not a comment: the page's script hears it, and knows the box is there.
      this.streams.writeAll('event: alive\ndata: {}\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.streams.end();
  }

  /** Starts the stream of a logged-in page showing these parts: the current snapshot at once, then one after each change. */
  open(rq: IncomingMessage, res: ServerResponse, session: Session, parts: ReadonlySet<LivePart>): void {
    const stream: Stream = { session: session.id, csrf: session.csrf, parts };
    this.streams.open(rq, res, stream, this.snapshotEvent(stream, new SnapshotSources(this.o.ops)));
  }

  /** A session that ended (logout, password change, idle) stops receiving what the box does at once. */
  end(ids: string[] | 'all'): void {
    this.streams.end((s) => ids === 'all' || ids.includes(s.session));
  }

  /** One page's view: its forms carry its session's CSRF token, so the markup is rendered per session. */
  private snapshotEvent(stream: Stream, sources: SnapshotSources): string {
    const data: Partial<Record<LivePart | 'people', unknown>> = { faults: sources.faultsHtml(), people: sources.people() };
    const view = { csrf: stream.csrf };
    if (stream.parts.has('live')) data.live = pages.conferenceCards(view, sources.conferences()).text;
    if (stream.parts.has('status')) data.status = sources.statusHtml();
    if (stream.parts.has('rooms')) data.rooms = sources.roomActivity();
    if (stream.parts.has('extensions')) data.extensions = pages.extensionsTable(view, sources.extensions()).text;
    return `event: snapshot\ndata: ${JSON.stringify(data)}\n\n`;
  }

  private schedulePush(): void {
    if (this.pushTimer || this.streams.size === 0) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = null;
      if (this.streams.size === 0) return;
      const sources = new SnapshotSources(this.o.ops);
      const events = new Map<string, string>();
      for (const [res, stream] of this.streams.entries()) {
        const key = `${stream.csrf} ${[...stream.parts].join(',')}`;
        let event = events.get(key);
        if (event === undefined) events.set(key, (event = this.snapshotEvent(stream, sources)));
        res.write(event);
      }
    }, DEBOUNCE_MS);
    this.pushTimer.unref();
  }
}
