// End-to-end test of kaudit's analyst view in headless Chromium (Debian's
// package, driven by playwright-core; no browser is downloaded). The Go test
// investigate/e2e_test.go starts real `kaudit ui` processes and runs:
//
//   node ui.test.mjs '{"url":…,"token":…,"shots":DIR,"big":{"url":…,"token":…,"incident":…}}'
//
// Every check throws on failure; the last line of stdout is a JSON object of
// measurements (render time and interaction latency on the large incident),
// reported by the Go test, not asserted.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';

const cfg = JSON.parse(process.argv[2]);
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const log = (...a) => console.error('[e2e]', ...a);

const browser = await chromium.launch({
  executablePath: chromiumPath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
const metrics = {};
try {
  await basicIntrusion(cfg);
  if (cfg.big) await largeIncident(cfg.big, cfg.shots);
} finally {
  await browser.close();
}
console.log(JSON.stringify(metrics));

async function newPage(base) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  const urls = [];
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) urls.push(f.url()); });
  page.on('request', (r) => urls.push(r.url()));
  page.on('pageerror', (e) => { throw new Error('page error: ' + e.message); });
  page.on('console', (m) => { if (m.type() === 'error') log('console error:', m.text()); });
  return { context, page, urls };
}

async function login(page, token) {
  await page.locator('#token').fill(token);
  await page.locator('form#login button[type=submit]').click();
}

/** ready waits until the router finished rendering the current view. */
async function ready(page) {
  await page.waitForFunction(() => document.getElementById('view')?.dataset.ready > '', null, { timeout: 20000 });
}

async function basicIntrusion({ url, token, shots }) {
  const { context, page, urls } = await newPage(url);

  // 1. Without a session: the login page at a bookmarked URL, never data.
  const res = await page.goto(url + '#/timeline?actor=mallory');
  assert.equal(res.status(), 401, 'unauthenticated page request status');
  await page.locator('#token').waitFor();
  const loginText = await page.locator('body').innerText();
  assert.ok(!loginText.includes('mallory') && !loginText.includes('inc-'), 'login page shows no data');
  const api = await page.evaluate(async () => {
    const r = await fetch('/api/v1/incidents');
    return { status: r.status, body: await r.text() };
  });
  assert.equal(api.status, 401, 'API without a session');
  assert.ok(!api.body.includes('mallory'), 'API 401 body holds no data');
  log('unauthenticated: login page and 401 JSON, no data');

  // 2. A wrong token is refused on the page; the right one opens the
  // bookmarked view (the hash survives the login).
  await login(page, 'not-a-token');
  await page.locator('#login-error:not([hidden])').waitFor();
  await login(page, token);
  await page.locator('table.timeline').waitFor();
  assert.ok(page.url().includes('#/timeline?actor=mallory'), 'bookmarked view after login: ' + page.url());
  const cookies = await context.cookies();
  const session = cookies.find((c) => c.name.endsWith('kaudit_session'));
  assert.ok(session, 'session cookie set');
  assert.equal(session.httpOnly, true, 'cookie HttpOnly');
  assert.equal(session.sameSite, 'Strict', 'cookie SameSite=Strict');
  assert.ok(!session.value.includes(token), 'cookie is not the token');
  assert.equal(await page.evaluate(() => document.cookie), '', 'page script cannot read the session cookie');
  log('logged in; cookie HttpOnly, SameSite=Strict');

  // 3. The incident list: most severe first, mallory's incident first (the
  // sample's worst), its tactics as chips in kill-chain order.
  await page.goto(url + '#/incidents');
  await ready(page);
  const rows = page.locator('tr.incident-row');
  assert.ok(await rows.count() >= 2, 'incidents listed');
  const rank = { INFO: 1, LOW: 2, MEDIUM: 3, HIGH: 4, CRITICAL: 5 };
  const sevs = (await page.locator('tr.incident-row td:first-child .sev').allInnerTexts()).map((s) => rank[s.trim()]);
  assert.deepEqual(sevs, [...sevs].sort((a, b) => b - a), 'sorted by severity: ' + sevs);
  const first = rows.first();
  assert.ok((await first.innerText()).includes('mallory'), 'mallory\'s incident listed first');
  const chips = await first.locator('.chip').allInnerTexts();
  const killChain = ['Initial Access', 'Execution', 'Persistence', 'Privilege Escalation', 'Defense Evasion',
    'Credential Access', 'Discovery', 'Lateral Movement', 'Collection', 'Impact'];
  const chipRanks = chips.map((c) => killChain.indexOf(c));
  assert.deepEqual(chipRanks, [...chipRanks].sort((a, b) => a - b), 'tactic chips in kill-chain order: ' + chips);
  for (const t of ['Persistence', 'Privilege Escalation', 'Lateral Movement']) assert.ok(chips.includes(t), `tactic ${t} shown`);

  // Filtered by actor, from the form, into a bookmarkable URL.
  await page.locator('form.filters input[name=actor]').fill('system:anonymous');
  await page.locator('form.filters button[type=submit]').click();
  await page.waitForURL(/actor=system%3Aanonymous/);
  await ready(page);
  const anon = await page.locator('tr.incident-row').allInnerTexts();
  assert.ok(anon.length >= 1 && anon.every((r) => r.includes('system:anonymous') && !r.includes('mallory')), 'actor filter: ' + anon);
  await page.goto(url + '#/incidents');
  await ready(page);

  // 4. Open it: the binding, the webhook and the CoreDNS patch, in order.
  const incidentID = (await first.locator('a.incident-link').innerText()).trim();
  await first.locator('a.incident-link').click();
  await ready(page);
  await page.locator('ol.findings li').first().waitFor();
  assert.ok(page.url().endsWith('#/incidents/' + incidentID), 'incident URL: ' + page.url());
  const ruleOrder = await page.locator('ol.findings li').evaluateAll((lis) => lis.map((li) => li.dataset.rule));
  const pos = (r) => ruleOrder.indexOf(r);
  for (const r of ['cluster-admin-binding', 'admission-webhook-change', 'coredns-configmap-change']) assert.ok(pos(r) >= 0, `finding ${r} shown`);
  assert.ok(pos('cluster-admin-binding') < pos('admission-webhook-change') && pos('admission-webhook-change') < pos('coredns-configmap-change'),
    'binding, then webhook, then CoreDNS: ' + ruleOrder.join(', '));
  const findingsText = await page.locator('ol.findings').innerText();
  assert.match(findingsText, /pod-policy-injector/);
  assert.match(findingsText, /coredns/);
  // The same order on the event list, findings only.
  await page.locator('.toolbar input[type=checkbox]').check();
  const marks = await page.locator('.vlist .vrow.has-finding .fmark').allInnerTexts();
  const idx = (re) => marks.findIndex((m) => re.test(m));
  assert.ok(idx(/cluster-admin/i) < idx(/webhook|admission/i) && idx(/webhook|admission/i) < idx(/coredns/i), 'event list order: ' + marks.join(' | '));
  assert.ok(page.url().includes('findings=1'), 'filter kept in the URL');
  await page.locator('.toolbar input[type=checkbox]').uncheck();
  // Why the identities were joined: admin bound cluster-admin to mallory.
  const chain = await page.locator('ol.chain li.link-binding').first().innerText();
  assert.match(chain, /admin/);
  assert.match(chain, /cluster-admin/);
  assert.match(chain, /mallory/);
  // The redacted JSON of the webhook's creation.
  await page.locator('ol.findings li[data-rule=admission-webhook-change] button.ftitle').click();
  await page.locator('.event-pane pre.json').first().waitFor();
  const json = await page.locator('.event-pane pre.json').last().innerText();
  assert.match(json, /"MutatingWebhookConfiguration"|mutatingwebhookconfigurations/);
  assert.ok(page.url().includes('event='), 'selected event kept in the URL');
  log('incident view: binding < webhook < CoreDNS patch; link and JSON shown');

  const shot = path.join(shots, 'incident-1440x900.png');
  await page.screenshot({ path: shot });
  log('screenshot', shot);

  // 5. Bookmarkable: the same URL in a fresh tab shows the same selection.
  const again = await context.newPage();
  await again.goto(page.url());
  await again.locator('.event-pane pre.json').first().waitFor();
  await again.close();

  // 6. Follow mallory to her own timeline.
  await page.locator('ol.chain a.actor', { hasText: /^mallory$/ }).first().click();
  await ready(page);
  assert.ok(page.url().includes('#/timeline?actor=mallory'), 'actor link: ' + page.url());
  const actors = await page.locator('table.timeline tbody td:nth-child(2) a.actor').allInnerTexts();
  assert.ok(actors.length > 0 && actors.every((a) => a === 'mallory'), 'only mallory on her timeline: ' + [...new Set(actors)].join(','));
  const tl = await page.locator('table.timeline').innerText();
  assert.match(tl, /configmaps kube-system\/coredns/);
  // And from an object to its history.
  await page.locator('table.timeline a.object', { hasText: 'configmaps kube-system/coredns' }).first().click();
  await ready(page);
  assert.ok(page.url().includes('resource=configmaps') && page.url().includes('name=coredns'), 'object link: ' + page.url());
  log('followed mallory to her timeline and coredns to its history');

  // 7. No token ever travelled in a URL.
  for (const u of urls) assert.ok(!u.includes(token), 'token in a URL: ' + u);

  // 8. Logging out ends the session.
  await page.locator('form.logout button').click();
  await page.locator('#token').waitFor();
  const after = await page.evaluate(async () => (await fetch('/api/v1/incidents')).status);
  assert.equal(after, 401, 'API after logout');
  await context.close();
}

async function largeIncident({ url, token, incident }, shots) {
  const { context, page } = await newPage(url);
  await page.goto(url + '#/incidents');
  await login(page, token);
  await ready(page);
  const t0 = Date.now();
  await page.goto(url + '#/incidents/' + incident);
  await ready(page);
  await page.locator('.vlist .vrow').first().waitFor();
  metrics.large_open_ms = Date.now() - t0;
  const info = await page.evaluate(() => ({
    events: window.__kaudit.incidentEvents,
    app_render_ms: window.__kaudit.lastRenderMs,
    fetch_ms: window.__kaudit.incidentFetchMs,
    build_ms: window.__kaudit.incidentBuildMs,
    dom_rows: document.querySelectorAll('.vlist .vrow').length,
  }));
  Object.assign(metrics, { large_events: info.events, large_app_render_ms: Math.round(info.app_render_ms),
    large_fetch_parse_ms: Math.round(info.fetch_ms), large_build_ms: Math.round(info.build_ms), large_dom_rows: info.dom_rows });
  assert.ok(info.events >= 10000, 'large incident holds 10,000 events, got ' + info.events);
  assert.ok(info.dom_rows < 200, 'virtual list keeps the DOM small, rows: ' + info.dom_rows);

  await page.screenshot({ path: path.join(shots, 'incident-10k-1440x900.png') });

  // Scroll latency: jump to 20 places and wait for the rows to be drawn.
  // The baseline is the same two frames with nothing to draw: what the
  // machine's load costs every measurement.
  const scroll = await page.evaluate(async () => {
    const el = document.querySelector('.vlist');
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const base = [];
    for (let k = 0; k < 10; k++) {
      const t = performance.now();
      await frame();
      base.push(performance.now() - t);
    }
    window.__frameBaseline = base.sort((a, b) => a - b)[5];
    const out = [];
    for (let k = 1; k <= 20; k++) {
      const t = performance.now();
      el.scrollTop = (el.scrollHeight * k) / 21;
      await frame();
      out.push(performance.now() - t);
    }
    const first = el.querySelector('.vrow');
    return { times: out, drawn: !!first };
  });
  assert.ok(scroll.drawn, 'rows drawn after scrolling');
  const sorted = scroll.times.slice().sort((a, b) => a - b);
  metrics.large_scroll_ms_median = +sorted[10].toFixed(1);
  metrics.large_scroll_ms_max = +sorted[sorted.length - 1].toFixed(1);
  metrics.two_frames_idle_ms_median = +(await page.evaluate(() => window.__frameBaseline)).toFixed(1);

  // Filter latency: typing narrows 10,000 events and redraws.
  const filter = await page.evaluate(async () => {
    const input = document.querySelector('.toolbar .filter');
    const count = document.querySelector('.toolbar .count');
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    const out = {};
    for (const q of ['coredns', 'patch', '']) {
      const t = performance.now();
      input.value = q;
      input.dispatchEvent(new Event('input'));
      await frame();
      out[q || 'cleared'] = { ms: performance.now() - t, count: count.textContent };
    }
    return out;
  });
  metrics.large_filter_ms = Object.fromEntries(Object.entries(filter).map(([k, v]) => [k, +v.ms.toFixed(1)]));
  metrics.large_filter_counts = Object.fromEntries(Object.entries(filter).map(([k, v]) => [k, v.count]));
  assert.match(filter.coredns.count, /^[\d,]+ of [\d,]+ events$/);

  // A hostile object name from the log is shown as text and never runs.
  const input = page.locator('.toolbar .filter');
  await input.fill('onerror');
  const row = page.locator('.vlist .vrow', { hasText: 'onerror' }).first();
  await row.waitFor();
  assert.match(await row.innerText(), /<img src=x onerror="window.__xss=1">/);
  await row.locator('span').nth(2).click();
  await page.locator('.event-pane pre.json').first().waitFor();
  const xss = await page.evaluate(() => ({ ran: window.__xss === 1, imgs: document.querySelectorAll('img, script:not([src])').length }));
  assert.deepEqual(xss, { ran: false, imgs: 0 }, 'markup from the log must not run');
  await input.fill('');

  // Selecting an event (a click on its verb, not on a link) shows its JSON.
  const t1 = Date.now();
  await page.locator('.vlist .vrow').nth(5).locator('span').nth(2).click();
  await page.locator('.event-pane pre.json').first().waitFor();
  metrics.large_select_json_ms = Date.now() - t1;
  await context.close();
}
