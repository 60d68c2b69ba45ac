// What the viewer's app modules share: the state of what is on screen, the components (set up
// by main.js) and a few small page helpers.

export const $ = (id) => document.getElementById(id);

export const state = {
  experiments: [],
  experiment: null,   // the chosen catalog entry
  run: null,          // run JSON of the run on screen
  model: null,
  stream: null,       // AbortController of the event stream
  compares: [],       // compared runs: [{run, model, stream, timeline, el}]
  get compare() { return this.compares[0] || null; }, // the first one (older code and tests)
  runs: [],
  runsTimer: null,
  openToken: 0,
};

/** Components and cross-module functions, filled in by main.js before anything runs. */
export const app = {
  view: null, timeline: null, compareTimeline: null, log: null, replay: null, overview: null,
  select: null, chooseExperiment: null,
};

// ---- hooks for automation ---------------------------------------------------------------------
export function setStatus(status) {
  document.body.dataset.runStatus = status;
  const pill = $('run-status');
  pill.dataset.status = status;
  pill.textContent = status;
  $('run-cancel').hidden = !(status === 'running' || status === 'queued');
}

export function setRendered(n) {
  const v = String(n);
  if (document.body.dataset.eventsRendered !== v) document.body.dataset.eventsRendered = v;
}

/** A text twin of the canvas lanes, for screen readers and for tests. */
export function updateLaneList(model) {
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

export function message(text) { $('app-message').textContent = text || ''; }
