/**
 * The JSON API's endpoints under /api/ (GET /api/events, a stream, is the server's): each one a call of Operations,
 * with the request's JSON fields read as text where the validators expect text. docs/API.md lists them.
 */
import { BoxError } from '../errors.ts';
import type { Actor, Operations } from './operations.ts';
import type { Handler, Req } from './server.ts';

/** Rows a CSV download or the API gives at most for one range. */
export const CALL_LOG_EXPORT_ROWS = 10_000;
/** How long a firmware upload may take to arrive. */
const UPLOAD_BODY_MS = 60 * 60_000;

/** A reply that is a file rather than JSON: a recording on disk (streamed), or a backup made for the request. */
export class FileReply {
  constructor(readonly source: { path: string } | { text: string }, readonly type: string, readonly name: string, readonly attachment: boolean) {}
}

/** What the endpoints need of the server: a route table, the API's access check, and who a request comes from. */
export interface ApiRouter {
  ops: Operations;
  route(method: string, path: string, handler: Handler): void;
  /** Wraps a handler with the API's access check; its result is sent as JSON (or streamed, for a FileReply). */
  api(handler: (rq: Req, params: string[], body: Record<string, unknown>) => Promise<unknown> | unknown, status?: number, raw?: boolean): Handler;
  actor(rq: Req): Actor;
}

export function defineApiRoutes(r: ApiRouter): void {
  const ops = r.ops;
    const text = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'string' || typeof v === 'number' ? String(v) : '\u0000');
    const optional = (v: unknown): string | null => (v === undefined || v === null ? null : text(v));
    /** A field a PATCH may leave out (undefined: unchanged). */
    const given = (v: unknown): string | undefined => (v === undefined ? undefined : optional(v) ?? '');
    const flag = (v: unknown): string | boolean | undefined => (v === undefined || v === null ? undefined : typeof v === 'boolean' ? v : text(v));

    r.route('GET', '/api/rooms', r.api(() => ops.rooms()));
    r.route('POST', '/api/rooms', r.api((rq, _p, b) => ops.addRoom(
      {
        id: text(b.id), pin: text(b.pin), moderatorPin: optional(b.moderatorPin), duration: optional(b.duration), creator: optional(b.creator),
        maxParticipants: optional(b.maxParticipants), keep: flag(b.keep), record: flag(b.record),
        waitForModerator: flag(b.waitForModerator), moderatorLeaves: optional(b.moderatorLeaves),
      }, r.actor(rq),
    ), 201));
    r.route('PATCH', '/api/rooms/:id', r.api((rq, [id], b) => ops.editRoom(id!, {
      pin: b.pin === undefined ? undefined : text(b.pin), moderatorPin: given(b.moderatorPin), duration: given(b.duration), creator: given(b.creator), maxParticipants: given(b.maxParticipants), keep: flag(b.keep), record: flag(b.record),
      waitForModerator: flag(b.waitForModerator), moderatorLeaves: given(b.moderatorLeaves),
    }, r.actor(rq))));
    r.route('GET', '/api/rooms/:id', r.api(async (_rq, [id]) => {
      const room = (await ops.rooms()).find((r) => String(r.id) === id);
      if (!room) throw new BoxError(404, `room ${id} does not exist`, 'id', 'not-found');
      return room;
    }));
    r.route('DELETE', '/api/rooms/:id', r.api(async (rq, [id]) => ({ deleted: Number(id), participantsStaying: await ops.deleteRoom(id!, r.actor(rq)) })));

    r.route('GET', '/api/conferences', r.api(() => ops.conferences()));
    r.route('DELETE', '/api/conferences/:key', r.api((rq, [key]) => ops.endConference(key!, r.actor(rq)), 204));
    r.route('PATCH', '/api/conferences/:key', r.api((rq, [key], b) => ops.lockConference(key!, b.locked, r.actor(rq))));
    r.route('POST', '/api/conferences/:key/mute-all', r.api((rq, [key], b) => ops.muteAll(key!, b.muted, r.actor(rq))));
    r.route('PATCH', '/api/conferences/:key/participants/:id', r.api((rq, [key, id], b) => {
      ops.setMuted(key!, id!, b.muted, r.actor(rq));
      return ops.conferences().find((c) => c.key === key)?.participants.find((p) => p.id === id) ?? null;
    }));
    r.route('POST', '/api/conferences/:key/invite', r.api((rq, [key], b) => ops.invite(key!, b.extension, r.actor(rq))));
    r.route('POST', '/api/conferences/:key/recording', r.api((rq, [key], b) => ops.recordConference(key!, b.on, r.actor(rq))));
    r.route('DELETE', '/api/conferences/:key/participants/:id', r.api((rq, [key, id]) => ops.removeParticipant(key!, id!, r.actor(rq)), 204));

    r.route('GET', '/api/extensions', r.api(() => ops.extensions()));
    r.route('PUT', '/api/extensions/:number', r.api((_rq, [number], b) => ops.putExtension({ number: number!, displayName: optional(b.displayName), password: optional(b.password) })));
    r.route('DELETE', '/api/extensions/:number', r.api((_rq, [number]) => ops.deleteExtension(number!), 204));

    r.route('GET', '/api/peers', r.api(() => ops.peers()));
    r.route('POST', '/api/peers', r.api((_rq, _p, b) => ops.putPeer({ cidr: text(b.cidr), description: optional(b.description), transport: optional(b.transport), outboundPort: typeof b.outboundPort === 'boolean' ? b.outboundPort : optional(b.outboundPort) }), 201));
    r.route('DELETE', '/api/peers/:cidr', r.api((_rq, [cidr]) => ops.deletePeer(cidr!), 204));

    r.route('GET', '/api/settings', r.api(() => ops.settings()));
    r.route('GET', '/api/database', r.api(() => ops.database()));
    r.route('POST', '/api/database/test', r.api((rq, _p, b) => ops.testDatabase(b, r.actor(rq))));
    r.route('PUT', '/api/database', r.api((rq, _p, b) => ops.saveDatabase(b, r.actor(rq))));
    // Back to the box's own database; ?copy=yes (and &replace=yes) copies the configuration back.
    r.route('DELETE', '/api/database', r.api((rq) => ops.useEmbeddedDatabase({ copy: rq.query.get('copy') ?? undefined, replace: rq.query.get('replace') ?? undefined }, r.actor(rq))));
    r.route('PATCH', '/api/settings', r.api((_rq, _p, b) => ops.updateSettings(b)));

    r.route('GET', '/api/blocked', r.api(() => ops.blocked()));
    r.route('DELETE', '/api/blocked/:address', r.api((rq, [address]) => ops.liftBlock(address!, r.actor(rq)), 204));

    r.route('GET', '/api/status', r.api(() => ops.status()));

    r.route('GET', '/api/recordings', r.api(() => ops.recordings()));
    r.route('GET', '/api/recordings/:name', r.api((rq, [name]) => recordingFile(ops, name!, rq.query.has('download'))));
    r.route('DELETE', '/api/recordings/:name', r.api((rq, [name]) => ops.deleteRecording(name!, r.actor(rq)), 204));

    r.route('POST', '/api/backup', r.api(async (_rq, _p, b) => {
      const backup = await ops.backup(b.passphrase);
      return new FileReply({ text: backup.text }, 'application/json; charset=utf-8', backup.name, true);
    }));
    r.route('POST', '/api/restore', r.api((rq, _p, b) => ops.restore(typeof b.backup === 'string' ? b.backup : b.backup === undefined ? undefined : JSON.stringify(b.backup), b.passphrase, r.actor(rq))));

    r.route('GET', '/api/cluster', r.api(() => ops.cluster()));
    r.route('GET', '/api/update', r.api(() => ops.update()));
    // The bundle is the body itself (application/octet-stream), streamed to the data partition.
    r.route('POST', '/api/update', r.api((rq) => {
      const type = String(rq.raw.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== 'application/octet-stream') throw new BoxError(415, `send the update file itself as application/octet-stream, not ${type || 'no content type'}`, undefined, 'unsupported-type');
      const length = Number(rq.raw.headers['content-length']);
      // A bundle of a few hundred MB over a slow link: the caller is known, the upload may take its time.
      rq.allowBody(UPLOAD_BODY_MS);
      return ops.installUpdate(rq.raw, Number.isSafeInteger(length) && length > 0 ? length : null, r.actor(rq));
    }, 200, true));

    r.route('GET', '/api/call-log', r.api(async (rq) => {
      const { range, rows } = await ops.callLog(rq.query.get('from'), rq.query.get('to'), CALL_LOG_EXPORT_ROWS);
      return { from: range.from, to: range.to, entries: rows };
    }));
}

/** A recording as a file reply: played inline, or downloaded as an attachment. */
export function recordingFile(ops: Operations, name: string, download: boolean): FileReply {
  const r = ops.recording(name);
  return new FileReply({ path: r.path }, 'audio/wav', r.name, download);
}
