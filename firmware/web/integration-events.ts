/**
 * The integration stream for scripts: `GET /api/events` (server-sent events, an API token or a logged-in session) tells
 * what happens in the conferences as it happens: a conference starting and ending, people joining and leaving, and
 * each change of a participant (muted, on hold, talking, a noisy line) or of a conference (its end time, a deleted
 * room). Each event is the difference between two views of the conferences, so it never says more than the page
 * shows, and changes closer together than the debounce arrive as one.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { EventStreams } from './event-streams.ts';
import type { ConferenceRow, Operations, ParticipantRow } from './operations.ts';

const DEBOUNCE_MS = 50;
const HEARTBEAT_MS = 15_000;
const MAX_STREAMS = 50;

/** The participant fields a change event reports. */
const PARTICIPANT_STATE = ['muted', 'onHold', 'talking', 'noisy'] as const;
/** Conference fields that are no news by themselves (they change every second). */
const CONFERENCE_CLOCK = new Set(['secondsLeft']);

export interface IntegrationEvent {
  type: 'hello' | 'conference.started' | 'conference.changed' | 'conference.ended' | 'participant.joined' | 'participant.changed' | 'participant.left';
  data: Record<string, unknown>;
}

export interface IntegrationEventsOptions {
  ops: Operations;
  onChange(listener: () => void): void;
  headers: Record<string, string>;
}

interface Stream {
  /** Whether the stream's credentials are still good (a revoked token, an ended session end it). */
  allowed: () => Promise<boolean> | boolean;
}

/** What happened between two views of the conferences, in the order a listener expects. */
export function conferenceEvents(before: ConferenceRow[], after: ConferenceRow[]): IntegrationEvent[] {
  const events: IntegrationEvent[] = [];
  const old = new Map(before.map((c) => [c.key, c]));
  const now = new Map(after.map((c) => [c.key, c]));
  for (const c of after) {
    const was = old.get(c.key);
    const room = { key: c.key, room: c.roomId };
    if (!was) {
      events.push({ type: 'conference.started', data: { ...room, startedAt: c.startedAt, endsAt: c.endsAt, maxParticipants: c.maxParticipants } });
    } else {
      const changes = changedFields(was, c);
      if (Object.keys(changes).length) events.push({ type: 'conference.changed', data: { ...room, changes } });
    }
    const people = new Map((was?.participants ?? []).map((p) => [p.id, p]));
    for (const p of c.participants) {
      const before = people.get(p.id);
      if (!before) {
        events.push({ type: 'participant.joined', data: { ...room, participant: p } });
        continue;
      }
      const changes: Record<string, unknown> = {};
      for (const k of PARTICIPANT_STATE) if (before[k] !== p[k]) changes[k] = p[k];
      if (Object.keys(changes).length) events.push({ type: 'participant.changed', data: { ...room, id: p.id, caller: p.caller, changes } });
    }
    const present = new Set(c.participants.map((p) => p.id));
    for (const p of was?.participants ?? []) if (!present.has(p.id)) events.push(left(c, p));
  }
  for (const c of before) {
    if (now.has(c.key)) continue;
    for (const p of c.participants) events.push(left(c, p));
    events.push({ type: 'conference.ended', data: { key: c.key, room: c.roomId } });
  }
  return events;
}

function left(c: ConferenceRow, p: ParticipantRow): IntegrationEvent {
  return { type: 'participant.left', data: { key: c.key, room: c.roomId, id: p.id, caller: p.caller, displayName: p.displayName } };
}

/** The conference's own fields (not its people, not its clock) that differ, with their new values. */
function changedFields(was: ConferenceRow, now: ConferenceRow): Record<string, unknown> {
  const changes: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(now)) {
    if (k === 'participants' || CONFERENCE_CLOCK.has(k) || (typeof v === 'object' && v !== null)) continue;
    if ((was as unknown as Record<string, unknown>)[k] !== v) changes[k] = v;
  }
  return changes;
}

/** The open integration streams and the conferences as they last saw them. */
export class IntegrationEvents {
  private readonly streams: EventStreams<Stream>;
  /** The conferences as the open streams last heard of them (set again when the first stream opens). */
  private seen: ConferenceRow[] = [];
  private sequence = 0;
  private pushTimer: NodeJS.Timeout | null = null;
  private heartbeat: NodeJS.Timeout | null = null;

  constructor(private readonly o: IntegrationEventsOptions) {
    this.streams = new EventStreams(MAX_STREAMS, o.headers);
    o.onChange(() => this.schedule());
  }

  get full(): boolean {
    return this.streams.full;
  }

  start(): void {
    this.heartbeat = setInterval(() => void this.checkStreams(), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  stop(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.streams.end();
  }

  /** Opens a stream: first a `hello` event with every conference now, then each change. */
  open(rq: IncomingMessage, res: ServerResponse, allowed: Stream['allowed']): void {
    const now = this.o.ops.conferences();
    // Nobody listened until now, so nothing was compared: this is where the differences start.
    if (this.streams.size === 0) this.seen = now;
    this.streams.open(rq, res, { allowed }, this.format({ type: 'hello', data: { conferences: now } }));
  }

  private schedule(): void {
    if (this.pushTimer || this.streams.size === 0) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = null;
      if (this.streams.size === 0) return;
      const now = this.o.ops.conferences();
      const events = conferenceEvents(this.seen, now);
      this.seen = now;
      if (events.length) this.streams.writeAll(events.map((e) => this.format(e)).join(''));
    }, DEBOUNCE_MS);
    this.pushTimer.unref();
  }

  private format(e: IntegrationEvent): string {
    this.sequence += 1;
    return `id: ${this.sequence}\nevent: ${e.type}\ndata: ${JSON.stringify({ ...e.data, at: new Date().toISOString() })}\n\n`;
  }

  /** Streams whose token was revoked or whose session ended are closed; the others hear that the box is there. */
  private async checkStreams(): Promise<void> {
    const refused = new Set<Stream>();
    for (const [, s] of [...this.streams.entries()]) {
      if (!(await Promise.resolve(s.allowed()).catch(() => true))) refused.add(s);
    }
    this.streams.end((s) => refused.has(s));
    this.streams.writeAll(': keep-alive\n\n');
  }
}
