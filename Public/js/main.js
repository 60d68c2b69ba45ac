// Wires the viewer together: catalog → form → run → live timeline, log, summary, deadlocks,
// replay, compare, exports, and the URL that mirrors what is on screen.

import { api, streamEvents, ApiError } from './api.js';
import { renderCatalog, markCurrent } from './catalog.js';
import { buildForm, readParams, paramsFromQuery, curlCommand } from './form.js';
import { RunModel } from './model.js';
import { Timeline, TimeView } from './timeline.js';
import { EventLog } from './log.js';
import { renderRuns, fillCompareSelect, isFinished, paramsText } from './runs.js';
import { renderDeadlocks } from './deadlock.js';
import { renderSummary } from './summary.js';
import { Replayer } from './replay.js';
import { renderLegend } from './legend.js';
import { Overview } from './overview.js';

const $ = (id) => document.getElementById(id);

const state = {
  experiments: [],
  experiment: null,   // the chosen catalog entry
  run: null,          // run JSON of the run on screen
  model: null,
  stream: null,       // AbortController of the event stream
  compare: null,      // {run, model, stream}
  runs: [],
  runsTimer: null,
  openToken: 0,
};

// ---- hooks for automation ---------------------------------------------------------------------
function setStatus(status) {
  document.body.dataset.runStatus = status;
  const pill = $('run-status');
  pill.dataset.status = status;
  pill.textContent = status;
  $('run-cancel').hidden = !(status === 'running' || status === 'queued');
}
function setRendered(n) {
  const v = String(n);
  if (document.body.dataset.eventsRendered !== v) document.body.dataset.eventsRendered = v;
}
/** A text twin of the canvas lanes, for screen readers and for tests. */
function updateLaneList(model) {
  state.laneListVersion = model.layoutVersion;
  const ul = $('lane-list');
  ul.textContent = '';
  for (const g of model.orderedGroups()) {
    for (const lane of g.lanes) {
      const li = document.createElement('li');
      li.dataset.lane = lane.name;
      li.dataset.kind = lane.kind || '';
      li.dataset.pid = String(lane.pid);
      if (lane.deadlocked) li.dataset.deadlocked = 'true';
      li.textContent = `${lane.name}: ${lane.kind || 'actor'} in process ${lane.pid}${lane.deadlocked ? ', deadlocked' : ''}`;
      ul.appendChild(li);
    }
  }
}
function message(text) { $('app-message').textContent = text || ''; }

// ---- timeline, log, replay --------------------------------------------------------------------
const view = new TimeView();
// (timeline is declared below; the cursor is only asked for when drawing, after start-up)
const overview = new Overview($('overview'), view, () => state.model, () => timeline.limit);
const select = (index, from) => {
  if (!state.model || index == null || index < 0) return;
  timeline.select(index);
  log.select(index, from !== 'log');
  if (from === 'log' || from === 'link') timeline.reveal(index);
  syncUrl();
};
let urlTimer = null;
view.listeners.add(() => { clearTimeout(urlTimer); urlTimer = setTimeout(syncUrl, 300); });

/** Apply a link's view=<t0>,<t1> and event=<seq> once its run is loaded. */
function applyLinkedView(q) {
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
    if (index >= 0) select(index, 'link');
  }
}
const timeline = new Timeline($('timeline'), view, {
  tooltip: $('tooltip'),
  onSelect: select,
  onDrawn: (rendered) => {
    setRendered(rendered);
    overview.invalidate(); // after the timeline, so it outlines the window just drawn
    const t = state.timing;
    if (t && t.loaded != null && t.drawn == null && state.model && rendered === state.model.events.length) {
      t.drawn = performance.now();
    }
    if (state.model && state.model.layoutVersion !== state.laneListVersion) updateLaneList(state.model);
    if (state.model) {
      $('run-counts').textContent = `${state.model.events.length.toLocaleString()} events · ${state.model.lanes.size} lanes`;
    }
  },
});
const compareTimeline = new Timeline($('timeline-compare'), view, { tooltip: null });
view.timelines.delete(compareTimeline); // joined only while a comparison is shown
const log = new EventLog({
  container: $('log'), typeSelect: $('log-type'), laneSelect: $('log-lane'), textInput: $('log-text'),
  countEl: $('log-count'), onSelect: select,
});
const replay = new Replayer({
  root: $('replay'), playButton: $('replay-play'), speedSelect: $('replay-speed'),
  scrubber: $('replay-scrubber'), timeOut: $('replay-time'),
  onCursor: (t) => {
    timeline.setLimit(t);
    log.setLimit(t == null ? null : state.model.countUpTo(t));
    renderDeadlocks($('deadlock'), state.model, t);
  },
  onState: (s) => { document.body.dataset.replay = s; },
});
$('follow-toggle').addEventListener('click', () => view.setFollow(!view.follow));
view.listeners.add(() => $('follow-toggle').setAttribute('aria-pressed', String(view.follow)));
$('zoom-fit').addEventListener('click', () => view.fit());

// ---- URL state --------------------------------------------------------------------------------
function currentParams() {
  if (!state.experiment) return null;
  try { return readParams($('param-fields'), state.experiment); } catch { return null; }
}
function syncUrl() {
  const q = new URLSearchParams();
  if (state.experiment) {
    q.set('experiment', state.experiment.id);
    const params = currentParams();
    if (params) for (const [k, v] of Object.entries(params)) q.set(k, String(v));
  }
  if (state.run) q.set('run', state.run.id);
  if (state.compare) q.set('compare', state.compare.run.id);
  if (state.run && state.model && !view.follow) {
    // the time window on screen (µs), so a shared link opens on the same stretch of the run
    q.set('view', `${Math.round(view.t0)},${Math.round(view.t0 + view.plotWidth / view.scale)}`);
  }
  const sel = state.model?.events[timeline.selected];
  if (sel && typeof sel.seq === 'number') q.set('event', String(sel.seq));
  const url = `${location.pathname}${q.toString() ? `?${q}` : ''}`;
  if (url !== `${location.pathname}${location.search}`) history.replaceState(null, '', url);
}

// ---- catalog & form ---------------------------------------------------------------------------
function chooseExperiment(id, initial = {}) {
  const exp = state.experiments.find((e) => e.id === id);
  if (!exp) { message(`There is no experiment called “${id}”.`); return false; }
  state.experiment = exp;
  markCurrent($('catalog'), id);
  $('experiment-panel').hidden = false;
  $('experiment-title').textContent = exp.title || exp.id;
  $('experiment-summary').textContent = exp.summary || '';
  $('experiment-lesson').textContent = exp.lesson || '';
  const problems = buildForm($('param-fields'), exp, initial);
  $('form-error').textContent = problems.join(' ');
  updateCurl();
  syncUrl();
  return true;
}
function updateCurl() {
  if (!state.experiment) return;
  const params = currentParams();
  $('curl-command').value = params
    ? curlCommand(location.origin, state.experiment.id, params)
    : '# fix the values above to get the command';
}
$('param-fields').addEventListener('input', () => { updateCurl(); syncUrl(); });
$('param-fields').addEventListener('change', () => { updateCurl(); syncUrl(); });
$('curl-copy').addEventListener('click', async () => {
  const text = $('curl-command').value;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    $('curl-command').select();
    document.execCommand('copy');
  }
  $('curl-copy').textContent = 'Copied';
  setTimeout(() => { $('curl-copy').textContent = 'Copy'; }, 1500);
});
$('experiment-form').addEventListener('submit', (e) => { e.preventDefault(); startRun(); });

async function startRun() {
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

// ---- opening a run ----------------------------------------------------------------------------
async function openRun(id, knownRun = null) {
  const token = ++state.openToken;
  state.timing = { open: performance.now(), firstEvent: null, loaded: null, drawn: null };
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
  const ptext = paramsText(run.params);
  $('run-title').textContent = ptext ? `${run.experiment} · ${ptext}` : run.experiment;
  $('export-chrome').href = run.links?.trace || `/api/runs/${encodeURIComponent(run.id)}/trace?format=chrome`;
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
    chooseExperiment(run.experiment, run.params || {});
  }
  await followEvents(run, model, token);
}

async function followEvents(run, model, token) {
  const ctrl = new AbortController();
  state.stream = ctrl;
  // A recorded run arrives as fast as the network allows: show progress twice a second rather
  // than spend the load redrawing. A live run redraws as often as drawing cost allows.
  timeline.loadingInterval = isFinished(run.status) ? 500 : 0;
  const onBatch = (batch) => {
    if (token !== state.openToken) return;
    if (state.timing.firstEvent == null) state.timing.firstEvent = performance.now();
    model.addBatch(batch);
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
      await streamEvents(run.id, { from: model.lastSeq + 1, onBatch, signal: ctrl.signal });
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

$('run-cancel').addEventListener('click', async () => {
  if (!state.run) return;
  try { await api.deleteRun(state.run.id); } catch (err) { message(err.message); }
});

// ---- runs list & compare ----------------------------------------------------------------------
function markRunsCurrent() {
  for (const b of $('runs').querySelectorAll('[data-run-id]')) {
    b.setAttribute('aria-current', String(b.dataset.runId === state.run?.id));
  }
}
async function refreshRuns() {
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
$('runs-refresh').addEventListener('click', refreshRuns);

async function openCompare(id) {
  state.compare?.stream?.abort();
  if (!id) {
    state.compare = null;
    $('compare-wrap').hidden = true;
    view.timelines.delete(compareTimeline);
    view.fit();
    syncUrl();
    return;
  }
  let run;
  try { run = await api.run(id); } catch (err) { message(`Could not open run ${id} to compare: ${err.message}`); return; }
  const model = new RunModel(run);
  model.id = run.id;
  const stream = new AbortController();
  state.compare = { run, model, stream };
  const sel = $('compare-select');
  if (![...sel.options].some((o) => o.value === run.id)) sel.add(new Option(`${run.experiment} · ${run.status}`, run.id));
  sel.value = run.id;
  $('compare-wrap').hidden = false;
  $('compare-label').textContent = `Compared with: ${run.experiment} · ${paramsText(run.params)} · ${run.status} (same time axis)`;
  view.timelines.add(compareTimeline);
  compareTimeline.setModel(model);
  syncUrl();
  try {
    await streamEvents(run.id, {
      signal: stream.signal,
      onBatch: (batch) => { model.addBatch(batch); compareTimeline.invalidate(); },
    });
  } catch (err) {
    if (!stream.signal.aborted) message(`Compare stream failed: ${err.message}`);
  }
  if (view.follow) view.fit();
  compareTimeline.invalidate();
  timeline.invalidate();
}
$('compare-select').addEventListener('change', (e) => openCompare(e.target.value));

// ---- exports ----------------------------------------------------------------------------------
function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}
$('export-ndjson').addEventListener('click', () => {
  if (!state.model) return;
  const text = state.model.events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  download(new Blob([text], { type: 'application/x-ndjson' }), `interleave-${state.run.id}.ndjson`);
});
$('export-png').addEventListener('click', async () => {
  if (!state.model) return;
  download(await timelinePNG(), `interleave-${state.run.id}.png`);
});
/** The timeline (and the compared one, below it) as one PNG blob. */
async function timelinePNG() {
  const a = $('timeline');
  const b = state.compare ? $('timeline-compare') : null;
  if (!b) return new Promise((r) => a.toBlob(r, 'image/png'));
  const c = document.createElement('canvas');
  c.width = Math.max(a.width, b.width);
  c.height = a.height + b.height + 8;
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, c.width, c.height);
  ctx.drawImage(a, 0, 0);
  ctx.drawImage(b, 0, a.height + 8);
  return new Promise((r) => c.toBlob(r, 'image/png'));
}

// ---- start ------------------------------------------------------------------------------------
window.addEventListener('keydown', (e) => {
  if (e.key === ' ' && e.target === $('timeline') && !$('replay').hidden) {
    e.preventDefault();
    $('replay-play').click();
  }
});

// A small handle for tests and benchmarks (read-only use).
window.interleave = {
  state, view, timeline, log, replay,
  lanes: () => (state.model ? [...state.model.lanes.values()].map((l) => ({ name: l.name, pid: l.pid, kind: l.kind, deadlocked: l.deadlocked })) : []),
  metrics: () => ({ ...timeline.metrics, events: state.model?.events.length ?? 0, timing: state.timing }),
};

async function start() {
  renderLegend($('legend'));
  timeline.invalidate();
  const q = new URLSearchParams(location.search);
  const runId = q.get('run');
  const compareId = q.get('compare');
  // Open a linked run at once, while the catalog loads; the timeline is what the link is for,
  // so the lesson and form start folded (one click on the title opens them).
  if (runId) $('experiment-details').open = false;
  if (runId) {
    openRun(runId).then(() => {
      applyLinkedView(q);
      if (compareId) openCompare(compareId);
    });
  }
  try {
    state.experiments = await api.experiments();
  } catch (err) {
    $('catalog').textContent = `Could not load the catalog: ${err.message}`;
    state.experiments = [];
  }
  renderCatalog($('catalog'), state.experiments, (id) => chooseExperiment(id));
  document.body.dataset.catalog = String(state.experiments.length);
  refreshRuns();
  const expId = q.get('experiment');
  if (expId && state.experiments.length) {
    const exp = state.experiments.find((e) => e.id === expId);
    if (exp) chooseExperiment(expId, paramsFromQuery(exp, q));
    else message(`There is no experiment called “${expId}”.`);
  }
  if (!expId && state.run && state.experiments.some((e) => e.id === state.run.experiment)) {
    chooseExperiment(state.run.experiment, state.run.params || {});
  }
  if (!runId && expId && state.experiment && q.get('autorun') === '1') {
    // a link whose values cannot be used as given does not start a run the teacher did not mean
    if ($('form-error').textContent) message('The link asked for values this experiment does not accept; check the form and press Run.');
    else startRun();
  }
}

start();
