// Draw layers of the timeline: spans on the three lane tracks, instants, counters, flows, the
// marks above everything (deadlock line, selection, replay cursor) and the gutter of labels.

import { upperBound, lowerBound } from '../model.js';
import { GUTTER, AXIS_H } from './layout.js';
import { PointIndex } from '../model/spans.js';
import { instantFamily, addShape, paintShapes } from '../styles.js';

// Up to this many spans (or instants, or counter points) in view, each is drawn one by one;
// beyond it, the zoomed-out paths draw per pixel column (model/spans.js, binary searches).
// Spans cost most (fill, outline, label): their paths switch earliest.
const DIRECT_MAX = 1500;
// More markers of one family than this in a lane: stamped from a pre-drawn bitmap, not as paths.
const SPRITE_MIN = 48;
const SPANS_DIRECT_MAX = 500;

export class LayersMixin {
  drawSpans(ctx, lane, y, t0, t1, tMax, X, styles) {
    this.paintPlan(ctx, this.planSpans(ctx, lane, y, t0, t1, tMax, X, styles, null), y, t0, tMax, X, styles);
  }

  /**
   * The first half of drawing a lane's spans: where a track has too many spans in view to draw
   * one by one, its slivers come from the coverage bins of this zoom (model/spans.js), painted
   * into `raster` (a BinRaster: pixels, composited once for every lane) or, without one, as runs
   * of fills. Returns what is left to paint one by one on top (paintPlan): the spans at least 4
   * bins wide and the open ones, or every span in view when there are few.
   */
  planSpans(ctx, lane, y, t0, t1, tMax, X, styles, raster) {
    const hi = Math.min(t1, tMax);
    const plan = [];
    for (let track = 0; track < 3; track++) {
      const spans = lane.tracks[track];
      if (!spans.length) continue;
      const from = lowerBound(spans, t0 - reach(lane, track, tMax) - 1, (s) => s.start);
      const to = upperBound(spans, hi, (s) => s.start);
      if (to - from <= SPANS_DIRECT_MAX) { // a few hundred: each one, exactly
        const keep = raster && this.rasterSlivers(raster, spans, from, to, null, y, track, t0, tMax, X, styles);
        plan.push(keep ? [spans, 0, keep.length, keep] : [spans, from, to, null]);
        continue;
      }
      const index = lane.spanIndex[track];
      const level = index && index.level(this.view.scale, this.model.maxTs);
      const minDur = level ? 4 * level.w : 0;
      const positions = index ? index.overlapping(t0, hi, minDur) : [];
      let picked = positions;
      if (level) {
        const top = y + this.g.trackY[track];
        const h = Math.max(2, this.g.trackH[track]);
        if (!raster || !raster.paint(index, level, top, h, t0, hi, styles)) this.paintBins(ctx, index, level, top, h, t0, hi, X, styles);
        picked = positions.filter((i) => spans[i].end - spans[i].start >= minDur || spans[i].end > tMax);
      }
      let added = false;
      for (const s of lane.openSpans) if (s.track === track && s.start <= hi) { picked.push(s.i); added = true; }
      if (added) picked.sort((a, b) => a - b);
      const keep = raster && this.rasterSlivers(raster, spans, 0, picked.length, picked, y, track, t0, tMax, X, styles);
      if (keep) picked = keep;
      plan.push([spans, 0, picked.length, picked]);
    }
    return plan;
  }

  /**
   * The spans [from, to) of a track (or the listed positions) narrower than 2 px go to the
   * raster, merged per style into runs of touching pixels as paintSpans would merge them;
   * returns the positions of the others, to paint one by one (null: the raster cannot).
   */
  rasterSlivers(raster, spans, from, to, positions, y, track, t0, tMax, X, styles) {
    const keep = [];
    const runs = [];      // x0, x1, bit …
    const open = new Map(); // style key -> its run's place in runs
    const keys = [];
    for (let k = from; k < to; k++) {
      const i = positions ? positions[k] : k;
      const s = spans[i];
      const end = s.end == null || s.end > tMax ? tMax : s.end;
      if (end < t0) continue;
      const x0 = X(s.start);
      const w = X(end) - x0;
      if (w >= 2 || s.depth) { keep.push(i); continue; }
      const key = s.contended && s.contendedAt <= tMax && s.kind === 'lock-hold' ? 'lock-hold-contended' : s.kind;
      const right = x0 + Math.max(w, 1);
      const at = open.get(key);
      if (at !== undefined && x0 <= runs[at + 1] + 1) { if (right > runs[at + 1]) runs[at + 1] = right; continue; }
      let bit = keys.indexOf(key);
      if (bit < 0) { if (keys.length >= 8) return null; bit = keys.length; keys.push(key); }
      open.set(key, runs.length);
      runs.push(x0, right, 1 << bit);
    }
    const top = y + this.g.trackY[track];
    return raster.slivers(runs, keys, top, Math.max(2, this.g.trackH[track]), styles) ? keep : null;
  }

  /** The second half: the spans planSpans left to paint one by one. */
  paintPlan(ctx, plan, y, t0, tMax, X, styles) {
    for (const [spans, from, to, positions] of plan) this.paintSpans(ctx, spans, from, to, positions, y, t0, tMax, X, styles);
  }

  /** Runs of coverage bins, one fill per run and style: the slivers of a zoomed-out track. */
  paintBins(ctx, index, level, top, h, t0, hi, X, styles) {
    const { w, bins } = level;
    const b0 = Math.max(0, Math.floor(t0 / w));
    const b1 = Math.min(bins.length - 1, Math.floor(hi / w));
    const xMax = X(hi);
    for (let bit = 0; bit < index.slotKeys.length; bit++) {
      const mask = 1 << bit;
      const style = styles[index.slotKeys[bit]] || styles.generic;
      ctx.fillStyle = style.solid || style.fill;
      let run = -1;
      for (let b = b0; b <= b1 + 1; b++) {
        if (b <= b1 && (bins[b] & mask)) { if (run < 0) run = b; continue; }
        if (run < 0) continue;
        const xa = X(run * w);
        const xb = Math.min(X(b * w), xMax + 1);
        if (xb > xa) ctx.fillRect(xa, top, Math.max(1, xb - xa), h);
        run = -1;
      }
    }
  }

  /** Spans [from, to) of a track (or the listed positions), in start order; slivers merged. */
  paintSpans(ctx, spans, from, to, positions, y, t0, tMax, X, styles) {
    // Spans narrower than 2 px are merged, per style, into runs of touching pixels and filled
    // once per run: same picture, far fewer fills.
    const runs = new Map(); // style key -> {x0, x1, s}
    const flush = (key) => {
      const r = runs.get(key);
      if (r) { this.paintSliverRun(ctx, r.s, r.x0, r.x1 - r.x0, y, styles); runs.delete(key); }
    };
    for (let k = from; k < to; k++) {
      const s = spans[positions ? positions[k] : k];
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
    // patterns cost a lot to rasterize and cannot be seen on a span narrower than their 8 px
    // tile: solid colour below 6 px
    let fill = w < 6 && style.solid ? style.solid : style.fill;
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

  drawInstants(ctx, lane, y, t0, t1, tMax, X, scale, raster = null) {
    const list = lane.instants;
    if (!list.length) return;
    const m = this.model;
    const ts = m.tsCol;
    const pad = 8 / scale;
    const hiT = Math.min(t1 + pad, tMax);
    const from = m.lowerIndex(list, t0 - pad);
    const to = m.upperIndex(list, hiT, from);
    // Collect x positions per family (one per 3 px column), then fill each family as one path.
    const byFamily = new Map(); // family -> {last, xs}
    const many = to - from > DIRECT_MAX;
    if (!many && lane.instantsByType.size > 1 && to - from > 64) {
      // a few hundred: per event type (its family looked up once, no event object read), the
      // first instant of each 3 px column
      for (const [type, tl] of lane.instantsByType) {
        const fam = instantFamily(String(type));
        if (fam.shape === 'none') continue;
        let b = byFamily.get(fam);
        if (!b) { b = { cols: new Set(), xs: [] }; byFamily.set(fam, b); }
        for (let k = m.lowerIndex(tl, t0 - pad); k < tl.length && ts[tl[k]] <= hiT; k++) {
          const x = X(ts[tl[k]]);
          const col = Math.round(x / 3);
          if (!b.cols.has(col)) { b.cols.add(col); b.xs.push(x); }
        }
      }
    } else if (!many) {
      for (let k = from; k < to; k++) {
        const fam = instantFamily(m.typeOf(list[k]));
        if (fam.shape === 'none') continue; // drawn by a registered track (tracks/lesson.js)
        const x = X(ts[list[k]]);
        const col = Math.round(x / 3);
        let b = byFamily.get(fam);
        if (!b) { b = { last: null, xs: [] }; byFamily.set(fam, b); }
        if (b.last === col) continue;
        b.last = col;
        b.xs.push(x);
      }
    } else {
      // Many: per event type, a marker per 3 px column that has any, from presence bins at most
      // a pixel wide (model/spans.js); columns with markers before the view are not visited.
      const lo = Math.max(t0 - pad, 0);
      for (const [type, tl] of lane.instantsByType) {
        const fam = instantFamily(String(type));
        if (fam.shape === 'none') continue;
        let b = byFamily.get(fam);
        if (!b) { b = { cols: new Set(), xs: [] }; byFamily.set(fam, b); }
        b.cols ??= new Set();
        const index = (lane.instantIndex ??= new Map()).get(type) || new PointIndex(tl);
        lane.instantIndex.set(type, index);
        const level = index.level(ts, scale, m.maxTs);
        if (!level) { // zoomed in past the bins: walk the instants in view
          for (let k = m.lowerIndex(tl, t0 - pad); k < tl.length && ts[tl[k]] <= hiT; k++) {
            const x = X(ts[tl[k]]);
            const col = Math.round(x / 3);
            if (!b.cols.has(col)) { b.cols.add(col); b.xs.push(x); }
          }
          continue;
        }
        const { w, bins } = level;
        const b1 = Math.min(bins.length - 1, Math.floor(hiT / w));
        for (let bin = Math.floor(lo / w); bin <= b1; bin++) {
          if (!bins[bin]) continue;
          const x = X(Math.max(bin * w, lo));
          const col = Math.round(x / 3);
          if (!b.cols.has(col)) { b.cols.add(col); b.xs.push(x); }
        }
      }
    }
    const cy = y + this.g.instantY;
    const r = this.g.r;
    for (const [fam, b] of byFamily) {
      ctx.fillStyle = fam.color;
      ctx.strokeStyle = fam.color;
      let xs = b.xs;
      if ((many && xs.length > 64) || xs.length > 150) {
        // Dense: markers 3 px apart overlap into a band anyway. Each run of touching markers
        // becomes a band (one fill, cheap to raster) with the shape at both ends; the rest
        // keep their shape.
        xs.sort((p, q) => p - q);
        const single = [];
        ctx.globalAlpha = 0.85;
        let k = 0;
        while (k < xs.length) {
          let e = k;
          while (e + 1 < xs.length && xs[e + 1] - xs[e] <= 3.5) e++;
          if (e - k >= 2) {
            if (raster) raster.blendRect(xs[k], cy - r + 1, xs[e] - xs[k], 2 * r - 2, raster.color(fam.color), 0.85);
            else ctx.fillRect(xs[k], cy - r + 1, xs[e] - xs[k], 2 * r - 2);
            single.push(xs[k], xs[e]);
          } else for (let q = k; q <= e; q++) single.push(xs[q]);
          k = e + 1;
        }
        ctx.globalAlpha = 1;
        xs = single;
      }
      if (raster && xs.length > SPRITE_MIN) { // many: stamped as pixels (BinRaster), far cheaper than paths
        const sp = markerSprite(fam, r, this.dpr);
        for (const x of xs) raster.stamp(sp, x - sp.half, cy - sp.half);
        continue;
      }
      ctx.beginPath();
      for (const x of xs) addShape(ctx, fam.shape, x, cy, r);
      paintShapes(ctx, fam.shape);
    }
  }

  /**
   * The y range of a counter chart. A last value far above everything before it (the untraced
   * rounds of race-condition landing at once) would flatten the traced part into a line: then
   * the scale follows the earlier values and the last one is drawn clipped, with its number.
   * In compare mode the timelines share one scale per counter name (this.counterScale).
   */
  counterRange(c) {
    const lo = Math.min(0, c.min, c.expMin ?? 0);
    let hi = Math.max(c.max, c.expMax ?? -Infinity);
    let clipped = false;
    const n = c.points.length;
    if (n >= 4) {
      // the largest value before the last one (kept per counter: the points only ever grow)
      const ne = c.expected ? c.expected.length : 0;
      let b = c.beforeLast;
      if (!b || b.n !== n || b.ne !== ne) {
        let before = -Infinity;
        const tree = minMaxTree(c.points);
        before = rangeMinMax(tree, 0, n - 1).qmax;
        for (const e of c.expected || []) if (e[0] < c.points[n - 1][0] && e[1] > before) before = e[1];
        b = c.beforeLast = { n, ne, before };
      }
      const before = b.before;
      if (before > lo && c.points[n - 1][1] - lo > 3 * (before - lo)) { hi = before; clipped = true; }
    }
    const shared = this.counterScale?.(c.name);
    if (shared != null && !clipped && shared > hi) hi = shared;
    return { lo, hi: Math.max(hi, lo + 1e-9), clipped };
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
    const { lo, hi, clipped } = this.counterRange(c);
    const top = y + 6;
    const bottom = y + h - 4;
    const Y = (v) => Math.max(top - 3, bottom - ((v - lo) / (hi - lo)) * (bottom - top));
    let i = Math.max(0, upperBound(pts, t0, (p) => p[0]) - 1);
    const end = upperBound(pts, Math.min(t1, tMax), (p) => p[0]);
    if (pts[i][0] > tMax) return;
    if (c.expected && c.expected.length) this.drawExpected(ctx, c, Y, t0, t1, tMax, X);
    ctx.beginPath();
    let px = X(pts[i][0]);
    let py = Y(pts[i][1]);
    ctx.moveTo(Math.max(px, GUTTER - 2), Y(lo));
    ctx.lineTo(Math.max(px, GUTTER - 2), py);
    // One vertical stroke per pixel column: the column's min and max, ending at its last value.
    if (end - i > DIRECT_MAX) {
      // Many points: jump a column at a time; its min and max come from a min/max tree.
      const tree = minMaxTree(pts);
      const tsArr = tree.ts;
      const T = this.frame.T;
      i += 1;
      while (i < end) {
        const x = X(tsArr[i]);
        const col = Math.round(x);
        // the last point of this column
        const edge = T(col + 0.5);
        let lo = i + 1; let hi = end;
        while (lo < hi) { const mid = (lo + hi) >> 1; if (tsArr[mid] <= edge) lo = mid + 1; else hi = mid; }
        const j = lo - 1;
        rangeMinMax(tree, i, j + 1);
        ctx.lineTo(x, py);
        const xj = X(tsArr[j]);
        const yj = Y(tree.min[tree.n + j]);
        ctx.lineTo(xj, Math.min(py, Y(tree.qmax)));
        ctx.lineTo(xj, Math.max(py, Y(tree.qmin)));
        ctx.lineTo(xj, yj);
        px = xj; py = yj;
        i = j + 1;
      }
    } else {
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
    }
    const xe = X(Math.min(t1, tMax));
    ctx.lineTo(xe, py);
    ctx.lineTo(xe, Y(lo));
    ctx.closePath();
    ctx.fillStyle = 'rgba(36, 89, 196, 0.18)';
    ctx.fill();
    ctx.strokeStyle = '#2459c4';
    ctx.lineWidth = 1.25;
    ctx.stroke();
    const last = pts[pts.length - 1];
    if (clipped && last[0] <= tMax && last[0] >= t0 && last[0] <= t1) {
      // the clipped last value: a break mark and its number
      const x = X(last[0]);
      ctx.fillStyle = '#fbfcfd';
      ctx.fillRect(x + 1, top + 4, Math.max(6, xe - x), 3);
      ctx.fillStyle = '#16202c';
      ctx.font = 'bold 10px system-ui, sans-serif';
      ctx.textBaseline = 'top';
      const label = `↑ ${last[1].toLocaleString()} (off scale)`;
      const w = ctx.measureText(label).width;
      ctx.fillText(label, Math.min(x + 4, GUTTER + this.view.plotWidth - w - 4), y + 1);
    }
  }

  /** The expected value beside the actual one: a dashed step line, the gap between them shaded. */
  drawExpected(ctx, c, Y, t0, t1, tMax, X) {
    const ex = c.expected;
    let i = Math.max(0, upperBound(ex, t0, (p) => p[0]) - 1);
    const end = upperBound(ex, Math.min(t1, tMax), (p) => p[0]);
    if (ex[i][0] > tMax) return;
    const path = [];
    const T = this.frame.T;
    while (i < end) { // the last point of each pixel column
      const col = Math.round(X(ex[i][0]));
      const j = Math.max(i, Math.min(end, upperBound(ex, T(col + 0.5), (p) => p[0])) - 1);
      path.push([X(ex[j][0]), Y(ex[j][1]), ex[j][0]]);
      i = j + 1;
    }
    const xe = X(Math.min(t1, tMax));
    ctx.beginPath();
    ctx.moveTo(Math.max(path[0][0], GUTTER - 2), path[0][1]);
    for (let k = 1; k < path.length; k++) { ctx.lineTo(path[k][0], path[k - 1][1]); ctx.lineTo(path[k][0], path[k][1]); }
    ctx.lineTo(xe, path[path.length - 1][1]);
    ctx.strokeStyle = '#7a8594';
    ctx.lineWidth = 1.25;
    ctx.setLineDash([4, 3]);
    ctx.stroke();
    ctx.setLineDash([]);
    // shade expected minus actual (the lost updates) in red, column by column
    const pts = c.points;
    ctx.fillStyle = 'rgba(192, 38, 45, 0.18)';
    for (let k = 0; k < path.length; k++) {
      const xa = path[k][0];
      const xb = k + 1 < path.length ? path[k + 1][0] : xe;
      const j = upperBound(pts, path[k][2], (p) => p[0]) - 1;
      if (j < 0) continue;
      const ya = Y(pts[j][1]);
      if (ya > path[k][1] + 0.5) ctx.fillRect(xa, path[k][1], Math.max(1, xb - xa), ya - path[k][1]);
    }
  }

  drawFlows(ctx, t0, t1, tMax, X) {
    const m = this.model;
    const flows = m.flows;
    if (!flows.length) return;
    const ts = m.tsCol;
    // Flows are in the order of their ends: those that may show end in [t0, t1 + the longest flow].
    const bEnd = Math.min(tMax, t1 + m.flowMaxDur);
    let from = 0; let to = flows.length;
    while (from < to) { const mid = (from + to) >> 1; if (ts[flows[mid].b] < t0) from = mid + 1; else to = mid; }
    to = flows.length;
    let lo = from;
    while (lo < to) { const mid = (lo + to) >> 1; if (ts[flows[mid].b] <= bEnd) lo = mid + 1; else to = mid; }
    // Thousands of arrows are noise and cost a frame: look at an even sample of the candidates
    // (at most 4,000), and draw at most 800 of those that show.
    const stride = Math.max(1, (to - from) / 4000);
    const lines = [];
    for (let q = from; q < to; q += stride) {
      const f = flows[Math.floor(q)];
      if (ts[f.a] > t1) continue;
      lines.push(f);
    }
    const visible = lines.length * stride;
    const dense = visible > 600;
    // dense: faint straight lines, 400 of them show the traffic as well as 800 (and raster in half the time)
    const most = dense ? 400 : 800;
    if (lines.length > most) {
      const step = lines.length / most;
      const sample = [];
      for (let k = 0; k < most; k++) sample.push(lines[Math.floor(k * step)]);
      lines.length = 0;
      lines.push(...sample);
    }
    ctx.strokeStyle = dense ? 'rgba(40, 50, 70, 0.25)' : 'rgba(40, 50, 70, 0.7)';
    ctx.fillStyle = 'rgba(40, 50, 70, 0.8)';
    ctx.lineWidth = 1;
    ctx.beginPath();
    for (const f of lines) {
      const la = m.laneOf(f.a);
      const lb = m.laneOf(f.b);
      if (!la || !lb || la.y == null || lb.y == null) continue;
      const xa = X(ts[f.a]); const ya = la.y + this.g.instantY;
      const xb = X(ts[f.b]); const yb = lb.y + this.g.instantY;
      ctx.moveTo(xa, ya);
      if (dense) ctx.lineTo(xb, yb);
      else if (la === lb) ctx.quadraticCurveTo((xa + xb) / 2, ya - 8, xb, yb);
      else ctx.bezierCurveTo(xa + 12, ya, xb - 12, yb, xb, yb);
    }
    ctx.stroke();
    if (!dense) { // the arrowheads: one path, one fill
      ctx.beginPath();
      for (const f of lines) {
        const la = m.laneOf(f.a);
        const lb = m.laneOf(f.b);
        if (!la || !lb || la === lb || la.y == null || lb.y == null) continue;
        const xb = X(ts[f.b]); const yb = lb.y + this.g.instantY;
        const dir = yb > la.y ? -1 : 1;
        ctx.moveTo(xb, yb);
        ctx.lineTo(xb - 4, yb + dir * 6);
        ctx.lineTo(xb + 3, yb + dir * 5);
        ctx.closePath();
      }
      ctx.fill();
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
      // the label stays inside the plot: on the left of the line when the line is near the right edge
      const w = ctx.measureText('DEADLOCK').width;
      ctx.fillText('DEADLOCK', x + 4 + w > GUTTER + this.view.plotWidth - 2 ? x - 4 - w : x + 4, AXIS_H + 3);
    }
    if (this.selected >= 0 && this.selected < m.count) {
      const lane = m.laneOf(this.selected);
      const x = X(m.tsCol[this.selected]);
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

  /**
   * The gutter of labels changes only with the layout, the replay cursor's effect on deadlocked
   * lanes and counter values: drawn once into a bitmap and copied while those stay the same
   * (text is the slowest thing a frame draws).
   */
  drawGutter(ctx, h, tMax) {
    const parts = [this.rows, h, this.dpr, this.g.compact];
    for (const row of this.rows) {
      if (row.type === 'lane') parts.push(row.lane.deadlocked && row.lane.deadlockTs <= tMax, row.lane.name, row.lane.kind);
      else if (row.type === 'counter') {
        const c = row.counter;
        parts.push(upperBound(c.points, tMax, (p) => p[0]), c.expected ? upperBound(c.expected, tMax, (p) => p[0]) : -1, c.max);
      }
    }
    const cache = this.gutterCache;
    if (!cache || cache.parts.length !== parts.length || cache.parts.some((v, i) => v !== parts[i])) {
      const canvas = cache?.canvas || document.createElement('canvas');
      canvas.width = Math.round(GUTTER * this.dpr);
      canvas.height = Math.round(h * this.dpr);
      const g = canvas.getContext('2d');
      g.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
      this.paintGutter(g, h, tMax);
      this.gutterCache = { parts, canvas };
    }
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.gutterCache.canvas, 0, 0);
    ctx.restore();
  }

  paintGutter(ctx, h, tMax) {
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
      } else if (row.type === 'track') {
        if (row.def.label) {
          ctx.fillStyle = '#16202c';
          ctx.font = '11px system-ui, sans-serif';
          ctx.fillText(truncate(ctx, String(row.def.label), GUTTER - 16), row.lane ? 18 : 10, row.y + Math.min(row.h / 2, 12));
        }
        if (row.def.sublabel && row.h >= 26) {
          ctx.fillStyle = '#5f6b7a';
          ctx.font = '10px system-ui, sans-serif';
          ctx.fillText(truncate(ctx, String(row.def.sublabel), GUTTER - 16), row.lane ? 18 : 10, row.y + 26);
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
        const now = k >= 0 ? c.points[k][1] : null;
        const ke = c.expected ? upperBound(c.expected, tMax, (p) => p[0]) - 1 : -1;
        const exp = ke >= 0 ? c.expected[ke][1] : null;
        ctx.fillText(exp != null && now != null
          ? `now ${now.toLocaleString()} · expected ${exp.toLocaleString()}${exp > now ? ` (${(exp - now).toLocaleString()} lost)` : ''}`
          : `now ${now == null ? '–' : now.toLocaleString()} · max ${c.max.toLocaleString()}`, 10, row.y + 27);
      }
    }
  }

  // ---- hit testing & input ------------------------------------------------------------------

}

/**
 * A min/max tree over a counter's values (bottom-up segment tree, rebuilt when points were
 * added): the min and max of any range of points in O(log n).
 */
function minMaxTree(pts) {
  let t = pts.minMax;
  if (t && t.n === pts.length) return t;
  const n = pts.length;
  const min = new Float64Array(2 * n);
  const max = new Float64Array(2 * n);
  const ts = new Float64Array(n);
  for (let k = 0; k < n; k++) { min[n + k] = pts[k][1]; max[n + k] = pts[k][1]; ts[k] = pts[k][0]; }
  for (let k = n - 1; k > 0; k--) {
    min[k] = Math.min(min[2 * k], min[2 * k + 1]);
    max[k] = Math.max(max[2 * k], max[2 * k + 1]);
  }
  t = { n, min, max, ts, qmin: 0, qmax: 0 };
  Object.defineProperty(pts, 'minMax', { value: t, writable: true, configurable: true });
  return t;
}

/** The min and max of points [l, r): left in tree.qmin and tree.qmax (no allocation per column); returns [min, max]. */
function rangeMinMax(tree, l, r) {
  let mn = Infinity; let mx = -Infinity;
  const { n, min, max } = tree;
  for (l += n, r += n; l < r; l >>= 1, r >>= 1) {
    if (l & 1) { if (min[l] < mn) mn = min[l]; if (max[l] > mx) mx = max[l]; l++; }
    if (r & 1) { r--; if (min[r] < mn) mn = min[r]; if (max[r] > mx) mx = max[r]; }
  }
  tree.qmin = mn; tree.qmax = mx;
  return tree;
}

/** The longest a span on this track can reach back in time: closed spans, and open ones up to tMax. */
export function reach(lane, track, tMax) {
  let r = lane.maxDur[track];
  for (const s of lane.openSpans) if (s.track === track && tMax - s.start > r) r = tMax - s.start;
  return r;
}

const widths = new Map(); // `${font}|${text}` -> width: labels repeat ("W 42", item numbers, "torn")
/** ctx.measureText(text).width in ctx's current font, cached: overlays measure the same labels every frame. */
export function textWidth(ctx, text) {
  const key = `${ctx.font}|${text}`;
  let w = widths.get(key);
  if (w === undefined) {
    w = ctx.measureText(text).width;
    if (widths.size > 5000) widths.clear();
    widths.set(key, w);
  }
  return w;
}

export function truncate(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let s = text;
  while (s.length > 1 && ctx.measureText(`${s}…`).width > width) s = s.slice(0, -1);
  return `${s}…`;
}

/**
 * The zoomed-out slivers of every lane track in one frame, as pixels: for each pixel column the
 * styles whose coverage bins touch it (striped across the track where there are several), and the
 * instant markers of busy lanes (stamped from a pre-drawn bitmap), written into an ImageData and composited with one drawImage. Thousands of
 * small fills a frame cost the canvas far more to record and raster than a few hundred thousand
 * pixel writes.
 */
export class BinRaster {
  constructor() {
    this.canvas = null;
    this.img = null;
    this.px = null;
    this.cols = null;
    this.colors = new Map(); // css colour -> 0xAABBGGRR
    this.y0 = 0; this.y1 = 0;
  }

  /** Start a frame: the plot's left edge and width (css px), the canvas height, dpr, view. */
  begin(left, width, height, dpr, t0, scale) {
    const W = Math.max(1, Math.round(width * dpr)); const H = Math.max(1, Math.round(height * dpr));
    if (!this.img || this.img.width !== W || this.img.height !== H) {
      this.canvas ??= document.createElement('canvas');
      this.canvas.width = W; this.canvas.height = H;
      this.cctx = this.canvas.getContext('2d');
      this.img = new ImageData(W, H);
      this.px = new Uint32Array(this.img.data.buffer);
      this.cols = new Uint8Array(W);
    } else if (this.y1 > this.y0) this.px.fill(0, this.y0 * W, this.y1 * W); // last frame's rows
    this.W = W; this.H = H; this.left = left; this.dpr = dpr; this.t0 = t0; this.k = scale * dpr;
    this.y0 = H; this.y1 = 0;
  }

  color(c) {
    let v = this.colors.get(c);
    if (v === undefined) {
      const probe = (BinRaster.probe ??= document.createElement('canvas').getContext('2d', { willReadFrequently: true }));
      probe.clearRect(0, 0, 1, 1);
      probe.fillStyle = c;
      probe.fillRect(0, 0, 1, 1);
      const [r, g, b, a] = probe.getImageData(0, 0, 1, 1).data;
      v = ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
      this.colors.set(c, v);
    }
    return v;
  }

  /** Colour and stripe rank of each slot (style keys by bit); false when a style has no plain colour. */
  slotsOf(keys, styles) {
    const colors = this.slotColors ??= new Uint32Array(8);
    const ranks = this.slotRanks ??= new Int32Array(8);
    const order = (this.styleOrder ??= new Map());
    for (let bit = 0; bit < keys.length; bit++) {
      const key = keys[bit];
      // stripes in the order the styles are listed (styles.js), the same in every lane
      if (!order.has(key)) order.set(key, Object.keys(styles).indexOf(key) >>> 0);
      ranks[bit] = order.get(key);
      const style = styles[key] || styles.generic;
      const c = style.solid || style.fill;
      if (typeof c !== 'string') return false;
      colors[bit] = this.color(c);
    }
    return true;
  }

  /** One track's bins at this level over [t0, hi], in the rows [top, top + h) (css px); false: cannot (a pattern-only style). */
  paint(index, level, top, h, t0, hi, styles) {
    if (!this.slotsOf(index.slotKeys, styles)) return false;
    const { w, bins } = level;
    const { W, k, cols } = this;
    cols.fill(0);
    const b0 = Math.max(0, Math.floor(t0 / w));
    const b1 = Math.min(bins.length - 1, Math.floor(hi / w));
    const xMax = Math.min(W - 1, Math.floor((hi - this.t0) * k));
    let any = false;
    for (let b = b0; b <= b1; b++) {
      const v = bins[b];
      if (!v) continue;
      let p0 = Math.floor((b * w - this.t0) * k);
      let p1 = Math.ceil(((b + 1) * w - this.t0) * k) - 1;
      if (p0 < 0) p0 = 0;
      if (p1 > xMax) p1 = xMax;
      if (p1 < p0) { if (p0 > xMax) continue; p1 = p0; }
      for (let p = p0; p <= p1; p++) cols[p] |= v;
      any = true;
    }
    if (any) this.writeCols(top, h);
    return true;
  }

  /**
   * Spans narrower than 2 px, one track's worth: runs [x0, x1) in css px of the canvas with the
   * style key of each (slots: keys by bit, at most 8), painted like the bins.
   */
  slivers(runs, keys, top, h, styles) {
    if (!runs.length) return true;
    if (!this.slotsOf(keys, styles)) return false;
    const { W, cols, dpr, left } = this;
    cols.fill(0);
    for (let q = 0; q < runs.length; q += 3) {
      let p0 = Math.floor((runs[q] - left) * dpr);
      let p1 = Math.ceil((runs[q + 1] - left) * dpr) - 1;
      if (p0 < 0) p0 = 0;
      if (p1 >= W) p1 = W - 1;
      if (p1 < p0) { if (p0 >= W) continue; p1 = p0; }
      const bit = runs[q + 2];
      for (let p = p0; p <= p1; p++) cols[p] |= bit;
    }
    this.writeCols(top, h);
    return true;
  }

  /** The columns' styles (this.cols, bits of this.slotColors) into the rows [top, top + h). */
  writeCols(top, h) {
    const { W, cols, px } = this;
    const colors = this.slotColors; const ranks = this.slotRanks;
    const r0 = Math.max(0, Math.round(top * this.dpr));
    const r1 = Math.min(this.H, Math.max(r0 + 1, Math.round((top + h) * this.dpr)));
    if (r0 >= r1) return;
    // a column with several styles is striped across the track's height, one stripe each in
    // the order styles.js lists them (red waits among yellow contended holds stay red and yellow)
    const h2 = r1 - r0;
    const stripes = (this.stripes ??= new Map());
    stripes.clear();
    for (let p = 0; p < W; p++) {
      const v = cols[p];
      if (!v) continue;
      if ((v & (v - 1)) === 0) { // one style: the whole column
        const c = colors[31 - Math.clz32(v)];
        for (let i = r0 * W + p; i < r1 * W; i += W) px[i] = c;
        continue;
      }
      let list = stripes.get(v);
      if (!list) {
        const bits = [];
        for (let bit = 0; bit < 8; bit++) if (v & (1 << bit)) bits.push(bit);
        bits.sort((a, b) => ranks[a] - ranks[b]);
        for (let q = 0; q < bits.length; q++) bits[q] = colors[bits[q]];
        list = Uint32Array.from({ length: h2 }, (_, r) => bits[Math.min(bits.length - 1, Math.floor((r * bits.length) / h2))]);
        stripes.set(v, list);
      }
      for (let r = 0, i = r0 * W + p; r < h2; r++, i += W) px[i] = list[r];
    }
    if (r0 < this.y0) this.y0 = r0;
    if (r1 > this.y1) this.y1 = r1;
  }

  /** Blend an unpremultiplied colour (0xAABBGGRR) of this opacity over pixel i. */
  blend(i, c, alpha) {
    const px = this.px;
    const sa = ((c >>> 24) / 255) * alpha;
    const d = px[i];
    const da = (d >>> 24) / 255;
    if (sa >= 1 || da === 0) { px[i] = ((Math.round(sa * 255) << 24) | (c & 0xffffff)) >>> 0; return; }
    const oa = sa + da * (1 - sa);
    const f = (sh) => Math.round((((c >>> sh) & 255) * sa + ((d >>> sh) & 255) * da * (1 - sa)) / oa);
    px[i] = ((Math.round(oa * 255) << 24) | (f(16) << 16) | (f(8) << 8) | f(0)) >>> 0;
  }

  /** A marker sprite (markerSprite) with its top-left corner at (x, y), css px of the canvas. */
  stamp(sp, x, y) {
    const { W, H } = this;
    const X0 = Math.round((x - this.left) * this.dpr);
    const Y0 = Math.round(y * this.dpr);
    const sw = sp.w;
    const { at, px } = sp;
    for (let k = 0; k < at.length; k++) {
      const j = (at[k] / sw) | 0;
      const X = X0 + at[k] - j * sw; const Y = Y0 + j;
      if (X < 0 || X >= W || Y < 0 || Y >= H) continue;
      const i = Y * W + X;
      const c = px[k];
      if ((c >>> 24) === 255 || (this.px[i] >>> 24) === 0) this.px[i] = c; else this.blend(i, c, 1);
    }
    const y1 = Y0 + Math.ceil(sp.size * this.dpr);
    if (Y0 < this.y0) this.y0 = Math.max(0, Y0);
    if (y1 > this.y1) this.y1 = Math.min(H, y1);
  }

  /** A rectangle (css px of the canvas) of a colour at this opacity. */
  blendRect(x, y, w, h, c, alpha) {
    const { W, H, dpr } = this;
    const x0 = Math.max(0, Math.round((x - this.left) * dpr)); const x1 = Math.min(W, Math.round((x + w - this.left) * dpr));
    const r0 = Math.max(0, Math.round(y * dpr)); const r1 = Math.min(H, Math.round((y + h) * dpr));
    if (x1 <= x0 || r1 <= r0) return;
    for (let r = r0; r < r1; r++) for (let i = r * W + x0, e = r * W + x1; i < e; i++) this.blend(i, c, alpha);
    if (r0 < this.y0) this.y0 = r0;
    if (r1 > this.y1) this.y1 = r1;
  }

  /** Composite what was painted onto ctx (device pixels; ctx's clip applies). */
  finish(ctx) {
    if (this.y1 <= this.y0) return;
    const h = this.y1 - this.y0;
    this.cctx.putImageData(this.img, 0, 0, 0, this.y0, this.W, h);
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.canvas, 0, this.y0, this.W, h, Math.round(this.left * this.dpr), this.y0, this.W, h);
    ctx.restore();
  }
}

const sprites = new Map(); // `${shape}|${color}|${r}|${dpr}` -> {canvas, size, half}
/** An instant marker drawn once into a small canvas (at the device's pixel ratio), to stamp. */
function markerSprite(fam, r, dpr) {
  const key = `${fam.shape}|${fam.color}|${r}|${dpr}`;
  let sp = sprites.get(key);
  if (!sp) {
    const half = r + 4; // room for the largest shape (r + 2) and its stroke
    const size = 2 * half;
    const canvas = document.createElement('canvas');
    canvas.width = Math.ceil(size * dpr);
    canvas.height = Math.ceil(size * dpr);
    const g = canvas.getContext('2d', { willReadFrequently: true });
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.fillStyle = fam.color;
    g.strokeStyle = fam.color;
    g.beginPath();
    addShape(g, fam.shape, half, half, r);
    paintShapes(g, fam.shape);
    // its pixels, unpremultiplied RGBA as one number each, and where they are (the others are empty)
    const data = new Uint32Array(g.getImageData(0, 0, canvas.width, canvas.height).data.buffer.slice(0));
    const at = []; const px = [];
    for (let i = 0; i < data.length; i++) if (data[i] >>> 24) { at.push(i); px.push(data[i]); }
    sp = { canvas, size: canvas.width / dpr, half, w: canvas.width, at: Int32Array.from(at), px: Uint32Array.from(px) };
    if (sprites.size > 200) sprites.clear();
    sprites.set(key, sp);
  }
  return sp;
}
