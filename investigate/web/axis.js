// The incident's time axis: the events of its actors as a histogram
// (denied requests in amber), findings as coloured markers above it, drawn
// on a canvas because ten thousand SVG nodes would make the page crawl. A
// click selects the nearest event (the nearest finding near the markers);
// a drag selects a time range, which the list then shows alone.
import { h } from './dom.js';
import { fmtClock, fmtDuration } from './format.js';

const SEV_VARS = { critical: '--critical', high: '--high', medium: '--medium', low: '--low', info: '--info' };

/** css reads a colour of the stylesheet (light or dark, as the system says). */
function css(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export class TimeAxis {
  /**
   * @param {object} o
   * @param {{t: number, entry: object, finding: object|null}[]} o.points  all events, in time order
   * @param {(index: number) => void} o.onPick  called with the index of the event clicked
   * @param {(range: [number, number]|null) => void} o.onRange  called with the range dragged (null: cleared)
   */
  constructor({ points, onPick, onRange }) {
    this.points = points;
    this.visible = null; // indexes shown by the list's filter (null: all)
    this.selected = -1;
    this.range = null;
    this.canvas = h('canvas', { class: 'axis-canvas', role: 'img', 'aria-label': 'time axis of the incident: click an event, drag to select a time range' });
    this.labels = h('div', { class: 'axis-labels' });
    this.el = h('div', { class: 'axis' }, this.canvas, this.labels);
    const ts = points.map((p) => p.t).filter((t) => !Number.isNaN(t));
    this.t0 = Math.min(...ts);
    this.t1 = Math.max(...ts);
    if (!(this.t1 > this.t0)) this.t1 = this.t0 + 1;
    this.pad = 12;
    const timeAt = (clientX) => {
      const r = this.canvas.getBoundingClientRect();
      const f = Math.min(1, Math.max(0, (clientX - r.left - this.pad) / (r.width - 2 * this.pad)));
      return this.t0 + f * (this.t1 - this.t0);
    };
    let drag = null;
    this.canvas.addEventListener('pointerdown', (ev) => {
      drag = { x: ev.clientX, y: ev.clientY - this.canvas.getBoundingClientRect().top, t: timeAt(ev.clientX), moved: false };
      this.canvas.setPointerCapture?.(ev.pointerId);
    });
    this.canvas.addEventListener('pointermove', (ev) => {
      if (!drag) return;
      if (Math.abs(ev.clientX - drag.x) > 4) drag.moved = true;
      if (drag.moved) { this.range = [Math.min(drag.t, timeAt(ev.clientX)), Math.max(drag.t, timeAt(ev.clientX))]; this.draw(); }
    });
    this.canvas.addEventListener('pointerup', (ev) => {
      if (!drag) return;
      const d = drag;
      drag = null;
      if (d.moved) {
        this.range = [Math.min(d.t, timeAt(ev.clientX)), Math.max(d.t, timeAt(ev.clientX))];
        this.draw();
        onRange(this.range);
        return;
      }
      const i = this.nearest(d.t, d.y < 30);
      if (i >= 0) onPick(i);
    });
    this.resize = new ResizeObserver(() => this.draw());
    this.resize.observe(this.el);
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
  setRange(r) { this.range = r; this.draw(); }

  x(t, w) { return this.pad + ((t - this.t0) / (this.t1 - this.t0)) * (w - 2 * this.pad); }

  draw() {
    const w = Math.max(100, this.el.clientWidth || 600);
    const hgt = 64;
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(hgt * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${hgt}px`;
    const g = this.canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, hgt);
    if (this.range) {
      const a = this.x(this.range[0], w);
      const b = this.x(this.range[1], w);
      g.fillStyle = css('--axis-range', 'rgba(37,99,235,.12)');
      g.fillRect(a, 0, Math.max(2, b - a), hgt);
    }
    g.strokeStyle = css('--axis-line', '#cbd5e1');
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
    const bar = css('--axis-bar', '#94a3b8');
    const amber = css('--axis-denied', '#d97706');
    for (let c = 0; c < cols; c++) {
      if (!all[c]) continue;
      const hAll = scale(all[c]);
      g.fillStyle = bar;
      g.fillRect(c, 56 - hAll, 1, hAll);
      if (denied[c]) {
        const hd = Math.max(2, hAll * (denied[c] / all[c]));
        g.fillStyle = amber;
        g.fillRect(c, 56 - hd, 1, hd);
      }
    }
    for (let i = 0; i < this.points.length; i++) {
      const p = this.points[i];
      if (!p.finding) continue;
      const x = this.x(p.t, w);
      g.fillStyle = css(SEV_VARS[p.finding.severity] || '--info', '#64748b');
      g.beginPath(); g.moveTo(x, 30); g.lineTo(x - 6, 18); g.lineTo(x + 6, 18); g.closePath(); g.fill();
      g.fillRect(Math.round(x), 30, 1, 26);
    }
    if (this.selected >= 0 && this.points[this.selected]) {
      const x = this.x(this.points[this.selected].t, w);
      g.strokeStyle = css('--axis-sel', '#2563eb'); g.lineWidth = 2;
      g.beginPath(); g.moveTo(x, 4); g.lineTo(x, 60); g.stroke();
      g.lineWidth = 1;
    }
    const span = this.t1 - this.t0;
    const iso = (t) => new Date(t).toISOString();
    this.labels.replaceChildren(
      h('span', null, fmtClock(iso(this.t0))),
      h('span', { class: 'muted' }, `${fmtDuration(span)} · ${this.points.length.toLocaleString('en')} events · drag to select a range`),
      h('span', null, fmtClock(iso(this.t1))));
  }

  dispose() { this.resize.disconnect(); }
}
