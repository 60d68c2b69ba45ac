// Exports of the run on screen: NDJSON of its events and a PNG of the timeline(s). (The Chrome
// trace link is a plain download of the server's /trace?format=chrome.)

import { $, state } from './context.js';
import { paramsText } from '../runs.js';
import { lessonOf } from '../model/lesson.js';

function download(blob, name) {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

export function exportNdjson() {
  if (!state.model) return;
  // a recorded run read by the ingest worker: its lines as the server sent them
  const parts = state.model.store ? state.model.store.ndjsonParts()
    : [state.model.events.map((e) => JSON.stringify(e)).join('\n') + '\n'];
  download(new Blob(parts, { type: 'application/x-ndjson' }), `interleave-${state.run.id}.ndjson`);
}

export async function exportPng() {
  if (!state.model) return;
  download(await timelinePNG(), `interleave-${state.run.id}.png`);
}

/** Lines of text that fit a width, broken at spaces. */
function wrapText(ctx, text, width) {
  const lines = [];
  let line = '';
  for (const word of String(text).split(/\s+/)) {
    const next = line ? `${line} ${word}` : word;
    if (ctx.measureText(next).width > width && line) { lines.push(line); line = word; } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * The picture as it would be shown to a class: the title, the parameters, the verdict and what
 * happened, the timeline (and every compared run below it, with its verdict), and the legend.
 */
export async function timelinePNG() {
  const dpr = window.devicePixelRatio || 1;
  const main = $('timeline');
  const W = main.width;
  const pad = 12 * dpr;
  const measure = document.createElement('canvas').getContext('2d');
  const font = (px, bold = false) => `${bold ? 'bold ' : ''}${px * dpr}px system-ui, sans-serif`;
  const blocks = []; // {h, draw(ctx, y)}
  const text = (str, px, { bold = false, color = '#16202c' } = {}) => {
    measure.font = font(px, bold);
    const lines = wrapText(measure, str, W - 2 * pad);
    const lh = px * 1.35 * dpr;
    blocks.push({ h: lines.length * lh, draw: (ctx, y) => {
      ctx.font = font(px, bold); ctx.fillStyle = color; ctx.textBaseline = 'top';
      lines.forEach((l, i) => ctx.fillText(l, pad, y + i * lh));
    } });
  };
  const gap = (px) => blocks.push({ h: px * dpr, draw: () => {} });
  const image = (canvas) => blocks.push({ h: canvas.height, draw: (ctx, y) => ctx.drawImage(canvas, 0, y) });

  const run = state.run;
  const exp = state.experiments.find((e) => e.id === run.experiment);
  gap(8);
  text(`${exp?.title || run.experiment}  ·  run ${run.id}`, 17, { bold: true });
  text(`parameters: ${paramsText(run.params) || 'defaults'}  ·  ${run.status}`, 12, { color: '#5f6b7a' });
  const summary = run.summary || state.model.end?.summary;
  if (summary?.verdict) text(summary.verdict, 14, { bold: true });
  const insights = lessonOf(state.model).insights;
  for (const ins of insights) text(`(${ins.n}) ${ins.text}`, 12);
  gap(6);
  image(main);
  for (const c of state.compares) {
    gap(8);
    text(`compared: ${c.run.experiment} · ${paramsText(c.run.params)} · ${c.run.status}`, 12, { bold: true });
    const v = c.run.summary?.verdict || c.model.end?.summary?.verdict;
    if (v) text(v, 12);
    image(c.timeline.canvas);
  }
  // the legend, as on the page: each swatch and its words, flowing in lines
  const items = [...document.querySelectorAll('#legend .item')].map((el) => ({ sw: el.querySelector('canvas'), label: el.textContent }));
  measure.font = font(11);
  const rows = [];
  let row = []; let x = pad;
  for (const it of items) {
    const w = (30 + 8) * dpr + measure.measureText(it.label).width;
    if (x + w > W - pad && row.length) { rows.push(row); row = []; x = pad; }
    row.push({ ...it, x }); x += w + 10 * dpr;
  }
  if (row.length) rows.push(row);
  const lh = 18 * dpr;
  gap(8);
  blocks.push({ h: rows.length * lh, draw: (ctx, y) => {
    ctx.font = font(11); ctx.fillStyle = '#16202c'; ctx.textBaseline = 'middle';
    rows.forEach((r, i) => r.forEach((it) => {
      if (it.sw) ctx.drawImage(it.sw, it.x, y + i * lh + 2 * dpr, 26 * dpr, 14 * dpr);
      ctx.fillText(it.label, it.x + 32 * dpr, y + i * lh + 9 * dpr);
    }));
  } });
  gap(8);

  const c = document.createElement('canvas');
  c.width = W;
  c.height = Math.ceil(blocks.reduce((h, b) => h + b.h, 0));
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, c.width, c.height);
  let y = 0;
  for (const b of blocks) { b.draw(ctx, y); y += b.h; }
  return new Promise((r) => c.toBlob(r, 'image/png'));
}
