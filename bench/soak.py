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
viewer's files.

Sampled from /proc every --sample-seconds (default 10): the server's threads, open fds, RSS,
child processes and zombie children. Reported: the baseline (after a warm-up of one run of each
kind), the peak under load, the end (after the load stops and the server settles: runs end,
idle connections time out), and whether the figures are flat:

- at the end: threads and fds back to the baseline, RSS within 8 MiB of it, no child, no zombie.
  8 MiB is what the server may rightly keep after serving: the tracer's idle reserve of spare
  record chunks (2 MiB), SQLite's page cache (its default bound, 2 MiB), and a few MiB of
  caches that fill with use and of malloc pages too fragmented to return (metrics series,
  prepared statements, glibc's per-thread caches);
- under load: no drift, i.e. the highest threads/fds/RSS of the last third of the samples no
  higher than the highest of the first third plus a margin (threads +8, fds +64, RSS +16 MiB);
  a leak shows as a climb that this catches even while the load hides it.

Each sample also says where the memory is: from /proc/PID/smaps, malloc's heaps (`heapMiB`),
other anonymous memory (`anonMiB`: the tracer's chunks, large blocks, stacks) and mapped files
(`fileMiB`); from GET /metrics, the runs held in memory (`heldRuns`: live, or ended and waiting
for the store writer), malloc's held and in-use bytes, and the tracer's spare chunks.

`--markdown` writes the figures into the `## Soak` section of BENCHMARKS.md (its own marked
block, which bench/run.py keeps when it rewrites the main table).
"""
import argparse
import http.client
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
    def __init__(self, binary, directory, env=None):
        self.log = open(os.path.join(directory, "server.log"), "w")
        self.process = subprocess.Popen(
            [binary, "serve", "--port", "0", "--public-dir", os.path.join(ROOT, "Public"), "--max-runs", "6",
             "--data-dir", os.path.join(directory, "data"), "--header-timeout-ms", "2000", "--exit-on-stdin-close"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True,
            env=dict(os.environ, **(env or {})))
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
        children = zombies = 0
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                state, parent = state_and_parent(entry)
                if parent == pid:
                    children += 1
                    zombies += state == "Z"
        return {"threads": threads, "fds": fds, "rssMiB": round(rss / 2**20, 1), "children": children, "zombies": zombies,
                **memory_parts(pid), **self.memory_metrics()}

    def fd_targets(self):
        """What each open fd of the server is (a file's path, socket:[inode], pipe:[inode])."""
        pid, out = self.process.pid, []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                out.append(f"{fd} -> {os.readlink(f'/proc/{pid}/fd/{fd}')}")
            except OSError:
                pass
        return out

    def memory_metrics(self):
        """The server's own account (GET /metrics): runs held in memory (live or waiting for
        the store writer), malloc's held and in-use bytes, the tracer's spare chunks."""
        status, body = call(self, "GET", "/metrics", timeout=10)
        if status != 200:
            return {}
        wanted = {"interleave_runs_in_memory": "heldRuns", 'process_malloc_bytes{state="held"}': "mallocHeldMiB",
                  'process_malloc_bytes{state="in_use"}': "mallocInUseMiB", "interleave_tracer_spare_chunk_bytes": "spareChunksMiB"}
        out = {}
        for line in body.decode(errors="replace").splitlines():
            name, _, value = line.rpartition(" ")
            if name in wanted:
                number = float(value)
                out[wanted[name]] = int(number) if wanted[name] == "heldRuns" else round(number / 2**20, 1)
        return out


ARENA_HEAP = 64 << 20


def memory_parts(pid):
    """Where the RSS is, from /proc/PID/smaps (MiB): `heapMiB` is malloc's (the main arena's
    [heap] and the other arenas' heaps, which glibc maps as 64 MiB-aligned regions),
    `anonMiB` other anonymous memory (the tracer's record chunks, large malloc blocks,
    thread stacks), `fileMiB` mapped files (the binary, libraries, SQLite's shared memory)."""
    parts = {"heapMiB": 0, "anonMiB": 0, "fileMiB": 0}
    try:
        with open(f"/proc/{pid}/smaps") as f:
            lines = f.read().splitlines()
    except OSError:
        return parts
    kind = None
    for line in lines:
        head = line.split(None, 5)
        if len(head) >= 5 and "-" in head[0] and not head[0].endswith(":"):
            start = int(head[0].split("-")[0], 16)
            path = head[5].strip() if len(head) > 5 else ""
            if path.startswith("/"):
                kind = "fileMiB"
            elif path == "[heap]" or (not path and start % ARENA_HEAP == 0):
                kind = "heapMiB"
            else:
                kind = "anonMiB"
        elif line.startswith("Rss:") and kind:
            parts[kind] += int(line.split()[1])
    return {key: round(value / 1024, 1) for key, value in parts.items()}


def state_and_parent(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
            return fields[0], int(fields[1])
    except (OSError, IndexError, ValueError):
        return "?", -1


def call(server, method, path, body=None, headers=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(server.base + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, http.client.HTTPException):
        # Closed without an answer (or refused, or timed out): status 0, tallied as "no-answer".
        return 0, b""


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
            if status == 0:
                self.counts[f"{name}: no-answer"] = self.counts.get(f"{name}: no-answer", 0) + 1
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
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                s.sendall(f"GET /api/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
                s.recv(2048)
                time.sleep(rng.uniform(0.05, 0.5))
                if rng.random() < 0.5:
                    status, _ = call(server, "DELETE", f"/api/runs/{run_id}", headers=JSON_HEADERS)
                    tally.add("cancel", status)
                else:
                    tally.add("hang-up")
        except OSError:
            tally.add("stream: no-answer")
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
                tally.add("trickle (not cut off)")
            else:
                # Idle connections, dropped later.
                idle = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(20)]
                time.sleep(rng.uniform(0.5, 3))
                for s in idle:
                    s.close()
                tally.add("idle-20")
        except OSError:
            tally.add("hostile: cut off or reset")


def reader(server, stop, tally, rng):
    paths = ["/api/health", "/metrics", "/index.html", "/js/api.js", "/api/experiments", "/api/runs", "/nope"]
    while not stop.is_set():
        status, _ = call(server, "GET", rng.choice(paths))
        tally.add("read", status)
        time.sleep(0.01)


MARGIN = {"threads": 8, "fds": 64, "rssMiB": 16}
SETTLE_SECONDS = 45
END_RSS_MARGIN_MIB = 8
SECTION_BEGIN, SECTION_END = "<!-- soak:begin -->", "<!-- soak:end -->"


def drift(samples):
    """Highest of the last third minus highest of the first third, per figure (load phase only)."""
    third = max(len(samples) // 3, 1)
    first, last = samples[:third], samples[-third:]
    return {key: round(max(s[key] for s in last) - max(s[key] for s in first), 1) for key in MARGIN}


def write_markdown(report):
    """Replaces (or adds) the marked soak section of BENCHMARKS.md, leaving the rest as it is."""
    path = os.path.join(ROOT, "BENCHMARKS.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    b, e, d, p = report["baseline"], report["end"], report["drift"], report["peak"]
    rows = [(key, b[key], p[key], e[key], d.get(key, "")) for key in ("threads", "fds", "rssMiB", "children", "zombies")]
    counts = ", ".join(f"{name} {count}" for name, count in report["counts"].items())
    section = [
        SECTION_BEGIN,
        "## Soak",
        "",
        f"Written by `python3 bench/soak.py --markdown` (the last step of `scripts/bench`); do not edit by hand.",
        f"{report['minutes']:g} minutes of mixed load on the release binary ({report['date']} UTC, seed {report['seed']}):",
        "clients starting short runs and reading their streams, starting long runs and cancelling them or hanging up",
        "mid-stream, hostile requests (conflicting lengths, CL with TE, NUL in the path, bad JSON, oversized and",
        "form bodies, header trickles, bursts of idle connections) and readers of health, metrics and the viewer.",
        f"Sampled every {report['sampleSeconds']} s ({len(report['samples'])} samples); the end is when the server settled after the load stopped (at most {SETTLE_SECONDS} s).",
        "",
        "| figure | baseline | peak under load | end | drift under load (last third − first third) |",
        "|---|---|---|---|---|",
    ]
    unit = {"rssMiB": "RSS (MiB)"}
    section += [f"| {unit.get(k, k)} | {bv} | {pv} | {ev} | {dv} |" for k, bv, pv, ev, dv in rows]
    section += [
        "",
        f"- requests: {counts}",
        f"- 5xx answers (other than 503 while stopping): {report['serverErrors']}; error lines in the server log: {report['logErrors']}",
        f"- flat at the end (threads, fds back to baseline, RSS within {END_RSS_MARGIN_MIB} MiB: the tracer's 2 MiB idle reserve, "
        f"SQLite's 2 MiB page cache and a few MiB of caches and malloc fragments; no child or zombie): "
        f"**{'yes' if report['flatEnd'] else 'no'}** (RSS {b['rssMiB']} → {e['rssMiB']} MiB, +{round(e['rssMiB'] - b['rssMiB'], 1)})",
        f"- no drift under load (margins: threads +{MARGIN['threads']}, fds +{MARGIN['fds']}, RSS +{MARGIN['rssMiB']} MiB): "
        f"**{'yes' if report['flatLoad'] else 'no'}**",
        f"- settled (threads, fds and children back at the baseline) {report['settleSeconds']} s after the load stopped"
        + (f"; still open after {SETTLE_SECONDS} s: {', '.join(report['leftOpen'])}" if report["leftOpen"] else ""),
        f"- graceful stop after the soak: exit {report['exit']}",
        "",
        "RSS over the load phase (MiB, one sample per minute): " + " ".join(str(s["rssMiB"]) for s in report["samples"][::max(1, 60 // report['sampleSeconds'])]),
        "",
        "Where the memory was (MiB; heap = malloc's arenas, anon = other anonymous memory, file = the binary and libraries):",
        "",
        "| | RSS | heap | anon | file | malloc in use | malloc held | tracer spares (mapped) | runs held in memory |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    section += [f"| {name} | {row.get('rssMiB', '')} | {row.get('heapMiB', '')} | {row.get('anonMiB', '')} | {row.get('fileMiB', '')} | "
                f"{row.get('mallocInUseMiB', '')} | {row.get('mallocHeldMiB', '')} | {row.get('spareChunksMiB', '')} | {row.get('heldRuns', '')} |"
                for name, row in (("baseline", b), ("peak (each figure its own)", p), ("end", e))]
    section += [
        "",
        SECTION_END,
    ]
    block = "\n".join(section)
    if SECTION_BEGIN in text and SECTION_END in text:
        head, rest = text.split(SECTION_BEGIN, 1)
        text = head + block + rest.split(SECTION_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with open(path, "w") as f:
        f.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.environ.get("INTERLEAVE_BIN", os.path.join(ROOT, ".build", "release", "interleave")))
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--sample-seconds", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", action="store_true", help="write the figures into the Soak section of BENCHMARKS.md")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for the server (e.g. MALLOC_ARENA_MAX=8, to compare)")
    args = parser.parse_args()
    date = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="interleave-soak-") as directory:
        server = Server(args.binary, directory, env=dict(item.split("=", 1) for item in args.env))
        try:
            # Warm up: one of each run, so lazily created threads and caches exist at the baseline.
            for experiment, params in RUNS:
                status, body = call(server, "POST", "/api/runs", {"experiment": experiment, "params": params}, JSON_HEADERS)
                if status == 201:
                    call(server, "GET", f"/api/runs/{json.loads(body)['id']}/events", timeout=120)
            time.sleep(3)
            baseline = server.facts()
            baseline_fds = server.fd_targets()
            print(f"baseline: {baseline}", flush=True)
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
            samples = []
            while time.time() - started < args.minutes * 60:
                time.sleep(min(args.sample_seconds, max(args.minutes * 60 - (time.time() - started), 0.1)))
                now = server.facts()
                samples.append(now)
                peak = {key: max(peak[key], now[key]) for key in peak}
                print(f"  {time.time() - started:5.0f} s  {now}", flush=True)
            stop.set()
            for thread in threads:
                thread.join(timeout=60)
            # Let the last runs end and idle connections time out: poll until threads, fds
            # and children are back at the baseline, for at most SETTLE_SECONDS (longer than
            # libmicrohttpd's 30 s idle timeout, so a connection a hostile client left open
            # has closed; a leaked fd never does). What is still open then is named.
            settle_started = time.time()
            while True:
                end = server.facts()
                settled = (end["threads"] <= baseline["threads"] and end["fds"] <= baseline["fds"]
                           and end["children"] == 0 and end["zombies"] == 0)
                if settled or time.time() - settle_started > SETTLE_SECONDS:
                    break
                time.sleep(1)
            settle_seconds = round(time.time() - settle_started, 1)
            left_open = sorted(set(server.fd_targets()) - set(baseline_fds)) if not settled else []
            print(f"settled in {settle_seconds} s" + (f"; still open: {left_open}" if left_open else ""))
            flat_end = (end["threads"] <= baseline["threads"] and end["fds"] <= baseline["fds"]
                        and end["rssMiB"] <= baseline["rssMiB"] + END_RSS_MARGIN_MIB and end["children"] == 0 and end["zombies"] == 0)
            drifted = drift(samples)
            flat_load = all(drifted[key] <= MARGIN[key] for key in MARGIN)
            print(f"requests: {json.dumps(dict(sorted(tally.counts.items())))}")
            print(f"5xx answers (other than 503 while stopping): {tally.server_errors}")
            print(f"peak:     {peak}")
            print(f"end:      {end}")
            print(f"drift under load (last third - first third): {drifted}: {'flat' if flat_load else 'CLIMBING'}")
            print(f"soak {args.minutes:g} min: threads {baseline['threads']}→{end['threads']}, fds {baseline['fds']}→{end['fds']}, "
                  f"RSS {baseline['rssMiB']}→{end['rssMiB']} MiB, children {end['children']}, zombies {end['zombies']}: "
                  f"{'flat' if flat_end else 'NOT FLAT'}")
            server.process.stdin.close()
            code = server.process.wait(timeout=60)
            print(f"graceful stop: exit {code}")
            server.log.close()
            with open(os.path.join(directory, "server.log"), errors="replace") as log:
                errors = [line for line in log if "error" in line.lower()]
            print(f"error lines in the server log: {len(errors)}")
            for line in errors[:10]:
                print(f"  {line.rstrip()[:300]}")
            if args.markdown:
                write_markdown({
                    "minutes": args.minutes, "date": date, "seed": args.seed, "sampleSeconds": args.sample_seconds,
                    "samples": samples, "baseline": baseline, "peak": peak, "end": end, "drift": drifted,
                    "counts": dict(sorted(tally.counts.items())), "serverErrors": tally.server_errors,
                    "logErrors": len(errors), "flatEnd": flat_end, "flatLoad": flat_load, "exit": code,
                    "settleSeconds": settle_seconds, "leftOpen": left_open,
                })
                print("wrote the Soak section of BENCHMARKS.md")
            return 0 if flat_end and flat_load and tally.server_errors == 0 and code == 0 else 1
        finally:
            if server.process.poll() is None:
                server.process.kill()


if __name__ == "__main__":
    sys.exit(main())
