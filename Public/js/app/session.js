// A run on screen: starting one from the form, opening one (live or recorded), following its
// event stream with resume-on-drop retries, and the runs list in the sidebar.

import { $, state, app, setStatus, setRendered, message } from './context.js';
import { api, streamEvents, streamColumns, ApiError, withToken } from '../api.js';
import { readParams } from '../form.js';
import { RunModel } from '../model.js';
import { wantedFields } from '../model/registry.js';
import { renderRuns, fillCompareSelect, isFinished, paramsText } from '../runs.js';
import { renderDeadlocks } from '../deadlock.js';
import { renderSummary } from '../summary.js';
import { syncUrl } from './url.js';

export async function startRun() {
  if (!state.experiment) return;
  let params;
  try { params = readParams($('param-fields'), state.experiment); } catch (err) {
    $('form-error').textContent = err.message;
    return;
  }
  $('form-error').textContent = '';
  $('run-button').disabled = true;
  try {
    const run = await api.startRun(state.experiment.id, params);
    openRun(run.id, run);
    refreshRuns();
  } catch (err) {
    const retry = err instanceof ApiError && err.status === 429 && err.retryAfter ? ` Try again in ${err.retryAfter} s.` : '';
    $('form-error').textContent = `${err.message}${retry}`;
  } finally {
    $('run-button').disabled = false;
  }
}

export async function openRun(id, knownRun = null) {
  const { view, timeline, log, replay } = app;
  const token = ++state.openToken;
  // what opening the run cost (ms since navigation start, and ms spent parsing and modelling):
  // benchmarks read it (bench/viewer_bench.py)
  state.timing = { open: performance.now(), firstEvent: null, loaded: null, drawn: null, painted: null, parseMs: 0, modelMs: 0, workerMs: 0 };
  state.stream?.abort();
  replay.reset();
  let run = knownRun;
  if (!run) {
    try { run = await api.run(id); } catch (err) {
      message(`Could not open run ${id}: ${err.message}`);
      return;
    }
  }
  if (token !== state.openToken) return;
  message('');
  state.run = run;
  const model = new RunModel(run);
  model.id = run.id;
  state.model = model;
  $('run-panel').hidden = false;
  $('guide').hidden = true;
  // narrow windows stack the page: bring the run into view (the catalog is below it)
  if (window.matchMedia('(max-width: 900px)').matches) $('run-panel').scrollIntoView({ block: 'start' });
  const ptext = paramsText(run.params);
  $('run-title').textContent = ptext ? `${run.experiment} · ${ptext}` : run.experiment;
  $('export-chrome').href = withToken(run.links?.trace || `/api/runs/${encodeURIComponent(run.id)}/trace?format=chrome`);
  $('export-chrome').download = `interleave-${run.id}.chrome.json`;
  setStatus(run.status);
  setRendered(0);
  renderSummary($('summary'), null);
  renderDeadlocks($('deadlock'), model);
  view.follow = true;
  timeline.setModel(model);
  log.setModel(model);
  replay.setModel(model, false);
  markRunsCurrent();
  syncUrl();
  if (state.experiment?.id !== run.experiment && state.experiments.some((e) => e.id === run.experiment)) {
    app.chooseExperiment(run.experiment, run.params || {});
  }
  await followEvents(run, model, token);
}

async function followEvents(run, model, token) {
  const { timeline, log, replay } = app;
  const ctrl = new AbortController();
  state.stream = ctrl;
  // A recorded run arrives as fast as the network allows: show progress twice a second rather
  // than spend the load redrawing. A live run redraws as often as drawing cost allows.
  timeline.loadingInterval = isFinished(run.status) ? 1000 : 0;
  log.loadingInterval = timeline.loadingInterval;
  // A finished run is read by the ingest worker (model/ingest-worker.js: bytes scanned off this
  // thread, event objects made on demand); a live one as parsed objects, batch by batch.
  // (An offline hand-out answers fetch on this page only: there, the page reads the events itself.)
  const columnar = isFinished(run.status) && typeof Worker === 'function' && !model.count
    && document.body.dataset.offline !== 'true';
  const fields = columnar ? wantedFields() : null;
  const onBatch = (batch) => {
    if (token !== state.openToken) return;
    const t = state.timing;
    if (t.firstEvent == null) t.firstEvent = performance.now();
    const t0 = performance.now();
    if (columnar) model.addColumns(batch, fields); else model.addBatch(batch);
    t.modelMs += performance.now() - t0;
    if (model.end && !isFinished(document.body.dataset.runStatus)) {
      // run.end carries the summary: show it with the final status, so both change together
      renderSummary($('summary'), model.end.summary, model.end.status);
      setStatus(model.end.status || 'completed');
    } else if (document.body.dataset.runStatus === 'queued') setStatus('running');
    log.update();
    timeline.invalidate(false);
    if (model.deadlocks.length || model.potentials.length) renderDeadlocks($('deadlock'), model);
  };
  // Follow until run.end arrives. If the stream drops (network, server restart) before that,
  // resume from the next seq — unless the record says the run is over.
  for (let attempt = 0; ; attempt++) {
    try {
      const opts = { from: model.lastSeq + 1, onBatch, signal: ctrl.signal, timing: state.timing };
      if (columnar) await streamColumns(run.id, { ...opts, fields, onColumns: onBatch });
      else await streamEvents(run.id, opts);
    } catch (err) {
      if (ctrl.signal.aborted || token !== state.openToken) return;
    }
    if (token !== state.openToken) return;
    if (model.end || attempt >= 30) break;
    let rec = null;
    try { rec = await api.run(run.id); } catch (err) {
      if (err instanceof ApiError && err.status === 404) break; // deleted meanwhile
      /* server away: retry below */
    }
    if (rec && isFinished(rec.status) && rec.eventCount <= model.events.length) break;
    await new Promise((r) => setTimeout(r, Math.min(2000, 200 * (attempt + 1))));
  }
  if (token !== state.openToken) return;
  state.timing.loaded = performance.now();
  log.loadingInterval = 0;
  timeline.invalidate();
  // The stream closed: the run is over. Ask for the authoritative record.
  let final = run;
  for (let i = 0; i < 20; i++) {
    try { final = await api.run(run.id); } catch { break; }
    if (isFinished(final.status)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  if (token !== state.openToken) return;
  state.run = final;
  renderSummary($('summary'), final.summary || model.end?.summary, final.status);
  renderDeadlocks($('deadlock'), model);
  timeline.invalidate();
  log.update();
  replay.setModel(model, isFinished(final.status));
  setStatus(final.status);
  refreshRuns();
}

export async function cancelRun() {
  if (!state.run) return;
  try { await api.deleteRun(state.run.id); } catch (err) { message(err.message); }
}

// ---- runs list --------------------------------------------------------------------------------
function markRunsCurrent() {
  for (const b of $('runs').querySelectorAll('[data-run-id]')) {
    b.setAttribute('aria-current', String(b.dataset.runId === state.run?.id));
  }
}

export async function refreshRuns() {
  clearTimeout(state.runsTimer);
  try {
    state.runs = await api.runs();
  } catch (err) {
    message(`Could not list runs: ${err.message}`);
    return;
  }
  renderRuns($('runs'), state.runs, state.run?.id, (id) => openRun(id));
  fillCompareSelect($('compare-select'), state.runs, state.run?.id, state.compare?.run.id);
  if (state.runs.some((r) => !isFinished(r.status))) state.runsTimer = setTimeout(refreshRuns, 2000);
}
