import { html, type Html } from './html.ts';
import type { CallLogRow, DayRange } from './call-log.ts';
import { field, layout, type PageContext } from './pages.ts';

/** Rows the page shows at most; the download has them all. */
export const CALL_LOG_PAGE_ROWS = 300;

function seconds(s: number | null): string {
  if (s === null) return '';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

/** The call log page: who joined and left which room, from where and how, for a range of days. */
export function callLogPage(ctx: PageContext, range: DayRange, rows: readonly CallLogRow[], more: boolean): Html {
  const download = `/calls.csv?from=${range.from}&to=${range.to}`;
  return layout('Call log', '/calls', ctx, html`
<section class="card">
  <form method="get" action="/calls" class="grid">
    ${field(ctx, { name: 'from', label: 'From', type: 'date', value: range.from, hint: 'First day (UTC), YYYY-MM-DD' })}
    ${field(ctx, { name: 'to', label: 'To', type: 'date', value: range.to, hint: 'Last day (UTC), included' })}
    <div class="actions"><button class="primary">Show</button> <a class="button" href="${download}" download>Download CSV</a></div>
  </form>
</section>
<section class="card">
  <h2>Joins and leaves, ${range.from} to ${range.to}</h2>
  ${rows.length === 0 ? html`<p class="empty">Nobody joined or left a room in these days.</p>` : html`
  ${more ? html`<p class="muted">The newest ${CALL_LOG_PAGE_ROWS} are shown; the CSV download has them all.</p>` : ''}
  <div class="table-wrap"><table class="stack">
    <thead><tr><th>Time (UTC)</th><th>Event</th><th>Room</th><th>Caller</th><th>From</th><th>How</th><th>Stayed</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr>
      <td data-label="Time (UTC)"><time datetime="${r.at}">${r.at.slice(0, 19).replace('T', ' ')}</time></td>
      <td data-label="Event">${r.action === 'join' ? 'Joined' : 'Left'}</td>
      <td class="num" data-label="Room">${r.room ?? ''}</td>
      <td data-label="Caller">${r.displayName ? html`${r.displayName} ` : ''}<code>${r.caller ?? ''}</code></td>
      <td data-label="From"><code>${r.source}</code></td>
      <td data-label="How">${r.reason}</td>
      <td data-label="Stayed">${seconds(r.durationSeconds)}</td>
    </tr>`)}</tbody>
  </table></div>`}
</section>`);
}
