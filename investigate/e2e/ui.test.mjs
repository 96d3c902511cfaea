// End-to-end test of kaudit's analyst view in headless Chromium (Debian's
// package, driven by playwright-core; no browser is downloaded). The Go test
// investigate/e2e_test.go starts real `kaudit ui` processes and runs:
//
//   node ui.test.mjs '{"url":…,"token":…,"shots":DIR,"big":{"url":…,"token":…,"incident":…}}'
//
// Every check throws on failure; the last line of stdout is a JSON object of
// measurements (render time and interaction latency on the large incident),
// reported by the Go test, not asserted. Screenshots go to cfg.shots; the
// Go test lists them.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs/promises';

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
  for (const vp of [{ width: 1024, height: 768 }, { width: 1440, height: 900 }]) await layout(cfg, vp);
  await eventDetailAndDiff(cfg);
  await exportReport(cfg);
  await keyboard(cfg);
  await timelineSearch(cfg);
  await darkMode(cfg);
  if (cfg.big) await largeIncident(cfg.big, cfg.shots);
} finally {
  await browser.close();
}
console.log(JSON.stringify(metrics));

async function newPage(base, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true, ...opts });
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

/** rerender runs an action that opens another view (a click, a key, a
 * hash navigation) and waits for that view: the shown view's ready flag is
 * cleared first, or it would be read as the new one's. */
async function rerender(page, action) {
  await page.evaluate(() => { const v = document.getElementById('view'); if (v) v.dataset.ready = ''; });
  await action();
  await ready(page);
}

/** clickAndRender clicks a link and waits for the view it opens. */
async function clickAndRender(page, locator) {
  await rerender(page, () => locator.click());
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
  await go(page, url, '#/incidents');
  const rows = page.locator('tr.incident-row');
  assert.ok(await rows.count() >= 2, 'incidents listed');
  const rank = { INFO: 1, LOW: 2, MEDIUM: 3, HIGH: 4, CRITICAL: 5 };
  const sevs = (await page.locator('tr.incident-row td:first-child .sev').allInnerTexts()).map((s) => rank[s.trim()]);
  assert.deepEqual(sevs, [...sevs].sort((a, b) => b - a), 'sorted by severity: ' + sevs);
  const first = rows.first();
  assert.ok((await first.innerText()).includes('mallory'), 'mallory\'s incident listed first');
  // Tactic chips follow the story: each tactic where it first occurred
  // (the incident's techniques[].first_seen), not the matrix's order.
  const chips = await first.locator('.chip').allInnerTexts();
  const mallory = await page.evaluate(async () => (await (await fetch('/api/v1/incidents?actor=mallory')).json()).incidents[0]);
  const firstSeen = new Map();
  for (const t of mallory.techniques) if (!firstSeen.has(t.tactic) || t.first_seen < firstSeen.get(t.tactic)) firstSeen.set(t.tactic, t.first_seen);
  const want = [...firstSeen.keys()].sort((a, b) => (firstSeen.get(a) < firstSeen.get(b) ? -1 : 1));
  assert.deepEqual(chips, want, 'tactic chips in order of first occurrence');
  assert.equal(chips[0], 'Discovery', 'mallory began by enumerating: ' + chips);
  for (const t of ['Persistence', 'Privilege Escalation', 'Lateral Movement']) assert.ok(chips.includes(t), `tactic ${t} shown`);

  // Filtered by actor, from the form, into a bookmarkable URL.
  await page.locator('form.filters input[name=actor]').fill('system:anonymous');
  await rerender(page, () => page.locator('form.filters button[type=submit]').click());
  await page.waitForURL(/actor=system%3Aanonymous/);
  const anon = await page.locator('tr.incident-row').allInnerTexts();
  assert.ok(anon.length >= 1 && anon.every((r) => r.includes('system:anonymous') && !r.includes('mallory')), 'actor filter: ' + anon);
  await go(page, url, '#/incidents');

  // 4. Open it: the binding, the webhook and the CoreDNS patch, in order.
  const incidentID = (await first.locator('a.incident-link').innerText()).trim();
  await clickAndRender(page, first.locator('a.incident-link'));
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
  await clickAndRender(page, page.locator('ol.chain a.actor', { hasText: /^mallory$/ }).first());
  assert.ok(page.url().includes('#/timeline?actor=mallory'), 'actor link: ' + page.url());
  const actors = await page.locator('table.timeline tbody td:nth-child(2) a.actor').allInnerTexts();
  assert.ok(actors.length > 0 && actors.every((a) => a === 'mallory'), 'only mallory on her timeline: ' + [...new Set(actors)].join(','));
  const tl = await page.locator('table.timeline').innerText();
  assert.match(tl, /configmaps kube-system\/coredns/);
  // And from an object to its history.
  await clickAndRender(page, page.locator('table.timeline a.object', { hasText: 'configmaps kube-system/coredns' }).first());
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
  await go(page, url, '#/incidents/' + incident);
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

  // Two addresses stay two: the X-Forwarded-For one and the peer, each
  // marked, never run together ("203.0.113.5127.0.0.1").
  await input.fill('203.0.113.5');
  // The row that holds the address, with both of its addresses drawn: the
  // first row may still be the unfiltered list's until the filter renders.
  const xrow = page.locator('.vlist .vrow', { hasText: '203.0.113.5' }).first();
  await xrow.locator('.ip-addr .ip-role').nth(1).waitFor();
  const addrs = await xrow.locator('.ip-addr').evaluateAll((els) => els.map((e) => [e.querySelector('a').textContent, e.querySelector('.ip-role').textContent]));
  assert.deepEqual(addrs, [['203.0.113.5', 'XFF'], ['127.0.0.1', 'peer']], 'source addresses: ' + JSON.stringify(addrs));
  await xrow.locator('.verb').click();
  await page.locator('.event-pane .ev-head .ip-addr').first().waitFor();
  const paneIPs = await page.locator('.event-pane .ev-head .ip-addr').evaluateAll((els) => els.map((e) => [e.querySelector('a').textContent, e.querySelector('.ip-role').textContent]));
  assert.deepEqual(paneIPs, addrs, 'event pane addresses: ' + JSON.stringify(paneIPs));
  await page.screenshot({ path: path.join(shots, 'sources-1440x900.png') });
  await input.fill('');

  // Selecting an event (a click on its verb, not on a link) shows its JSON.
  const t1 = Date.now();
  await page.locator('.vlist .vrow').nth(5).locator('span').nth(2).click();
  await page.locator('.event-pane pre.json').first().waitFor();
  metrics.large_select_json_ms = Date.now() - t1;
  await context.close();
}

/** loggedIn opens a page logged in at url + hash. */
async function loggedIn({ url, token }, hash, opts) {
  const { context, page } = await newPage(url, opts);
  await page.goto(url + hash);
  await login(page, token);
  await ready(page);
  return { context, page };
}

/** go opens a view and waits for it. */
async function go(page, url, hash) {
  // The same URL again opens nothing new: the view shown is the one asked for.
  if (page.url() === url + hash) await ready(page);
  else await rerender(page, () => page.goto(url + hash));
  await page.waitForTimeout(150); // the virtual list and the axis draw on the next frames
}

/** layoutReport measures what the issue asks: the page does not scroll
 * sideways, nothing sticks out of the viewport, and every element that
 * cuts its text is a "clip" (shown whole on hover and focus) with the whole
 * text in its title. */
function layoutReport(page) {
  return page.evaluate(() => {
    const vw = document.documentElement.clientWidth;
    const name = (el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} "${(el.textContent || '').trim().slice(0, 50)}"`;
    const out = { scroll: document.documentElement.scrollWidth - vw, bodyScroll: document.body.scrollWidth - vw, beyond: [], cut: [], clips: 0 };
    for (const el of document.querySelectorAll('body *')) {
      if (!el.getClientRects().length || el.closest('.skip, .copy-buffer')) continue;
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > vw + 1 && !el.closest('.vlist, pre.json, ol.findings, .col-side')) out.beyond.push(name(el) + ' right=' + Math.round(r.right));
      const cs = getComputedStyle(el);
      if ((cs.overflowX === 'hidden' || cs.overflowX === 'clip') && el.scrollWidth > el.clientWidth + 1) {
        if (el.classList.contains('clip') && el.title) out.clips++;
        else out.cut.push(name(el));
      }
    }
    return out;
  });
}

async function checkLayout(page, what) {
  const r = await layoutReport(page);
  assert.ok(r.scroll <= 0 && r.bodyScroll <= 0, `${what}: the page scrolls sideways by ${r.scroll} px`);
  assert.deepEqual(r.beyond, [], `${what}: elements past the right edge`);
  assert.deepEqual(r.cut, [], `${what}: cells cut with no way to read them`);
  return r;
}

/** checkClipOpens hovers and focuses a cut cell: either shows it whole. */
async function checkClipOpens(page, what) {
  const handle = await page.evaluateHandle(() => [...document.querySelectorAll('.clip')].find((el) => el.getClientRects().length && el.scrollWidth > el.clientWidth + 1) || null);
  const el = handle.asElement();
  if (!el) return false;
  await el.hover();
  const hovered = await el.evaluate((e) => ({ whole: e.scrollWidth <= e.clientWidth + 1, vis: getComputedStyle(e).overflowX }));
  assert.ok(hovered.whole || hovered.vis === 'visible', `${what}: a cut cell does not open on hover`);
  await page.mouse.move(0, 0);
  await el.focus();
  const focused = await el.evaluate((e) => getComputedStyle(e).overflowX);
  assert.equal(focused, 'visible', `${what}: a cut cell does not open on focus`);
  await el.evaluate((e) => e.blur());
  return true;
}

/** layout opens every view at one viewport size and checks it fits. */
async function layout(cfg, vp) {
  const { url, shots } = cfg;
  const size = `${vp.width}x${vp.height}`;
  const { context, page } = await loggedIn(cfg, '#/incidents', { viewport: vp });
  const id = (await page.locator('tr.incident-row').first().getAttribute('data-id'));
  let opened = 0;
  for (const [what, hash, select] of [
    ['incidents', '#/incidents'],
    ['incident', '#/incidents/' + id, 'coredns-corefile-redirect'],
    ['incident, webhook', '#/incidents/' + id, 'admission-webhook-change'],
    ['timeline', '#/timeline?q=' + encodeURIComponent('-actor:system:*')],
    ['mallory\'s timeline', '#/timeline?actor=mallory'],
    ['event', '#/events/1245ddec-efc3-4673-b857-4becdd1d279b'],
  ]) {
    await go(page, url, hash);
    if (select) {
      await page.locator(`ol.findings li[data-rule=${select}] button.ftitle`).click();
      await page.locator('.event-pane .event-detail').waitFor();
      // The event pane stays in view after a click, however far the page scrolled.
      await page.locator('.vlist').scrollIntoViewIfNeeded();
      await page.locator('.vlist .vrow').nth(1).locator('.verb').click();
      await page.locator('.event-pane .event-detail').waitFor();
      const pane = await page.locator('.event-pane').boundingBox();
      assert.ok(pane && pane.y < vp.height - 100 && pane.y + 40 > 0, `${size} ${what}: the event pane is out of view (top ${pane && pane.y})`);
    }
    const r = await checkLayout(page, `${size} ${what}`);
    if (r.clips && await checkClipOpens(page, `${size} ${what}`)) opened++;
    if (what === 'incident') {
      // Technique ids are never cut.
      const ids = await page.locator('ol.findings .tech-id').evaluateAll((els) => els.map((e) => ({ t: e.textContent, cut: e.scrollWidth > e.clientWidth + 1 })));
      assert.ok(ids.length && ids.every((x) => /^MS-TA\d{4}$/.test(x.t) && !x.cut), `${size}: technique ids cut: ${JSON.stringify(ids)}`);
      await page.screenshot({ path: path.join(shots, `incident-${size}.png`) });
    }
    if (what === 'incidents' || what === 'timeline') await page.screenshot({ path: path.join(shots, `${what}-${size}.png`) });
  }
  log(`layout at ${size}: no sideways scroll, nothing cut without recourse (${opened} cut cells opened on hover and focus)`);
  await context.close();
}

/** eventDetailAndDiff: the CoreDNS patch's detail shows the RBAC reason,
 * its findings with their incident, the fields the rules looked at, the
 * Corefile before → after, and copies its audit id. */
async function eventDetailAndDiff(cfg) {
  const { url, shots } = cfg;
  const { context, page } = await loggedIn(cfg, '#/incidents?actor=mallory');
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(url).origin });
  const id = await page.locator('tr.incident-row').first().getAttribute('data-id');
  await go(page, url, '#/incidents/' + id);
  await page.locator('ol.findings li[data-rule=coredns-corefile-redirect] button.ftitle').click();
  const pane = page.locator('.event-pane .event-detail');
  await pane.locator('.diff').waitFor();
  const rbac = await pane.locator('[data-rbac]').innerText();
  assert.match(rbac, /^Allowed: RBAC: allowed by ClusterRoleBinding "mallory-admin" of ClusterRole "cluster-admin" to User "mallory"/, 'RBAC reason: ' + rbac);
  const rules = await pane.locator('.ev-finding').evaluateAll((els) => els.map((e) => e.dataset.rule));
  assert.deepEqual(rules.sort(), ['coredns-configmap-change', 'coredns-corefile-redirect'], 'findings on the patch');
  assert.equal(await pane.locator('.ev-finding a.incident-link').first().innerText(), 'incident ' + id, 'link to the incident');
  const change = pane.locator('.diff-change[data-path="data.Corefile"]');
  const added = await change.locator('.diff-line.add').allInnerTexts();
  const removed = await change.locator('.diff-line.del').allInnerTexts();
  assert.ok(added.some((l) => l.includes('attacker.example.com')) && added.some((l) => l.includes('203.0.113.53')), 'Corefile after: ' + added);
  assert.ok(removed.some((l) => l.includes('/etc/resolv.conf')), 'Corefile before: ' + removed);
  assert.match(await pane.locator('.diff-head').innerText(), /before: as the get by mallory/);
  const hl = await pane.locator('pre.json .hl').allInnerTexts();
  for (const f of ['"verb": "patch"', '"name": "coredns"', '"Corefile"']) assert.ok(hl.some((x) => x.includes(f)), `field ${f} highlighted: ${hl.join(' | ')}`);
  await pane.locator('button[data-copy="audit ID"]').click();
  await page.waitForFunction(() => window.__kaudit && window.__kaudit.lastCopy);
  assert.equal(await pane.locator('button[data-copy="audit ID"]').innerText(), 'Copied');
  const copied = await page.evaluate(() => window.__kaudit.lastCopy);
  assert.equal(copied, '1245ddec-efc3-4673-b857-4becdd1d279b', 'copied audit id');
  const clip = await page.evaluate(() => navigator.clipboard.readText().catch(() => null));
  if (clip !== null) assert.equal(clip, copied, 'clipboard holds the audit id');
  await page.screenshot({ path: path.join(shots, 'event-diff-1440x900.png') });
  // The same detail on the event's own page, and the incident link back.
  await go(page, url, '#/events/1245ddec-efc3-4673-b857-4becdd1d279b');
  await page.locator('.event-detail .diff-change[data-path="data.Corefile"]').waitFor();
  await clickAndRender(page, page.locator('.event-detail a.incident-link').first());
  assert.ok(page.url().includes('#/incidents/' + id), 'event → incident: ' + page.url());
  await page.locator('.event-pane .event-detail').waitFor();
  log('event detail: RBAC reason, findings with their incident, highlighted fields, Corefile before → after, copy');
  await context.close();
}

/** exportReport downloads the incident as Markdown, HTML and CSV from the page. */
async function exportReport(cfg) {
  const { url } = cfg;
  const { context, page } = await loggedIn(cfg, '#/incidents?actor=mallory');
  const id = await page.locator('tr.incident-row').first().getAttribute('data-id');
  await go(page, url, '#/incidents/' + id);
  for (const f of ['md', 'html']) {
    const [dl] = await Promise.all([page.waitForEvent('download'), page.locator(`.export a[data-format=${f}]`).click()]);
    assert.equal(dl.suggestedFilename(), `${id}.${f}`);
    const body = await fs.readFile(await dl.path(), 'utf8');
    for (const want of [id, 'Identities and why they are joined', 'Findings (12)', 'Timeline (10 requests', 'apiserver-1.36-basic-intrusion.log:1121',
      '1245ddec-efc3-4673-b857-4becdd1d279b', 'attacker.example.com']) {
      assert.ok(body.includes(want), `${f} report lacks ${want}`);
    }
    if (f === 'html') assert.ok(!/<script|\ssrc=|\shref=/.test(body), 'the HTML report is self-contained');
  }
  const [csv] = await Promise.all([page.waitForEvent('download'), page.locator('.export a[data-format=csv]').click()]);
  assert.equal(csv.suggestedFilename(), `${id}.csv`);
  const table = await fs.readFile(await csv.path(), 'utf8');
  assert.ok(table.startsWith('time,severity,rules,'), 'the CSV export starts with its header');
  assert.ok(table.includes('apiserver-1.36-basic-intrusion.log:1121'), 'the CSV export holds the evidence locations');
  log('export: Markdown, HTML and CSV downloaded from the incident page');
  await context.close();
}

/** keyboard: a skip link, j/k and Enter on every list, / to search. */
async function keyboard(cfg) {
  const { url } = cfg;
  const { context, page } = await loggedIn(cfg, '#/incidents');
  // The skip link is the first stop and moves focus to the view, URL unchanged.
  await page.locator('body').focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'skip-link', 'skip link first');
  const before = page.url();
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'view', 'skip link focuses the view');
  assert.equal(page.url(), before, 'skip link keeps the URL');
  // j/k on the incident list, Enter opens.
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await page.keyboard.press('k');
  const cur = await page.locator('tr.incident-row.kbd-current').getAttribute('data-id');
  assert.equal(cur, await page.locator('tr.incident-row').first().getAttribute('data-id'), 'j j k comes back to the first');
  await rerender(page, () => page.keyboard.press('Enter'));
  assert.ok(page.url().includes('#/incidents/' + cur), 'Enter opens the incident');
  // j/k select events, the pane follows; / goes to the filter.
  await page.locator('.vlist .vrow').first().waitFor();
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await page.locator('.event-pane .event-detail').waitFor();
  const second = await page.locator('.vlist .vrow').nth(1).getAttribute('data-audit-id');
  assert.equal(await page.locator('.vlist .vrow.selected').getAttribute('data-audit-id'), second, 'j j selects the second event');
  await page.waitForFunction((id) => document.querySelector('.event-pane .event-detail')?.dataset.auditId === id, second);
  await page.keyboard.press('k');
  const firstID = await page.locator('.vlist .vrow').first().getAttribute('data-audit-id');
  await page.waitForFunction((id) => document.querySelector('.event-pane .event-detail')?.dataset.auditId === id, firstID);
  assert.ok(page.url().includes('event=' + firstID), 'k moves back, kept in the URL');
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement.classList.contains('filter')), true, '/ focuses the filter');
  await page.keyboard.type('coredns');
  assert.match(await page.locator('.toolbar .count').innerText(), /^2 of 10 events$/);
  await page.keyboard.press('Escape');
  await page.keyboard.press('j'); // typed into the page again, not the field
  assert.equal(await page.locator('.toolbar .filter').inputValue(), 'coredns');
  // Time range on the axis: drag, kept in the URL, back after a reload.
  const box = await page.locator('.axis-canvas').boundingBox();
  await page.locator('.toolbar .filter').fill('');
  await page.mouse.move(box.x + box.width * 0.55, box.y + 45);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.8, box.y + 45, { steps: 5 });
  await page.mouse.move(box.x + box.width - 2, box.y + 45, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction(() => location.hash.includes('from=') && location.hash.includes('to='));
  const ranged = await page.locator('.toolbar .count').innerText();
  const n = Number(ranged.split(' ')[0]);
  assert.ok(n > 0 && n < 10, 'the range narrows the list: ' + ranged);
  await page.reload();
  await ready(page);
  await page.locator('.range-clear').waitFor();
  assert.equal(await page.locator('.toolbar .count').innerText(), ranged, 'the range survives a reload');
  await page.locator('.range-clear').click();
  assert.match(await page.locator('.toolbar .count').innerText(), /^10 of 10 events$/);
  assert.ok(!page.url().includes('from='), 'range cleared from the URL');
  log('keyboard: skip link, j/k/Enter on incidents and events, / to search, Escape; axis range in the URL');
  await context.close();
}

/** timelineSearch: substring, glob and exclusion, the findings column,
 * and a near miss explained. */
async function timelineSearch(cfg) {
  const { url } = cfg;
  const { context, page } = await loggedIn(cfg, '#/timeline');
  await page.keyboard.press('/');
  await page.keyboard.type('-system:* object:configmaps*coredns');
  await rerender(page, () => page.keyboard.press('Enter'));
  await page.waitForURL(/q=/);
  const actors = await page.locator('table.timeline tbody td:nth-child(2) a.actor').allInnerTexts();
  assert.ok(actors.length >= 2 && actors.every((a) => !a.startsWith('system:')), 'search leaves out system:*: ' + actors);
  const marks = await page.locator('table.timeline tbody tr.has-finding .fmark-item').allInnerTexts();
  assert.ok(marks.some((m) => m.includes('coredns-corefile-redirect')), 'findings column: ' + marks);
  await page.keyboard.press('j');
  await rerender(page, () => page.keyboard.press('Enter'));
  assert.ok(page.url().includes('#/events/'), 'Enter opens the request: ' + page.url());
  await go(page, url, '#/timeline?actor=replicaset-controller');
  const hint = await page.locator('.hint').innerText();
  assert.match(hint, /Did you mean system:serviceaccount:kube-system:replicaset-controller\?/);
  assert.match(hint, /The store covers 2026-11-22 09:53:17/);
  await go(page, url, '#/timeline?actor=' + encodeURIComponent('mall*'));
  const globbed = await page.locator('table.timeline tbody td:nth-child(2) a.actor').allInnerTexts();
  assert.ok(globbed.length > 0 && globbed.every((a) => a === 'mallory'), 'actor glob');
  log('timeline: -system:* and object glob, findings column, Enter opens, did-you-mean hint, actor glob');
  await context.close();
}

/** darkMode: the page follows the system's dark setting. */
async function darkMode(cfg) {
  const { url, shots } = cfg;
  const { context, page } = await loggedIn(cfg, '#/incidents?actor=mallory', { colorScheme: 'dark' });
  const id = await page.locator('tr.incident-row').first().getAttribute('data-id');
  await go(page, url, `#/incidents/${id}?event=1245ddec-efc3-4673-b857-4becdd1d279b`);
  await page.locator('.event-pane .diff').waitFor();
  const bg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = bg.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 120, 'dark background: ' + bg);
  await checkLayout(page, 'dark incident');
  await page.screenshot({ path: path.join(shots, 'incident-dark-1440x900.png') });
  log('dark mode follows prefers-color-scheme');
  await context.close();
}
