// A virtual list: only the rows in view (plus a margin) exist in the DOM,
// so an incident of 10,000 events scrolls and filters as fast as one of ten.
import { h } from './dom.js';

export class VirtualList {
  /**
   * @param {object} o
   * @param {number} o.rowHeight  fixed height of a row, in pixels
   * @param {(item: any, index: number) => HTMLElement} o.renderRow
   */
  constructor({ rowHeight, renderRow, className }) {
    this.rowHeight = rowHeight;
    this.renderRow = renderRow;
    this.items = [];
    this.spacer = h('div', { class: 'vlist-spacer' });
    this.el = h('div', { class: 'vlist ' + (className || ''), role: 'list', tabindex: '0' }, this.spacer);
    this.pending = false;
    this.first = -1;
    this.last = -1;
    this.el.addEventListener('scroll', () => this.schedule());
    this.resize = new ResizeObserver(() => this.schedule(true));
    this.resize.observe(this.el);
  }

  /** setItems replaces the rows shown, keeping the scroll position when it can. */
  setItems(items) {
    this.items = items;
    this.spacer.style.height = `${items.length * this.rowHeight}px`;
    this.schedule(true);
  }

  /** scrollToIndex brings row i into the middle of the view. */
  scrollToIndex(i) {
    const top = i * this.rowHeight - (this.el.clientHeight - this.rowHeight) / 2;
    this.el.scrollTop = Math.max(0, top);
    this.schedule(true);
  }

  /** refresh redraws the rows in view (after a selection changed). */
  refresh() { this.schedule(true); }

  schedule(force) {
    if (force) this.first = -1;
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const rh = this.rowHeight;
    const overscan = 8;
    const top = this.el.scrollTop;
    const height = this.el.clientHeight || 400;
    const first = Math.max(0, Math.floor(top / rh) - overscan);
    const last = Math.min(this.items.length, Math.ceil((top + height) / rh) + overscan);
    if (first === this.first && last === this.last) return;
    this.first = first;
    this.last = last;
    const rows = [];
    for (let i = first; i < last; i++) {
      const row = this.renderRow(this.items[i], i);
      row.style.transform = `translateY(${i * rh}px)`;
      row.style.height = `${rh}px`;
      rows.push(row);
    }
    this.spacer.replaceChildren(...rows);
  }

  dispose() { this.resize.disconnect(); }
}
