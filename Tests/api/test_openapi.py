"""The OpenAPI document validates as OpenAPI 3.1 and matches what the server really answers."""
import json
import os
import subprocess
import urllib.error
import urllib.request

import pytest
from openapi_spec_validator import validate

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="module")
def base():
    binary = os.environ.get("INTERLEAVE_BIN", os.path.join(ROOT, ".build", "debug", "interleave"))
    # --no-store: this contract check needs no disk, and must not touch the real home.
    process = subprocess.Popen([binary, "serve", "--port", "0", "--public-dir", os.path.join(ROOT, "Public"), "--no-store"],
                               stdout=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    yield line.strip().rsplit(" ", 1)[-1]
    process.terminate()
    assert process.wait(timeout=20) == 0


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as response:
        return json.loads(response.read())


def test_document_is_valid_openapi_3_1(base):
    document = get(base, "/api/openapi.json")
    validate(document)  # raises on any violation
    assert document["openapi"] == "3.1.0"


def test_every_experiment_and_status_is_documented(base):
    document = get(base, "/api/openapi.json")
    schemas = document["components"]["schemas"]
    ids = [e["id"] for e in get(base, "/api/experiments")]
    assert schemas["Experiment"]["properties"]["id"]["enum"] == ids
    assert set(schemas["Run"]["properties"]["status"]["enum"]) == {
        "queued", "running", "completed", "failed", "cancelled", "deadlocked", "timedOut", "interrupted"}


def test_problem_answers_have_the_documented_fields(base):
    request = urllib.request.Request(base + "/api/runs", data=b'{"experiment":"thread-pool","params":{"workers":0}}',
                                     headers={"Content-Type": "application/json"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 400
    assert error.value.headers["Content-Type"] == "application/problem+json"
    body = json.loads(error.value.read())
    required = get(base, "/api/openapi.json")["components"]["schemas"]["Problem"]["required"]
    assert all(key in body for key in required)
    assert body["detail"] == "workers must be between 1 and 64 (got 0)"
