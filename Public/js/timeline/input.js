// Hit-testing, mouse and keyboard input, and the tooltip of a timeline.

import { TRACK, upperBound, lowerBound } from '../model.js';
import { GUTTER } from './layout.js';
import { formatTime } from './axis.js';
import { reach } from './layers.js';
import { allTracks } from '../tracks/index.js';

export class InputMixin {
  positionOf(index) {
    const m = this.model;
    if (!m || index == null || !(index >= 0 && index < m.count)) return null;
    const lane = m.laneOf(index);
    if (!lane || lane.y == null) return null;
    return { x: GUTTER + (m.tsCol[index] - this.view.t0) * this.view.scale, y: lane.y + this.g.instantY };
  }

  /** The event (index) under a canvas point, or a span, or null. */
  hit(x, y) {
    const m = this.model;
    if (!m || x < GUTTER) return null;
    const t = this.view.t0 + (x - GUTTER) / this.view.scale;
    const tMax = this.limit == null ? m.maxTs : Math.min(this.limit, m.maxTs);
    for (const tr of allTracks()) {
      if (!tr.hitOverlay) continue;
      try { const h = tr.hitOverlay(x, y, this.frame, m); if (h) return h; } catch { /* a broken track hits nothing */ }
    }
    const row = this.rows.find((r) => y >= r.y && y < r.y + r.h);
    if (!row) return null;
    if (row.type === 'counter') {
      const pts = row.counter.points;
      const k = upperBound(pts, Math.min(t, tMax), (p) => p[0]) - 1;
      return k >= 0 ? { index: pts[k][2] } : null;
    }
    if (row.type === 'track') {
      try { return row.def.hit ? row.def.hit(x, y, this.frame, m, row) || null : null; } catch { return null; }
    }
    if (row.type !== 'lane') return null;
    const lane = row.lane;
    const dy = y - row.y;
    const ts = m.tsCol;
    // instants first (within 6 px)
    const pad = 6 / this.view.scale;
    const list = lane.instants;
    if (dy < this.g.trackY[0] + 2) {
      const from = m.lowerIndex(list, t - pad);
      let best = null; let bestD = Infinity;
      for (let k = from; k < list.length && ts[list[k]] <= t + pad; k++) {
        if (ts[list[k]] > tMax) break;
        const d = Math.abs(ts[list[k]] - t);
        if (d < bestD) { bestD = d; best = list[k]; }
      }
      if (best != null) return { index: best };
    }
    let track = TRACK.TASK;
    if (dy >= this.g.trackY[2]) track = TRACK.LOCK; else if (dy >= this.g.trackY[1]) track = TRACK.BLOCK;
    const spans = lane.tracks[track];
    const from = lowerBound(spans, t - reach(lane, track, tMax) - 1, (s) => s.start);
    const to = upperBound(spans, Math.min(t + pad, tMax), (s) => s.start);
    let positions = null; // many spans start before t (one long one reaches back): ask the index
    if (to - from > 2000 && lane.spanIndex[track]) {
      positions = lane.spanIndex[track].overlapping(t - pad, Math.min(t + pad, tMax));
      for (const s of lane.openSpans) if (s.track === track && s.start <= t + pad) positions.push(s.i);
      positions.sort((a, b) => a - b);
    }
    let found = null;
    for (let k = positions ? 0 : from; k < (positions ? positions.length : to); k++) {
      const s = spans[positions ? positions[k] : k];
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
        if (h && h.index != null) this.onSelect(h.index, 'timeline');
      }
      drag = null;
    });
    c.addEventListener('mousemove', (e) => {
      if (drag?.moved || !this.tooltip) return;
      const [x, y] = pos(e);
      this.tipAnchor = { x, y };
      const h = this.hit(x, y);
      this.showTooltip(h, x, y);
      const hover = h && !h.span ? h.index : null; // an item's both ends light up (tracks/items.js)
      if (hover !== this.hoverIndex) { this.hoverIndex = hover; this.invalidate(); }
    });
    c.addEventListener('mouseleave', () => {
      this.tipAnchor = null;
      this.showTooltip(null);
      if (this.hoverIndex != null) { this.hoverIndex = null; this.invalidate(); }
    });
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
    this.tipAnchor = { index: i };
    if (p) this.showTooltip({ index: i }, p.x, p.y);
  }

  /** After a zoom or pan, the tooltip describes what is now under the pointer (or follows its event). */
  refreshTooltip() {
    const a = this.tipAnchor;
    if (!this.tooltip || this.tooltip.hidden || !a) return;
    if (a.index != null) {
      const p = this.positionOf(a.index);
      if (p && p.x >= GUTTER && p.x <= GUTTER + this.view.plotWidth) this.showTooltip({ index: a.index }, p.x, p.y);
      else this.showTooltip(null);
    } else this.showTooltip(this.hit(a.x, a.y), a.x, a.y);
  }

  showTooltip(h, x, y) {
    const tip = this.tooltip;
    if (!tip) return;
    if (!h) { tip.hidden = true; return; }
    const ev = h.index == null ? null : this.model.events[h.index];
    const lines = [];
    if (h.text) lines.push(h.text);
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
    if (ev) lines.push(describeEvent(ev));
    tip.textContent = lines.join('\n');
    tip.hidden = false;
    const wrap = this.canvas.parentElement;
    const left = Math.min(x + 14, wrap.clientWidth - 300);
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${y + 14}px`;
  }
}

export function describeEvent(ev) {
  const out = [];
  for (const [k, v] of Object.entries(ev)) {
    out.push(`${k}: ${typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`);
  }
  return out.join('\n');
}
