"""Fixtures for the viewer's browser tests: a REAL Interleave server and headless Chromium.

The server binary comes from $INTERLEAVE_BIN (default .build/debug/interleave); it is started as
`interleave serve --host 127.0.0.1 --port 0 --public-dir Public` and its first stdout line,
`Interleave listening on http://127.0.0.1:PORT`, gives the address. It is killed at teardown.
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error

import pytest

from viewer_support import ROOT, Server, _die_with_parent, make_driver


@pytest.fixture(scope="session")
def server():
    binary = os.environ.get("INTERLEAVE_BIN", os.path.join(ROOT, ".build", "debug", "interleave"))
    if not os.path.isabs(binary):
        binary = os.path.join(ROOT, binary)
    if not os.path.exists(binary):
        pytest.fail(f"the Interleave server binary is missing: {binary} (build it, or set INTERLEAVE_BIN)")
    # Its own store in a fresh directory: tests never touch the real home or share state.
    data_dir = tempfile.mkdtemp(prefix="interleave-browser-")
    proc = subprocess.Popen(
        [binary, "serve", "--host", "127.0.0.1", "--port", "0", "--public-dir", os.path.join(ROOT, "Public"),
         "--data-dir", data_dir],
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
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def driver():
    d = make_driver()
    d.set_script_timeout(60)
    yield d
    d.quit()
