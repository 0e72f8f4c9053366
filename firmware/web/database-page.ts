import type { ProbeResult } from '../store/probe.ts';
import { html, type Html } from './html.ts';
import { checkbox, csrfField, field, type PageContext } from './pages.ts';

/** A database as the page and the API show it (never a password). */
export type DatabasePlace =
  /** The box's own database: its embedded MariaDB, or (`own`) the server of its own that --own-db names (the board's). */
  | { kind: 'embedded'; own?: { where: string; database: string } }
  | { kind: 'server'; where: string; database: string; tls?: string };

/** The database in use, and the one the box uses from its next start (the page's choice, or a start-up option). */
export type DatabaseView = DatabasePlace & {
  /** Set by whom: "the page", or a start-up option (--db, CONFBOX_DB) that wins over the page. */
  setBy: 'default' | 'page' | 'start-up option';
  nextStart: DatabasePlace;
};

/** The answer of a "Test connection" or a save, shown above the form that asked it. */
export interface DatabaseTestView {
  result: ProbeResult | { ok: boolean; message: string };
}

function describePlace(p: DatabasePlace): Html {
  if (p.kind === 'embedded') return p.own ? html`the box's own database (<code>${p.own.where}</code>, database <code>${p.own.database}</code>)` : html`the box's own database (its embedded MariaDB)`;
  return html`<code>${p.where}</code>, database <code>${p.database}</code>${p.tls && p.tls !== 'off' ? ' over TLS' : ''}`;
}

function samePlace(a: DatabasePlace, b: DatabasePlace): boolean {
  return a.kind === b.kind && (a.kind === 'embedded' || (b.kind === 'server' && a.where === b.where && a.database === b.database));
}

/** The form's fields, named apart from the page's other forms (its password is the database account's). */
export const DATABASE_FIELDS = { host: 'dbHost', port: 'dbPort', user: 'dbUser', password: 'dbPassword', database: 'dbName', tls: 'dbTls', ca: 'dbCa', copy: 'dbCopy', replace: 'dbReplace', backCopy: 'dbBackCopy', backReplace: 'dbBackReplace' } as const;

/**
 * The Settings page's Database section: where the rooms are kept now, and "Test connection" with an office's MySQL or
 * MariaDB server, which changes nothing. Works without JavaScript.
 */
export function databaseSection(ctx: PageContext, current: DatabaseView, tested: DatabaseTestView | null): Html {
  const f = DATABASE_FIELDS;
  const caError = ctx.errors?.[f.ca];
  const caValue = ctx.values?.[f.ca] ?? '';
  return html`<section class="card" id="database">
  <h2>Database</h2>
  <p>Rooms, extensions, peers and settings are kept in ${describePlace(current)}${current.setBy === 'start-up option' ? html`, set when the box starts (<code>--db</code> or <code>CONFBOX_DB</code>), which wins over this page` : current.setBy === 'page' ? ', chosen on this page' : ''}.</p>
  ${samePlace(current, current.nextStart) ? '' : html`<p class="notice">From the box's next start: ${describePlace(current.nextStart)}. Restart the box to switch.</p>`}
  ${(current.kind === 'server' || current.nextStart.kind === 'server') && current.setBy !== 'start-up option' ? html`<form method="post" action="/settings/database/embedded">
    ${csrfField(ctx)}
    ${current.kind === 'server' ? html`${checkbox(ctx, { name: f.backCopy, checked: false, label: 'Copy the rooms, extensions, peers and settings back to the box\'s own database', hint: 'With the administrator password and the API tokens: what was changed here comes along.' })}
    ${checkbox(ctx, { name: f.backReplace, checked: false, label: 'Replace what the box\'s own database holds', hint: 'Only needed when it still holds rooms, extensions or peers from before: they are listed first.' })}` : ''}
    <div class="actions"><button class="small" data-confirm="Use the box's own database again? Calls in progress go on.">Use the box's own database again</button></div>
  </form>` : ''}
  ${tested ? html`<p class="${tested.result.ok ? 'notice' : 'error-box'}" role="status" id="database-test-result">${tested.result.message}</p>` : ''}
  <form method="post" action="/settings/database/test" novalidate>
    ${csrfField(ctx)}
    <fieldset class="grid">
      <legend>An office's MySQL or MariaDB server</legend>
      ${field(ctx, { name: f.host, label: 'Server', required: true, placeholder: 'db.office.lan', hint: 'Its host name or IP address.' })}
      ${field(ctx, { name: f.port, label: 'Port', value: '3306', inputmode: 'numeric', hint: 'MySQL and MariaDB listen on 3306.' })}
      ${field(ctx, { name: f.user, label: 'User', required: true, placeholder: 'confbox', autocomplete: 'off' })}
      ${field(ctx, { name: f.password, label: 'Password', type: 'password', autocomplete: 'off', hint: 'The account\'s password; never shown again.' })}
      ${field(ctx, { name: f.database, label: 'Database', value: 'confbox', hint: 'MariaDB 10.6 or later, or MySQL 8.0 or later.' })}
      ${field(ctx, { name: f.tls, label: 'TLS to the server', value: 'off', options: [['off', 'Off'], ['on', 'On, a certificate any trusted CA signed'], ['ca', 'On, a certificate the CA below signed']] })}
      <div class="field wide${caError ? ' has-error' : ''}">
        <label for="f-${f.ca}">The server's CA certificate (PEM)</label>
        <textarea id="f-${f.ca}" name="${f.ca}" rows="4" placeholder="-----BEGIN CERTIFICATE-----" aria-describedby="f-${f.ca}-msg"${caError ? html` aria-invalid="true"` : ''}>${caValue}</textarea>
        <p class="msg" id="f-${f.ca}-msg"${caError ? html` role="alert"` : ''}>${caError ?? 'With "On, a certificate the CA below signed".'}</p>
      </div>
      ${checkbox(ctx, { name: f.copy, checked: false, label: 'When saving, copy this box\'s rooms, extensions, peers and settings there', hint: 'With the administrator password and the API tokens, so that the page and scripts work the same after the switch.' })}
      ${checkbox(ctx, { name: f.replace, checked: false, label: 'Replace what the database already holds', hint: 'Only needed when it holds rooms, extensions or peers already (another box, an earlier install): they are listed first.' })}
    </fieldset>
    <div class="actions"><button class="primary">Test connection</button> <button formaction="/settings/database/save">Save, and switch to it now</button></div>
    <p class="muted">Testing connects and reads; it changes nothing. Saving tests again, keeps the details (the password under the box's data directory, never shown again) and moves the box there at once, calls in progress going on: an empty database gets the box's tables, and one that holds them already is used as it is.</p>
  </form>
</section>`;
}
