// The run model: turns the flat event stream into what the timeline draws — lanes grouped by
// process, spans (task, lock wait, lock hold, blocking waits, generic X.start/X.end), instants,
// flow pairs, counter series and deadlock reports. Built incrementally, one event at a time, so
// a live run and a 100k-event recorded run go through the same code.

// Tracks inside a lane, top to bottom.
export const TRACK = { TASK: 0, BLOCK: 1, LOCK: 2 };

// Blocking waits that end with a specific event on the same lane: start type -> [end types, key field, kind].
const WAIT_PAIRS = {
  'sem.wait': { ends: ['sem.acquire', 'sem.timeout'], key: 'sem', kind: 'sem-wait' },
  'event.wait': { ends: ['event.wake'], key: 'event', kind: 'event-wait' },
  'cond.wait': { ends: ['cond.wake'], key: 'cond', kind: 'cond-wait' },
  'barrier.wait': { ends: ['barrier.pass'], key: 'barrier', kind: 'barrier-wait' },
};
const WAIT_END = {};
for (const [start, rule] of Object.entries(WAIT_PAIRS)) for (const end of rule.ends) WAIT_END[end] = start;

function laneKey(ev) { return ev.lane == null ? '?' : String(ev.lane); }

export class RunModel {
  constructor(run = null) {
    this.run = run;
    this.events = [];
    this.lanes = new Map();      // name -> lane
    this.groups = new Map();     // pid -> {pid, lanes: []}
    this.counters = new Map();   // name -> {name, points: [[ts, value]], min, max}
    this.flows = [];             // [{a, b}] event indices
    this.flowOpen = new Map();   // flow id -> index of the flow's first event
    this.deadlocks = [];         // deadlock.detected events
    this.potentials = [];        // deadlock.potential events
    this.types = new Set();
    this.open = new Map();       // pairing key -> span (or stack of spans for lock holds)
    this.lockHolder = new Map(); // lock -> open hold spans (any lane)
    this.lockWaiting = new Map();// lock -> number of lanes waiting
    this.maxTs = 0;
    this.lastSeq = -1;
    this.end = null;             // the run.end event
    this.layoutVersion = 0;      // bumps when lanes/counters/groups change
    this.version = 0;            // bumps on every added batch
  }

  addBatch(events) {
    for (const ev of events) this.add(ev);
    this.version++;
  }

  lane(ev) {
    const name = laneKey(ev);
    let lane = this.lanes.get(name);
    if (!lane) {
      const pid = ev.pid ?? 0;
      lane = {
        name, pid, tid: ev.tid, kind: null, index: this.lanes.size,
        tracks: [[], [], []], maxDur: [0, 0, 0], openSpans: new Set(),
        instants: [], startTs: ev.ts, endTs: null, deadlocked: false,
      };
      this.lanes.set(name, lane);
      let group = this.groups.get(pid);
      if (!group) { group = { pid, lanes: [] }; this.groups.set(pid, group); }
      group.lanes.push(lane);
      this.layoutVersion++;
    }
    return lane;
  }

  openSpan(lane, track, kind, label, ev, index, extra) {
    const span = { lane, track, kind, label, start: ev.ts, end: null, a: index, b: -1, depth: 0 };
    if (extra) Object.assign(span, extra);
    lane.tracks[track].push(span);
    lane.openSpans.add(span);
    return span;
  }

  closeSpan(span, ev, index) {
    span.end = Math.max(ev.ts, span.start);
    span.b = index;
    span.lane.openSpans.delete(span);
    const d = span.end - span.start;
    if (d > span.lane.maxDur[span.track]) span.lane.maxDur[span.track] = d;
  }

  instant(lane, index) { lane.instants.push(index); }

  add(ev) {
    if (ev == null || typeof ev !== 'object') return;
    if (typeof ev.seq === 'number') {
      if (ev.seq <= this.lastSeq) return; // duplicate after a resume
      this.lastSeq = ev.seq;
    }
    if (typeof ev.ts !== 'number' || !isFinite(ev.ts)) ev.ts = this.maxTs;
    if (ev.ts < this.maxTs) ev.ts = this.maxTs; // keep ts non-decreasing for binary searches
    this.maxTs = ev.ts;
    const index = this.events.length;
    this.events.push(ev);
    const type = typeof ev.type === 'string' ? ev.type : 'unknown';
    if (!this.types.has(type)) { this.types.add(type); }
    const lane = this.lane(ev);
    const L = lane.name;

    if (ev.flow != null) {
      // Every later event of a flow is a receiver of its first one: one event.set that wakes
      // three waiters draws three arrows out of the set, not a chain through the waiters.
      const origin = this.flowOpen.get(ev.flow);
      if (origin != null) this.flows.push({ a: origin, b: index });
      else this.flowOpen.set(ev.flow, index);
    }

    switch (type) {
      case 'lane.start':
        lane.kind = ev.kind || lane.kind;
        lane.startTs = Math.min(lane.startTs, ev.ts);
        this.layoutVersion++;
        return;
      case 'lane.end':
        lane.endTs = ev.ts;
        // whatever the actor was still doing (a wait that never ended) stops with it
        for (const span of [...lane.openSpans]) {
          this.closeSpan(span, ev, index);
          span.cutOff = true;
          if (span.kind === 'lock-wait') {
            this.lockWaiting.set(span.lock, Math.max(0, (this.lockWaiting.get(span.lock) || 1) - 1));
          }
        }
        for (const [key, v] of this.open) {
          if (Array.isArray(v) ? v.some((x) => x.lane === lane) : v.lane === lane) this.open.delete(key);
        }
        for (const holders of this.lockHolder.values()) for (const h of holders) if (h.lane === lane) holders.delete(h);
        return;
      case 'task.start': {
        const key = `${L}|task|${ev.task}`;
        this.open.set(key, this.openSpan(lane, TRACK.TASK, 'task', `task ${ev.task ?? ''}`, ev, index, { task: ev.task }));
        return;
      }
      case 'task.end': {
        const key = `${L}|task|${ev.task}`;
        const span = this.open.get(key);
        if (span) { this.open.delete(key); this.closeSpan(span, ev, index); } else this.instant(lane, index);
        return;
      }
      case 'lock.wait': {
        const key = `${L}|lwait|${ev.lock}`;
        const span = this.openSpan(lane, TRACK.LOCK, 'lock-wait', `wait ${ev.lock ?? ''}`, ev, index, { lock: ev.lock });
        this.open.set(key, span);
        this.lockWaiting.set(ev.lock, (this.lockWaiting.get(ev.lock) || 0) + 1);
        for (const hold of this.lockHolder.get(ev.lock) || []) {
          if (hold.lane !== lane && !hold.contended) { hold.contended = true; hold.contendedAt = ev.ts; }
        }
        return;
      }
      case 'lock.acquire': {
        const wkey = `${L}|lwait|${ev.lock}`;
        const wait = this.open.get(wkey);
        if (wait) {
          this.open.delete(wkey);
          this.closeSpan(wait, ev, index);
          this.lockWaiting.set(ev.lock, Math.max(0, (this.lockWaiting.get(ev.lock) || 1) - 1));
        }
        const hkey = `${L}|lhold|${ev.lock}`;
        let stack = this.open.get(hkey);
        if (!stack) { stack = []; this.open.set(hkey, stack); }
        const contended = (this.lockWaiting.get(ev.lock) || 0) > 0;
        const hold = this.openSpan(lane, TRACK.LOCK, 'lock-hold', String(ev.lock ?? 'lock'), ev, index,
          { lock: ev.lock, contended, contendedAt: contended ? ev.ts : null });
        hold.depth = stack.length;
        stack.push(hold);
        let holders = this.lockHolder.get(ev.lock);
        if (!holders) { holders = new Set(); this.lockHolder.set(ev.lock, holders); }
        holders.add(hold);
        return;
      }
      case 'lock.release': {
        const stack = this.open.get(`${L}|lhold|${ev.lock}`);
        const hold = stack && stack.pop();
        if (hold) {
          this.closeSpan(hold, ev, index);
          this.lockHolder.get(ev.lock)?.delete(hold);
        } else this.instant(lane, index);
        return;
      }
      case 'lock.timeout': {
        const wkey = `${L}|lwait|${ev.lock}`;
        const wait = this.open.get(wkey);
        if (wait) {
          this.open.delete(wkey);
          this.closeSpan(wait, ev, index);
          wait.timedOut = true;
          this.lockWaiting.set(ev.lock, Math.max(0, (this.lockWaiting.get(ev.lock) || 1) - 1));
        }
        this.instant(lane, index);
        return;
      }
      case 'io.begin': {
        const key = `${L}|io|${ev.op}`;
        this.open.set(key, this.openSpan(lane, TRACK.BLOCK, 'io', String(ev.op ?? 'io'), ev, index));
        return;
      }
      case 'io.end': {
        let key = `${L}|io|${ev.op}`;
        let span = this.open.get(key);
        if (!span) { // different op text on the end: close the newest open io span on this lane
          for (const s of lane.openSpans) if (s.kind === 'io') span = s;
          if (span) for (const [k, v] of this.open) if (v === span) key = k;
        }
        if (span) { this.open.delete(key); this.closeSpan(span, ev, index); } else this.instant(lane, index);
        return;
      }
      case 'counter': {
        const name = String(ev.name ?? 'counter');
        let c = this.counters.get(name);
        const v = Number(ev.value);
        if (!c) {
          c = { name, points: [], min: v, max: v, lane: L };
          this.counters.set(name, c);
          this.layoutVersion++;
        }
        if (isFinite(v)) {
          c.points.push([ev.ts, v, index]);
          if (v < c.min) c.min = v;
          if (v > c.max) c.max = v;
        }
        return;
      }
      case 'deadlock.detected':
        this.deadlocks.push(ev);
        for (const edge of Array.isArray(ev.cycle) ? ev.cycle : []) {
          for (const name of [edge.lane, edge.heldBy]) {
            const l = this.lanes.get(String(name));
            if (l && !l.deadlocked) { l.deadlocked = true; l.deadlockTs = ev.ts; }
          }
        }
        this.instant(lane, index);
        this.layoutVersion++;
        return;
      case 'deadlock.potential':
        this.potentials.push(ev);
        this.instant(lane, index);
        return;
      case 'run.start':
        this.instant(lane, index);
        return;
      case 'run.end':
        this.end = ev;
        this.instant(lane, index);
        return;
      default:
        break;
    }

    // A put into a full queue (or a get from an empty one) that blocks rather than fails is
    // marked {waiting: true}: the actor is blocked until its put/get goes through.
    if ((type === 'queue.full' || type === 'queue.empty') && ev.waiting) {
      const key = `${L}|qwait|${ev.queue ?? ''}|${type === 'queue.full' ? 'put' : 'get'}`;
      this.open.set(key, this.openSpan(lane, TRACK.BLOCK, 'queue-wait',
        `wait: ${ev.queue ?? 'queue'} ${type === 'queue.full' ? 'full' : 'empty'}`, ev, index));
      this.instant(lane, index);
      return;
    }
    if (type === 'queue.put' || type === 'queue.get') {
      const key = `${L}|qwait|${ev.queue ?? ''}|${type === 'queue.put' ? 'put' : 'get'}`;
      const span = this.open.get(key);
      if (span) { this.open.delete(key); this.closeSpan(span, ev, index); }
      this.instant(lane, index);
      return;
    }
    if (WAIT_PAIRS[type]) {
      const rule = WAIT_PAIRS[type];
      const key = `${L}|${rule.kind}|${ev[rule.key] ?? ''}`;
      const label = ev[rule.key] != null ? `wait ${ev[rule.key]}` : `wait (${rule.kind.replace('-wait', '')})`;
      this.open.set(key, this.openSpan(lane, TRACK.BLOCK, rule.kind, label, ev, index));
      return;
    }
    if (WAIT_END[type]) {
      const rule = WAIT_PAIRS[WAIT_END[type]];
      const key = `${L}|${rule.kind}|${ev[rule.key] ?? ''}`;
      const span = this.open.get(key);
      if (span) {
        this.open.delete(key);
        this.closeSpan(span, ev, index);
        if (ev.timedOut || type.endsWith('.timeout')) span.timedOut = true;
      }
      this.instant(lane, index); // wakes/acquires/passes are hand-off ends too
      return;
    }
    // Generic pairing: X.start/X.end and X.begin/X.end on the same lane.
    const dot = type.lastIndexOf('.');
    if (dot > 0) {
      const prefix = type.slice(0, dot);
      const suffix = type.slice(dot + 1);
      if (suffix === 'start' || suffix === 'begin') {
        const key = `${L}|g|${prefix}`;
        this.open.set(key, this.openSpan(lane, TRACK.TASK, 'generic', prefix, ev, index));
        return;
      }
      if (suffix === 'end') {
        const key = `${L}|g|${prefix}`;
        const span = this.open.get(key);
        if (span) { this.open.delete(key); this.closeSpan(span, ev, index); return; }
      }
    }
    this.instant(lane, index);
  }

  /** Number of events with ts <= t (all of them when t is null). */
  countUpTo(t) {
    if (t == null) return this.events.length;
    return upperBound(this.events, t, (e) => e.ts);
  }

  /** The lanes in display order: grouped by process, groups in order of first appearance. */
  orderedGroups() {
    return [...this.groups.values()];
  }

  duration() {
    const d = this.end?.summary?.durationMs;
    return Math.max(this.maxTs, typeof d === 'number' ? d * 1000 : 0);
  }
}

/** First index whose key(item) > value. */
export function upperBound(arr, value, key) {
  let lo = 0; let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(arr[mid]) <= value) lo = mid + 1; else hi = mid;
  }
  return lo;
}

/** First index whose key(item) >= value. */
export function lowerBound(arr, value, key) {
  let lo = 0; let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (key(arr[mid]) < value) lo = mid + 1; else hi = mid;
  }
  return lo;
}
