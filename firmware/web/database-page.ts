import type { ProbeResult } from '../store/probe.ts';
import { html, type Html } from './html.ts';
import { csrfField, field, type PageContext } from './pages.ts';

/** The database the box keeps its configuration in now, as the page and the API show it (never a password). */
export type DatabaseView =
  | { kind: 'embedded' }
  | { kind: 'server'; where: string; database: string; setBy: string };

/** The answer of a "Test connection", shown above the form that asked it. */
export interface DatabaseTestView {
  result: ProbeResult;
}

/** The form's fields, named apart from the page's other forms (its password is the database account's). */
export const DATABASE_FIELDS = { host: 'dbHost', port: 'dbPort', user: 'dbUser', password: 'dbPassword', database: 'dbName', tls: 'dbTls', ca: 'dbCa' } as const;

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
  <p>${current.kind === 'embedded'
    ? html`Rooms, extensions, peers and settings are kept in the box's own database (its embedded MariaDB).`
    : html`Rooms, extensions, peers and settings are kept on <code>${current.where}</code>, database <code>${current.database}</code> (${current.setBy}).`}</p>
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
    </fieldset>
    <div class="actions"><button class="primary">Test connection</button></div>
    <p class="muted">Testing connects and reads; it changes nothing, and the box keeps using its database.</p>
  </form>
</section>`;
}
