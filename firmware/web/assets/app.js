// The page works without this script. It adds: local times, confirmations, inline validation,
// and the live view (server-sent events): the fault banner and the number of people in calls on every page, and the
// rooms, live, extensions and status pages; it says when it loses the box.
'use strict';

function localTimes(root) {
  for (const t of root.querySelectorAll('time[datetime]')) {
    const d = new Date(t.getAttribute('datetime'));
    if (Number.isNaN(d.getTime())) continue;
    const sameDay = d.toDateString() === new Date().toDateString();
    t.textContent = sameDay || t.closest('.since') ? d.toLocaleTimeString() : d.toLocaleString();
  }
}

/** The user said yes in the browser: the box need not ask again on a page of its own. */
function markConfirmed(form) {
  if (form.querySelector('input[name="confirm"]')) return;
  const i = document.createElement('input');
  i.type = 'hidden';
  i.name = 'confirm';
  i.value = 'yes';
  form.appendChild(i);
}

function confirmations(root) {
  for (const b of root.querySelectorAll('button[data-confirm]')) {
    if (b.dataset.bound) continue;
    b.dataset.bound = '1';
    b.addEventListener('click', (ev) => {
      if (!window.confirm(b.dataset.confirm)) {
        ev.preventDefault();
        return;
      }
      if (b.form) markConfirmed(b.form);
    });
  }
}

function fieldMessage(input) {
  return document.getElementById(input.getAttribute('aria-describedby'));
}

function check(input) {
  const box = input.closest('.field');
  const msg = fieldMessage(input);
  if (!box || !msg) return true;
  if (!msg.dataset.hint) msg.dataset.hint = box.classList.contains('has-error') ? '' : msg.textContent;
  const v = input.value.trim();
  const words = (input.dataset.alsoAccepts || '').split(' ').filter(Boolean);
  let bad = null;
  const label = input.labels && input.labels[0] ? input.labels[0].textContent.trim() : '';
  if (input.required && v === '') bad = label ? label + ' is required' : 'this field is required';
  else if (v !== '' && !words.includes(v.toLowerCase())) {
    const pattern = input.getAttribute('pattern');
    if (pattern && !new RegExp('^(?:' + pattern + ')$').test(v)) bad = input.dataset.invalid || (label ? label + ': this value is not valid' : 'this value is not valid');
    const n = Number(v);
    if (!bad && input.hasAttribute('min') && /^\d+$/.test(v) && n < Number(input.min)) bad = input.dataset.invalid;
    if (!bad && input.hasAttribute('max') && /^\d+$/.test(v) && n > Number(input.max)) bad = input.dataset.invalid;
  }
  box.classList.toggle('has-error', !!bad);
  if (bad) {
    msg.textContent = bad.charAt(0).toUpperCase() + bad.slice(1) + '.';
    input.setAttribute('aria-invalid', 'true');
  } else {
    msg.textContent = msg.dataset.hint || '';
    input.removeAttribute('aria-invalid');
  }
  return !bad;
}

function validation(root) {
  for (const form of root.querySelectorAll('form[data-validate]')) {
    const inputs = [...form.querySelectorAll('input:not([type=hidden])')];
    for (const i of inputs) {
      i.addEventListener('blur', () => check(i));
      i.addEventListener('input', () => {
        if (i.closest('.field')?.classList.contains('has-error')) check(i);
      });
    }
    form.addEventListener('submit', (ev) => {
      const bad = inputs.filter((i) => !check(i));
      if (bad.length) {
        ev.preventDefault();
        bad[0].focus();
      }
    });
  }
}

// A field whose change has consequences (data-confirm-change) asks before a form with it changed is sent; confirmed,
// the form carries confirm=yes, as the box's own confirmation page sends it.
function changeConfirmations(root) {
  for (const form of root.querySelectorAll('form')) {
    const fields = [...form.querySelectorAll('[data-confirm-change]')];
    if (!fields.length) continue;
    form.addEventListener('submit', (ev) => {
      if (ev.defaultPrevented) return;
      const changed = fields.filter((f) => f.value.trim() !== f.dataset.stored);
      for (const f of changed) {
        if (!window.confirm(f.dataset.confirmChange)) {
          ev.preventDefault();
          f.focus();
          return;
        }
      }
      if (changed.length) markConfirmed(form);
    });
  }
}

function minutesLeft(seconds) {
  return seconds >= 120 ? Math.floor(seconds / 60) + ' min left' : seconds + ' s left';
}

function countdown() {
  for (const el of document.querySelectorAll('.time-left[data-ends]')) {
    const s = Math.max(0, Math.round((new Date(el.dataset.ends).getTime() - Date.now()) / 1000));
    el.textContent = minutesLeft(s);
  }
}

/**
 * Replaces a live region's markup, keeping the keyboard where it was: the control that had the focus gets it back
 * (found by its data-focus-key, or its id); when it is gone, the region itself takes it rather than the page's start.
 */
function redraw(region, markup) {
  if (region.innerHTML === markup) return;
  const had = region.contains(document.activeElement) ? document.activeElement : null;
  const key = had?.dataset.focusKey;
  const id = had?.id;
  // What the user is typing (an extension to invite) survives the redraw.
  const typed = [...region.querySelectorAll('input[id]:not([type="hidden"])')].filter((i) => i.value !== '').map((i) => [i.id, i.value]);
  region.innerHTML = markup;
  for (const [inputId, value] of typed) {
    const input = document.getElementById(inputId);
    if (input && region.contains(input)) input.value = value;
  }
  enhance(region);
  countdown();
  if (!had) return;
  const again = key ? region.querySelector('[data-focus-key="' + CSS.escape(key) + '"]') : id ? document.getElementById(id) : null;
  if (again) again.focus();
  else {
    region.tabIndex = -1;
    region.focus();
  }
}

function applySnapshot(data) {
  const live = document.getElementById('live');
  // The markup comes from the box's own templates, which escape every value.
  if (live && typeof data.live === 'string') redraw(live, data.live);
  const status = document.getElementById('status');
  if (status && typeof data.status === 'string') redraw(status, data.status);
  const extensions = document.getElementById('extensions');
  if (extensions && typeof data.extensions === 'string') redraw(extensions, data.extensions);
  const faults = document.getElementById('faults');
  if (faults && typeof data.faults === 'string' && faults.innerHTML !== data.faults) faults.innerHTML = data.faults;
  const count = document.querySelector('nav [data-people]');
  if (count && typeof data.people === 'number' && count.dataset.people !== String(data.people)) {
    count.dataset.people = String(data.people);
    count.classList.toggle('none', data.people === 0);
    count.childNodes[1].textContent = String(data.people);
  }
  const table = document.querySelector('table[data-live="rooms"]');
  if (table && Array.isArray(data.rooms)) {
    const inUse = new Map(data.rooms.map((r) => [String(r.id), r.participants]));
    for (const row of table.querySelectorAll('tr[data-room]')) {
      const cell = row.querySelector('.in-use');
      const n = inUse.get(row.dataset.room);
      const text = n ? n + ' in call' : '—';
      if (cell && cell.textContent !== text) {
        cell.textContent = '';
        const el = document.createElement(n ? 'a' : 'span');
        el.textContent = text;
        el.className = n ? 'badge live' : 'muted';
        if (n) el.href = '/live';
        cell.appendChild(el);
      }
    }
  }
}

/** The time of day as the page shows it (hh:mm). */
function clockNow() {
  const d = new Date();
  return String(d.getHours()).padStart(2, '0') + ':' + String(d.getMinutes()).padStart(2, '0');
}

/**
 * Contact with the box, as the live view sees it: when the stream breaks, a banner says since when, the live parts are
 * greyed out with their buttons disabled, and the page reconnects by itself. A box that answers but no longer knows
 * this session sends the user to log in.
 */
const contact = {
  lostAt: null,
  lost() {
    if (this.lostAt) return;
    this.lostAt = clockNow();
    const banner = document.createElement('p');
    banner.id = 'lost-contact';
    banner.className = 'error-box lost';
    banner.setAttribute('role', 'alert');
    banner.textContent = 'Lost contact with the box at ' + this.lostAt + ', retrying…';
    const main = document.querySelector('main');
    main.insertBefore(banner, main.firstChild);
    document.body.classList.add('offline');
    for (const b of document.querySelectorAll('main button:not([disabled])')) {
      b.disabled = true;
      b.dataset.offline = '1';
    }
  },
  back() {
    if (!this.lostAt) return;
    this.lostAt = null;
    document.getElementById('lost-contact')?.remove();
    document.body.classList.remove('offline');
    for (const b of document.querySelectorAll('button[data-offline]')) {
      b.disabled = false;
      delete b.dataset.offline;
    }
  },
};

/** Whether the box still knows this session: its pages answer a session with 200, anyone else with a redirect. */
async function sessionAlive() {
  const r = await fetch(location.pathname, { redirect: 'manual', cache: 'no-store', credentials: 'same-origin' });
  return r.type !== 'opaqueredirect' && r.status === 200;
}

// Which part of the box's snapshots each live element of a page shows: the page asks only for those.
const LIVE_PARTS = { conferences: 'live', status: 'status', rooms: 'rooms', extensions: 'extensions', faults: 'faults' };

function liveView() {
  const parts = [...new Set([...document.querySelectorAll('[data-live]')].map((el) => LIVE_PARTS[el.dataset.live]).filter(Boolean))];
  if (parts.length === 0 || !window.EventSource) return;
  const connect = () => {
    const es = new EventSource('/events?parts=' + parts.join(','));
    let heard = Date.now();
    const stop = () => {
      clearInterval(stall);
      es.close();
    };
    // The box sends something every 5 s; a frozen box or a dead link sends nothing and breaks nothing.
    const stall = setInterval(() => {
      if (Date.now() - heard < 15000) return;
      stop();
      contact.lost();
      connect();
    }, 1000);
    const hear = () => {
      heard = Date.now();
      contact.back();
    };
    es.addEventListener('snapshot', (ev) => {
      hear();
      try {
        applySnapshot(JSON.parse(ev.data));
      } catch (e) {
        console.error('live view update failed', e);
      }
    });
    es.addEventListener('alive', hear);
    es.addEventListener('error', () => {
      contact.lost();
      // The browser tries again by itself, except when the box refused the stream (the session ended, the box
      // restarted): then the page finds out whether it is still logged in.
      if (es.readyState !== EventSource.CLOSED) return;
      stop();
      const retry = () => setTimeout(() => sessionAlive().then((alive) => (alive ? connect() : location.assign('/login')), retry), 2000);
      retry();
    });
  };
  connect();
  setInterval(countdown, 1000);
}

/** The Status page's update form: the file goes to the API as it is, with the upload's progress beside it. */
function updateUpload() {
  const form = document.getElementById('update-form');
  if (!form) return;
  const input = form.querySelector('input[type="file"]');
  const msg = document.getElementById('f-bundle-msg');
  const button = form.querySelector('button');
  const say = (text, bad) => {
    msg.textContent = text;
    form.querySelector('.field').classList.toggle('has-error', !!bad);
    if (bad) msg.setAttribute('role', 'alert');
    else msg.removeAttribute('role');
  };
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const file = input.files && input.files[0];
    if (!file) return say('Choose the update file first.', true);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/api/update');
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.setRequestHeader('x-csrf-token', form.querySelector('input[name="_csrf"]').value);
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) say('Sending: ' + Math.floor((e.loaded / e.total) * 100) + ' % of ' + Math.round(file.size / 1048576) + ' MB');
    });
    xhr.addEventListener('load', () => {
      button.disabled = false;
      let reply = null;
      try {
        reply = JSON.parse(xhr.responseText);
      } catch (e) {
        reply = null;
      }
      if (xhr.status === 200 && reply) {
        const next = (reply.slots || []).find((s) => s.primary);
        const inS = reply.restartAt ? Math.max(0, Math.round((reply.restartAt - Date.now()) / 1000)) : 0;
        say('Installed' + (next ? ' into slot ' + next.bootname + (next.version ? ' (' + next.version + ')' : '') : '') + '. Calls are ended and the box restarts in ' + inS + ' s; this page comes back when it is up.');
      } else say(reply && reply.error ? reply.error.message : 'The box did not take the update (HTTP ' + xhr.status + ').', true);
    });
    xhr.addEventListener('error', () => {
      button.disabled = false;
      say('The upload broke off: the box could not be reached.', true);
    });
    button.disabled = true;
    say('Sending…');
    xhr.send(file);
  });
}

function enhance(root) {
  localTimes(root);
  confirmations(root);
}

/** After a form was sent, the row or control it changed takes the focus (the box names it in data-focus). */
function focusChanged() {
  const id = document.getElementById('main')?.dataset.focus;
  const target = id && document.getElementById(id);
  if (!target) return;
  if (target.tabIndex < 0 && !target.matches('a, button, input, select, textarea')) target.tabIndex = -1;
  target.focus();
}

document.addEventListener('DOMContentLoaded', () => {
  enhance(document);
  validation(document);
  changeConfirmations(document);
  focusChanged();
  liveView();
  updateUpload();
});
