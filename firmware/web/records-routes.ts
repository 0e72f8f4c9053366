/**
 * The pages of what the box keeps: the call log (and its CSV), the recordings (play, download, delete) and the
 * configuration's backup and restore on the Settings page.
 */
import { BoxError } from '../errors.ts';
import { CALL_LOG_EXPORT_ROWS, FileReply, recordingFile } from './api-routes.ts';
import { CALL_LOG_PAGE_ROWS, callLogPage } from './call-log-page.ts';
import { callLogCsv, csvFileName, parseDayRange } from './call-log.ts';
import type { Html } from './html.ts';
import type { Actor, Operations } from './operations.ts';
import { capitalise, type PageContext } from './pages.ts';
import { recordingsPage } from './recordings-page.ts';
import type { Form } from './request-body.ts';
import type { Handler, Outcome, Req } from './server.ts';

/** What the pages need of the server: its route table, the login guard, replies and form handling. */
export interface PageRouter {
  ops: Operations;
  route(method: string, path: string, handler: Handler): void;
  /** A page that needs the admin; a POST's form is read and its CSRF token checked first. */
  guard(handler: (rq: Req, params: string[], form: Form) => Promise<void> | void): Handler;
  page(rq: Req, status: number, body: Html): void;
  send(rq: Req, status: number, type: string, text: string, headers: Record<string, string | string[]>): void;
  sendFile(rq: Req, f: FileReply): Promise<void>;
  /** Runs a form's action; a rejected value re-renders the form with the message beside its field. */
  formAction(rq: Req, form: Form, action: () => Promise<Outcome>, rerender: (ctx: PageContext) => Promise<Html>, done: string): Promise<void>;
  pageContext(rq: Req, extra?: Partial<PageContext>): PageContext;
  actor(rq: Req): Actor;
  settingsView(ctx: PageContext): Promise<Html>;
}

export function defineRecordsRoutes(r: PageRouter): void {
  const ops = r.ops;
  // Call log
  r.route('GET', '/calls', r.guard(async (rq) => {
    const from = rq.query.get('from');
    const to = rq.query.get('to');
    try {
      const { range, rows } = await ops.callLog(from, to, CALL_LOG_PAGE_ROWS + 1);
      return r.page(rq, 200, callLogPage(r.pageContext(rq), range, rows.slice(0, CALL_LOG_PAGE_ROWS), rows.length > CALL_LOG_PAGE_ROWS));
    } catch (e) {
      if (!(e instanceof BoxError) || !e.field) throw e;
      const ctx = r.pageContext(rq, { errors: { [e.field]: capitalise(e.message) }, values: { from: from ?? '', to: to ?? '' } });
      return r.page(rq, e.httpStatus, callLogPage(ctx, parseDayRange(null, null, new Date()), [], false));
    }
  }));
  r.route('GET', '/calls.csv', r.guard(async (rq) => {
    try {
      const { range, rows } = await ops.callLog(rq.query.get('from'), rq.query.get('to'), CALL_LOG_EXPORT_ROWS);
      return r.send(rq, 200, 'text/csv; charset=utf-8', callLogCsv(rows), { 'content-disposition': `attachment; filename="${csvFileName(range)}"` });
    } catch (e) {
      if (!(e instanceof BoxError)) throw e;
      return r.send(rq, e.httpStatus, 'text/plain; charset=utf-8', `${capitalise(e.message)}.\n`, {});
    }
  }));

  // Recordings
  const recordingsView = async (ctx: PageContext) => {
    const settings = ops.settings();
    return recordingsPage(ctx, ops.recordings(), { retentionDays: settings.recordingRetentionDays, minFreeMb: settings.recordingMinFreeMb });
  };
  r.route('GET', '/recordings', r.guard(async (rq) => r.page(rq, 200, await recordingsView(r.pageContext(rq)))));
  r.route('GET', '/recordings/:name', r.guard((rq, [name]) => r.sendFile(rq, recordingFile(ops, name!, rq.query.has('download')))));
  r.route('POST', '/recordings/:name/delete', r.guard((rq, [name], form) => r.formAction(rq, form, async () => {
    const gone = ops.deleteRecording(name!, r.actor(rq));
    return `The recording of room ${gone.room} started ${gone.startedAt.slice(0, 16).replace('T', ' ')} was deleted.`;
  }, recordingsView, '/recordings')));

  // Backup and restore (the Settings page)
  r.route('POST', '/settings/backup', r.guard(async (rq, _p, form) => {
    let backup: Awaited<ReturnType<Operations['backup']>>;
    try {
      backup = await ops.backup(form.passphrase ?? '');
    } catch (e) {
      if (!(e instanceof BoxError) || !e.field) throw e;
      return r.page(rq, e.httpStatus, await r.settingsView(r.pageContext(rq, { errors: { [e.field]: capitalise(e.message) } })));
    }
    return r.sendFile(rq, new FileReply({ text: backup.text }, 'application/json; charset=utf-8', backup.name, true));
  }));
  r.route('POST', '/settings/restore', r.guard((rq, _p, form) => r.formAction(rq, { ...form, backup: '', replaceConfirmed: form.replaceConfirmed ?? '' }, async () => {
    if (form.replaceConfirmed !== 'yes') throw new BoxError(400, 'tick the box to confirm that the configuration is replaced', 'replaceConfirmed');
    const done = await ops.restore(form.backup ?? '', form.restorePassphrase ?? '', r.actor(rq));
    return `Restored the backup written ${done.createdAt.slice(0, 16).replace('T', ' ')} by firmware ${done.firmware}: ${done.rooms} rooms, ${done.extensions} extensions, ${done.peers} trusted peers, ${done.settings} settings${done.adminPassword ? ', the administrator password' : ''}, ${done.tokens} API tokens.`;
  }, (ctx) => r.settingsView(ctx), '/settings')));
}
