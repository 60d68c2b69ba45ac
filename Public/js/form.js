// The parameter form, generated from an experiment's parameter schema, and the equivalent
// curl command for the chosen values.

/** Builds the form; returns sentences about initial values that could not be used. */
export function buildForm(container, experiment, initial = {}) {
  container.textContent = '';
  const problems = [];
  for (const p of experiment.parameters || []) {
    const id = `param-${p.name}`;
    const wrap = document.createElement('div');
    wrap.className = 'param';
    const label = document.createElement('label');
    label.htmlFor = id;
    label.textContent = p.name;
    let input;
    let value = initial[p.name] !== undefined ? initial[p.name] : p.default;
    if (Array.isArray(p.enum) && p.enum.length) {
      input = document.createElement('select');
      for (const v of p.enum) input.add(new Option(String(v), String(v)));
      if (value !== undefined && value !== null && !p.enum.map(String).includes(String(value))) {
        problems.push(`${p.name}=${value} is not one of ${p.enum.join(', ')}; using ${p.default}`);
        value = p.default;
      }
      if (value !== undefined && value !== null) input.value = String(value);
    } else if (p.type === 'boolean') {
      input = document.createElement('input');
      input.type = 'checkbox';
      input.checked = value === true || value === 'true' || value === '1';
      wrap.classList.add('checkbox');
    } else if (p.type === 'integer' || p.type === 'number') {
      input = document.createElement('input');
      input.type = 'number';
      input.step = p.type === 'integer' ? '1' : 'any';
      if (p.minimum !== undefined && p.minimum !== null) input.min = String(p.minimum);
      if (p.maximum !== undefined && p.maximum !== null) input.max = String(p.maximum);
      if (value !== undefined && value !== null) input.value = String(value);
    } else if (p.type === 'array') {
      // a list (e.g. the lane names of a recorded schedule): comma-separated in one field
      input = document.createElement('input');
      input.type = 'text';
      input.placeholder = 'comma-separated, empty for none';
      input.value = listText(value);
    } else {
      input = document.createElement('input');
      input.type = 'text';
      if (value !== undefined && value !== null) input.value = String(value);
    }
    input.id = id;
    input.name = p.name;
    input.dataset.param = p.name;
    input.dataset.type = p.type;
    const hint = document.createElement('span');
    hint.className = 'hint';
    hint.id = `${id}-hint`;
    const range = (p.minimum !== undefined && p.minimum !== null) || (p.maximum !== undefined && p.maximum !== null)
      ? ` (${p.minimum ?? '…'}–${p.maximum ?? '…'})` : '';
    hint.textContent = `${p.description || ''}${range}`;
    input.setAttribute('aria-describedby', hint.id);
    if (p.type === 'boolean' && !(Array.isArray(p.enum) && p.enum.length)) wrap.append(input, label, hint);
    else wrap.append(label, input, hint);
    container.appendChild(wrap);
  }
  if (!(experiment.parameters || []).length) {
    container.textContent = 'This experiment has no parameters.';
  }
  return problems;
}

/** The form's values, typed by the schema. Throws an Error with a sentence if one is invalid. */
export function readParams(container, experiment) {
  const params = {};
  for (const p of experiment.parameters || []) {
    const input = container.querySelector(`[data-param="${CSS.escape(p.name)}"]`);
    if (!input) continue;
    if (input.type === 'checkbox') { params[p.name] = input.checked; continue; }
    const raw = input.value;
    if (p.type === 'integer' || p.type === 'number') {
      if (raw.trim() === '') throw new Error(`${p.name} needs a value`);
      const n = Number(raw);
      if (!isFinite(n) || (p.type === 'integer' && !Number.isInteger(n))) throw new Error(`${p.name} must be ${p.type === 'integer' ? 'a whole number' : 'a number'}`);
      if (p.minimum != null && n < p.minimum) throw new Error(`${p.name} must be at least ${p.minimum}`);
      if (p.maximum != null && n > p.maximum) throw new Error(`${p.name} must be at most ${p.maximum}`);
      params[p.name] = n;
    } else if (p.type === 'boolean') {
      params[p.name] = raw === 'true';
    } else if (p.type === 'array') {
      const list = parseList(raw);
      if (p.maxItems != null && list.length > p.maxItems) throw new Error(`${p.name} takes at most ${p.maxItems} items`);
      params[p.name] = list;
    } else {
      params[p.name] = raw;
    }
  }
  return params;
}

/** Coerce deep-link strings to the schema's types; unknown names are ignored. */
export function paramsFromQuery(experiment, query) {
  const out = {};
  for (const p of experiment.parameters || []) {
    if (!query.has(p.name)) continue;
    const raw = query.get(p.name);
    if (p.type === 'boolean') out[p.name] = raw === '1' || raw === 'true' || raw === 'on' || raw === 'yes';
    else if (p.type === 'integer' || p.type === 'number') out[p.name] = Number(raw);
    else if (p.type === 'array') out[p.name] = parseList(raw);
    else out[p.name] = raw;
  }
  return out;
}

export function curlCommand(origin, experiment, params) {
  const body = JSON.stringify({ experiment, params });
  const quoted = `'${body.replace(/'/g, `'\\''`)}'`;
  return `curl -sS -X POST ${origin}/api/runs -H 'Content-Type: application/json' -d ${quoted}\n`
    + `# then stream its events:  curl -N ${origin}/api/runs/<id>/events`;
}

/** A list field's text: "a, b, c" (a JSON array is accepted too when typed or linked). */
export function listText(value) {
  if (Array.isArray(value)) return value.map(String).join(', ');
  return value == null ? '' : String(value);
}

export function parseList(raw) {
  const text = String(raw ?? '').trim();
  if (!text) return [];
  if (text.startsWith('[')) {
    try { const v = JSON.parse(text); if (Array.isArray(v)) return v.map(String); } catch { /* fall through */ }
  }
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}
