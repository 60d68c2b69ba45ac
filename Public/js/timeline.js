// The canvas timeline: one lane per actor, grouped by process; spans on three tracks (work,
// blocking waits, locks), instants, flow arrows, counter step charts, deadlock marks. Wheel zooms
// around the cursor, drag pans, hover shows the event, click selects it. Several timelines can
// share one TimeView (compare mode) so they keep one time axis.

import { TRACK, upperBound, lowerBound } from './model.js';
import { spanStyles, instantFamily, addShape, paintShapes } from './styles.js';

export const GUTTER = 190;
const AXIS_H = 24;
const GROUP_H = 18;
const COUNTER_H = 40;
// Lane geometry: y offsets inside a lane. Runs with many actors (spawn-cost starts 200) get
// compact lanes so the whole run still fits on a screen or two.
const ROOMY = { laneH: 42, instantY: 7, r: 4, trackY: [13, 24, 32], trackH: [10, 7, 9], compact: false };
const COMPACT = { laneH: 22, instantY: 5, r: 3, trackY: [9, 14, 17], trackH: [5, 3, 4], compact: true };
const COMPACT_ABOVE = 24; // lanes

export function formatTime(us) {
  const a = Math.abs(us);
  if (a >= 1e6) return `${(us / 1e6).toFixed(a >= 1e7 ? 1 : 2)} s`;
  if (a >= 1e3) return `${(us / 1e3).toFixed(a >= 1e5 ? 0 : a >= 1e4 ? 1 : 2)} ms`;
  return `${Math.round(us)} µs`;
}

function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/** The visible time window, shared by every timeline drawn on the same axis. */
export class TimeView {
  constructor() {
    this.t0 = 0;          // µs at the left edge of the plot
    this.scale = 0.1;     // px per µs
    this.follow = true;   // keep the newest events in view while a run is live
    this.timelines = new Set();
    this.listeners = new Set();
    this.plotWidth = 800;
  }
  extent() {
    let max = 0;
    for (const tl of this.timelines) if (tl.model) max = Math.max(max, tl.model.duration());
    return Math.max(max, 1000);
  }
  fit() {
    const span = this.extent();
    this.scale = this.plotWidth / (span * 1.04);
    this.t0 = -span * 0.02;
    this.changed();
  }
  zoomAt(px, factor) {
    const t = this.t0 + px / this.scale;
    const minScale = this.plotWidth / (this.extent() * 8);
    this.scale = Math.min(200, Math.max(minScale, this.scale * factor));
    this.t0 = t - px / this.scale;
    this.changed();
  }
  panBy(dx) {
    this.t0 -= dx / this.scale;
    this.changed();
  }
  setFollow(on) {
    this.follow = on;
    if (on) this.fit(); else this.changed();
  }
  changed() {
    for (const tl of this.timelines) tl.invalidate();
    for (const fn of this.listeners) fn(this);
  }
}

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
    this.metrics = { frames: [], lastDrawMs: 0, renderedEvents: 0 };
    this.dpr = window.devicePixelRatio || 1;
    view.timelines.add(this);
    this.installInput();
    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
  }

  setModel(model) {
    this.model = model;
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
      const gap = Math.max(this.metrics.lastDrawMs * 3, this.loadingInterval);
      const wait = this.urgent ? 0 : this.lastDrawEnd + gap - performance.now();
      if (wait > 4) {
        this.timer = setTimeout(() => { this.timer = null; requestAnimationFrame(run); }, wait);
        return;
      }
      if (!this.pending) return; // superseded by an urgent request
      this.pending = false;
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

  layout() {
    const m = this.model;
    this.g = m && m.lanes.size > COMPACT_ABOVE ? COMPACT : ROOMY;
    this.rows = [];
    let y = AXIS_H;
    if (m) {
      for (const g of m.orderedGroups()) {
        this.rows.push({ type: 'group', group: g, y, h: GROUP_H });
        y += GROUP_H;
        for (const lane of g.lanes) {
          lane.y = y;
          this.rows.push({ type: 'lane', lane, y, h: this.g.laneH });
          y += this.g.laneH;
        }
      }
      if (m.counters.size) {
        this.rows.push({ type: 'caption', text: 'counters', y, h: GROUP_H });
        y += GROUP_H;
      }
      for (const c of m.counters.values()) {
        this.rows.push({ type: 'counter', counter: c, y, h: COUNTER_H });
        y += COUNTER_H;
      }
    }
    this.height = Math.max(y + 8, 160);
    this.layoutVersion = m ? m.layoutVersion : -1;
  }

  draw() {
    const t0perf = performance.now();
    const m = this.model;
    if (m && this.layoutVersion !== m.layoutVersion) this.layout();
    if (!m) this.layout();
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
      const span = this.view.extent();
      this.view.scale = this.view.plotWidth / (span * 1.04);
      this.view.t0 = -span * 0.02;
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

    // rows: backgrounds and content, clipped to the plot
    ctx.save();
    ctx.beginPath();
    ctx.rect(GUTTER, 0, plotW, cssH);
    ctx.clip();
    this.drawGrid(ctx, t0, t1, scale, cssH);
    const styles = spanStyles(ctx);
    let laneParity = 0;
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
        this.drawSpans(ctx, lane, row.y, t0, t1, tMax, X, styles);
        this.drawInstants(ctx, lane, row.y, t0, t1, tMax, X, scale);
      } else if (row.type === 'group' || row.type === 'caption') {
        ctx.fillStyle = '#e9edf2';
        ctx.fillRect(GUTTER, row.y, plotW, row.h);
      } else if (row.type === 'counter') {
        this.drawCounter(ctx, row, t0, t1, tMax, X);
      }
    }
    this.drawFlows(ctx, t0, t1, tMax, X);
    this.drawMarks(ctx, tMax, X, cssH);
    ctx.restore();

    this.drawGutter(ctx, cssH, tMax);
    this.drawAxis(ctx, t0, t1, scale, cssW);
    this.finishDraw(t0perf, m.countUpTo(limit));
  }

  finishDraw(t0perf, rendered) {
    const ms = performance.now() - t0perf;
    this.metrics.lastDrawMs = ms;
    this.metrics.frames.push(ms);
    if (this.metrics.frames.length > 240) this.metrics.frames.shift();
    this.metrics.renderedEvents = rendered;
    this.onDrawn(rendered, this);
  }

  drawGrid(ctx, t0, t1, scale, h) {
    const step = niceStep(100 / scale);
    ctx.fillStyle = '#eef0f3';
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      ctx.fillRect(Math.round(GUTTER + (t - t0) * scale), AXIS_H, 1, h - AXIS_H);
    }
  }

  drawAxis(ctx, t0, t1, scale, w) {
    ctx.fillStyle = '#16202c';
    ctx.fillRect(0, 0, w, AXIS_H);
    ctx.fillStyle = '#fff';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.fillText(this.limit == null ? 'time since run start' : `replay ${formatTime(this.limit)}`, 8, AXIS_H / 2);
    const step = niceStep(100 / scale);
    ctx.save();
    ctx.beginPath(); ctx.rect(GUTTER, 0, w - GUTTER, AXIS_H); ctx.clip();
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const x = Math.round(GUTTER + (t - t0) * scale);
      ctx.fillRect(x, AXIS_H - 6, 1, 6);
      ctx.fillText(formatTime(t), x + 3, AXIS_H / 2 - 1);
    }
    ctx.restore();
  }

  drawSpans(ctx, lane, y, t0, t1, tMax, X, styles) {
    const hi = Math.min(t1, tMax);
    for (let track = 0; track < 3; track++) {
      const spans = lane.tracks[track];
      if (!spans.length) continue;
      const from = lowerBound(spans, t0 - reach(lane, track, tMax) - 1, (s) => s.start);
      const to = upperBound(spans, hi, (s) => s.start);
      // Spans narrower than 2 px (thousands of them when zoomed out) are merged, per style,
      // into runs of touching pixels and filled once per run: same picture, far fewer fills.
      const runs = new Map(); // style key -> {x0, x1, s}
      const flush = (key) => {
        const r = runs.get(key);
        if (r) { this.paintSliverRun(ctx, r.s, r.x0, r.x1 - r.x0, y, styles); runs.delete(key); }
      };
      for (let i = from; i < to; i++) {
        const s = spans[i];
        const end = s.end == null || s.end > tMax ? tMax : s.end;
        if (end < t0) continue;
        const x0 = X(s.start);
        const x1 = X(end);
        const w = x1 - x0;
        if (w < 2 && !s.depth) {
          const contended = s.contended && s.contendedAt <= tMax;
          const key = contended ? 'hold-c' : s.kind;
          const r = runs.get(key);
          const right = x0 + Math.max(w, 1);
          if (r && x0 <= r.x1 + 1) { if (right > r.x1) r.x1 = right; continue; }
          flush(key);
          runs.set(key, { x0, x1: right, s: contended === !!s.contended ? s : { ...s, contended } });
          continue;
        }
        const open = s.end == null || s.end > tMax || s.cutOff;
        if (s.contended && s.contendedAt > s.start && w >= 2) {
          // Tracy-style: green while nobody waits, yellow from the moment someone does
          const xc = Math.min(x1, X(s.contendedAt));
          this.paintSpan(ctx, { ...s, contended: false }, x0, Math.max(xc - x0, 1), y, styles, false);
          if (s.contendedAt <= tMax) this.paintSpan(ctx, s, xc, Math.max(x1 - xc, 1), y, styles, open);
        } else {
          this.paintSpan(ctx, s.contended && s.contendedAt > tMax ? { ...s, contended: false } : s,
            x0, Math.max(w, 1), y, styles, open);
        }
      }
      for (const key of [...runs.keys()]) flush(key);
    }
  }

  /** A run of merged slivers: solid colour of the span's style, no outline, no label. */
  paintSliverRun(ctx, s, x, w, y, styles) {
    const top = y + this.g.trackY[s.track];
    const h = Math.max(2, this.g.trackH[s.track]);
    let style = styles[s.kind] || styles.generic;
    if (s.kind === 'lock-hold' && s.contended) style = styles['lock-hold-contended'];
    ctx.fillStyle = style.solid || style.fill;
    ctx.fillRect(x, top, Math.max(w, 1), h);
  }

  paintSpan(ctx, s, x, w, y, styles, open) {
    const track = s.track;
    const inset = Math.min(s.depth || 0, 3) * 2;
    const inset2 = this.g.compact ? Math.min(inset, 1) : inset;
    const top = y + this.g.trackY[track] + inset2;
    const h = Math.max(2, this.g.trackH[track] - inset2 * 2);
    let style = styles[s.kind] || styles.generic;
    if (s.kind === 'lock-hold' && s.contended) style = styles['lock-hold-contended'];
    // patterns cost a lot to rasterize and cannot be seen on a sliver: solid colour below 3 px
    let fill = w < 3 && style.solid ? style.solid : style.fill;
    if (style.alt && typeof s.task === 'number' && s.task % 2) fill = style.alt;
    ctx.fillStyle = fill;
    ctx.fillRect(x, top, w, h);
    if (w > 4) {
      ctx.strokeStyle = s.kind === 'lock-wait' ? '#7a0b0b' : 'rgba(0,0,0,0.25)';
      ctx.lineWidth = s.kind === 'lock-wait' ? 1.5 : 1;
      ctx.strokeRect(x + 0.5, top + 0.5, w - 1, h - 1);
    }
    if (open && w > 6) { // still going: a ragged right edge
      ctx.fillStyle = '#16202c';
      ctx.fillRect(x + w - 2, top, 2, h);
    }
    if (w > 36 && h >= 7) {
      ctx.fillStyle = style.text || '#fff';
      ctx.font = `${h >= 9 ? 9 : 8}px system-ui, sans-serif`;
      ctx.textBaseline = 'middle';
      const label = s.kind === 'lock-wait' ? `WAIT ${s.lock ?? ''}` : s.label;
      const maxChars = Math.floor((w - 6) / 5);
      ctx.fillText(label.length > maxChars ? label.slice(0, maxChars) : label, x + 3, top + h / 2 + 0.5);
    }
  }

  drawInstants(ctx, lane, y, t0, t1, tMax, X, scale) {
    const list = lane.instants;
    if (!list.length) return;
    const ev = this.model.events;
    const pad = 8 / scale;
    const from = lowerBound(list, t0 - pad, (i) => ev[i].ts);
    const to = upperBound(list, Math.min(t1 + pad, tMax), (i) => ev[i].ts);
    // Collect x positions per family (one per 3 px column), then fill each family as one path.
    const byFamily = new Map(); // family -> {last, xs}
    for (let k = from; k < to; k++) {
      const e = ev[list[k]];
      const fam = instantFamily(String(e.type));
      const x = X(e.ts);
      const col = Math.round(x / 3);
      let b = byFamily.get(fam);
      if (!b) { b = { last: null, xs: [] }; byFamily.set(fam, b); }
      if (b.last === col) continue;
      b.last = col;
      b.xs.push(x);
    }
    const cy = y + this.g.instantY;
    for (const [fam, b] of byFamily) {
      ctx.fillStyle = fam.color;
      ctx.strokeStyle = fam.color;
      ctx.beginPath();
      for (const x of b.xs) addShape(ctx, fam.shape, x, cy, this.g.r);
      paintShapes(ctx, fam.shape);
    }
  }

  drawCounter(ctx, row, t0, t1, tMax, X) {
    const c = row.counter;
    const { y, h } = row;
    ctx.fillStyle = '#fbfcfd';
    ctx.fillRect(GUTTER, y, this.view.plotWidth, h);
    ctx.fillStyle = '#e3e7ec';
    ctx.fillRect(GUTTER, y + h - 1, this.view.plotWidth, 1);
    const pts = c.points;
    if (!pts.length) return;
    const lo = Math.min(0, c.min);
    const range = Math.max(1e-9, c.max - lo);
    const Y = (v) => y + h - 4 - ((v - lo) / range) * (h - 10);
    let i = Math.max(0, upperBound(pts, t0, (p) => p[0]) - 1);
    const end = upperBound(pts, Math.min(t1, tMax), (p) => p[0]);
    if (pts[i][0] > tMax) return;
    ctx.beginPath();
    let px = X(pts[i][0]);
    let py = Y(pts[i][1]);
    ctx.moveTo(Math.max(px, GUTTER - 2), Y(lo));
    ctx.lineTo(Math.max(px, GUTTER - 2), py);
    // One vertical stroke per pixel column: the column's min and max, ending at its last value.
    let col = null; let lo2 = 0; let hi2 = 0;
    for (i = i + 1; i < end; i++) {
      const x = X(pts[i][0]);
      const yy = Y(pts[i][1]);
      const c2 = Math.round(x);
      if (c2 !== col) {
        if (col !== null) { ctx.lineTo(px, lo2); ctx.lineTo(px, hi2); ctx.lineTo(px, py); }
        ctx.lineTo(x, py);
        col = c2; lo2 = Math.min(py, yy); hi2 = Math.max(py, yy);
      } else {
        if (yy < lo2) lo2 = yy;
        if (yy > hi2) hi2 = yy;
      }
      px = x; py = yy;
    }
    if (col !== null) { ctx.lineTo(px, lo2); ctx.lineTo(px, hi2); ctx.lineTo(px, py); }
    const xe = X(Math.min(t1, tMax));
    ctx.lineTo(xe, py);
    ctx.lineTo(xe, Y(lo));
    ctx.closePath();
    ctx.fillStyle = 'rgba(36, 89, 196, 0.18)';
    ctx.fill();
    ctx.strokeStyle = '#2459c4';
    ctx.lineWidth = 1.25;
    ctx.stroke();
  }

  drawFlows(ctx, t0, t1, tMax, X) {
    const m = this.model;
    const ev = m.events;
    const flows = m.flows;
    if (!flows.length) return;
    let visible = 0;
    const lines = [];
    for (let k = 0; k < flows.length; k++) {
      const a = ev[flows[k].a];
      const b = ev[flows[k].b];
      if (b.ts > tMax) continue;
      if (b.ts < t0 || a.ts > t1) continue;
      lines.push(flows[k]);
      visible++;
    }
    // Thousands of arrows are noise and cost a frame: above 800, draw an even sample of them.
    if (lines.length > 800) {
      const step = lines.length / 800;
      const sample = [];
      for (let k = 0; k < 800; k++) sample.push(lines[Math.floor(k * step)]);
      lines.length = 0;
      lines.push(...sample);
    }
    const dense = visible > 600;
    ctx.strokeStyle = dense ? 'rgba(40, 50, 70, 0.25)' : 'rgba(40, 50, 70, 0.7)';
    ctx.fillStyle = 'rgba(40, 50, 70, 0.8)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const f of lines) {
      const a = ev[f.a]; const b = ev[f.b];
      const la = m.lanes.get(String(a.lane ?? '?'));
      const lb = m.lanes.get(String(b.lane ?? '?'));
      if (!la || !lb || la.y == null || lb.y == null) continue;
      const xa = X(a.ts); const ya = la.y + this.g.instantY;
      const xb = X(b.ts); const yb = lb.y + this.g.instantY;
      ctx.moveTo(xa, ya);
      if (dense) ctx.lineTo(xb, yb);
      else if (la === lb) ctx.quadraticCurveTo((xa + xb) / 2, ya - 8, xb, yb);
      else ctx.bezierCurveTo(xa + 12, ya, xb - 12, yb, xb, yb);
    }
    ctx.stroke();
    if (!dense) {
      for (const f of lines) {
        const a = ev[f.a]; const b = ev[f.b];
        const la = m.lanes.get(String(a.lane ?? '?'));
        const lb = m.lanes.get(String(b.lane ?? '?'));
        if (!la || !lb || la === lb) continue;
        const xb = X(b.ts); const yb = lb.y + this.g.instantY;
        const dir = yb > la.y ? -1 : 1;
        ctx.beginPath();
        ctx.moveTo(xb, yb);
        ctx.lineTo(xb - 4, yb + dir * 6);
        ctx.lineTo(xb + 3, yb + dir * 5);
        ctx.closePath();
        ctx.fill();
      }
    }
  }

  drawMarks(ctx, tMax, X, h) {
    const m = this.model;
    ctx.font = 'bold 11px system-ui, sans-serif';
    ctx.textBaseline = 'top';
    for (const d of m.deadlocks) {
      if (d.ts > tMax) continue;
      const x = X(d.ts);
      ctx.fillStyle = '#c0262d';
      ctx.setLineDash([5, 3]);
      ctx.strokeStyle = '#c0262d';
      ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(x, AXIS_H); ctx.lineTo(x, h); ctx.stroke();
      ctx.setLineDash([]);
      ctx.fillText('DEADLOCK', x + 4, AXIS_H + 3);
    }
    if (this.selected >= 0 && this.selected < m.events.length) {
      const e = m.events[this.selected];
      const lane = m.lanes.get(String(e.lane ?? '?'));
      const x = X(e.ts);
      ctx.fillStyle = 'rgba(255, 176, 0, 0.35)';
      ctx.fillRect(x - 1, AXIS_H, 3, h - AXIS_H);
      if (lane && lane.y != null) {
        ctx.strokeStyle = '#d48a00';
        ctx.lineWidth = 2.5;
        ctx.beginPath(); ctx.arc(x, lane.y + this.g.laneH / 2, this.g.compact ? 8 : 11, 0, Math.PI * 2); ctx.stroke();
      }
    }
    if (this.limit != null) {
      const x = X(Math.min(this.limit, m.maxTs));
      ctx.fillStyle = '#2459c4';
      ctx.fillRect(x - 1, AXIS_H, 2, h - AXIS_H);
    }
  }

  drawGutter(ctx, h, tMax) {
    ctx.fillStyle = '#f3f5f8';
    ctx.fillRect(0, 0, GUTTER, h);
    ctx.fillStyle = '#d8dde4';
    ctx.fillRect(GUTTER - 1, 0, 1, h);
    ctx.textBaseline = 'middle';
    for (const row of this.rows) {
      if (row.type === 'group') {
        const g = row.group;
        ctx.fillStyle = '#dfe5ec';
        ctx.fillRect(0, row.y, GUTTER - 1, row.h);
        ctx.fillStyle = '#16202c';
        ctx.font = 'bold 11px system-ui, sans-serif';
        const main = g.lanes.some((l) => l.kind === 'main' || l.name === 'main');
        ctx.fillText(`process pid ${g.pid}${main ? ' (server)' : ''}`, 6, row.y + row.h / 2);
      } else if (row.type === 'caption') {
        ctx.fillStyle = '#dfe5ec';
        ctx.fillRect(0, row.y, GUTTER - 1, row.h);
        ctx.fillStyle = '#16202c';
        ctx.font = 'bold 11px system-ui, sans-serif';
        ctx.fillText(row.text, 6, row.y + row.h / 2);
      } else if (row.type === 'lane') {
        const lane = row.lane;
        const stuck = lane.deadlocked && lane.deadlockTs <= tMax;
        if (stuck) {
          ctx.fillStyle = '#c0262d';
          ctx.fillRect(0, row.y, 5, row.h);
        }
        ctx.fillStyle = stuck ? '#a01010' : '#16202c';
        ctx.font = `${stuck ? 'bold ' : ''}12px system-ui, sans-serif`;
        if (this.g.compact) ctx.font = `${stuck ? 'bold ' : ''}10px system-ui, sans-serif`;
        ctx.fillText(truncate(ctx, lane.name, GUTTER - 16), 10, row.y + (this.g.compact ? row.h / 2 : 14));
        if (!this.g.compact) {
          ctx.fillStyle = '#5f6b7a';
          ctx.font = '10px system-ui, sans-serif';
          const bits = [lane.kind || 'actor'];
          if (lane.tid != null) bits.push(`tid ${lane.tid}`);
          if (stuck) bits.push('DEADLOCKED');
          ctx.fillText(bits.join(' · '), 10, row.y + 29);
        }
        ctx.fillStyle = '#eceff3';
        ctx.fillRect(0, row.y + row.h - 1, GUTTER - 1, 1);
      } else if (row.type === 'counter') {
        const c = row.counter;
        ctx.fillStyle = '#16202c';
        ctx.font = '11px system-ui, sans-serif';
        ctx.fillText(truncate(ctx, c.name, GUTTER - 16), 10, row.y + 12);
        const k = upperBound(c.points, tMax, (p) => p[0]) - 1;
        ctx.fillStyle = '#5f6b7a';
        ctx.font = '10px system-ui, sans-serif';
        ctx.fillText(`now ${k >= 0 ? c.points[k][1] : '–'} · max ${c.max}`, 10, row.y + 27);
      }
    }
  }

  // ---- hit testing & input ------------------------------------------------------------------

  /** Where an event is drawn, in canvas CSS pixels (for tests and for keyboard focus). */
  positionOf(index) {
    const ev = this.model?.events[index];
    const lane = ev && this.model.lanes.get(String(ev.lane ?? '?'));
    if (!ev || !lane || lane.y == null) return null;
    return { x: GUTTER + (ev.ts - this.view.t0) * this.view.scale, y: lane.y + this.g.instantY };
  }

  /** The event (index) under a canvas point, or a span, or null. */
  hit(x, y) {
    const m = this.model;
    if (!m || x < GUTTER) return null;
    const t = this.view.t0 + (x - GUTTER) / this.view.scale;
    const tMax = this.limit == null ? m.maxTs : Math.min(this.limit, m.maxTs);
    const row = this.rows.find((r) => y >= r.y && y < r.y + r.h);
    if (!row) return null;
    if (row.type === 'counter') {
      const pts = row.counter.points;
      const k = upperBound(pts, Math.min(t, tMax), (p) => p[0]) - 1;
      return k >= 0 ? { index: pts[k][2] } : null;
    }
    if (row.type !== 'lane') return null;
    const lane = row.lane;
    const dy = y - row.y;
    const ev = m.events;
    // instants first (within 6 px)
    const pad = 6 / this.view.scale;
    const list = lane.instants;
    if (dy < this.g.trackY[0] + 2) {
      const from = lowerBound(list, t - pad, (i) => ev[i].ts);
      let best = null; let bestD = Infinity;
      for (let k = from; k < list.length && ev[list[k]].ts <= t + pad; k++) {
        if (ev[list[k]].ts > tMax) break;
        const d = Math.abs(ev[list[k]].ts - t);
        if (d < bestD) { bestD = d; best = list[k]; }
      }
      if (best != null) return { index: best };
    }
    let track = TRACK.TASK;
    if (dy >= this.g.trackY[2]) track = TRACK.LOCK; else if (dy >= this.g.trackY[1]) track = TRACK.BLOCK;
    const spans = lane.tracks[track];
    const from = lowerBound(spans, t - reach(lane, track, tMax) - 1, (s) => s.start);
    const to = upperBound(spans, Math.min(t + pad, tMax), (s) => s.start);
    let found = null;
    for (let i = from; i < to; i++) {
      const s = spans[i];
      const end = s.end == null || s.end > tMax ? tMax : s.end;
      if (s.start - pad <= t && t <= end + pad) found = s; // innermost (latest) wins
    }
    if (found) return { index: found.a, span: found };
    return null;
  }

  installInput() {
    const c = this.canvas;
    let drag = null;
    const pos = (e) => { const r = c.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
    c.addEventListener('wheel', (e) => {
      if (!this.model) return;
      e.preventDefault();
      const [x] = pos(e);
      if (Math.abs(e.deltaX) > Math.abs(e.deltaY) || e.shiftKey) {
        this.view.follow = false;
        this.view.panBy(-(e.shiftKey ? e.deltaY : e.deltaX));
      } else {
        this.view.follow = false;
        const unit = e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 400 : 1;
        this.view.zoomAt(Math.max(0, x - GUTTER), Math.exp(-e.deltaY * unit * 0.0015));
      }
    }, { passive: false });
    c.addEventListener('mousedown', (e) => {
      if (e.button !== 0) return;
      const [x, y] = pos(e);
      drag = { x, y, moved: false };
    });
    window.addEventListener('mousemove', (e) => {
      if (drag) {
        const [x] = pos(e);
        const dx = x - drag.x;
        if (Math.abs(dx) > 2 || drag.moved) {
          drag.moved = true;
          drag.x = x;
          this.view.follow = false;
          this.view.panBy(dx);
        }
      }
    });
    window.addEventListener('mouseup', (e) => {
      if (drag && !drag.moved && e.target === c) {
        const [x, y] = pos(e);
        const h = this.hit(x, y);
        if (h) this.onSelect(h.index, 'timeline');
      }
      drag = null;
    });
    c.addEventListener('mousemove', (e) => {
      if (drag?.moved || !this.tooltip) return;
      const [x, y] = pos(e);
      const h = this.hit(x, y);
      this.showTooltip(h, x, y);
    });
    c.addEventListener('mouseleave', () => this.showTooltip(null));
    c.addEventListener('dblclick', () => this.view.setFollow(true));
    c.addEventListener('keydown', (e) => {
      if (!this.model) return;
      const w = this.view.plotWidth;
      let handled = true;
      switch (e.key) {
        case 'ArrowLeft': this.view.follow = false; this.view.panBy(w * 0.15); break;
        case 'ArrowRight': this.view.follow = false; this.view.panBy(-w * 0.15); break;
        case '+': case '=': case 'ArrowUp': this.view.follow = false; this.view.zoomAt(w / 2, 1.4); break;
        case '-': case '_': case 'ArrowDown': this.view.follow = false; this.view.zoomAt(w / 2, 1 / 1.4); break;
        case '0': case 'Home': this.view.fit(); break;
        case 'f': case 'F': this.view.setFollow(!this.view.follow); break;
        case 'n': case ']': this.step(1); break;
        case 'p': case '[': this.step(-1); break;
        default: handled = false;
      }
      if (handled) e.preventDefault();
    });
  }

  /** Keyboard exploration: select the next / previous event (within the replay cursor). */
  step(dir) {
    const m = this.model;
    const last = m.countUpTo(this.limit) - 1;
    if (last < 0) return;
    let i = this.selected < 0 ? (dir > 0 ? 0 : last) : this.selected + dir;
    i = Math.max(0, Math.min(last, i));
    this.onSelect(i, 'keyboard');
    this.reveal(i);
    const p = this.positionOf(i);
    if (p) this.showTooltip({ index: i }, p.x, p.y);
  }

  showTooltip(h, x, y) {
    const tip = this.tooltip;
    if (!tip) return;
    if (!h) { tip.hidden = true; return; }
    const ev = this.model.events[h.index];
    const lines = [];
    if (h.span) {
      const s = h.span;
      const end = s.end == null ? null : s.end;
      const what = { 'lock-wait': 'waiting for lock', 'lock-hold': s.contended ? 'holding lock (others waiting)' : 'holding lock',
        'io': 'blocked in IO / sleep', 'task': 'running', 'sem-wait': 'waiting for a semaphore permit',
        'event-wait': 'waiting for an event', 'cond-wait': 'waiting on a condition',
        'barrier-wait': 'waiting at a barrier', 'queue-wait': 'blocked on a queue', 'generic': 'span' }[s.kind] || s.kind;
      lines.push(`${what}: ${s.lock ?? s.label}`);
      lines.push(`${formatTime(s.start)} → ${end == null ? 'still going' : formatTime(end)}${end == null ? '' : ` (${formatTime(end - s.start)})`}`);
      if (s.timedOut) lines.push('timed out');
      if (s.cutOff) lines.push('never finished: cut off when its lane ended');
    }
    lines.push(describeEvent(ev));
    tip.textContent = lines.join('\n');
    tip.hidden = false;
    const wrap = this.canvas.parentElement;
    const left = Math.min(x + 14, wrap.clientWidth - 300);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${y + 14}px`;
  }

  toPNG() {
    return new Promise((resolve) => this.canvas.toBlob(resolve, 'image/png'));
  }
}

/** The longest a span on this track can reach back in time: closed spans, and open ones up to tMax. */
function reach(lane, track, tMax) {
  let r = lane.maxDur[track];
  for (const s of lane.openSpans) if (s.track === track && tMax - s.start > r) r = tMax - s.start;
  return r;
}

export function describeEvent(ev) {
  const out = [];
  for (const [k, v] of Object.entries(ev)) {
    out.push(`${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`);
  }
  return out.join('\n');
}

function truncate(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let s = text;
  while (s.length > 1 && ctx.measureText(`${s}…`).width > width) s = s.slice(0, -1);
  return `${s}…`;
}
