// The list of runs (GET /api/runs, newest first): open any, pick one to compare.

const FINISHED = new Set(['completed', 'failed', 'cancelled', 'deadlocked', 'timedOut', 'interrupted']);
export const isFinished = (status) => FINISHED.has(status);

function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return isNaN(d) ? '' : d.toLocaleTimeString();
}

export function paramsText(params) {
  if (!params || typeof params !== 'object') return '';
  return Object.entries(params)
    .filter(([, v]) => !(Array.isArray(v) && !v.length)) // an empty list (no recorded schedule) says nothing
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`).join(' ');
}

export function renderRuns(list, runs, currentId, onOpen) {
  list.textContent = '';
  if (!runs.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = 'No runs yet.';
    list.appendChild(li);
    return;
  }
  for (const run of runs) {
    const li = document.createElement('li');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'run-open';
    b.dataset.runId = run.id;
    b.setAttribute('aria-current', String(run.id === currentId));
    const title = document.createElement('span');
    title.textContent = `${run.experiment} `;
    const pill = document.createElement('span');
    pill.className = 'status-pill';
    pill.dataset.status = run.status;
    pill.textContent = run.status;
    const meta = document.createElement('span');
    meta.className = 'run-meta';
    meta.textContent = `${when(run.createdAt)} · ${run.eventCount ?? 0} events · ${paramsText(run.params)}`;
    b.append(title, pill, meta);
    b.title = `Open run ${run.id}`;
    b.addEventListener('click', () => onOpen(run.id));
    li.appendChild(b);
    list.appendChild(li);
  }
}

export function fillCompareSelect(select, runs, currentId, compareId) {
  const keep = compareId || select.value;
  select.length = 1;
  for (const run of runs) {
    if (run.id === currentId || !isFinished(run.status)) continue;
    select.add(new Option(`${run.experiment} · ${run.status} · ${paramsText(run.params)}`.slice(0, 80), run.id));
  }
  select.value = [...select.options].some((o) => o.value === keep) ? keep : '';
}
