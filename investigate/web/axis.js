// The incident's time axis: the events of its actors as a histogram
// (denied requests in amber), findings as coloured markers above it, drawn
// on a canvas because ten thousand SVG nodes would make the page crawl. A
// click selects the nearest event (the nearest finding near the markers).
import { h } from './dom.js';
import { fmtClock, fmtDuration } from './format.js';

const SEV_COLORS = { critical: '#7f1d1d', high: '#dc2626', medium: '#ea580c', low: '#ca8a04', info: '#64748b' };

export class TimeAxis {
  /**
   * @param {object} o
   * @param {{t: number, entry: object, finding: object|null}[]} o.points  all events, in time order
   * @param {(index: number) => void} o.onPick  called with the index of the event clicked
   */
  constructor({ points, onPick }) {
    this.points = points;
    this.visible = null; // indexes shown by the list's filter (null: all)
    this.selected = -1;
    this.canvas = h('canvas', { class: 'axis-canvas', 'aria-label': 'time axis of the incident' });
    this.labels = h('div', { class: 'axis-labels' });
    this.el = h('div', { class: 'axis' }, this.canvas, this.labels);
    const ts = points.map((p) => p.t).filter((t) => !Number.isNaN(t));
    this.t0 = Math.min(...ts);
    this.t1 = Math.max(...ts);
    if (!(this.t1 > this.t0)) this.t1 = this.t0 + 1;
    this.canvas.addEventListener('click', (ev) => {
      const r = this.canvas.getBoundingClientRect();
      const t = this.t0 + ((ev.clientX - r.left - this.pad) / (r.width - 2 * this.pad)) * (this.t1 - this.t0);
      const i = this.nearest(t, ev.clientY - r.top < 30);
      if (i >= 0) onPick(i);
    });
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.el);
    this.pad = 12;
  }

  /** nearest returns the index of the event closest to time t (a finding if preferFinding). */
  nearest(t, preferFinding) {
    let best = -1;
    let bd = Infinity;
    this.points.forEach((p, i) => {
      if (preferFinding && !p.finding) return;
      if (this.visible && !this.visible.has(i)) return;
      const d = Math.abs(p.t - t);
      if (d < bd) { bd = d; best = i; }
    });
    return best;
  }

  setVisible(set) { this.visible = set; this.draw(); }
  select(i) { this.selected = i; this.draw(); }

  x(t, w) { return this.pad + ((t - this.t0) / (this.t1 - this.t0)) * (w - 2 * this.pad); }

  draw() {
    const w = this.el.clientWidth || 600;
    const hgt = 64;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(hgt * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${hgt}px`;
    const g = this.canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    g.strokeStyle = '#cbd5e1';
    g.beginPath(); g.moveTo(this.pad, 56.5); g.lineTo(w - this.pad, 56.5); g.stroke();
    // Events: a histogram, one bar per pixel column, its height the log
    // of the events in it, so that one request and ten thousand both show.
    const cols = Math.max(1, Math.floor(w));
    const all = new Uint32Array(cols);
    const denied = new Uint32Array(cols);
    for (let i = 0; i < this.points.length; i++) {
      const p = this.points[i];
      if (p.finding || (this.visible && !this.visible.has(i))) continue;
      const c = Math.min(cols - 1, Math.max(0, Math.round(this.x(p.t, w))));
      all[c]++;
      if (p.entry.denied) denied[c]++;
    }
    let max = 1;
    for (let c = 0; c < cols; c++) if (all[c] > max) max = all[c];
    const scale = (n) => (n ? 4 + 18 * (Math.log1p(n) / Math.log1p(max)) : 0);
    for (let c = 0; c < cols; c++) {
      if (!all[c]) continue;
      const hAll = scale(all[c]);
      g.fillStyle = '#94a3b8';
      g.fillRect(c, 56 - hAll, 1, hAll);
      if (denied[c]) {
        const hd = Math.max(2, hAll * (denied[c] / all[c]));
        g.fillStyle = '#d97706';
        g.fillRect(c, 56 - hd, 1, hd);
      }
    }
    g.globalAlpha = 1;
    for (let i = 0; i < this.points.length; i++) {
      const p = this.points[i];
      if (!p.finding) continue;
      const x = this.x(p.t, w);
      g.fillStyle = SEV_COLORS[p.finding.severity] || '#64748b';
      g.beginPath(); g.moveTo(x, 30); g.lineTo(x - 6, 18); g.lineTo(x + 6, 18); g.closePath(); g.fill();
      g.fillRect(Math.round(x), 30, 1, 26);
    }
    if (this.selected >= 0 && this.points[this.selected]) {
      const x = this.x(this.points[this.selected].t, w);
      g.strokeStyle = '#2563eb'; g.lineWidth = 2;
      g.beginPath(); g.moveTo(x, 4); g.lineTo(x, 60); g.stroke();
      g.lineWidth = 1;
    }
    const span = this.t1 - this.t0;
    const iso = (t) => new Date(t).toISOString();
    this.labels.replaceChildren(
      h('span', null, fmtClock(iso(this.t0))),
      h('span', { class: 'muted' }, `${fmtDuration(span)} · ${this.points.length.toLocaleString('en')} events`),
      h('span', null, fmtClock(iso(this.t1))));
  }

  dispose() { this.resize.disconnect(); }
}
