import { html, type Html } from './html.ts';
import type { RecordingRow } from './operations.ts';
import { csrfField, layout, rowId, type PageContext } from './pages.ts';

function length(seconds: number): string {
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h} h ${String(m).padStart(2, '0')} min` : `${m}:${String(s % 60).padStart(2, '0')}`;
}

function size(bytes: number): string {
  return bytes >= 1048576 ? `${(bytes / 1048576).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/**
 * The recordings page: each recording with its room, start, length and size, a player, a download and a delete;
 * one being written is marked and cannot be deleted until its recording stops.
 */
export function recordingsPage(ctx: PageContext, rows: readonly RecordingRow[], settings: { retentionDays: number; minFreeMb: number }): Html {
  const kept = settings.retentionDays > 0 ? `Recordings are deleted after ${settings.retentionDays} days` : 'Recordings are kept until deleted here';
  return layout('Recordings', '/recordings', ctx, html`
<section class="card">
  <h2>Meetings recorded on this box</h2>
  <p class="muted">${kept}; a recording needs ${settings.minFreeMb} MB free to start (both on the <a href="/settings">Settings</a> page). A moderator starts and stops one with *4, the Live page with Record; a room can record every meeting.</p>
  ${rows.length === 0 ? html`<p class="empty">No recordings yet.</p>` : html`
  <div class="table-wrap"><table class="recordings stack">
    <thead><tr><th>Room</th><th>Started</th><th>Length</th><th>Size</th><th>Listen</th><th><span class="sr">Actions</span></th></tr></thead>
    <tbody>${rows.map((r) => {
      const href = `/recordings/${encodeURIComponent(r.name)}`;
      return html`<tr data-recording="${r.name}" id="${rowId('recording', r.name)}" tabindex="-1">
      <td class="num" data-label="Room">${r.room}</td>
      <td data-label="Started"><time datetime="${r.startedAt}">${r.startedAt.slice(0, 19).replace('T', ' ')}</time>${r.active ? html` <span class="badge bad">recording now</span>` : ''}</td>
      <td class="num" data-label="Length">${length(r.seconds)}</td>
      <td class="num" data-label="Size">${size(r.bytes)}</td>
      <td data-label="Listen"><audio controls preload="none" src="${href}" aria-label="Recording of room ${r.room} started ${r.startedAt.slice(0, 16).replace('T', ' ')}"></audio></td>
      <td><a class="button small" href="${href}?download" download="${r.name}">Download<span class="sr"> ${r.name}</span></a>
        <form method="post" action="${href}/delete" class="inline">${csrfField(ctx)}<button class="danger small"${r.active ? ' disabled' : ''} data-confirm="Delete the recording of room ${r.room} started ${r.startedAt.slice(0, 16).replace('T', ' ')}? It cannot be undone.">Delete<span class="sr"> ${r.name}</span></button></form></td>
    </tr>`;
    })}</tbody>
  </table></div>`}
</section>`);
}
