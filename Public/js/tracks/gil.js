// The emulated GIL (cpu-vs-io) and coroutine hand-offs (async-gather, coroutines).
//  - one row per GIL under the axis: who holds it, coloured by thread, with a red notch
//    wherever a waiting thread set the drop request;
//  - on each thread's lane: "wait GIL" as a blocked span, "GIL" as a held span, so a thread's
//    compute and its waits read side by side;
//  - coro.switch / coro.resume as hand-off markers (their shared flow draws the arrow).

import { on, TRACK } from '../model/registry.js';
import { registerTrack } from './index.js';
import { registerInstantFamily, registerSpanStyle } from '../styles.js';

const PALETTE = ['#2f6fd6', '#d9822b', '#2e9b5a', '#8a4fc9', '#c23b6e', '#1f9aa6', '#8c6d1f', '#5b6b7f'];
const REQUEST = '#c0262d';

registerInstantFamily({ match: /^gil\.(drop-request)$/, shape: 'diamond', color: REQUEST, label: 'GIL drop request (a waiting thread asks the holder)' });
registerInstantFamily({ match: /^gil\.release$/, shape: 'tick', color: '#3a6b2a', label: 'GIL released' });
registerInstantFamily({ match: /^coro\.switch$/, shape: 'up', color: '#6b3fb0', label: 'coroutine gives the thread away (switch / yield)' });
registerInstantFamily({ match: /^coro\.resume$/, shape: 'down', color: '#6b3fb0', label: 'coroutine gets the thread (resume)' });
registerSpanStyle('gil-wait', (ctx, { hatch }) => ({ fill: hatch('#f1a7a7', '#b32626'), solid: '#e07f7f', text: '#3b0000', label: 'waiting for the GIL' }));
registerSpanStyle('gil-hold', { fill: '#58a86b', text: '#fff', label: 'holds the GIL (may run Python code)' });

function state(m) {
  return (m.ext.gil ??= { gils: new Map(), colors: new Map() });
}

function colorOf(m, laneName) {
  const s = state(m);
  let c = s.colors.get(laneName);
  if (!c) { c = PALETTE[s.colors.size % PALETTE.length]; s.colors.set(laneName, c); }
  return c;
}

function gilOf(m, ev) {
  const s = state(m);
  const name = String(ev.gil ?? `GIL (pid ${ev.pid})`);
  let g = s.gils.get(name);
  if (!g) {
    g = { name, pid: ev.pid, holds: [], requests: [], open: null };
    s.gils.set(name, g);
    m.layoutVersion++;
  }
  return g;
}

function closeOpen(m, key, ev, index) {
  const span = m.open.get(key);
  if (span) { m.open.delete(key); m.closeSpan(span, ev, index); }
  return span;
}

on('gil.wait', (m, ev, index, lane) => {
  const label = ev.holder ? `wait GIL (${ev.holder} has it)` : 'wait GIL';
  m.open.set(`${lane.name}|gil-wait`, m.openSpan(lane, TRACK.BLOCK, 'gil-wait', label, ev, index));
});

on('gil.acquire', (m, ev, index, lane) => {
  closeOpen(m, `${lane.name}|gil-wait`, ev, index);
  const g = gilOf(m, ev);
  if (g.open && g.open.end == null) { g.open.end = ev.ts; g.open.b = index; }
  g.open = { lane: lane.name, start: ev.ts, end: null, a: index, b: -1, reason: null };
  g.holds.push(g.open);
  colorOf(m, lane.name);
  m.open.set(`${lane.name}|gil-hold`, m.openSpan(lane, TRACK.LOCK, 'gil-hold', 'GIL', ev, index));
});

on('gil.release', (m, ev, index, lane) => {
  const g = gilOf(m, ev);
  if (g.open && g.open.lane === lane.name) {
    g.open.end = ev.ts; g.open.b = index; g.open.reason = ev.reason ?? null; g.open = null;
  }
  closeOpen(m, `${lane.name}|gil-hold`, ev, index);
  m.instant(lane, index);
});

on('gil.drop-request', (m, ev, index, lane) => {
  gilOf(m, ev).requests.push({ ts: ev.ts, index, lane: lane.name });
  m.instant(lane, index);
});

// A thread that ends (or is cut off) while holding: its hold ends there too.
on('lane.end', (m, ev, index, lane) => {
  for (const g of state(m).gils.values()) {
    if (g.open && g.open.lane === lane.name) { g.open.end = ev.ts; g.open.b = index; g.open = null; }
  }
}, []);

function holdEnd(hold, frame) { return hold.end == null ? frame.tMax : Math.min(hold.end, frame.tMax); }

function drawGILRow(ctx, frame, m, row, g) {
  ctx.fillStyle = '#f4f5f7';
  ctx.fillRect(frame.left, row.y, frame.width, row.h);
  ctx.font = '10px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  const right = frame.left + frame.width;
  for (const hold of g.holds) {
    if (hold.start > frame.tMax || hold.start > frame.t1) continue;
    const end = holdEnd(hold, frame);
    if (end < frame.t0) continue;
    const x0 = frame.X(hold.start);
    const x1 = Math.max(frame.X(end), x0 + 1);
    ctx.fillStyle = colorOf(m, hold.lane);
    ctx.fillRect(x0, row.y + 2, x1 - x0, row.h - 4);
    const left = Math.max(x0, frame.left) + 3;
    const room = Math.min(x1, right) - left - 2;
    if (room > 24) {
      let label = hold.lane;
      while (label.length > 1 && ctx.measureText(label).width > room) label = label.slice(0, -1);
      if (label !== hold.lane) label = label.length > 2 ? `${label.slice(0, -1)}…` : '';
      ctx.fillStyle = '#fff';
      ctx.fillText(label, left, row.y + row.h / 2 + 0.5);
    }
  }
  // drop requests: a red notch on the top edge of the row
  ctx.fillStyle = REQUEST;
  for (const r of g.requests) {
    if (r.ts < frame.t0 || r.ts > frame.t1 || r.ts > frame.tMax) continue;
    const x = frame.X(r.ts);
    ctx.beginPath();
    ctx.moveTo(x - 3.5, row.y); ctx.lineTo(x + 3.5, row.y); ctx.lineTo(x, row.y + 5); ctx.closePath();
    ctx.fill();
  }
}

function hitGILRow(x, y, frame, m, row, g) {
  const t = frame.T(x);
  const slop = 3 / frame.scale;
  const request = g.requests.find((r) => Math.abs(r.ts - t) <= slop && y - row.y < 7);
  if (request) return { index: request.index };
  const hold = g.holds.find((h) => h.start - slop <= t && holdEnd(h, frame) + slop >= t && h.start <= frame.tMax);
  if (!hold) return { text: `${g.name}: free (nobody holds it)` };
  return { index: hold.a };
}

registerTrack({
  id: 'gil',
  placement: 'top',
  order: 20,
  rows: (m) => [...(m.ext.gil?.gils.values() ?? [])].map((g) => ({
    label: 'GIL',
    sublabel: g.pid != null ? `pid ${g.pid}` : g.name,
    height: 20,
    draw: (ctx, frame, mm, row) => drawGILRow(ctx, frame, mm, row, g),
    hit: (x, y, frame, mm, row) => hitGILRow(x, y, frame, mm, row, g),
  })),
  legend: [
    { label: 'GIL holder (one colour per thread; at most one at a time per process)', draw: (ctx) => {
      ctx.fillStyle = PALETTE[0]; ctx.fillRect(0, 2, 13, 10); ctx.fillStyle = PALETTE[1]; ctx.fillRect(13, 2, 13, 10);
    } },
    { label: 'drop request: a thread waited 5 ms and asked the holder to let go', draw: (ctx) => {
      ctx.fillStyle = '#f4f5f7'; ctx.fillRect(0, 2, 26, 10); ctx.fillStyle = REQUEST;
      ctx.beginPath(); ctx.moveTo(9.5, 2); ctx.lineTo(16.5, 2); ctx.lineTo(13, 7); ctx.closePath(); ctx.fill();
    } },
  ],
});
