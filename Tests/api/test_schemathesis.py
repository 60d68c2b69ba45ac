"""schemathesis against /api/openapi.json with every check: the server and its document agree.

Bounded: a fixed number of examples per operation, deterministic generation, runs that end
within 2 s (so an event stream it opens closes), and a hard timeout on the whole run.
"""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# DESIGN.md: DELETE on a live run cancels it (202) and the run stays readable, so its
# viewers see it end as `cancelled`; schemathesis's use_after_free check reads any 2xx
# DELETE as a deletion. That one check is left out, on purpose; every other check runs.
EXCLUDED_CHECKS = ["use_after_free"]


@pytest.fixture(scope="module")
def server():
    binary = os.environ.get("INTERLEAVE_BIN", os.path.join(ROOT, ".build", "debug", "interleave"))
    process = subprocess.Popen([binary, "serve", "--port", "0", "--public-dir", os.path.join(ROOT, "Public"),
                                "--run-deadline-ms", "2000", "--max-runs", "8", "--log-level", "warning",
                                "--exit-on-stdin-close"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    yield line.strip().rsplit(" ", 1)[-1]
    process.terminate()
    assert process.wait(timeout=20) == 0


def test_schemathesis_finds_no_mismatch(server):
    command = shutil.which("schemathesis") or shutil.which("st")
    if command is None:
        pytest.fail("schemathesis is not installed: run scripts/bootstrap --browser")
    arguments = [command, "run", f"{server}/api/openapi.json", "--checks", "all",
                 "--exclude-checks", ",".join(EXCLUDED_CHECKS),
                 "--max-examples", "15", "--generation-deterministic", "--workers", "2",
                 "--request-timeout", "10", "--no-color"]
    try:
        result = subprocess.run(arguments, capture_output=True, text=True, timeout=240, cwd="/tmp")
    except subprocess.TimeoutExpired as expired:
        pytest.fail(f"schemathesis ran past 240 s:\n{(expired.stdout or b'')[-4000:]}")
    if result.returncode != 0:
        sys.stdout.write(result.stdout[-20000:])
    assert result.returncode == 0, "schemathesis found mismatches (its report is above)"
