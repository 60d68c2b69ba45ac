// What makes a lesson visible on the timeline (issue 9):
//  - phases: a labelled band row under the axis, and faint boundaries across the plot;
//  - shared-state markers: "R 41" / "W 42" pills on the lane; a write that lost another actor's
//    update is red, crossed, and linked by a red arc to the write it overwrote;
//  - insights: numbered callouts pointing at the events they refer to (the "What happened"
//    panel lists the same numbers).

import { registerTrack } from './index.js';
import { lessonOf } from '../model/lesson.js';
import { registerInstantFamily } from '../styles.js';
import { textWidth } from '../timeline/layers.js';

export const INSIGHT_COLORS = {
  problem: '#c0262d', success: '#1f7a3d', order: '#6b3fb0', actor: '#0f7a80', timing: '#b86200', info: '#2459c4',
};
const PHASE_FILLS = ['rgba(36, 89, 196, 0.10)', 'rgba(184, 98, 0, 0.10)', 'rgba(31, 122, 61, 0.10)', 'rgba(107, 63, 176, 0.10)'];
const PHASE_INK = ['#1d4aa6', '#8a4a00', '#17602f', '#56308f'];

// var.* instants are drawn as labelled pills here, not as the generic dot
registerInstantFamily({ match: /^var\.(read|write)$/, shape: 'none', color: '#333', label: '' });
registerInstantFamily({ match: /^(insight|phase\.begin|phase\.end)$/, shape: 'none', color: '#333', label: '' });

function visible(frame, ts) { return ts >= frame.t0 - 50 / frame.scale && ts <= frame.t1 + 50 / frame.scale && ts <= frame.tMax; }

// ---- phases --------------------------------------------------------------------------------
function drawPhaseRow(ctx, frame, m, row) {
  const L = lessonOf(m);
  ctx.fillStyle = '#f6f7f9';
  ctx.fillRect(frame.left, row.y, frame.width, row.h);
  ctx.font = '10px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  L.phases.forEach((p, i) => {
    if (p.start > frame.tMax) return;
    const end = p.end == null || p.end > frame.tMax ? frame.tMax : p.end;
    const x0 = frame.X(p.start);
    const x1 = Math.max(frame.X(end), x0 + 2);
    if (x1 < frame.left || x0 > frame.left + frame.width) return;
    const inset = Math.min(p.depth, 2) * 3;
    ctx.fillStyle = PHASE_FILLS[i % PHASE_FILLS.length].replace('0.10', '0.28');
    ctx.fillRect(x0, row.y + 1 + inset, x1 - x0, row.h - 2 - inset * 2);
    ctx.fillStyle = PHASE_INK[i % PHASE_INK.length];
    ctx.fillRect(x0, row.y + 1, 2, row.h - 2);
    const left = Math.max(x0, frame.left) + 4;
    const room = Math.min(x1, frame.left + frame.width) - left - 2;
    if (room > 14) {
      let label = p.name;
      while (label.length > 1 && ctx.measureText(label).width > room) label = label.slice(0, -1);
      if (label !== p.name) label = label.length > 2 ? `${label.slice(0, -1)}…` : '';
      ctx.fillText(label, left, row.y + row.h / 2 + 0.5);
    }
  });
}

function phaseOverlay(ctx, frame, m) {
  const L = m.ext.lesson;
  if (!L || !L.phases.length) return;
  const top = frame.axisH;
  L.phases.forEach((p, i) => {
    if (p.start > frame.tMax || p.depth > 0) return;
    const end = p.end == null || p.end > frame.tMax ? frame.tMax : p.end;
    const x0 = frame.X(p.start); const x1 = frame.X(end);
    ctx.fillStyle = PHASE_FILLS[i % PHASE_FILLS.length].replace('0.10', '0.05');
    ctx.fillRect(x0, top, Math.max(1, x1 - x0), frame.height - top);
    ctx.fillStyle = 'rgba(22, 32, 44, 0.25)';
    ctx.fillRect(Math.round(x0), top, 1, frame.height - top);
  });
}

// ---- shared-state markers --------------------------------------------------------------------
function pill(ctx, x, cy, text, { fill, ink, stroke, h }) {
  const w = Math.ceil(textWidth(ctx, text)) + 6;
  const x0 = Math.round(x - w / 2);
  ctx.fillStyle = fill;
  ctx.fillRect(x0, cy - h / 2, w, h);
  if (stroke) { ctx.strokeStyle = stroke; ctx.lineWidth = 1; ctx.strokeRect(x0 + 0.5, cy - h / 2 + 0.5, w - 1, h - 1); }
  ctx.fillStyle = ink;
  ctx.fillText(text, x0 + 3, cy + 0.5);
  return w;
}

function markerPos(frame, m, index) {
  const ev = m.events[index];
  const y = frame.laneY(ev?.lane ?? '?');
  if (!ev || y == null) return null;
  return { x: frame.X(ev.ts), y: y + frame.g.instantY, ev };
}

/** First position in a lane's var records whose event's ts >= t. */
function lowerVar(m, list, t, lo = 0) {
  let hi = list.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (m.tsCol[list[mid].index] < t) lo = mid + 1; else hi = mid; }
  return lo;
}

function varOverlay(ctx, frame, m) {
  const L = m.ext.lesson;
  const stats = frame.timeline.varStats = { reads: 0, writes: 0, lost: 0, links: 0 }; // what this frame drew (tests read it)
  if (!L || !L.vars.length) return;
  const compact = frame.g.compact;
  const h = compact ? 9 : 12;
  ctx.font = `bold ${compact ? 8 : 10}px system-ui, sans-serif`;
  ctx.textBaseline = 'middle';
  // links first, under the pills: lost write ← the write it overwrote
  for (const v of L.lostVars || []) {
    if (v.overwrote < 0) continue;
    const a = markerPos(frame, m, v.overwrote); const b = markerPos(frame, m, v.index);
    if (!a || !b || b.ev.ts > frame.tMax) continue;
    if (Math.max(a.x, b.x) < frame.left || Math.min(a.x, b.x) > frame.left + frame.width) continue;
    ctx.strokeStyle = '#c0262d';
    ctx.lineWidth = 1.5;
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    const lift = Math.max(14, Math.abs(b.y - a.y) / 3);
    ctx.bezierCurveTo(a.x + 10, Math.min(a.y, b.y) - lift, b.x - 10, Math.min(a.y, b.y) - lift, b.x, b.y);
    ctx.stroke();
    stats.links++;
    ctx.setLineDash([]);
  }
  const slack = 50 / frame.scale;
  const tFrom = frame.t0 - slack;
  const tTo = Math.min(frame.t1 + slack, frame.tMax);
  for (const lane of m.lanes.values()) {
    const vars = lane.vars;
    if (!vars || lane.y == null) continue;
    const lo = lowerVar(m, vars, tFrom);
    let hi = lo;
    { let top = vars.length; while (hi < top) { const mid = (hi + top) >> 1; if (m.tsCol[vars[mid].index] <= tTo) hi = mid + 1; else top = mid; } }
    if (hi <= lo) continue;
    // what is in view, counted from the running counts
    const before = lo > 0 ? vars[lo - 1] : { writes: 0, losts: 0 };
    const writes = vars[hi - 1].writes - before.writes;
    stats.writes += writes;
    stats.reads += (hi - lo) - writes;
    stats.lost += vars[hi - 1].losts - before.losts;
    const cy = lane.y + frame.g.instantY;
    const lostList = lane.lostVars || [];
    let p = 0; // next lost write of the lane not yet looked at
    while (p < lostList.length && lostList[p].pos < lo) p++;
    let lastRight = -Infinity;
    let k = lo;
    while (k < hi) {
      const v = vars[k];
      const ev = m.events[v.index];
      const x = frame.X(ev.ts);
      if (x - 4 <= lastRight) { // no room for a pill: skip (by binary search) to where there is
        const next = Math.min(hi, lowerVar(m, vars, frame.T(lastRight + 4), k + 1));
        // never hide a lost write: a red tick at least
        for (; p < lostList.length && lostList[p].pos < next; p++) {
          if (lostList[p].pos < k) continue;
          const xl = frame.X(m.tsCol[lostList[p].index]);
          ctx.fillStyle = '#c0262d';
          ctx.fillRect(Math.round(xl) - 1, cy - h / 2, 2, h);
        }
        k = next;
        continue;
      }
      while (p < lostList.length && lostList[p].pos <= k) p++;
      const value = ev.value ?? '?';
      const full = `${v.write ? 'W' : 'R'} ${value}${v.lost ? ' ✗' : ''}`;
      const style = v.lost
        ? { fill: '#c0262d', ink: '#fff', stroke: '#7a0b0b', h }
        : v.write ? { fill: '#16202c', ink: '#fff', stroke: null, h } : { fill: '#fff', ink: '#16202c', stroke: '#16202c', h };
      const wFull = textWidth(ctx, full) + 6;
      if (x - wFull / 2 > lastRight + 1) {
        lastRight = x - wFull / 2 + pill(ctx, x, cy, full, style);
      } else { // crowded: a letter only
        lastRight = x - 5 + pill(ctx, x, cy, v.write ? (v.lost ? '✗' : 'W') : 'R', style);
      }
      k++;
    }
  }
}

// ---- insights --------------------------------------------------------------------------------
/** Where each insight's badge goes this frame (also used for hit-testing). */
function layoutInsights(frame, m) {
  const L = m.ext.lesson;
  const out = [];
  if (!L) return out;
  const R = 9;
  let lastX = -Infinity; let lastY = 0;
  const sorted = [];
  for (const ins of L.insights) {
    const own = m.events[ins.index];
    if (!own || own.ts > frame.tMax) continue;
    const targets = ins.refs.map((i) => markerPos(frame, m, i)).filter(Boolean);
    let anchor = targets[0] || null;
    // the badge sits above the first ref (or, with no refs, on the phase/axis line at its own time)
    const x = anchor ? anchor.x : frame.X(own.ts);
    const y = anchor ? Math.max(frame.axisH + R + 1, anchor.y - 18) : frame.axisH + R + 2;
    sorted.push({ ins, x, y, targets });
  }
  sorted.sort((a, b) => a.x - b.x || a.y - b.y);
  for (const s of sorted) {
    let bx = s.x + 12;
    if (Math.abs(s.y - lastY) < 2 * R && bx < lastX + 2 * R + 2) bx = lastX + 2 * R + 2;
    lastX = bx; lastY = s.y;
    out.push({ ...s, bx, by: s.y, r: R });
  }
  return out;
}

function insightOverlay(ctx, frame, m) {
  const badges = layoutInsights(frame, m);
  frame.timeline.insightBadges = badges;
  const focus = frame.timeline.focusInsight;
  for (const b of badges) {
    const color = INSIGHT_COLORS[b.ins.kind] || INSIGHT_COLORS.info;
    const strong = focus == null || focus === b.ins.n;
    ctx.globalAlpha = strong ? 1 : 0.35;
    ctx.strokeStyle = color;
    ctx.lineWidth = focus === b.ins.n ? 2.5 : 1.5;
    for (const t of b.targets) {
      ctx.beginPath();
      ctx.moveTo(b.bx, b.by);
      ctx.lineTo(t.x, t.y);
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(t.x, t.y, frame.g.compact ? 6 : 8, 0, Math.PI * 2);
      ctx.stroke();
    }
    ctx.fillStyle = color;
    ctx.beginPath();
    ctx.arc(b.bx, b.by, b.r, 0, Math.PI * 2);
    ctx.fill();
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.fillStyle = '#fff';
    ctx.font = 'bold 11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'center';
    ctx.fillText(String(b.ins.n), b.bx, b.by + 0.5);
    ctx.textAlign = 'left';
    ctx.globalAlpha = 1;
  }
}

function hitInsight(x, y, frame, m) {
  for (const b of frame?.timeline?.insightBadges || []) {
    if ((x - b.bx) ** 2 + (y - b.by) ** 2 <= (b.r + 2) ** 2) {
      return { index: b.ins.refs[0] ?? b.ins.index, text: `${b.ins.n}. ${b.ins.text}`, insight: b.ins.n };
    }
  }
  return null;
}

registerTrack({
  id: 'phases',
  placement: 'top',
  order: 0,
  rows: (m) => (m.ext.lesson?.phases.length ? [{ label: 'phases', height: 18, draw: drawPhaseRow,
    hit: (x, y, frame, mm) => {
      const t = frame.T(x);
      const p = [...(mm.ext.lesson?.phases || [])].reverse().find((q) => q.start <= t && (q.end ?? frame.tMax) >= t);
      return p ? { index: p.a, text: `phase “${p.name}”` } : null;
    } }] : []),
  overlay: phaseOverlay,
  legend: [{ label: 'phase (labelled part of the run)', draw: (ctx) => { ctx.fillStyle = 'rgba(36,89,196,.28)'; ctx.fillRect(0, 2, 26, 10); ctx.fillStyle = '#1d4aa6'; ctx.fillRect(0, 2, 2, 10); } }],
});

registerTrack({
  id: 'shared-state',
  order: 10,
  overlay: varOverlay,
  legend: [
    { label: 'R 41: read a shared value', draw: (ctx) => { ctx.font = 'bold 9px system-ui'; ctx.textBaseline = 'middle'; pill(ctx, 13, 7, 'R 41', { fill: '#fff', ink: '#16202c', stroke: '#16202c', h: 12 }); } },
    { label: 'W 42: wrote it', draw: (ctx) => { ctx.font = 'bold 9px system-ui'; ctx.textBaseline = 'middle'; pill(ctx, 13, 7, 'W 42', { fill: '#16202c', ink: '#fff', h: 12 }); } },
    { label: 'lost update: this write overwrote another (red arc from the overwritten write)', draw: (ctx) => { ctx.font = 'bold 9px system-ui'; ctx.textBaseline = 'middle'; pill(ctx, 13, 7, 'W ✗', { fill: '#c0262d', ink: '#fff', stroke: '#7a0b0b', h: 12 }); } },
  ],
});

registerTrack({
  id: 'insights',
  order: 1000,
  overlay: insightOverlay,
  hitOverlay: hitInsight,
  legend: [{ label: 'insight: numbered, listed under “What happened”', draw: (ctx) => { ctx.fillStyle = INSIGHT_COLORS.problem; ctx.beginPath(); ctx.arc(13, 7, 6, 0, 7); ctx.fill(); ctx.fillStyle = '#fff'; ctx.font = 'bold 9px system-ui'; ctx.textAlign = 'center'; ctx.textBaseline = 'middle'; ctx.fillText('1', 13, 7.5); ctx.textAlign = 'left'; } }],
});
