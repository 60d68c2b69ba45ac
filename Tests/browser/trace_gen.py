"""Synthetic but realistic Interleave traces (DESIGN.md vocabulary).

Used by the development stub API (stub_api.py) and by bench/viewer_bench.py, so the
viewer can be developed and measured without the Swift server.  The browser tests
themselves run against the real server.
"""
import random

MAIN_PID = 4100


class Trace:
    def __init__(self, experiment, params):
        self.events = []
        self.experiment = experiment
        self.params = params
        self.flow = 0
        self.t = 0
        self.emit(0, "run.start", "main", experiment=experiment, params=params)
        self.emit(0, "lane.start", "main", kind="main")

    def emit(self, ts, type_, lane, pid=MAIN_PID, tid=None, **fields):
        ev = {"seq": 0, "ts": int(ts), "type": type_, "lane": lane, "pid": pid,
              "tid": tid if tid is not None else (pid * 10 + (hash(lane) % 7))}
        ev.update(fields)
        self.events.append(ev)
        return ev

    def next_flow(self):
        self.flow += 1
        return self.flow

    def finish(self, status, summary):
        end = max(e["ts"] for e in self.events) + 50
        self.emit(end, "lane.end", "main")
        summary = dict(summary)
        summary.setdefault("durationMs", round(end / 1000.0, 3))
        summary["tracer"] = {"events": len(self.events) + 1, "dropped": 0, "nsPerEvent": 180}
        self.emit(end + 1, "run.end", "main", status=status, summary=summary)
        # sort by ts (stable) and number gaplessly, as the recorder does
        self.events.sort(key=lambda e: e["ts"])
        for i, e in enumerate(self.events):
            e["seq"] = i
        return self.events


def thread_pool(workers=3, tasks=8, seed=1):
    rnd = random.Random(seed)
    tr = Trace("thread-pool", {"workers": workers, "tasks": tasks, "mode": "submit"})
    lanes = [f"worker-{i + 1}" for i in range(workers)]
    free = {lane: 200 + i * 40 for i, lane in enumerate(lanes)}
    for lane in lanes:
        tr.emit(free[lane] - 100, "lane.start", lane, kind="thread")
    t = 100
    depth = 0
    pending = []
    for k in range(tasks):
        t += rnd.randint(20, 60)
        f = tr.next_flow()
        tr.emit(t, "task.submit", "main", task=k, flow=f)
        depth += 1
        tr.emit(t, "counter", "main", name="queue depth", value=depth)
        pending.append((t, k, f))
    held_until = 0
    for (ts, k, f) in pending:
        lane = min(lanes, key=lambda l: free[l])
        start = max(free[lane], ts + 10)
        tr.emit(start, "task.start", lane, task=k, flow=f)
        depth -= 1
        tr.emit(start, "counter", "main", name="queue depth", value=max(depth, 0))
        work = rnd.randint(300, 900)
        # take the shared results lock half-way through
        wt = start + work // 2
        tr.emit(wt, "lock.wait", lane, lock="results")
        acq = max(wt + 5, held_until + 2)
        tr.emit(acq, "lock.acquire", lane, lock="results")
        held_until = acq + rnd.randint(40, 120)
        tr.emit(held_until, "lock.release", lane, lock="results")
        io0 = held_until + 10
        tr.emit(io0, "io.begin", lane, op="sleep(0.1)")
        tr.emit(io0 + 150, "io.end", lane, op="sleep(0.1)")
        end = io0 + 160 + work // 3
        tr.emit(end, "task.end", lane, task=k, result=k * k)
        tr.emit(end + 5, "task.callback", "main", task=k)
        tr.emit(end + 6, "log", "main", message=f"task {k} -> {k * k}")
        free[lane] = end + 10
    last = max(free.values())
    for lane in lanes:
        tr.emit(last + 20, "lane.end", lane)
    return tr.finish("completed", {
        "verdict": f"{tasks} tasks ran on {workers} worker threads; results came back in submit order.",
        "workers": workers, "tasks": tasks})


def deadlock(workers=2, strategy="naive", seed=2):
    tr = Trace("deadlock", {"workers": workers, "strategy": strategy})
    lanes = [f"philosopher-{i + 1}" for i in range(workers)]
    locks = [f"fork-{i + 1}" for i in range(workers)]
    for i, lane in enumerate(lanes):
        tr.emit(50 + i * 10, "lane.start", lane, kind="thread")
    tr.emit(60, "deadlock.potential", "main", order=[locks[0], locks[1]])
    cycle = []
    for i, lane in enumerate(lanes):
        first, second = locks[i], locks[(i + 1) % workers]
        t = 100 + i * 20
        tr.emit(t, "lock.wait", lane, lock=first)
        tr.emit(t + 2, "lock.acquire", lane, lock=first)
        tr.emit(t + 300, "lock.wait", lane, lock=second)
        cycle.append({"lane": lane, "waitsFor": second, "heldBy": lanes[(i + 1) % workers]})
    tr.emit(1500, "deadlock.detected", "main", cycle=cycle)
    tr.emit(1500, "log", "main", message="deadlock detected; cancelling workers")
    return tr.finish("deadlocked", {
        "verdict": f"All {workers} philosophers hold one fork and wait for the next: a deadlock.",
        "cycleLength": workers})


def processes(children=3, items=6, seed=3):
    rnd = random.Random(seed)
    tr = Trace("producer-consumer", {"children": children, "items": items, "mode": "processes"})
    t = 100
    for c in range(children):
        pid = 5000 + c
        lane = f"worker-{c + 1} (pid {pid})"
        tr.emit(t, "process.spawn", "main", child=pid)
        tr.emit(t + 400, "lane.start", lane, pid=pid, kind="process")
        size = 0
        for k in range(items):
            f = tr.next_flow()
            tp = t + 500 + k * 120
            size += 1
            tr.emit(tp, "queue.put", "main", queue="jobs", item=k, size=size, flow=f)
            tr.emit(tp, "counter", "main", name="jobs size", value=size)
            tg = tp + rnd.randint(10, 100)
            size -= 1
            tr.emit(tg, "queue.get", lane, pid=pid, queue="jobs", item=k, size=size, flow=f)
            tr.emit(tg, "counter", "main", name="jobs size", value=size)
            g = tr.next_flow()
            tr.emit(tg + 30, "pipe.send", lane, pid=pid, pipe="results", item=k, flow=g)
            tr.emit(tg + 60, "pipe.recv", "main", pipe="results", item=k, flow=g)
        tr.emit(t + 500 + items * 120 + 100, "pipe.eof", "main", pipe="results")
        tr.emit(t + 500 + items * 120 + 120, "lane.end", lane, pid=pid)
        tr.emit(t + 500 + items * 120 + 130, "process.exit", "main", child=pid, exitCode=0)
        t += 250
    tr.emit(t + 2000, "process.kill", "main", child=9999, signal="SIGTERM")
    tr.emit(t + 2100, "mystery.thing", "main", note="unknown types render as generic instants")
    return tr.finish("completed", {"verdict": "Every item crossed the process boundary exactly once.",
                                   "children": children})


def big(n=100_000, threads=8, seed=4):
    """A large recorded run: ~n events over `threads` lanes, every span kind, flows, counters."""
    rnd = random.Random(seed)
    tr = Trace("race-condition", {"threads": threads, "iterations": n // (threads * 6), "lock": True})
    lanes = [f"thread-{i + 1}" for i in range(threads)]
    for lane in lanes:
        tr.emit(10, "lane.start", lane, kind="thread")
    clock = {lane: 20 for lane in lanes}
    counter = 0
    lock_free = 0
    flow_pending = []
    while len(tr.events) < n - 2 - threads * 2:
        lane = rnd.choice(lanes)
        t = clock[lane]
        r = rnd.random()
        if r < 0.45:
            tr.emit(t, "lock.wait", lane, lock="counter")
            acq = max(t + 1, lock_free + 1)
            tr.emit(acq, "lock.acquire", lane, lock="counter")
            counter += 1
            tr.emit(acq + 1, "counter", lane, name="shared counter", value=counter)
            rel = acq + rnd.randint(2, 8)
            tr.emit(rel, "lock.release", lane, lock="counter")
            lock_free = rel
            clock[lane] = rel + rnd.randint(1, 20)
        elif r < 0.6:
            tr.emit(t, "io.begin", lane, op="sleep")
            tr.emit(t + rnd.randint(5, 60), "io.end", lane, op="sleep")
            clock[lane] = t + 70
        elif r < 0.8:
            f = tr.next_flow()
            tr.emit(t, "queue.put", lane, queue="q", item=f, size=len(flow_pending) + 1, flow=f)
            flow_pending.append((t, f))
            clock[lane] = t + rnd.randint(3, 15)
            if len(flow_pending) > 3:
                (tp, g) = flow_pending.pop(0)
                other = rnd.choice(lanes)
                tg = max(clock[other], tp + 1)
                tr.emit(tg, "queue.get", other, queue="q", item=g, size=len(flow_pending), flow=g)
                clock[other] = tg + 2
        else:
            k = len(tr.events)
            tr.emit(t, "task.start", lane, task=k)
            tr.emit(t + rnd.randint(5, 40), "task.end", lane, task=k)
            clock[lane] = t + 45
    end = max(clock.values())
    while len(tr.events) < n - 2 - threads:  # pad to exactly n events with log lines
        tr.emit(end, "log", "main", message="padding")
    for lane in lanes:
        tr.emit(end, "lane.end", lane)
    return tr.finish("completed", {"verdict": f"{counter} increments, none lost: the lock serialised them.",
                                   "expected": counter, "actual": counter})


GENERATORS = {
    "thread-pool": lambda p: thread_pool(int(p.get("workers", 3)), int(p.get("tasks", 8))),
    "deadlock": lambda p: deadlock(int(p.get("workers", 2)), p.get("strategy", "naive")),
    "producer-consumer": lambda p: processes(int(p.get("children", 3)), int(p.get("items", 6))),
    "race-condition": lambda p: big(int(p.get("events", 20000)), int(p.get("threads", 4))),
}


def race_lost(workers=4, rounds=5):
    """race-condition without a lock, as the DESIGN.md lesson vocabulary draws it: every round all
    workers read the same value, then each writes value+1; every write after the round's first
    is lost and names (overwrote) the write it overwrote. Counters carry `expected`."""
    tr = Trace("race-condition", {"workers": workers, "increments": rounds, "lock": False})
    lanes = [f"worker-{i + 1}" for i in range(workers)]
    for i, lane in enumerate(lanes):
        tr.emit(50 + i * 5, "lane.start", lane, kind="thread")
    value = 0
    expected = 0
    t = 200
    seqs = {}
    first_lost = None
    for r in range(rounds):
        tr.emit(t - 5, "phase.begin", "main", name=f"round {r + 1}")
        for i, lane in enumerate(lanes):
            tr.emit(t + i * 12, "var.read", lane, var="counter", value=value)
        t += workers * 12 + 40
        first = None
        for i, lane in enumerate(lanes):
            expected += 1
            ev = tr.emit(t + i * 15, "var.write", lane, var="counter", value=value + 1)
            if first is None:
                first = ev
            else:
                ev["lost"] = True
                ev["overwrote"] = id(first)  # resolved to a seq below
                if first_lost is None:
                    first_lost = (first, ev)
            tr.emit(t + i * 15 + 1, "counter", lane, name="counter", value=value + 1, expected=expected)
        value += 1
        t += workers * 15 + 60
        tr.emit(t - 20, "phase.end", "main", name=f"round {r + 1}")
    ins = tr.emit(t, "insight", "main", text=f"Both W {first_lost[0]['value']} markers write the same value: "
                  "the second overwrote the first, so one update was lost.", kind="problem", refs=[])
    ins["_refs"] = [id(first_lost[0]), id(first_lost[1])]
    events = tr.finish("completed", {"verdict": f"Lost {expected - value} of {expected} updates without a lock.",
                                     "expected": expected, "final": value, "lost": expected - value})
    by_id = {id(e): e["seq"] for e in events}
    for e in events:
        if "overwrote" in e:
            e["overwrote"] = by_id[e["overwrote"]]
        if "_refs" in e:
            e["refs"] = [by_id[x] for x in e.pop("_refs")]
    return events
