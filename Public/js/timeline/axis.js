// The time axis: the shared visible window (TimeView), time formatting, the grid and the axis
// strip at the top of every timeline.

import { GUTTER, AXIS_H } from './layout.js';

export function formatTime(us) {
  const a = Math.abs(us);
  if (a >= 1e6) return `${(us / 1e6).toFixed(a >= 1e7 ? 1 : 2)} s`;
  if (a >= 1e3) return `${(us / 1e3).toFixed(a >= 1e5 ? 0 : a >= 1e4 ? 1 : 2)} ms`;
  return `${Math.round(us)} µs`;
}

/** A tick label with as many decimals as the tick step needs (no two ticks read the same). */
export function formatTick(us, step) {
  const a = Math.max(Math.abs(us), step);
  const unit = a >= 1e6 ? [1e6, 's'] : a >= 1e3 ? [1e3, 'ms'] : [1, 'µs'];
  const digits = Math.max(0, Math.min(6, -Math.floor(Math.log10(step / unit[0]) + 1e-9)));
  const v = us / unit[0];
  return `${(Math.abs(v) < 1e-12 ? 0 : v).toFixed(digits)} ${unit[1]}`;
}

export function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  const m = raw / p;
  return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/** The visible time window, shared by every timeline drawn on the same axis. */
export class TimeView {
  constructor() {
    this.t0 = 0;          // µs at the left edge of the plot
    this.scale = 0.1;     // px per µs
    this.follow = true;   // keep the newest events in view while a run is live
    this.timelines = new Set();
    this.listeners = new Set();
    this.plotWidth = 800;
  }
  extent() {
    let max = 0;
    for (const tl of this.timelines) if (tl.model) max = Math.max(max, tl.model.duration());
    return Math.max(max, 1000);
  }
  /** Scale and left edge that show the whole run with room at both ends (labels, the last events). */
  fitted() {
    const span = this.extent();
    const padPx = Math.min(70, this.plotWidth * 0.07); // the DEADLOCK label, a fan-out, run.end stay inside
    const scale = Math.max(1e-9, (this.plotWidth - 2 * padPx) / span);
    return { scale, t0: -padPx / scale };
  }
  fit() {
    const { scale, t0 } = this.fitted();
    this.scale = scale;
    this.t0 = t0;
    this.changed();
  }
  zoomAt(px, factor) {
    const t = this.t0 + px / this.scale;
    const minScale = this.plotWidth / (this.extent() * 8);
    this.scale = Math.min(200, Math.max(minScale, this.scale * factor));
    this.t0 = t - px / this.scale;
    this.changed();
  }
  panBy(dx) {
    this.t0 -= dx / this.scale;
    this.changed();
  }
  setFollow(on) {
    this.follow = on;
    if (on) this.fit(); else this.changed();
  }
  changed() {
    for (const tl of this.timelines) tl.invalidate();
    for (const fn of this.listeners) fn(this);
  }
}

/** Timeline methods: the grid behind the rows and the axis strip above them. */
export class AxisLayer {
  drawGrid(ctx, t0, t1, scale, h) {
    const step = niceStep(100 / scale);
    ctx.fillStyle = '#eef0f3';
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      ctx.fillRect(Math.round(GUTTER + (t - t0) * scale), AXIS_H, 1, h - AXIS_H);
    }
  }

  drawAxis(ctx, t0, t1, scale, w) {
    ctx.fillStyle = '#16202c';
    ctx.fillRect(0, 0, w, AXIS_H);
    ctx.fillStyle = '#fff';
    ctx.font = '11px system-ui, sans-serif';
    ctx.textBaseline = 'middle';
    ctx.fillText(this.limit == null ? 'time since run start' : `replay ${formatTime(this.limit)}`, 8, AXIS_H / 2);
    const step = niceStep(100 / scale);
    ctx.save();
    ctx.beginPath(); ctx.rect(GUTTER, 0, w - GUTTER, AXIS_H); ctx.clip();
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      const x = Math.round(GUTTER + (t - t0) * scale);
      ctx.fillRect(x, AXIS_H - 6, 1, 6);
      ctx.fillText(formatTick(t, step), x + 3, AXIS_H / 2 - 1);
    }
    ctx.restore();
  }
}
