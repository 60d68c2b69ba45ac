// Deadlock reports: the wait-for cycle drawn as a small graph (threads as circles, locks as
// squares, the cycle in red), the same in words, and potential lock-order warnings.

const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, text) {
  const n = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
  if (text != null) n.textContent = text;
  return n;
}

export function cycleSentences(cycle) {
  return cycle.map((e) => `${e.lane} waits for ${e.waitsFor}, which is held by ${e.heldBy}.`);
}

function graph(cycle) {
  // nodes around a circle: lane, lock, lane, lock …
  const nodes = [];
  for (const e of cycle) {
    nodes.push({ kind: 'lane', name: String(e.lane) });
    nodes.push({ kind: 'lock', name: String(e.waitsFor) });
  }
  const n = nodes.length;
  const W = 300; const H = 230; const R = Math.min(80, 30 + n * 8);
  const cx = W / 2; const cy = H / 2;
  nodes.forEach((node, i) => {
    const a = -Math.PI / 2 + (i / n) * Math.PI * 2;
    node.x = cx + R * Math.cos(a); node.y = cy + R * Math.sin(a);
  });
  const svg = el('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'cycle-graph',
    'aria-label': `Wait-for cycle: ${cycleSentences(cycle).join(' ')}` });
  const defs = el('defs');
  const marker = el('marker', { id: 'arrow-red', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.appendChild(el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#c0262d' }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  for (let i = 0; i < n; i++) {
    const a = nodes[i]; const b = nodes[(i + 1) % n];
    const dx = b.x - a.x; const dy = b.y - a.y; const len = Math.hypot(dx, dy) || 1;
    const pad = 21;
    // each edge bows outward (away from the centre), so a two-node cycle shows two arcs
    let nx = -dy / len; let ny = dx / len;
    const mx = (a.x + b.x) / 2; const my = (a.y + b.y) / 2;
    if ((mx - cx) * nx + (my - cy) * ny < 0) { nx = -nx; ny = -ny; }
    const bow = n === 2 ? 38 : 14;
    const qx = mx + nx * bow; const qy = my + ny * bow;
    const sx = a.x + (qx - a.x) / (Math.hypot(qx - a.x, qy - a.y) || 1) * pad;
    const sy = a.y + (qy - a.y) / (Math.hypot(qx - a.x, qy - a.y) || 1) * pad;
    const ex = b.x + (qx - b.x) / (Math.hypot(qx - b.x, qy - b.y) || 1) * pad;
    const ey = b.y + (qy - b.y) / (Math.hypot(qx - b.x, qy - b.y) || 1) * pad;
    svg.appendChild(el('path', { d: `M${sx},${sy} Q${qx},${qy} ${ex},${ey}`, fill: 'none',
      stroke: '#c0262d', 'stroke-width': 2.5, 'marker-end': 'url(#arrow-red)', class: 'cycle-edge' }));
    const lx = mx + nx * (bow / 2 + 12); const ly = my + ny * (bow / 2 + 12) + 3;
    svg.appendChild(el('text', { x: lx, y: ly, 'font-size': 9, fill: '#7a0b0b', 'text-anchor': 'middle' },
      a.kind === 'lane' ? 'waits for' : 'held by'));
  }
  for (const node of nodes) {
    const g = el('g', { class: `cycle-node ${node.kind}`, 'data-name': node.name });
    if (node.kind === 'lane') {
      g.appendChild(el('circle', { cx: node.x, cy: node.y, r: 17, fill: '#fde3e3', stroke: '#c0262d', 'stroke-width': 2 }));
    } else {
      g.appendChild(el('rect', { x: node.x - 15, y: node.y - 15, width: 30, height: 30, rx: 3, fill: '#e8c53a', stroke: '#7a5b00', 'stroke-width': 2 }));
    }
    const label = node.name.length > 16 ? `${node.name.slice(0, 15)}…` : node.name;
    g.appendChild(el('text', { x: node.x, y: node.y + (node.y < cy ? -22 : 30), 'font-size': 11, 'text-anchor': 'middle', fill: '#16202c', 'font-weight': 600 }, label));
    g.appendChild(el('text', { x: node.x, y: node.y + 4, 'font-size': 8, 'text-anchor': 'middle', fill: '#16202c' }, node.kind === 'lane' ? 'thread' : 'lock'));
    svg.appendChild(g);
  }
  return svg;
}

export function renderDeadlocks(container, model, limitTs = null) {
  const detected = model ? model.deadlocks.filter((d) => limitTs == null || d.ts <= limitTs) : [];
  const potentials = model ? model.potentials.filter((d) => limitTs == null || d.ts <= limitTs) : [];
  const key = `${detected.length}/${potentials.length}`;
  if (container.dataset.key === key && container.dataset.model === String(model?.id ?? '')) return;
  container.dataset.key = key;
  container.dataset.model = String(model?.id ?? '');
  container.textContent = '';
  if (!detected.length && !potentials.length) { container.hidden = true; return; }
  container.hidden = false;
  container.classList.toggle('only-potential', !detected.length);
  for (const d of detected) {
    const cycle = Array.isArray(d.cycle) ? d.cycle.filter((e) => e && typeof e === 'object') : [];
    const text = document.createElement('div');
    text.className = 'cycle-text';
    const h = document.createElement('h3');
    h.textContent = `Deadlock detected: ${cycle.length} ${cycle.length === 1 ? 'actor waits' : 'actors wait'} in a cycle`;
    const ul = document.createElement('ul');
    for (const s of cycleSentences(cycle)) {
      const li = document.createElement('li'); li.textContent = s; ul.appendChild(li);
    }
    const p = document.createElement('p');
    p.textContent = 'Nobody can go on: each one holds what the next one needs.';
    text.append(h, ul, p);
    const box = document.createElement('div');
    box.className = 'deadlock-report';
    box.dataset.cycleLength = String(cycle.length);
    box.append(text);
    if (cycle.length) box.append(graph(cycle));
    box.style.display = 'flex'; box.style.gap = '1rem'; box.style.flexWrap = 'wrap';
    container.appendChild(box);
  }
  if (potentials.length) {
    const div = document.createElement('div');
    div.className = 'potential';
    const h = document.createElement('h3');
    h.textContent = 'Potential deadlock (lock order)';
    h.style.color = '#a35d00';
    const ul = document.createElement('ul');
    const seen = new Set();
    for (const d of potentials) {
      const order = Array.isArray(d.order) ? d.order.join(' → ') : JSON.stringify(d.order);
      if (seen.has(order + d.lane)) continue;
      seen.add(order + d.lane);
      const li = document.createElement('li');
      li.textContent = `${d.lane ?? 'someone'} took locks in the order ${order}, while another order exists: this can deadlock.`;
      ul.appendChild(li);
    }
    div.append(h, ul);
    container.appendChild(div);
  }
}
