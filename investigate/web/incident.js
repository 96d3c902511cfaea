// One incident: its story, its findings on a time axis among the rest of
// its actors' events, the chain of identities and why they were joined,
// the objects touched, and the redacted JSON of any event.
import { h, section } from './dom.js';
import * as api from './api.js';
import { severityBadge, tacticChips, linkList } from './incidents.js';
import { stageViews } from './event.js';
import { VirtualList } from './vlist.js';
import { TimeAxis } from './axis.js';
import {
  fmtTime, fmtClock, fmtDuration, timeMs, actorHref, ipHref, objectHref, eventHref,
  objectLabel, actorOf, severityRank,
} from './format.js';

const ROW_HEIGHT = 28;

// The last incident fetched, so that changing a filter or the selected
// event (which rewrites the URL) does not fetch 10,000 events again.
let cache = { id: null, data: null };

async function load(id) {
  if (cache.id === id) return cache.data;
  const data = await api.incident(id);
  cache = { id, data };
  return data;
}

/** linkReason says in words why a link joined two identities. */
function linkReason(l) {
  switch (l.kind) {
    case 'binding': return [`granted ${l.role || 'a role'} to`, ` via ${l.object}`];
    case 'token': return ['minted a token for', ` via ${l.object}`];
    case 'source': return ['acted from the same source and client as', ''];
    default: return [l.kind, l.object ? ` via ${l.object}` : ''];
  }
}

function chainCard(inc) {
  const links = inc.links || [];
  const body = links.length === 0
    ? h('p', { class: 'muted' }, `One identity, no link to another: ${inc.actors.join(', ')}.`)
    : h('ol', { class: 'chain' }, links.map((l) => {
      const [verb, via] = linkReason(l);
      return h('li', { class: `link link-${l.kind}` },
        h('span', { class: `kind kind-${l.kind}` }, l.kind),
        h('a', { href: actorHref(l.from), class: 'actor' }, l.from), ' ', verb, ' ',
        h('a', { href: actorHref(l.to), class: 'actor' }, l.to),
        h('div', { class: 'muted small' }, via.trim(), ' at ', fmtTime(l.time), ' · ',
          h('a', { href: eventHref(l.audit_id) }, 'event')));
    }));
  return section('Identities and why they are joined',
    body,
    h('dl', { class: 'facts' },
      h('dt', null, 'Actors'), h('dd', null, linkList(inc.actors, actorHref, 'actor')),
      h('dt', null, 'Sources'), h('dd', null, linkList(inc.source_ips, ipHref, 'ip')),
      h('dt', null, 'Clients'), h('dd', null, (inc.user_agents || []).map((ua) => h('div', { class: 'ua-full' }, ua)))));
}

// touchedShown is how many objects the card lists before "show all": an
// incident of thousands of requests can touch hundreds of objects.
const touchedShown = 12;

function touchedCard(inc) {
  const all = inc.touched || [];
  const row = (t) => h('tr', null,
    h('td', null, h('a', { href: objectHref(t), class: 'object' }, objectLabel(t))),
    h('td', null, (t.verbs || []).join(', ')),
    h('td', { class: 'num' }, t.count.toLocaleString('en')));
  const tbody = h('tbody', null, all.slice(0, touchedShown).map(row));
  const more = all.length > touchedShown
    ? h('button', {
      type: 'button', class: 'linkish more',
      onclick: (ev) => { tbody.replaceChildren(...all.map(row)); ev.target.remove(); },
    }, `Show all ${all.length.toLocaleString('en')} objects`)
    : null;
  return section(`Objects touched (${all.length.toLocaleString('en')})`,
    all.length ? h('table', { class: 'grid compact touched' },
      h('thead', null, h('tr', null, h('th', null, 'Object'), h('th', null, 'Verbs'), h('th', null, 'Requests'))),
      tbody) : h('p', { class: 'muted' }, 'None.'),
    more);
}

export async function renderIncident(root, id, params, ctx) {
  document.title = `Incident ${id} — kaudit`;
  const fetchStart = performance.now();
  const d = await load(id);
  if (!ctx.isCurrent()) return;
  const buildStart = performance.now();
  const inc = d.incident;
  document.title = `${inc.severity.toUpperCase()} ${inc.id} — kaudit`;

  // Findings by audit id, and every event as a point on the axis.
  const findingsBy = new Map();
  for (const f of d.findings) {
    const list = findingsBy.get(f.audit_id) || [];
    list.push(f);
    findingsBy.set(f.audit_id, list);
  }
  const points = d.timeline.map((e) => {
    const fs = findingsBy.get(e.audit_id) || null;
    const worst = fs ? fs.reduce((a, b) => (severityRank(b.severity) > severityRank(a.severity) ? b : a)) : null;
    return {
      t: timeMs(e.time), entry: e, findings: fs, finding: worst,
      text: [actorOf(e), e.user, e.verb, objectLabel(e), (e.source_ips || []).join(' '), e.user_agent, String(e.code), e.audit_id,
        fs ? fs.map((f) => f.title + ' ' + f.rule).join(' ') : ''].join(' ').toLowerCase(),
    };
  });
  const indexOf = new Map(points.map((p, i) => [p.entry.audit_id, i]));

  // State kept in the URL: filter text, findings only, selected event.
  const state = { q: params.get('q') || '', findingsOnly: params.get('findings') === '1', event: params.get('event') || '' };
  const syncURL = () => {
    const qs = new URLSearchParams();
    if (state.q) qs.set('q', state.q);
    if (state.findingsOnly) qs.set('findings', '1');
    if (state.event) qs.set('event', state.event);
    const s = qs.toString();
    history.replaceState(null, '', '#/incidents/' + encodeURIComponent(inc.id) + (s ? '?' + s : ''));
  };

  // Head: severity, span, counts, the story, tactics.
  const span = timeMs(inc.end) - timeMs(inc.start);
  root.append(h('div', { class: 'incident-head' },
    h('div', { class: 'title-row' },
      severityBadge(inc.severity),
      h('h1', null, 'Incident ', h('code', null, inc.id)),
      h('span', { class: 'muted' }, `${fmtTime(inc.start)} → ${fmtClock(inc.end)} UTC · ${fmtDuration(span)} · ${inc.finding_count} findings · ${d.timeline.length.toLocaleString('en')} events of its actors`)),
    h('p', { class: 'story' }, inc.summary),
    tacticChips(inc.tactics)));

  // Findings, in time order.
  const findingRows = [...d.findings].sort((a, b) => timeMs(a.time) - timeMs(b.time)).map((f) => h('li', {
    class: 'finding', dataset: { rule: f.rule, auditId: f.audit_id }, title: f.message,
  },
  severityBadge(f.severity),
  h('span', { class: 'ftime' }, fmtClock(f.time)),
  h('button', { type: 'button', class: 'linkish ftitle', onclick: () => select(indexOf.get(f.audit_id) ?? -1, true) }, f.title),
  h('span', { class: 'muted small' }, `${f.technique_id} ${f.technique}`),
  h('span', { class: 'fwho' }, h('a', { href: actorHref(actorOf(f)), class: 'actor' }, actorOf(f)), ' ', f.verb, ' ',
    f.resource ? h('a', { href: objectHref(f), class: 'object' }, objectLabel(f)) : f.request_uri)));

  // Events: axis, filter, virtual list.
  let visible = points.map((_, i) => i);
  let selected = -1;
  const count = h('span', { class: 'muted count' });
  const filter = h('input', { type: 'search', class: 'filter', placeholder: 'Filter events: actor, verb, object, IP, code, rule…', value: state.q, 'aria-label': 'filter events' });
  const onlyF = h('input', { type: 'checkbox', checked: state.findingsOnly });
  const list = new VirtualList({
    rowHeight: ROW_HEIGHT, className: 'events',
    renderRow: (i) => eventRow(points[i], i === selected, () => select(i, false)),
  });
  const axis = new TimeAxis({ points, onPick: (i) => select(i, true) });
  const eventPane = h('div', { class: 'event-pane' }, h('p', { class: 'muted' }, 'Select an event to see its redacted JSON.'));

  function applyFilter() {
    const q = state.q.trim().toLowerCase();
    const words = q ? q.split(/\s+/) : [];
    visible = [];
    for (let i = 0; i < points.length; i++) {
      const p = points[i];
      if (state.findingsOnly && !p.finding) continue;
      if (words.length && !words.every((w) => p.text.includes(w))) continue;
      visible.push(i);
    }
    list.setItems(visible);
    axis.setVisible(words.length || state.findingsOnly ? new Set(visible) : null);
    count.textContent = `${visible.length.toLocaleString('en')} of ${points.length.toLocaleString('en')} events`;
  }

  async function select(i, scroll) {
    if (i < 0 || !points[i]) return;
    selected = i;
    state.event = points[i].entry.audit_id;
    syncURL();
    axis.select(i);
    const at = visible.indexOf(i);
    if (scroll && at >= 0) list.scrollToIndex(at);
    list.refresh();
    for (const li of findingRows) li.classList.toggle('selected', li.dataset.auditId === state.event);
    const id = state.event;
    eventPane.replaceChildren(h('p', { class: 'muted' }, 'Loading ', id, '…'));
    try {
      const ev = await api.event(id);
      if (state.event !== id) return;
      eventPane.replaceChildren(
        h('div', { class: 'event-pane-head' }, h('code', null, id), ' ', h('a', { href: eventHref(id) }, 'open')),
        ...stageViews(ev));
    } catch (e) {
      if (state.event === id) eventPane.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  }

  // Up and down move the selection through the filtered events.
  list.el.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
    ev.preventDefault();
    const at = visible.indexOf(selected);
    const next = at < 0 ? 0 : Math.min(visible.length - 1, Math.max(0, at + (ev.key === 'ArrowDown' ? 1 : -1)));
    if (visible.length) select(visible[next], true);
  });
  filter.addEventListener('input', () => { state.q = filter.value; syncURL(); applyFilter(); });
  onlyF.addEventListener('change', () => { state.findingsOnly = onlyF.checked; syncURL(); applyFilter(); });

  root.append(h('div', { class: 'incident-grid' },
    h('div', { class: 'col-main' },
      section(`Findings (${d.findings.length})`, h('ol', { class: 'findings' }, findingRows)),
      h('section', { class: 'card events-card' },
        h('h2', null, 'Time axis: findings among all events of its actors'),
        axis.el,
        h('div', { class: 'toolbar' }, filter, h('label', { class: 'check' }, onlyF, ' findings only'), count),
        h('div', { class: 'vhead' }, ['Time (UTC)', 'Actor', 'Verb', 'Object', 'Code', 'Source', 'Finding'].map((t) => h('span', null, t))),
        list.el)),
    h('div', { class: 'col-side' },
      chainCard(inc),
      touchedCard(inc),
      section('Event', eventPane))));

  applyFilter();
  axis.draw();
  if (state.event && indexOf.has(state.event)) select(indexOf.get(state.event), true);
  // Where the time to open an incident goes, for the browser test's report.
  window.__kaudit = Object.assign(window.__kaudit || {}, {
    incidentEvents: points.length, incidentFetchMs: buildStart - fetchStart, incidentBuildMs: performance.now() - buildStart,
  });
  return () => { list.dispose(); axis.dispose(); };
}

function eventRow(p, isSelected, onClick) {
  const e = p.entry;
  const actor = actorOf(e);
  const cls = ['vrow', p.finding ? `has-finding sev-row-${p.finding.severity}` : '', e.denied ? 'denied' : '', isSelected ? 'selected' : ''].join(' ');
  const row = h('div', { class: cls, role: 'listitem', dataset: { auditId: e.audit_id } },
    h('span', { class: 'nowrap' }, fmtClock(e.time)),
    h('span', null, h('a', { href: actorHref(actor), class: 'actor' }, actor)),
    h('span', null, e.verb),
    h('span', null, e.resource ? h('a', { href: objectHref(e), class: 'object' }, objectLabel(e)) : e.request_uri),
    h('span', { class: 'num' }, String(e.code)),
    h('span', null, (e.source_ips || []).map((ip) => h('a', { href: ipHref(ip), class: 'ip' }, ip))),
    h('span', { class: 'fmark' }, p.findings ? p.findings.map((f) => f.title).join('; ') : ''));
  row.addEventListener('click', (ev) => { if (!ev.target.closest('a')) onClick(); });
  return row;
}
