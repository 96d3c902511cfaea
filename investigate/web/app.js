// The analyst's view: a router over the URL's fragment, so that every view
// (#/incidents, #/incidents/ID?q=…&event=…, #/timeline?actor=…, #/events/ID)
// is a URL an analyst can bookmark or paste into a ticket.
import { h } from './dom.js';
import { renderIncidents } from './incidents.js';
import { renderIncident } from './incident.js';
import { renderTimeline } from './timeline.js';
import { renderEvent } from './event.js';
import { setTactics } from './format.js';
import { setKeys } from './keys.js';
import * as api from './api.js';

const view = document.getElementById('view');
let generation = 0;
let dispose = null;

/** parseHash splits "#/incidents/ID?x=1" into path parts and parameters. */
function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const parts = path.split('/').filter(Boolean).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { parts, params };
}

async function route() {
  const gen = ++generation;
  const started = performance.now();
  if (dispose) { dispose(); dispose = null; }
  setKeys(null);
  const { parts, params } = parseHash();
  const section = parts[0] || 'incidents';
  for (const a of document.querySelectorAll('[data-nav]')) {
    a.classList.toggle('active', a.dataset.nav === section);
  }
  const root = h('div', { class: 'view-root' });
  view.replaceChildren(root);
  view.dataset.ready = '';
  // isCurrent lets a view that awaited the API know it was navigated away from.
  const ctx = { isCurrent: () => gen === generation, started };
  try {
    let d;
    if (section === 'incidents' && parts.length <= 1) d = await renderIncidents(root, params, ctx);
    else if (section === 'incidents') d = await renderIncident(root, parts[1], params, ctx);
    else if (section === 'timeline') d = await renderTimeline(root, params, ctx);
    else if (section === 'events' && parts[1]) d = await renderEvent(root, parts[1], ctx);
    else root.append(h('p', { class: 'error' }, 'No such view: ' + location.hash));
    if (gen !== generation) { if (d) d(); return; }
    dispose = d || null;
  } catch (e) {
    if (gen !== generation) return;
    root.replaceChildren(h('p', { class: 'error', role: 'alert' }, e.message));
  }
  view.dataset.ready = String(gen);
  window.__kaudit = Object.assign(window.__kaudit || {}, { lastRenderMs: performance.now() - started, view: section });
}

// The skip link moves focus to the view without touching the URL's
// fragment, which names the view.
document.getElementById('skip-link')?.addEventListener('click', (ev) => {
  ev.preventDefault();
  view.focus();
});

// The tactic order comes first: every view that lists tactics sorts by it.
// Without it (an old server) tactics keep the order the incident gives.
api.tactics().then((r) => setTactics(r.tactics), () => {}).finally(() => {
  window.addEventListener('hashchange', route);
  route();
});
