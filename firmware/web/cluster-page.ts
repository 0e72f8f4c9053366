import type { BoxView, ClusterSnapshot } from '../cluster-view.ts';
import { html, type Html } from './html.ts';

/** The Status page's facts of boxes sharing one database: each box with the rooms it hosts now, and each database node. */
export function clusterFacts(c: ClusterSnapshot): Html {
  return html`<dt>Boxes</dt><dd id="boxes"><ul class="plain">${c.boxes.map((b) => html`<li data-box="${b.box}"><code>${b.box}</code>${b.self ? html` <span class="badge ok">this box</span>` : ''}: ${b.conferences.length === 0
    ? html`<span class="muted">no conference</span>`
    : b.conferences.map((conf, i) => html`${i ? ', ' : ''}room ${conf.roomId} (${conf.participants})`)}</li>`)}</ul></dd>
    <dt>Database nodes</dt><dd id="database-nodes"><ul class="plain">${c.databaseNodes.map((n) => html`<li data-node="${n.address}"><code>${n.address}</code> <span class="badge ${n.ok ? 'ok' : 'bad'}">${n.state}</span></li>`)}</ul></dd>`;
}

/** The Live page's conferences on the other boxes of the database (run from their own pages), as of the page's load. */
export function otherBoxConferences(boxes: BoxView[]): Html {
  const running = boxes.filter((b) => !b.self && b.conferences.length > 0);
  if (running.length === 0) return html``;
  return html`<section class="card" id="other-boxes" aria-labelledby="other-boxes-h">
  <h2 id="other-boxes-h">On the other boxes</h2>
  <ul class="plain">${running.flatMap((b) => b.conferences.map((c) => html`<li data-box="${b.box}" data-room="${c.roomId}">Room ${c.roomId}: ${c.participants} participant${c.participants === 1 ? '' : 's'} on <code>${b.box}</code></li>`))}</ul>
  <p class="muted">Each is run from its own box's page.</p>
</section>`;
}
