// Handlers for the lesson vocabulary (DESIGN.md): var.read / var.write (shared state read and
// written; a write that lost another actor's update names the write it overwrote), insight
// (what a learner should notice, pointing at events by seq) and phase.begin / phase.end
// (labelled parts of the run). State lives in m.ext.lesson:
//   vars:     [{index, lane, write, lost, overwrote (index or -1)}]
//   insights: [{n, index, text, kind, refs: [index…]}]   (n counts from 1)
//   phases:   [{name, start, end (null while open), a, lane}]

import { on } from './registry.js';

export function lessonOf(m) {
  return (m.ext.lesson ??= { vars: [], lost: 0, insights: [], phases: [], openPhases: new Map(), seqIndex: null });
}

/** The index of the event with this seq (seqs are gapless from 0, so usually the same number). */
export function indexOfSeq(m, seq) {
  if (typeof seq !== 'number') return -1;
  if (m.events[seq]?.seq === seq) return seq;
  let lo = 0; let hi = m.events.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = m.events[mid].seq;
    if (s === seq) return mid;
    if (s < seq) lo = mid + 1; else hi = mid - 1;
  }
  return -1;
}

function varEvent(m, ev, index, lane) {
  const L = lessonOf(m);
  const write = ev.type === 'var.write';
  const rec = { index, lane, write, lost: write && !!ev.lost, overwrote: write ? indexOfSeq(m, ev.overwrote) : -1 };
  L.vars.push(rec);
  if (rec.lost) { L.lost++; (L.lostVars ??= []).push(rec); }
  const list = (lane.vars ??= []);
  // running counts on the lane (writes and lost ones so far), so a frame counts what it shows
  // without visiting every marker; and the lane's lost writes apart, which are never hidden
  const prev = list[list.length - 1];
  rec.pos = list.length;
  rec.writes = (prev ? prev.writes : 0) + (write ? 1 : 0);
  rec.losts = (prev ? prev.losts : 0) + (rec.lost ? 1 : 0);
  list.push(rec);
  if (rec.lost) (lane.lostVars ??= []).push(rec);
  m.instant(lane, index); // hit-testing and the log find it like any instant; the marker is drawn by tracks/lesson.js
}
on('var.read', varEvent);
on('var.write', varEvent);

on('insight', (m, ev, index) => {
  const L = lessonOf(m);
  const refs = (Array.isArray(ev.refs) ? ev.refs : []).map((s) => indexOfSeq(m, s)).filter((i) => i >= 0);
  L.insights.push({ n: L.insights.length + 1, index, text: String(ev.text ?? ''), kind: String(ev.kind ?? 'info'), refs });
  // not an instant: the callout is its picture
});

on('phase.begin', (m, ev, index, lane) => {
  const L = lessonOf(m);
  const name = String(ev.name ?? 'phase');
  const p = { name, start: ev.ts, end: null, a: index, lane: lane.name, depth: L.openPhases.size };
  L.phases.push(p);
  L.openPhases.set(name, p);
  if (L.phases.length === 1) m.layoutVersion++; // the phase row appears
});

on('phase.end', (m, ev) => {
  const L = lessonOf(m);
  const name = String(ev.name ?? 'phase');
  const p = L.openPhases.get(name);
  if (p) { p.end = ev.ts; L.openPhases.delete(name); }
});
