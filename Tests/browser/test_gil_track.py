"""The GIL holder track and coroutine hand-offs (Public/js/tracks/gil.js) in a real browser, on
real runs of cpu-vs-io and coroutines from the test server."""
from selenium.webdriver.support.ui import WebDriverWait

from test_viewer import assert_console_clean, body, wait_all_drawn
from viewer_support import screenshot

ROWS = """
  const done = arguments[arguments.length - 1];
  (async () => {
    const { app, state } = await import('/js/app/context.js');
    const tl = app.timeline;
    const m = state.model;
    const rows = tl.rows.map((r) => r.type + (r.def ? ':' + r.def.label + ':' + (r.def.sublabel || '') : ''));
    const gils = [...(m.ext.gil?.gils.values() ?? [])].map((g) => ({
      name: g.name, holders: g.holds.map((h) => h.lane), requests: g.requests.length,
      overlaps: g.holds.some((h, i) => i > 0 && g.holds[i - 1].end != null && h.start < g.holds[i - 1].end),
    }));
    const waits = [...m.lanes.values()].flatMap((l) => l.tracks.flat().filter((s) => s.kind === 'gil-wait').map(() => l.name));
    done({ rows, gils, waits });
  })().catch((e) => done({ error: String(e && e.stack || e) }));
"""


def open_run(server, driver, experiment, params):
    run = server.post_json("/api/runs", {"experiment": experiment, "params": params})
    server.wait_finished(run["id"])
    driver.get(server.url(f"/?run={run['id']}"))
    WebDriverWait(driver, 30).until(lambda d: body(d, "runStatus") == "completed")
    wait_all_drawn(driver, server)
    return run


def test_the_gil_is_a_track_of_its_own_with_one_holder_at_a_time(server, driver):
    open_run(server, driver, "cpu-vs-io", {"tasks": 2, "taskMs": 40, "workers": 2})
    result = driver.execute_async_script(ROWS)
    assert "error" not in result, result.get("error")
    gil_rows = [r for r in result["rows"] if r.startswith("track:GIL:")]
    assert len(gil_rows) == 1, result["rows"]
    # the GIL row sits under the axis, above the process groups
    assert result["rows"].index(gil_rows[0]) < result["rows"].index("group")
    (gil,) = result["gils"]
    assert {"main", "thread-1", "thread-2"} <= set(gil["holders"])
    assert not gil["overlaps"]
    # a thread that had to wait for the GIL shows it as a wait span on its own lane
    assert set(result["waits"]) <= {"thread-1", "thread-2"}
    screenshot(driver, "gil-track")
    assert_console_clean(driver)


def test_processes_get_one_gil_row_each(server, driver):
    open_run(server, driver, "cpu-vs-io", {"backend": "processes", "tasks": 2, "taskMs": 20, "workers": 2})
    result = driver.execute_async_script(ROWS)
    assert "error" not in result, result.get("error")
    # the server's GIL (sequential phase) and one per child process
    assert len([r for r in result["rows"] if r.startswith("track:GIL:")]) == 3
    assert all(len(set(g["holders"])) == 1 for g in result["gils"] if "main" not in g["holders"])
    assert_console_clean(driver)


def test_greenlet_switches_are_drawn_as_arrows(server, driver):
    open_run(server, driver, "coroutines", {"style": "greenlet", "steps": 2, "stepMs": 5})
    flows = driver.execute_async_script("""
      const done = arguments[arguments.length - 1];
      import('/js/app/context.js').then(({ state }) => {
        const m = state.model;
        done(m.flows.map((f) => [m.events[f.a].type, m.events[f.b].type, m.events[f.a].lane, m.events[f.b].lane]));
      });
    """)
    switches = [f for f in flows if f[0] == "coro.switch"]
    assert switches and all(f[1] == "coro.resume" and f[2] != f[3] for f in switches)
    assert ["coro.switch", "coro.resume", "g1", "g2"] in switches
    screenshot(driver, "greenlet-flows")
    assert_console_clean(driver)
