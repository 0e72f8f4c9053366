// The page works without this script. It adds: local times, confirmations, inline validation,
// and the live view (server-sent events) on the rooms, live, extensions and status pages.
'use strict';

function localTimes(root) {
  for (const t of root.querySelectorAll('time[datetime]')) {
    const d = new Date(t.getAttribute('datetime'));
    if (Number.isNaN(d.getTime())) continue;
    const sameDay = d.toDateString() === new Date().toDateString();
    t.textContent = sameDay || t.closest('.since') ? d.toLocaleTimeString() : d.toLocaleString();
  }
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
      const form = b.form;
      if (form && !form.querySelector('input[name="confirm"]')) {
        const i = document.createElement('input');
        i.type = 'hidden';
        i.name = 'confirm';
        i.value = 'yes';
        form.appendChild(i);
      }
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
  let bad = null;
  if (input.required && v === '') bad = 'this field is required';
  else if (v !== '') {
    const pattern = input.getAttribute('pattern');
    if (pattern && !new RegExp('^(?:' + pattern + ')$').test(v)) bad = input.dataset.invalid || 'this value is not valid';
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

function minutesLeft(seconds) {
  return seconds >= 120 ? Math.floor(seconds / 60) + ' min left' : seconds + ' s left';
}

function countdown() {
  for (const el of document.querySelectorAll('.time-left[data-ends]')) {
    const s = Math.max(0, Math.round((new Date(el.dataset.ends).getTime() - Date.now()) / 1000));
    el.textContent = minutesLeft(s);
  }
}

function applySnapshot(data) {
  const live = document.getElementById('live');
  // The markup comes from the box's own templates, which escape every value.
  if (live && typeof data.live === 'string') {
    live.innerHTML = data.live;
    enhance(live);
    countdown();
  }
  const status = document.getElementById('status');
  if (status && typeof data.status === 'string') status.innerHTML = data.status;
  const extensions = document.getElementById('extensions');
  if (extensions && typeof data.extensions === 'string') {
    extensions.innerHTML = data.extensions;
    enhance(extensions);
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

// Which part of the box's snapshots each live element of a page shows: the page asks only for those.
const LIVE_PARTS = { conferences: 'live', status: 'status', rooms: 'rooms', extensions: 'extensions' };

function liveView() {
  const parts = [...new Set([...document.querySelectorAll('[data-live]')].map((el) => LIVE_PARTS[el.dataset.live]).filter(Boolean))];
  if (parts.length === 0 || !window.EventSource) return;
  const es = new EventSource('/events?parts=' + parts.join(','));
  es.addEventListener('snapshot', (ev) => {
    try {
      applySnapshot(JSON.parse(ev.data));
    } catch (e) {
      console.error('live view update failed', e);
    }
  });
  setInterval(countdown, 1000);
}

function enhance(root) {
  localTimes(root);
  confirmations(root);
}

document.addEventListener('DOMContentLoaded', () => {
  enhance(document);
  validation(document);
  liveView();
});
