// JSON shown as the apiserver wrote it, with the fields a finding's rule
// looked at highlighted: a field path (["objectRef", "name"]) marks that
// field and everything under it.
import { h } from './dom.js';

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const under = (path, hl) => hl.length <= path.length && hl.every((x, i) => x === path[i]);

/** jsonView renders value in a <pre>, marking the highlighted paths. */
export function jsonView(value, highlights) {
  const hls = (highlights || []).filter((p) => Array.isArray(p) && p.length);
  const lines = [];
  const isHl = (path) => path.length > 0 && hls.some((hl) => under(path, hl));
  const walk = (v, path, indent, key, last) => {
    const pad = '  '.repeat(indent);
    const head = key == null ? '' : JSON.stringify(key) + ': ';
    const comma = last ? '' : ',';
    const hl = isHl(path);
    const keyHl = hl && hls.some((p) => same(p, path));
    if (v && typeof v === 'object') {
      const entries = Array.isArray(v) ? v.map((x, i) => [null, x, String(i)]) : Object.entries(v).map(([k, x]) => [k, x, k]);
      const [open, close] = Array.isArray(v) ? ['[', ']'] : ['{', '}'];
      if (!entries.length) { lines.push({ text: pad + head + open + close + comma, hl, keyHl }); return; }
      lines.push({ text: pad + head + open, hl, keyHl });
      entries.forEach(([k, x, seg], i) => walk(x, [...path, seg], indent + 1, Array.isArray(v) ? null : k, i === entries.length - 1));
      lines.push({ text: pad + close + comma, hl });
      return;
    }
    lines.push({ text: pad + head + JSON.stringify(v) + comma, hl, keyHl });
  };
  walk(value, [], 0, null, true);
  const pre = h('pre', { class: 'json' });
  const frag = document.createDocumentFragment();
  lines.forEach((l, i) => {
    const text = l.text + (i < lines.length - 1 ? '\n' : '');
    frag.append(l.hl ? h('span', { class: 'hl' + (l.keyHl ? ' hl-key' : '') }, text) : document.createTextNode(text));
  });
  pre.append(frag);
  return pre;
}
