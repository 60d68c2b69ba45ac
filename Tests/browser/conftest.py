"""Fixtures for the viewer's browser tests: a REAL Interleave server and headless Chromium.

The server binary comes from $INTERLEAVE_BIN (default .build/debug/interleave); it is started as
`interleave serve --host 127.0.0.1 --port 0 --public-dir Public` and its first stdout line,
`Interleave listening on http://127.0.0.1:PORT`, gives the address. It is killed at teardown.
"""
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

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


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("INTERLEAVE_BIN", os.path.join(ROOT, ".build", "debug", "interleave"))
    if not os.path.isabs(binary):
        binary = os.path.join(ROOT, binary)
    if not os.path.exists(binary):
        pytest.fail(f"the Interleave server binary is missing: {binary} (build it, or set INTERLEAVE_BIN)")
    proc = subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--port", "0", "--public-dir", os.path.join(ROOT, "Public")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_die_with_parent)
    first = {}

    def read_first():
        first["line"] = proc.stdout.readline()

    t = threading.Thread(target=read_first, daemon=True)
    t.start()
    t.join(60)
    line = first.get("line", "")
    m = re.search(r"Interleave listening on (http://[\d.]+:\d+)", line or "")
    if not m:
        proc.kill()
        err = proc.stderr.read() if proc.poll() is not None else ""
        pytest.fail(f"server did not announce its address; first line {line!r}; stderr {err[-2000:]!r}")
    # keep draining stdout/stderr so the server never blocks on a full pipe
    for stream in (proc.stdout, proc.stderr):
        threading.Thread(target=lambda s=stream: [None for _ in s], daemon=True).start()
    srv = Server(m.group(1))
    deadline = time.time() + 30
    while True:
        try:
            srv.get_json("/api/health")
            break
        except (urllib.error.URLError, ConnectionError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    yield srv
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


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


@pytest.fixture
def driver():
    d = make_driver()
    d.set_script_timeout(60)
    yield d
    d.quit()


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
