// Wires the viewer together: catalog → form → run → live timeline, log, summary, deadlocks,
// replay, compare, exports, and the URL that mirrors what is on screen. The pieces live in
// app/ (session: opening and streaming runs; compare; exports; url) and the extensions that
// registered handlers and tracks are loaded first (ext/index.js).

import './ext/index.js';
import { api } from './api.js';
import { renderCatalog, markCurrent } from './catalog.js';
import { buildForm, paramsFromQuery, curlCommand } from './form.js';
import { Timeline, TimeView } from './timeline.js';
import { EventLog } from './log.js';
import { renderDeadlocks } from './deadlock.js';
import { Replayer } from './replay.js';
import { renderLegend } from './legend.js';
import { Overview } from './overview.js';
import { $, state, app, setRendered, updateLaneList, message } from './app/context.js';
import { syncUrl, currentParams, applyLinkedView } from './app/url.js';
import { startRun, openRun, cancelRun, refreshRuns } from './app/session.js';
import { openCompare } from './app/compare.js';
import { exportNdjson, exportPng } from './app/exports.js';
import { updateInsights } from './app/insights.js';
import { renderGuide, showNow } from './app/guide.js';

// ---- timeline, log, replay --------------------------------------------------------------------
const view = new TimeView();
app.view = view;
// (timeline is declared below; the cursor is only asked for when drawing, after start-up)
const overview = new Overview($('overview'), view, () => state.model, () => timeline.limit);
app.overview = overview;
const select = (index, from) => {
  if (!state.model || index == null || index < 0) return;
  timeline.select(index);
  log.select(index, from !== 'log');
  if (from === 'log' || from === 'link') timeline.reveal(index);
  syncUrl();
};
app.select = select;
let urlTimer = null;
view.listeners.add(() => { clearTimeout(urlTimer); urlTimer = setTimeout(syncUrl, 300); });

const timeline = new Timeline($('timeline'), view, {
  tooltip: $('tooltip'),
  onSelect: select,
  onDrawn: (rendered) => {
    setRendered(rendered);
    overview.invalidate(); // after the timeline, so it outlines the window just drawn
    const t = state.timing;
    if (t && t.loaded != null && t.drawn == null && state.model && rendered === state.model.events.length) {
      t.drawn = performance.now();
      t.drawMs = timeline.metrics.lastDrawMs;
      // the frame that shows it: the next animation frame starts once this one is on screen
      requestAnimationFrame(() => { t.painted = performance.now(); });
    }
    if (state.model && state.model.layoutVersion !== state.laneListVersion) updateLaneList(state.model);
    updateInsights(state.model);
    if (state.model) { // only when it changes: a DOM write each frame would lay the page out each frame
      const counts = `${state.model.events.length.toLocaleString()} events · ${state.model.lanes.size} lanes`;
      if ($('run-counts').textContent !== counts) $('run-counts').textContent = counts;
    }
  },
});
app.timeline = timeline;
const log = new EventLog({
  container: $('log'), typeSelect: $('log-type'), laneSelect: $('log-lane'), textInput: $('log-text'),
  countEl: $('log-count'), onSelect: select,
});
app.log = log;
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
app.replay = replay;
$('follow-toggle').addEventListener('click', () => view.setFollow(!view.follow));
view.listeners.add(() => $('follow-toggle').setAttribute('aria-pressed', String(view.follow)));
$('zoom-fit').addEventListener('click', () => view.fit());

// ---- catalog & form ---------------------------------------------------------------------------
function chooseExperiment(id, initial = {}) {
  const exp = state.experiments.find((e) => e.id === id);
  if (!exp) { message(`There is no experiment called “${id}”.`); return false; }
  state.experiment = exp;
  markCurrent($('catalog'), id);
  $('experiment-panel').hidden = false;
  $('guide').hidden = true; // the start page gives way to the chosen experiment
  $('experiment-title').textContent = exp.title || exp.id;
  $('experiment-summary').textContent = exp.summary || '';
  $('experiment-lesson').textContent = exp.lesson || '';
  const problems = buildForm($('param-fields'), exp, initial);
  $('form-error').textContent = problems.join(' ');
  updateCurl();
  syncUrl();
  showNow();
  return true;
}
app.chooseExperiment = chooseExperiment;
$('guide-open').addEventListener('click', () => {
  renderGuide();
  $('guide').hidden = false;
  $('guide').scrollIntoView({ block: 'start' });
});
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
$('run-cancel').addEventListener('click', cancelRun);
$('runs-refresh').addEventListener('click', refreshRuns);
$('compare-select').addEventListener('change', (e) => openCompare(e.target.value));
$('export-ndjson').addEventListener('click', exportNdjson);
$('export-png').addEventListener('click', exportPng);

// ---- start ------------------------------------------------------------------------------------
window.addEventListener('keydown', (e) => {
  if (e.key === ' ' && e.target === $('timeline') && !$('replay').hidden) {
    e.preventDefault();
    $('replay-play').click();
  }
});

// A small handle for tests and benchmarks (read-only use).
window.interleave = {
  state, view, timeline, log, replay, overview,
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
      // compare=a,b,c: each below the last, in that order
      if (compareId) compareId.split(',').filter(Boolean).reduce((p, id) => p.then(() => openCompare(id)), Promise.resolve());
    });
  }
  try {
    state.experiments = await api.experiments();
  } catch (err) {
    $('catalog').textContent = `Could not load the catalog: ${err.message}`;
    state.experiments = [];
  }
  renderCatalog($('catalog'), state.experiments, (id) => { state.guideStep = null; chooseExperiment(id); });
  renderGuide();
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
