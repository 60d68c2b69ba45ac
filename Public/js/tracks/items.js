// Items you can follow: the item (and priority) on put / get / send / recv markers when there is
// room; a torn or merged pipe read marked as such; hovering a hand-off highlights both of its
// ends and the arrow between them.

import { registerTrack } from './index.js';
import { on } from '../model/registry.js';

const ITEM_TYPES = new Set(['queue.put', 'queue.get', 'pipe.send', 'pipe.recv', 'queue.full', 'task.submit', 'task.start']);

function itemsOf(m) {
  return (m.ext.items ??= { labelled: new Map() }); // lane name -> [index]
}

// Remember which events carry an item, per lane, so the overlay does not scan every instant.
for (const type of ITEM_TYPES) {
  on(type, (m, ev, index, lane) => {
    if (ev.item === undefined && ev.task === undefined) return;
    const s = itemsOf(m);
    let list = s.labelled.get(lane.name);
    if (!list) { list = []; s.labelled.set(lane.name, list); }
    list.push(index);
  });
}

function label(ev) {
  if (ev.torn) return ev.type === 'pipe.recv' ? 'torn ✂' : 'torn';
  if (ev.merged) return 'merged';
  let v = ev.item !== undefined ? ev.item : ev.task;
  if (v === null) v = 'None';
  if (typeof v === 'object') v = JSON.stringify(v);
  let text = String(v);
  if (text.length > 10) text = `${text.slice(0, 9)}…`;
  if (ev.priority != null) text += ` p${ev.priority}`;
  return text;
}

function lowerIndex(list, m, t) {
  let lo = 0; let hi = list.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (m.events[list[mid]].ts < t) lo = mid + 1; else hi = mid; }
  return lo;
}

function itemOverlay(ctx, frame, m) {
  const s = m.ext.items;
  const stats = frame.timeline.itemStats = { labels: 0, torn: 0 };
  if (!s) return;
  ctx.font = '9px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  for (const [name, list] of s.labelled) {
    const y0 = frame.laneY(name);
    if (y0 == null) continue;
    const cy = y0 + frame.g.instantY + (frame.g.compact ? 0 : 10);
    let lastRight = -Infinity;
    const from = lowerIndex(list, m, frame.t0 - 40 / frame.scale);
    for (let k = from; k < list.length; k++) {
      const ev = m.events[list[k]];
      if (ev.ts > frame.t1 || ev.ts > frame.tMax) break;
      const x = frame.X(ev.ts);
      const text = label(ev);
      const w = ctx.measureText(text).width + 4;
      const bad = ev.torn || ev.merged;
      if (bad) { // never hidden: a red zig-zag through the marker
        stats.torn++;
        ctx.strokeStyle = '#c0262d';
        ctx.lineWidth = 2;
        ctx.beginPath();
        const yy = y0 + frame.g.instantY;
        ctx.moveTo(x - 5, yy - 5); ctx.lineTo(x - 1, yy + 1); ctx.lineTo(x + 1, yy - 1); ctx.lineTo(x + 5, yy + 5);
        ctx.stroke();
      }
      if (frame.g.compact || x - 2 < lastRight) continue;
      ctx.fillStyle = bad ? '#c0262d' : 'rgba(255,255,255,0.85)';
      ctx.fillRect(x - 2, cy - 5, w, 10);
      ctx.fillStyle = bad ? '#fff' : '#16202c';
      ctx.fillText(text, x, cy + 0.5);
      lastRight = x - 2 + w;
      stats.labels++;
    }
  }
  // hover: both ends of the hovered hand-off, and the arrow between them
  const h = frame.timeline.hoverIndex;
  if (h == null || h < 0) return;
  const ends = new Set([h]);
  for (const f of m.flows) if (f.a === h || f.b === h) { ends.add(f.a); ends.add(f.b); }
  if (ends.size < 2) return;
  const pts = [...ends].map((i) => {
    const ev = m.events[i];
    const y = frame.laneY(ev.lane ?? '?');
    return y == null || ev.ts > frame.tMax ? null : { x: frame.X(ev.ts), y: y + frame.g.instantY, i };
  }).filter(Boolean);
  const origin = pts.find((p) => m.flows.some((f) => f.a === p.i)) || pts[0];
  ctx.strokeStyle = '#d48a00';
  ctx.lineWidth = 2.5;
  for (const p of pts) {
    ctx.beginPath(); ctx.arc(p.x, p.y, frame.g.compact ? 6 : 8, 0, Math.PI * 2); ctx.stroke();
    if (p !== origin) {
      ctx.beginPath(); ctx.moveTo(origin.x, origin.y);
      ctx.bezierCurveTo(origin.x + 12, origin.y, p.x - 12, p.y, p.x, p.y); ctx.stroke();
    }
  }
  frame.timeline.hoverEnds = pts.length;
}

registerTrack({
  id: 'items',
  order: 20,
  overlay: itemOverlay,
  legend: [{ label: 'torn / merged read (a message split or joined between readers)', draw: (ctx) => {
    ctx.strokeStyle = '#c0262d'; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(8, 2); ctx.lineTo(12, 8); ctx.lineTo(14, 6); ctx.lineTo(18, 12); ctx.stroke();
  } }],
});
