// One request: the redacted JSON of each stage, as the apiserver wrote it
// (secrets replaced by keyed hashes before kaudit kept anything).
import { h } from './dom.js';
import * as api from './api.js';
import { fmtTime, actorHref, ipHref, objectHref, objectLabel } from './format.js';

/** stageViews renders the stages of an event answer. */
export function stageViews(data) {
  return data.stages.map((s) => h('details', { class: 'stage', open: true },
    h('summary', null, h('strong', null, s.stage || 'stage'), ' ', h('span', { class: 'muted small' }, fmtTime(s.stageTimestamp))),
    h('pre', { class: 'json' }, JSON.stringify(s, null, 2))));
}

/** entryOfStage reads a timeline-like summary out of a raw stage. */
function entryOfStage(s) {
  const ref = s.objectRef || {};
  return {
    user: (s.user || {}).username, impersonated_user: (s.impersonatedUser || {}).username,
    source_ips: s.sourceIPs || [], verb: s.verb, resource: ref.resource, subresource: ref.subresource,
    namespace: ref.namespace, name: ref.name, code: (s.responseStatus || {}).code, request_uri: s.requestURI,
    time: s.requestReceivedTimestamp,
  };
}

export async function renderEvent(root, auditID, ctx) {
  document.title = `Event ${auditID} — kaudit`;
  const data = await api.event(auditID);
  if (!ctx.isCurrent()) return;
  const e = entryOfStage(data.stages[data.stages.length - 1] || {});
  const actor = e.impersonated_user || e.user;
  root.append(
    h('h1', null, 'Event ', h('code', null, data.audit_id)),
    h('p', { class: 'event-head' },
      fmtTime(e.time), ' · ',
      actor ? h('a', { href: actorHref(actor), class: 'actor' }, actor) : '?',
      e.impersonated_user ? [' (as impersonated by ', h('a', { href: actorHref(e.user), class: 'actor' }, e.user), ')'] : '',
      ' ', h('strong', null, e.verb || ''), ' ',
      e.resource ? h('a', { href: objectHref(e), class: 'object' }, objectLabel(e)) : (e.request_uri || ''),
      ' → ', String(e.code ?? ''), ' from ',
      e.source_ips.map((ip) => h('a', { href: ipHref(ip), class: 'ip' }, ip))),
    h('section', { class: 'card event-page' }, h('h2', null, `Redacted JSON, ${data.stages.length} stage${data.stages.length === 1 ? '' : 's'}`), stageViews(data)));
}
