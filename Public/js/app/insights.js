// The "What happened" panel beside the verdict: the run's insights, numbered like their
// callouts on the timeline. Clicking one focuses its callout and shows the events it points at.

import { $, state, app } from './context.js';
import { lessonOf } from '../model/lesson.js';
import { INSIGHT_COLORS } from '../tracks/lesson.js';

let shown = { model: null, count: -1 };

export function updateInsights(model) {
  const list = model ? lessonOf(model).insights : [];
  if (shown.model === model && shown.count === list.length) return;
  shown = { model, count: list.length };
  const ol = $('insight-list');
  ol.textContent = '';
  $('insights').hidden = !list.length;
  for (const ins of list) {
    const li = document.createElement('li');
    li.dataset.insight = String(ins.n);
    li.dataset.kind = ins.kind;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'insight';
    const num = document.createElement('span');
    num.className = 'insight-n';
    num.textContent = String(ins.n);
    num.style.background = INSIGHT_COLORS[ins.kind] || INSIGHT_COLORS.info;
    const text = document.createElement('span');
    text.className = 'insight-text';
    text.textContent = ins.text;
    b.append(num, text);
    b.addEventListener('click', () => focusInsight(ins.n));
    li.appendChild(b);
    ol.appendChild(li);
  }
}

/** Show one insight: its callout stands out, the view covers the events it points at. */
export function focusInsight(n) {
  const m = state.model;
  const ins = m && lessonOf(m).insights.find((i) => i.n === n);
  if (!ins) return;
  const { view, timeline } = app;
  timeline.focusInsight = timeline.focusInsight === n ? null : n;
  for (const li of $('insight-list').children) li.setAttribute('aria-current', String(Number(li.dataset.insight) === timeline.focusInsight));
  const idx = ins.refs.length ? ins.refs : [ins.index];
  const ts = idx.map((i) => m.events[i].ts);
  let a = Math.min(...ts); let b = Math.max(...ts);
  const whole = view.extent();
  const pad = Math.max((b - a) * 0.4, whole * 0.02, 50);
  a -= pad; b += pad;
  const shownNow = view.plotWidth / view.scale;
  if (b - a < shownNow && a >= view.t0 && b <= view.t0 + shownNow) {
    // already in view: keep the zoom
  } else {
    view.follow = false;
    view.t0 = a;
    view.scale = view.plotWidth / (b - a);
    view.changed();
  }
  app.select(idx[0], 'insight');
  timeline.invalidate();
  $('timeline').scrollIntoView?.({ block: 'nearest' });
}
