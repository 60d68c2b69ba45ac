// Compare: other runs drawn below the first, each from its own start (ts counts from every run's
// own run.start), on one shared time axis and one shared scale per counter name, each with its
// verdict and summary. Any number of runs (threads vs processes vs async of one workload).

import { $, state, app, message } from './context.js';
import { api, streamEvents } from '../api.js';
import { RunModel } from '../model.js';
import { Timeline } from '../timeline.js';
import { paramsText } from '../runs.js';
import { renderSummary } from '../summary.js';
import { syncUrl } from './url.js';

/** One counter scale for every run on screen, so equal heights mean equal values. */
function sharedCounterScale(name) {
  let hi = null;
  for (const m of [state.model, ...state.compares.map((c) => c.model)]) {
    const c = m?.counters.get(name);
    if (c) hi = Math.max(hi ?? -Infinity, c.max, c.expMax ?? -Infinity);
  }
  return hi;
}

function useSharedScale() {
  const on = state.compares.length > 0;
  for (const tl of [app.timeline, ...state.compares.map((c) => c.timeline)]) {
    tl.counterScale = on ? sharedCounterScale : null;
    tl.invalidate();
  }
}

function removeCompare(entry) {
  entry.stream.abort();
  app.view.timelines.delete(entry.timeline);
  entry.el.remove();
  state.compares = state.compares.filter((c) => c !== entry);
  $('compare-wrap').hidden = !state.compares.length;
  if (!state.compares.length) $('compare-select').value = '';
  useSharedScale();
  if (app.view.follow) app.view.fit();
  syncUrl();
}

export function clearCompares() {
  for (const c of [...state.compares]) removeCompare(c);
}

/** Add a run below the others (id), or clear them all (empty id). */
export async function openCompare(id) {
  const { view, timeline } = app;
  if (!id) { clearCompares(); return; }
  if (id === state.run?.id || state.compares.some((c) => c.run.id === id)) return;
  let run;
  try { run = await api.run(id); } catch (err) { message(`Could not open run ${id} to compare: ${err.message}`); return; }
  const model = new RunModel(run);
  model.id = run.id;
  const el = document.createElement('section');
  el.className = 'compare-run';
  el.dataset.compareRun = run.id;
  const head = document.createElement('div');
  head.className = 'compare-label';
  const title = document.createElement('strong');
  title.textContent = `${run.experiment} · ${paramsText(run.params)} · ${run.status}`;
  const note = document.createElement('span');
  note.className = 'muted';
  note.textContent = ' — from its own start, same time axis and counter scale';
  const remove = document.createElement('button');
  remove.type = 'button';
  remove.className = 'small';
  remove.textContent = 'Remove';
  head.append(title, note, remove);
  const summary = document.createElement('div');
  summary.className = 'summary compact';
  summary.hidden = true;
  const wrap = document.createElement('div');
  wrap.className = 'timeline-wrap compare';
  const canvas = document.createElement('canvas');
  canvas.tabIndex = 0;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `Timeline of the compared run ${run.id}, same time axis`);
  wrap.appendChild(canvas);
  el.append(head, summary, wrap);
  $('compare-wrap').appendChild(el);
  $('compare-wrap').hidden = false;
  const tl = new Timeline(canvas, view, { tooltip: null });
  const stream = new AbortController();
  const entry = { run, model, stream, timeline: tl, el };
  remove.addEventListener('click', () => removeCompare(entry));
  state.compares.push(entry);
  const sel = $('compare-select');
  if (![...sel.options].some((o) => o.value === run.id)) sel.add(new Option(`${run.experiment} · ${run.status}`, run.id));
  sel.value = run.id;
  tl.setModel(model);
  useSharedScale();
  syncUrl();
  try {
    await streamEvents(run.id, {
      signal: stream.signal,
      onBatch: (batch) => { model.addBatch(batch); tl.invalidate(); },
    });
  } catch (err) {
    if (!stream.signal.aborted) message(`Compare stream failed: ${err.message}`);
  }
  if (stream.signal.aborted) return;
  const final = await api.run(id).catch(() => run);
  renderSummary(summary, final.summary || model.end?.summary, final.status);
  if (view.follow) view.fit();
  useSharedScale();
  timeline.invalidate();
}
