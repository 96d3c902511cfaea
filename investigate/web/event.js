// One request: what it did and from where, why the cluster allowed it (the
// RBAC reason), the findings on it with their incidents, what an update or
// a patch changed (before → after), and the redacted JSON of each stage
// with the fields the rules looked at highlighted. The same detail shows in
// the incident's event pane and on the event's own page (#/events/ID).
import { h } from './dom.js';
import * as api from './api.js';
import { fmtTime, fmtClock, actorHref, objectHref, objectLabel, incidentHref, eventHref } from './format.js';
import { severityBadge } from './incidents.js';
import { sourceIPs, copyButton } from './widgets.js';
import { jsonView } from './jsonview.js';

/** entryOfStage reads a timeline-like summary out of a raw stage. */
function entryOfStage(s) {
  const ref = s.objectRef || {};
  return {
    user: (s.user || {}).username, impersonated_user: (s.impersonatedUser || {}).username,
    source_ips: s.sourceIPs || [], verb: s.verb, resource: ref.resource, subresource: ref.subresource,
    namespace: ref.namespace, name: ref.name, code: (s.responseStatus || {}).code, request_uri: s.requestURI,
    time: s.requestReceivedTimestamp, user_agent: s.userAgent,
  };
}

const pathText = (p) => p.map((k, i) => (/^\d+$/.test(k) ? `[${k}]` : (i ? '.' : '') + k)).join('');

/** rbacBlock says plainly why the cluster allowed or refused the request. */
function rbacBlock(data) {
  const decision = data.decision || '';
  const reason = data.reason || '';
  if (!decision && !reason) return null;
  const label = decision === 'allow' ? 'Allowed' : decision === 'forbid' ? 'Refused' : (decision || 'Decision');
  return h('div', { class: 'rbac' + (decision === 'forbid' ? ' forbid' : ''), 'data-rbac': '' },
    h('strong', null, label), ': ', reason || h('span', { class: 'muted' }, 'the authorizer gave no reason'));
}

function findingsBlock(data) {
  const fs = data.findings || [];
  if (!fs.length) return h('p', { class: 'muted small ev-nofindings' }, 'No rule fired on this request.');
  return h('div', null,
    h('h3', null, `Findings on this request (${fs.length})`),
    h('ol', { class: 'ev-findings' }, fs.map(({ finding: f, incidents }) => h('li', { class: 'ev-finding', dataset: { rule: f.rule } },
      severityBadge(f.severity),
      h('strong', null, f.title),
      h('span', { class: 'tech-id' }, f.technique_id), h('span', { class: 'muted small' }, f.technique),
      h('span', { class: 'small' }, f.message),
      (incidents || []).length
        ? incidents.map((id) => h('a', { href: incidentHref(id) + '?event=' + encodeURIComponent(f.audit_id), class: 'incident-link' }, 'incident ', id))
        : h('span', { class: 'muted small' }, 'in no incident')))),
    h('p', { class: 'small muted' }, h('span', { class: 'hl-legend' }, 'highlighted'), ' below: the fields these rules looked at.'));
}

/** diffBlock shows what an update or a patch changed. */
function diffBlock(d) {
  const changes = d.changes || [];
  const real = changes.filter((c) => !c.noise);
  const noise = changes.filter((c) => c.noise);
  const head = h('div', { class: 'diff-head' },
    h('strong', null, 'Before → after'), ' ',
    d.before
      ? ['before: as the ', d.before.verb, ' by ', d.before.actor, ' at ', fmtClock(d.before.time), ' showed it (',
        h('a', { href: eventHref(d.before.audit_id) }, 'event'), ')']
      : '',
    d.note ? h('div', { class: 'muted' }, d.note) : null);
  const change = (c) => h('div', { class: 'diff-change', dataset: { path: pathText(c.path), op: c.op } },
    h('span', { class: 'diff-path' }, pathText(c.path)), ' ', h('span', { class: 'muted small' }, c.op),
    c.lines
      ? c.lines.map((l) => h('span', { class: 'diff-line ' + (l.op === '+' ? 'add' : l.op === '-' ? 'del' : 'same') }, `${l.op} ${l.text}`))
      : [c.before !== undefined ? h('span', { class: 'diff-before' }, '− ', JSON.stringify(c.before, null, 1)) : null,
        c.after !== undefined ? h('span', { class: 'diff-after' }, '+ ', JSON.stringify(c.after, null, 1)) : null]);
  return h('section', { class: 'diff', 'aria-label': 'what the request changed' },
    head,
    real.length ? real.map(change) : (d.before && d.after ? h('div', { class: 'diff-change muted' }, 'No change but bookkeeping.') : null),
    noise.length ? h('details', { class: 'noise' }, h('summary', null, `${noise.length} bookkeeping changes (resourceVersion, managedFields, status…)`), noise.map(change)) : null,
    d.patch ? h('details', { class: 'patch', open: !d.after }, h('summary', null, 'The patch as sent'), h('pre', { class: 'json' }, JSON.stringify(d.patch, null, 2))) : null);
}

/** stagesBlock renders every stage's JSON; the most telling (the last)
 * open, with the findings' fields highlighted. */
function stagesBlock(data) {
  const fields = (data.findings || []).flatMap((f) => f.fields || []);
  const n = data.stages.length;
  return h('div', { class: 'stages' },
    h('h3', null, `Redacted JSON, ${n} stage${n === 1 ? '' : 's'}`),
    data.stages.map((s, i) => h('details', { class: 'stage', open: i === n - 1 },
      h('summary', null, h('strong', null, s.stage || 'stage'), ' ', h('span', { class: 'muted small' }, fmtTime(s.stageTimestamp))),
      jsonView(s, i === n - 1 ? fields : []))));
}

/** eventDetail fetches and renders one request; isCurrent says whether
 * the caller still wants it when the answers arrive. */
export async function eventDetail(auditID, isCurrent = () => true) {
  const data = await api.event(auditID);
  if (!isCurrent()) return null;
  const last = data.stages[data.stages.length - 1] || {};
  const e = entryOfStage(last);
  let diff = null;
  if (e.verb === 'update' || e.verb === 'patch') {
    try { diff = await api.eventDiff(auditID); } catch (err) { diff = { note: 'the diff could not be read: ' + err.message, changes: [] }; }
    if (!isCurrent()) return null;
  }
  const actor = e.impersonated_user || e.user;
  const objText = e.resource ? objectLabel(e) : (e.request_uri || '');
  return h('div', { class: 'event-detail', dataset: { auditId: auditID } },
    h('div', { class: 'ev-head' },
      h('code', { class: 'ev-id' }, data.audit_id), ' ',
      h('span', null, fmtTime(e.time)), ' ',
      actor ? h('a', { href: actorHref(actor), class: 'actor' }, actor) : '?',
      e.impersonated_user ? h('span', { class: 'muted' }, ' (impersonated by ', h('a', { href: actorHref(e.user), class: 'actor' }, e.user), ')') : '',
      h('strong', null, e.verb || ''),
      e.resource ? h('a', { href: objectHref(e), class: 'object' }, objText) : h('span', { class: 'wrap' }, objText),
      h('span', null, '→ ', String(e.code ?? '')),
      h('span', null, 'from ', sourceIPs(e.source_ips)),
      e.user_agent ? h('div', { class: 'ua-full' }, e.user_agent) : null),
    h('div', { class: 'copy-row' },
      copyButton('audit ID', () => data.audit_id),
      copyButton('JSON', () => JSON.stringify(data.stages.length === 1 ? data.stages[0] : data.stages, null, 2)),
      e.resource ? copyButton('object', () => objText) : null,
      h('a', { href: eventHref(data.audit_id), class: 'small-button' }, 'Open alone')),
    rbacBlock(data),
    findingsBlock(data),
    diff ? diffBlock(diff) : null,
    stagesBlock(data));
}

export async function renderEvent(root, auditID, ctx) {
  document.title = `Event ${auditID} — kaudit`;
  const detail = await eventDetail(auditID, ctx.isCurrent);
  if (!detail) return;
  root.append(h('h1', null, 'Event ', h('code', null, auditID)), h('section', { class: 'card event-page' }, detail));
}
