"""A tiny stand-in for the Interleave HTTP API, for developing and benchmarking the viewer.

It serves Public/ and a subset of the API (DESIGN.md) backed by trace_gen's synthetic
traces.  The browser tests do NOT use it: they run against the real server.

    python3 Tests/browser/stub_api.py --port 8765 [--big 100000]
"""
import argparse
import datetime
import json
import os
import sys
import threading
import time
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trace_gen  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PUBLIC = os.path.join(ROOT, "Public")

CATALOG = [
    {"id": "thread-pool", "title": "Thread pool", "category": "Threads",
     "summary": "W worker threads run T tasks.", "lesson": "A pool reuses threads; submit returns futures.",
     "parameters": [
         {"name": "workers", "type": "integer", "default": 3, "minimum": 1, "maximum": 16,
          "description": "worker threads"},
         {"name": "tasks", "type": "integer", "default": 8, "minimum": 1, "maximum": 200,
          "description": "tasks to submit"},
         {"name": "mode", "type": "string", "default": "submit", "enum": ["submit", "map", "wait-each"],
          "description": "how tasks are handed out"}]},
    {"id": "deadlock", "title": "Deadlock", "category": "Locks",
     "summary": "Dining philosophers.", "lesson": "Take locks in one global order.",
     "parameters": [
         {"name": "workers", "type": "integer", "default": 2, "minimum": 2, "maximum": 8,
          "description": "philosophers"},
         {"name": "strategy", "type": "string", "default": "naive",
          "enum": ["naive", "ordered", "try-lock", "timeout"], "description": "how forks are taken"},
         {"name": "verbose", "type": "boolean", "default": False, "description": "log every step"}]},
    {"id": "producer-consumer", "title": "Producer / consumer", "category": "Processes",
     "summary": "A queue between processes.", "lesson": "Queues pickle items across processes.",
     "parameters": [
         {"name": "children", "type": "integer", "default": 3, "minimum": 1, "maximum": 8,
          "description": "child processes"},
         {"name": "items", "type": "integer", "default": 6, "minimum": 1, "maximum": 100,
          "description": "items per child"},
         {"name": "jitter", "type": "number", "default": 0.5, "minimum": 0, "maximum": 1,
          "description": "random delay factor"}]},
    {"id": "race-condition", "title": "Race condition", "category": "Locks",
     "summary": "Lost updates.", "lesson": "Read-modify-write needs a lock.",
     "parameters": [
         {"name": "threads", "type": "integer", "default": 4, "minimum": 1, "maximum": 16,
          "description": "threads"},
         {"name": "events", "type": "integer", "default": 20000, "minimum": 100, "maximum": 200000,
          "description": "approximate number of events"}]},
]

RUNS = {}
ORDER = []
LOCK = threading.Lock()


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def make_run(experiment, params, events, live):
    rid = uuid.uuid4().hex[:12]
    run = {"id": rid, "experiment": experiment, "params": params,
           "status": "running" if live else events[-1]["status"],
           "createdAt": now_iso(), "startedAt": now_iso(), "endedAt": None if live else now_iso(),
           "summary": None if live else events[-1]["summary"], "eventCount": 0 if live else len(events),
           "links": {"self": f"/api/runs/{rid}", "events": f"/api/runs/{rid}/events",
                     "trace": f"/api/runs/{rid}/trace?format=chrome"}}
    lines = [(json.dumps(e, separators=(",", ":")) + "\n").encode() for e in events]
    state = {"run": run, "events": events, "lines": lines, "published": 0 if live else len(events),
             "cond": threading.Condition()}
    with LOCK:
        RUNS[rid] = state
        ORDER.insert(0, rid)
    if live:
        threading.Thread(target=publish, args=(state,), daemon=True).start()
    return state


def publish(state, slowdown=1.0):
    """Release events at (roughly) their timestamps, like a live run."""
    t0 = time.monotonic()
    for i, ev in enumerate(state["events"]):
        due = t0 + ev["ts"] / 1e6 * slowdown
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        with state["cond"]:
            state["published"] = i + 1
            state["run"]["eventCount"] = i + 1
            if ev["type"] == "run.end":
                state["run"]["status"] = ev["status"]
                state["run"]["summary"] = ev["summary"]
                state["run"]["endedAt"] = now_iso()
            state["cond"].notify_all()


class Handler(SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=PUBLIC, **kw)

    def log_message(self, *a):
        pass

    def send_json(self, code, obj, ctype="application/json", headers=None):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def problem(self, code, title, detail):
        self.send_json(code, {"type": "about:blank", "title": title, "status": code, "detail": detail},
                       "application/problem+json")

    def do_GET(self):
        path, _, query = self.path.partition("?")
        parts = [p for p in path.split("/") if p]
        if parts[:1] != ["api"]:
            return super().do_GET()
        if parts == ["api", "health"]:
            return self.send_json(200, {"status": "ok", "version": "stub", "uptimeSeconds": 1, "runsActive": 0})
        if parts == ["api", "experiments"]:
            return self.send_json(200, CATALOG)
        if parts == ["api", "runs"]:
            with LOCK:
                return self.send_json(200, [RUNS[r]["run"] for r in ORDER])
        if len(parts) >= 3 and parts[1] == "runs":
            state = RUNS.get(parts[2])
            if not state:
                return self.problem(404, "Unknown run", f"no run {parts[2]}")
            if len(parts) == 3:
                return self.send_json(200, state["run"])
            if parts[3] == "events":
                start = 0
                for kv in query.split("&"):
                    if kv.startswith("from="):
                        start = int(kv[5:])
                return self.stream(state, start)
        return self.problem(404, "Not found", path)

    def stream(self, state, start):
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        i = start
        events = state["events"]
        while True:
            with state["cond"]:
                while state["published"] <= i:
                    if not state["cond"].wait(timeout=1.0):
                        break
                n = state["published"]
            if n > i:
                for k in range(i, n, 2000):
                    self.wfile.write(b"".join(state["lines"][k:min(n, k + 2000)]))
                self.wfile.flush()
                i = n
            else:
                self.wfile.write(b"\n")  # heartbeat
                self.wfile.flush()
            if i >= len(events):
                break
        self.close_connection = True

    def do_POST(self):
        if self.path != "/api/runs":
            return self.problem(404, "Not found", self.path)
        length = int(self.headers.get("Content-Length", "0"))
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.problem(400, "Bad JSON", "the body is not JSON")
        exp = body.get("experiment")
        gen = trace_gen.GENERATORS.get(exp)
        if not gen:
            return self.problem(404, "Unknown experiment", f"no experiment {exp!r}")
        params = body.get("params") or {}
        state = make_run(exp, params, gen(params), live=True)
        self.send_json(201, state["run"], headers={"Location": state["run"]["links"]["self"]})

    def do_DELETE(self):
        parts = [p for p in self.path.split("/") if p]
        state = RUNS.get(parts[2]) if len(parts) == 3 else None
        if not state:
            return self.problem(404, "Unknown run", self.path)
        with LOCK:
            ORDER.remove(parts[2])
            del RUNS[parts[2]]
        self.send_response(204)
        self.end_headers()


def record_big(n):
    """Pre-record a finished run of n events under the id bench-<n>; return the id."""
    st = make_run("race-condition", {}, trace_gen.big(n), live=False)
    rid = f"bench-{n}"
    with LOCK:
        ORDER.remove(st["run"]["id"])
        del RUNS[st["run"]["id"]]
        st["run"]["id"] = rid
        RUNS[rid] = st
        ORDER.insert(0, rid)
    return rid


def make_server(port=0):
    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--big", type=int, default=0, help="pre-record a run with this many events (id bench-<N>)")
    args = ap.parse_args()
    if args.big:
        record_big(args.big)
    for name, gen in (("thread-pool", trace_gen.thread_pool), ("deadlock", trace_gen.deadlock),
                      ("producer-consumer", trace_gen.processes), ("race-condition", trace_gen.race_lost)):
        make_run(name, {}, gen(), live=False)
    srv = make_server(args.port)
    print(f"Interleave listening on http://127.0.0.1:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
