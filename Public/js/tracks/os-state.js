// What the kernel did with each lane (sched.state, sampled by the server about every ms):
//  - a thin strip under every lane: running (solid green), runnable = ready, waiting for a CPU
//    (amber, hatched), blocked (grey, dotted; the reason when the trace knows it), disk (purple);
//  - a cores view under the axis: one row per CPU, which lane ran on it when;
//  - a utilisation strip: how many CPUs were busy with this run over time.
import { on } from '../model/registry.js';
import { registerTrack } from './index.js';

const COLORS = { running: '#2e9b5a', runnable: '#e0a030', blocked: '#b8bec8', disk: '#8a4fc9' };
const PALETTE = ['#2f6fd6', '#d9822b', '#2e9b5a', '#8a4fc9', '#c23b6e', '#1f9aa6', '#8c6d1f', '#5b6b7f'];

function state(m) { return (m.ext.os ??= { lanes: new Map(), ends: new Map(), cpus: new Set(), colors: new Map() }); }
function colorOf(s, lane) {
  let c = s.colors.get(lane);
  if (!c) { c = PALETTE[s.colors.size % PALETTE.length]; s.colors.set(lane, c); }
  return c;
}

on('sched.state', (m, ev, index) => {
  const s = state(m);
  let list = s.lanes.get(ev.lane);
  if (!list) { list = []; s.lanes.set(ev.lane, list); m.layoutVersion++; }
  list.push({ ts: ev.ts, state: ev.state, reason: ev.reason ?? null, cpu: ev.cpu, index });
  if (ev.state === 'running' && ev.cpu != null && !s.cpus.has(ev.cpu)) { s.cpus.add(ev.cpu); colorOf(s, ev.lane); m.layoutVersion++; }
  if (ev.state === 'running') colorOf(s, ev.lane);
});
on('lane.end', (m, ev) => { state(m).ends.set(ev.lane, ev.ts); }, []);

/** [start, end, sample] of every state of a lane, ending at the next state or the lane's end. */
function segments(m, lane, tMax) {
  const s = state(m);
  const list = s.lanes.get(lane) ?? [];
  const end = Math.min(s.ends.get(lane) ?? m.maxTs, tMax ?? Infinity);
  const out = [];
  for (let i = 0; i < list.length; i++) {
    const a = list[i].ts; const b = Math.min(i + 1 < list.length ? list[i + 1].ts : end, end);
    if (b > a) out.push([a, b, list[i]]);
  }
  return out;
}

function paint(ctx, st, x, y, w, h) {
  ctx.fillStyle = COLORS[st] ?? '#ccc';
  ctx.fillRect(x, y, w, h);
  if (st === 'runnable') { // hatch: ready but not running
    ctx.strokeStyle = 'rgba(120,70,0,0.55)'; ctx.lineWidth = 1; ctx.beginPath();
    for (let i = x - h; i < x + w; i += 4) { ctx.moveTo(Math.max(i, x), y + h - Math.max(0, x - i)); ctx.lineTo(Math.min(i + h, x + w), y + Math.max(0, i + h - x - w)); }
    ctx.stroke();
  } else if (st === 'blocked' || st === 'disk') { // dots: off the CPU, waiting for something
    ctx.fillStyle = 'rgba(60,60,70,0.5)';
    for (let i = x + 1; i < x + w; i += 4) ctx.fillRect(i, y + h / 2 - 0.5, 1, 1);
  }
}

function visible(frame, a, b) { return b >= frame.t0 && a <= frame.t1; }

function hitSegment(x, frame, segs, describe) {
  const t = frame.T(x);
  const seg = segs.find(([a, b]) => a <= t && t <= b);
  return seg ? { index: seg[2].index, text: describe(seg) } : null;
}

registerTrack({
  id: 'os-state',
  placement: 'lane',
  order: 10,
  laneRows(m, lane) {
    const name = lane.name ?? lane;
    if (!m.ext.os?.lanes.has(name)) return [];
    return [{
      label: 'OS', sublabel: 'kernel', height: 7,
      draw(ctx, frame, mm, row) {
        for (const [a, b, smp] of segments(mm, name, frame.tMax)) {
          if (!visible(frame, a, b)) continue;
          const x = frame.X(a); paint(ctx, smp.state, x, row.y + 1, Math.max(1, frame.X(b) - x), row.h - 2);
        }
      },
      hit: (x, y, frame, mm) => hitSegment(x, frame, segments(mm, name, frame.tMax),
        ([a, b, smp]) => `${name}: ${smp.state === 'runnable' ? 'ready, waiting for a CPU' : smp.state}${smp.reason ? ` (${smp.reason})` : ''}${smp.state === 'running' ? ` on CPU ${smp.cpu}` : ''} for ${((b - a) / 1000).toFixed(1)} ms`),
    }];
  },
  legend: ['running', 'runnable', 'blocked'].map((st) => ({
    label: { running: 'OS: running on a CPU', runnable: 'OS: ready, waiting for a CPU', blocked: 'OS: blocked (lock, event, queue, IO, sleep…)' }[st],
    draw: (ctx) => paint(ctx, st, 0, 3, 26, 8),
  })),
});

function runningOn(m, cpu, tMax) {
  const out = [];
  for (const lane of m.ext.os.lanes.keys()) {
    for (const seg of segments(m, lane, tMax)) if (seg[2].state === 'running' && seg[2].cpu === cpu) out.push([seg[0], seg[1], seg[2], lane]);
  }
  return out;
}

registerTrack({
  id: 'os-cores',
  placement: 'top',
  order: 30,
  rows(m) {
    const s = m.ext.os;
    if (!s || s.cpus.size === 0) return [];
    const cpus = [...s.cpus].sort((a, b) => a - b);
    const rows = cpus.map((cpu) => ({
      label: `CPU ${cpu}`, sublabel: 'who ran', height: 14,
      draw(ctx, frame, mm, row) {
        for (const [a, b, , lane] of runningOn(mm, cpu, frame.tMax)) {
          if (!visible(frame, a, b)) continue;
          const x = frame.X(a); const w = Math.max(1, frame.X(b) - x);
          ctx.fillStyle = colorOf(mm.ext.os, lane); ctx.fillRect(x, row.y + 2, w, row.h - 4);
          if (w > 40) { ctx.fillStyle = '#fff'; ctx.font = '10px sans-serif'; ctx.fillText(lane, x + 3, row.y + row.h - 4, w - 6); }
        }
      },
      hit: (x, y, frame, mm) => {
        const segs = runningOn(mm, cpu, frame.tMax);
        return hitSegment(x, frame, segs, (seg) => `CPU ${cpu}: ${seg[3]} ran ${((seg[1] - seg[0]) / 1000).toFixed(1)} ms`);
      },
    }));
    rows.push({
      label: 'busy CPUs', sublabel: `of ${cpus.length}`, height: 18,
      draw(ctx, frame, mm, row) {
        const n = cpus.length;
        const step = Math.max(1, Math.floor(frame.width / 400));
        ctx.fillStyle = 'rgba(46,155,90,0.6)';
        const all = cpus.map((c) => runningOn(mm, c, frame.tMax));
        for (let px = 0; px < frame.width; px += step) {
          const t = frame.T(frame.left + px);
          if (t > (frame.tMax ?? Infinity)) break;
          const busy = all.filter((segs) => segs.some(([a, b]) => a <= t && t < b)).length;
          if (busy) { const h = (row.h - 2) * busy / n; ctx.fillRect(frame.left + px, row.y + row.h - 1 - h, step, h); }
        }
      },
    });
    return rows;
  },
  legend: [{ label: 'cores view: which lane ran on each CPU (one colour per lane); busy CPUs over time', draw: (ctx) => {
    ctx.fillStyle = PALETTE[0]; ctx.fillRect(0, 2, 13, 10); ctx.fillStyle = PALETTE[1]; ctx.fillRect(13, 2, 13, 10);
  } }],
});
