"""Recording traces for lessons, in a real browser: notes drawn and listed, present mode walking a
lesson with the arrow keys, and the offline hand-out opened from file:// with networking off."""
import os
import tempfile
import urllib.request

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from viewer_support import console_errors, screenshot


def record_race(server):
    run = server.post_json("/api/runs", {"experiment": "race-condition", "params": {"workers": 2}})
    events = server.events(run["id"])
    server.wait_finished(run["id"])
    return run["id"], events


def wait_rendered(driver, count):
    WebDriverWait(driver, 20).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-events-rendered") == str(count))


def test_present_mode_walks_a_lesson_with_the_arrow_keys(server, driver):
    run_id, events = record_race(server)
    server.post_json(f"/api/runs/{run_id}/notes", {"seq": 20, "text": "both read the same value"})
    lesson = server.post_json("/api/lessons", {"title": "Lost updates", "steps": [
        {"run": run_id, "note": "Two workers, one counter."},
        {"run": run_id, "seq": 20, "view": [0, events[-1]["ts"]], "note": "Here one update is lost."},
    ]})
    driver.get(server.url(f"/?lesson={lesson['id']}"))
    body = driver.find_element(By.TAG_NAME, "body")
    WebDriverWait(driver, 20).until(lambda d: body.get_attribute("data-present-shown") == "0")
    wait_rendered(driver, len(events))
    assert "Step 1 of 2" in driver.find_element(By.ID, "present-step").text
    WebDriverWait(driver, 20).until(lambda d: body.get_attribute("data-notes") == "1")
    assert "#20" in driver.find_element(By.ID, "notes-list").text
    driver.execute_script("document.body.focus()")
    driver.find_element(By.TAG_NAME, "body").send_keys("\ue014")  # →
    WebDriverWait(driver, 20).until(lambda d: body.get_attribute("data-present-shown") == "1")
    assert driver.find_element(By.ID, "present-note").text == "Here one update is lost."
    selected = driver.execute_script("const i = window.interleave.timeline.selected; return window.interleave.state.model.events[i].seq")
    assert selected == 20
    screenshot(driver, "lesson-present")
    driver.find_element(By.TAG_NAME, "body").send_keys("\ue012")  # ←
    WebDriverWait(driver, 20).until(lambda d: body.get_attribute("data-present-shown") == "0")
    assert not console_errors(driver)


def test_the_offline_handout_draws_the_run_from_file_with_networking_off(server, driver):
    run_id, events = record_race(server)
    server.post_json(f"/api/runs/{run_id}/notes", {"seq": 5, "text": "a note that travels with the file"})
    with urllib.request.urlopen(server.url(f"/api/runs/{run_id}/export.html"), timeout=30) as r:
        html = r.read()
    folder = tempfile.mkdtemp(prefix="interleave-handout-")
    path = os.path.join(folder, "handout.html")
    with open(path, "wb") as f:
        f.write(html)
    # No network at all: anything the page tried to fetch from a server would fail.
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
        "offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    try:
        driver.get("file://" + path)
        body = driver.find_element(By.TAG_NAME, "body")
        WebDriverWait(driver, 20).until(lambda d: body.get_attribute("data-offline") == "true")
        wait_rendered(driver, len(events))
        assert body.get_attribute("data-run-status") == "completed"
        WebDriverWait(driver, 20).until(lambda d: body.get_attribute("data-notes") == "1")
        assert "a note that travels with the file" in driver.find_element(By.ID, "notes-list").text
        lanes = driver.execute_script("return window.interleave.lanes().map((l) => l.name)")
        assert {"main", "worker-1", "worker-2"} <= set(lanes)
        screenshot(driver, "lesson-offline-handout")
        assert not console_errors(driver)
    finally:
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {
            "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
