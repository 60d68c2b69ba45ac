// Notes on the timeline: a note pinned to one event of a run ({seq, text}, stored by the server:
// GET/POST /api/runs/{id}/notes, DELETE /api/runs/{id}/notes/{note}). Drawn as a flag over the
// timeline at its event, listed beside the log (click: go to the event), and written from the
// selected event. In an offline hand-out the notes are shown, not edited.
import { registerTrack } from '../tracks/index.js';
import { $, state, app } from '../app/context.js';
import { apiFetch, injectStyle } from './support.js';

const FLAG = '#c2410c';
export const notes = { run: null, list: [] };
const offline = () => document.body.dataset.offline === 'true';

injectStyle(`
.notes-panel { margin-top: .75rem; }
.notes-list { list-style: none; margin: .25rem 0; padding: 0; max-height: 14rem; overflow: auto; }
.notes-list li { display: flex; gap: .5rem; align-items: baseline; padding: .2rem .25rem; border-bottom: 1px solid #eee; }
.notes-list li button.note-go { background: none; border: 0; color: ${FLAG}; font: inherit; cursor: pointer; padding: 0; }
.notes-list li .note-text { flex: 1; white-space: pre-wrap; }
.note-form { display: flex; gap: .5rem; align-items: flex-end; }
.note-form textarea { flex: 1; min-height: 2.4em; font: inherit; }
body[data-offline="true"] .note-form, body[data-offline="true"] .note-delete, body[data-offline="true"] .lesson-links { display: none; }
.lesson-links { margin-top: .5rem; display: flex; flex-wrap: wrap; gap: .75rem; font-size: .9em; }
`);

function panel() {
  let el = $('notes-panel');
  if (el) return el;
  el = document.createElement('section');
  el.id = 'notes-panel';
  el.className = 'notes-panel';
  el.setAttribute('aria-labelledby', 'notes-heading');
  el.innerHTML = `
    <div class="section-head"><h3 id="notes-heading">Notes</h3><span id="notes-count" class="muted"></span></div>
    <ol id="notes-list" class="notes-list" aria-label="Notes on events"></ol>
    <form id="note-form" class="note-form">
      <label for="note-text">Note on <span id="note-target">the selected event</span></label>
      <textarea id="note-text" rows="2" maxlength="5000" placeholder="What should a learner see here?"></textarea>
      <button type="submit" id="note-add" class="small">Add note</button>
      <button type="button" id="lesson-add" class="small" title="Add what is on screen (time window, selected event, the text as its note) as the next step of a lesson">Add to lesson…</button>
    </form>
    <div class="lesson-links" id="lesson-links"></div>`;
  const log = document.querySelector('.log-panel');
  (log?.parentNode || $('run-panel')).insertBefore(el, log ? log.nextSibling : null);
  el.querySelector('#note-form').addEventListener('submit', (e) => { e.preventDefault(); addNote(); });
  el.querySelector('#lesson-add').addEventListener('click', addStep);
  return el;
}

function selectedSeq() {
  const index = app.timeline?.selected;
  const ev = index != null && index >= 0 ? state.model?.events[index] : null;
  return ev && typeof ev.seq === 'number' ? ev.seq : null;
}

function indexOfSeq(seq) {
  const events = state.model?.events || [];
  return events[seq]?.seq === seq ? seq : events.findIndex((e) => e.seq === seq);
}

export function render() {
  panel();
  const list = $('notes-list');
  list.textContent = '';
  for (const note of notes.list) {
    const li = document.createElement('li');
    li.dataset.seq = String(note.seq);
    const go = document.createElement('button');
    go.type = 'button';
    go.className = 'note-go';
    go.textContent = `⚑ #${note.seq}`;
    go.title = 'Show this event';
    go.addEventListener('click', () => {
      const index = indexOfSeq(note.seq);
      if (index >= 0) app.select?.(index, 'link');
    });
    const text = document.createElement('span');
    text.className = 'note-text';
    text.textContent = note.text;
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'small note-delete';
    del.textContent = '×';
    del.title = 'Delete this note';
    del.addEventListener('click', () => deleteNote(note));
    li.append(go, text, del);
    list.appendChild(li);
  }
  $('notes-count').textContent = notes.list.length ? `${notes.list.length}` : 'none yet';
  document.body.dataset.notes = String(notes.list.length);
  const seq = selectedSeq();
  $('note-target').textContent = seq == null ? 'the selected event (select one first)' : `event #${seq}`;
  app.timeline?.invalidate?.();
}

/** Lessons, each with a link to present it and one to its offline hand-out. */
async function renderLessons() {
  const el = $('lesson-links');
  if (!el || offline()) return;
  let lessons = [];
  try { lessons = await apiFetch('/api/lessons'); } catch { return; }
  el.textContent = '';
  for (const lesson of lessons) {
    const span = document.createElement('span');
    const present = document.createElement('a');
    present.href = `?lesson=${encodeURIComponent(lesson.id)}`;
    present.textContent = `▶ ${lesson.title} (${lesson.steps.length} steps)`;
    const handout = document.createElement('a');
    handout.href = `/api/lessons/${encodeURIComponent(lesson.id)}/export.html`;
    handout.textContent = 'hand-out';
    handout.download = '';
    span.append(present, ' · ', handout);
    el.appendChild(span);
  }
}

/** Adds what is on screen as the next step of a lesson (the newest one, or a new one). */
async function addStep() {
  if (!notes.run || offline()) return;
  const view = app.view;
  const step = { run: notes.run, note: $('note-text').value.trim() };
  if (view && !view.follow) step.view = [Math.max(0, Math.round(view.t0)), Math.round(view.t0 + view.plotWidth / view.scale)];
  const seq = selectedSeq();
  if (seq != null) step.seq = seq;
  try {
    const lessons = await apiFetch('/api/lessons');
    const last = lessons[lessons.length - 1];
    const title = window.prompt(last ? `Add this step to which lesson? (title; empty: “${last.title}”)` : 'Title of the new lesson', '');
    if (title === null) return;
    const target = title.trim() ? lessons.find((l) => l.title === title.trim()) : last;
    if (target) {
      await apiFetch(`/api/lessons/${encodeURIComponent(target.id)}`, { method: 'PATCH', body: { steps: [...target.steps, step] } });
    } else {
      await apiFetch('/api/lessons', { method: 'POST', body: { title: title.trim() || 'Lesson', steps: [step] } });
    }
    $('note-text').value = '';
  } catch (err) {
    $('note-target').textContent = `(${err.message})`;
  }
  renderLessons();
}

export async function load(runId) {
  notes.run = runId;
  notes.list = [];
  try {
    const list = await apiFetch(`/api/runs/${encodeURIComponent(runId)}/notes`);
    if (notes.run === runId) notes.list = list;
  } catch { /* a run without notes, or gone */ }
  render();
  renderLessons();
}

async function addNote() {
  const seq = selectedSeq();
  const text = $('note-text').value.trim();
  if (seq == null || !text || !notes.run || offline()) return;
  try {
    const note = await apiFetch(`/api/runs/${encodeURIComponent(notes.run)}/notes`, { method: 'POST', body: { seq, text } });
    notes.list = [...notes.list, note].sort((a, b) => a.seq - b.seq || a.id - b.id);
    $('note-text').value = '';
  } catch (err) {
    $('note-target').textContent = `(${err.message})`;
  }
  render();
}

async function deleteNote(note) {
  if (offline()) return;
  try {
    await apiFetch(`/api/runs/${encodeURIComponent(note.run)}/notes/${note.id}`, { method: 'DELETE' });
    notes.list = notes.list.filter((n) => n.id !== note.id);
  } catch { /* already gone */ }
  render();
}

function drawFlag(ctx, x, y) {
  ctx.fillStyle = FLAG;
  ctx.fillRect(x, y, 1.5, 14);
  ctx.beginPath();
  ctx.moveTo(x + 1.5, y);
  ctx.lineTo(x + 10, y + 3.5);
  ctx.lineTo(x + 1.5, y + 7);
  ctx.closePath();
  ctx.fill();
}

registerTrack({
  id: 'notes',
  placement: 'top',
  order: 5,
  overlay(ctx, frame, model) {
    if (!notes.list.length || model !== state.model) return;
    ctx.save();
    for (const note of notes.list) {
      const ev = model.events[indexOfSeq(note.seq)];
      if (!ev || ev.ts < frame.t0 || ev.ts > frame.t1 || (frame.tMax != null && ev.ts > frame.tMax)) continue;
      const x = frame.X(ev.ts);
      ctx.strokeStyle = FLAG;
      ctx.setLineDash([3, 3]);
      ctx.globalAlpha = 0.6;
      ctx.beginPath();
      ctx.moveTo(x + 0.5, frame.axisH);
      ctx.lineTo(x + 0.5, frame.height);
      ctx.stroke();
      ctx.globalAlpha = 1;
      ctx.setLineDash([]);
      drawFlag(ctx, x, frame.axisH + 2);
    }
    ctx.restore();
  },
  hitOverlay(x, y, frame, model) {
    for (const note of notes.list) {
      const index = indexOfSeq(note.seq);
      const ev = model.events[index];
      if (ev && Math.abs(frame.X(ev.ts) - x) < 6 && y >= frame.axisH && y < frame.axisH + 18) return { index };
    }
    return null;
  },
  legend: [{ label: 'note (⚑, listed under Notes)', draw: (ctx) => drawFlag(ctx, 3, 1) }],
});

// Follow the run on screen and the selection (cheap: a look every 300 ms).
let shownRun = null;
let shownSeq = null;
setInterval(() => {
  const id = state.run?.id || null;
  if (id !== shownRun) {
    shownRun = id;
    if (id) load(id);
  }
  const seq = selectedSeq();
  if (seq !== shownSeq && $('note-target')) {
    shownSeq = seq;
    $('note-target').textContent = seq == null ? 'the selected event (select one first)' : `event #${seq}`;
  }
}, 300);
