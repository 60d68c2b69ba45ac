#!/usr/bin/env python3
"""Every benchmark of issue #15, each figure beside its baseline measured in the same run, and
BENCHMARKS.md written from the results. Run through scripts/bench (which builds the release binary
and the malloc counter first). Each section is bounded in time; one that fails is reported, not fatal.

    python3 bench/run.py --bin .build/release/interleave [--quick] [--skip viewer,subscribers]

Hooks: other bench scripts add one line each to HOOKS below. A hook is a shell command that prints
one JSON object per figure on stdout: {"figure": ..., "value": ..., "unit": ..., "baseline": ...,
"baselineName": ..., "goal": ...} (ratio is value/baseline unless the object gives "ratio").
"""
import argparse
import asyncio
import datetime
import json
import os
import platform
import re
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# One line per hook (see the docstring); run from the repository root.
HOOKS = [
    ".build/release/interleave bench-store",  # the run store's append rate vs the recorder's (lessons)
    "python3 bench/static_vs_nginx.py --binary .build/release/interleave --seconds 5 --rounds 3 --json",  # goal 5
]

RESULTS = []  # rows: section, figure, value, unit, baseline name, baseline value, ratio, goal, met


def row(section, figure, value, unit, baseline_name=None, baseline=None, goal=None, met=None, ratio=None):
    if ratio is None and baseline:
        ratio = value / baseline if baseline else None
    RESULTS.append(dict(section=section, figure=figure, value=value, unit=unit, baselineName=baseline_name,
                        baseline=baseline, ratio=ratio, goal=goal, met=met))
    text = f"  {figure}: {fmt(value)} {unit}"
    if baseline is not None:
        text += f"   baseline {baseline_name}: {fmt(baseline)} {unit}   ratio {fmt(ratio)}"
    if goal:
        text += f"   goal {goal}: {'met' if met else 'NOT met'}"
    print(text, flush=True)


def fmt(value):
    if value is None:
        return "—"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# ---------------------------------------------------------------- tracer

def bench_tracer(binary, quick):
    print("== tracer: ns per event on the emitting thread (thread CPU time), vs a bare clock read", flush=True)
    env = dict(os.environ)
    counter = os.path.join(ROOT, ".build", "malloc_count.so")
    if os.path.exists(counter):
        env["LD_PRELOAD"] = counter
    events = "50000" if quick else "200000"
    # One warm-up pass: the recorder's record chunks are recycled across runs, as in the server.
    subprocess.run([binary, "bench", "--events", "20000", "--repeats", "1"], env=env, capture_output=True, timeout=120)
    out = subprocess.run([binary, "bench", "--events", events, "--repeats", "3" if quick else "5"], env=env,
                         capture_output=True, text=True, timeout=300, check=True).stdout
    data = json.loads(out)
    for r in data["rows"]:
        w = r["writers"]
        # Median cost of one emit (each bracketed by two clock reads, minus an empty bracket):
        # what summary.tracer.nsPerEvent reports, measured the same way.
        row("tracer", f"typed emit, per-event median, {w} writer(s)", r["typedMedianNs"], "ns/event",
            "bare clock read, per-event median", r["clockMedianNs"], "≤ 2×", r["typedMedianNs"] <= 2 * r["clockMedianNs"])
        row("tracer", f"summary.tracer.nsPerEvent (the recorder's own sampled median), {w} writer(s)", r["reportedNs"],
            "ns/event", "bench's per-event median", r["typedMedianNs"])
        # Loop mean: thread CPU time / events, every slow emit (cache misses, chunk changes) included.
        row("tracer", f"typed emit, loop mean, {w} writer(s)", r["typedNs"], "ns/event", "bare clock read, loop mean",
            r["clockNs"], "≤ 2×", r["typedNs"] <= 2 * r["clockNs"])
        row("tracer", f"typed emit p99 (bracketed), {w} writer(s)", r["typedP99Ns"], "ns/event")
        row("tracer", f"minor page faults per typed emit, {w} writer(s)", r["typedFaultsPerEvent"], "faults/event")
        row("tracer", f"JSONObject emit, loop mean, {w} writer(s)", r["objectNs"], "ns/event", "bare clock read, loop mean",
            r["clockNs"])
        if "typedAllocsPerEvent" in r:
            row("tracer", f"heap allocations per typed emit, {w} writer(s)", r["typedAllocsPerEvent"], "allocs/event",
                goal="0 (chunk refills only)", met=r["typedAllocsPerEvent"] < 0.001)
            row("tracer", f"heap allocations per JSONObject emit, {w} writer(s)", r["objectAllocsPerEvent"], "allocs/event")
    return data


VIZ = r"""
import sys, time
from viztracer import VizTracer
n = int(sys.argv[1])
def f(): pass
def loop():
    for _ in range(n): f()
best_plain = min(timeit for timeit in [(lambda: (lambda t: (loop(), time.perf_counter_ns() - t)[1])(time.perf_counter_ns()))() for _ in range(3)])
traced = []
for _ in range(3):
    tracer = VizTracer(tracer_entries=n * 2 + 100, verbose=0)
    tracer.start()
    t = time.perf_counter_ns(); loop(); traced.append(time.perf_counter_ns() - t)
    tracer.stop()
    tracer.clear()
print((min(traced) - best_plain) / n, best_plain / n)
"""


def bench_viztracer(tracer_data, quick):
    print("== peer tracer: VizTracer on the equivalent Python loop (one traced call = one event)", flush=True)
    try:
        out = subprocess.run([sys.executable, "-c", VIZ, "100000" if quick else "300000"], capture_output=True,
                             text=True, timeout=180, check=True).stdout.split()
    except Exception as error:  # noqa: BLE001
        print(f"  VizTracer unavailable: {error}")
        return
    per_event, loop = float(out[0]), float(out[1])
    ours = next(r["typedNs"] for r in tracer_data["rows"] if r["writers"] == 1)
    row("peer", "Interleave typed emit, 1 writer", ours, "ns/event", "VizTracer per traced call", per_event)
    row("peer", "plain Python loop iteration with a call (untraced)", loop, "ns/iteration")


# ---------------------------------------------------------------- server helpers

class Server:
    def __init__(self, binary, data_dir, extra=()):
        self.proc = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", "0", "--data-dir", data_dir,
                                      "--exit-on-stdin-close", *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://([\d.]+):(\d+)", line)
        if not m:
            raise RuntimeError(f"server did not announce its address: {line!r}")
        self.host, self.port = m.group(1), int(m.group(2))
        self.base = f"http://{self.host}:{self.port}"
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def post(self, path, body, content_type="application/json"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, headers={"Content-Type": content_type}, method="POST")
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.loads(r.read())

    def get(self, path):
        with urllib.request.urlopen(self.base + path, timeout=120) as r:
            return json.loads(r.read())

    def wait_final(self, run_id, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.get(f"/api/runs/{run_id}")["status"] not in ("queued", "running"):
                return
            time.sleep(0.05)

    def rss_peak_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return None

    def cpu_seconds(self):
        """User + system CPU time of the server process so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def schedstat(self):
        """Seconds the server's threads have run, and waited runnable for a CPU (run-queue delay),
        summed over its live threads (/proc/PID/task/*/schedstat)."""
        ran = waited = 0
        base = f"/proc/{self.proc.pid}/task"
        for tid in os.listdir(base):
            try:
                with open(f"{base}/{tid}/schedstat") as f:
                    fields = f.read().split()
                ran, waited = ran + int(fields[0]), waited + int(fields[1])
            except OSError:
                pass  # a thread that ended meanwhile
        return ran / 1e9, waited / 1e9

    def stop(self):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=10)
        except Exception:  # noqa: BLE001
            self.proc.kill()


def raw_stream(host, port, path):
    """GET path over HTTP/1.0 (no chunked framing: the body ends when the server closes). Returns the
    number of lines, the time of the first body byte and of the last, and the last event's ts (µs)."""
    s = socket.create_connection((host, port))
    s.sendall(f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
    total = 0
    header = b""
    first = last = None
    tail = b""
    while True:
        data = s.recv(1 << 20)
        if not data:
            break
        if header is not None:
            header += data
            if b"\r\n\r\n" not in header:
                continue
            data = header.split(b"\r\n\r\n", 1)[1]
            header = None
            first = time.perf_counter()
        last = time.perf_counter()
        total += data.count(b"\n")
        tail = (tail + data)[-(1 << 20):]
    s.close()
    m = re.findall(rb'\{"seq":\d+,"ts":(\d+)', tail)
    return total, first, last, int(m[-1]) if m else None


# Live connections the stream benchmarks open from one address: the server's per-address limit (a
# protection, #12) is raised for them with its documented option, not removed.
STREAM_SERVER_OPTIONS = ["--per-address-limit", "1200", "--connection-limit", "1200"]


def bench_streams(binary, quick, skip):
    print("== streams: replay of a finished run, live, and 1,000 subscribers", flush=True)
    data_dir = os.path.join(ROOT, "artifacts", "bench-data")
    subprocess.run(["rm", "-rf", data_dir])
    os.makedirs(data_dir, exist_ok=True)
    server = Server(binary, data_dir, STREAM_SERVER_OPTIONS)
    try:
        # Replay: a finished 500,000-event run, imported as a recorded trace.
        n = 200_000 if quick else 500_000
        lines = []
        for seq in range(n):
            lines.append('{"seq":%d,"ts":%d,"type":"counter","lane":"thread-%d","pid":1,"tid":%d,"cpu":%d,'
                         '"name":"i","value":%d}' % (seq, seq // 4, seq % 4, 100 + seq % 4, seq % 2, seq))
        body = ("\n".join(lines) + "\n").encode()
        del lines
        try:
            run = server.post("/api/runs/import", body, "application/x-ndjson")
            run_id = run.get("id") or run.get("run", {}).get("id")
            best = None
            for _ in range(3):
                t = time.perf_counter()
                got, _, _, _ = raw_stream(server.host, server.port, f"/api/runs/{run_id}/events")
                elapsed = time.perf_counter() - t
                rate = got / elapsed
                best = rate if best is None else max(best, rate)
            row("streams", f"replay of a finished {n:,}-event run to one NDJSON client", best, "events/s",
                goal="≥ 3,000,000", met=best >= 3_000_000)
        except Exception as error:  # noqa: BLE001
            print(f"  replay: failed: {error}")
        del body

        try:
            bench_live(binary, quick)
        except Exception as error:  # noqa: BLE001
            print(f"  live: failed: {error}")

        # A real run followed from its start: the run, not the stream, sets this pace (its own rate
        # is the baseline; a ratio near 1 means the stream kept up with it).
        run = server.post("/api/runs", {"experiment": "thread-pool",
                                        "params": {"workers": 4, "tasks": 10000, "taskMs": 0}})
        got, first, last, last_ts = raw_stream(server.host, server.port, f"/api/runs/{run['id']}/events")
        own = got / (last_ts / 1e6) if last_ts else None
        row("streams", f"live: one client following a thread-pool run of 10,000 no-op tasks ({got:,} events)",
            got / (last - first), "events/s", "the run's own emission rate", own)

        if "subscribers" not in skip:
            bench_subscribers(server, 200 if quick else 1000)
    finally:
        server.stop()


def bench_live(binary, quick):
    """One client following a live trace that `interleave bench-stream` emits at a set rate, faster than the
    goal: the same EventStream, recorder set-up and HTTP server as a live run's /events."""
    events, rate = (500_000, 2_000_000) if quick else (1_000_000, 2_000_000)
    proc = subprocess.Popen([binary, "bench-stream", "--events", str(events), "--rate", str(rate)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        m = re.search(r"http://([\d.]+):(\d+)", proc.stdout.readline())
        host, port = m.group(1), int(m.group(2))
        results = []
        for _ in range(3):
            got, first, last, _ = raw_stream(host, port, "/events")
            producer = json.loads(proc.stdout.readline())
            results.append((got / (last - first), producer["producerRate"], got))
        results.sort()
        stream_rate, producer_rate, got = results[len(results) // 2]  # the median of three
        row("streams", f"live: one client following a trace as it is emitted at {rate:,} events/s "
            f"({got:,} events, median of 3)", stream_rate, "events/s", "the producer's achieved rate", producer_rate,
            goal="≥ 500,000", met=stream_rate >= 500_000 and got == events)
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def bench_subscribers(server, count):
    """`count` clients (bench/subscribers.c, one epoll loop in C that reads the kernel's arrival stamp of
    each read, so the client is not what is measured) follow one live run from its start; every client
    must get every event, in order. Two runs: a steady one (the goal's figure) and one ending in a burst."""
    client = os.path.join(ROOT, ".build", "bench_subscribers")
    subprocess.run(["cc", "-O2", "-o", client, os.path.join(ROOT, "bench", "subscribers.c")], check=True)
    # Steady: thread-pool `map`, 2,000 tasks of 10 ms on 4 workers. Main logs each result as map yields
    # it, so the run emits ~2,700 events/s evenly for ~5.5 s (after its 2,000 task.submit at the start,
    # which every subscriber gets as history): ~2.7 M deliveries/s to 1,000 subscribers, ~300 MB/s
    # over loopback. (Tasks of 1 ms emit ~20,000 events/s: 2.2 GB/s to 1,000 clients, more than this
    # 2-core machine's loopback carries with the client on the same cores, whatever the server does.)
    steady = subscribers_run(server, client, count, {"mode": "map"})
    if steady:
        result, total = steady
        p99 = result["p99Ms"] if result["samples"] else None
        row("streams", f"{count:,} subscribers of a steady live run (thread-pool map, {total:,} events at "
            f"~{result['liveRate']:,.0f} events/s): event→client latency p99, emit to arrival in the client's socket "
            f"({result['samples']:,} deliveries of events emitted after all attached, {result['attachMs']:.0f} ms to "
            f"attach; p50 {result['p50Ms']:.1f} ms, max {result['maxMs']:.0f} ms)",
            p99, "ms", goal="≤ 50 ms", met=p99 is not None and p99 <= 50)
    # The same run in `submit` mode prints its 2,000 results only at the end: a burst of ~2,000 events
    # at once, 2 M deliveries (~220 MB) to 1,000 subscribers. Its latency is how long that takes to
    # drain (a throughput bound: within 50 ms would need 40 M deliveries/s), shown beside, not a goal.
    burst = subscribers_run(server, client, count, {"mode": "submit"})
    if burst:
        result, total = burst
        row("streams", f"{count:,} subscribers of a run ending in a burst (thread-pool submit: {total:,} events, its "
            f"~2,000 results printed at once at the end): event→client latency p99 (p50 {result['p50Ms']:.1f} ms, "
            f"max {result['maxMs']:.0f} ms; {result['samples']:,} deliveries)", result["p99Ms"], "ms")
    rss = server.rss_peak_mb()
    row("streams", "server peak RSS (VmHWM) after all stream benchmarks", rss, "MB", goal="≤ 300 MB",
        met=rss is not None and rss <= 300)


def subscribers_run(server, client, count, params):
    """One thread-pool run (2,000 tasks of 10 ms on 4 workers, `params` added) followed by `count`
    subscribers from its start: the rows every run shows, and (client result, event count)."""
    run = server.post("/api/runs", {"experiment": "thread-pool",
                                    "params": {"workers": 4, "tasks": 2000, "taskMs": 10, "jitterPct": 0, **params}})
    mode = params.get("mode", "submit")
    path = f"/api/runs/{run['id']}/events"
    load = os.getloadavg()[0]
    cpu_before = server.cpu_seconds()
    ran_before, waited_before = server.schedstat()
    out = subprocess.run([client, server.host, str(server.port), path, str(count), "1.1"], capture_output=True,
                         text=True, timeout=300)
    server_cpu = server.cpu_seconds() - cpu_before
    ran, waited = (now - before for now, before in zip(server.schedstat(), (ran_before, waited_before)))
    load = max(load, os.getloadavg()[0])
    if out.returncode != 0:
        print(f"  subscribers client failed: {out.stderr[-500:]}")
        return None
    if out.stderr:
        print(out.stderr, end="", flush=True)
    result = json.loads(out.stdout)
    server.wait_final(run["id"])
    total = server.get(f"/api/runs/{run['id']}")["eventCount"]
    everyone = sum(1 for c in result["counts"] if c == total)
    ordered = result["ordered"]
    row("streams", f"{count:,} subscribers (HTTP/1.1, chunked) of one live run (thread-pool {mode}): clients that got "
        f"every one of its {total:,} events, in order ({ordered:,} in order, {result['refused']} refused)", everyone,
        "clients", goal=f"{count:,}", met=everyone == count and ordered == count)
    deliveries = sum(result["counts"])
    row("streams", f"{count:,} subscribers ({mode}): event→client latency p99 as the client read it (p50 "
        f"{result['readP50Ms']:.1f} ms; the client's own lag behind its sockets p99 {result['lagP99Ms']:.1f} ms; it used "
        f"{result['clientCpuMs']:.0f} ms of CPU in {result['wallMs']:.0f} ms)", result["readP99Ms"], "ms")
    row("streams", f"{count:,} subscribers ({mode}): server CPU per delivery ({deliveries:,} deliveries, {server_cpu:.2f} s "
        f"of CPU in all; load average up to {load:.1f} on {os.cpu_count()} CPUs)",
        server_cpu * 1e9 / max(deliveries, 1), "ns")
    # How much of the wall time the server and the client spent runnable but waiting for a CPU: on a
    # busy machine that wait, not the code, is most of each hop's latency.
    row("streams", f"{count:,} subscribers ({mode}): time the server's threads waited for a CPU while runnable "
        f"(run-queue delay, summed over threads; they ran {ran:.2f} s; the client waited "
        f"{result['clientWaitMs'] / 1e3:.2f} s and ran {result['clientCpuMs'] / 1e3:.2f} s in {result['wallMs'] / 1e3:.1f} s)",
        waited, "s", "the server's threads' own CPU time", ran)
    return result, total


# ---------------------------------------------------------------- pools

PY_POOLS = r"""
import sys, time
from concurrent.futures import ThreadPoolExecutor
import multiprocessing
def noop(x=None): return x
def threads():
    # Timed like ours: the pool exists; submit all, then every result (threads start lazily here).
    ex = ThreadPoolExecutor(max_workers=4)
    c = time.process_time()  # CPU of all the process's threads, beside the wall clock
    t = time.perf_counter()
    fs = [ex.submit(noop) for _ in range(10000)]
    for f in fs: f.result()
    ms = (time.perf_counter() - t) * 1000
    cpu = (time.process_time() - c) * 1000
    ex.shutdown()
    return ms, cpu
def processes():
    # Timed like ours: Pool(4) started (forked workers are running), then map alone; close/join untimed.
    pool = multiprocessing.Pool(4)
    t = time.perf_counter()
    pool.map(noop, range(10000))
    ms = (time.perf_counter() - t) * 1000
    pool.close()
    pool.join()
    return ms
if __name__ == "__main__":
    runs = [threads() for _ in range(3)]
    print(min(ms for ms, _ in runs), min(processes() for _ in range(3)), min(cpu for _, cpu in runs))
"""


def bench_pools(binary):
    """Per-task overhead of 10,000 no-op tasks on 4 workers, ours traced, CPython's untraced.
    Both sides time from a started pool to every result in hand: pool start-up (threads or
    processes) and the final shutdown/join are left out on both. map uses Python's default
    chunksize, ceil(T / 4W) = 625, on both sides. Best of 3 each."""
    print("== pools: 10,000 no-op tasks, 4 workers, tracing on, vs CPython (start-up and join untimed on both)",
          flush=True)
    path = os.path.join(ROOT, ".build", "bench_pools.py")
    with open(path, "w") as f:
        f.write(PY_POOLS)
    py_threads, py_processes, py_threads_cpu = map(float, subprocess.run(
        [sys.executable, path], capture_output=True, text=True, timeout=300, check=True).stdout.split())

    def cpu_ms():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (usage.ru_utime + usage.ru_stime) * 1000

    cpu = {}  # experiment → least CPU ms of a whole `interleave run` process

    def ours(experiment, extra, figure, tasks=10000):
        best = None
        for _ in range(3):
            params = ["--param", "workers=4", "--param", f"tasks={tasks}", "--param", "taskMs=0"] + extra
            before = cpu_ms()
            out = subprocess.run([binary, "run", experiment, *params, "--summary-only"], capture_output=True,
                                 text=True, timeout=300).stdout
            used = cpu_ms() - before
            cpu[experiment, tasks] = min(cpu.get((experiment, tasks), used), used)
            try:
                summary = json.loads(out.strip().splitlines()[0])["summary"]
                best = summary[figure] if best is None else min(best, summary[figure])
            except Exception:  # noqa: BLE001
                print(f"  {experiment}: no summary: {out[:300]!r}")
        return best

    # thread-pool's wallMs: from its 4 threads started to every result in hand (submit mode).
    tp = ours("thread-pool", ["--param", "jitterPct=0"], "wallMs")
    if tp:
        row("pools", "thread-pool (traced): submit 10,000, all results", tp, "ms",
            "ThreadPoolExecutor (untraced)", py_threads, goal="≥ 10× faster", met=py_threads / tp >= 10,
            ratio=py_threads / tp)
        # CPU is less noisy than wall time on a busy machine. Ours: the whole process (every thread:
        # the tracer's merge, the sched sampler, the summary) minus a 0-task run, per task; Python's:
        # process_time of its timed part (all its threads), per task.
        ours("thread-pool", ["--param", "jitterPct=0"], "wallMs", tasks=0)
        per_task = (cpu["thread-pool", 10000] - cpu["thread-pool", 0]) / 10000 * 1000
        row("pools", "thread-pool CPU per task (whole process, all threads, minus a 0-task run)", per_task, "µs",
            "ThreadPoolExecutor CPU per task (process_time)", py_threads_cpu / 10000 * 1000,
            ratio=py_threads_cpu / 10000 * 1000 / per_task if per_task > 0 else None)
    # process-pool's tasksMs: from its 4 worker processes up to map's last result in hand.
    pp = ours("process-pool", ["--param", "mode=map", "--param", "jitterPct=0"], "tasksMs")
    if pp:
        row("pools", "process-pool map (traced), chunksize 625", pp, "ms", "multiprocessing.Pool.map (untraced)",
            py_processes, goal="≥ 3× faster", met=py_processes / pp >= 3, ratio=py_processes / pp)


# ---------------------------------------------------------------- viewer and hooks

def bench_viewer(binary, quick):
    print("== viewer: a recorded 1,000,000-event run in headless Chromium", flush=True)
    events = "200000" if quick else "1000000"
    try:
        out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "viewer_bench.py"), "--events", events,
                              "--repeat", "2"], capture_output=True, text=True, timeout=600).stdout
        drawn = float(re.search(r"open→all events drawn\s+median (\d+) ms", out).group(1))
        p95 = re.search(r"zoom / pan draws.*p95 ([\d.]+) ms", out)
        row("viewer", f"open → all {int(events):,} events drawn", drawn, "ms", goal="< 2,000 ms", met=drawn < 2000)
        if p95:
            row("viewer", "pan/zoom frame p95", float(p95.group(1)), "ms", goal="< 16 ms", met=float(p95.group(1)) < 16)
        cpu = re.search(r"zoom / pan frame CPU.*?p95 ([\d.]+) ms", out)
        if cpu:  # the same frames' main-thread CPU, which a busy machine does not inflate
            row("viewer", "pan/zoom frame p95, main-thread CPU", float(cpu.group(1)), "ms", goal="< 16 ms", met=float(cpu.group(1)) < 16)
        cpu = re.search(r"main-thread CPU (\d+) ms\n", out)
        if cpu:
            row("viewer", "open → all drawn, main-thread CPU", float(cpu.group(1)), "ms", goal="< 2,000 ms", met=float(cpu.group(1)) < 2000)
    except Exception as error:  # noqa: BLE001
        print(f"  viewer: failed: {error}")
        row("viewer", f"open → all {int(events):,} events drawn", None, "ms", goal="< 2,000 ms", met=False)


def run_hooks():
    for command in HOOKS:
        print(f"== hook: {command}", flush=True)
        try:
            out = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
            for line in out.splitlines():
                line = line.strip()
                if not line.startswith("{"):
                    print(f"  {line}")  # a hook that prints text: shown, not tabulated
                    continue
                d = json.loads(line)
                row("hooks", d["figure"], d["value"], d.get("unit", ""), d.get("baselineName"), d.get("baseline"),
                    d.get("goal"), d.get("met"), d.get("ratio"))
        except Exception as error:  # noqa: BLE001
            print(f"  failed: {error}")


def write_markdown(commands, started, seconds):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except Exception:  # noqa: BLE001
        pass
    lines = [
        "# Benchmarks",
        "",
        "Written by `scripts/bench` from its last full run; every figure is measured beside its baseline in",
        "that same run. Do not edit by hand.",
        "",
        f"- machine: {platform.node()}, {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}",
        f"- date: {started:%Y-%m-%d %H:%M} UTC, {seconds:.0f} s in all",
        f"- commands: `{'`, `'.join(commands)}`",
        "",
        "| section | figure | value | baseline | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in RESULTS:
        baseline = f"{r['baselineName']}: {fmt(r['baseline'])} {r['unit']}" if r["baseline"] is not None else ""
        met = "" if r["goal"] is None else ("yes" if r["met"] else "**no**")
        lines.append(f"| {r['section']} | {r['figure']} | {fmt(r['value'])} {r['unit']} | {baseline} | "
                     f"{fmt(r['ratio']) + '×' if r['ratio'] else ''} | {r['goal'] or ''} | {met} |")
    lines += ["", "How each figure is taken: see the docstring of `bench/run.py` and `interleave bench --help`.", ""]
    path = os.path.join(ROOT, "BENCHMARKS.md")
    # Sections other scripts write (e.g. bench/soak.py's `<!-- soak:begin -->` … `<!-- soak:end -->`) are kept.
    old = open(path).read() if os.path.exists(path) else ""
    lines += [match.group(0) + "\n" for match in re.finditer(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", old, re.S)]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(ROOT, ".build", "release", "interleave"))
    parser.add_argument("--quick", action="store_true", help="smaller sizes; does not write BENCHMARKS.md")
    parser.add_argument("--skip", default="", help="comma-separated: tracer,peer,streams,subscribers,pools,viewer,hooks")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.time()
    tracer = None
    if "tracer" not in skip:
        tracer = bench_tracer(args.bin, args.quick)
    if "peer" not in skip and tracer:
        bench_viztracer(tracer, args.quick)
    if "streams" not in skip:
        bench_streams(args.bin, args.quick, skip)
    if "pools" not in skip:
        bench_pools(args.bin)
    if "viewer" not in skip:
        bench_viewer(args.bin, args.quick)
    if "hooks" not in skip:
        run_hooks()
    seconds = time.time() - t0
    print(f"== done in {seconds:.0f} s", flush=True)
    if not args.quick and not skip:
        commands = ["scripts/bench", f"python3 bench/run.py --bin {os.path.relpath(args.bin, ROOT)}",
                    "interleave bench --events 200000 --repeats 5 (LD_PRELOAD=.build/malloc_count.so)"]
        write_markdown(commands, started, seconds)
        print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
