// The address bar mirrors what is on screen (experiment, parameters, run, compared run, time
// window, selected event), and a shared link restores it.

import { $, state, app } from './context.js';
import { readParams } from '../form.js';

export function currentParams() {
  if (!state.experiment) return null;
  try { return readParams($('param-fields'), state.experiment); } catch { return null; }
}

export function syncUrl() {
  const { view, timeline } = app;
  const q = new URLSearchParams();
  if (state.experiment) {
    q.set('experiment', state.experiment.id);
    const params = currentParams();
    if (params) {
      for (const [k, v] of Object.entries(params)) {
        if (Array.isArray(v) && !v.length) continue; // an empty list is the default: keep links short
        q.set(k, Array.isArray(v) ? v.join(',') : String(v));
      }
    }
  }
  if (state.run) q.set('run', state.run.id);
  if (state.compares.length) q.set('compare', state.compares.map((c) => c.run.id).join(','));
  if (state.run && state.model && !view.follow) {
    // the time window on screen (µs), so a shared link opens on the same stretch of the run
    q.set('view', `${Math.round(view.t0)},${Math.round(view.t0 + view.plotWidth / view.scale)}`);
  }
  const sel = state.model?.events[timeline.selected];
  if (sel && typeof sel.seq === 'number') q.set('event', String(sel.seq));
  const url = `${location.pathname}${q.toString() ? `?${q}` : ''}`;
  if (url !== `${location.pathname}${location.search}`) history.replaceState(null, '', url);
}

/** Apply a link's view=<t0>,<t1> and event=<seq> once its run is loaded. */
export function applyLinkedView(q) {
  const { view } = app;
  const m = state.model;
  if (!m) return;
  const range = (q.get('view') || '').split(',').map(Number);
  if (range.length === 2 && range.every(isFinite) && range[1] > range[0]) {
    view.follow = false;
    view.t0 = range[0];
    view.scale = view.plotWidth / (range[1] - range[0]);
    view.changed();
  }
  const seq = Number(q.get('event'));
  if (q.has('event') && isFinite(seq)) {
    const index = m.events[seq]?.seq === seq ? seq : m.events.findIndex((e) => e.seq === seq);
    if (index >= 0) app.select(index, 'link');
  }
}
