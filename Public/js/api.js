// Talking to the Interleave HTTP API (DESIGN.md). Every call returns plain data or throws an
// ApiError whose message is the server's problem-detail sentence.

export class ApiError extends Error {
  constructor(status, problem, retryAfter = null) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }
}

async function json(response) {
  if (response.ok) {
    if (response.status === 204) return null;
    return response.json();
  }
  let problem = null;
  try { problem = await response.json(); } catch { /* not JSON */ }
  throw new ApiError(response.status, problem, response.headers.get('Retry-After'));
}

export const api = {
  experiments: () => fetch('/api/experiments').then(json),
  runs: () => fetch('/api/runs').then(json),
  run: (id) => fetch(`/api/runs/${encodeURIComponent(id)}`).then(json),
  startRun: (experiment, params) => fetch('/api/runs', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ experiment, params }),
  }).then(json),
  deleteRun: (id) => fetch(`/api/runs/${encodeURIComponent(id)}`, { method: 'DELETE' }).then(json),
  eventsUrl: (id, from = 0) => `/api/runs/${encodeURIComponent(id)}/events${from ? `?from=${from}` : ''}`,
};

/**
 * Stream a run's NDJSON events. Calls onBatch(events[]) for every chunk that arrives
 * (blank heartbeat lines skipped, malformed lines reported once and skipped) and resolves
 * when the server closes the stream. abortSignal stops it.
 */
export async function streamEvents(id, { from = 0, onBatch, signal }) {
  const response = await fetch(api.eventsUrl(id, from), { signal, headers: { Accept: 'application/x-ndjson' } });
  if (!response.ok) await json(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let rest = '';
  let malformed = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const text = rest + decoder.decode(value, { stream: true });
    const lines = text.split('\n');
    rest = lines.pop();
    const full = lines.filter((line) => line.trim().length > 0); // blank lines are heartbeats
    if (!full.length) continue;
    let batch;
    try {
      batch = JSON.parse(`[${full.join(',')}]`); // one parse per chunk: much faster than per line
    } catch {
      batch = [];
      for (const line of full) {
        try { batch.push(JSON.parse(line)); } catch { malformed++; }
      }
    }
    if (batch.length) onBatch(batch);
  }
  if (rest.trim()) {
    try { onBatch([JSON.parse(rest)]); } catch { malformed++; }
  }
  if (malformed) console.warn(`skipped ${malformed} malformed event line(s)`);
}
