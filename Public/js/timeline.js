// The canvas timeline: one lane per actor, grouped by process; spans on three tracks (work,
// blocking waits, locks), instants, flow arrows, counter step charts, deadlock marks, and the
// extra rows and overlays modules register in tracks/index.js. Wheel zooms around the cursor,
// drag pans, hover shows the event, click selects it. Several timelines can share one TimeView
// (compare mode) so they keep one time axis.
//
// Split by concern: timeline/axis.js (TimeView, time axis), timeline/layout.js (rows),
// timeline/layers.js (draw layers), timeline/input.js (hit-testing, input, tooltip).

import { spanStyles } from './styles.js';
import { TimeView, formatTime, AxisLayer } from './timeline/axis.js';
import { GUTTER, AXIS_H, ROOMY, LayoutMixin } from './timeline/layout.js';
import { LayersMixin, BinRaster } from './timeline/layers.js';
import { InputMixin, describeEvent } from './timeline/input.js';
import { allTracks, tracksVersion } from './tracks/index.js';

export { TimeView, formatTime, GUTTER, describeEvent };

export class Timeline {
  constructor(canvas, view, { onSelect = () => {}, onDrawn = () => {}, tooltip = null } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.view = view;
    this.model = null;
    this.onSelect = onSelect;
    this.onDrawn = onDrawn;
    this.tooltip = tooltip;
    this.limit = null;           // replay cursor (µs) or null for everything
    this.selected = -1;          // selected event index
    this.rows = [];
    this.g = ROOMY;
    this.layoutVersion = -1;
    this.pending = false;
    this.urgent = false;
    this.lastDrawEnd = 0;
    this.timer = null;
    this.loadingInterval = 0;   // least ms between progress draws while events pour in
    this.progressDraws = 0;     // progress draws of the run on screen so far
    this.metrics = { frames: [], lastDrawMs: 0, renderedEvents: 0 };
    this.dpr = window.devicePixelRatio || 1;
    view.timelines.add(this);
    this.installInput();
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
  }

  setModel(model) {
    this.model = model;
    this.progressDraws = 0;
    this.selected = -1;
    this.limit = null;
    this.layoutVersion = -1;
    this.invalidate();
  }

  setLimit(t) { this.limit = t; this.invalidate(); }
  select(index) { this.selected = index; this.invalidate(); }

  /** Center the view on an event (keeping the zoom unless it is very far out). */
  reveal(index) {
    const ev = this.model?.events[index];
    if (!ev) return;
    const w = this.view.plotWidth / this.view.scale;
    if (ev.ts < this.view.t0 || ev.ts > this.view.t0 + w) {
      this.view.follow = false;
      this.view.t0 = ev.ts - w / 2;
      this.view.changed();
    }
  }

  /**
   * Ask for a redraw on the next frame. While events pour in (a big recorded run arriving in
   * many chunks), draws are spaced by a few times the cost of the last one, so drawing never
   * starves loading; user interaction (urgent) always draws on the next frame.
   */
  invalidate(urgent = true) {
    if (urgent) {
      this.urgent = true;
      if (this.timer) { // a progress draw is waiting: draw on the next frame instead
        clearTimeout(this.timer);
        this.timer = null;
        this.pending = false;
      }
    }
    if (this.pending) return;
    this.pending = true;
    const run = () => {
      // while loading, progress draws take at most a tenth of the time, and come further apart
      // the longer the load takes (1, 2, 4, 8 s …: a run that loads in a second or two is not
      // drawn again and again); live runs, a quarter of the time
      const gap = this.loadingInterval
        ? Math.max(this.metrics.lastDrawMs * 9, this.loadingInterval * 2 ** Math.min(this.progressDraws, 4))
        : this.metrics.lastDrawMs * 3;
      const wait = this.urgent ? 0 : this.lastDrawEnd + gap - performance.now();
      if (wait > 4) {
        this.timer = setTimeout(() => { this.timer = null; requestAnimationFrame(run); }, wait);
        return;
      }
      if (!this.pending) return; // superseded by an urgent request
      this.pending = false;
      if (!this.urgent && this.loadingInterval) this.progressDraws++;
      this.urgent = false;
      this.draw();
      this.lastDrawEnd = performance.now();
    };
    requestAnimationFrame(run);
  }

  resize() {
    const w = this.canvas.parentElement.clientWidth;
    if (w > 0 && Math.abs(w - this.view.plotWidth - GUTTER) > 0.5) {
      const oldW = this.view.plotWidth;
      this.view.plotWidth = Math.max(100, w - GUTTER);
      if (this.view.follow) this.view.fit();
      else if (oldW > 0) this.view.changed();
    }
    this.invalidate();
  }

  draw() {
    const t0perf = performance.now();
    const m = this.model;
    if (!m || this.layoutVersion !== m.layoutVersion || this.tracksVersion !== tracksVersion()) {
      this.layout();
      this.tracksVersion = tracksVersion();
    }
    const cssW = this.canvas.parentElement.clientWidth || 800;
    const cssH = this.height;
    if (this.canvas.width !== Math.round(cssW * this.dpr) || this.canvas.height !== Math.round(cssH * this.dpr)) {
      this.canvas.width = Math.round(cssW * this.dpr);
      this.canvas.height = Math.round(cssH * this.dpr);
      this.canvas.style.height = `${cssH}px`;
    }
    if (this.view.plotWidth !== cssW - GUTTER) {
      this.view.plotWidth = Math.max(100, cssW - GUTTER);
    }
    if (this.view.follow && m) {
      const { scale, t0 } = this.view.fitted();
      this.view.scale = scale;
      this.view.t0 = t0;
    }
    const ctx = this.ctx;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, cssW, cssH);
    if (!m) {
      ctx.fillStyle = '#5f6b7a';
      ctx.font = '13px system-ui, sans-serif';
      ctx.fillText('No run yet: choose an experiment and press Run, or open a run.', 16, 60);
      this.finishDraw(t0perf, 0);
      return;
    }
    const { t0, scale } = this.view;
    const plotW = this.view.plotWidth;
    const t1 = t0 + plotW / scale;
    const limit = this.limit;
    const tMax = limit == null ? m.maxTs : Math.min(limit, m.maxTs);
    const X = (t) => GUTTER + (t - t0) * scale;
    const frame = this.frame = {
      t0, t1, scale, tMax, X, T: (px) => t0 + (px - GUTTER) / scale, left: GUTTER, width: plotW,
      height: cssH, axisH: AXIS_H, g: this.g, rows: this.rows, limit, timeline: this,
      laneY: (name) => m.lanes.get(String(name))?.y ?? null,
    };

    // rows: backgrounds and content, clipped to the plot
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, 0, plotW, cssH);
    ctx.clip();
    this.drawGrid(ctx, t0, t1, scale, cssH);
    const styles = spanStyles(ctx);
    let laneParity = 0;
    // lanes in two passes: backgrounds, instants and the zoomed-out slivers of every lane (pixels,
    // composited once: timeline/layers.js BinRaster), then the spans drawn one by one on top
    const raster = (this.binRaster ??= new BinRaster());
    raster.begin(GUTTER, plotW, cssH, this.dpr, t0, scale);
    const plans = new Map();
    for (const row of this.rows) {
      if (row.type === 'lane') {
        const lane = row.lane;
        const stuck = lane.deadlocked && lane.deadlockTs <= tMax; // in replay: only once reported
        ctx.fillStyle = stuck ? '#fde3e3' : (laneParity++ % 2 ? '#f7f8fa' : '#ffffff');
        ctx.fillRect(GUTTER, row.y, plotW, row.h);
        // lifetime baseline
        const ls = X(lane.startTs);
        const le = X(lane.endTs != null && lane.endTs <= tMax ? lane.endTs : tMax);
        ctx.fillStyle = '#c9d0d9';
        ctx.fillRect(ls, row.y + this.g.trackY[0] + this.g.trackH[0] / 2 - 0.5, Math.max(1, le - ls), 1);
        plans.set(row, this.planSpans(ctx, lane, row.y, t0, t1, tMax, X, styles, raster));
        // the instants' row is above the tracks: many markers are stamped into the same pixels
        this.drawInstants(ctx, lane, row.y, t0, t1, tMax, X, scale, raster);
      } else if (row.type === 'group' || row.type === 'caption') {
        ctx.fillStyle = '#e9edf2';
        ctx.fillRect(GUTTER, row.y, plotW, row.h);
      }
    }
    raster.finish(ctx);
    for (const row of this.rows) {
      if (row.type === 'lane') {
        this.paintPlan(ctx, plans.get(row), row.y, t0, tMax, X, styles);
      } else if (row.type === 'counter') {
        this.drawCounter(ctx, row, t0, t1, tMax, X);
      } else if (row.type === 'track') {
        guarded(ctx, row.track, () => row.def.draw?.(ctx, frame, m, row));
      }
    }
    this.drawFlows(ctx, t0, t1, tMax, X);
    for (const t of allTracks()) if (t.overlay) guarded(ctx, t, () => t.overlay(ctx, frame, m));
    this.drawMarks(ctx, tMax, X, cssH);
    ctx.restore();

    this.drawGutter(ctx, cssH, tMax);
    this.drawAxis(ctx, t0, t1, scale, cssW);
    this.refreshTooltip();
    this.finishDraw(t0perf, m.countUpTo(limit));
  }

  finishDraw(t0perf, rendered) {
    const ms = performance.now() - t0perf;
    this.metrics.lastDrawMs = ms;
    this.metrics.totalMs = (this.metrics.totalMs || 0) + ms;
    this.metrics.frames.push(ms);
    if (this.metrics.frames.length > 240) this.metrics.frames.shift();
    this.metrics.renderedEvents = rendered;
    this.onDrawn(rendered, this);
  }
}

/** A registered track that throws draws nothing, once reported; the rest of the picture stands. */
function guarded(ctx, track, fn) {
  ctx.save();
  try { fn(); } catch (err) {
    if (!track.failed) { track.failed = true; console.warn(`track ${track.id} failed to draw:`, err); }
  }
  ctx.restore();
}

for (const mixin of [AxisLayer, LayoutMixin, LayersMixin, InputMixin]) {
  for (const name of Object.getOwnPropertyNames(mixin.prototype)) {
    if (name !== 'constructor') Timeline.prototype[name] = mixin.prototype[name];
  }
}
