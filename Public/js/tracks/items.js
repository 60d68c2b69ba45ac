// Items you can follow: the item (and priority) on put / get / send / recv markers when there is
// room; a torn or merged pipe read marked as such; hovering a hand-off highlights both of its
// ends and the arrow between them.

import { registerTrack } from './index.js';
import { on } from '../model/registry.js';
import { textWidth } from '../timeline/layers.js';

const ITEM_TYPES = new Set(['queue.put', 'queue.get', 'pipe.send', 'pipe.recv', 'queue.full', 'task.submit', 'task.start']);

function itemsOf(m) {
  // lane name -> [index]: every event with an item, and (bad) the torn or merged ones
  return (m.ext.items ??= { labelled: new Map(), bad: new Map() });
}

function push(map, key, value) {
  let list = map.get(key);
  if (!list) { list = []; map.set(key, list); }
  list.push(value);
}

// Remember which events carry an item, per lane, so the overlay does not scan every instant.
for (const type of ITEM_TYPES) {
  on(type, (m, ev, index, lane) => {
    if (ev.item === undefined && ev.task === undefined) return;
    const s = itemsOf(m);
    push(s.labelled, lane.name, index);
    if (ev.torn || ev.merged) push(s.bad, lane.name, index);
  }, ['item', 'task', 'torn', 'merged']);
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

function itemOverlay(ctx, frame, m) {
  const s = m.ext.items;
  const stats = frame.timeline.itemStats = { labels: 0, torn: 0 };
  if (!s) return;
  ctx.font = '9px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  const tFrom = frame.t0 - 40 / frame.scale;
  const tTo = Math.min(frame.t1, frame.tMax);
  for (const [name, list] of s.labelled) {
    const y0 = frame.laneY(name);
    if (y0 == null) continue;
    // torn or merged: never hidden, a red zig-zag through the marker
    const bad = s.bad.get(name);
    if (bad) {
      const yy = y0 + frame.g.instantY;
      for (let k = m.lowerIndex(bad, tFrom); k < bad.length; k++) {
        const t = m.tsCol[bad[k]];
        if (t > tTo) break;
        const x = frame.X(t);
        stats.torn++;
        ctx.strokeStyle = '#c0262d';
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.moveTo(x - 5, yy - 5); ctx.lineTo(x - 1, yy + 1); ctx.lineTo(x + 1, yy - 1); ctx.lineTo(x + 5, yy + 5);
        ctx.stroke();
      }
    }
    if (frame.g.compact) continue;
    // labels where there is room: after one, jump (binary search) past the ones it would cover.
    // More than one item per 4 px in view: a label would name one of dozens it covers, so none.
    let k = m.lowerIndex(list, tFrom);
    if (m.upperIndex(list, tTo, k) - k > frame.width / 4) continue;
    const cy = y0 + frame.g.instantY + 10;
    let lastRight = -Infinity;
    while (k < list.length) {
      const t = m.tsCol[list[k]];
      if (t > tTo) break;
      const x = frame.X(t);
      if (x - 2 < lastRight) { k = m.lowerIndex(list, frame.T(lastRight + 2), k + 1); continue; }
      const ev = m.events[list[k]];
      const bad = ev.torn || ev.merged;
      const text = label(ev);
      const w = textWidth(ctx, text) + 4;
      ctx.fillStyle = bad ? '#c0262d' : 'rgba(255,255,255,0.85)';
      ctx.fillRect(x - 2, cy - 5, w, 10);
      ctx.fillStyle = bad ? '#fff' : '#16202c';
      ctx.fillText(text, x, cy + 0.5);
      lastRight = x - 2 + w;
      stats.labels++;
      k++;
    }
  }
  // hover: both ends of the hovered hand-off, and the arrow between them
  const h = frame.timeline.hoverIndex;
  if (h == null || h < 0) return;
  const hov = handOffEnds(frame.timeline, m, h);
  const ends = hov.ends;
  if (ends.size < 2) return;
  const pts = [...ends].map((i) => {
    const ev = m.events[i];
    const y = frame.laneY(ev.lane ?? '?');
    return y == null || ev.ts > frame.tMax ? null : { x: frame.X(ev.ts), y: y + frame.g.instantY, i };
  }).filter(Boolean);
  const origin = pts.find((p) => hov.origins.has(p.i)) || pts[0];
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

/** The events linked to the hovered one by flows, found once per hovered event (not every frame). */
function handOffEnds(tl, m, h) {
  const c = tl.handOffCache;
  if (c && c.h === h && c.m === m && c.n === m.flows.length) return c;
  const ends = new Set([h]);
  const origins = new Set();
  for (const f of m.flows) {
    if (f.a === h || f.b === h) { ends.add(f.a); ends.add(f.b); }
  }
  for (const f of m.flows) if (ends.has(f.a)) origins.add(f.a);
  tl.handOffCache = { h, m, n: m.flows.length, ends, origins };
  return tl.handOffCache;
}

registerTrack({
  id: 'items',
  order: 20,
  overlay: itemOverlay,
  legend: [{ label: 'torn / merged read (a message split or joined between readers)', draw: (ctx) => {
    ctx.strokeStyle = '#c0262d'; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(8, 2); ctx.lineTo(12, 8); ctx.lineTo(14, 6); ctx.lineTo(18, 12); ctx.stroke();
  } }],
});
