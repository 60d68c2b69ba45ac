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

// A server started with --token needs it on every API call. The page is opened once as
// /?token=…: the token moves to sessionStorage (this tab only) and leaves the address bar,
// so it is neither bookmarked nor shared with a copied link.
const TOKEN_KEY = 'interleave.token';
function takeToken() {
  try {
    const url = new URL(location.href);
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (given) sessionStorage.setItem(TOKEN_KEY, given);
      url.searchParams.delete('token');
      history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
    }
    return sessionStorage.getItem(TOKEN_KEY);
  } catch { return null; }
}
const token = typeof location === 'undefined' ? null : takeToken();

/** The headers every API call carries (the token, when the server wants one). */
export function authHeaders() { return token ? { Authorization: `Bearer ${token}` } : {}; }

function call(path, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(path, { ...init, headers });
}

/** A URL the browser opens itself (a download link): it cannot carry a header, so the token rides along. */
export function withToken(url) {
  if (!token) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

export const api = {
  experiments: () => call('/api/experiments').then(json),
  runs: () => call('/api/runs').then(json),
  run: (id) => call(`/api/runs/${encodeURIComponent(id)}`).then(json),
  startRun: (experiment, params) => call('/api/runs', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ experiment, params }),
  }).then(json),
  // State-changing requests carry Content-Type: application/json (the server answers 415 otherwise).
  deleteRun: (id) => call(`/api/runs/${encodeURIComponent(id)}`, {
    method: 'DELETE',
    headers: { 'Content-Type': 'application/json' },
  }).then(json),
  // schedule=step runs: {lane} lets that lane take its next operation, {steps: n} lets the default policy take n.
  step: (id, body) => call(`/api/runs/${encodeURIComponent(id)}/step`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(json),
  eventsUrl: (id, from = 0) => `/api/runs/${encodeURIComponent(id)}/events${from ? `?from=${from}` : ''}`,
};

/**
 * Stream a run's NDJSON events. Calls onBatch(events[]) for every chunk that arrives
 * (blank heartbeat lines skipped, malformed lines reported once and skipped) and resolves
 * when the server closes the stream. abortSignal stops it.
 */
export async function streamEvents(id, { from = 0, onBatch, signal, timing = null }) {
  const response = await call(api.eventsUrl(id, from), { signal, headers: { Accept: 'application/x-ndjson' } });
  if (!response.ok) await json(response);
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let rest = '';
  let malformed = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    const t0 = timing ? performance.now() : 0;
    const text = rest + decoder.decode(value, { stream: true });
    const lines = text.split('\n');
    rest = lines.pop();
    const full = lines.filter((line) => line.length > 2 || line.trim().length > 0); // blank lines are heartbeats
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
    if (timing) timing.parseMs = (timing.parseMs || 0) + performance.now() - t0;
    if (batch.length) onBatch(batch);
  }
  if (rest.trim()) {
    try { onBatch([JSON.parse(rest)]); } catch { malformed++; }
  }
  if (malformed) console.warn(`skipped ${malformed} malformed event line(s)`);
}

/**
 * Stream a finished run's NDJSON through the ingest worker (model/ingest-worker.js): the bytes
 * are read and scanned off the page's thread, and onColumns(batch) gets the lines and the asked-for
 * fields (RunModel.addColumns). Resolves when the stream ends; an HTTP error is an ApiError.
 */
export function streamColumns(id, { from = 0, ...opts }) {
  return readColumns(new URL(api.eventsUrl(id, from), location.href).href, { ...authHeaders(), Accept: 'application/x-ndjson' }, opts);
}

/** The same for any NDJSON URL (tests read a Blob's). */
export function readColumns(url, headers, { fields, onColumns, signal, timing = null, batchBytes }) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./model/ingest-worker.js', import.meta.url));
    const stop = () => { worker.terminate(); reject(new DOMException('aborted', 'AbortError')); };
    if (signal?.aborted) { stop(); return; }
    signal?.addEventListener('abort', stop, { once: true });
    const finish = () => { signal?.removeEventListener('abort', stop); worker.terminate(); };
    worker.onmessage = (e) => {
      const msg = e.data;
      if (msg.kind === 'batch') {
        if (timing) timing.workerMs = (timing.workerMs || 0) + (msg.scanMs || 0);
        try { onColumns(msg); } catch (err) { finish(); reject(err); }
      } else if (msg.kind === 'end') { finish(); resolve(); }
      else if (msg.kind === 'error') {
        finish();
        reject(msg.status ? new ApiError(msg.status, msg.problem) : new Error(msg.message || 'event stream failed'));
      }
    };
    worker.onerror = (e) => { finish(); reject(new Error(e.message || 'ingest worker failed')); };
    worker.postMessage({ url, headers, fields, batchBytes });
  });
}
