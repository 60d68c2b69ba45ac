// The event log: a virtualized, filterable table of every event (runs can have 100k), linked
// both ways with the timeline through onSelect/select(index).

import { formatTime } from './timeline.js';
import { upperBound } from './model.js';

const ROW_H = 20;
const BASE_FIELDS = new Set(['seq', 'ts', 'type', 'lane', 'pid', 'tid']);

export class EventLog {
  constructor({ container, typeSelect, laneSelect, textInput, countEl, onSelect }) {
    this.el = container;
    this.spacer = container.querySelector('.log-spacer');
    this.typeSelect = typeSelect;
    this.laneSelect = laneSelect;
    this.textInput = textInput;
    this.countEl = countEl;
    this.onSelect = onSelect;
    this.model = null;
    this.rows = [];           // filtered event indices
    this.scanned = 0;         // events already considered for `rows`
    this.limitCount = null;   // replay: only events [0, limitCount)
    this.selected = -1;
    this.text = [];           // lower-cased searchable text per event, built lazily
    this.knownTypes = new Set();
    this.knownLanes = new Set();
    this.pending = false;
    this.loadingInterval = 0; // least ms between renders while a recorded run loads
    this.lastRender = 0;
    this.stick = true;        // keep the newest row in view while live
    container.addEventListener('scroll', () => {
      this.stick = container.scrollTop + container.clientHeight >= container.scrollHeight - ROW_H * 1.5;
      this.render();
    });
    container.addEventListener('click', (e) => {
      const row = e.target.closest('.log-row');
      if (row) this.onSelect(Number(row.dataset.index), 'log');
    });
    container.addEventListener('keydown', (e) => this.onKey(e));
    const refilter = () => this.refilter();
    typeSelect.addEventListener('change', refilter);
    laneSelect.addEventListener('change', refilter);
    textInput.addEventListener('input', refilter);
  }

  setModel(model) {
    this.model = model;
    this.rows = [];
    this.scanned = 0;
    this.text = [];
    this.selected = -1;
    this.limitCount = null;
    this.stick = true;
    this.knownTypes.clear();
    this.knownLanes.clear();
    for (const sel of [this.typeSelect, this.laneSelect]) {
      sel.length = 1;
      sel.value = '';
    }
    this.textInput.value = '';
    this.el.scrollTop = 0;
    this.invalidate();
  }

  matches(i) {
    const m = this.model;
    const type = this.typeSelect.value;
    const lane = this.laneSelect.value;
    const q = this.textInput.value.trim().toLowerCase();
    // type and lane from the model's columns: no event object is made for them (a recorded
    // run's events are parsed on demand, model/store.js)
    if (type && m.typeOf(i) !== type) return false;
    if (lane && m.laneOf(i).name !== lane) return false;
    if (q) {
      let t = this.text[i];
      if (t === undefined) {
        const ev = m.events[i];
        // what the row shows (seq, time, lane, type, k=v fields), so "item=7" finds item 7
        t = `${ev.seq ?? i} ${formatTime(ev.ts)} ${ev.lane ?? ''} ${ev.type ?? ''} ${fieldsText(ev)}`.toLowerCase();
        this.text[i] = t;
      }
      if (!t.includes(q)) return false;
    }
    return true;
  }

  /** Take in events that arrived since the last call. */
  update() {
    const m = this.model;
    if (!m) return;
    const n = m.events.length;
    const filtering = this.typeSelect.value || this.laneSelect.value || this.textInput.value.trim();
    for (let i = this.scanned; i < n; i++) {
      if (!filtering || this.matches(i)) this.rows.push(i);
    }
    this.scanned = n;
    this.syncOptions();
    this.invalidate();
  }

  syncOptions() {
    const m = this.model;
    if (m.types.size !== this.knownTypes.size) {
      for (const t of [...m.types].sort()) {
        if (!this.knownTypes.has(t)) { this.knownTypes.add(t); this.typeSelect.add(new Option(t, t)); }
      }
    }
    if (m.lanes.size !== this.knownLanes.size) {
      for (const name of m.lanes.keys()) {
        if (!this.knownLanes.has(name)) { this.knownLanes.add(name); this.laneSelect.add(new Option(name, name)); }
      }
    }
  }

  refilter() {
    const m = this.model;
    if (!m) return;
    this.rows = [];
    for (let i = 0; i < m.events.length; i++) if (this.matches(i)) this.rows.push(i);
    this.scanned = m.events.length;
    this.invalidate();
  }

  setLimit(count) { this.limitCount = count; this.invalidate(); }

  visibleCount() {
    if (this.limitCount == null) return this.rows.length;
    return upperBound(this.rows, this.limitCount - 1, (i) => i);
  }

  select(index, scroll = true) {
    this.selected = index;
    if (scroll) {
      const pos = upperBound(this.rows, index - 1, (i) => i);
      if (this.rows[pos] === index) {
        // size the scroll area first: rows may have arrived since the last frame, and a
        // scrollTop beyond the old height would be clamped (to 0 on a fresh page)
        this.spacer.style.height = `${this.visibleCount() * ROW_H}px`;
        const top = pos * ROW_H;
        if (top < this.el.scrollTop || top > this.el.scrollTop + this.el.clientHeight - ROW_H) {
          this.el.scrollTop = Math.max(0, top - this.el.clientHeight / 2);
        }
        this.stick = false;
      }
    }
    this.invalidate();
  }

  onKey(e) {
    if (!this.model || !this.rows.length) return;
    const count = this.visibleCount();
    let pos = upperBound(this.rows, this.selected - 1, (i) => i);
    if (this.rows[pos] !== this.selected) pos = -1;
    if (e.key === 'ArrowDown') pos = Math.min(count - 1, pos + 1);
    else if (e.key === 'ArrowUp') pos = Math.max(0, pos - 1);
    else if (e.key === 'Home') pos = 0;
    else if (e.key === 'End') pos = count - 1;
    else return;
    e.preventDefault();
    if (pos >= 0 && pos < count) this.onSelect(this.rows[pos], 'log');
  }

  invalidate() {
    if (this.pending) return;
    this.pending = true;
    // While a recorded run pours in (loadingInterval > 0), the table follows twice a second
    // rather than every frame: each render lays the page out again.
    const wait = this.loadingInterval ? this.lastRender + this.loadingInterval - performance.now() : 0;
    const go = () => requestAnimationFrame(() => { this.pending = false; this.lastRender = performance.now(); this.render(); });
    if (wait > 4) setTimeout(go, wait); else go();
  }

  render() {
    const m = this.model;
    const count = m ? this.visibleCount() : 0;
    this.spacer.style.height = `${count * ROW_H}px`;
    this.el.setAttribute('aria-rowcount', String(count));
    if (this.stick && count) this.el.scrollTop = count * ROW_H;
    const first = Math.max(0, Math.floor(this.el.scrollTop / ROW_H) - 5);
    const last = Math.min(count, first + Math.ceil((this.el.clientHeight || 260) / ROW_H) + 10);
    const needed = last - first;
    while (this.pool().length < needed) {
      const row = document.createElement('div');
      row.className = 'log-row';
      row.setAttribute('role', 'row');
      for (let k = 0; k < 5; k++) {
        const cell = document.createElement('span');
        cell.setAttribute('role', 'cell');
        row.appendChild(cell);
      }
      this.el.appendChild(row);
    }
    const pool = this.pool();
    for (let k = 0; k < pool.length; k++) {
      const row = pool[k];
      const pos = first + k;
      if (pos >= last) { row.hidden = true; continue; }
      const i = this.rows[pos];
      const ev = m.events[i];
      row.hidden = false;
      row.style.top = `${pos * ROW_H}px`;
      row.dataset.index = String(i);
      row.setAttribute('aria-rowindex', String(pos + 1));
      if (i === this.selected) row.setAttribute('aria-current', 'true'); else row.removeAttribute('aria-current');
      row.classList.toggle('selected', i === this.selected);
      const cells = row.children;
      cells[0].textContent = ev.seq ?? i;
      cells[1].textContent = formatTime(ev.ts);
      cells[2].textContent = ev.lane ?? '';
      cells[3].textContent = ev.type ?? '';
      cells[3].className = String(ev.type).startsWith('deadlock') ? 't-deadlock' : String(ev.type).startsWith('lock') ? 't-lock' : '';
      cells[4].textContent = fieldsText(ev);
      cells[4].title = cells[4].textContent;
    }
    const total = m ? m.events.length : 0;
    this.countEl.textContent = m ? `${count.toLocaleString()} of ${total.toLocaleString()} events` : '';
  }

  pool() {
    if (!this._pool) this._pool = [];
    if (this._pool.length !== this.el.children.length - 1) {
      this._pool = [...this.el.querySelectorAll('.log-row')];
    }
    return this._pool;
  }
}

function fieldsText(ev) {
  const parts = [];
  for (const k in ev) {
    if (BASE_FIELDS.has(k)) continue;
    const v = ev[k];
    parts.push(`${k}=${typeof v === 'object' && v !== null ? JSON.stringify(v) : v}`);
  }
  return parts.join('  ');
}
