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

/** Tracks inside a lane, top to bottom. */
export const TRACK = { TASK: 0, BLOCK: 1, LOCK: 2 };

const exact = new Map();   // type -> [fn]
const prefixes = [];       // [{prefix, fn}]
const every = [];          // [fn]
let cache = new Map();     // type -> [fn] | null (null: use the default)

export function on(type, fn) {
  if (typeof type !== 'string' || typeof fn !== 'function') throw new TypeError('on(type, fn)');
  if (type.endsWith('*')) prefixes.push({ prefix: type.slice(0, -1), fn });
  else {
    if (!exact.has(type)) exact.set(type, []);
    exact.get(type).push(fn);
  }
  cache = new Map();
}

export function onEvery(fn) { every.push(fn); }

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
