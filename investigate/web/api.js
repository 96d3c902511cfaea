// The query API, as the page uses it. A 401 means the session ended
// (expired, logged out elsewhere, kaudit restarted): reloading shows the
// login page at the same URL.

export class APIError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export async function get(path, params) {
  const qs = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== '' && v != null)).toString() : '';
  const res = await fetch('/api/v1/' + path + (qs ? '?' + qs : ''), {
    credentials: 'same-origin', headers: { 'Accept': 'application/json' },
  });
  if (res.status === 401) {
    location.reload();
    throw new APIError(401, 'session ended; log in again');
  }
  let body;
  try { body = await res.json(); } catch { body = null; }
  if (!res.ok) throw new APIError(res.status, (body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}

export const timeline = (filters) => get('timeline', filters);
export const incidents = (filters) => get('incidents', filters);
export const incident = (id) => get('incidents/' + encodeURIComponent(id));
export const event = (auditID) => get('events/' + encodeURIComponent(auditID));
export const tactics = () => get('tactics');
export const eventDiff = (auditID) => get('events/' + encodeURIComponent(auditID) + '/diff');

/** reportHref is where an incident's report downloads from. */
export const reportHref = (id, format) => '/api/v1/incidents/' + encodeURIComponent(id) + '/report?format=' + encodeURIComponent(format);
