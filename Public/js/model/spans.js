// An index of one lane track's closed spans, so the timeline draws a frame in time that grows
// with the pixels on screen, not with the spans in the run (a 1,000,000-event run has hundreds of
// thousands of spans, most of them far narrower than a pixel when zoomed out):
//
//  - duration classes: the spans whose duration is at most 2^c µs, by start. The spans that
//    overlap a window are found class by class (start ≥ t0 − 2^c), without walking every span
//    that starts before the window because one long span somewhere reaches back far.
//  - coverage bins (level of detail), built on first need: for bin widths w = 2^j µs, a bitmask
//    per bin of the span styles that touch it, counting only the spans narrower than 4 w. At a
//    zoom where a bin is at most a pixel wide, the bins paint the slivers (runs of bins, one fill
//    each) and the few wider spans are drawn one by one on top, as before.
//
// RunModel.closeSpan keeps it current (model.js); timeline/layers.js reads it.

function classOf(dur) { return dur <= 1 ? 0 : Math.min(62, Math.ceil(Math.log2(dur))); }

/** The finest level whose bins (width 2^j) hold a span of this duration: 4·2^j > dur. */
function homeLevel(dur, jMin) {
  if (!(dur >= 1)) return jMin;
  return Math.max(jMin, Math.floor(Math.log2(dur)) - 1);
}

/** The style a span is painted in (styles.js keys). */
export function styleKey(s) { return s.kind === 'lock-hold' && s.contended ? 'lock-hold-contended' : s.kind; }

export class SpanIndex {
  constructor(spans) {
    this.spans = spans;          // the lane track's spans, in start order (lane.tracks[t])
    this.classes = new Array(63).fill(null); // class -> [position in spans], ascending
    this.closed = 0;
    this.lod = null;             // {jMin, jMax, levels: [{w, bins}], builtFor}
    this.slotKeys = [];          // bit -> style key (at most 8; later ones share the last bit)
    this.slots = new Map();      // style key -> bit
  }

  /** A span of this track closed (RunModel.closeSpan). */
  add(span) {
    const c = classOf(span.end - span.start);
    let list = this.classes[c];
    if (!list) list = this.classes[c] = [];
    const i = span.i;
    if (!list.length || list[list.length - 1] < i) list.push(i);
    else { // a nested span closes before the one around it: keep the class in start order
      let lo = 0; let hi = list.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (list[mid] < i) lo = mid + 1; else hi = mid; }
      list.splice(lo, 0, i);
    }
    this.closed++;
    if (this.lod) this.lod.pending.push(i);
  }

  slotOf(span) {
    const key = styleKey(span);
    let bit = this.slots.get(key);
    if (bit === undefined) {
      bit = Math.min(this.slotKeys.length, 7);
      if (this.slotKeys.length < 8) this.slotKeys.push(key);
      this.slots.set(key, bit);
    }
    return 1 << bit;
  }

  /** Set the span's bit in the bins of its home level (and, unless bulk, of every coarser level). */
  mark(span, bulk) {
    const lod = this.lod;
    const bit = this.slotOf(span);
    const end = span.end;
    const j0 = homeLevel(end - span.start, lod.jMin);
    const last = bulk ? j0 : lod.jMax;
    for (let j = j0; j <= last; j++) {
      const level = lod.levels[j - lod.jMin];
      const w = level.w;
      const b0 = Math.floor(span.start / w);
      const b1 = Math.floor(end / w);
      if (b1 >= level.bins.length) {
        const grown = new Uint8Array(Math.max(b1 + 1, level.bins.length * 2));
        grown.set(level.bins);
        level.bins = grown;
      }
      const bins = level.bins;
      for (let b = Math.max(0, b0); b <= b1; b++) bins[b] |= bit;
    }
  }

  /** Build the bins for a run of this length (µs): finest bins about a quarter of the mean gap between spans. */
  build(extent) {
    const n = this.closed;
    const E = Math.max(1, extent);
    const jMin = Math.floor(Math.log2(Math.max(E / Math.max(n, 1) / 4, 1 / 64)));
    const jMax = Math.max(jMin, Math.ceil(Math.log2(E)));
    const levels = [];
    for (let j = jMin; j <= jMax; j++) {
      const w = 2 ** j;
      levels.push({ w, bins: new Uint8Array(Math.floor(E / w) + 2) });
    }
    this.lod = { jMin, jMax, levels, builtFor: n, pending: [] };
    // each span at its home level, then every level is ORed into the next coarser one
    for (const list of this.classes) if (list) for (const i of list) this.mark(this.spans[i], true);
    for (let k = 1; k < levels.length; k++) {
      const fine = levels[k - 1].bins; const coarse = levels[k].bins;
      const n2 = Math.min(coarse.length, Math.ceil(fine.length / 2));
      for (let b = 0; b < n2; b++) coarse[b] |= fine[2 * b] | (fine[2 * b + 1] || 0);
    }
  }

  /**
   * The bins to draw at this scale (px per µs): the coarsest level whose bins are at most a pixel
   * wide, or null when the view is zoomed in past the finest level (then few spans are visible).
   */
  level(scale, extent) {
    if (!this.closed) return null;
    const lod = this.lod;
    if (!lod || this.closed > 2 * lod.builtFor || lod.pending.length > 256 + lod.builtFor / 8) this.build(extent);
    else if (lod.pending.length) { // spans closed since: into every level they show at
      for (const i of lod.pending) this.mark(this.spans[i], false);
      lod.pending.length = 0;
    }
    const j = Math.min(this.lod.jMax, Math.floor(Math.log2(1 / scale)));
    if (j < this.lod.jMin) return null;
    return this.lod.levels[j - this.lod.jMin];
  }

  /**
   * Positions (ascending) of the closed spans that may overlap [t0, t1] and last at least minDur µs
   * (a span shorter than that may be returned too; the caller filters).
   */
  overlapping(t0, t1, minDur = 0) {
    const spans = this.spans;
    const out = [];
    for (let c = 0; c < this.classes.length; c++) {
      const list = this.classes[c];
      if (!list || 2 ** c < minDur) continue;
      const from = t0 - 2 ** c;
      let lo = 0; let hi = list.length;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (spans[list[mid]].start < from) lo = mid + 1; else hi = mid; }
      for (let k = lo; k < list.length; k++) {
        const s = spans[list[k]];
        if (s.start > t1) break;
        if (s.end >= t0) out.push(list[k]);
      }
    }
    if (out.length > 1) out.sort((a, b) => a - b);
    return out;
  }
}

/**
 * The same idea for instants: presence bins over one lane's instants of one type (event indices
 * in ts order), at bin widths 2^j µs, so a zoomed-out frame places a marker per pixel column that
 * has any, without a binary search per column.
 */
export class PointIndex {
  constructor(list) {
    this.list = list;  // event indices, ts order (grows)
    this.lod = null;   // {jMin, jMax, levels: [{w, bins}], builtFor, done}
  }

  build(ts, extent) {
    const n = this.list.length;
    const E = Math.max(1, extent);
    const jMin = Math.floor(Math.log2(Math.max(E / Math.max(n, 1) / 2, 1 / 64)));
    const jMax = Math.max(jMin, Math.ceil(Math.log2(E)));
    const levels = [];
    for (let j = jMin; j <= jMax; j++) levels.push({ w: 2 ** j, bins: new Uint8Array(Math.floor(E / 2 ** j) + 2) });
    this.lod = { jMin, jMax, levels, builtFor: n, done: 0 };
    const fine = levels[0];
    for (const i of this.list) {
      const b = Math.floor(ts[i] / fine.w);
      if (b >= 0 && b < fine.bins.length) fine.bins[b] = 1;
    }
    for (let k = 1; k < levels.length; k++) {
      const f = levels[k - 1].bins; const c = levels[k].bins;
      const n2 = Math.min(c.length, Math.ceil(f.length / 2));
      for (let b = 0; b < n2; b++) c[b] = f[2 * b] | (f[2 * b + 1] || 0);
    }
    this.lod.done = n;
  }

  /** Presence bins at most `px` pixels wide at this scale, or null when zoomed in past the finest. */
  level(ts, scale, extent, px = 1) {
    const n = this.list.length;
    if (!n) return null;
    let lod = this.lod;
    if (!lod || n > 2 * lod.builtFor || n - lod.done > 256 + lod.builtFor / 8) { this.build(ts, extent); lod = this.lod; }
    for (; lod.done < n; lod.done++) { // instants added since: into every level
      const t = ts[this.list[lod.done]];
      for (const level of lod.levels) {
        const b = Math.floor(t / level.w);
        if (b >= level.bins.length) {
          const grown = new Uint8Array(Math.max(b + 1, level.bins.length * 2));
          grown.set(level.bins);
          level.bins = grown;
        }
        if (b >= 0) level.bins[b] = 1;
      }
    }
    const j = Math.min(lod.jMax, Math.floor(Math.log2(px / scale)));
    if (j < lod.jMin) return null;
    return lod.levels[j - lod.jMin];
  }
}
