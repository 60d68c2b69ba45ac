// Reads a recorded run's NDJSON event stream in a Web Worker, so the page's own thread never
// decodes or JSON-parses the bytes. A hand-written scanner walks each line's top level once and
// pulls out only the fields the model asks for (the base fields and those its handlers declare,
// model/registry.js); every other value is skipped without making a string or an object. What
// goes back to the page, one message per megabyte or so (the buffers are transferred, not copied):
//
//   bytes   the complete lines themselves (an ArrayBuffer): the page keeps them and parses one
//           line when something asks for that whole event (a tooltip, the log, an extension
//           handler that did not say which fields it reads)
//   offs    Uint32Array(n + 1): where each non-blank line starts in bytes (offs[n]: the end)
//   fStart  Uint32Array(n + 1): each line's fields are fSlot/fTag/fVal[fStart[k] .. fStart[k+1])
//   fSlot   Uint8Array: the field (its position in the asked-for list)
//   fTag    Uint8Array: 1 number (fVal), 2 string (fVal = id in the string table), 3 true,
//           4 false, 5 null
//   fVal    Float64Array
//   flags   Uint8Array(n): 1 = an asked-for field holds an object or array, 2 = the line is not a
//           plain JSON object as far as the scanner can tell: the page JSON-parses these lines
//   strings the strings first seen in this batch (ids continue from the previous batch)
//
// Protocol: the page posts {url, headers, fields}; the worker posts {kind: 'batch', …} messages,
// then {kind: 'end'} or {kind: 'error', status, problem, message}. The page terminates it when done.

/* eslint-env worker */

const WS = (c) => c === 32 || c === 9 || c === 13;

class Scanner {
  constructor(fields) {
    this.fields = fields;
    this.slotOf = new Map(fields.map((f, i) => [f, i]));
    this.keyByHash = new Map();  // shortHash of a key's raw bytes -> [{bytes, slot}]
    this.strByHash = new Map();  // shortHash of a string's raw bytes -> [{bytes, id}]
    this.strings = [];           // id -> string
    this.strId = new Map();      // string -> id
    this.sent = 0;               // strings already posted
    this.decoder = new TextDecoder();
    this.keyAt = [];             // key entry by its place in the line before
    this.lastOf = [];            // string entry by field: the field's last value
  }

  ensure(nLines, nFields) {
    if (!this.offs || this.offs.length < nLines + 1) {
      this.offs = new Uint32Array(nLines + 1);
      this.fStart = new Uint32Array(nLines + 1);
      this.flags = new Uint8Array(nLines);
    }
    if (!this.fSlot || this.fSlot.length < nFields) {
      const slot = new Uint8Array(nFields); const tag = new Uint8Array(nFields); const val = new Float64Array(nFields);
      if (this.fSlot) { slot.set(this.fSlot); tag.set(this.fTag); val.set(this.fVal); }
      this.fSlot = slot; this.fTag = tag; this.fVal = val;
    }
  }

  /** The field a key names (-1: not asked for), by its raw bytes b[s, e); decoded once per distinct key. */
  keySlot(b, s, e, ord) {
    const h = shortHash(b, s, e);
    let list = this.keyByHash.get(h);
    if (list) {
      for (let i = 0; i < list.length; i++) if (sameBytes(list[i].bytes, b, s, e)) { this.keyAt[ord] = list[i]; return list[i].slot; }
    } else { list = []; this.keyByHash.set(h, list); }
    const name = this.decode(b, s, e);
    const key = { bytes: b.slice(s, e), slot: this.slotOf.has(name) ? this.slotOf.get(name) : -1 };
    list.push(key);
    this.keyAt[ord] = key;
    return key.slot;
  }

  /** The id of the string whose raw bytes are b[s, e) (between its quotes). */
  intern(b, s, e, slot) {
    const last = this.lastOf[slot]; // the same field's value in the line before, most often the same
    if (last && sameBytes(last.bytes, b, s, e)) return last.id;
    const h = shortHash(b, s, e);
    let list = this.strByHash.get(h);
    if (list) {
      for (let i = 0; i < list.length; i++) if (sameBytes(list[i].bytes, b, s, e)) { this.lastOf[slot] = list[i]; return list[i].id; }
    } else { list = []; this.strByHash.set(h, list); }
    const str = this.decode(b, s, e);
    let id = this.strId.get(str);
    if (id === undefined) { id = this.strings.length; this.strings.push(str); this.strId.set(str, id); }
    const entry = { bytes: b.slice(s, e), id };
    list.push(entry);
    this.lastOf[slot] = entry;
    return id;
  }

  /** A JSON string's raw bytes (between its quotes) decoded: escapes and UTF-8 by JSON.parse, plain ASCII directly. */
  decode(b, s, e) {
    for (let i = s; i < e; i++) {
      const c = b[i];
      if (c === 92 || c > 127) return JSON.parse(this.decoder.decode(b.subarray(s - 1, e + 1)));
    }
    return latin1(b, s, e);
  }

  /** Scan the complete lines of b[0, end): returns the batch (its arrays are copies, ready to transfer). */
  scan(b, end) {
    const guess = Math.ceil(end / 40) + 4;
    this.ensure(guess, guess * 4);
    let n = 0; let nf = 0;
    let p = 0;
    while (p < end) {
      const c = b[p];
      if (c === 10 || WS(c)) { p++; continue; } // blank lines are heartbeats
      if (n + 1 >= this.offs.length) {
        const grow = (a, C) => { const x = new C(a.length * 2); x.set(a); return x; };
        this.offs = grow(this.offs, Uint32Array); this.fStart = grow(this.fStart, Uint32Array); this.flags = grow(this.flags, Uint8Array);
      }
      if (nf + 64 >= this.fSlot.length) this.ensure(n, this.fSlot.length * 2);
      this.offs[n] = p;
      this.fStart[n] = nf;
      this.nf = nf;
      // the line is scanned up to its newline (the scan never crosses one); a line it cannot
      // read ends at the next newline
      let flags = this.line(b, p, end);
      let e = this.pos;
      if (e < 0) { flags = 2; e = b.indexOf(10, p); if (e < 0 || e > end) e = end; }
      this.flags[n] = flags;
      nf = this.nf;
      n++;
      p = e + 1;
    }
    this.offs[n] = Math.min(p, end);
    this.fStart[n] = nf;
    const batch = {
      kind: 'batch', n,
      offs: this.offs.slice(0, n + 1), fStart: this.fStart.slice(0, n + 1), flags: this.flags.slice(0, n),
      fSlot: this.fSlot.slice(0, nf), fTag: this.fTag.slice(0, nf), fVal: this.fVal.slice(0, nf),
      strings: this.strings.slice(this.sent),
    };
    this.sent = this.strings.length;
    return batch;
  }

  push(slot, tag, val) {
    const k = this.nf++;
    this.fSlot[k] = slot; this.fTag[k] = tag; this.fVal[k] = val;
  }

  /**
   * One line's top level, from b[p] up to its newline (or e): returns its flags (0: every
   * asked-for field is in the arrays) and leaves in this.pos where the line ends (-1: not read).
   */
  line(b, p, e) {
    const start = this.nf;
    let flags = 0;
    let ord = 0;
    if (b[p] !== 123) return this.bad(start);
    p++;
    while (p < e && WS(b[p])) p++;
    if (b[p] === 125) { p++; while (p < e && WS(b[p])) p++; this.pos = p < e && b[p] !== 10 ? -1 : p; return 0; }
    for (;;) {
      while (p < e && WS(b[p])) p++;
      if (b[p] !== 34) return this.bad(start);
      p++;
      const ks = p;
      p = closeQuote(b, p, e);
      if (p < 0) return this.bad(start);
      // the keys of a line usually come in the order the line before had them: try that first
      const guess = this.keyAt[ord];
      const slot = guess && sameBytes(guess.bytes, b, ks, p) ? guess.slot : this.keySlot(b, ks, p, ord);
      ord++;
      p++;
      let c = 0;
      while (p < e && WS(b[p])) p++;
      if (b[p] !== 58) return this.bad(start);
      p++;
      while (p < e && WS(b[p])) p++;
      c = b[p];
      if (c === 34) {
        p++;
        const vs = p;
        p = closeQuote(b, p, e);
        if (p < 0) return this.bad(start);
        if (slot >= 0) this.push(slot, 2, this.intern(b, vs, p, slot));
        p++;
      } else if (c === 123 || c === 91) { // an object or array: skip it, minding strings
        let depth = 0;
        while (p < e) {
          c = b[p++];
          if (c === 34) { p = closeQuote(b, p, e); if (p < 0) return this.bad(start); p++; } else if (c === 123 || c === 91) depth++;
          else if (c === 125 || c === 93) { if (--depth === 0) break; } else if (c === 10) return this.bad(start);
        }
        if (depth !== 0) return this.bad(start);
        if (slot >= 0) flags |= 1;
      } else if (c === 116) { // true
        if (b[p + 1] !== 114 || b[p + 2] !== 117 || b[p + 3] !== 101) return this.bad(start);
        if (slot >= 0) this.push(slot, 3, 0);
        p += 4;
      } else if (c === 102) { // false
        if (b[p + 1] !== 97 || b[p + 2] !== 108 || b[p + 3] !== 115 || b[p + 4] !== 101) return this.bad(start);
        if (slot >= 0) this.push(slot, 4, 0);
        p += 5;
      } else if (c === 110) { // null
        if (b[p + 1] !== 117 || b[p + 2] !== 108 || b[p + 3] !== 108) return this.bad(start);
        if (slot >= 0) this.push(slot, 5, 0);
        p += 4;
      } else { // a number: integers up to 15 digits by hand, the rest by parseFloat
        const ns = p;
        let neg = false;
        if (c === 45) { neg = true; p++; }
        let v = 0; let digits = 0;
        while (p < e && (c = b[p]) >= 48 && c <= 57) { v = v * 10 + (c - 48); p++; digits++; }
        if (c === 46 || c === 101 || c === 69 || digits > 15) {
          while (p < e && (c = b[p]) !== 44 && c !== 125 && !WS(c)) p++;
          v = parseFloat(latin1(b, ns, p));
        } else if (neg) v = -v;
        if (digits === 0 && !(v === v)) return this.bad(start);
        if (slot >= 0) this.push(slot, 1, v);
      }
      while (p < e && WS(b[p])) p++;
      c = b[p];
      if (c === 44) { p++; continue; }
      if (c === 125) { p++; break; }
      return this.bad(start);
    }
    while (p < e && WS(b[p])) p++;
    if (p < e && b[p] !== 10) return this.bad(start);
    this.pos = p;
    return flags;
  }

  bad(start) { this.nf = start; this.pos = -1; return 2; }
}

/** Where the string that starts at p ends (its closing quote), or -1 (none before e or a newline). */
function closeQuote(b, p, e) {
  while (p < e) {
    const c = b[p];
    if (c === 34) return p;
    if (c === 92) p += 2;
    else if (c === 10) return -1;
    else p++;
  }
  return -1;
}

/** A cheap hash of a short byte string: its length and three of its bytes (collisions are checked). */
function shortHash(b, s, e) {
  const n = e - s;
  if (n === 0) return 0;
  return (((n * 257 + b[s]) * 257 + b[e - 1]) * 257 + b[s + (n >> 1)]) | 0;
}

function sameBytes(x, b, s, e) {
  if (x.length !== e - s) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== b[s + i]) return false;
  return true;
}

function latin1(b, s, e) {
  let out = '';
  for (let i = s; i < e; i += 4096) out += String.fromCharCode.apply(null, b.subarray(i, Math.min(e, i + 4096)));
  return out;
}

const BATCH_BYTES = 1 << 20;

async function run({ url, headers, fields, batchBytes = BATCH_BYTES }) {
  const scanner = new Scanner(fields);
  const response = await fetch(url, { headers });
  if (!response.ok) {
    let problem = null;
    try { problem = await response.json(); } catch { /* not JSON */ }
    self.postMessage({ kind: 'error', status: response.status, problem });
    return;
  }
  const reader = response.body.getReader();
  let buf = new Uint8Array(batchBytes * 2);
  let len = 0;
  const flush = (final) => {
    let end = len;
    if (!final) { end = buf.lastIndexOf(10, len - 1) + 1; if (end <= 0) return; }
    if (end === 0) return;
    const t0 = performance.now();
    const batch = scanner.scan(buf, end);
    batch.scanMs = performance.now() - t0;
    const bytes = buf.slice(0, end).buffer;
    buf.copyWithin(0, end, len);
    len -= end;
    batch.bytes = bytes;
    self.postMessage(batch, [bytes, batch.offs.buffer, batch.fStart.buffer, batch.flags.buffer,
      batch.fSlot.buffer, batch.fTag.buffer, batch.fVal.buffer]);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (len + value.length > buf.length) {
      const grown = new Uint8Array(Math.max(buf.length * 2, len + value.length));
      grown.set(buf.subarray(0, len));
      buf = grown;
    }
    buf.set(value, len);
    len += value.length;
    if (len >= batchBytes) flush(false);
  }
  if (len) flush(true);
  self.postMessage({ kind: 'end' });
}

if (typeof self !== 'undefined' && typeof self.postMessage === 'function' && typeof window === 'undefined') {
  self.onmessage = (e) => {
    run(e.data).catch((err) => self.postMessage({ kind: 'error', status: 0, message: String(err && err.message || err) }));
  };
}

if (typeof module !== 'undefined') module.exports = { Scanner }; // node: tests and benchmarks
