// Row layout: the axis, then extra rows registered in tracks/index.js (placement 'top'), then
// each process's group header and its lanes (each lane followed by its registered lane rows),
// the counters, and the 'bottom' rows. Geometry constants live here.

import { tracksFor } from '../tracks/index.js';

export const GUTTER = 190;
export const AXIS_H = 24;
export const GROUP_H = 18;
export const COUNTER_H = 46;
// Lane geometry: y offsets inside a lane. Runs with many actors (spawn-cost starts 200) get
// compact lanes so the whole run still fits on a screen or two.
export const ROOMY = { laneH: 42, instantY: 7, r: 4, trackY: [13, 24, 32], trackH: [10, 7, 9], compact: false };
export const COMPACT = { laneH: 22, instantY: 5, r: 3, trackY: [9, 14, 17], trackH: [5, 3, 4], compact: true };
const COMPACT_ABOVE = 24; // lanes

function trackRows(rows, y, list, model, lane) {
  for (const t of list) {
    let made = [];
    try { made = (lane ? t.laneRows(model, lane) : t.rows(model)) || []; } catch (err) { console.warn(`track ${t.id}:`, err); }
    for (const r of made) {
      const h = Math.max(1, Number(r.height) || 16);
      rows.push({ type: 'track', track: t, def: r, lane, y, h });
      y += h;
    }
  }
  return y;
}

export class LayoutMixin {
  layout() {
    const m = this.model;
    this.g = m && m.lanes.size > COMPACT_ABOVE ? COMPACT : ROOMY;
    this.rows = [];
    let y = AXIS_H;
    if (m) {
      y = trackRows(this.rows, y, tracksFor('top', 'rows'), m, null);
      const perLane = tracksFor('lane', 'laneRows');
      for (const g of m.orderedGroups()) {
        this.rows.push({ type: 'group', group: g, y, h: GROUP_H });
        y += GROUP_H;
        for (const lane of g.lanes) {
          lane.y = y;
          this.rows.push({ type: 'lane', lane, y, h: this.g.laneH });
          y += this.g.laneH;
          if (perLane.length) y = trackRows(this.rows, y, perLane, m, lane);
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
      y = trackRows(this.rows, y, tracksFor('bottom', 'rows'), m, null);
    }
    this.height = Math.max(y + 8, 160);
    this.layoutVersion = m ? m.layoutVersion : -1;
  }
}
