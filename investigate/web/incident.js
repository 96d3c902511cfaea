// One incident: its story, its findings on a time axis among the rest of
// its actors' events, the chain of identities and why they were joined,
// the objects touched, and beside them (in view while the list scrolls)
// the selected event: its findings, RBAC reason, diff and JSON.
import { h, section } from './dom.js';
import * as api from './api.js';
import { severityBadge, tacticChips, linkList } from './incidents.js';
import { eventDetail } from './event.js';
import { VirtualList } from './vlist.js';
import { TimeAxis } from './axis.js';
import { setKeys } from './keys.js';
import { sourceIPs, sourcesText, clip } from './widgets.js';
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

/** incidentSources lists the addresses of an incident's requests, each
 * with how the apiserver learnt it (peer or X-Forwarded-For). */
function incidentSources(inc, timeline, findings) {
  const roles = new Map();
  const add = (ips) => (ips || []).forEach((ip, i) => {
    const r = roles.get(ip) || new Set();
    r.add(i === ips.length - 1 ? 'peer' : 'X-Forwarded-For');
    roles.set(ip, r);
  });
  findings.forEach((f) => add(f.source_ips));
  timeline.forEach((e) => add(e.source_ips));
  for (const ip of inc.source_ips || []) if (!roles.has(ip)) roles.set(ip, new Set(['peer']));
  return h('span', { class: 'ips' }, [...roles].map(([ip, r]) => h('span', { class: 'ip-addr' + (r.has('peer') ? '' : ' xff') },
    h('a', { href: ipHref(ip), class: 'ip' }, ip), h('span', { class: 'ip-role' }, [...r].join(' and ')))));
}

function chainCard(inc, d) {
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
      h('dt', null, 'Sources'), h('dd', null, incidentSources(inc, d.timeline, d.findings)),
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

/** exportLinks download the incident's report: Markdown or HTML to attach
 * to a ticket, JSON for a script, CSV (its timeline) for a spreadsheet. */
function exportLinks(id) {
  return h('span', { class: 'export', 'aria-label': 'export this incident' },
    h('span', { class: 'muted small' }, 'Export'),
    [['md', 'Markdown'], ['html', 'HTML'], ['json', 'JSON'], ['csv', 'CSV']].map(([f, label]) =>
      h('a', { href: api.reportHref(id, f), download: `${id}.${f}`, class: 'export-link', dataset: { format: f } }, label)));
}

/** isoOf writes a time of the axis (epoch ms) for the URL. */
const isoOf = (ms) => new Date(Math.round(ms)).toISOString();

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
        e.request_uri, fs ? fs.map((f) => f.title + ' ' + f.rule).join(' ') : ''].join(' ').toLowerCase(),
    };
  });
  const indexOf = new Map(points.map((p, i) => [p.entry.audit_id, i]));

  // State kept in the URL: filter text, findings only, time range, selected event.
  const parseTime = (s) => { const t = s ? timeMs(s) : NaN; return Number.isNaN(t) ? null : t; };
  const state = {
    q: params.get('q') || '', findingsOnly: params.get('findings') === '1', event: params.get('event') || '',
    from: parseTime(params.get('from')), to: parseTime(params.get('to')),
  };
  const syncURL = () => {
    const qs = new URLSearchParams();
    if (state.q) qs.set('q', state.q);
    if (state.findingsOnly) qs.set('findings', '1');
    if (state.from != null && state.to != null) { qs.set('from', isoOf(state.from)); qs.set('to', isoOf(state.to)); }
    if (state.event) qs.set('event', state.event);
    const s = qs.toString();
    history.replaceState(null, '', '#/incidents/' + encodeURIComponent(inc.id) + (s ? '?' + s : ''));
  };

  // Head: severity, span, counts, the story, tactics in the order they occurred, export.
  const span = timeMs(inc.end) - timeMs(inc.start);
  root.append(h('div', { class: 'incident-head' },
    h('div', { class: 'title-row' },
      severityBadge(inc.severity),
      h('h1', null, 'Incident ', h('code', null, inc.id)),
      h('span', { class: 'muted' }, `${fmtTime(inc.start)} → ${fmtClock(inc.end)} UTC · ${fmtDuration(span)} · ${inc.finding_count} findings · ${d.timeline.length.toLocaleString('en')} events of its actors`),
      exportLinks(inc.id)),
    h('p', { class: 'story' }, inc.summary),
    tacticChips(inc)));

  // Findings, in time order: technique ids whole, titles and subjects wrapped.
  const findingRows = [...d.findings].sort((a, b) => timeMs(a.time) - timeMs(b.time)).map((f) => h('li', {
    class: 'finding', dataset: { rule: f.rule, auditId: f.audit_id }, title: f.message,
  },
  severityBadge(f.severity),
  h('span', { class: 'ftime' }, fmtClock(f.time)),
  h('button', { type: 'button', class: 'linkish ftitle', onclick: () => select(indexOf.get(f.audit_id) ?? -1, true) }, f.title),
  h('span', { class: 'fmeta small' },
    h('span', { class: 'ftech', title: f.technique }, h('span', { class: 'tech-id' }, f.technique_id), ' ', h('span', { class: 'muted' }, f.technique)),
    h('span', { class: 'fwho' }, h('a', { href: actorHref(actorOf(f)), class: 'actor' }, actorOf(f)), ' ', f.verb, ' ',
      f.resource ? h('a', { href: objectHref(f), class: 'object' }, objectLabel(f)) : f.request_uri))));

  // Events: axis, filter, virtual list.
  let visible = points.map((_, i) => i);
  let selected = -1;
  const count = h('span', { class: 'muted count' });
  const filter = h('input', {
    type: 'search', class: 'filter', placeholder: 'Filter events: actor, verb, object, IP, code, rule, URI…', value: state.q,
    'aria-label': 'filter events', 'data-search': '',
  });
  const onlyF = h('input', { type: 'checkbox', checked: state.findingsOnly });
  const rangeInfo = h('span', { class: 'axis-range' });
  const list = new VirtualList({
    rowHeight: ROW_HEIGHT, className: 'events',
    renderRow: (i) => eventRow(points[i], i === selected, () => select(i, false)),
  });
  const axis = new TimeAxis({
    points, onPick: (i) => select(i, true),
    onRange: (r) => { [state.from, state.to] = r ? r : [null, null]; syncURL(); applyFilter(); },
  });
  if (state.from != null && state.to != null) axis.setRange([state.from, state.to]);
  const eventPane = h('div', { class: 'event-pane', 'aria-live': 'polite' },
    h('p', { class: 'muted' }, 'Select an event (click, or j and k) to see its findings, what it changed and its redacted JSON.'));

  function applyFilter() {
    const q = state.q.trim().toLowerCase();
    const words = q ? q.split(/\s+/) : [];
    const ranged = state.from != null && state.to != null;
    visible = [];
    for (let i = 0; i < points.length; i++) {
      const p = points[i];
      if (state.findingsOnly && !p.finding) continue;
      if (ranged && (p.t < state.from || p.t > state.to)) continue;
      if (words.length && !words.every((w) => (w.startsWith('-') && w.length > 1 ? !p.text.includes(w.slice(1)) : p.text.includes(w)))) continue;
      visible.push(i);
    }
    list.setItems(visible);
    axis.setVisible(words.length || state.findingsOnly ? new Set(visible) : null);
    count.textContent = `${visible.length.toLocaleString('en')} of ${points.length.toLocaleString('en')} events`;
    rangeInfo.replaceChildren(...(ranged ? [
      h('span', null, 'Range ', fmtClock(isoOf(state.from)), ' – ', fmtClock(isoOf(state.to))),
      h('button', { type: 'button', class: 'small-button range-clear', onclick: () => { state.from = state.to = null; axis.setRange(null); syncURL(); applyFilter(); } }, 'Clear range'),
    ] : []));
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
      const detail = await eventDetail(id, () => state.event === id && ctx.isCurrent());
      if (detail) eventPane.replaceChildren(detail);
    } catch (e) {
      if (state.event === id) eventPane.replaceChildren(h('p', { class: 'error' }, e.message));
    }
  }

  // j and k (and the arrow keys in the list) move through the filtered
  // events; Enter opens the selected one on its own page.
  const step = (dir) => {
    const at = visible.indexOf(selected);
    const next = at < 0 ? 0 : Math.min(visible.length - 1, Math.max(0, at + dir));
    if (visible.length) select(visible[next], true);
  };
  setKeys({ next: () => step(1), prev: () => step(-1), open: () => { if (state.event) location.hash = eventHref(state.event); } });
  list.el.addEventListener('keydown', (ev) => {
    if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
    ev.preventDefault();
    step(ev.key === 'ArrowDown' ? 1 : -1);
  });
  filter.addEventListener('input', () => { state.q = filter.value; syncURL(); applyFilter(); });
  onlyF.addEventListener('change', () => { state.findingsOnly = onlyF.checked; syncURL(); applyFilter(); });

  root.append(h('div', { class: 'incident-grid' },
    h('div', { class: 'col-main' },
      section(`Findings (${d.findings.length})`, h('ol', { class: 'findings' }, findingRows)),
      h('section', { class: 'card events-card' },
        h('h2', null, 'Time axis: findings among all events of its actors'),
        axis.el, rangeInfo,
        h('div', { class: 'toolbar' }, filter, h('label', { class: 'check' }, onlyF, ' findings only'), count),
        h('div', { class: 'vhead', 'aria-hidden': 'true' }, ['Time (UTC)', 'Actor', 'Verb', 'Object', 'Code', 'Source'].map((t) => h('span', null, t)),
          h('span', null, h('span', { class: 'fhead-text' }, 'Finding'), h('span', { class: 'fhead-short' }, 'Rules'))),
        list.el),
      h('div', { class: 'side-cards' }, chainCard(inc, d), touchedCard(inc))),
    h('aside', { class: 'col-side', 'aria-label': 'selected event' },
      section('Event', eventPane))));

  applyFilter();
  axis.draw();
  if (state.event && indexOf.has(state.event)) select(indexOf.get(state.event), true);
  // Where the time to open an incident goes, for the browser test's report.
  window.__kaudit = Object.assign(window.__kaudit || {}, {
    incidentEvents: points.length, incidentFetchMs: buildStart - fetchStart, incidentBuildMs: performance.now() - buildStart,
  });
  return () => { list.dispose(); axis.dispose(); setKeys(null); };
}

function eventRow(p, isSelected, onClick) {
  const e = p.entry;
  const actor = actorOf(e);
  const obj = e.resource ? objectLabel(e) : e.request_uri;
  const marks = p.findings ? p.findings.map((f) => f.title).join('; ') : '';
  const cls = ['vrow', p.finding ? `has-finding sev-row-${p.finding.severity}` : '', e.denied ? 'denied' : '', isSelected ? 'selected' : ''].join(' ');
  const row = h('div', { class: cls, role: 'listitem', dataset: { auditId: e.audit_id } },
    h('span', { class: 'nowrap' }, fmtClock(e.time)),
    clip(actor, h('a', { href: actorHref(actor), class: 'actor' }, actor)),
    h('span', { class: 'verb' }, e.verb),
    clip(obj, e.resource ? h('a', { href: objectHref(e), class: 'object' }, obj) : obj),
    h('span', { class: 'num' }, String(e.code)),
    clip(sourcesText(e.source_ips), sourceIPs(e.source_ips)),
    // The finding's title; where the list is narrow, its severity and
    // how many rules fired (the title on hover, the whole in the pane).
    clip(marks, p.findings ? [h('span', { class: 'fmark-text' }, marks),
      h('span', { class: 'fmark-short' }, `${p.finding.severity.slice(0, 4).toUpperCase()}${p.findings.length > 1 ? ' ×' + p.findings.length : ''}`)] : '', { class: 'clip fmark' }));
  row.addEventListener('click', (ev) => { if (!ev.target.closest('a')) onClick(); });
  return row;
}
