// The events of a recorded run read by the ingest worker (model/ingest-worker.js): the raw NDJSON
// lines, kept as the worker sent them (ArrayBuffers, outside the JavaScript heap), and for each
// event index the block and line it came from. An event object is made only when something asks
// for it — m.events[i] (a tooltip, the log, a lesson note, an extension, a test) — by parsing
// that one line; the last few thousand asked for are kept.
//
// m.events stays an array-like for every reader: events[i], events.length, and the Array methods
// (map, findIndex …) work on it, each element made on demand. It is read-only.

const CACHE_MAX = 20000;

// What a handler that declared its fields gets for an event of a recorded run: one object, reused
// for every event (fields the event did not carry are undefined), so nothing is allocated per
// event and the handlers' property reads stay monomorphic. Fields beyond these are added by name.
// (Which is why a handler that declared its fields must not keep the object: model/registry.js.)
const SLIM_FIELDS = ['seq', 'ts', 'type', 'lane', 'pid', 'tid', 'flow', 'kind', 'task', 'lock', 'op', 'name', 'value',
  'expected', 'waiting', 'queue', 'timedOut', 'sem', 'event', 'cond', 'barrier', 'item', 'torn', 'merged'];
const SLIM_INDEX = new Map(SLIM_FIELDS.map((f, i) => [f, i]));
const EXTRA = Symbol('extra fields');
export class Slim {
  constructor() { this[EXTRA] = []; this.reset(); }

  /** Clear it for the next event (one Slim is reused for every event of a batch: nothing to collect). */
  reset() {
    this.seq = undefined; this.ts = undefined; this.type = undefined; this.lane = undefined; this.pid = undefined;
    this.tid = undefined; this.flow = undefined; this.kind = undefined; this.task = undefined; this.lock = undefined;
    this.op = undefined; this.name = undefined; this.value = undefined; this.expected = undefined;
    this.waiting = undefined; this.queue = undefined; this.timedOut = undefined; this.sem = undefined;
    this.event = undefined; this.cond = undefined; this.barrier = undefined; this.item = undefined;
    this.torn = undefined; this.merged = undefined;
    for (const name of this[EXTRA]) this[name] = undefined;
  }
}
export function setField(ev, known, name, v) {
  switch (known) {
    case 0: ev.seq = v; break; case 1: ev.ts = v; break; case 2: ev.type = v; break; case 3: ev.lane = v; break;
    case 4: ev.pid = v; break; case 5: ev.tid = v; break; case 6: ev.flow = v; break; case 7: ev.kind = v; break;
    case 8: ev.task = v; break; case 9: ev.lock = v; break; case 10: ev.op = v; break; case 11: ev.name = v; break;
    case 12: ev.value = v; break; case 13: ev.expected = v; break; case 14: ev.waiting = v; break;
    case 15: ev.queue = v; break; case 16: ev.timedOut = v; break; case 17: ev.sem = v; break;
    case 18: ev.event = v; break; case 19: ev.cond = v; break; case 20: ev.barrier = v; break;
    case 21: ev.item = v; break; case 22: ev.torn = v; break; case 23: ev.merged = v; break;
    default:
      if (!(name in ev)) ev[EXTRA].push(name);
      ev[name] = v;
  }
}

export class LineStore {
  constructor(model) {
    this.model = model;
    this.blocks = [];              // [{bytes: Uint8Array, offs: Uint32Array}]
    this.blockOf = new Uint32Array(model.tsCol.length); // event index -> block
    this.lineOf = new Uint32Array(model.tsCol.length);  // event index -> line in its block
    this.strings = [];             // the worker's string table (ids in its batches)
    this.malformed = 0;            // lines that were not a JSON object (skipped)
    this.cache = new Map();        // index -> event object
    this.decoder = new TextDecoder();
    const store = this;
    this.events = new Proxy([], {
      get(target, key, receiver) {
        if (typeof key === 'string') {
          const c = key.charCodeAt(0);
          if (c >= 48 && c <= 57) {
            const i = Number(key);
            if (Number.isInteger(i)) return i < model.count ? store.get(i) : undefined;
          } else if (key === 'length') return model.count;
        }
        return Reflect.get(target, key, receiver);
      },
      has(target, key) {
        if (typeof key === 'string' && /^\d+$/.test(key)) return Number(key) < model.count;
        return Reflect.has(target, key);
      },
      set() { return false; },
    });
  }

  /** For each asked-for field, its place in model.js's Slim shape (-1: added by name). */
  knownFields(fields) {
    if (this.known?.fields !== fields) {
      this.known = { fields, slots: Int8Array.from(fields, (f) => (SLIM_INDEX.has(f) ? SLIM_INDEX.get(f) : -1)) };
    }
    return this.known.slots;
  }

  addBlock(batch) {
    this.blocks.push({ bytes: new Uint8Array(batch.bytes), offs: batch.offs });
    return this.blocks.length - 1;
  }

  set(index, block, line) {
    if (index >= this.blockOf.length) {
      const n = Math.max(this.blockOf.length * 2, index + 1);
      const b = new Uint32Array(n); b.set(this.blockOf); this.blockOf = b;
      const l = new Uint32Array(n); l.set(this.lineOf); this.lineOf = l;
    }
    this.blockOf[index] = block;
    this.lineOf[index] = line;
  }

  /** The text of a line. */
  text(block, line) {
    const { bytes, offs } = this.blocks[block];
    return this.decoder.decode(bytes.subarray(offs[line], offs[line + 1]));
  }

  /** A line parsed (null when it is not JSON). */
  parse(block, line) {
    try { return JSON.parse(this.text(block, line)); } catch { return null; }
  }

  /** The event at this index, as the model saw it (its ts kept non-decreasing, like add() does). */
  get(index) {
    let ev = this.cache.get(index);
    if (ev !== undefined) return ev;
    ev = this.parse(this.blockOf[index], this.lineOf[index]);
    if (ev == null || typeof ev !== 'object') return undefined;
    ev.ts = this.model.tsCol[index];
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(index, ev);
    return ev;
  }

  /** Every event's line, in order, as NDJSON (for export: the bytes as the server sent them). */
  ndjsonParts() {
    const parts = [];
    const n = this.model.count;
    let k = 0;
    while (k < n) { // runs of consecutive lines of one block are one slice
      const b = this.blockOf[k]; const first = this.lineOf[k];
      let e = k + 1;
      while (e < n && this.blockOf[e] === b && this.lineOf[e] === first + (e - k)) e++;
      const { bytes, offs } = this.blocks[b];
      parts.push(bytes.subarray(offs[first], offs[first + (e - k)]));
      k = e;
    }
    return parts;
  }
}
