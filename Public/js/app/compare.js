// Compare: a second run drawn below the first, on the same time axis.

import { $, state, app, message } from './context.js';
import { api, streamEvents } from '../api.js';
import { RunModel } from '../model.js';
import { paramsText } from '../runs.js';
import { syncUrl } from './url.js';

export async function openCompare(id) {
  const { view, timeline, compareTimeline } = app;
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
