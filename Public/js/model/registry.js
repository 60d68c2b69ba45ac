// The model's event handlers, by type. RunModel.add looks the event's type up here; modules add
// their own types without touching model.js:
//
//   import { on, onEvery } from '../model/registry.js';
//   on('gil.acquire', (m, ev, index, lane) => { … });   // one exact type
//   on('gil.*', (m, ev, index, lane) => { … });         // every type with that prefix
//   onEvery((m, ev, index, lane) => { … });             // every event (e.g. its `cpu` field)
//
// A handler gets the model, the event (already given a seq-ordered `ts`), its index in
// m.events and its lane (created on first sight). Every handler registered for a type runs, in
// registration order (exact types first, then prefixes). A type nobody registered gets the
// default: X.start/X.begin … X.end pair into a span on the work track, anything else is an
// instant marker on its lane. A handler that wants the default as well calls
// m.defaultHandling(ev, index, lane). Keep per-run state in m.ext.<yourModule> (created lazily:
// `const s = (m.ext.gil ??= { holders: [] })`), and bump m.layoutVersion when something the
// layout depends on (a row appears) changes.
//
// Say which fields a handler reads, and a recorded run (read by model/ingest-worker.js) hands
// it a small object with just those and the base fields (seq, ts, type, lane, pid, tid, flow)
// instead of parsing the whole line: on(type, fn, ['lock']). A handler without a list gets the
// whole event, always — correct, only slower on a big run. m.events[index] is the whole event
// either way. Never keep the `ev` object a handler was given unless the handler has no list.

/** Tracks inside a lane, top to bottom. */
export const TRACK = { TASK: 0, BLOCK: 1, LOCK: 2 };

const exact = new Map();   // type -> [fn]
const prefixes = [];       // [{prefix, fn}]
const every = [];          // [fn]
let cache = new Map();     // type -> [fn] | null (null: use the default)
let whole = new Map();     // type -> true when a handler of it reads the whole event
const declared = new Map();// fn -> [field] (the fields it reads), for the handlers that said

/** Fields every event may carry that the model itself reads. */
export const BASE_FIELDS = ['seq', 'ts', 'type', 'lane', 'pid', 'tid', 'flow'];

export function on(type, fn, fields) {
  if (typeof type !== 'string' || typeof fn !== 'function') throw new TypeError('on(type, fn)');
  if (fields !== undefined) declared.set(fn, fields.map(String));
  if (type.endsWith('*')) prefixes.push({ prefix: type.slice(0, -1), fn });
  else {
    if (!exact.has(type)) exact.set(type, []);
    exact.get(type).push(fn);
  }
  cache = new Map();
  whole = new Map();
}

export function onEvery(fn, fields) {
  if (fields !== undefined) declared.set(fn, fields.map(String));
  every.push(fn);
  whole = new Map();
}

/** Whether a handler of this type (or of every type) reads more than the fields it declared. */
export function needsWholeEvent(type) {
  let w = whole.get(type);
  if (w === undefined) {
    w = [...every, ...(handlersFor(type) || [])].some((fn) => !declared.has(fn));
    whole.set(type, w);
  }
  return w;
}

/** The fields to pull out of each line for the handlers: the base ones and every declared one. */
export function wantedFields() {
  const set = new Set(BASE_FIELDS);
  for (const list of declared.values()) for (const f of list) set.add(f);
  return [...set].slice(0, 255);
}

/** The handlers for one type, or null when the default applies. */
export function handlersFor(type) {
  let list = cache.get(type);
  if (list !== undefined) return list;
  list = [...(exact.get(type) || [])];
  for (const p of prefixes) if (type.startsWith(p.prefix)) list.push(p.fn);
  if (!list.length) list = null;
  cache.set(type, list);
  return list;
}

export function everyHandlers() { return every; }
