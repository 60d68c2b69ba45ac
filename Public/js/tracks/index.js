// Track registry: extra rows and overlays on the timeline, added by modules without editing the
// timeline itself. A module (e.g. Public/js/tracks/gil.js, loaded from Public/js/ext/) calls
//
//   import { registerTrack } from './index.js';
//   registerTrack({
//     id: 'gil',                 // unique; registering the same id again replaces it
//     placement: 'top',          // 'top' (under the axis, above the processes), 'bottom' (under
//                                // the counters) or 'lane' (right under every lane)
//     order: 10,                 // smaller first within a placement (default 100)
//     rows(model) { return [{ label, sublabel?, height, draw, hit? }]; },   // 'top' / 'bottom'
//     laneRows(model, lane) { return [...]; },                              // 'lane'
//     overlay(ctx, frame, model) { … },  // optional: drawn over every row (flags, bands, callouts)
//     hitOverlay(x, y, frame, model) { … },  // optional: what an overlay shows at a point (as row.hit)
//     legend: [{ label, draw(ctx, w, h) }],  // optional: entries for the legend under the timeline
//   });
//
// Row functions run at layout time; the layout is redone whenever model.layoutVersion changes,
// so a handler that makes a new row appear bumps m.layoutVersion (see model/registry.js). Return
// [] when the run has nothing for the track (the row then takes no space).
//
//   row.draw(ctx, frame, model, row)   row = {y, h, def, lane}: paint inside y … y+h, plot area only
//   row.hit(x, y, frame, model, row)   optional → {index} (an event: tooltip + click-to-select),
//                                      {index, span}, {text} (tooltip text only) or null
//   overlay(ctx, frame, model)         drawn after flows, before the selection/replay marks
//
// `frame` describes the picture being drawn: {t0, t1, scale, tMax, X(t) → px, T(px) → t,
// left (x of the plot's left edge), width, height, axisH, g (lane geometry: laneH, instantY,
// trackY, trackH, compact), rows (the layout), laneY(name) → y of a lane's top or null,
// limit (replay cursor or null), timeline}. Everything is in CSS pixels; the context is
// clipped to the plot and already scaled for the device pixel ratio. Draw only what lies in
// t0 … t1 and at or before tMax (replay). A label in the gutter is drawn for you from
// row.label / row.sublabel.

const tracks = new Map(); // id -> track
let version = 0;

export function registerTrack(track) {
  if (!track || typeof track.id !== 'string') throw new TypeError('registerTrack({id, …})');
  tracks.set(track.id, { placement: 'bottom', order: 100, ...track });
  version++;
}

export function unregisterTrack(id) { if (tracks.delete(id)) version++; }

/** Bumps whenever the set of tracks changes (timelines re-layout when it does). */
export function tracksVersion() { return version; }

export function allTracks() {
  return [...tracks.values()].sort((a, b) => a.order - b.order);
}

/** Tracks of one placement that define the given row function. */
export function tracksFor(placement, fn) {
  return allTracks().filter((t) => t.placement === placement && typeof t[fn] === 'function');
}
