import { html, type Html } from './html.ts';
import { csrfField, field, type PageContext } from './pages.ts';

/**
 * The Settings page's backup and restore: download the configuration (sealed with a passphrase when one is typed),
 * and restore one from a file, after a tick that says what it replaces. Both work without JavaScript.
 */
export function backupSection(ctx: PageContext): Html {
  const error = ctx.errors?.replaceConfirmed;
  return html`<section class="card" id="backup">
  <h2>Backup and restore</h2>
  <p class="muted">A backup holds the rooms, extensions (their password hashes, never a password), trusted peers, settings, the administrator password's hash and the API tokens. Keep it where only you can read it; a passphrase seals it.</p>
  <form method="post" action="/settings/backup" class="row" novalidate>
    ${csrfField(ctx)}
    ${field(ctx, { name: 'passphrase', label: 'Passphrase (optional)', type: 'password', autocomplete: 'new-password', hint: 'At least 8 characters; needed to restore the backup.' })}
    <button class="primary">Download backup</button>
  </form>
  <form method="post" action="/settings/restore" enctype="multipart/form-data" class="grid restore" novalidate>
    ${csrfField(ctx)}
    ${field(ctx, { name: 'backup', label: 'Backup file', type: 'file', hint: 'A file downloaded here, or written by confbox backup.' })}
    ${field(ctx, { name: 'restorePassphrase', label: 'Its passphrase', type: 'password', autocomplete: 'off', hint: 'Only for a backup sealed with one.' })}
    <div class="field check${error ? ' has-error' : ''}">
      <label for="f-replaceConfirmed"><input id="f-replaceConfirmed" name="replaceConfirmed" type="checkbox" value="yes" aria-describedby="f-replaceConfirmed-msg"${error ? html` aria-invalid="true"` : ''}> Replace this box's rooms, extensions, peers, settings, password and tokens with the backup's</label>
      <p class="msg" id="f-replaceConfirmed-msg"${error ? html` role="alert"` : ''}>${error ?? 'Conferences in progress go on; phones register again with their passwords from the backup.'}</p>
    </div>
    <div class="actions"><button class="danger">Restore</button></div>
  </form>
</section>`;
}
