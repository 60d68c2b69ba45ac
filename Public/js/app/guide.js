// The start page: a guided path through the lecture notes' chapters. Each step asks the learner
// to predict before running, runs a preset, and says what to look at in the picture. Steps
// whose experiment is not in the catalog (yet) are left out, so later chapters appear as their
// experiments land. While a guided run is on screen, a strip above it repeats the question and
// what to look at, with the next step one click away.

import { $, state, app } from './context.js';
import { startRun } from './session.js';

export const CHAPTERS = [
  { title: 'Processes and threads', steps: [
    { id: 'sequential-vs-concurrent', params: {}, question: 'Two jobs of the same length: how much faster are they as two threads? As two processes?',
      look: 'The three phase bands under the time axis: sequential, threads, processes. Compare their lengths — and the gap before each child process starts.' },
    { id: 'threads', params: { count: 3 }, question: 'Three threads in one program: how many processes, how many kernel thread ids?',
      look: 'One process header, three thread lanes with different tids; main waits in "join" until the last one ends.' },
    { id: 'processes', params: {}, question: 'And three child processes: do they share the parent\'s pid?',
      look: 'Each child gets its own process group with its own pid, spawned (+) by the parent and joined at its exit (■).' },
  ] },
  { title: 'Pools', steps: [
    { id: 'thread-pool', params: { workers: 3, tasks: 9 }, question: '9 tasks, 3 workers: how many threads get started? How many tasks run at once?',
      look: 'Only three worker lanes; each runs several tasks one after another. Callout 1 shows a task waiting until a worker is free.' },
    { id: 'callbacks', params: {}, question: 'A done-callback: does it run on the thread that added it, or somewhere else?',
      look: 'The ▼ callback markers sit on the worker lanes, right after each task ends; only the late one runs on main.' },
    { id: 'process-pool', params: {}, question: 'In a process pool, where do the callbacks run?',
      look: 'Tasks run in the worker processes; the callbacks come back to the parent process.' },
  ] },
  { title: 'Locks and races', steps: [
    { id: 'race-condition', params: { workers: 4, increments: 100, lock: false }, question: '4 threads each add 1 a hundred times without a lock: how many of the 400 updates survive?',
      look: 'The R and W markers: two workers read the same value and both write the same result — the red ✗ writes overwrote another\'s update. The dashed expected line pulls away from the counter.' },
    { id: 'race-condition', params: { workers: 4, increments: 100, lock: true }, question: 'Same run with a lock: what does it cost, what does it buy?',
      look: 'Red WAIT bars where workers queue for the lock; the counter now follows the expected line.' },
    { id: 'mutex-vs-rlock', params: { kind: 'mutex' }, question: 'One thread takes the same lock twice. What happens with a plain lock?',
      look: 'A green hold and, on the same lane, a red WAIT for the lock it already holds: a deadlock with itself.' },
  ] },
  { title: 'Deadlock', steps: [
    { id: 'deadlock', params: { philosophers: 3, strategy: 'naive' }, question: 'Three philosophers each take the left fork first. Will anyone eat?',
      look: 'Every lane turns red: each holds one fork and waits for the next; the cycle diagram above the timeline closes.' },
    { id: 'deadlock', params: { philosophers: 3, strategy: 'ordered' }, question: 'Now everyone takes the lower-numbered fork first. Can a cycle still form?',
      look: 'No red lanes; the last philosopher reaches for fork-1 first, against the others\' direction.' },
  ] },
  { title: 'Events and queues', steps: [
    { id: 'event', params: {}, question: 'Three threads wait for one event. When main sets it, who wakes — one, or all?',
      look: 'One ▲ set on main, arrows fanning out to every waiter; the amber waits all end together.' },
    { id: 'semaphore', params: {}, question: '5 workers, 2 permits: how many hold one at the same time?',
      look: 'Amber waits on the workers beyond two; the holders counter never goes above 2.' },
    { id: 'queues', params: { kind: 'priority', capacity: 0 }, question: 'A priority queue gets items 1…6 with random priorities. Which comes out first?',
      look: 'The item labels on the get markers: smallest priority first, not put order.' },
    { id: 'producer-consumer', params: {}, question: 'Producers faster than consumers, a queue of 4: who ends up waiting?',
      look: 'Amber waits on the producers when the queue is full; the queue depth counter sits at 4.' },
  ] },
  { title: 'Between processes (IPC)', steps: [
    { id: 'process-queue', params: {}, question: 'A queue between two processes: can an item cross the process boundary?',
      look: 'The arrow from the put in one process to the get in the other.' },
    { id: 'pipe', params: {}, question: 'A pipe with two readers and no lock: does every message arrive whole?',
      look: 'The recv markers and their arrows from each send; a torn or merged read is flagged.' },
    { id: 'shared-memory', params: {}, question: 'Processes decrement one shared counter without a lock: what is left?',
      look: 'The W markers flagged lost, and the counter against its expected line.' },
    { id: 'manager', params: {}, question: 'A manager process holds the dict: does going through it make count -= 1 safe?',
      look: 'The get/set round trips of the workers, and the lost updates without the lock.' },
  ] },
  { title: 'The GIL, async and coroutines', steps: [
    { id: 'cpu-vs-io', params: {}, question: 'CPU-bound work on threads under a global interpreter lock: faster than one thread?',
      look: 'The GIL holder row: only one thread runs Python at a time.' },
    { id: 'async-gather', params: {}, question: 'Async tasks on one thread: do they run at the same time?',
      look: 'They take turns at each await on one lane.' },
    { id: 'coroutines', params: {}, question: 'One coroutine makes a blocking call: what happens to the others?',
      look: 'Everyone stalls while the blocking call runs.' },
  ] },
  { title: 'IO', steps: [
    { id: 'crawler', params: {}, question: 'Fetching pages from a slow site: sequential, threads, processes or async — which wins?',
      look: 'The phase bands, and how much of each lane is waiting on IO.' },
    { id: 'echo-server', params: {}, question: 'A socket server: a thread per connection, a pool, or an event loop?',
      look: 'How connections map onto lanes in each model.' },
    { id: 'io-multiplexing', params: {}, question: 'Many idle connections: select or epoll?',
      look: 'The time each wait takes as connections grow.' },
  ] },
];

/** The guided steps whose experiment the server offers, numbered through. */
function availableSteps() {
  const have = new Set(state.experiments.map((e) => e.id));
  const out = [];
  for (const ch of CHAPTERS) {
    for (const step of ch.steps) if (have.has(step.id)) out.push({ ...step, chapter: ch.title, n: out.length + 1 });
  }
  return out;
}

function paramsFor(step) {
  // only parameters the experiment has (the presets may name ones a later version dropped)
  const exp = state.experiments.find((e) => e.id === step.id);
  const names = new Set((exp?.parameters || []).map((p) => p.name));
  return Object.fromEntries(Object.entries(step.params).filter(([k]) => names.has(k)));
}

export function runStep(step) {
  state.guideStep = step;
  if (!app.chooseExperiment(step.id, paramsFor(step))) return;
  showNow();
  startRun();
}

/** The strip above a guided run: the question, what to look at, the next step. */
export function showNow() {
  const el = $('guide-now');
  const step = state.guideStep;
  if (!step || state.experiment?.id !== step.id) { el.hidden = true; return; }
  el.hidden = false;
  el.textContent = '';
  const steps = availableSteps();
  const head = document.createElement('p');
  head.className = 'guide-now-head';
  head.textContent = `Guided path · step ${step.n} of ${steps.length} · ${step.chapter}`;
  const q = document.createElement('p');
  q.innerHTML = '<strong>Predict:</strong> ';
  q.append(step.question);
  const look = document.createElement('p');
  look.innerHTML = '<strong>Look at:</strong> ';
  look.append(step.look);
  el.append(head, q, look);
  const next = steps.find((s) => s.n === step.n + 1);
  if (next) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small primary';
    b.textContent = `Next: ${next.question.length > 70 ? `${next.question.slice(0, 67)}…` : next.question}`;
    b.addEventListener('click', () => runStep(next));
    el.appendChild(b);
  }
}

export function renderGuide() {
  const root = $('guide-steps');
  root.textContent = '';
  const steps = availableSteps();
  let chapter = null; let ol = null;
  for (const step of steps) {
    if (step.chapter !== chapter) {
      chapter = step.chapter;
      const h = document.createElement('h3');
      h.textContent = chapter;
      ol = document.createElement('ol');
      ol.className = 'guide-list';
      ol.start = step.n;
      root.append(h, ol);
    }
    const li = document.createElement('li');
    li.dataset.guideStep = String(step.n);
    const q = document.createElement('p');
    q.className = 'guide-q';
    q.textContent = step.question;
    const row = document.createElement('div');
    row.className = 'guide-row';
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small';
    b.textContent = `Predict, then run ${step.id}`;
    b.addEventListener('click', () => runStep(step));
    const look = document.createElement('details');
    const s = document.createElement('summary');
    s.textContent = 'what to look at';
    const p = document.createElement('p');
    p.textContent = step.look;
    look.append(s, p);
    row.append(b, look);
    li.append(q, row);
    ol.appendChild(li);
  }
  $('guide').hidden = !steps.length || !!state.run;
}
