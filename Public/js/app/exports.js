// Exports of the run on screen: NDJSON of its events and a PNG of the timeline(s). (The Chrome
// trace link is a plain download of the server's /trace?format=chrome.)

import { $, state } from './context.js';

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
  const text = state.model.events.map((e) => JSON.stringify(e)).join('\n') + '\n';
  download(new Blob([text], { type: 'application/x-ndjson' }), `interleave-${state.run.id}.ndjson`);
}

export async function exportPng() {
  if (!state.model) return;
  download(await timelinePNG(), `interleave-${state.run.id}.png`);
}

/** The timeline (and the compared one, below it) as one PNG blob. */
export async function timelinePNG() {
  const a = $('timeline');
  const b = state.compare ? $('timeline-compare') : null;
  if (!b) return new Promise((r) => a.toBlob(r, 'image/png'));
  const c = document.createElement('canvas');
  c.width = Math.max(a.width, b.width);
  c.height = a.height + b.height + 8;
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, c.width, c.height);
  ctx.drawImage(a, 0, 0);
  ctx.drawImage(b, 0, a.height + 8);
  return new Promise((r) => c.toBlob(r, 'image/png'));
}
