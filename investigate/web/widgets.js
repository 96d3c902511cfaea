// Small pieces every view shares: source addresses, cut cells that open on
// hover and focus, copy buttons.
import { h } from './dom.js';
import { ipHref, sourceRoles } from './format.js';

const ROLE_TITLE = {
  peer: 'peer: the address that connected to the apiserver (last of sourceIPs)',
  xff: 'X-Forwarded-For: named by the client or a proxy in a header (before the peer in sourceIPs)',
};

/** sourceIPs renders a request's addresses one by one, each marked with
 * how the apiserver learnt it, each a link to its own timeline. With one
 * address (the peer) no mark is needed. */
export function sourceIPs(ips) {
  const roles = sourceRoles(ips);
  return h('span', { class: 'ips' }, roles.map(({ ip, role }) => h('span', { class: `ip-addr ${role}`, title: ROLE_TITLE[role] },
    h('a', { href: ipHref(ip), class: 'ip' }, ip),
    roles.length > 1 ? h('span', { class: 'ip-role' }, role === 'peer' ? 'peer' : 'XFF') : null)));
}

/** sourcesText is the same in words, for a title or a copy. */
export function sourcesText(ips) {
  const roles = sourceRoles(ips);
  if (roles.length <= 1) return (ips || []).join('');
  return roles.map(({ ip, role }) => `${ip} (${role === 'peer' ? 'peer' : 'X-Forwarded-For'})`).join(', ');
}

/** clip is a cell cut with … when too long: hover or focus (it is
 * focusable) shows it whole, and its title holds the whole text. */
export function clip(text, content, attrs) {
  return h('span', Object.assign({ class: 'clip', title: text, tabindex: '0' }, attrs || {}), content ?? text);
}

/** copyButton copies what get() returns and says so. */
export function copyButton(label, get) {
  const b = h('button', { type: 'button', class: 'small-button copy', 'data-copy': label }, 'Copy ' + label);
  b.addEventListener('click', async () => {
    const text = get();
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      const ta = h('textarea', { class: 'copy-buffer', 'aria-hidden': 'true' });
      ta.value = text;
      document.body.append(ta);
      ta.select();
      try { ok = document.execCommand('copy'); } catch { ok = false; }
      ta.remove();
    }
    b.textContent = ok ? 'Copied' : 'Copy failed';
    b.classList.toggle('copied', ok);
    window.__kaudit = Object.assign(window.__kaudit || {}, { lastCopy: text });
    setTimeout(() => { b.textContent = 'Copy ' + label; b.classList.remove('copied'); }, 1500);
  });
  return b;
}
