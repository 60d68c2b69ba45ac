"""The viewer in a real browser (headless Chromium via Selenium) against a real Interleave server.

Every test waits on the page's automation hooks — <body data-run-status data-events-rendered
data-replay> — never on fixed sleeps, saves a screenshot under artifacts/, and checks that the
browser console stayed free of errors.
"""
import json
import os
from urllib.parse import urlencode

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from viewer_support import ARTIFACTS, console_errors, screenshot

FINISHED = {"completed", "failed", "cancelled", "deadlocked", "timedOut", "interrupted"}



def pool_params(exp, workers, tasks, task_ms):
    """thread-pool parameters for a test, each only if the catalog's schema has it."""
    names = {p["name"] for p in exp["parameters"]}
    params = {"workers": workers}
    if "tasks" in names:
        params["tasks"] = tasks
    if "taskMs" in names:
        params["taskMs"] = task_ms
    return params

def body(driver, attr):
    return driver.execute_script(f"return document.body.dataset.{attr}")


def wait_status(driver, statuses, timeout=90):
    statuses = {statuses} if isinstance(statuses, str) else set(statuses)
    WebDriverWait(driver, timeout).until(lambda d: body(d, "runStatus") in FINISHED)
    status = body(driver, "runStatus")
    assert status in statuses, f"run ended {status!r}, expected one of {sorted(statuses)}"
    return status


def wait_all_drawn(driver, server, timeout=30):
    """Wait until every event of the run on screen is drawn; return the run record."""
    run_id = driver.execute_script("return new URLSearchParams(location.search).get('run')")
    assert run_id, "the URL should name the run on screen"
    run = server.wait_finished(run_id)
    WebDriverWait(driver, timeout).until(
        lambda d: body(d, "eventsRendered") == str(run["eventCount"]),
        message=f"expected {run['eventCount']} events drawn")
    return run


def assert_console_clean(driver):
    errors = console_errors(driver)
    assert not errors, f"browser console errors: {errors}"


def catalog_entry(server, experiment_id):
    return next((e for e in server.experiments() if e["id"] == experiment_id), None)


def test_catalog_lists_every_experiment(server, driver):
    expected = server.experiments()
    driver.get(server.url("/"))
    WebDriverWait(driver, 20).until(lambda d: body(d, "catalog") is not None)
    shown = [el.get_attribute("data-experiment") for el in driver.find_elements(By.CSS_SELECTOR, "[data-experiment]")]
    assert sorted(shown) == sorted(e["id"] for e in expected)
    # grouped by category, each entry showing its title, summary and lesson
    headings = [h.text.strip().lower() for h in driver.find_elements(By.CSS_SELECTOR, "#catalog h3")]
    assert sorted(headings) == sorted({e["category"].lower() for e in expected})
    for exp in expected:
        el = driver.find_element(By.CSS_SELECTOR, f'[data-experiment="{exp["id"]}"]')
        assert el.find_element(By.CSS_SELECTOR, ".exp-title").text == exp["title"]
        assert el.find_element(By.CSS_SELECTOR, ".exp-summary").get_attribute("textContent") == exp["summary"]
        assert el.find_element(By.CSS_SELECTOR, ".exp-lesson").get_attribute("textContent") == exp["lesson"]

    # choosing one builds its form with the defaults filled, and the curl command
    exp = expected[0]
    driver.find_element(By.CSS_SELECTOR, f'[data-experiment="{exp["id"]}"]').click()
    WebDriverWait(driver, 20).until(lambda d: f"experiment={exp['id']}" in d.current_url)
    for p in exp["parameters"]:
        field = driver.find_element(By.CSS_SELECTOR, f'[data-param="{p["name"]}"]')
        if p["type"] == "boolean" and not p.get("enum"):
            assert field.is_selected() == bool(p["default"])
        elif p.get("enum"):
            assert field.tag_name == "select"
            assert field.get_attribute("value") == str(p["default"])
        else:
            if p["type"] in ("integer", "number"):
                assert float(field.get_attribute("value")) == float(p["default"])
            elif p["type"] == "array":
                assert field.get_attribute("value") == ",".join(p["default"])
            else:
                assert field.get_attribute("value") == str(p["default"])
            if p.get("minimum") is not None:
                assert float(field.get_attribute("min")) == float(p["minimum"])
            if p.get("maximum") is not None:
                assert float(field.get_attribute("max")) == float(p["maximum"])
    curl = driver.find_element(By.ID, "curl-command").get_attribute("value")
    assert f'"experiment":"{exp["id"]}"' in curl and "/api/runs" in curl
    screenshot(driver, "catalog")
    assert_console_clean(driver)


def test_deep_linked_thread_pool_draws_one_lane_per_worker(server, driver):
    exp = catalog_entry(server, "thread-pool")
    assert exp, "thread-pool must be in the catalog"
    params = pool_params(exp, workers=3, tasks=9, task_ms=40)
    driver.get(server.url("/?" + urlencode({"experiment": "thread-pool", **params, "autorun": 1})))
    wait_status(driver, "completed")
    run = wait_all_drawn(driver, server)
    assert run["experiment"] == "thread-pool" and run["params"]["workers"] == 3

    # one lane per worker: the lanes drawn that are threads, against the trace itself
    events = server.events(run["id"])
    trace_threads = {e["lane"] for e in events if e["type"] == "lane.start" and e.get("kind") == "thread"}
    drawn = driver.execute_script(
        "return [...document.querySelectorAll('#lane-list [data-lane]')].map(li => [li.dataset.lane, li.dataset.kind])")
    drawn_threads = {name for name, kind in drawn if kind == "thread"}
    assert drawn_threads == trace_threads
    assert len(drawn_threads) == 3
    assert {name for name, _ in drawn} == {e["lane"] for e in events}
    # the verdict is on screen, and the URL now names the run (shareable, no autorun)
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "verdict"))
    assert driver.find_element(By.ID, "verdict").text == run["summary"]["verdict"]
    assert "autorun" not in driver.current_url and f"run={run['id']}" in driver.current_url
    screenshot(driver, "thread-pool")
    assert_console_clean(driver)


def test_deep_linked_naive_deadlock_shows_the_cycle(server, driver):
    exp = catalog_entry(server, "deadlock")
    if exp is None:
        pytest.skip("the `deadlock` experiment is not in GET /api/experiments yet (being written in parallel)")
    params = {}
    for p in exp["parameters"]:
        if "naive" in (p.get("enum") or []):
            params[p["name"]] = "naive"
    assert params, "the deadlock experiment should offer a 'naive' strategy"
    driver.get(server.url("/?" + urlencode({"experiment": "deadlock", **params, "autorun": 1})))
    wait_status(driver, "deadlocked", timeout=120)
    run = wait_all_drawn(driver, server)
    events = server.events(run["id"])
    detected = [e for e in events if e["type"] == "deadlock.detected"]
    assert detected, "a deadlocked run's trace should carry deadlock.detected"
    cycle = detected[0]["cycle"]

    panel = driver.find_element(By.ID, "deadlock")
    assert panel.is_displayed()
    text = panel.text
    for edge in cycle:
        assert f"{edge['lane']} waits for {edge['waitsFor']}, which is held by {edge['heldBy']}" in text
    nodes = driver.execute_script(
        "return [...document.querySelectorAll('#deadlock .cycle-node')].map(n => n.dataset.name)")
    assert {e["lane"] for e in cycle} <= set(nodes) and {e["waitsFor"] for e in cycle} <= set(nodes)
    assert len(driver.find_elements(By.CSS_SELECTOR, "#deadlock .cycle-edge")) == 2 * len(cycle)
    flagged = set(driver.execute_script(
        "return [...document.querySelectorAll('#lane-list [data-deadlocked]')].map(li => li.dataset.lane)"))
    assert {e["lane"] for e in cycle} <= flagged
    screenshot(driver, "deadlock")
    assert_console_clean(driver)


def test_replay_of_a_finished_run_reaches_its_end(server, driver):
    exp = catalog_entry(server, "thread-pool")
    params = pool_params(exp, workers=2, tasks=6, task_ms=20)
    run = server.post_json("/api/runs", {"experiment": "thread-pool", "params": params})
    run = server.wait_finished(run["id"])
    assert run["status"] == "completed"

    driver.get(server.url(f"/?run={run['id']}"))
    wait_status(driver, "completed")
    wait_all_drawn(driver, server)
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "replay").is_displayed())

    # scrub to the start: almost nothing is drawn
    driver.execute_script("""
        const s = document.getElementById('replay-scrubber');
        s.value = '0'; s.dispatchEvent(new Event('input', {bubbles: true}));""")
    WebDriverWait(driver, 20).until(lambda d: int(body(d, "eventsRendered")) < run["eventCount"])
    assert body(driver, "replay") == "paused"

    # play at 8x to the end, with the keyboard-usable controls
    speed = driver.find_element(By.ID, "replay-speed")
    driver.execute_script("arguments[0].value = '8'; arguments[0].dispatchEvent(new Event('change'))", speed)
    driver.find_element(By.ID, "replay-play").click()
    WebDriverWait(driver, 20).until(lambda d: body(d, "replay") in ("playing", "ended"))
    WebDriverWait(driver, 60).until(lambda d: body(d, "replay") == "ended")
    WebDriverWait(driver, 20).until(lambda d: body(d, "eventsRendered") == str(run["eventCount"]))
    assert body(driver, "runStatus") == "completed"
    screenshot(driver, "replay-end")
    assert_console_clean(driver)


def test_browser_console_has_no_errors(server, driver):
    """Walk the whole UI: every experiment's form, a run, the log filter, compare, exports."""
    driver.get(server.url("/"))
    WebDriverWait(driver, 20).until(lambda d: body(d, "catalog") is not None)
    for el in driver.find_elements(By.CSS_SELECTOR, "[data-experiment]"):
        el.click()
        WebDriverWait(driver, 20).until(
            lambda d: f"experiment={el.get_attribute('data-experiment')}" in d.current_url)
    driver.get(server.url("/?experiment=thread-pool&workers=2&tasks=4&taskMs=10&autorun=1"))
    wait_status(driver, "completed")
    wait_all_drawn(driver, server)
    # filter the log by type, then click a row: the timeline selects the same event
    driver.execute_script("""
        const s = document.getElementById('log-type');
        s.value = 'task.start'; s.dispatchEvent(new Event('change'));""")
    # the table re-renders on the next frame: wait until every visible row is a task.start
    shown_types = "return [...document.querySelectorAll('.log-row:not([hidden])')].map(r => r.children[3].textContent)"
    WebDriverWait(driver, 20).until(
        lambda d: (lambda types: types and all(t == "task.start" for t in types))(d.execute_script(shown_types)))
    rows = driver.find_elements(By.CSS_SELECTOR, ".log-row:not([hidden])")
    assert len(rows) == 4  # four tasks
    rows[0].click()
    index = int(rows[0].get_attribute("data-index"))
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return window.interleave.timeline.selected") == index)
    # wheel zoom, keyboard pan and the exports must not throw
    driver.execute_script("""
        const c = document.getElementById('timeline');
        const r = c.getBoundingClientRect();
        c.dispatchEvent(new WheelEvent('wheel', {deltaY: -300, clientX: r.left + 500, clientY: r.top + 60, bubbles: true, cancelable: true}));
        c.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowLeft', bubbles: true}));
        document.getElementById('export-png').click();
        document.getElementById('export-ndjson').click();""")
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return window.interleave.view.follow") is False)
    # keyboard only: focus the timeline, step through events with N / P
    driver.execute_script("""
        const s = document.getElementById('log-type');
        s.value = ''; s.dispatchEvent(new Event('change'));""")
    canvas = driver.find_element(By.ID, "timeline")
    driver.execute_script("arguments[0].focus()", canvas)
    canvas.send_keys("0")
    driver.execute_script("window.interleave.timeline.select(-1)")
    canvas.send_keys("nnnp")
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return window.interleave.timeline.selected") == 1)
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, '.log-row.selected[data-index="1"]'))
    assert "seq: 1" in driver.find_element(By.ID, "tooltip").text
    # the exports landed: the NDJSON is the whole trace, the PNG is a PNG
    run_id = driver.execute_script("return window.interleave.state.run.id")
    run = server.get_json(f"/api/runs/{run_id}")
    ndjson = os.path.join(ARTIFACTS, "downloads", f"interleave-{run_id}.ndjson")
    png = os.path.join(ARTIFACTS, "downloads", f"interleave-{run_id}.png")
    WebDriverWait(driver, 20).until(lambda d: os.path.exists(ndjson) and os.path.exists(png))
    with open(ndjson) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    assert [e["seq"] for e in lines] == list(range(run["eventCount"]))
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    screenshot(driver, "console-walk")
    assert_console_clean(driver)


def test_two_runs_side_by_side_on_one_time_axis(server, driver):
    """threads: 1 worker vs 4 workers, compared on a shared time axis, from a shareable URL."""
    exp = catalog_entry(server, "thread-pool")
    runs = []
    for workers in (1, 4):
        params = pool_params(exp, workers=workers, tasks=4, task_ms=30)
        runs.append(server.wait_finished(server.post_json("/api/runs", {"experiment": "thread-pool", "params": params})["id"]))
    a, b = runs
    driver.get(server.url(f"/?run={a['id']}&compare={b['id']}"))
    wait_status(driver, "completed")
    wait_all_drawn(driver, server)
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "compare-wrap").is_displayed())
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "return window.interleave.state.compare && window.interleave.state.compare.model.events.length") == b["eventCount"])
    assert driver.execute_script("return window.interleave.view.timelines.size") == 2
    assert f"compare={b['id']}" in driver.current_url and f"run={a['id']}" in driver.current_url
    assert driver.find_element(By.ID, "compare-select").get_attribute("value") == b["id"]
    # the shared axis spans the longer of the two runs
    extent = driver.execute_script("return window.interleave.view.extent()")
    longest = max(driver.execute_script("return window.interleave.state.model.duration()"),
                  driver.execute_script("return window.interleave.state.compare.model.duration()"))
    assert extent == longest
    screenshot(driver, "compare")
    assert_console_clean(driver)


# Every event type in DESIGN.md, plus unknown and malformed ones: the model must pair spans,
# keep flows, counters and deadlock reports, and render anything else as a generic instant.
EVERY_TYPE = [
    {"type": "run.start", "lane": "main", "experiment": "x", "params": {}},
    {"type": "lane.start", "lane": "main", "kind": "main"},
    {"type": "lane.start", "lane": "t1", "kind": "thread"},
    {"type": "lane.start", "lane": "w (pid 9)", "kind": "process", "pid": 9},
    {"type": "task.submit", "lane": "main", "task": 1, "flow": 1},
    {"type": "task.start", "lane": "t1", "task": 1, "flow": 1},
    {"type": "lock.wait", "lane": "t1", "lock": "L"},
    {"type": "lock.acquire", "lane": "t1", "lock": "L", "depth": 1},
    {"type": "lock.acquire", "lane": "t1", "lock": "L", "depth": 2},
    {"type": "lock.release", "lane": "t1", "lock": "L", "depth": 2},
    {"type": "lock.release", "lane": "t1", "lock": "L", "depth": 1},
    {"type": "lock.wait", "lane": "main", "lock": "M"},
    {"type": "lock.timeout", "lane": "main", "lock": "M"},
    {"type": "event.wait", "lane": "main", "event": "E"},
    {"type": "event.set", "lane": "t1", "event": "E", "flow": 2},
    {"type": "event.clear", "lane": "t1", "event": "E"},
    {"type": "event.wake", "lane": "main", "event": "E", "timedOut": False, "flow": 2},
    {"type": "event.wake", "lane": "w (pid 9)", "pid": 9, "event": "E", "timedOut": False, "flow": 2},
    {"type": "sem.wait", "lane": "t1", "sem": "S"},
    {"type": "sem.acquire", "lane": "t1", "sem": "S", "available": 0},
    {"type": "sem.release", "lane": "t1", "sem": "S", "available": 1},
    {"type": "cond.wait", "lane": "t1"}, {"type": "cond.notify", "lane": "main"}, {"type": "cond.wake", "lane": "t1"},
    {"type": "barrier.wait", "lane": "t1"}, {"type": "barrier.pass", "lane": "t1"},
    {"type": "queue.full", "lane": "main", "queue": "q", "waiting": True},
    {"type": "queue.put", "lane": "main", "queue": "q", "item": 1, "size": 1, "flow": 3},
    {"type": "queue.get", "lane": "w (pid 9)", "pid": 9, "queue": "q", "item": 1, "size": 0, "flow": 3},
    {"type": "queue.full", "lane": "main", "queue": "q"}, {"type": "queue.empty", "lane": "main", "queue": "q"},
    {"type": "pipe.send", "lane": "w (pid 9)", "pid": 9, "pipe": "p", "item": 1, "flow": 4},
    {"type": "pipe.recv", "lane": "main", "pipe": "p", "item": 1, "flow": 4},
    {"type": "pipe.eof", "lane": "main", "pipe": "p"},
    {"type": "process.spawn", "lane": "main", "child": 9},
    {"type": "process.kill", "lane": "main", "child": 9, "signal": "SIGTERM"},
    {"type": "process.exit", "lane": "main", "child": 9, "signal": "SIGTERM"},
    {"type": "io.begin", "lane": "t1", "op": "sleep"}, {"type": "io.end", "lane": "t1", "op": "sleep"},
    {"type": "counter", "lane": "main", "name": "depth", "value": 3},
    {"type": "log", "lane": "main", "message": "hello"},
    {"type": "deadlock.potential", "lane": "main", "order": ["A", "B"]},
    {"type": "deadlock.detected", "lane": "main", "cycle": [{"lane": "t1", "waitsFor": "A", "heldBy": "main"},
                                                          {"lane": "main", "waitsFor": "B", "heldBy": "t1"}]},
    {"type": "task.end", "lane": "t1", "task": 1, "result": 1},
    {"type": "task.callback", "lane": "main", "task": 1},
    {"type": "gc.sweep.start", "lane": "t1"}, {"type": "gc.sweep.end", "lane": "t1"},
    {"type": "totally.unknown", "lane": "t1", "weird": {"nested": [1, 2]}},
    {"type": "deadlock.detected", "lane": "main", "cycle": "not a list"},
    {"lane": "main"}, {"type": 42, "ts": "soon"},
    {"type": "lane.end", "lane": "t1"},
    {"type": "run.end", "lane": "main", "status": "completed",
     "summary": {"durationMs": 1, "verdict": "ok", "tracer": {"events": 1, "dropped": 0, "nsPerEvent": 1}}},
]


def test_every_event_type_renders_and_unknown_ones_do_not_throw(server, driver):
    events = []
    for i, ev in enumerate(EVERY_TYPE):
        e = {"seq": i, "ts": i * 10, "pid": 1, "tid": 1}
        e.update(ev)
        events.append(e)
    driver.get(server.url("/"))
    WebDriverWait(driver, 20).until(lambda d: body(d, "catalog") is not None)
    result = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const { RunModel } = await import('/js/model.js');
          const { Timeline, TimeView } = await import('/js/timeline.js');
          const m = new RunModel({ id: 'synthetic' });
          m.addBatch(arguments[0]);
          const canvas = document.createElement('canvas');
          const wrap = document.createElement('div');
          wrap.style.width = '900px';
          wrap.appendChild(canvas);
          document.body.appendChild(wrap);
          const tl = new Timeline(canvas, new TimeView());
          tl.setModel(m);
          tl.view.fit();
          tl.draw();
          for (let x = 200; x < 900; x += 7) for (let y = 30; y < 400; y += 5) tl.hit(x, y);
          const spans = {};
          for (const lane of m.lanes.values()) for (const track of lane.tracks) for (const s of track) {
            spans[s.kind] = (spans[s.kind] || 0) + (s.end == null ? 0 : 1);
          }
          done({ spans, flows: m.flows.length, flowPairs: m.flows.map(f => [m.events[f.a].type, m.events[f.b].type]), counters: [...m.counters.keys()], deadlocks: m.deadlocks.length,
                 potentials: m.potentials.length, rendered: tl.metrics.renderedEvents, events: m.events.length,
                 groups: m.groups.size, deadlocked: [...m.lanes.values()].filter(l => l.deadlocked).map(l => l.name).sort() });
        })().catch(e => done({ error: String(e && e.stack || e) }));
    """, events)
    assert "error" not in result, result.get("error")
    assert result["events"] == result["rendered"] == len(events)
    spans = result["spans"]
    for kind in ("task", "lock-wait", "lock-hold", "io", "event-wait", "sem-wait", "cond-wait", "barrier-wait",
                 "queue-wait", "generic"):
        assert spans.get(kind, 0) >= 1, f"no closed {kind} span in {spans}"
    assert spans["lock-hold"] == 2  # recursive acquire: depth 1 and depth 2
    assert spans["lock-wait"] == 2  # one acquired, one timed out
    assert result["flows"] == 5
    # one set woke two waiters: both arrows start at the set
    assert sorted(result["flowPairs"]) == sorted([["task.submit", "task.start"], ["event.set", "event.wake"],
                                                  ["event.set", "event.wake"], ["queue.put", "queue.get"],
                                                  ["pipe.send", "pipe.recv"]])
    assert result["counters"] == ["depth"]
    assert result["deadlocks"] == 2 and result["potentials"] == 1
    assert result["groups"] == 2  # pid 1 and the worker process pid 9
    assert result["deadlocked"] == ["main", "t1"]
    assert_console_clean(driver)


def test_live_run_is_followed_until_the_user_pans_and_timeline_click_finds_the_log_row(server, driver):
    exp = catalog_entry(server, "thread-pool")
    params = pool_params(exp, workers=2, tasks=6, task_ms=800)
    driver.get(server.url("/?" + urlencode({"experiment": "thread-pool", **params, "autorun": 1})))
    WebDriverWait(driver, 30).until(lambda d: body(d, "runStatus") == "running" and int(body(d, "eventsRendered")) > 0)
    first = int(body(driver, "eventsRendered"))
    extent0 = driver.execute_script("return window.interleave.view.extent()")
    # while live and untouched, the view follows: more events drawn, a wider window
    WebDriverWait(driver, 30).until(lambda d: body(d, "runStatus") != "running"
                                    or int(body(d, "eventsRendered")) > first)
    panned = False
    if body(driver, "runStatus") == "running":
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return window.interleave.view.extent()") > extent0
            or body(d, "runStatus") != "running")
        assert driver.execute_script("return window.interleave.view.follow") is True
        # the user pans away: following stops, and stays stopped while events keep coming
        driver.execute_script("""
            const c = document.getElementById('timeline');
            c.dispatchEvent(new KeyboardEvent('keydown', {key: 'ArrowLeft', bubbles: true}));""")
        assert driver.execute_script("return window.interleave.view.follow") is False
        pressed = driver.find_element(By.ID, "follow-toggle").get_attribute("aria-pressed")
        assert pressed == "false"
        panned = True
    wait_status(driver, "completed")
    wait_all_drawn(driver, server)
    if panned:
        assert driver.execute_script("return window.interleave.view.follow") is False
    driver.find_element(By.ID, "zoom-fit").click()

    # clicking an event on the canvas selects its row in the log
    index = driver.execute_script("""
        const m = window.interleave.state.model;
        return m.events.findIndex(e => e.type === 'task.submit');""")
    assert index >= 0
    canvas = driver.find_element(By.ID, "timeline")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    # Where the event is once a frame has passed without the timeline moving it (the page
    # may still redraw or lay out after the run ends); then click there.
    pos = driver.execute_async_script("""
        const [i, done] = arguments;
        const read = () => JSON.stringify(window.interleave.timeline.positionOf(i));
        let last = read();
        const tick = () => requestAnimationFrame(() => {
            const now = read();
            if (now === last) done(JSON.parse(now)); else { last = now; tick(); }
        });
        tick();""", index)
    from selenium.webdriver.common.action_chains import ActionChains
    size = canvas.size
    ActionChains(driver).move_to_element_with_offset(
        canvas, int(pos["x"] - size["width"] / 2), int(pos["y"] - size["height"] / 2)).click().perform()
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return window.interleave.timeline.selected") >= 0)
    selected = driver.execute_script("return window.interleave.timeline.selected")
    ev = driver.execute_script("return window.interleave.state.model.events[arguments[0]]", selected)
    WebDriverWait(driver, 20).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'.log-row.selected[data-index="{selected}"]'))
    row = driver.find_element(By.CSS_SELECTOR, ".log-row.selected")
    assert row.find_elements(By.TAG_NAME, "span")[3].text == ev["type"]
    assert row.is_displayed()
    # the pointer is still over the event: its fields are in the tooltip
    tip = driver.find_element(By.ID, "tooltip")
    assert tip.is_displayed() and f"seq: {ev['seq']}" in tip.text and f"type: {ev['type']}" in tip.text
    screenshot(driver, "live-then-click")
    assert_console_clean(driver)


def test_cancel_button_stops_a_live_run(server, driver):
    exp = catalog_entry(server, "thread-pool")
    params = pool_params(exp, workers=1, tasks=5, task_ms=3000)
    driver.get(server.url("/?" + urlencode({"experiment": "thread-pool", **params, "autorun": 1})))
    WebDriverWait(driver, 30).until(lambda d: body(d, "runStatus") == "running")
    button = driver.find_element(By.ID, "run-cancel")
    WebDriverWait(driver, 20).until(lambda d: button.is_displayed())
    button.click()
    wait_status(driver, "cancelled", timeout=60)
    run = wait_all_drawn(driver, server)
    assert run["status"] == "cancelled"
    assert not driver.find_element(By.ID, "run-cancel").is_displayed()
    assert_console_clean(driver)


def test_a_shared_link_restores_the_time_window_and_the_selected_event(server, driver):
    run = server.post_json("/api/runs", {"experiment": "thread-pool", "params": {"workers": 2}})
    run = server.wait_finished(run["id"])
    events = server.events(run["id"])
    target = events[len(events) // 2]
    t0, t1 = max(0, target["ts"] - 5000), target["ts"] + 5000
    driver.get(server.url(f"/?run={run['id']}&view={t0},{t1}&event={target['seq']}"))
    wait_status(driver, run["status"])
    wait_all_drawn(driver, server)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return window.interleave.timeline.selected") >= 0)
    view = driver.execute_script(
        "const v = window.interleave.view; return [v.follow, v.t0, v.t0 + v.plotWidth / v.scale]")
    assert view[0] is False
    assert abs(view[1] - t0) < 1 and abs(view[2] - t1) < 1
    selected = driver.execute_script("return window.interleave.state.model.events[window.interleave.timeline.selected].seq")
    assert selected == target["seq"]
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".log-row.selected"))
    # and the page's own URL says the same, ready to be shared again
    WebDriverWait(driver, 20).until(lambda d: f"view={t0}%2C{t1}" in d.current_url or f"view={t0},{t1}" in d.current_url)
    assert f"event={target['seq']}" in driver.current_url
    screenshot(driver, "shared-view")
    assert_console_clean(driver)


def test_extension_registries_add_handlers_rows_and_overlays(server, driver):
    """The extension API other areas build on: a handler for a new type, a track with a row per
    lane and one at the top, an overlay; the timeline lays them out and draws them."""
    driver.get(server.url("/"))
    WebDriverWait(driver, 20).until(lambda d: body(d, "catalog") is not None)
    result = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const { RunModel } = await import('/js/model.js');
          const { on } = await import('/js/model/registry.js');
          const { registerTrack, unregisterTrack } = await import('/js/tracks/index.js');
          const { Timeline, TimeView } = await import('/js/timeline.js');
          on('test.hold', (m, ev, index, lane) => {
            const s = (m.ext.test ??= { holds: [] });
            s.holds.push(index);
            m.defaultHandling(ev, index, lane);
          });
          const drawn = { top: 0, lane: 0, overlay: 0 };
          registerTrack({ id: 'test-top', placement: 'top',
            rows: (m) => (m.ext.test ? [{ label: 'holder', height: 20, draw: () => { drawn.top++; },
              hit: () => ({ text: 'the holder row' }) }] : []) });
          registerTrack({ id: 'test-lane', placement: 'lane',
            laneRows: (m, lane) => [{ label: 'state', height: 8, draw: (ctx, f, mm, row) => { if (row.lane === lane) drawn.lane++; } }] });
          registerTrack({ id: 'test-overlay', overlay: (ctx, f) => { if (typeof f.X(0) === 'number') drawn.overlay++; } });
          const m = new RunModel({ id: 'ext' });
          m.addBatch([
            { seq: 0, ts: 0, type: 'lane.start', lane: 'a', pid: 1 },
            { seq: 1, ts: 5, type: 'test.hold', lane: 'a', pid: 1 },
            { seq: 2, ts: 9, type: 'lane.start', lane: 'b', pid: 1 },
          ]);
          const canvas = document.createElement('canvas');
          const wrap = document.createElement('div');
          wrap.style.width = '900px';
          wrap.appendChild(canvas);
          document.body.appendChild(wrap);
          const tl = new Timeline(canvas, new TimeView());
          tl.setModel(m);
          tl.view.fit();
          tl.draw();
          const rows = tl.rows.map((r) => r.type + (r.def ? ':' + r.def.label : ''));
          const top = tl.rows.find((r) => r.def && r.def.label === 'holder');
          const hit = tl.hit(400, top.y + 5);
          for (const id of ['test-top', 'test-lane', 'test-overlay']) unregisterTrack(id);
          done({ rows, drawn, holds: m.ext.test.holds, instants: m.lanes.get('a').instants.length, hit });
        })().catch(e => done({ error: String(e && e.stack || e) }));
    """)
    assert "error" not in result, result.get("error")
    assert result["rows"] == ["track:holder", "group", "lane", "track:state", "lane", "track:state"]
    assert result["drawn"] == {"top": 1, "lane": 2, "overlay": 1}
    assert result["holds"] == [1] and result["instants"] == 1  # the handler ran, and asked for the default
    assert result["hit"] == {"text": "the holder row"}
    assert_console_clean(driver)
