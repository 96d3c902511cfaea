// Formatting and the links every view shares.

export const SEVERITY_RANK = { info: 1, low: 2, medium: 3, high: 4, critical: 5 };

// The kill-chain order of the Threat Matrix for Kubernetes' tactics, as the
// server reads it from rules/matrix.yaml (GET /api/v1/tactics); app.js sets
// it before the first view renders.
let tacticOrder = [];
export function setTactics(list) { tacticOrder = Array.isArray(list) ? list : []; }

export function tacticRank(t) {
  const i = tacticOrder.indexOf(t);
  return i < 0 ? tacticOrder.length : i;
}

export function severityRank(s) { return SEVERITY_RANK[s] || 0; }

/** fmtTime shows an RFC 3339 time as "2026-11-22 09:53:40.986" (UTC). */
export function fmtTime(iso) {
  if (!iso) return '';
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d{1,3})?/.exec(iso);
  return m ? `${m[1]} ${m[2]}${(m[3] || '.000').padEnd(4, '0')}` : iso;
}

/** fmtClock shows only the time of day, for rows within one incident. */
export function fmtClock(iso) {
  return fmtTime(iso).slice(11);
}

/** fmtDuration shows milliseconds as "4.4 s", "12 min", "3 h 5 min". */
export function fmtDuration(ms) {
  if (!(ms >= 0)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min`;
  const hrs = Math.floor(ms / 3_600_000);
  return `${hrs} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

/** timeMs parses an RFC 3339 time with microseconds to epoch milliseconds (fractional). */
export function timeMs(iso) {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(\.(\d+))?(.*)$/.exec(iso || '');
  if (!m) return NaN;
  const base = Date.parse(m[1] + (m[4] || 'Z'));
  const frac = m[3] ? Number('0.' + m[3]) * 1000 : 0;
  return base + frac;
}

const COLLECTION_VERBS = new Set(['list', 'watch', 'deletecollection']);

/** objectLabel names what a request acted on: "configmaps kube-system/coredns",
 * "pods team-a/*" (a collection in a namespace), "secrets (all namespaces)"
 * (a collection across the cluster), or the resource alone (a create of a
 * cluster-scoped review, say). e is a timeline entry (verb) or a touched
 * object (verbs). */
export function objectLabel(e) {
  const res = e.subresource ? `${e.resource}/${e.subresource}` : (e.resource || '');
  if (!res) return e.request_uri || '';
  if (e.name) return e.namespace ? `${res} ${e.namespace}/${e.name}` : `${res} ${e.name}`;
  const collection = COLLECTION_VERBS.has(e.verb) || (e.verbs || []).some((v) => COLLECTION_VERBS.has(v));
  if (e.namespace) return collection ? `${res} ${e.namespace}/*` : `${res} in ${e.namespace}`;
  return collection ? `${res} (all namespaces)` : res;
}

/** href builds a hash URL: href('timeline', {actor: 'mallory'}) -> "#/timeline?actor=mallory". */
export function href(path, params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return '#/' + path + (s ? '?' + s : '');
}

export const actorHref = (actor) => href('timeline', { actor });
export const ipHref = (ip) => href('timeline', { source_ip: ip });
export const objectHref = (e) => href('timeline', { resource: e.resource, namespace: e.namespace, name: e.name });
export const eventHref = (auditID) => '#/events/' + encodeURIComponent(auditID);
export const incidentHref = (id) => '#/incidents/' + encodeURIComponent(id);

/** actorOf is who a request or finding is filed under, as the server says (its actor field). */
export function actorOf(e) { return e.actor || ''; }

/** tacticsByFirstSeen orders an incident's tactics by when each first
 * occurred (its techniques' first_seen), the order of the story; tactics
 * no technique dates follow in the incident's order. */
export function tacticsByFirstSeen(inc) {
  const first = new Map();
  for (const t of inc.techniques || []) {
    const at = timeMs(t.first_seen);
    if (!first.has(t.tactic) || at < first.get(t.tactic)) first.set(t.tactic, at);
  }
  const dated = [...first.keys()].sort((a, b) => first.get(a) - first.get(b));
  return [...dated, ...(inc.tactics || []).filter((t) => !first.has(t))];
}

/** sourceRoles says how each address of a request's sourceIPs was learnt:
 * the last is the peer that connected to the apiserver, the ones before it
 * came from the X-Forwarded-For (or X-Real-Ip) header. */
export function sourceRoles(ips) {
  const list = ips || [];
  return list.map((ip, i) => ({ ip, role: i === list.length - 1 ? 'peer' : 'xff' }));
}
