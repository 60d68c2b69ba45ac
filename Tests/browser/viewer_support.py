"""Helpers for the viewer's browser tests: the server handle, Chromium, screenshots, console.

Kept out of conftest.py so test modules can import them by a name no other test folder uses.
"""
import json
import os
import signal
import time
import urllib.request


ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ARTIFACTS = os.path.join(ROOT, "artifacts")


class Server:
    def __init__(self, base):
        self.base = base

    def url(self, path=""):
        return self.base + path

    def get_json(self, path):
        with urllib.request.urlopen(self.base + path, timeout=30) as r:
            return json.loads(r.read())

    def post_json(self, path, body):
        req = urllib.request.Request(self.base + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def events(self, run_id):
        with urllib.request.urlopen(f"{self.base}/api/runs/{run_id}/events", timeout=120) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]

    def wait_finished(self, run_id, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            run = self.get_json(f"/api/runs/{run_id}")
            if run["status"] not in ("queued", "running"):
                return run
            time.sleep(0.2)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s")

    def experiments(self):
        return self.get_json("/api/experiments")


def _die_with_parent():
    """In the child: get SIGTERM if pytest itself dies (killed, timed out), so no server is left."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def make_driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,900",
                "--disable-dev-shm-usage"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # the export buttons download files: keep them inside the git-ignored artifacts folder
    opts.add_experimental_option("prefs", {
        "download.default_directory": os.path.join(ARTIFACTS, "downloads"),
        "download.prompt_for_download": False,
        "profile.default_content_setting_values.automatic_downloads": 1,  # NDJSON and PNG, one after the other
    })
    service = Service(os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=opts)


def console_errors(driver):
    """Console entries of level SEVERE since the last call (reading the log empties it)."""
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def screenshot(driver, name):
    """Save a full-page screenshot under artifacts/ (git-ignored) and return its path."""
    os.makedirs(ARTIFACTS, exist_ok=True)
    ignore = os.path.join(ARTIFACTS, ".gitignore")
    if not os.path.exists(ignore):
        with open(ignore, "w") as f:
            f.write("*\n")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, max(900, min(int(height) + 40, 4000)))
    path = os.path.join(ARTIFACTS, f"{name}.png")
    driver.save_screenshot(path)
    driver.set_window_size(1400, 900)
    return path
