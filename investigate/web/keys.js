// Keyboard navigation beyond arrow keys, the same in every view:
//   j / k       next / previous row (incident, request, event)
//   Enter       open the current row
//   /           go to the view's search field
//   Escape      leave a field
// A view registers what j, k and Enter do (setKeys); "/" focuses the
// element marked data-search. Keys typed into a field are the field's.

let handlers = null;

/** setKeys sets the current view's handlers ({next, prev, open}); null clears them. */
export function setKeys(h) { handlers = h; }

function typing(el) {
  return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
}

document.addEventListener('keydown', (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const el = document.activeElement;
  if (ev.key === 'Escape' && typing(el)) { ev.preventDefault(); el.blur(); return; }
  if (typing(el)) return;
  if (ev.key === '/') {
    const search = document.querySelector('#view [data-search]');
    if (search) { ev.preventDefault(); search.focus(); search.select?.(); }
    return;
  }
  if (!handlers) return;
  const fn = { j: handlers.next, k: handlers.prev, Enter: handlers.open }[ev.key];
  if (!fn || (ev.key === 'Enter' && el && el.closest && el.closest('a, button'))) return;
  ev.preventDefault();
  fn();
});

/** rowCursor moves a "current row" through rows of a table with j/k and
 * opens it with Enter; the row's first link is what opening follows. */
export function rowCursor(rows, { onOpen } = {}) {
  let at = -1;
  const show = (i) => {
    if (!rows.length) return;
    at = Math.max(0, Math.min(rows.length - 1, i));
    rows.forEach((r, k) => r.classList.toggle('kbd-current', k === at));
    rows[at].scrollIntoView({ block: 'nearest' });
    rows[at].setAttribute('aria-current', 'true');
    rows.forEach((r, k) => { if (k !== at) r.removeAttribute('aria-current'); });
  };
  setKeys({
    next: () => show(at + 1),
    prev: () => show(at < 0 ? 0 : at - 1),
    open: () => {
      if (at < 0) return;
      if (onOpen) onOpen(rows[at]);
      else rows[at].querySelector('a')?.click();
    },
  });
  return { show, current: () => at };
}
