// "You are the scheduler" (schedule=step runs): who may go next is shown on the lanes and as
// buttons; choosing one lets that thread take exactly its next operation, on the real server.
// Undo starts the same run again with every choice but the last, then hands control back.
import { on } from '../model/registry.js';
import { registerTrack } from '../tracks/index.js';
import { api } from '../api.js';
import { state, $, message } from '../app/context.js';
import { openRun } from '../app/session.js';

// What to try in each experiment: a goal the learner can reach only by choosing well.
const GOALS = {
  'race-condition': 'Make both workers read the counter before either writes it — then watch one update vanish.',
  deadlock: 'Get every philosopher holding its left fork before anyone reaches right: the cycle closes.',
  'mutex-vs-rlock': 'Take the lock twice in one thread: with a plain lock the thread waits for itself.',
  event: 'Let the waiters reach wait() before anyone sets the event, then set it and watch them all wake.',
  semaphore: 'Fill every permit, then watch the next acquire have to wait.',
  condition: 'Notify before anyone waits — is the notification lost?',
  barrier: 'Bring all but one thread to the barrier: nobody passes until the last arrives.',
  queues: 'Fill the queue, then try one more put.',
  'producer-consumer': 'Let the consumer run first: it waits on an empty buffer.',
  'thread-pool': 'Decide which worker takes each task.',
};

function stepState(m) {
  return (m.ext.step ??= { pending: null, choices: [] });
}

on('sched.pending', (m, ev) => {
  stepState(m).pending = ev.lanes || [];
  m.layoutVersion++;
  schedule();
});
on('sched.grant', (m, ev) => {
  const s = stepState(m);
  s.pending = null;
  s.choices.push(ev.choice);
  schedule();
});

let frame = 0;
function schedule() {
  if (!frame && typeof requestAnimationFrame === 'function') frame = requestAnimationFrame(() => { frame = 0; render(); });
}

function panel() {
  let el = $('step-panel');
  if (el) return el;
  el = document.createElement('section');
  el.id = 'step-panel';
  el.className = 'step-panel';
  el.setAttribute('aria-label', 'You are the scheduler');
  el.hidden = true;
  const anchor = $('timeline-panel');
  anchor.parentNode.insertBefore(el, anchor);
  document.addEventListener('keydown', (e) => {
    if (el.hidden || e.target.closest?.('input, textarea, select')) return;
    const n = Number(e.key);
    if (n >= 1 && n <= 9) {
      const button = el.querySelectorAll('[data-step-lane]')[n - 1];
      if (button) { e.preventDefault(); button.click(); }
    }
  });
  return el;
}

function isStepRun() {
  return state.run?.params?.schedule === 'step';
}

async function take(body) {
  try {
    await api.step(state.run.id, body);
  } catch (error) {
    message(`Step refused: ${error.message}`);
  }
}

async function undo(choices) {
  const params = { ...state.run.params, schedule: 'step', choices: choices.slice(0, -1) };
  try {
    const run = await api.startRun(state.run.experiment, params);
    await openRun(run.id, run);
  } catch (error) {
    message(`Undo failed: ${error.message}`);
  }
}

function render() {
  const el = panel();
  const m = state.model;
  if (!isStepRun() || !m) { el.hidden = true; return; }
  const s = stepState(m);
  el.hidden = false;
  el.textContent = '';
  const goal = document.createElement('p');
  goal.className = 'step-goal';
  goal.textContent = `Goal: ${GOALS[state.run.experiment] || 'Choose who goes next and watch what changes.'}`;
  el.appendChild(goal);
  const head = document.createElement('p');
  head.className = 'step-head';
  const live = !m.end;
  head.textContent = live
    ? (s.pending ? `Step ${s.choices.length + 1}: who goes next? (keys 1–${Math.min(9, s.pending.length)})` : 'Running to the next scheduling point…')
    : `Run ended after ${s.choices.length} choices.`;
  el.appendChild(head);
  const row = document.createElement('div');
  row.className = 'step-buttons';
  if (live && s.pending) {
    s.pending.forEach((p, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.stepLane = p.lane;
      b.textContent = `${i + 1}. ${p.lane} · ${describe(p)}`;
      b.title = p.state === 'woken' ? 'woken from a wait: it will try again'
        : p.state === 'timeout' ? 'nobody woke it: choosing it makes the wait time out' : '';
      b.addEventListener('click', () => take({ lane: p.lane }));
      row.appendChild(b);
    });
    const many = document.createElement('button');
    many.type = 'button';
    many.className = 'secondary';
    many.textContent = 'Let it run 10 steps';
    many.addEventListener('click', () => take({ steps: 10 }));
    row.appendChild(many);
  }
  if (s.choices.length) {
    const back = document.createElement('button');
    back.type = 'button';
    back.className = 'secondary';
    back.dataset.stepUndo = 'true';
    back.textContent = 'Undo last choice';
    back.addEventListener('click', () => undo(s.choices));
    row.appendChild(back);
  }
  el.appendChild(row);
}

function describe(p) {
  const target = p.target ? ` ${p.target}` : '';
  const suffix = p.state === 'woken' ? ' (woken)' : p.state === 'timeout' ? ' (time out)' : '';
  return `${p.op}${target}${suffix}`;
}

// On the timeline: each lane that may go shows what it would do, at the run's current edge.
registerTrack({
  id: 'step-pending',
  placement: 'lane',
  order: 5,
  overlay(ctx, frame, model) {
    const pending = model.ext.step?.pending;
    if (!pending || model.end) return;
    const x = Math.min(frame.X(frame.tMax) + 6, frame.left + frame.width - 150);
    ctx.font = '12px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    pending.forEach((p, i) => {
      const y = frame.laneY(p.lane);
      if (y == null) return;
      const text = `▶ ${i + 1}. ${describe(p)}`;
      const w = ctx.measureText(text).width + 10;
      ctx.fillStyle = '#1f6feb';
      ctx.fillRect(x, y + 2, w, 16);
      ctx.fillStyle = '#fff';
      ctx.fillText(text, x + 5, y + 10);
    });
  },
  legend: [{ label: 'may go next (step mode)', draw(ctx, w, h) { ctx.fillStyle = '#1f6feb'; ctx.fillRect(0, 2, w, h - 4); } }],
});

// A run opened or replaced: redraw the panel for it (cheap check, twice a second).
if (typeof document !== 'undefined') {
  const style = document.createElement('style');
  style.textContent = `
    .step-panel { border: 2px solid #1f6feb; border-radius: 6px; padding: 6px 10px; margin: 6px 0; background: #f0f6ff; }
    .step-panel p { margin: 2px 0; }
    .step-goal { font-weight: 600; }
    .step-buttons { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }
    .step-buttons button { font: inherit; padding: 3px 8px; border-radius: 4px; border: 1px solid #1f6feb; background: #1f6feb; color: #fff; cursor: pointer; }
    .step-buttons button.secondary { background: #fff; color: #1f6feb; }`;
  document.head.appendChild(style);
  let shownFor = null;
  setInterval(() => {
    const key = isStepRun() ? state.run.id : null;
    if (key !== shownFor) { shownFor = key; schedule(); }
  }, 500);
}
