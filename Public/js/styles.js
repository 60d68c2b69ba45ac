// How each kind of thing looks on the timeline. Every colour is paired with a pattern or a
// shape, so the picture still reads without colour vision; the legend is built from this table.

const patternCache = new WeakMap();

function makePattern(ctx, draw) {
  const c = document.createElement('canvas');
  c.width = 8; c.height = 8;
  draw(c.getContext('2d'));
  return ctx.createPattern(c, 'repeat');
}

// Span styles added by modules: kind -> style, or (ctx, helpers) -> style when it needs a pattern.
const extraSpanStyles = new Map();
let stylesVersion = 0;

/**
 * Give a span kind its look: {fill, solid?, alt?, text?, label?} (label: shown in the legend), or
 * a function (ctx, {hatch, dots, dashes, ticks}) returning one, for patterned fills. A span whose
 * kind has no style is drawn like a generic X.start/X.end span.
 */
export function registerSpanStyle(kind, style) {
  extraSpanStyles.set(kind, style);
  stylesVersion++;
}

/** Fill styles for span kinds. Patterns are per-context, so cache them per context. */
export function spanStyles(ctx) {
  let s = patternCache.get(ctx);
  if (s && s.__version === stylesVersion) return s;
  const hatch = (bg, fg) => makePattern(ctx, (p) => {
    p.fillStyle = bg; p.fillRect(0, 0, 8, 8);
    p.strokeStyle = fg; p.lineWidth = 2;
    p.beginPath(); p.moveTo(-2, 10); p.lineTo(10, -2); p.moveTo(-2, 2); p.lineTo(2, -2); p.moveTo(6, 10); p.lineTo(10, 6); p.stroke();
  });
  const dots = (bg, fg) => makePattern(ctx, (p) => {
    p.fillStyle = bg; p.fillRect(0, 0, 8, 8);
    p.fillStyle = fg; p.fillRect(1, 1, 2, 2); p.fillRect(5, 5, 2, 2);
  });
  const dashes = (bg, fg) => makePattern(ctx, (p) => {
    p.fillStyle = bg; p.fillRect(0, 0, 8, 8);
    p.fillStyle = fg; p.fillRect(0, 3, 5, 2);
  });
  const ticks = (bg, fg) => makePattern(ctx, (p) => {
    p.fillStyle = bg; p.fillRect(0, 0, 8, 8);
    p.fillStyle = fg; p.fillRect(0, 0, 8, 2); p.fillRect(3, 2, 2, 6);
  });
  s = {
    'task': { fill: '#4f7fd9', alt: '#6f98e6', text: '#fff', label: 'task (running)' },
    'generic': { fill: '#8b76c9', alt: '#9d8ad4', text: '#fff', label: 'span (X.start → X.end)' },
    'io': { fill: dashes('#b9c1cc', '#7d8896'), solid: '#9aa4b1', text: '#1d232b', label: 'blocked: IO / sleep' },
    'sem-wait': { fill: dots('#f4c27a', '#a86200'), solid: '#e3a552', text: '#3a2200', label: 'blocked: semaphore / event / condition / barrier / full or empty queue' },
    'event-wait': { fill: dots('#f4c27a', '#a86200'), solid: '#e3a552', text: '#3a2200' },
    'cond-wait': { fill: dots('#f4c27a', '#a86200'), solid: '#e3a552', text: '#3a2200' },
    'barrier-wait': { fill: dots('#f4c27a', '#a86200'), solid: '#e3a552', text: '#3a2200' },
    'queue-wait': { fill: dots('#f4c27a', '#a86200'), solid: '#e3a552', text: '#3a2200' },
    'lock-wait': { fill: hatch('#e23b3b', '#8f0f0f'), solid: '#cf2a2a', text: '#fff', label: 'lock WAIT (contention)' },
    'lock-hold': { fill: '#3a9b4f', text: '#fff', label: 'lock held, nobody waiting' },
    'lock-hold-contended': { fill: ticks('#e8c53a', '#a8860f'), solid: '#e8c53a', text: '#3a2e00', label: 'lock held while others wait' },
  };
  for (const [kind, style] of extraSpanStyles) {
    s[kind] = typeof style === 'function' ? style(ctx, { hatch, dots, dashes, ticks }) : style;
  }
  Object.defineProperty(s, '__version', { value: stylesVersion });
  patternCache.set(ctx, s);
  return s;
}

// Instants: a shape and a colour per family of event types.
export const INSTANT_FAMILIES = [
  { match: /^(queue\.put|pipe\.send|event\.set|cond\.notify|task\.submit|sem\.release|lock\.release)$/, shape: 'up', color: '#2459c4', label: 'hand-off out: put / send / set / notify / submit' },
  { match: /^(queue\.get|pipe\.recv|event\.wake|cond\.wake|task\.callback|sem\.acquire|barrier\.pass|task\.end)$/, shape: 'down', color: '#0f8a80', label: 'hand-off in: get / recv / wake / callback' },
  { match: /^process\.spawn$/, shape: 'plus', color: '#1f7a3d', label: 'process spawn' },
  { match: /^process\.exit$/, shape: 'square', color: '#333', label: 'process exit' },
  { match: /^process\.kill$/, shape: 'cross', color: '#c0262d', label: 'kill' },
  { match: /^(queue\.full|queue\.empty|pipe\.eof|lock\.timeout|event\.clear)$/, shape: 'diamond', color: '#c77700', label: 'full / empty / EOF / timeout' },
  { match: /^deadlock\./, shape: 'bigdiamond', color: '#c0262d', label: 'deadlock report' },
  { match: /^run\./, shape: 'flag', color: '#16202c', label: 'run start / end' },
  { match: /^log$/, shape: 'tick', color: '#7a8594', label: 'log line' },
];
const GENERIC = { shape: 'dot', color: '#7a8594', label: 'other event' };
const familyCache = new Map();

/**
 * Give event types an instant marker: {match: RegExp, shape, color, label}. Shapes: up, down,
 * square, diamond, bigdiamond, plus, cross, flag, tick, dot. Registered families are tried
 * before the built-in ones, and appear in the legend.
 */
export function registerInstantFamily(fam) {
  INSTANT_FAMILIES.unshift(fam);
  familyCache.clear();
}

export function instantFamily(type) {
  let f = familyCache.get(type);
  if (!f) {
    f = INSTANT_FAMILIES.find((fam) => fam.match.test(type)) || GENERIC;
    familyCache.set(type, f);
  }
  return f;
}
export const GENERIC_INSTANT = GENERIC;

const STROKED = new Set(['plus', 'cross', 'tick']);

/** Add one shape to the current path (no begin/fill), so many shapes can be filled at once. */
export function addShape(ctx, shape, x, y, r) {
  switch (shape) {
    case 'up': ctx.moveTo(x, y - r); ctx.lineTo(x + r, y + r); ctx.lineTo(x - r, y + r); ctx.closePath(); break;
    case 'down': ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y - r); ctx.lineTo(x, y + r); ctx.closePath(); break;
    case 'square': ctx.rect(x - r + 1, y - r + 1, 2 * r - 2, 2 * r - 2); break;
    case 'diamond': ctx.moveTo(x, y - r); ctx.lineTo(x + r, y); ctx.lineTo(x, y + r); ctx.lineTo(x - r, y); ctx.closePath(); break;
    case 'bigdiamond': { const R = r + 2; ctx.moveTo(x, y - R); ctx.lineTo(x + R, y); ctx.lineTo(x, y + R); ctx.lineTo(x - R, y); ctx.closePath(); break; }
    case 'plus': ctx.moveTo(x - r, y); ctx.lineTo(x + r, y); ctx.moveTo(x, y - r); ctx.lineTo(x, y + r); break;
    case 'cross': ctx.moveTo(x - r, y - r); ctx.lineTo(x + r, y + r); ctx.moveTo(x + r, y - r); ctx.lineTo(x - r, y + r); break;
    case 'flag': ctx.moveTo(x, y + r); ctx.lineTo(x, y - r); ctx.lineTo(x + r + 2, y - r / 2); ctx.lineTo(x, y); ctx.closePath(); break;
    case 'tick': ctx.moveTo(x, y - r); ctx.lineTo(x, y + r); break;
    default: ctx.moveTo(x + r - 1, y); ctx.arc(x, y, r - 1, 0, Math.PI * 2); break;
  }
}

/** Paint the current path the way the shape wants (stroke or fill). */
export function paintShapes(ctx, shape) {
  if (STROKED.has(shape)) { ctx.lineWidth = shape === 'tick' ? 1.5 : 2.5; ctx.stroke(); } else ctx.fill();
  if (shape === 'flag') { ctx.lineWidth = 1.5; ctx.stroke(); }
}

export function drawShape(ctx, shape, x, y, r) {
  ctx.beginPath();
  addShape(ctx, shape, x, y, r);
  paintShapes(ctx, shape);
}
