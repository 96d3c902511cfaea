// The incident list: most severe first, then by start time.
import { h } from './dom.js';
import * as api from './api.js';
import { severityRank, timeMs, fmtTime, fmtDuration, actorHref, ipHref, incidentHref, tacticsByFirstSeen, href } from './format.js';
import { rowCursor } from './keys.js';

const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];

export function severityBadge(sev) {
  return h('span', { class: `sev sev-${sev || 'unknown'}` }, (sev || 'unknown').toUpperCase());
}

/** tacticChips shows an incident's tactics in the order they first
 * occurred (its techniques' first_seen): the order of the story. */
export function tacticChips(inc) {
  return h('ol', { class: 'chips', 'aria-label': 'tactics in the order they first occurred' },
    tacticsByFirstSeen(inc).map((t) => h('li', { class: 'chip' }, t)));
}

export function linkList(items, toHref, cls) {
  return h('span', { class: 'link-list' }, (items || []).map((x) => h('a', { href: toHref(x), class: cls }, x)));
}

export async function renderIncidents(root, params, ctx) {
  document.title = 'Incidents — kaudit';
  const filters = { actor: params.get('actor') || '', min_severity: SEVERITIES.includes(params.get('min_severity')) ? params.get('min_severity') : '' };
  const actor = h('input', { name: 'actor', value: filters.actor, placeholder: 'any actor', spellcheck: 'false', 'data-search': '' });
  const sev = h('select', { name: 'min_severity' }, h('option', { value: '' }, 'any'),
    SEVERITIES.map((s) => h('option', { value: s, selected: s === filters.min_severity }, s)));
  const form = h('form', { class: 'filters', role: 'search' },
    h('label', null, 'Actor', actor), h('label', null, 'Severity at least', sev),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    location.hash = href('incidents', { actor: actor.value.trim(), min_severity: sev.value });
  });
  root.append(h('h1', null, 'Incidents'), form);
  const data = await api.incidents(filters);
  if (!ctx.isCurrent()) return;
  const list = [...data.incidents].sort((a, b) =>
    severityRank(b.severity) - severityRank(a.severity) || timeMs(a.start) - timeMs(b.start) || (a.id < b.id ? -1 : 1));
  if (list.length === 0) {
    root.append(h('p', { class: 'muted' }, filters.actor || filters.min_severity
      ? 'No incident matches these filters.'
      : 'No incidents: no rule fired on these events. The timeline holds every event.'));
    return;
  }
  const sources = (inc) => h('span', { class: 'link-list' }, (inc.source_ips || []).map((ip) => h('a', { href: ipHref(ip), class: 'ip' }, ip)));
  const rows = list.map((inc) => h('tr', { class: 'incident-row', dataset: { id: inc.id } },
    h('td', null, severityBadge(inc.severity)),
    h('td', { class: 'when' },
      h('a', { href: incidentHref(inc.id), class: 'incident-link' }, inc.id),
      h('div', { class: 'muted small' }, fmtTime(inc.start)),
      h('div', { class: 'muted small' }, fmtDuration(timeMs(inc.end) - timeMs(inc.start)), ' · ', `${inc.finding_count} findings`)),
    h('td', null, linkList(inc.actors, actorHref, 'actor'),
      h('div', { class: 'sources-inline small' }, h('span', { class: 'muted' }, 'from '), sources(inc))),
    h('td', { class: 'col-sources' }, sources(inc)),
    h('td', null, tacticChips(inc)),
    h('td', { class: 'summary' }, inc.summary)));
  root.append(h('table', { class: 'grid incidents' },
    h('thead', null, h('tr', null,
      h('th', null, 'Severity'), h('th', null, 'Incident · start · span'), h('th', null, 'Actors'),
      h('th', { class: 'col-sources' }, 'Sources'), h('th', null, 'Tactics, in order'), h('th', null, 'What happened'))),
    h('tbody', null, rows)));
  rowCursor(rows);
}
