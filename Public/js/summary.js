// The run summary: the verdict sentence first, then duration, the experiment's own figures and
// what the tracer itself cost.

// identifiers are not quantities: no thousands separators in "pid 7423"
const ID_KEY = /(pid|tid|id|seed|port|signal|code)s?$/i;

function fmt(v, key = '') {
  if (typeof v === 'number' && ID_KEY.test(key)) return String(v);
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString() : v.toLocaleString(undefined, { maximumFractionDigits: 3 });
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v === null || v === undefined) return '–';
  if (Array.isArray(v) && !v.length) return 'none';
  if (Array.isArray(v)) {
    // lists of records (children, cycle edges…) read better as "a=1, b=2; a=3, b=4"
    return v.map((x) => (x && typeof x === 'object' && !Array.isArray(x)
      ? Object.entries(x).map(([k, y]) => `${k} ${typeof y === 'object' ? JSON.stringify(y) : y}`).join(', ')
      : fmt(x, key))).join(' · ');
  }
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function humanize(key) {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]/g, ' ').toLowerCase();
}

export function renderSummary(el, summary, status) {
  el.textContent = '';
  if (!summary || typeof summary !== 'object') { el.hidden = true; return; }
  el.hidden = false;
  const verdict = document.createElement('p');
  verdict.className = 'verdict';
  verdict.id = 'verdict';
  verdict.textContent = summary.verdict || `The run ended: ${status || 'finished'}.`;
  el.appendChild(verdict);
  const dl = document.createElement('dl');
  const add = (k, v) => {
    const d = document.createElement('div');
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd'); dd.textContent = v;
    d.append(dt, dd); dl.appendChild(d);
  };
  if (typeof summary.durationMs === 'number') add('duration', `${fmt(summary.durationMs)} ms`);
  for (const [k, v] of Object.entries(summary)) {
    if (k === 'verdict' || k === 'durationMs' || k === 'tracer') continue;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) add(`${humanize(k)} ${humanize(k2)}`, fmt(v2, k2));
    } else add(humanize(k), fmt(v, k));
  }
  const t = summary.tracer;
  if (t && typeof t === 'object') {
    const total = typeof t.nsPerEvent === 'number' && typeof t.events === 'number' ? t.nsPerEvent * t.events / 1e6 : null;
    add('tracer cost', `${fmt(t.events)} events, ${fmt(t.dropped)} dropped, ${fmt(t.nsPerEvent)} ns/event`
      + (total != null ? ` (≈${fmt(Math.round(total * 1000) / 1000)} ms in all)` : ''));
  }
  el.appendChild(dl);
}
