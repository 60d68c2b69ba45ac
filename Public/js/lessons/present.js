// Present mode: walk through a lesson (?lesson=ID) step by step — each step opens its run, shows
// its time window, selects its event and puts its note on screen. → / PageDown / Space: next,
// ← / PageUp: previous, F: full screen, Esc: leave. Works the same in an offline hand-out.
import { $, state, app } from '../app/context.js';
import { openRun } from '../app/session.js';
import { applyLinkedView } from '../app/url.js';
import { apiFetch, injectStyle } from './support.js';

injectStyle(`
.present-bar { position: fixed; left: 0; right: 0; bottom: 0; z-index: 50; display: flex; gap: 1rem; align-items: center;
  padding: .75rem 1.25rem; background: #111827; color: #f9fafb; box-shadow: 0 -4px 16px rgba(0,0,0,.25); }
.present-bar .present-note { flex: 1; font-size: 1.25rem; line-height: 1.4; white-space: pre-wrap; }
.present-bar .present-step { font-variant-numeric: tabular-nums; opacity: .8; white-space: nowrap; }
.present-bar .present-title { font-weight: 600; white-space: nowrap; }
.present-bar button { font-size: 1rem; }
body[data-presenting="true"] { padding-bottom: 6rem; }
body[data-presenting="true"] .sidebar, body[data-presenting="true"] .app-header,
body[data-presenting="true"] #experiment-panel { display: none; }
body[data-presenting="true"] .layout { grid-template-columns: 1fr; display: block; }
`);

const presenter = { lesson: null, index: -1 };

function bar() {
  let el = $('present-bar');
  if (el) return el;
  el = document.createElement('div');
  el.id = 'present-bar';
  el.className = 'present-bar';
  el.setAttribute('role', 'region');
  el.setAttribute('aria-label', 'Lesson');
  el.innerHTML = `
    <span class="present-title" id="present-title"></span>
    <span class="present-step" id="present-step" aria-live="polite"></span>
    <button type="button" id="present-prev" title="Previous step (←)">← Back</button>
    <div class="present-note" id="present-note" aria-live="polite"></div>
    <button type="button" id="present-next" title="Next step (→)">Next →</button>
    <button type="button" id="present-full" title="Full screen (F)">Full screen</button>
    <button type="button" id="present-exit" title="Leave present mode (Esc)">×</button>`;
  document.body.appendChild(el);
  el.querySelector('#present-prev').addEventListener('click', () => go(presenter.index - 1));
  el.querySelector('#present-next').addEventListener('click', () => go(presenter.index + 1));
  el.querySelector('#present-full').addEventListener('click', fullScreen);
  el.querySelector('#present-exit').addEventListener('click', leave);
  return el;
}

function fullScreen() {
  if (document.fullscreenElement) document.exitFullscreen?.();
  else document.documentElement.requestFullscreen?.().catch(() => {});
}

function leave() {
  document.body.dataset.presenting = 'false';
  $('present-bar')?.remove();
  presenter.lesson = null;
}

/** Shows step `index` of the lesson (clamped). */
export async function go(index) {
  const lesson = presenter.lesson;
  if (!lesson || !lesson.steps.length) return;
  const i = Math.max(0, Math.min(lesson.steps.length - 1, index));
  presenter.index = i;
  const step = lesson.steps[i];
  $('present-step').textContent = `Step ${i + 1} of ${lesson.steps.length}`;
  $('present-note').textContent = step.note || '';
  $('present-prev').disabled = i === 0;
  $('present-next').disabled = i === lesson.steps.length - 1;
  document.body.dataset.presentStep = String(i);
  if (state.run?.id !== step.run || !state.model) await openRun(step.run);
  if (presenter.index !== i) return; // moved on meanwhile
  const q = new URLSearchParams();
  if (Array.isArray(step.view) && step.view.length === 2) q.set('view', step.view.join(','));
  else app.view?.fit?.();
  if (step.seq != null) q.set('event', String(step.seq));
  applyLinkedView(q);
  document.body.dataset.presentShown = String(i);
}

export async function present(lessonId, stepIndex = 0) {
  let lesson;
  try { lesson = await apiFetch(`/api/lessons/${encodeURIComponent(lessonId)}`); } catch (err) {
    $('app-message').textContent = `Could not open lesson ${lessonId}: ${err.message}`;
    return;
  }
  presenter.lesson = lesson;
  document.body.dataset.presenting = 'true';
  bar();
  $('present-title').textContent = lesson.title;
  if ($('experiment-details')) $('experiment-details').open = false;
  await go(stepIndex);
}

window.addEventListener('keydown', (e) => {
  if (!presenter.lesson) return;
  const t = e.target;
  if (t && (t.tagName === 'TEXTAREA' || t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.isContentEditable)) return;
  let handled = true;
  if (e.key === 'ArrowRight' || e.key === 'PageDown' || e.key === ' ') go(presenter.index + 1);
  else if (e.key === 'ArrowLeft' || e.key === 'PageUp') go(presenter.index - 1);
  else if (e.key === 'f' || e.key === 'F') fullScreen();
  else if (e.key === 'Escape') leave();
  else handled = false;
  if (handled) { e.preventDefault(); e.stopPropagation(); }
}, true);

window.interleavePresent = { present, go, presenter };

// ?lesson=ID[&step=N] opens present mode once the viewer has started.
const q = new URLSearchParams(location.search);
if (q.get('lesson')) setTimeout(() => present(q.get('lesson'), Number(q.get('step')) || 0), 0);
