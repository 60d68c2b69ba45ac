// Draw layers of the timeline: spans on the three lane tracks, instants, counters, flows, the
// marks above everything (deadlock line, selection, replay cursor) and the gutter of labels.

import { upperBound, lowerBound } from '../model.js';
import { GUTTER, AXIS_H } from './layout.js';
import { instantFamily, addShape, paintShapes } from '../styles.js';

export class LayersMixin {
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
      if (fam.shape === 'none') continue; // drawn by a registered track (tracks/lesson.js)
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
      let before = -Infinity;
      for (let k = 0; k < n - 1; k++) if (c.points[k][1] > before) before = c.points[k][1];
      for (const e of c.expected || []) if (e[0] < c.points[n - 1][0] && e[1] > before) before = e[1];
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
    let lastCol = null;
    for (; i < end; i++) {
      const x = X(ex[i][0]);
      const col = Math.round(x);
      if (col === lastCol) path[path.length - 1] = [x, Y(ex[i][1]), ex[i][0]];
      else path.push([x, Y(ex[i][1]), ex[i][0]]);
      lastCol = col;
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
      // the label stays inside the plot: on the left of the line when the line is near the right edge
      const w = ctx.measureText('DEADLOCK').width;
      ctx.fillText('DEADLOCK', x + 4 + w > GUTTER + this.view.plotWidth - 2 ? x - 4 - w : x + 4, AXIS_H + 3);
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

/** The longest a span on this track can reach back in time: closed spans, and open ones up to tMax. */
export function reach(lane, track, tMax) {
  let r = lane.maxDur[track];
  for (const s of lane.openSpans) if (s.track === track && tMax - s.start > r) r = tMax - s.start;
  return r;
}

export function truncate(ctx, text, width) {
  if (ctx.measureText(text).width <= width) return text;
  let s = text;
  while (s.length > 1 && ctx.measureText(`${s}…`).width > width) s = s.slice(0, -1);
  return `${s}…`;
}
