import type { UpdateView } from '../update/index.ts';
import { html, type Html } from './html.ts';
import { csrfField, type PageContext } from './pages.ts';

/**
 * The Status page's firmware: the two root slots (which runs, which starts next, what each holds) and an update
 * under way, live; and the card that sends an update file (its upload needs the page's script: `confbox update FILE`
 * on the console and POST /api/update do the same without a browser).
 */
export function firmwareFacts(u: UpdateView, version: string): Html {
  return html`<dt>Firmware</dt><dd><code>${version}</code>${u.available ? html` <span class="muted">from slot ${u.booted}${u.markedGood ? ', marked good' : ''}</span>` : ''}</dd>
    <dt>Root slots</dt><dd id="slots">${u.available ? html`<ul class="plain">${u.slots.map((s) => html`<li data-slot="${s.bootname}">${slotLine(s, u.booted)}</li>`)}</ul>` : html`<span class="badge">unavailable</span> <span class="muted">updates are installed on the box's image only (${u.reason})</span>`}</dd>
    <dt>Update</dt><dd id="update-state">${updateState(u)}</dd>`;
}

function slotLine(s: UpdateView['slots'][number], booted: string): Html {
  const roles = [s.bootname === booted ? 'running' : '', s.primary ? 'starts next' : '', s.bootStatus === 'bad' ? 'given up: it did not come up healthy' : ''].filter(Boolean);
  const holds = s.version ? html`<code>${s.version}</code>${s.installedAt ? html` <span class="muted">installed <time datetime="${s.installedAt}">${s.installedAt.slice(0, 16).replace('T', ' ')}</time></span>` : ''}` : html`<span class="muted">${s.bootname === booted ? 'as flashed' : 'empty'}</span>`;
  return html`Slot ${s.bootname}: ${holds}${roles.length ? html` <span class="badge${s.bootStatus === 'bad' ? ' bad' : s.bootname === booted ? ' ok' : ''}">${roles.join(', ')}</span>` : ''}`;
}

function updateState(u: UpdateView): Html {
  switch (u.phase) {
    case 'receiving':
    case 'installing':
      return html`<span class="badge warn">${u.phase === 'receiving' ? 'receiving' : 'installing'}</span> <progress max="100" value="${u.percent}">${u.percent} %</progress> ${u.percent} % <span class="muted">${u.step}</span>`;
    case 'restarting':
      return html`<span class="badge warn">restarting</span> ${u.step}; calls are ended and the box restarts${u.restartAt ? html` at <time datetime="${new Date(u.restartAt).toISOString()}">${new Date(u.restartAt).toISOString().slice(11, 19)}</time>` : ''}`;
    case 'failed':
      return html`<span class="badge bad">failed</span> ${u.error}`;
    default:
      return html`<span class="muted">none under way</span>`;
  }
}

export function updateCard(ctx: PageContext, u: UpdateView): Html {
  if (!u.available) return html``;
  return html`<section class="card" id="update">
  <h2>Update the firmware</h2>
  <p class="muted">An update file (<code>.raucb</code>, signed for this box) is written into the slot that is not running; the configuration, recordings and secrets stay where they are. When it is in, everyone in a call hears that the box restarts, the calls are ended, and the box starts the new firmware. If it does not come up healthy, the box goes back to this one by itself.</p>
  <form id="update-form" method="post" action="/api/update" class="grid" novalidate>
    ${csrfField(ctx)}
    <div class="field">
      <label for="f-bundle">Update file</label>
      <input id="f-bundle" name="bundle" type="file" accept=".raucb" aria-describedby="f-bundle-msg" required>
      <p class="msg" id="f-bundle-msg" aria-live="polite">A file made by npm run image for this box.</p>
    </div>
    <div class="actions"><button class="primary" data-confirm="Install this update? Calls in progress are ended when it is in, and the box restarts.">Install update</button></div>
  </form>
  <noscript><p>Sending an update from the page needs its script; on the box's console run <code>confbox update FILE</code>, or send the file to <code>POST /api/update</code>.</p></noscript>
</section>`;
}
