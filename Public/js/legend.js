// The legend: every colour with its pattern or shape, and what it means.

import { spanStyles, INSTANT_FAMILIES, GENERIC_INSTANT, drawShape } from './styles.js';
import { allTracks } from './tracks/index.js';

function swatch(draw) {
  const c = document.createElement('canvas');
  c.width = 26; c.height = 14;
  c.setAttribute('aria-hidden', 'true');
  draw(c.getContext('2d'));
  return c;
}

function item(container, canvas, text) {
  const span = document.createElement('span');
  span.className = 'item';
  const label = document.createElement('span');
  label.textContent = text;
  span.append(canvas, label);
  container.appendChild(span);
}

export function renderLegend(container) {
  container.textContent = '';
  for (const kind of ['task', 'lock-wait', 'lock-hold-contended', 'lock-hold', 'io', 'sem-wait', 'generic']) {
    item(container, swatch((ctx) => {
      const s = spanStyles(ctx)[kind];
      ctx.fillStyle = s.fill; ctx.fillRect(0, 2, 26, 10);
    }), spanStyles(document.createElement('canvas').getContext('2d'))[kind].label);
  }
  for (const fam of [...INSTANT_FAMILIES, GENERIC_INSTANT]) {
    if (!fam.label) continue;
    item(container, swatch((ctx) => {
      ctx.fillStyle = fam.color; ctx.strokeStyle = fam.color; drawShape(ctx, fam.shape, 13, 7, 4);
    }), fam.label);
  }
  item(container, swatch((ctx) => {
    ctx.strokeStyle = 'rgba(40,50,70,.8)'; ctx.beginPath(); ctx.moveTo(1, 3); ctx.bezierCurveTo(12, 3, 14, 11, 24, 11); ctx.stroke();
  }), 'flow: the same item handed from one actor to another');
  item(container, swatch((ctx) => {
    ctx.strokeStyle = '#2459c4'; ctx.fillStyle = 'rgba(36,89,196,.18)';
    ctx.beginPath(); ctx.moveTo(0, 13); ctx.lineTo(0, 9); ctx.lineTo(8, 9); ctx.lineTo(8, 4); ctx.lineTo(17, 4); ctx.lineTo(17, 7); ctx.lineTo(26, 7); ctx.lineTo(26, 13); ctx.fill(); ctx.stroke();
  }), 'counter (step chart)');
  // entries of registered tracks (tracks/index.js): {label, draw(ctx, w, h)}
  for (const t of allTracks()) {
    for (const entry of t.legend || []) item(container, swatch((ctx) => entry.draw?.(ctx, 26, 14)), entry.label);
  }
  item(container, swatch((ctx) => {
    ctx.fillStyle = '#fde3e3'; ctx.fillRect(0, 0, 26, 14); ctx.fillStyle = '#c0262d'; ctx.fillRect(0, 0, 4, 14);
  }), 'lane caught in a deadlock');
}
