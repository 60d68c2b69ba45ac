"""Step mode in the browser: the learner picks who goes next and forces the lost update."""
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from viewer_support import screenshot


def _pick(driver, lane):
    """Clicks the button of `lane` once it may go (the panel redraws after every step)."""
    # The panel is redrawn on every event, so find and click the button in one go.
    selector = f'#step-panel [data-step-lane="{lane}"]'
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return !!document.querySelector(arguments[0])", selector))
    before = driver.execute_script("return document.body.dataset.eventsRendered")
    driver.execute_script("document.querySelector(arguments[0]).click()", selector)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.body.dataset.eventsRendered") != before)


def test_stepping_both_reads_before_either_write_loses_an_update(server, driver):
    run = server.post_json("/api/runs", {"experiment": "race-condition",
                                         "params": {"workers": 2, "increments": 1, "schedule": "step"}})
    driver.get(server.url(f"/?run={run['id']}"))
    WebDriverWait(driver, 20).until(lambda d: "read the counter before either writes" in d.execute_script(
        "return document.querySelector('#step-panel .step-goal')?.textContent || ''"))
    for lane in ["worker-1", "worker-2", "worker-1", "worker-2", "worker-1"]:
        _pick(driver, lane)
    screenshot(driver, "step-race")
    _pick(driver, "worker-2")
    # The rest (joins, the end) by the default policy.
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "const b = [...document.querySelectorAll('#step-panel button')].find((b) => b.textContent.includes('Let it run'));"
        " if (b) b.click(); return !!b;"))
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-run-status") == "completed")
    summary = server.get_json(f"/api/runs/{run['id']}")["summary"]
    assert summary["lost"] == 1
    assert summary["schedule"][:6] == ["worker-1", "worker-2", "worker-1", "worker-2", "worker-1", "worker-2"]
