#!/usr/bin/env python3
"""Soak: minutes of mixed load on one server, then its threads, fds and RSS compared with
where they started.

    python3 bench/soak.py                  # 10 minutes (scripts/bench)
    python3 bench/soak.py --minutes 1      # a quick look

Load, all on loopback, bounded by --minutes and stopping by itself: clients that start short
runs and read their whole event stream; clients that start runs and cancel them mid-stream
(DELETE) or drop the stream half-way; hostile clients (conflicting Content-Length, CL with
Transfer-Encoding, a raw NUL in the path, bad JSON, a body over the limit, a form post, a
trickle of header bytes, idle connections); and readers of /api/health, /metrics and the
viewer's files. After the load, the server gets a few seconds to settle (runs end, idle
connections time out) and the figures are read from /proc: flat means threads and fds back
to the baseline and RSS within 64 MiB of it.
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
JSON_HEADERS = {"Content-Type": "application/json"}
RUNS = [("thread-pool", {"workers": 2, "tasks": 8, "taskMs": 5}), ("race-condition", {}), ("threads", {}),
        ("deadlock", {}), ("semaphore", {}), ("queues", {}), ("processes", {}), ("pipe", {}),
        ("shared-memory", {}), ("process-pool", {})]


class Server:
    def __init__(self, binary, directory):
        self.log = open(os.path.join(directory, "server.log"), "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--port", "0", "--public-dir", os.path.join(ROOT, "Public"), "--max-runs", "6",
             "--data-dir", os.path.join(directory, "data"), "--header-timeout-ms", "2000", "--exit-on-stdin-close"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.process.stdout.readline()
        if "listening" not in line:
            raise SystemExit(f"server did not start: {line!r}")
        self.base = line.strip().rsplit(" ", 1)[-1]
        self.port = int(self.base.rsplit(":", 1)[-1])

    def facts(self):
        pid = self.process.pid
        threads = len(os.listdir(f"/proc/{pid}/task"))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/statm") as f:
            rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        children = sum(1 for entry in os.listdir("/proc") if entry.isdigit() and parent_of(entry) == pid)
        return {"threads": threads, "fds": fds, "rssMiB": round(rss / 2**20, 1), "children": children}


def parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def call(server, method, path, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.base + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def raw(server, payload, read=True, timeout=5):
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as s:
        s.sendall(payload)
        if read:
            try:
                return s.recv(4096)
            except OSError:
                return b""
    return b""


class Tally:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.server_errors = 0

    def add(self, name, status=None):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
            if status is not None and status >= 500 and status != 503:
                self.server_errors += 1


def runner(server, stop, tally, rng):
    """Start a short run and read its whole stream."""
    while not stop.is_set():
        experiment, params = rng.choice(RUNS)
        status, body = call(server, "POST", "/api/runs", {"experiment": experiment, "params": params}, JSON_HEADERS)
        tally.add("run", status)
        if status != 201:
            time.sleep(0.2)
            continue
        run_id = json.loads(body)["id"]
        status, _ = call(server, "GET", f"/api/runs/{run_id}/events", timeout=120)
        tally.add("stream", status)


def canceller(server, stop, tally, rng):
    """Start a long run, read a little of its stream, then cancel it or just hang up."""
    while not stop.is_set():
        status, body = call(server, "POST", "/api/runs",
                            {"experiment": "thread-pool", "params": {"workers": 2, "tasks": 4, "taskMs": 2000}}, JSON_HEADERS)
        tally.add("long-run", status)
        if status != 201:
            time.sleep(0.2)
            continue
        run_id = json.loads(body)["id"]
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
            s.sendall(f"GET /api/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            s.recv(2048)
            time.sleep(rng.uniform(0.05, 0.5))
            if rng.random() < 0.5:
                status, _ = call(server, "DELETE", f"/api/runs/{run_id}")
                tally.add("cancel", status)
            else:
                tally.add("hang-up")
        # dropped without reading to the end either way


def hostile(server, stop, tally, rng):
    attacks = [
        b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
        b"Content-Length: 40\r\n\r\n{\"a\":GET /api/health HTTP/1.1\r\n\r\n",
        b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET /index.html\x00.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"exper\":",
        b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 99999999\r\n"
        b"Expect: 100-continue\r\n\r\n",
        b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 21\r\n\r\nexperiment=deadlock&x",
        b"POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\nxx",
        b"GET /../../etc/passwd HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET /api/health HTTP/1.1\r\nHost: attacker.example\r\n\r\n",
    ]
    while not stop.is_set():
        kind = rng.random()
        try:
            if kind < 0.7:
                raw(server, rng.choice(attacks))
                tally.add("attack")
            elif kind < 0.85:
                # A trickle: header bytes, one at a time, until the server hangs up (bounded).
                with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
                    s.sendall(b"GET /api/health HTTP/1.1\r\nX-Slow: ")
                    for _ in range(60):
                        if stop.is_set():
                            break
                        time.sleep(0.1)
                        s.sendall(b"a")
                tally.add("trickle")
            else:
                # Idle connections, dropped later.
                idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(20)]
                time.sleep(rng.uniform(0.5, 3))
                for s in idle:
                    s.close()
                tally.add("idle-20")
        except OSError:
            tally.add("attack-refused-or-reset")


def reader(server, stop, tally, rng):
    paths = ["/api/health", "/metrics", "/index.html", "/js/api.js", "/api/experiments", "/api/runs", "/nope"]
    while not stop.is_set():
        status, _ = call(server, "GET", rng.choice(paths))
        tally.add("read", status)
        time.sleep(0.01)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.environ.get("INTERLEAVE_BIN", os.path.join(ROOT, ".build", "release", "interleave")))
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="interleave-soak-") as directory:
        server = Server(args.binary, directory)
        try:
            # Warm up: one of each run, so lazily created threads and caches exist at the baseline.
            for experiment, params in RUNS:
                status, body = call(server, "POST", "/api/runs", {"experiment": experiment, "params": params}, JSON_HEADERS)
                if status == 201:
                    call(server, "GET", f"/api/runs/{json.loads(body)['id']}/events", timeout=120)
            time.sleep(3)
            baseline = server.facts()
            print(f"baseline: {baseline}")
            stop, tally = threading.Event(), Tally()
            workers = [(runner, 3), (canceller, 2), (hostile, 3), (reader, 2)]
            threads = []
            for index, (function, count) in enumerate(workers):
                for n in range(count):
                    rng = random.Random(args.seed * 1000 + index * 10 + n)
                    thread = threading.Thread(target=function, args=(server, stop, tally, rng), daemon=True)
                    thread.start()
                    threads.append(thread)
            started = time.time()
            peak = dict(baseline)
            while time.time() - started < args.minutes * 60:
                time.sleep(min(30, args.minutes * 60))
                now = server.facts()
                peak = {key: max(peak[key], now[key]) for key in peak}
                print(f"  {time.time() - started:5.0f} s  {now}", flush=True)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            # Let the last runs end and idle connections time out.
            time.sleep(8)
            end = server.facts()
            flat = (end["threads"] <= baseline["threads"] and end["fds"] <= baseline["fds"]
                    and end["rssMiB"] <= baseline["rssMiB"] + 64 and end["children"] == 0)
            print(f"requests: {json.dumps(dict(sorted(tally.counts.items())))}")
            print(f"5xx answers (other than 503 while stopping): {tally.server_errors}")
            print(f"peak:     {peak}")
            print(f"end:      {end}")
            print(f"soak {args.minutes:g} min: threads {baseline['threads']}→{end['threads']}, fds {baseline['fds']}→{end['fds']}, "
                  f"RSS {baseline['rssMiB']}→{end['rssMiB']} MiB, children {end['children']}: {'flat' if flat else 'NOT FLAT'}")
            server.process.stdin.close()
            code = server.process.wait(timeout=60)
            print(f"graceful stop: exit {code}")
            return 0 if flat and tally.server_errors == 0 and code == 0 else 1
        finally:
            if server.process.poll() is None:
                server.process.kill()


if __name__ == "__main__":
    sys.exit(main())
