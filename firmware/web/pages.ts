import { firmwareFacts, updateCard } from './update-page.ts';
import { clusterFacts, otherBoxConferences } from './cluster-page.ts';
import type { BoxView } from '../cluster-view.ts';
import {
  DURATION_MAX, DURATION_MIN, followsRule, PARTICIPANTS_MAX, PARTICIPANTS_MIN, PEER_FACTOR, ROOM_ID_MAX, ROOM_ID_MIN, SETTINGS, TARGET_FACTOR,
  type SettingRule, type Settings,
} from '../conference/index.ts';
import { backupSection } from './backup-page.ts';
import { databaseSection, type DatabaseTestView, type DatabaseView } from './database-page.ts';
import type { LedPattern } from '../hw/patterns.ts';
import { LED_NAMES, type LedName } from '../hw/profile.ts';
import type { Peer, PeerTransport } from '../conference/types.ts';
import type { ApiToken } from '../store/types.ts';
import { html, type Html } from './html.ts';
import { faultHeadline, type FaultExplanation } from './faults.ts';
import {
  participantName, type ConferenceRow, type ExtensionRow, type ParticipantRow, type PhoneSetup, type RegisteredPhoneRow, type RoomRow, type StatusView,
} from './operations.ts';

/** What every page needs: the session's CSRF token, a one-time notice, errors and values of a form sent back. */
export interface PageContext {
  csrf: string;
  notice?: string | null;
  errors?: Record<string, string>;
  values?: Record<string, string>;
  /** A form-wide error with no field (the database is away, say). */
  formError?: string | null;
  /** The id of the element the notice is about: the page's script focuses it. */
  focus?: string | null;
  /** People in conferences now, shown beside "Live" in the menu. */
  people?: number;
  /** What the fault LED blinks for: a banner on every page says it in words. */
  faults?: FaultExplanation[];
}

/** The id of a row or control the box can point the page's focus to: "room-3", "mute-7f2c…", "peer-10-0-0-0-24". */
export function rowId(kind: 'room' | 'extension' | 'peer' | 'mute' | 'participant' | 'lock' | 'mute-all' | 'record' | 'recording' | 'invite', key: string | number): string {
  return `${kind}-${String(key).replace(/[^A-Za-z0-9_-]/g, '-')}`;
}

const NAV: Array<[string, string]> = [
  ['/rooms', 'Rooms'],
  ['/live', 'Live'],
  ['/extensions', 'Extensions'],
  ['/peers', 'Trusted peers'],
  ['/settings', 'Settings'],
  ['/blocked', 'Blocked'],
  ['/calls', 'Call log'],
  ['/recordings', 'Recordings'],
  ['/status', 'Status'],
];

export function layout(title: string, path: string, ctx: PageContext | null, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} &middot; confbox</title>
<link rel="stylesheet" href="/assets/style.css">
<link rel="icon" href="data:,">
${ctx ? html`<meta name="csrf-token" content="${ctx.csrf}">` : ''}
<script src="/assets/app.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to the content</a>
<header class="top">
  <a class="brand" href="/rooms"><span class="logo" aria-hidden="true"></span>confbox</a>
  ${ctx ? html`<nav aria-label="Main">${NAV.map(([href, label]) => html`<a href="${href}"${path === href ? html` aria-current="page"` : ''}>${label}${href === '/live' ? peopleCount(ctx.people ?? 0) : ''}</a>`)}</nav>
  <form method="post" action="/logout" class="logout">${csrfField(ctx)}<button class="link">Log out</button></form>` : ''}
</header>
<main id="main" tabindex="-1"${ctx?.focus ? html` data-focus="${ctx.focus}"` : ''}>
${ctx ? faultBanner(ctx.faults ?? []) : ''}
<h1>${title}</h1>
${ctx?.notice ? html`<p class="notice" role="status">${ctx.notice}</p>` : ''}
${ctx?.formError ? html`<p class="error-box" role="alert">${ctx.formError}</p>` : ''}
${body}
</main>
</body>
</html>`;
}

/** The number of people in conferences beside "Live": kept current by the live view. */
export function peopleCount(n: number): Html {
  return html`<span class="count${n ? '' : ' none'}" data-people="${n}"><span class="sr">, </span>${n}<span class="sr"> in calls</span></span>`;
}

/** Every page says what a blinking fault LED means, and where to read more. */
export function faultBanner(faults: FaultExplanation[]): Html {
  return html`<div id="faults" data-live="faults">${faultList(faults)}</div>`;
}

/** The banner's content, also sent by the live view when a fault starts or ends. */
export function faultList(faults: FaultExplanation[]): Html {
  if (faults.length === 0) return html``;
  return html`<div class="fault-banner" role="alert">${faults.map((f) => html`<p><strong>${faultHeadline(f)}.</strong> ${f.advice}</p>`)}<p><a href="/status">What each LED shows</a></p></div>`;
}

/** A message as a sentence: capital first letter, full stop at the end. */
export function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.');
}

export function csrfField(ctx: PageContext): Html {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}">`;
}

export interface FieldOptions {
  name: string;
  label: string;
  type?: string;
  value?: string;
  required?: boolean;
  pattern?: string;
  min?: number;
  max?: number;
  inputmode?: string;
  placeholder?: string;
  hint?: string;
  autocomplete?: string;
  /** The message the browser script shows for input the rule rejects (the server's wording). */
  invalid?: string;
  /** Words the browser script takes besides what pattern, min and max allow (any case), e.g. off. */
  alsoAccepts?: readonly string[];
  /** With the browser script, sending a value other than `stored` asks `question` first. */
  confirmChange?: { stored: string; question: string };
  /** A choice instead of free text: [value, label]. */
  options?: Array<[string, string]>;
}

/** A labelled input with its hint and, when the server rejected it, the message beside it. */
export function field(ctx: PageContext | null, o: FieldOptions): Html {
  const error = ctx?.errors?.[o.name];
  const value = ctx?.values?.[o.name] ?? o.value ?? '';
  const id = `f-${o.name}`;
  if (o.options) {
    return html`<div class="field${error ? ' has-error' : ''}">
  <label for="${id}">${o.label}</label>
  <select id="${id}" name="${o.name}" aria-describedby="${id}-msg"${error ? html` aria-invalid="true"` : ''}>${o.options.map(([v, label]) => html`<option value="${v}"${v === value ? html` selected` : ''}>${label}</option>`)}</select>
  <p class="msg" id="${id}-msg"${error ? html` role="alert"` : ''}>${error ?? o.hint ?? ''}</p>
</div>`;
  }
  return html`<div class="field${error ? ' has-error' : ''}">
  <label for="${id}">${o.label}</label>
  <input id="${id}" name="${o.name}" type="${o.type ?? 'text'}" value="${o.type === 'password' ? '' : value}"${o.required ? html` required` : ''}${o.pattern ? html` pattern="${o.pattern}"` : ''}${o.min !== undefined ? html` min="${o.min}"` : ''}${o.max !== undefined ? html` max="${o.max}"` : ''}${o.inputmode ? html` inputmode="${o.inputmode}"` : ''}${o.placeholder ? html` placeholder="${o.placeholder}"` : ''}${o.autocomplete ? html` autocomplete="${o.autocomplete}"` : ''}${o.invalid ? html` data-invalid="${o.invalid}"` : ''}${o.alsoAccepts?.length ? html` data-also-accepts="${o.alsoAccepts.join(' ')}"` : ''}${o.confirmChange ? html` data-stored="${o.confirmChange.stored}" data-confirm-change="${o.confirmChange.question}"` : ''} aria-describedby="${id}-msg"${error ? html` aria-invalid="true"` : ''}>
  <p class="msg" id="${id}-msg"${error ? html` role="alert"` : ''}>${error ?? o.hint ?? ''}</p>
</div>`;
}

/** A checkbox sending "yes" when ticked, its consequence spelled out beside it. */
export function checkbox(ctx: PageContext | null, o: { name: string; label: string; hint: string; checked: boolean }): Html {
  const id = `f-${o.name}`;
  const sent = ctx?.values;
  const checked = sent ? sent[o.name] === 'yes' : o.checked;
  const error = ctx?.errors?.[o.name];
  return html`<div class="field check${error ? ' has-error' : ''}">
  <label for="${id}"><input id="${id}" name="${o.name}" type="checkbox" value="yes"${checked ? html` checked` : ''} aria-describedby="${id}-msg"${error ? html` aria-invalid="true"` : ''}> ${o.label}</label>
  <p class="msg" id="${id}-msg"${error ? html` role="alert"` : ''}>${error ?? o.hint}</p>
</div>`;
}

const WAIT_HINT = 'Needs a moderator PIN. Callers hear that the meeting begins when the moderator joins, and music until then; they do not hear each other.';
const MODERATOR_LEAVES: Array<[string, string]> = [['continue', 'the meeting goes on'], ['end', 'it ends after a minute\'s warning, unless a moderator returns']];
const RECORD_HINT = 'From the first caller on; everyone hears that the meeting is recorded. Recordings are on the Recordings page.';
const KEEP_HINT = 'Unticked, the room is deleted when the last person of its first meeting hangs up, as rooms made by phone are. Ticked, it stays until you delete it.';

// --- first use and login ---

export function setupPage(ctx: PageContext): Html {
  return layout('Welcome to your conference box', '/setup', null, html`
<section class="card narrow">
  <p>Choose the password for the box's administrator. You will need it to manage rooms, phones and settings.</p>
  <p>To show that you hold this box, type its setup code. It is in the file <code>confbox-setup-code.txt</code> on the
  SD card's boot partition (put the card in a computer), on the box's serial console, in its log
  (<code>web page setup code</code>) and in the file <code>setup-code</code> of its data directory.</p>
  <form method="post" action="/setup" novalidate>
    ${csrfField(ctx)}
    ${field(ctx, { name: 'code', label: 'Setup code', type: 'text', required: true, autocomplete: 'off', hint: 'Twelve letters and digits, like ABCD-EFGH-JKLM.', invalid: 'the setup code has twelve letters and digits' })}
    ${field(ctx, { name: 'password', label: 'New password', type: 'password', required: true, autocomplete: 'new-password', hint: 'At least 8 characters.', invalid: 'the password must have at least 8 characters' })}
    ${field(ctx, { name: 'confirm', label: 'Repeat the password', type: 'password', required: true, autocomplete: 'new-password' })}
    <button class="primary">Set password and continue</button>
  </form>
</section>`);
}

export function loginPage(ctx: PageContext): Html {
  return layout('Log in', '/login', null, html`
<section class="card narrow">
  <form method="post" action="/login" novalidate>
    ${csrfField(ctx)}
    ${field(ctx, { name: 'password', label: 'Administrator password', type: 'password', required: true, autocomplete: 'current-password' })}
    <button class="primary">Log in</button>
  </form>
</section>`);
}

// --- rooms ---

const ROOM_FIELDS = {
  id: { label: 'Room number', hint: `${ROOM_ID_MIN} to ${ROOM_ID_MAX}`, invalid: `room number must be a whole number from ${ROOM_ID_MIN} to ${ROOM_ID_MAX}` },
  pin: { label: 'PIN', hint: '1 to 16 digits', invalid: 'PIN must be 1 to 16 digits' },
  moderatorPin: {
    label: 'Moderator PIN',
    hint: 'Optional, 1 to 16 digits, not the PIN. Whoever joins with it (or the creator, from that extension) can lock, mute everyone, remove and end the meeting from the keypad; *0 says how.',
    invalid: 'moderator PIN must be 1 to 16 digits',
  },
  duration: { label: 'Duration (minutes)', hint: `${DURATION_MIN} to ${DURATION_MAX}; counted from the first caller. Empty: 60.`, invalid: `duration in minutes must be a whole number from ${DURATION_MIN} to ${DURATION_MAX}` },
  creator: { label: 'Creator extension', hint: 'Optional. Only the creator may delete the room by phone.', invalid: 'extension number must be 1 to 32 letters, digits or . _ + -' },
  maxParticipants: { label: 'Max participants', hint: `Optional, ${PARTICIPANTS_MIN} to ${PARTICIPANTS_MAX}; empty uses the box setting.`, invalid: `maximum participants must be a whole number from ${PARTICIPANTS_MIN} to ${PARTICIPANTS_MAX}` },
};

export function roomsPage(ctx: PageContext, rooms: RoomRow[], boxMax: number, suggestion: { id: number | null; pin: string }): Html {
  return layout('Rooms', '/rooms', ctx, html`
<section class="card">
  <h2>Configured rooms</h2>
  ${rooms.length === 0 ? html`<p class="empty">No rooms yet. Add one below, or dial <code>*401*room*PIN*minutes</code> from a phone.</p>` : html`
  <div class="table-wrap"><table class="rooms stack" data-live="rooms">
    <thead><tr><th>Room</th><th>PIN</th><th>Moderator PIN</th><th>Minutes</th><th>Creator</th><th>Max</th><th>After the meeting</th><th>Recorded</th><th>Created</th><th>In use</th><th><span class="sr">Actions</span></th></tr></thead>
    <tbody>${rooms.map((r) => html`<tr data-room="${r.id}" id="${rowId('room', r.id)}" tabindex="-1">
      <td class="num" data-label="Room">${r.id}</td><td data-label="PIN"><code>${r.pin}</code></td>
      <td data-label="Moderator PIN">${r.moderatorPin ? html`<code>${r.moderatorPin}</code>${r.waitForModerator ? html` <span class="muted">callers wait</span>` : ''}${r.moderatorLeaves === 'end' ? html` <span class="muted">ends without</span>` : ''}` : html`<span class="muted">&mdash;</span>`}</td><td class="num" data-label="Minutes">${r.duration}</td><td data-label="Creator">${r.creator ?? '—'}</td>
      <td class="num" data-label="Max">${r.maxParticipants ?? html`<span class="muted">${boxMax}</span>`}</td>
      <td class="keep" data-label="After the meeting">${r.keep ? 'kept' : html`<span class="muted">deleted</span>`}</td>
      <td class="record" data-label="Recorded">${r.record ? 'every meeting' : html`<span class="muted">no</span>`}</td>
      <td data-label="Created"><time datetime="${r.createdAt}">${shortTime(r.createdAt)}</time> <span class="muted">by ${r.createdVia}</span></td>
      <td class="in-use" data-label="In use">${r.active ? html`<a class="badge live" href="/live">${r.participants} in call</a>` : html`<span class="muted">&mdash;</span>`}</td>
      <td><a class="button small" href="/rooms/${r.id}/edit" aria-label="Edit room ${r.id}">Edit</a> <form method="post" action="/rooms/${r.id}/delete" class="inline">${csrfField(ctx)}<button class="danger small" aria-label="Delete room ${r.id}"${r.active ? html` data-confirm="Room ${r.id} has ${r.participants} people in it. They stay connected until they hang up, but nobody new can join. Delete it?"` : ''}>Delete</button></form></td>
    </tr>`)}</tbody>
  </table></div>`}
</section>
<section class="card">
  <h2>Add a room</h2>
  <form method="post" action="/rooms" class="grid" novalidate data-validate>
    ${csrfField(ctx)}
    ${field(ctx, { name: 'id', ...ROOM_FIELDS.id, required: true, inputmode: 'numeric', pattern: '\\d{1,3}', min: ROOM_ID_MIN, max: ROOM_ID_MAX, value: suggestion.id === null ? '' : String(suggestion.id), hint: `${ROOM_FIELDS.id.hint}; ${suggestion.id === null ? 'every number is taken' : `${suggestion.id} is free`}` })}
    ${field(ctx, { name: 'pin', ...ROOM_FIELDS.pin, required: true, inputmode: 'numeric', pattern: '\\d{1,16}', autocomplete: 'off', value: suggestion.pin, hint: `${ROOM_FIELDS.pin.hint}; a random one is filled in` })}
    ${field(ctx, { name: 'moderatorPin', ...ROOM_FIELDS.moderatorPin, inputmode: 'numeric', pattern: '\\d{1,16}', autocomplete: 'off' })}
    ${field(ctx, { name: 'duration', ...ROOM_FIELDS.duration, inputmode: 'numeric', pattern: '\\d{1,4}', min: DURATION_MIN, max: DURATION_MAX, placeholder: '60' })}
    ${field(ctx, { name: 'creator', ...ROOM_FIELDS.creator, pattern: '[0-9A-Za-z._+\\-]{1,32}' })}
    ${field(ctx, { name: 'maxParticipants', ...ROOM_FIELDS.maxParticipants, inputmode: 'numeric', pattern: '\\d{1,2}', min: PARTICIPANTS_MIN, max: PARTICIPANTS_MAX, placeholder: String(boxMax) })}
    ${checkbox(ctx, { name: 'keep', label: 'Keep after the meeting', hint: KEEP_HINT, checked: false })}
    ${checkbox(ctx, { name: 'record', label: 'Record every meeting', hint: RECORD_HINT, checked: false })}
    ${checkbox(ctx, { name: 'waitForModerator', label: 'Wait for the moderator', hint: WAIT_HINT, checked: false })}
    ${field(ctx, { name: 'moderatorLeaves', label: 'When the last moderator leaves', value: 'continue', options: MODERATOR_LEAVES, hint: 'In a room with a moderator PIN.' })}
    <div class="actions"><button class="primary">Add room</button></div>
  </form>
</section>`);
}

export function editRoomPage(ctx: PageContext, room: RoomRow, boxMax: number): Html {
  const v = (x: string | number | null) => (x === null ? '' : String(x));
  return layout(`Edit room ${room.id}`, '/rooms', ctx, html`
<section class="card narrow">
  ${room.active ? html`<p><strong>${room.participants} ${room.participants === 1 ? 'person is' : 'people are'} in room ${room.id} now.</strong> A change applies to people who join from now on; the meeting in progress keeps its end time.</p>` : ''}
  <form method="post" action="/rooms/${room.id}/edit" class="grid" novalidate data-validate>
    ${csrfField(ctx)}
    ${field(ctx, { name: 'pin', ...ROOM_FIELDS.pin, required: true, inputmode: 'numeric', pattern: '\\d{1,16}', autocomplete: 'off', value: room.pin })}
    ${field(ctx, { name: 'moderatorPin', ...ROOM_FIELDS.moderatorPin, inputmode: 'numeric', pattern: '\\d{1,16}', autocomplete: 'off', value: v(room.moderatorPin) })}
    ${field(ctx, { name: 'duration', ...ROOM_FIELDS.duration, inputmode: 'numeric', pattern: '\\d{1,4}', min: DURATION_MIN, max: DURATION_MAX, value: v(room.duration) })}
    ${field(ctx, { name: 'creator', ...ROOM_FIELDS.creator, pattern: '[0-9A-Za-z._+\\-]{1,32}', value: v(room.creator) })}
    ${field(ctx, { name: 'maxParticipants', ...ROOM_FIELDS.maxParticipants, inputmode: 'numeric', pattern: '\\d{1,2}', min: PARTICIPANTS_MIN, max: PARTICIPANTS_MAX, placeholder: String(boxMax), value: v(room.maxParticipants) })}
    ${checkbox(ctx, { name: 'keep', label: 'Keep after the meeting', hint: KEEP_HINT, checked: room.keep })}
    ${checkbox(ctx, { name: 'record', label: 'Record every meeting', hint: RECORD_HINT, checked: room.record })}
    ${checkbox(ctx, { name: 'waitForModerator', label: 'Wait for the moderator', hint: WAIT_HINT, checked: room.waitForModerator })}
    ${field(ctx, { name: 'moderatorLeaves', label: 'When the last moderator leaves', value: room.moderatorLeaves, options: MODERATOR_LEAVES, hint: 'In a room with a moderator PIN.' })}
    <div class="actions"><button class="primary">Save room ${room.id}</button> <a class="button" href="/rooms">Cancel</a></div>
  </form>
</section>`);
}

export function confirmDeleteRoomPage(ctx: PageContext, room: RoomRow): Html {
  return layout(`Delete room ${room.id}?`, '/rooms', ctx, html`
<section class="card narrow">
  <p><strong>${room.participants} ${room.participants === 1 ? 'person is' : 'people are'} in room ${room.id} now.</strong>
  They stay connected and keep talking until they hang up, but nobody new can join, and the room number is free again at once.</p>
  <form method="post" action="/rooms/${room.id}/delete" class="row">
    ${csrfField(ctx)}<input type="hidden" name="confirm" value="yes">
    <button class="danger">Delete room ${room.id}</button>
    <a class="button" href="/rooms">Keep it</a>
  </form>
</section>`);
}

// --- live conferences ---

export function livePage(ctx: PageContext, conferences: ConferenceRow[], otherBoxes: BoxView[] = []): Html {
  return layout('Live conferences', '/live', ctx, html`
<div id="live" data-live="conferences">${conferenceCards(ctx, conferences)}</div>
${otherBoxConferences(otherBoxes)}`);
}

export function conferenceCards(ctx: PageContext, conferences: ConferenceRow[]): Html {
  if (conferences.length === 0) return html`<section class="card"><p class="empty">No conference is running. This page updates by itself when someone joins.</p></section>`;
  return html`${conferences.map((c) => {
    const full = c.participants.length >= c.maxParticipants;
    return html`<section class="card conference${full ? ' full' : ''}" data-key="${c.key}" aria-labelledby="conf-${c.key}">
  <div class="conf-head">
    <h2 id="conf-${c.key}">Room ${c.roomId}${c.roomDeleted ? html` <span class="badge">room deleted</span>` : ''}${full ? html` <span class="badge warn">full</span>` : ''}${c.locked ? html` <span class="badge warn" data-locked>locked</span>` : ''}${c.recording ? html` <span class="badge bad" data-recording>recording</span>` : ''}${c.waiting ? html` <span class="badge" data-waiting>waiting for the moderator</span>` : ''}</h2>
    <p class="muted"><span data-count>${c.participants.length}</span> of ${c.maxParticipants}${full ? ': nobody else can join' : c.locked ? ': locked, only a moderator can join' : ''} &middot; <span class="time-left" data-ends="${c.endsAt}">${minutesLeft(c.secondsLeft)}</span></p>
    ${conferenceControls(ctx, c)}
    <form method="post" action="/live/${encodeURIComponent(c.key)}/end" class="inline">${csrfField(ctx)}<button class="danger small" data-focus-key="end-${c.key}" data-confirm="End the conference in room ${c.roomId} and hang up everyone?">End conference<span class="sr"> in room ${c.roomId}</span></button></form>
  </div>
  <ul class="people">${c.participants.map((p) => participantItem(ctx, c, p))}</ul>
</section>`;
  })}`;
}

/** Lock or open the room, mute or unmute everyone but the moderators, record: what a moderator does with *1, *2 and *4. */
function conferenceControls(ctx: PageContext, c: ConferenceRow): Html {
  const action = `/live/${encodeURIComponent(c.key)}`;
  const others = c.participants.filter((p) => !p.moderator);
  const allMuted = others.length > 0 && others.every((p) => p.muted);
  return html`<form method="post" action="${action}/lock" class="inline">${csrfField(ctx)}<input type="hidden" name="locked" value="${c.locked ? 'no' : 'yes'}"><button class="small" id="${rowId('lock', c.key)}" data-focus-key="lock-${c.key}">${c.locked ? 'Unlock' : 'Lock'}<span class="sr"> room ${c.roomId}</span></button></form>
    <form method="post" action="${action}/mute-all" class="inline">${csrfField(ctx)}<input type="hidden" name="muted" value="${allMuted ? 'no' : 'yes'}"><button class="small" id="${rowId('mute-all', c.key)}" data-focus-key="mute-all-${c.key}"${others.length === 0 ? ' disabled' : ''}>${allMuted ? 'Unmute all' : 'Mute all'}<span class="sr"> in room ${c.roomId}</span></button></form>
    <form method="post" action="${action}/invite" class="inline invite">${csrfField(ctx)}<label for="${rowId('invite', c.key)}" class="sr">Extension to invite to room ${c.roomId}</label><input id="${rowId('invite', c.key)}" name="extension" inputmode="numeric" size="6" required pattern="[0-9A-Za-z._+\-]{1,32}" placeholder="Extension" autocomplete="off"><button class="small" data-focus-key="invite-${c.key}">Invite<span class="sr"> to room ${c.roomId}</span></button></form>
    <form method="post" action="${action}/record" class="inline">${csrfField(ctx)}<input type="hidden" name="recording" value="${c.recording ? 'no' : 'yes'}"><button class="small" id="${rowId('record', c.key)}" data-focus-key="record-${c.key}">${c.recording ? 'Stop recording' : 'Record'}<span class="sr"> room ${c.roomId}</span></button></form>`;
}

function participantItem(ctx: PageContext, c: ConferenceRow, p: ParticipantRow): Html {
  const name = p.displayName || p.caller;
  const base = `/live/${encodeURIComponent(c.key)}/${encodeURIComponent(p.id)}`;
  return html`<li data-participant="${p.id}" id="${rowId('participant', p.id)}"${p.muted ? html` class="is-muted"` : ''}>
    <span class="who">${p.muted ? MUTED_ICON : ''}<strong>${name}</strong>${p.displayName ? html` <span class="muted">${p.caller}</span>` : ''}${p.moderator ? html` <span class="badge ok" data-moderator>moderator</span>` : ''}${p.muted ? html` <span class="badge">muted</span>` : ''}${p.onHold ? html` <span class="badge">on hold</span>` : ''}${p.waiting ? html` <span class="badge">waiting</span>` : ''}${p.talking ? html` <span class="badge talking" data-talking>talking</span>` : ''}${p.noisy ? html` <span class="badge warn" data-noisy>${name}'s line is noisy${p.muted ? '' : ': mute it if nobody is speaking'}</span>` : ''}</span>
    <span class="since muted">joined <time datetime="${p.joinedAt}">${clock(p.joinedAt)}</time></span>
    <span class="acts">
      <form method="post" action="${base}/${p.muted ? 'unmute' : 'mute'}" class="inline">${csrfField(ctx)}<button class="small" id="${rowId('mute', p.id)}" data-focus-key="mute-${p.id}" aria-label="${p.muted ? 'Unmute' : 'Mute'} ${name}">${p.muted ? 'Unmute' : 'Mute'}</button></form>
      ${p.local ? '' : html`<form method="post" action="${base}/remove" class="inline">${csrfField(ctx)}<button class="danger small" data-focus-key="remove-${p.id}" aria-label="Remove ${name}" data-confirm="Remove ${participantName(p)} from room ${c.roomId}? The call is hung up at once.">Remove</button></form>`}
    </span>
  </li>`;
}

/** A microphone struck through: muted at a glance, named for screen readers. */
const MUTED_ICON = html`<svg class="icon-muted" role="img" aria-label="Muted" viewBox="0 0 24 24" width="18" height="18"><path d="M12 3a3 3 0 0 0-3 3v5a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z" fill="none" stroke="currentColor" stroke-width="2"/><path d="M6 11a6 6 0 0 0 12 0M12 17v4" fill="none" stroke="currentColor" stroke-width="2"/><path d="M4 4l16 16" stroke="currentColor" stroke-width="2.5"/></svg>`;

export function confirmRemovePage(ctx: PageContext, c: ConferenceRow, p: ParticipantRow): Html {
  const who = participantName(p);
  return layout(`Remove ${who}?`, '/live', ctx, html`
<section class="card narrow">
  <p><strong>${who}</strong> is hung up at once and leaves room ${c.roomId}. They can dial in again with the room's PIN.</p>
  <form method="post" action="/live/${encodeURIComponent(c.key)}/${encodeURIComponent(p.id)}/remove" class="row">
    ${csrfField(ctx)}<input type="hidden" name="confirm" value="yes">
    <button class="danger">Remove ${who}</button>
    <a class="button" href="/live">Keep them</a>
  </form>
</section>`);
}

// --- extensions ---

export function extensionsPage(ctx: PageContext, list: ExtensionRow[], editing: ExtensionRow | null, setup: PhoneSetup): Html {
  return layout('Extensions', '/extensions', ctx, html`
<section class="card">
  <h2>Desk phones</h2>
  <div id="extensions" data-live="extensions">${extensionsTable(ctx, list)}</div>
</section>
<section class="card">
  <h2>${editing ? html`Edit extension ${editing.number}` : 'Add an extension'}</h2>
  <form method="post" action="/extensions" class="grid" novalidate data-validate>
    ${csrfField(ctx)}
    ${editing ? html`<input type="hidden" name="number" value="${editing.number}"><input type="hidden" name="editing" value="1">` : field(ctx, { name: 'number', label: 'Number', required: true, pattern: '[0-9A-Za-z._+\\-]{1,32}', hint: 'What the phone registers as, e.g. 201.', invalid: 'extension number must be 1 to 32 letters, digits or . _ + -' })}
    ${field(ctx, { name: 'displayName', label: 'Display name', value: editing?.displayName, hint: 'Shown in the live view.' })}
    ${field(ctx, { name: 'password', label: editing ? 'New password' : 'Password', type: 'password', required: !editing, autocomplete: 'new-password', hint: editing ? 'Leave empty to keep the current password.' : 'The phone\'s SIP password.' })}
    <div class="actions"><button class="primary">${editing ? 'Save' : 'Add extension'}</button>${editing ? html` <a class="button" href="/extensions">Cancel</a>` : ''}</div>
  </form>
</section>
${phoneSetupPanel(setup, editing?.number ?? null)}`);
}

/** What to type into a desk phone's SIP account screen; phones name the fields differently, so each line gives the usual names. */
function phoneSetupPanel(setup: PhoneSetup, number: string | null): Html {
  const addresses = setup.addresses.map((a, i) => html`${i ? ', ' : ''}<code>${a.address}</code>${a.family === 'name' ? '' : html` <span class="muted">(${a.family === 'IPv6' ? 'for phones on IPv6' : 'IPv4'})</span>`}`);
  return html`<section class="card" id="phone-setup">
  <h2>${number === null ? 'Set up a phone' : html`Set up the phone of extension ${number}`}</h2>
  <p class="muted">What to type into the SIP account screen of a desk phone or softphone.</p>
  <dl class="facts">
    <dt>SIP server / Registrar / Outbound proxy</dt>
    <dd>${addresses} <span class="muted">&mdash; the same address in each of these fields the phone has</span></dd>
    <dt>Port</dt>
    <dd><code>${setup.sipPort}</code> for UDP and TCP, <code>${setup.sipTlsPort}</code> for TLS</dd>
    <dt>Transport</dt>
    <dd>UDP, TCP or TLS. <span class="muted">TLS keeps the calls' signalling and audio keys private; the phone must accept the box's certificate (its fingerprint is on the <a href="/status">Status</a> page).</span></dd>
    <dt>User name / Auth ID</dt>
    <dd>${number === null ? 'the extension number' : html`<code>${number}</code> <span class="muted">(the extension number)</span>`}</dd>
    <dt>Password</dt>
    <dd>${number === null ? 'the password set for that extension here' : `the password set for extension ${number} here`} <span class="muted">(the box cannot show it again; set a new one${number === null ? ' by editing the extension' : ' above'} if it is lost)</span></dd>
    <dt>Realm</dt>
    <dd><code>${setup.realm}</code> <span class="muted">&mdash; only if the phone asks for one</span></dd>
  </dl>
</section>`;
}

/** The extensions with their registered phones and last failed attempt; the live view replaces it as phones come and go. */
export function extensionsTable(ctx: PageContext, list: ExtensionRow[]): Html {
  if (list.length === 0) return html`<p class="empty">No extensions yet. A phone registers to the box with its number and password.</p>`;
  return html`<div class="table-wrap"><table class="extensions">
    <thead><tr><th>Number</th><th>Name</th><th>Registration</th><th>Last failed attempt</th><th><span class="sr">Actions</span></th></tr></thead>
    <tbody>${list.map((e) => html`<tr data-extension="${e.number}" id="${rowId('extension', e.number)}" tabindex="-1">
      <td><strong>${e.number}</strong></td><td>${e.displayName || html`<span class="muted">&mdash;</span>`}</td>
      <td class="registration" data-label="Registration">${e.registered ? html`<span class="badge ok">registered</span> <span class="muted">${e.contacts.length} phone${e.contacts.length === 1 ? '' : 's'}</span>` : html`<span class="badge">not registered</span>`}
        ${e.realmMismatch ? html`<span class="badge warn" title="Set the password again: the realm changed">password needs resetting</span>` : ''}
        ${e.algorithm ? html`<span class="muted">digest ${e.algorithm}</span>` : ''}
        ${e.contacts.length ? html`<ul class="phones">${e.contacts.map(registeredPhone)}</ul>` : ''}</td>
      <td class="last-failure" data-label="Last failed attempt">${e.lastFailure
        ? html`<span class="badge warn">${e.lastFailure.reason}</span> <span class="muted">${e.lastFailure.method === 'REGISTER' ? 'registration' : 'call'} from ${e.lastFailure.source}, <time datetime="${e.lastFailure.at}">${shortTime(e.lastFailure.at)} UTC</time></span>`
        : html`<span class="muted">&mdash;</span>`}</td>
      <td class="acts"><a class="button small" href="/extensions/${encodeURIComponent(e.number)}" aria-label="Edit extension ${e.number}">Edit</a>
        <form method="post" action="/extensions/${encodeURIComponent(e.number)}/delete" class="inline">${csrfField(ctx)}<button class="danger small" aria-label="Remove extension ${e.number}" data-focus-key="remove-extension-${e.number}" data-confirm="Remove extension ${e.number}?">Remove</button></form></td>
    </tr>`)}</tbody>
  </table></div>`;
}

/** Where a phone registered from, what it calls itself and until when, as a technician compares them with the phone's own screen. */
function registeredPhone(p: RegisteredPhoneRow): Html {
  return html`<li><code class="source">${p.source}</code>
    <span class="user-agent">${p.userAgent || html`<span class="muted">no User-Agent given</span>`}</span>
    <span class="muted">until <time datetime="${p.expiresAt}">${clock(p.expiresAt)} UTC</time></span></li>`;
}

// --- trusted peers ---

const PEER_TRANSPORT_LABELS: Record<PeerTransport, string> = { any: 'UDP, TCP and TLS', tcp: 'TCP and TLS (not UDP)', tls: 'TLS only (not UDP)' };

export function peersPage(ctx: PageContext, peers: Peer[]): Html {
  return layout('Trusted peers', '/peers', ctx, html`
<section class="card">
  <h2>PBXs allowed to call without a password</h2>
  ${peers.length === 0 ? html`<p class="empty">No trusted peers. Add the address of a PBX that forwards calls to the box.</p>` : html`
  <div class="table-wrap"><table class="stack">
    <thead><tr><th>Address</th><th>Description</th><th>Trusted over</th><th>Outbound PBX</th><th><span class="sr">Actions</span></th></tr></thead>
    <tbody>${peers.map((p) => html`<tr id="${rowId('peer', p.cidr)}" tabindex="-1"><td data-label="Address"><code>${p.cidr}</code></td><td data-label="Description">${p.description || html`<span class="muted">&mdash;</span>`}</td><td data-label="Trusted over">${PEER_TRANSPORT_LABELS[p.transport]}</td>
      <td data-label="Outbound PBX">${p.outboundPort === null ? html`<span class="muted">no</span>` : html`port ${p.outboundPort}`}</td>
      <td><form method="post" action="/peers/delete" class="inline">${csrfField(ctx)}<input type="hidden" name="cidr" value="${p.cidr}"><button class="danger small" aria-label="Remove trusted peer ${p.cidr}" data-confirm="Stop trusting ${p.cidr}?">Remove</button></form></td></tr>`)}</tbody>
  </table></div>`}
  <p class="muted">A UDP source address is easily forged: on a shared network, restrict a peer to TCP or TLS. Over a transport it is not trusted over, a peer's address is treated like any stranger's.</p>
</section>
<section class="card">
  <h2>Add a trusted peer</h2>
  <form method="post" action="/peers" class="grid" novalidate>
    ${csrfField(ctx)}
    ${field(ctx, { name: 'cidr', label: 'Address or network', required: true, placeholder: '192.168.1.10, 10.0.0.0/24 or 2001:db8::/32' })}
    ${field(ctx, { name: 'description', label: 'Description', placeholder: 'Office PBX' })}
    ${field(ctx, { name: 'transport', label: 'Trusted over', value: 'any', options: Object.entries(PEER_TRANSPORT_LABELS) })}
    ${field(ctx, { name: 'outboundPort', label: 'Outbound PBX: SIP port', inputmode: 'numeric', placeholder: '5060', hint: 'Optional. A moderator\'s invitations to numbers that are not extensions are called through this PBX (one address) on this port.' })}
    <div class="actions"><button class="primary">Add peer</button></div>
  </form>
</section>`);
}

// --- settings ---

const SETTING_GROUPS = ['Rooms', 'Phones and SIP', 'Security', 'Local audio'] as const;
type SettingGroup = (typeof SETTING_GROUPS)[number];
/** The group that also shows the SIP port, which is set when the box starts and read-only here. */
const SIP_PORT_GROUP: SettingGroup = 'Phones and SIP';

/**
 * How the Settings page shows each setting: the group it is in, its label, and the choices where a value is picked
 * rather than typed. Within a group, settings appear in this order.
 */
const SETTING_FIELDS: { [K in keyof Settings]: { group: SettingGroup; label: string; choices?: Array<[string, string]> } } = {
  maxParticipants: { group: 'Rooms', label: 'Participants per room' },
  refuseEasyPins: { group: 'Rooms', label: 'Refuse easy room PINs', choices: [['off', 'off'], ['on', 'on: no 1234, 0000, 1212 or the room number']] },
  rtpTimeoutSeconds: { group: 'Rooms', label: 'Hang up after silence (seconds)' },
  holdLimitSeconds: { group: 'Rooms', label: 'Hang up after on hold for (seconds)' },
  recordingMinFreeMb: { group: 'Rooms', label: 'Free space a recording needs to start (MB)' },
  recordingRetentionDays: { group: 'Rooms', label: 'Delete recordings after (days)' },
  realm: { group: 'Phones and SIP', label: 'SIP realm' },
  digestAlgorithms: {
    group: 'Phones and SIP',
    label: 'Digest algorithms',
    choices: [
      ['auto', 'automatic: MD5 to new phones, SHA-256 to each phone that shows it can (recommended)'],
      ['SHA-256,MD5', 'SHA-256, then MD5 (SIPp, baresip 1.0 and other phones cannot register)'],
      ['MD5,SHA-256', 'MD5, then SHA-256 (baresip 1.0 cannot register)'],
      ['SHA-256', 'SHA-256 only (many phones cannot register)'],
      ['MD5', 'MD5 only'],
    ],
  },
  symmetricRtp: { group: 'Phones and SIP', label: 'Phones behind NAT (symmetric RTP)', choices: [['off', 'off'], ['on', 'on']] },
  srtp: {
    group: 'Phones and SIP',
    label: 'Audio encryption (SRTP)',
    choices: [['optional', 'optional: when the phone offers it (recommended)'], ['required', 'required: refuse calls without it'], ['off', 'off: plain RTP only']],
  },
  lockoutFailures: { group: 'Security', label: 'Failed attempts before blocking' },
  lockoutWindowMinutes: { group: 'Security', label: 'Counting window (minutes)' },
  lockoutBlockMinutes: { group: 'Security', label: 'Block for (minutes)' },
  webHostNames: { group: 'Security', label: 'Other names of this page' },
  httpRedirect: { group: 'Security', label: 'Send plain HTTP to HTTPS', choices: [['on', 'on (recommended)'], ['off', 'off']] },
  localAudioRoom: { group: 'Local audio', label: 'Local audio room' },
  localAudioCapture: { group: 'Local audio', label: 'Box microphone (ALSA device)' },
  localAudioPlayback: { group: 'Local audio', label: 'Box speaker (ALSA device)' },
};

/** What the Settings page calls a setting; its messages use this too. */
export function settingLabel(name: keyof Settings): string {
  return SETTING_FIELDS[name].label;
}

/** The input attributes that let the browser script check a typed setting by the server's rule, in the label's words. */
function ruleAttributes(rule: SettingRule | undefined, label: string): Partial<FieldOptions> {
  if (!rule) return {};
  const words = rule.words?.filter((w) => w !== '') ?? [];
  return {
    pattern: rule.pattern, min: rule.min, max: rule.max, alsoAccepts: words, required: !followsRule(rule, ''), invalid: rule.says(label),
    inputmode: rule.min !== undefined && words.length === 0 ? 'numeric' : undefined,
  };
}

/** Up to `most` items, then how many more. */
function shortList(items: readonly string[], most = 10): string {
  return items.length <= most ? items.join(', ') : `${items.slice(0, most).join(', ')} and ${items.length - most} more`;
}

/**
 * What changing the SIP realm does to the phones. `extensionsOfRealm`: the extensions whose password was set for
 * the realm now in use (null: not known).
 */
export function realmChangeConsequence(realm: string, extensionsOfRealm: readonly string[] | null): string {
  const why = 'Phones sign in with a digest of their password that includes the SIP realm, and the box keeps only such digests.';
  if (extensionsOfRealm === null) return `${why} After the change, every extension whose password was set for the realm ${realm} cannot register or call until you set each password again on the Extensions page.`;
  const n = extensionsOfRealm.length;
  if (n === 0) return `${why} No extension has a password set for the realm ${realm}, so no phone stops working; extensions you add get the new realm.`;
  if (n === 1) return `${why} After the change, extension ${extensionsOfRealm[0]}, whose password was set for the realm ${realm}, cannot register or call until you set its password again on the Extensions page.`;
  return `${why} After the change, the ${n} extensions whose passwords were set for the realm ${realm} (${shortList(extensionsOfRealm)}) cannot register or call until you set each password again on the Extensions page.`;
}

export interface SettingsView {
  settings: Settings;
  sipPort: number;
  /** null: the database cannot be reached, so the tokens cannot be listed now. */
  tokens: ApiToken[] | null;
  /** A token just created, shown this once. */
  newToken: string | null;
  /** The extensions whose password was set for the realm in use (null: not known). */
  extensionsOfRealm: string[] | null;
  /** Where the configuration is kept, and the answer of a connection test just made. */
  database: DatabaseView;
  databaseTest: DatabaseTestView | null;
}

export function settingsPage(ctx: PageContext, v: SettingsView): Html {
  const value = (k: keyof Settings) => {
    const x = v.settings[k];
    if (typeof x === 'boolean') return x ? 'on' : 'off';
    if ((k === 'localAudioRoom' || k === 'holdLimitSeconds' || k === 'recordingRetentionDays') && x === 0) return 'off';
    return String(x);
  };
  const settingField = (k: keyof Settings) => {
    const { label, choices } = SETTING_FIELDS[k];
    const confirmChange = k === 'realm' ? { stored: v.settings.realm, question: `Change the SIP realm? ${realmChangeConsequence(v.settings.realm, v.extensionsOfRealm)}` } : undefined;
    return field(ctx, { name: k, label, value: value(k), hint: SETTINGS[k].help, options: choices, ...(choices ? {} : ruleAttributes(SETTINGS[k].rule, label)), confirmChange });
  };
  const names = Object.keys(SETTING_FIELDS) as Array<keyof Settings>;
  return layout('Settings', '/settings', ctx, html`
<section class="card">
  <h2>Box settings</h2>
  <form method="post" action="/settings" novalidate data-validate>
    ${csrfField(ctx)}
    ${SETTING_GROUPS.map((group) => html`<fieldset class="grid">
      <legend>${group}</legend>
      ${names.filter((k) => SETTING_FIELDS[k].group === group).map(settingField)}
      ${group === SIP_PORT_GROUP ? html`<div class="field"><label>SIP port</label><p class="static"><code>${v.sipPort}</code></p><p class="msg">Set when the box starts (<code>--sip-port</code>).</p></div>` : ''}
    </fieldset>`)}
    <div class="actions"><button class="primary">Save settings</button></div>
  </form>
</section>
<section class="card">
  <h2>Administrator password</h2>
  <form method="post" action="/settings/password" class="grid" novalidate>
    ${csrfField(ctx)}
    ${field(ctx, { name: 'current', label: 'Current password', type: 'password', required: true, autocomplete: 'current-password' })}
    ${field(ctx, { name: 'password', label: 'New password', type: 'password', required: true, autocomplete: 'new-password', hint: 'At least 8 characters.' })}
    ${field(ctx, { name: 'confirm', label: 'Repeat the new password', type: 'password', required: true, autocomplete: 'new-password' })}
    <div class="actions"><button class="primary">Change password</button></div>
  </form>
</section>
<section class="card">
  <h2>API tokens</h2>
  <p class="muted">Scripts use <code>Authorization: Bearer TOKEN</code> with the JSON API under <code>/api/</code>.</p>
  ${v.newToken ? html`<p class="notice">New token (shown only now, copy it): <code class="token">${v.newToken}</code></p>` : ''}
  ${v.tokens === null ? html`<p class="error-box">The tokens cannot be listed while the box cannot reach its database.</p>` : v.tokens.length ? html`<ul class="tokens">${v.tokens.map((t) => html`<li><strong>${t.label}</strong> <span class="muted">created ${shortTime(t.createdAt.toISOString())}</span>
    <form method="post" action="/settings/tokens/${t.id}/delete" class="inline">${csrfField(ctx)}<button class="danger small" aria-label="Revoke token ${t.label}" data-confirm="Revoke the token ${t.label}?">Revoke</button></form></li>`)}</ul>` : ''}
  <form method="post" action="/settings/tokens" class="row" novalidate>
    ${csrfField(ctx)}
    ${field(ctx, { name: 'label', label: 'Token name', required: true, placeholder: 'monitoring script' })}
    <button class="primary">Create token</button>
  </form>
</section>
${databaseSection(ctx, v.database, v.databaseTest)}
${backupSection(ctx)}`);
}

/** Hidden inputs that send these values again. */
function resend(values: Record<string, string>): Html {
  return html`${Object.entries(values).map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}`;
}

/**
 * Asked before a realm change is stored, for a browser without the script: what the change does, a button that
 * sends every value again with confirm=yes, one that saves the other values with the realm kept, and a way back.
 */
export function confirmRealmChangePage(ctx: PageContext, o: { from: string; to: string; extensionsOfRealm: string[] | null; sent: Record<string, string>; otherChanges: boolean }): Html {
  return layout('Change the SIP realm?', '/settings', ctx, html`
<section class="card narrow">
  <p><strong>The SIP realm would change from <code>${o.from}</code> to <code>${o.to}</code>.</strong></p>
  <p>${realmChangeConsequence(o.from, o.extensionsOfRealm)}</p>
  <p>Nothing is saved until you choose.</p>
  <div class="row">
    <form method="post" action="/settings" class="inline">${csrfField(ctx)}${resend(o.sent)}<input type="hidden" name="confirm" value="yes">
      <button class="danger">Change the realm to ${o.to}</button></form>
    ${o.otherChanges ? html`<form method="post" action="/settings" class="inline">${csrfField(ctx)}${resend({ ...o.sent, realm: o.from })}
      <button>Save the rest, keep the realm ${o.from}</button></form>` : ''}
    <a class="button" href="/settings">Back to the settings</a>
  </div>
</section>`);
}

// --- blocked addresses ---

export function blockedPage(ctx: PageContext, blocks: Array<{ address: string; label: string; since: string; until: string; failures: number }>, limits: Settings): Html {
  return layout('Blocked', '/blocked', ctx, html`
<section class="card">
  <p class="muted">An address, or a caller behind a trusted peer, is blocked for ${limits.lockoutBlockMinutes} minutes after ${limits.lockoutFailures} wrong passwords or PINs within ${limits.lockoutWindowMinutes} minutes; a trusted peer as a whole after ${limits.lockoutFailures * PEER_FACTOR}.
  ${limits.lockoutFailures * TARGET_FACTOR} failures against one extension's password or one room's PIN, from anywhere, close it for a minute, then 2, 4, 8&hellip; up to ${limits.lockoutBlockMinutes}; the extension's own registered phone and the room's creator still get in.</p>
  ${blocks.length === 0 ? html`<p class="empty">Nothing is blocked.</p>` : html`
  <div class="table-wrap"><table class="stack">
    <thead><tr><th>Blocked</th><th>Failures</th><th>Blocked until</th><th><span class="sr">Actions</span></th></tr></thead>
    <tbody>${blocks.map((b) => html`<tr><td data-label="Blocked"><code>${b.label}</code></td><td class="num" data-label="Failures">${b.failures}</td><td data-label="Blocked until"><time datetime="${b.until}">${clock(b.until)}</time></td>
      <td><form method="post" action="/blocked/lift" class="inline">${csrfField(ctx)}<input type="hidden" name="address" value="${b.address}"><button class="small" aria-label="Lift block on ${b.label}">Lift block</button></form></td></tr>`)}</tbody>
  </table></div>`}
</section>`);
}

// --- status ---

const LED_LABELS: Record<LedName, string> = { power: 'Power / ready', sip: 'SIP', conference: 'Conference', fault: 'Fault' };

export function ledClass(p: LedPattern): string {
  switch (p.kind) {
    case 'off': return 'led off';
    case 'on': return 'led on';
    case 'blink': return p.onMs >= 300 ? 'led blink-slow' : 'led blink-fast';
    case 'code': return `led code-${Math.min(3, Math.max(1, p.blinks))}`;
  }
}

/** What an LED showing its pattern now means, in words. */
function ledMeaning(n: LedName, s: StatusView, faults: FaultExplanation[]): string {
  switch (n) {
    case 'power': return s.ready ? 'The box is running.' : 'The box is starting.';
    case 'sip': return s.leds.sip.kind === 'on' ? 'Phones can reach the box: a phone is registered or a PBX is trusted.' : 'No phone is registered and no PBX is trusted yet.';
    case 'conference': return s.leds.conference.kind === 'blink' ? 'A call is being set up.' : s.leds.conference.kind === 'on' ? 'A conference is running.' : 'No conference is running.';
    case 'fault': {
      const [first] = faults;
      if (!first) return 'No fault.';
      return `${faultHeadline(first)}. ${first.advice}${faults.length > 1 ? ` Also: ${faults.slice(1).map((f) => f.what).join('; ')}.` : ''}`;
    }
  }
}

export function ledText(p: LedPattern): string {
  switch (p.kind) {
    case 'off': return 'off';
    case 'on': return 'on';
    case 'blink': return p.onMs >= 300 ? 'blinking slowly' : 'blinking fast';
    case 'code': return `${p.blinks} flash${p.blinks === 1 ? '' : 'es'}, then a pause`;
  }
}

function health(h: string): Html {
  const cls = h === 'ok' ? 'ok' : h === 'down' ? 'bad' : 'warn';
  return html`<span class="badge ${cls}">${h}</span>`;
}

export function statusBody(s: StatusView, faults: FaultExplanation[]): Html {
  return html`<div class="leds" role="list" aria-label="Status LEDs">${LED_NAMES.map((n) => html`<div class="led-box" role="listitem" data-led="${n}">
    <span class="${ledClass(s.leds[n])}" aria-hidden="true"></span><span class="led-name">${LED_LABELS[n]}</span><span class="led-state muted">${ledText(s.leds[n])}</span>
    <span class="led-meaning">${ledMeaning(n, s, faults)}</span></div>`)}</div>
  <dl class="facts">
    <dt>SIP</dt><dd>${health(s.sip)} port ${s.sipPort} (UDP, TCP), ${s.sipTlsPort} (TLS), ${s.registeredExtensions} registered phone${s.registeredExtensions === 1 ? '' : 's'}, ${s.trustedPeers} trusted peer${s.trustedPeers === 1 ? '' : 's'}</dd>
    <dt>Database</dt><dd>${health(s.database)} ${s.databaseWhere}${s.database === 'down' ? ' cannot be reached — conferences go on; rooms cannot be changed until it is back' : ''}</dd>
    <dt>Media engine</dt><dd>${s.media === 'ok' && s.mediaOverrun ? html`<span class="badge warn">fell behind</span> missed audio ticks in the last minute` : health(s.media)}</dd>
    <dt>Local audio</dt><dd>${localAudio(s)}</dd>
    <dt>Audio encryption</dt><dd>${srtpStatus(s)}</dd>
    <dt>Disk</dt><dd>${s.diskFull ? html`<span class="badge bad">nearly full</span>` : html`<span class="badge ok">ok</span>`}</dd>
    <dt>Conferences</dt><dd>${s.activeConferences} running${s.callsInSetup ? `, ${s.callsInSetup} call${s.callsInSetup === 1 ? '' : 's'} being set up` : ''}</dd>
    <dt>Calls</dt><dd id="call-places">${callPlaces(s)}</dd>
    <dt>Certificate</dt><dd><span class="muted">SHA-256</span> <code class="fingerprint">${s.tlsFingerprint}</code> <span class="muted">(${s.tlsGenerated ? 'made by the box' : 'from --tls-cert'}; HTTPS port ${s.httpsPort}, SIP TLS port ${s.sipTlsPort})</span></dd>
    ${firmwareFacts(s.update, s.version)}
    ${s.cluster ? clusterFacts(s.cluster) : ''}
    <dt>Up for</dt><dd>${duration(s.uptimeSeconds)}</dd>
    <dt>Load</dt><dd>${s.load.join(' / ')} <span class="muted">(1, 5, 15 min)</span>, ${s.memoryMb} MB memory</dd>
  </dl>`;
}

/** How many calls the box has room for, how many it carries, and the callers it turned away for being full. */
function callPlaces(s: StatusView): Html {
  const overload = s.overloaded || s.overloadRefusals
    ? html`; ${s.overloaded ? html`<span class="badge warn">overloaded</span> new calls are refused until the box catches up; ` : ''}<span data-overload-refusals="${s.overloadRefusals}">${s.overloadRefusals} call${s.overloadRefusals === 1 ? '' : 's'} refused because the box was overloaded</span>`
    : '';
  return html`${callPlacesOnly(s)}${overload}`;
}

function callPlacesOnly(s: StatusView): Html {
  const inUse = html`${s.callPlacesInUse} of ${s.callPlaces} call places in use <span class="muted">(the RTP port range's; the processor may be the limit first)</span>`;
  const full = s.callPlaces > 0 && s.callPlacesInUse >= s.callPlaces;
  if (!s.fullRefusals) return full ? html`<span class="badge warn">full</span> ${inUse}` : inUse;
  const at = s.fullAt === null ? '' : `, the last at ${new Date(s.fullAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return html`${full ? html`<span class="badge warn">full</span> ` : ''}${inUse}; <span data-full-refusals="${s.fullRefusals}">${s.fullRefusals} call${s.fullRefusals === 1 ? '' : 's'} refused because the box was full${at}</span>`;
}

function srtpStatus(s: StatusView): Html {
  if (!s.srtpAvailable) return html`<span class="badge bad">unavailable</span> ${s.srtpDetail}`;
  if (!s.srtpKeysInClear) return html`<span class="badge ok">SRTP</span> <span class="muted">${s.srtpDetail}</span>`;
  // A warning stands alone: never "ok" beside it.
  const at = s.srtpKeysInClearAt === null ? '' : `, the last at ${new Date(s.srtpKeysInClearAt).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
  return html`<span class="badge warn" data-srtp-keys-in-clear="${s.srtpKeysInClear}">keys sent in clear</span> ${s.srtpKeysInClear} call${s.srtpKeysInClear === 1 ? '' : 's'} exchanged SRTP keys over SIP without TLS${at}: whoever captured that signalling can decrypt their audio. Phones that encrypt should use SIP over TLS. <span class="muted">(SRTP: ${s.srtpDetail})</span>`;
}

function localAudio(s: StatusView): Html {
  if (s.localAudio === 'off') return html`<span class="badge">off</span> <span class="muted">${s.localAudioReason}</span>`;
  if (s.localAudio === 'unavailable') return html`<span class="badge bad">unavailable</span> ${s.localAudioReason}`;
  return html`<span class="badge ok">ok</span> room ${s.localAudioRoom ?? '—'}, ${s.localAudioInConference ? 'in the conference now' : 'joins when a conference starts'} <span class="muted">(${s.localAudioReason})</span>`;
}

export function statusPage(ctx: PageContext, s: StatusView): Html {
  return layout('Status', '/status', ctx, html`<section class="card" id="status" data-live="status">${statusBody(s, ctx.faults ?? [])}</section>
${updateCard(ctx, s.update)}`);
}

const ERROR_TITLES: Record<number, string> = { 404: 'Not found', 405: 'Not allowed', 503: 'Not available right now' };

export function errorPage(status: number, message: string, loggedIn: PageContext | null): Html {
  return layout(ERROR_TITLES[status] ?? 'Something went wrong', '', loggedIn, html`<section class="card narrow"><p>${message}</p><p><a href="/rooms">Back to the rooms</a></p></section>`);
}

// --- formatting ---

function shortTime(iso: string): string {
  return iso.slice(0, 16).replace('T', ' ');
}

function clock(iso: string): string {
  return iso.slice(11, 19);
}

export function minutesLeft(seconds: number): string {
  if (seconds >= 120) return `${Math.floor(seconds / 60)} min left`;
  return `${seconds} s left`;
}

function duration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  return `${m} min ${s % 60} s`;
}
