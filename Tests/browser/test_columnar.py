"""A recorded run read by the ingest worker (Public/js/model/ingest-worker.js, RunModel.addColumns)
gives the same model as the same events parsed one by one (RunModel.addBatch): the same spans,
instants, flows, counters, deadlock reports and extension state, and m.events[i] is the same event.

The traces are fixed (every event type, odd lines, a generated run with a fixed seed), so the checks
are deterministic. The worker reads them from a Blob URL in batches of a few kilobytes, so lines
split across batches and chunk boundaries are covered too."""
import json
import os

from selenium.webdriver.support.ui import WebDriverWait

import trace_gen
from test_viewer import EVERY_TYPE, body, wait_all_drawn, wait_status
from viewer_support import ARTIFACTS, console_errors

COMPARE = """
const done = arguments[arguments.length - 1];
const [text, batchBytes] = arguments;
(async () => {
  await import('/js/ext/index.js');
  const { RunModel } = await import('/js/model.js');
  const { readColumns } = await import('/js/api.js');
  const { wantedFields } = await import('/js/model/registry.js');
  const { Timeline, TimeView } = await import('/js/timeline.js');
  // the reference: every line JSON-parsed, malformed ones skipped (as api.js streamEvents does)
  const a = new RunModel({ id: 'objects' });
  const parsed = [];
  for (const line of text.split('\\n')) { if (!line.trim()) continue; try { parsed.push(JSON.parse(line)); } catch {} }
  a.addBatch(parsed.map((e) => (e && typeof e === 'object' && !Array.isArray(e) ? { ...e } : e)));
  const b = new RunModel({ id: 'columns' });
  const fields = wantedFields();
  const url = URL.createObjectURL(new Blob([text]));
  let batches = 0;
  await readColumns(url, {}, { fields, batchBytes, onColumns: (batch) => { batches++; b.addColumns(batch, fields); } });
  const span = (s) => [s.kind, s.track, s.label, s.start, s.end, s.a, s.b, s.depth, s.i, s.lock ?? null, s.task ?? null,
    s.contended, s.contendedAt, s.timedOut, s.cutOff].map(String).join('|');
  const digest = (m) => {
    const out = {};
    out.count = m.count; out.length = m.events.length; out.maxTs = m.maxTs; out.lastSeq = m.lastSeq;
    out.types = [...m.types].sort();
    out.lanes = [...m.lanes.values()].map((l) => [l.name, l.pid, l.tid ?? null, l.kind, l.index, l.startTs, l.endTs, l.deadlocked,
      l.instants.join(), [...l.instantsByType].map(([t, x]) => t + ':' + x.join()).join(';'),
      l.tracks.map((tr) => tr.map(span).join('\\n')), [...l.openSpans].map(span).join('\\n'),
      JSON.stringify(l.vars ?? null)]);
    out.flows = m.flows.map((f) => f.a + '>' + f.b).join();
    out.counters = [...m.counters.values()].map((c) => JSON.stringify([c.name, c.points, c.min, c.max, c.expected ?? null, c.lane]));
    out.deadlocks = JSON.stringify(m.deadlocks); out.potentials = JSON.stringify(m.potentials);
    out.end = JSON.stringify(m.end);
    out.ext = JSON.stringify(m.ext, (k, v) => (v instanceof Map ? [...v] : v instanceof Set ? [...v] : v));
    out.ts = Array.from(m.tsCol.subarray(0, m.count)).join();
    out.lanesOf = Array.from({ length: m.count }, (_, i) => m.laneOf(i).name).join();
    out.typesOf = Array.from({ length: m.count }, (_, i) => m.typeOf(i)).join();
    return out;
  };
  const da = digest(a); const db = digest(b);
  const problems = [];
  for (const k of Object.keys(da)) if (JSON.stringify(da[k]) !== JSON.stringify(db[k])) problems.push(`${k} differs: ${JSON.stringify(da[k]).slice(0, 300)} vs ${JSON.stringify(db[k]).slice(0, 300)}`);
  // every event, made on demand, is the parsed one (with the model's ts)
  let events = 0;
  for (let i = 0; i < a.count; i++) {
    const x = JSON.stringify(a.events[i]); const y = JSON.stringify(b.events[i]);
    if (x !== y) { problems.push(`event ${i}: ${x} vs ${y}`); if (problems.length > 20) break; }
    events++;
  }
  if (b.events.findIndex((e) => e.seq === a.events[a.count - 1].seq) !== a.count - 1) problems.push('findIndex');
  if (b.events.map((e) => e.type).join() !== a.events.map((e) => e.type).join()) problems.push('map');
  // and it draws, at every zoom, without throwing
  const canvas = document.createElement('canvas');
  const wrap = document.createElement('div'); wrap.style.width = '900px'; wrap.appendChild(canvas); document.body.appendChild(wrap);
  const tl = new Timeline(canvas, new TimeView());
  tl.setModel(b); tl.view.fit(); tl.draw();
  for (let z = 0; z < 12; z++) { tl.view.zoomAt(tl.view.plotWidth * 0.5, 2.5); tl.draw(); for (let y = 30; y < 300; y += 9) tl.hit(450, y); }
  done({ problems, batches, events, rendered: tl.metrics.renderedEvents });
})().catch((e) => done({ problems: [String(e && e.stack || e)] }));
"""


def ndjson(events):
    return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)


def compare(driver, server, text, batch_bytes):
    driver.get(server.url("/"))
    WebDriverWait(driver, 20).until(lambda d: body(d, "catalog") is not None)
    result = driver.execute_async_script(COMPARE, text, batch_bytes)
    assert not result["problems"], "\n".join(result["problems"])
    assert console_errors(driver) == []
    return result


def test_every_event_type_gives_the_same_model_through_the_worker(server, driver):
    lines = []
    for i, ev in enumerate(EVERY_TYPE):
        e = {"seq": i, "ts": i * 10, "pid": 1, "tid": 1}
        e.update(ev)
        lines.append(json.dumps(e, separators=(",", ":")))
    # odd but legal lines, and ones that are not events at all
    lines[3] = lines[3].replace(":", " : ").replace(",", " ,\t")       # spaces between tokens
    lines.insert(5, "")                                                  # a heartbeat
    lines.insert(6, "not json at all")                                   # malformed: skipped
    lines.insert(7, "[1, 2]")                                            # not an object: skipped
    lines.append(json.dumps({"seq": 900, "ts": 1e3, "type": "log", "lane": "t\u00e9 \"1\"\\n", "message": "caf\u00e9 \u2603"}))
    lines.append(json.dumps({"seq": 901, "ts": 2.5e3, "type": "counter", "lane": 7, "name": "n", "value": -1.25e-3}))
    lines.append(json.dumps({"seq": 902, "ts": 3000, "type": "lock.acquire", "lane": "t1", "lock": None, "flow": "f\\1"}))
    lines.append(json.dumps({"seq": 903, "ts": 3001, "type": "queue.put", "lane": "t1", "item": {"k": [1, "}"]}, "flow": "f\\1"}))
    lines.append(json.dumps({"seq": 903, "ts": 3002, "type": "log", "lane": "t1"}))  # duplicate seq: skipped
    lines.append(json.dumps({"seq": 904, "ts": 12345678901234567, "type": "x.start", "lane": "t1"}))
    lines.append(json.dumps({"seq": 905, "ts": 2, "type": "x.end", "lane": "t1", "task": True}))  # ts goes back: clamped
    text = "\n".join(lines)  # the last line has no newline
    for batch_bytes in (64, 1 << 20):
        compare(driver, server, text, batch_bytes)


def test_a_generated_run_gives_the_same_model_through_the_worker(server, driver):
    events = trace_gen.big(20_000, threads=5, seed=11) + trace_gen.deadlock(3, "naive")[2:]
    for i, e in enumerate(events):
        e["seq"] = i
    result = compare(driver, server, ndjson(events), 40_000)
    assert result["batches"] > 1
    assert result["events"] == result["rendered"] == len(events)


def test_a_finished_run_opens_through_the_worker(server, driver):
    run = server.post_json("/api/runs", {"experiment": "race-condition", "params": {}})
    run = server.wait_finished(run["id"])
    driver.get(server.url(f"/?run={run['id']}"))
    wait_status(driver, ["completed", "failed"])
    wait_all_drawn(driver, server)
    got = driver.execute_script("""
        const m = window.interleave.state.model;
        return { store: !!m.store, n: m.events.length, events: Array.from({ length: m.events.length }, (_, i) => m.events[i]) };""")
    events = server.events(run["id"])
    assert got["store"], "a finished run is read by the ingest worker"
    assert got["n"] == len(events) == run["eventCount"]
    # the same events, but for ts, which the model keeps non-decreasing
    strip = lambda e: {k: v for k, v in e.items() if k != "ts"}  # noqa: E731
    assert [strip(e) for e in got["events"]] == [strip(e) for e in events]
    # the NDJSON export is the run's lines as the server sent them
    ndjson = os.path.join(ARTIFACTS, "downloads", f"interleave-{run['id']}.ndjson")
    if os.path.exists(ndjson):
        os.remove(ndjson)
    driver.execute_script("document.getElementById('export-ndjson').click()")
    WebDriverWait(driver, 20).until(lambda d: os.path.exists(ndjson) and os.path.getsize(ndjson) > 0)
    with open(ndjson) as f:
        assert [json.loads(line) for line in f if line.strip()] == events
    assert console_errors(driver) == []
