// The run summary: the verdict sentence first, then duration, the experiment's own figures and
// what the tracer itself cost.

// identifiers are not quantities: no thousands separators in "pid 7423"
const ID_KEY = /(pid|tid|id|seed|port|signal|code)s?$/i;

/** A number the way a person would say it: 3.5× faster, 603 ms, 0.42 ms, 1,234 events. */
function fmtNumber(v, key) {
  if (ID_KEY.test(key)) return String(v);
  if (/(speedup|ratio|factor|times)$/i.test(key)) return `${v >= 10 ? Math.round(v) : Math.round(v * 10) / 10}×`;
  const abs = Math.abs(v);
  const digits = Number.isInteger(v) ? 0 : abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  const text = v.toLocaleString(undefined, { maximumFractionDigits: digits });
  if (/(Ms|Millis)$/.test(key)) return `${text} ms`;
  if (/(Us|Micros)$/.test(key)) return `${text} µs`;
  return text;
}

function fmt(v, key = '') {
  if (typeof v === 'number') return fmtNumber(v, key);
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (v === null || v === undefined) return '–';
  if (Array.isArray(v) && !v.length) return 'none';
  if (Array.isArray(v)) return v.map((x) => fmtItem(x, key)).join(' · ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

// lists of records (children, cycle edges…) read better as "a 1, b 2"
function fmtItem(x, key) {
  return x && typeof x === 'object' && !Array.isArray(x)
    ? Object.entries(x).map(([k, y]) => `${k} ${typeof y === 'object' ? JSON.stringify(y) : typeof y === 'number' ? fmtNumber(y, k) : y}`).join(', ')
    : fmt(x, key);
}

const SHOW_ITEMS = 6;

/** A value for a <dd>: long lists fold, so a 5000-task run does not push the timeline down. */
function valueNode(v, key) {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    // a nested record (per-lane figures…): folded, its JSON when opened
    const details = document.createElement('details');
    details.className = 'folded';
    const sum = document.createElement('summary');
    const keys = Object.keys(v);
    sum.textContent = `${keys.slice(0, SHOW_ITEMS).join(', ')}${keys.length > SHOW_ITEMS ? ' …' : ''} (${keys.length})`;
    const full = document.createElement('pre');
    full.className = 'folded-list';
    full.textContent = JSON.stringify(v, null, 1);
    details.append(sum, full);
    return details;
  }
  if (!Array.isArray(v) || v.length <= SHOW_ITEMS) return document.createTextNode(fmt(v, key));
  const details = document.createElement('details');
  details.className = 'folded';
  const sum = document.createElement('summary');
  sum.textContent = `${v.slice(0, SHOW_ITEMS).map((x) => fmtItem(x, key)).join(' · ')} … (${v.length.toLocaleString()} in all)`;
  const full = document.createElement('div');
  full.className = 'folded-list';
  // the full list only when opened, and at most 2000 entries of it
  details.addEventListener('toggle', () => {
    if (!details.open || full.textContent) return;
    const shown = v.slice(0, 2000).map((x) => fmtItem(x, key)).join(' · ');
    full.textContent = v.length > 2000 ? `${shown} … and ${(v.length - 2000).toLocaleString()} more` : shown;
  });
  details.append(sum, full);
  return details;
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
  if (el.id === 'summary') verdict.id = 'verdict';
  verdict.textContent = summary.verdict || `The run ended: ${status || 'finished'}.`;
  el.appendChild(verdict);
  const dl = document.createElement('dl');
  const add = (k, v) => {
    const d = document.createElement('div');
    const dt = document.createElement('dt'); dt.textContent = k;
    const dd = document.createElement('dd');
    if (v instanceof Node) dd.appendChild(v); else dd.textContent = v;
    d.append(dt, dd); dl.appendChild(d);
  };
  if (typeof summary.durationMs === 'number') add('duration', fmt(summary.durationMs, 'durationMs'));
  for (const [k, v] of Object.entries(summary)) {
    if (k === 'verdict' || k === 'durationMs' || k === 'tracer') continue;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      for (const [k2, v2] of Object.entries(v)) add(`${humanize(k)} ${humanize(k2)}`, valueNode(v2, k2));
    } else add(humanize(k), valueNode(v, k));
  }
  const t = summary.tracer;
  if (t && typeof t === 'object') {
    const total = typeof t.nsPerEvent === 'number' && typeof t.events === 'number' ? t.nsPerEvent * t.events / 1e6 : null;
    add('tracer cost', `${fmt(t.events)} events, ${fmt(t.dropped)} dropped, ${fmt(t.nsPerEvent)} ns/event`
      + (total != null ? ` (≈${fmt(total, 'totalMs')} in all)` : ''));
  }
  el.appendChild(dl);
}
