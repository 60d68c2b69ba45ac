// Handlers for the core trace vocabulary (DESIGN.md): lanes, tasks, locks, blocking waits, IO,
// queues, counters, deadlock reports and the run's own start and end. Registered in
// model/registry.js like any other module's.

import { on, TRACK } from './registry.js';

// Blocking waits that end with a specific event on the same lane: start type -> [end types, key field, kind].
const WAIT_PAIRS = {
  'sem.wait': { ends: ['sem.acquire', 'sem.timeout'], key: 'sem', kind: 'sem-wait' },
  'event.wait': { ends: ['event.wake'], key: 'event', kind: 'event-wait' },
  'cond.wait': { ends: ['cond.wake'], key: 'cond', kind: 'cond-wait' },
  'barrier.wait': { ends: ['barrier.pass'], key: 'barrier', kind: 'barrier-wait' },
};

function lockWaitDone(m, lock) {
  m.lockWaiting.set(lock, Math.max(0, (m.lockWaiting.get(lock) || 1) - 1));
}

// What is open on a lane, by pairing kind and key (a task id, a lock, an op …): lane.pairs is a
// Map kind -> Map key -> span (a stack of spans for lock holds). Keys are the event's own values,
// so pairing allocates nothing per event.
function pairs(lane, kind) {
  let p = lane.pairs.get(kind);
  if (!p) { p = new Map(); lane.pairs.set(kind, p); }
  return p;
}

function take(lane, kind, key) {
  const p = lane.pairs.get(kind);
  if (!p) return undefined;
  const v = p.get(key);
  if (v !== undefined) p.delete(key);
  return v;
}

on('lane.start', (m, ev, index, lane) => {
  lane.kind = ev.kind || lane.kind;
  lane.startTs = Math.min(lane.startTs, ev.ts);
  m.layoutVersion++;
}, ['kind']);

on('lane.end', (m, ev, index, lane) => {
  lane.endTs = ev.ts;
  // whatever the actor was still doing (a wait that never ended) stops with it
  for (const span of [...lane.openSpans]) {
    m.closeSpan(span, ev, index);
    span.cutOff = true;
    if (span.kind === 'lock-wait') lockWaitDone(m, span.lock);
  }
  lane.pairs.clear();
  for (const [key, v] of m.open) {
    if (Array.isArray(v) ? v.some((x) => x.lane === lane) : v.lane === lane) m.open.delete(key);
  }
  for (const holders of m.lockHolder.values()) for (const h of holders) if (h.lane === lane) holders.delete(h);
}, []);

on('task.start', (m, ev, index, lane) => {
  const span = m.openSpan(lane, TRACK.TASK, 'task', `task ${ev.task ?? ''}`, ev, index);
  span.task = ev.task;
  pairs(lane, 'task').set(ev.task, span);
}, ['task']);

on('task.end', (m, ev, index, lane) => {
  const span = take(lane, 'task', ev.task);
  if (span) m.closeSpan(span, ev, index); else m.instant(lane, index);
}, ['task']);

on('lock.wait', (m, ev, index, lane) => {
  const span = m.openSpan(lane, TRACK.LOCK, 'lock-wait', `wait ${ev.lock ?? ''}`, ev, index);
  span.lock = ev.lock;
  pairs(lane, 'lwait').set(ev.lock, span);
  m.lockWaiting.set(ev.lock, (m.lockWaiting.get(ev.lock) || 0) + 1);
  const holders = m.lockHolder.get(ev.lock);
  if (holders) {
    for (const hold of holders) {
      if (hold.lane !== lane && !hold.contended) { hold.contended = true; hold.contendedAt = ev.ts; }
    }
  }
}, ['lock']);

on('lock.acquire', (m, ev, index, lane) => {
  const wait = take(lane, 'lwait', ev.lock);
  if (wait) {
    m.closeSpan(wait, ev, index);
    lockWaitDone(m, ev.lock);
  }
  const held = pairs(lane, 'lhold');
  let stack = held.get(ev.lock);
  if (!stack) { stack = []; held.set(ev.lock, stack); }
  const contended = (m.lockWaiting.get(ev.lock) || 0) > 0;
  const hold = m.openSpan(lane, TRACK.LOCK, 'lock-hold', String(ev.lock ?? 'lock'), ev, index);
  hold.lock = ev.lock;
  hold.contended = contended;
  hold.contendedAt = contended ? ev.ts : null;
  hold.depth = stack.length;
  stack.push(hold);
  let holders = m.lockHolder.get(ev.lock);
  if (!holders) { holders = new Set(); m.lockHolder.set(ev.lock, holders); }
  holders.add(hold);
}, ['lock']);

on('lock.release', (m, ev, index, lane) => {
  const stack = lane.pairs.get('lhold')?.get(ev.lock);
  const hold = stack && stack.pop();
  if (hold) {
    m.closeSpan(hold, ev, index);
    m.lockHolder.get(ev.lock)?.delete(hold);
  } else m.instant(lane, index);
}, ['lock']);

on('lock.timeout', (m, ev, index, lane) => {
  const wait = take(lane, 'lwait', ev.lock);
  if (wait) {
    m.closeSpan(wait, ev, index);
    wait.timedOut = true;
    lockWaitDone(m, ev.lock);
  }
  m.instant(lane, index);
}, ['lock']);

on('io.begin', (m, ev, index, lane) => {
  pairs(lane, 'io').set(ev.op, m.openSpan(lane, TRACK.BLOCK, 'io', String(ev.op ?? 'io'), ev, index));
}, ['op']);

on('io.end', (m, ev, index, lane) => {
  let span = take(lane, 'io', ev.op);
  if (!span) { // different op text on the end: close the newest open io span on this lane
    for (const s of lane.openSpans) if (s.kind === 'io') span = s;
    if (span) {
      const open = pairs(lane, 'io');
      for (const [k, v] of open) if (v === span) open.delete(k);
    }
  }
  if (span) m.closeSpan(span, ev, index); else m.instant(lane, index);
}, ['op']);

on('counter', (m, ev, index, lane) => {
  const name = String(ev.name ?? 'counter');
  let c = m.counters.get(name);
  const v = Number(ev.value);
  if (!c) {
    c = { name, points: [], min: v, max: v, lane: lane.name };
    m.counters.set(name, c);
    m.layoutVersion++;
  }
  if (isFinite(v)) {
    c.points.push([ev.ts, v, index]);
    if (v < c.min) c.min = v;
    if (v > c.max) c.max = v;
  }
  // {expected}: what the value would be if nothing were lost; drawn beside the actual one
  const e = Number(ev.expected);
  if (ev.expected != null && isFinite(e)) {
    (c.expected ??= []).push([ev.ts, e, index]);
    c.expMin = Math.min(c.expMin ?? e, e);
    c.expMax = Math.max(c.expMax ?? e, e);
  }
}, ['name', 'value', 'expected']);

on('deadlock.detected', (m, ev, index, lane) => {
  m.deadlocks.push(ev);
  for (const edge of Array.isArray(ev.cycle) ? ev.cycle : []) {
    for (const name of [edge.lane, edge.heldBy]) {
      const l = m.lanes.get(String(name));
      if (l && !l.deadlocked) { l.deadlocked = true; l.deadlockTs = ev.ts; }
    }
  }
  m.instant(lane, index);
  m.layoutVersion++;
});

on('deadlock.potential', (m, ev, index, lane) => {
  m.potentials.push(ev);
  m.instant(lane, index);
});

on('run.start', (m, ev, index, lane) => m.instant(lane, index), []);
on('run.end', (m, ev, index, lane) => { m.end = ev; m.instant(lane, index); });

// A put into a full queue (or a get from an empty one) that blocks rather than fails is
// marked {waiting: true}: the actor is blocked until its put/get goes through.
for (const type of ['queue.full', 'queue.empty']) {
  on(type, (m, ev, index, lane) => {
    if (ev.waiting) {
      pairs(lane, type === 'queue.full' ? 'qwait-put' : 'qwait-get').set(ev.queue ?? '', m.openSpan(lane, TRACK.BLOCK, 'queue-wait',
        `wait: ${ev.queue ?? 'queue'} ${type === 'queue.full' ? 'full' : 'empty'}`, ev, index));
    }
    m.instant(lane, index);
  }, ['waiting', 'queue']);
}
for (const type of ['queue.put', 'queue.get']) {
  const kind = type === 'queue.put' ? 'qwait-put' : 'qwait-get';
  on(type, (m, ev, index, lane) => {
    const span = take(lane, kind, ev.queue ?? '');
    if (span) m.closeSpan(span, ev, index);
    m.instant(lane, index);
  }, ['queue']);
}

for (const [start, rule] of Object.entries(WAIT_PAIRS)) {
  on(start, (m, ev, index, lane) => {
    const label = ev[rule.key] != null ? `wait ${ev[rule.key]}` : `wait (${rule.kind.replace('-wait', '')})`;
    pairs(lane, rule.kind).set(ev[rule.key] ?? '', m.openSpan(lane, TRACK.BLOCK, rule.kind, label, ev, index));
  }, [rule.key]);
  for (const end of rule.ends) {
    on(end, (m, ev, index, lane) => {
      const span = take(lane, rule.kind, ev[rule.key] ?? '');
      if (span) {
        m.closeSpan(span, ev, index);
        if (ev.timedOut || end.endsWith('.timeout')) span.timedOut = true;
      }
      m.instant(lane, index); // wakes/acquires/passes are hand-off ends too
    }, [rule.key, 'timedOut']);
  }
}
