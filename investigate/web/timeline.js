// Timeline search: the filters of `kaudit timeline`, paged, every actor,
// source and object a link to its own timeline.
import { h } from './dom.js';
import * as api from './api.js';
import { fmtTime, href, actorHref, ipHref, objectHref, eventHref, objectLabel } from './format.js';

const FILTERS = [
  ['actor', 'Actor', 'user or impersonated user'],
  ['source_ip', 'Source IP', '10.0.0.7'],
  ['namespace', 'Namespace', 'kube-system'],
  ['resource', 'Resource', 'secrets'],
  ['name', 'Name', 'coredns'],
  ['verb', 'Verb', 'patch'],
  ['since', 'Since', 'RFC 3339 or 2h'],
  ['until', 'Until', 'RFC 3339 or 30m'],
];
const PAGE_SIZES = ['50', '100', '500', '1000'];

export async function renderTimeline(root, params, ctx) {
  const filters = {};
  for (const [k] of FILTERS) filters[k] = params.get(k) || '';
  const limit = PAGE_SIZES.includes(params.get('limit')) ? params.get('limit') : '100';
  const offset = Math.max(0, parseInt(params.get('offset') || '0', 10) || 0);
  const label = Object.entries(filters).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`).join(' ');
  document.title = `Timeline ${label} — kaudit`;

  const inputs = {};
  const form = h('form', { class: 'filters', role: 'search' },
    FILTERS.map(([k, text, ph]) => h('label', null, text,
      inputs[k] = h('input', { name: k, value: filters[k], placeholder: ph, spellcheck: 'false' }))),
    h('label', null, 'Per page', inputs.limit = h('select', { name: 'limit' },
      PAGE_SIZES.map((n) => h('option', { value: n, selected: n === limit }, n)))),
    h('button', { type: 'submit' }, 'Search'),
    h('a', { href: '#/timeline', class: 'button-link' }, 'Clear'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const next = { limit: inputs.limit.value === '100' ? '' : inputs.limit.value };
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
  const pager = h('nav', { class: 'pager' },
    offset > 0 ? h('a', { href: pageHref(Math.max(0, offset - Number(limit))), rel: 'prev' }, '← Earlier') : h('span', { class: 'muted' }, '← Earlier'),
    h('span', null, entries.length ? `Requests ${(offset + 1).toLocaleString('en')}–${(offset + entries.length).toLocaleString('en')}` : 'No requests match'),
    page.more ? h('a', { href: pageHref(page.next_offset), rel: 'next' }, 'Later →') : h('span', { class: 'muted' }, 'Later →'));
  status.replaceWith(pager);
  if (!entries.length) return;
  const rows = entries.map((e) => {
    const actor = e.impersonated_user || e.user;
    return h('tr', { class: e.denied ? 'denied' : '' },
      h('td', { class: 'nowrap' }, h('a', { href: eventHref(e.audit_id), title: 'redacted JSON of this request' }, fmtTime(e.time))),
      h('td', null, h('a', { href: actorHref(actor), class: 'actor' }, actor),
        e.impersonated_user ? h('div', { class: 'muted small' }, 'via ', h('a', { href: actorHref(e.user), class: 'actor' }, e.user)) : ''),
      h('td', null, e.verb),
      h('td', null, e.resource ? h('a', { href: objectHref(e), class: 'object' }, objectLabel(e)) : h('span', { class: 'muted' }, e.request_uri)),
      h('td', { class: 'num' }, String(e.code)),
      h('td', null, (e.source_ips || []).map((ip) => h('a', { href: ipHref(ip), class: 'ip' }, ip))),
      h('td', { class: 'ua', title: e.user_agent }, e.user_agent));
  });
  root.append(h('table', { class: 'grid timeline' },
    h('thead', null, h('tr', null, ['Time (UTC)', 'Actor', 'Verb', 'Object', 'Code', 'Source', 'Client'].map((t) => h('th', null, t)))),
    h('tbody', null, rows)), pager.cloneNode(true));
}
