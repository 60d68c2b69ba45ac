// The run model: turns the flat event stream into what the timeline draws — lanes grouped by
// process, spans (task, lock wait, lock hold, blocking waits, generic X.start/X.end), instants,
// flow pairs, counter series and deadlock reports. Built incrementally, one event at a time, so
// a live run and a 100k-event recorded run go through the same code. What each event type does
// to the model is table-driven: see model/registry.js (core types in model/core.js).
//
// Two ways in, one model:
//  - addBatch(events): parsed event objects (a live run, tests); m.events is a plain array of them.
//  - addColumns(batch): a recorded run read by the ingest worker (model/ingest-worker.js), which
//    sends the raw lines plus only the fields the handlers declared. Each event is handled as a
//    small object made from those fields (or, for a type whose handlers did not say what they
//    read, the whole line parsed) and then dropped: nothing per event stays on the heap but the
//    typed columns below. m.events is then a read-only array-like (model/store.js) that parses a
//    line when someone asks for that event (tooltip, log, lessons, tests).
// Either way, per event index: tsCol (ts), typeCol (m.typeNames[id]) and laneCol (m.laneList[id]).

import { TRACK, handlersFor, everyHandlers, needsWholeEvent } from './model/registry.js';
import { SpanIndex } from './model/spans.js';
import { LineStore, Slim, setField } from './model/store.js';
import './model/core.js';

export { TRACK };

function laneKey(ev) { return ev.lane == null ? '?' : String(ev.lane); }

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
function laneOrder(a, b) {
  const am = a.kind === 'main' || a.name === 'main';
  const bm = b.kind === 'main' || b.name === 'main';
  if (am !== bm) return am ? -1 : 1;
  return collator.compare(a.name, b.name) || a.index - b.index;
}

export class RunModel {
  constructor(run = null) {
    this.run = run;
    this.events = [];
    this.lanes = new Map();      // name -> lane
    this.groups = new Map();     // pid -> {pid, lanes: []}
    this.counters = new Map();   // name -> {name, points: [[ts, value]], min, max}
    this.flows = [];             // [{a, b}] event indices, in order of b (so of b's ts)
    this.flowMaxDur = 0;         // the longest flow (µs): flows ending after t0 - this can reach t0
    this.count = 0;              // events in the model (m.events.length)
    // room for the events the run record announces (a recorded run), so the columns need not grow
    const cap = Math.min(Math.max(1024, (Number(run?.eventCount) || 0) + 16), 1 << 26);
    this.tsCol = new Float64Array(cap); // ts of every event by index (fast binary searches)
    this.typeCol = new Uint16Array(cap); // type of every event: an id into typeNames
    this.laneCol = new Uint32Array(cap); // lane of every event: an id into laneList (lane.index)
    this.typeNames = [];
    this.typeIds = new Map();    // type -> id
    this.laneList = [];          // lanes by index
    this.store = null;           // model/store.js when fed by addColumns
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
    this.ext = {};               // per-module state of registered handlers (model/registry.js)
  }

  addBatch(events) {
    for (const ev of events) this.add(ev);
    this.version++;
  }

  /** A batch from the ingest worker (model/ingest-worker.js); `fields` is the list it was asked for. */
  addColumns(batch, fields) {
    if (!this.store) {
      if (this.count) throw new Error('addColumns after addBatch');
      this.store = new LineStore(this);
      this.events = this.store.events;
    }
    const store = this.store;
    const block = store.addBlock(batch);
    const strings = store.strings;
    for (const str of batch.strings) strings.push(str);
    const { n, flags, fStart, fSlot, fTag, fVal } = batch;
    const known = store.knownFields(fields);
    const slim = (store.slim ??= new Slim());
    for (let k = 0; k < n; k++) {
      let ev = null;
      if (flags[k] === 0) {
        ev = slim;
        ev.reset();
        for (let q = fStart[k], qe = fStart[k + 1]; q < qe; q++) {
          const tag = fTag[q];
          const v = tag === 1 ? fVal[q] : tag === 2 ? strings[fVal[q]] : tag === 3 ? true : tag === 4 ? false : null;
          const slot = fSlot[q];
          setField(ev, known[slot], fields[slot], v);
        }
        if (needsWholeEvent(typeof ev.type === 'string' ? ev.type : 'unknown')) ev = store.parse(block, k);
      } else ev = store.parse(block, k);
      if (ev == null || typeof ev !== 'object' || Array.isArray(ev)) { store.malformed++; continue; }
      const index = this.record(ev);
      if (index < 0) continue;
      store.set(index, block, k);
      this.handle(ev, index);
    }
    this.version++;
  }

  lane(ev) {
    const name = laneKey(ev);
    let lane = this.lanes.get(name);
    if (lane) return lane;
    if (!lane) {
      const pid = ev.pid ?? 0;
      lane = {
        name, pid, tid: ev.tid, kind: null, index: this.lanes.size,
        tracks: [[], [], []], maxDur: [0, 0, 0], openSpans: new Set(),
        spanIndex: [null, null, null], // per track: model/spans.js, made when its first span closes
        pairs: new Map(),            // what is open on the lane, by kind and key (model/core.js)
        instants: [], instantsByType: new Map(), startTs: ev.ts, endTs: null, deadlocked: false,
      };
      this.lanes.set(name, lane);
      this.laneList.push(lane);
      let group = this.groups.get(pid);
      if (!group) { group = { pid, lanes: [] }; this.groups.set(pid, group); }
      group.lanes.push(lane);
      this.layoutVersion++;
    }
    return lane;
  }

  openSpan(lane, track, kind, label, ev, index, extra) {
    const list = lane.tracks[track];
    // every span has the same fields, set in the same order: one object shape for the hot paths
    const span = {
      lane, track, kind, label, start: ev.ts, end: null, a: index, b: -1, depth: 0, i: list.length,
      lock: undefined, task: undefined, contended: false, contendedAt: null, timedOut: false, cutOff: false,
    };
    if (extra) Object.assign(span, extra);
    list.push(span);
    lane.openSpans.add(span);
    return span;
  }

  closeSpan(span, ev, index) {
    span.end = Math.max(ev.ts, span.start);
    span.b = index;
    span.lane.openSpans.delete(span);
    const d = span.end - span.start;
    const lane = span.lane;
    if (d > lane.maxDur[span.track]) lane.maxDur[span.track] = d;
    (lane.spanIndex[span.track] ??= new SpanIndex(lane.tracks[span.track])).add(span);
  }

  instant(lane, index) {
    lane.instants.push(index);
    const type = this.typeNames[this.typeCol[index]];
    let list = lane.instantsByType.get(type);
    if (!list) { list = []; lane.instantsByType.set(type, list); }
    list.push(index);
  }

  /** ts of the event at this index. */
  tsOf(index) { return this.tsCol[index]; }

  /** The type of the event at this index ('unknown' when it had none). */
  typeOf(index) { return this.typeNames[this.typeCol[index]]; }

  /** The lane of the event at this index. */
  laneOf(index) { return this.laneList[this.laneCol[index]]; }

  add(ev) {
    if (ev == null || typeof ev !== 'object' || Array.isArray(ev)) return; // not an event
    const index = this.record(ev);
    if (index < 0) return;
    this.events.push(ev);
    this.handle(ev, index);
  }

  /** Give the event its index and columns (-1: a duplicate, skipped). */
  record(ev) {
    const seq = ev.seq;
    if (typeof seq === 'number') {
      if (seq <= this.lastSeq) return -1; // duplicate after a resume
      this.lastSeq = seq;
    }
    // keep ts finite and non-decreasing, for binary searches
    const ts = ev.ts;
    if (typeof ts !== 'number' || !(ts >= this.maxTs) || ts === Infinity) ev.ts = this.maxTs;
    this.maxTs = ev.ts;
    const index = this.count++;
    if (index >= this.tsCol.length) this.grow();
    this.tsCol[index] = ev.ts;
    const type = typeof ev.type === 'string' ? ev.type : 'unknown';
    let id = this.typeIds.get(type);
    if (id === undefined) {
      id = this.typeNames.length;
      this.typeNames.push(type);
      this.typeIds.set(type, id);
      this.types.add(type);
    }
    this.typeCol[index] = id;
    this.laneCol[index] = this.lane(ev).index;
    return index;
  }

  grow() {
    const n = this.tsCol.length * 2;
    const ts = new Float64Array(n); ts.set(this.tsCol); this.tsCol = ts;
    const ty = new Uint16Array(n); ty.set(this.typeCol); this.typeCol = ty;
    const la = new Uint32Array(n); la.set(this.laneCol); this.laneCol = la;
  }

  /** Run the handlers of an event already recorded at this index. */
  handle(ev, index) {
    const type = this.typeNames[this.typeCol[index]];
    const lane = this.laneList[this.laneCol[index]];
    if (ev.flow != null) {
      // Every later event of a flow is a receiver of its first one: one event.set that wakes
      // three waiters draws three arrows out of the set, not a chain through the waiters.
      const origin = this.flowOpen.get(ev.flow);
      if (origin != null) {
        this.flows.push({ a: origin, b: index });
        const d = ev.ts - this.tsCol[origin];
        if (d > this.flowMaxDur) this.flowMaxDur = d;
      }
      else this.flowOpen.set(ev.flow, index);
    }
    for (const fn of everyHandlers()) fn(this, ev, index, lane);
    const handlers = handlersFor(type);
    if (handlers) for (const fn of handlers) fn(this, ev, index, lane);
    else this.defaultHandling(ev, index, lane);
  }

  /** What an event of a type nobody registered becomes: X.start/X.begin … X.end pair into a span, else an instant. */
  defaultHandling(ev, index, lane) {
    const type = typeof ev.type === 'string' ? ev.type : 'unknown';
    const dot = type.lastIndexOf('.');
    if (dot > 0) {
      const prefix = type.slice(0, dot);
      const suffix = type.slice(dot + 1);
      const key = `${lane.name}|g|${prefix}`;
      if (suffix === 'start' || suffix === 'begin') {
        this.open.set(key, this.openSpan(lane, TRACK.TASK, 'generic', prefix, ev, index));
        return;
      }
      if (suffix === 'end') {
        const span = this.open.get(key);
        if (span) { this.open.delete(key); this.closeSpan(span, ev, index); return; }
      }
    }
    this.instant(lane, index);
  }

  /** Number of events with ts <= t (all of them when t is null). */
  countUpTo(t) {
    if (t == null) return this.count;
    const ts = this.tsCol;
    let lo = 0; let hi = this.count;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ts[mid] <= t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /** First position in a list of event indices (in ts order) whose event's ts >= t. */
  lowerIndex(list, t, lo = 0, hi = list.length) {
    const ts = this.tsCol;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ts[list[mid]] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /** First position in a list of event indices (in ts order) whose event's ts > t. */
  upperIndex(list, t, lo = 0, hi = list.length) {
    const ts = this.tsCol;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (ts[list[mid]] <= t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  /**
   * The lanes in display order: grouped by process, groups in order of first appearance; in a
   * group, main first, then the rest in natural order (worker-2 before worker-10).
   */
  orderedGroups() {
    if (this.orderCache?.version === this.layoutVersion) return this.orderCache.groups;
    const groups = [...this.groups.values()].map((g) => ({ ...g, lanes: [...g.lanes].sort(laneOrder) }));
    this.orderCache = { version: this.layoutVersion, groups };
    return groups;
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
