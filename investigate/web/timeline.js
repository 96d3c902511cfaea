// Timeline search: the filters of `kaudit timeline`, paged, every actor,
// source and object a link to its own timeline, each request marked with
// the rules that fired on it. The search box takes words, each
// [-][field:]pattern (field: actor, object, client, uri), a pattern with *
// or ? a glob, else a substring; - leaves out what it matches.
import { h } from './dom.js';
import * as api from './api.js';
import { fmtTime, href, actorHref, objectHref, eventHref, objectLabel } from './format.js';
import { severityBadge } from './incidents.js';
import { sourceIPs } from './widgets.js';
import { rowCursor } from './keys.js';

const FILTERS = [
  ['actor', 'Actor', 'name, glob or -name'],
  ['source_ip', 'Source IP', '10.0.0.7'],
  ['namespace', 'Namespace', 'kube-system'],
  ['resource', 'Resource', 'secrets'],
  ['name', 'Name', 'coredns'],
  ['verb', 'Verb', 'patch'],
  ['since', 'Since', 'RFC 3339 or 2h'],
  ['until', 'Until', 'RFC 3339 or 30m'],
];
const PAGE_SIZES = ['50', '100', '500', '1000'];

/** hintText says why nothing matched, as the server found: a longer actor
 * name, requests at another time, the times the store covers. */
function hintText(hint) {
  if (!hint) return null;
  const parts = [];
  if ((hint.actors || []).length) {
    parts.push(h('span', null, 'Did you mean ', hint.actors.map((a, i) => [i ? ' or ' : '', h('a', { href: actorHref(a), class: 'actor' }, a)]), '?'));
  }
  if (hint.outside_window) parts.push(h('span', null, 'These filters match requests outside the time window.'));
  const first = hint.first && !hint.first.startsWith('0001') ? hint.first : '';
  parts.push(h('span', null, first ? `The store covers ${fmtTime(first)} – ${fmtTime(hint.last)} UTC.` : 'The store holds no requests.'));
  return h('p', { class: 'hint', role: 'status' }, parts.map((p, i) => [i ? ' ' : '', p]));
}

export async function renderTimeline(root, params, ctx) {
  const filters = {};
  for (const [k] of FILTERS) filters[k] = params.get(k) || '';
  filters.q = params.get('q') || '';
  const limit = PAGE_SIZES.includes(params.get('limit')) ? params.get('limit') : '100';
  const offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);
  const label = Object.entries(filters).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(' ');
  document.title = `Timeline ${label} — kaudit`;

  const inputs = {};
  const form = h('form', { class: 'filters', role: 'search' },
    h('label', { class: 'search' }, 'Search: words over actor, object, client and URI; actor:, object:, client:, uri: for one; * and ? globs; - leaves out (-system:*)',
      inputs.q = h('input', { name: 'q', value: filters.q, placeholder: '-system:* object:secrets* client:curl uri:/exec', spellcheck: 'false', 'data-search': '' })),
    FILTERS.map(([k, text, ph]) => h('label', null, text,
      inputs[k] = h('input', { name: k, value: filters[k], placeholder: ph, spellcheck: 'false' }))),
    h('label', null, 'Per page', inputs.limit = h('select', { name: 'limit' },
      PAGE_SIZES.map((n) => h('option', { value: n, selected: n === limit }, n)))),
    h('button', { type: 'submit' }, 'Search'),
    h('a', { href: '#/timeline', class: 'button-link' }, 'Clear'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const next = { limit: inputs.limit.value === '100' ? '' : inputs.limit.value, q: inputs.q.value.trim() };
    for (const [k] of FILTERS) next[k] = inputs[k].value.trim();
    location.hash = href('timeline', next);
  });
  root.append(h('h1', null, 'Timeline', label ? h('span', { class: 'muted h1-sub' }, ' ' + label) : ''), form);

  const status = h('p', { class: 'muted' }, 'Searching…');
  root.append(status);
  const page = await api.timeline({ ...filters, limit, offset });
  if (!ctx.isCurrent()) return;
  const entries = page.entries;
  const pageHref = (off) => href('timeline', { ...filters, limit: limit === '100' ? '' : limit, offset: off || '' });
  const pager = h('nav', { class: 'pager', 'aria-label': 'pages' },
    offset > 0 ? h('a', { href: pageHref(Math.max(0, offset - Number(limit))), rel: 'prev' }, '← Earlier') : h('span', { class: 'muted' }, '← Earlier'),
    h('span', null, entries.length ? `Requests ${(offset + 1).toLocaleString('en')}–${(offset + entries.length).toLocaleString('en')}` : 'No requests match'),
    page.more ? h('a', { href: pageHref(page.next_offset), rel: 'next' }, 'Later →') : h('span', { class: 'muted' }, 'Later →'));
  status.replaceWith(pager);
  if (!entries.length) {
    const hint = hintText(page.hint);
    if (hint) pager.after(hint);
    return;
  }
  const rows = entries.map((e) => {
    const actor = e.impersonated_user || e.user;
    const fs = e.findings || [];
    return h('tr', { class: (e.denied ? 'denied' : '') + (fs.length ? ' has-finding' : ''), dataset: { auditId: e.audit_id } },
      h('td', { class: 'when' }, h('a', { href: eventHref(e.audit_id), title: 'this request: findings, RBAC reason, diff, redacted JSON' }, fmtTime(e.time))),
      h('td', null, h('a', { href: actorHref(actor), class: 'actor' }, actor),
        e.impersonated_user ? h('div', { class: 'muted small' }, 'via ', h('a', { href: actorHref(e.user), class: 'actor' }, e.user)) : ''),
      h('td', { class: 'verb' }, e.verb),
      h('td', null, e.resource ? h('a', { href: objectHref(e), class: 'object' }, objectLabel(e)) : h('span', { class: 'muted' }, e.request_uri)),
      h('td', { class: 'num' }, String(e.code)),
      h('td', null, sourceIPs(e.source_ips)),
      h('td', { class: 'fcol' }, fs.length ? h('span', { class: 'fmark-list' }, fs.map((f) => h('span', { class: 'fmark-item', title: f.title },
        severityBadge(f.severity), ' ', f.rule))) : ''),
      h('td', { class: 'ua' }, e.user_agent));
  });
  root.append(h('table', { class: 'grid timeline' },
    h('thead', null, h('tr', null, ['Time (UTC)', 'Actor', 'Verb', 'Object', 'Code', 'Source', 'Findings', 'Client'].map((t) => h('th', null, t)))),
    h('tbody', null, rows)), pager.cloneNode(true));
  rowCursor(rows);
}
