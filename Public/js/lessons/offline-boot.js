// The boot of an offline hand-out (GET /api/runs/{id}/export.html, /api/lessons/{id}/export.html).
// A classic script, inlined by the server with the viewer's modules and the traces beside it: it
// answers the viewer's /api/ requests from the inlined data (read-only), turns each module into a
// blob: URL with its imports pointing at the others' (a file:// page cannot load modules from
// disk), and starts the viewer on the run or lesson the hand-out is about. No network, no server.
(() => {
  const read = (id) => JSON.parse(document.getElementById(id).textContent);
  const data = read('interleave-offline-data');
  const sources = read('interleave-offline-modules');
  window.interleaveOffline = data;

  const json = (value) => new Response(JSON.stringify(value), { status: 200, headers: { 'Content-Type': 'application/json' } });
  const problem = (status, detail) => new Response(JSON.stringify({
    type: '/problems/offline', title: 'Offline hand-out', status, detail,
  }), { status, headers: { 'Content-Type': 'application/problem+json' } });
  const runOf = (id) => data.runs.find((r) => r.id === id);

  window.fetch = async (input, init = {}) => {
    const url = new URL(typeof input === 'string' ? input : input.url, 'http://offline.invalid/');
    const method = (init.method || (typeof input === 'object' && input.method) || 'GET').toUpperCase();
    const path = decodeURIComponent(url.pathname);
    if (method !== 'GET' && method !== 'HEAD') {
      return problem(405, 'this is an offline hand-out: it shows its runs but cannot start or change any');
    }
    let m;
    if (path === '/api/health') return json({ status: 'ok', offline: true, version: data.version, runsActive: 0 });
    if (path === '/api/experiments') return json(data.experiments);
    if (path === '/api/runs') return json(data.runs);
    if (path === '/api/lessons') return json(data.lessons);
    if ((m = path.match(/^\/api\/lessons\/([^/]+)$/))) {
      const lesson = data.lessons.find((l) => l.id === m[1]);
      return lesson ? json(lesson) : problem(404, `no lesson "${m[1]}" in this hand-out`);
    }
    if ((m = path.match(/^\/api\/runs\/([^/]+)$/))) {
      const run = runOf(m[1]);
      return run ? json(run) : problem(404, `no run "${m[1]}" in this hand-out`);
    }
    if ((m = path.match(/^\/api\/runs\/([^/]+)\/notes$/))) return json(data.notes[m[1]] || []);
    if ((m = path.match(/^\/api\/runs\/([^/]+)\/(events|trace)$/))) {
      const text = data.traces[m[1]];
      if (text == null) return problem(404, `no run "${m[1]}" in this hand-out`);
      const from = Math.max(0, Number(url.searchParams.get('from')) || 0);
      const body = from ? text.split('\n').slice(from).join('\n') : text;
      return new Response(body, { status: 200, headers: { 'Content-Type': 'application/x-ndjson' } });
    }
    return problem(404, `an offline hand-out has no ${path}`);
  };

  // Static imports only (`import … from './x.js'`, `export … from`, `import './x.js'`), at the
  // start of a line, so a comment that shows an import is left alone.
  const IMPORT = /^(\s*(?:import|export)\b[^'";]*?\bfrom\s*|\s*import\s*)(['"])(\.{1,2}\/[^'"]+)\2/gm;
  const resolve = (from, spec) => {
    const parts = from.split('/');
    parts.pop();
    for (const seg of spec.split('/')) {
      if (seg === '..') parts.pop();
      else if (seg !== '.') parts.push(seg);
    }
    return parts.join('/');
  };
  const urls = {};
  const build = (path, stack) => {
    if (urls[path]) return urls[path];
    if (stack.includes(path)) throw new Error(`import cycle: ${[...stack, path].join(' → ')}`);
    const code = sources[path].replace(IMPORT, (whole, head, quote, spec) => {
      const target = resolve(path, spec);
      return target in sources ? `${head}${quote}${build(target, [...stack, path])}${quote}` : whole;
    });
    urls[path] = URL.createObjectURL(new Blob([code], { type: 'text/javascript' }));
    return urls[path];
  };

  // Open what the hand-out is about, as a link to the live viewer would.
  try { history.replaceState(null, '', `${location.pathname}${data.search}`); } catch { /* kept as is */ }
  document.body.dataset.offline = 'true';
  import(build(data.entry, [])).catch((error) => {
    document.getElementById('app-message').textContent = `The hand-out could not start: ${error.message}`;
  });
})();
