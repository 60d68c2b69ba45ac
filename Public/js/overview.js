// The overview strip above the timeline: how busy the whole run is over time (events per pixel
// column), with the part the timeline shows outlined. Click or drag on it to move the view;
// keyboard users have the timeline's own keys.

import { GUTTER, formatTime } from './timeline.js';

const H = 34;

export class Overview {
  constructor(canvas, view, getModel, getCursor = () => null) {
    this.getCursor = getCursor;
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.view = view;
    this.getModel = getModel;
    this.cache = { key: '', bins: null, max: 1 };
    this.pending = false;
    this.dpr = window.devicePixelRatio || 1;
    view.listeners.add(() => this.invalidate());
    new ResizeObserver(() => this.invalidate()).observe(canvas.parentElement);
    let dragging = false;
    const moveTo = (e) => {
      const m = this.getModel();
      if (!m) return;
      const r = canvas.getBoundingClientRect();
      const plotW = r.width - GUTTER;
      const t = ((e.clientX - r.left - GUTTER) / plotW) * this.extent();
      const span = this.view.plotWidth / this.view.scale;
      this.view.follow = false;
      this.view.t0 = t - span / 2;
      this.view.changed();
    };
    canvas.addEventListener('mousedown', (e) => { dragging = true; moveTo(e); });
    window.addEventListener('mousemove', (e) => { if (dragging) moveTo(e); });
    window.addEventListener('mouseup', () => { dragging = false; });
  }

  extent() { return this.view.extent(); }

  invalidate() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  histogram(m, cols, extent) {
    const key = `${m.id}|${m.events.length}|${cols}|${extent}`;
    if (this.cache.key === key) return this.cache;
    const bins = new Uint32Array(cols);
    const k = cols / extent;
    const ts = m.tsCol;
    for (let i = 0, n = m.events.length; i < n; i++) {
      const c = Math.min(cols - 1, Math.max(0, Math.floor(ts[i] * k)));
      bins[c]++;
    }
    let max = 1;
    for (const b of bins) if (b > max) max = b;
    this.cache = { key, bins, max };
    return this.cache;
  }

  draw() {
    const m = this.getModel();
    const wrap = this.canvas.parentElement;
    const cssW = wrap.clientWidth || 800;
    if (this.canvas.width !== Math.round(cssW * this.dpr)) {
      this.canvas.width = Math.round(cssW * this.dpr);
      this.canvas.height = Math.round(H * this.dpr);
      this.canvas.style.height = `${H}px`;
    }
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#f3f5f8';
    ctx.fillRect(0, 0, cssW, H);
    ctx.fillStyle = '#16202c';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.fillText('whole run (click to jump)', 8, H / 2);
    if (!m || !m.events.length) return;
    const plotW = cssW - GUTTER;
    const extent = this.extent();
    const cols = Math.max(1, Math.floor(plotW / 2));
    const { bins, max } = this.histogram(m, cols, extent);
    // the bars change only with the events: drawn once into a bitmap, copied on every pan and zoom
    const hist = this.cache;
    if (hist.bitmapFor !== hist.key + this.dpr) {
      const b = hist.bitmap || document.createElement('canvas');
      b.width = Math.round(plotW * this.dpr);
      b.height = Math.round(H * this.dpr);
      const g = b.getContext('2d');
      g.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      g.fillStyle = '#ffffff';
      g.fillRect(0, 0, plotW, H);
      g.fillStyle = '#7d95c4';
      const colW = plotW / cols;
      for (let c = 0; c < cols; c++) {
        if (!bins[c]) continue;
        const h = Math.max(1, Math.sqrt(bins[c] / max) * (H - 6));
        g.fillRect(c * colW, H - 2 - h, Math.max(1, colW - 0.5), h);
      }
      hist.bitmap = b;
      hist.bitmapFor = hist.key + this.dpr;
    }
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(hist.bitmap, Math.round(GUTTER * this.dpr), 0);
    ctx.restore();
    for (const d of m.deadlocks) {
      ctx.fillStyle = '#c0262d';
      ctx.fillRect(GUTTER + (d.ts / extent) * plotW - 1, 0, 2, H);
    }
    const cursor = this.getCursor();
    if (cursor != null) { // replay: how far it has got
      ctx.fillStyle = 'rgba(255, 255, 255, 0.65)';
      const xc = GUTTER + Math.min(1, cursor / extent) * plotW;
      ctx.fillRect(xc, 0, cssW - xc, H);
      ctx.fillStyle = '#2459c4';
      ctx.fillRect(xc - 1, 0, 2, H);
    }
    // the window the timeline shows
    const t0 = this.view.t0;
    const t1 = t0 + this.view.plotWidth / this.view.scale;
    const x0 = GUTTER + Math.max(0, t0 / extent) * plotW;
    const x1 = GUTTER + Math.min(1, t1 / extent) * plotW;
    ctx.fillStyle = 'rgba(36, 89, 196, 0.12)';
    ctx.fillRect(x0, 0, Math.max(2, x1 - x0), H);
    ctx.strokeStyle = '#2459c4';
    ctx.lineWidth = 2;
    ctx.strokeRect(x0 + 1, 1, Math.max(2, x1 - x0 - 2), H - 2);
    ctx.fillStyle = '#5f6b7a';
    ctx.font = '10px system-ui, sans-serif';
    ctx.textAlign = 'right';
    ctx.fillText(formatTime(extent), cssW - 4, 8);
    ctx.textAlign = 'left';
  }
}
