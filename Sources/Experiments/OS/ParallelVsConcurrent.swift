import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// 并发 vs 并行: the same CPU work on one core (taking turns) and on several (side by side).
    public static let parallelVsConcurrent = Experiment(
        id: "parallel-vs-concurrent",
        title: "Parallel vs concurrent: one core or several",
        category: "OS",
        summary: "W workers each do workMs of CPU work, pinned with sched_setaffinity to `cpus` CPUs: on one they take turns, on two they run side by side.",
        lesson: """
            Concurrent (并发) is taking turns; parallel (并行) is at the same time. Every worker does \
            the same amount of CPU work (workMs of its own CPU time) and is pinned with \
            sched_setaffinity to one of `cpus` CPUs (worker i to the i-th, round robin). The strip under each lane is what the kernel did with \
            it, sampled every millisecond: running (on a CPU), ready (runnable, waiting for a CPU) \
            or blocked. On one CPU the running stretches of the workers never overlap: while one \
            runs the others are ready, the kernel switches between them (involuntary context \
            switches), and the wall time is about the sum of their CPU times. On two CPUs the \
            cores view shows two workers on two cores at the same moment and the wall time drops \
            towards the longest worker's. Threads and processes behave alike here: the kernel \
            schedules threads, and a process is one more thread to it.
            """,
        parameters: [
            .integer("workers", 1...16, default: 2, "Workers doing the same CPU-bound work."),
            .integer("cpus", 1...CPU.configuredCount, default: 1, "CPUs the workers are pinned to (sched_setaffinity)."),
            .choice("backend", ["threads", "processes"], default: "threads", "Workers as threads of the server or as child processes."),
            .integer("workMs", 10...2000, default: 300, "CPU time each worker works, measured on its own CPU clock."),
        ],
        body: runParallelVsConcurrent
    )
}

/// One worker's report: what it measured on itself.
private struct WorkerReport {
    var lane: String
    var cpuMs: Double
    var voluntary: Int
    var involuntary: Int
    var startSeq: Int?
    var endSeq: Int?
    var endUs: Int64
}

private func runParallelVsConcurrent(_ run: RunContext) throws -> JSONObject {
    let workers = run.params.int("workers")
    let workMs = run.params.int("workMs")
    let backend = run.params.string("backend")
    let allowed = CPU.allowed()
    let chosen = Array(allowed.suffix(min(run.params.int("cpus"), allowed.count)))
    let main = run.main
    let cpuList = chosen.map(String.init).joined(separator: ", ")
    if chosen.count < run.params.int("cpus") {
        main.log("only \(allowed.count) CPU(s) allowed here: using \(chosen.count)")
    }
    main.log("\(workers) \(backend == "threads" ? "threads" : "processes") each do \(workMs) ms of CPU work, pinned to CPU \(cpuList)")

    var reports: [WorkerReport] = []
    var startUs: Int64 = 0
    var releaseSeq: Int?
    try main.phase("\(workers) workers on \(chosen.count) CPU\(chosen.count == 1 ? "" : "s")") {
        if backend == "threads" {
            (reports, startUs, releaseSeq) = try runThreads(run, workers: workers, workMs: workMs, cpus: chosen)
        } else {
            (reports, startUs, releaseSeq) = try runProcesses(run, workers: workers, workMs: workMs, cpus: chosen)
        }
    }
    try run.check()
    let endUs = reports.map(\.endUs).max() ?? startUs
    let wallMs = Double(endUs - startUs) / 1000
    let cpuMs = reports.reduce(0) { $0 + $1.cpuMs }
    let longestMs = reports.map(\.cpuMs).max() ?? 0
    let speedup = wallMs > 0 ? cpuMs / wallMs : 0

    // What the kernel did, from the sampler: exact schedstat figures per worker and the
    // proof (CPU clocks advancing faster than the wall clock) of running at once.
    run.sched.settle()
    let lanes = Set(reports.map(\.lane))
    let parallel = run.sched.parallelism(of: lanes, sinceNs: run.recorder.startNs + UInt64(max(startUs, 0)) * 1000)
    let overlapMs = Double(parallel.provenOverlapNs) / 1_000_000
    var perWorker: [JSONValue] = []
    var waitMs = 0.0
    var cpusUsed = Set<Int>()
    for report in reports {
        let figures = run.sched.figures(of: report.lane)
        waitMs += figures.map { Double($0.waitNs) / 1_000_000 } ?? 0
        cpusUsed.formUnion(figures?.cpus ?? [])
        var object: JSONObject = [
            "lane": .string(report.lane), "cpuMs": .double(round1(report.cpuMs)),
            "voluntarySwitches": .int(report.voluntary), "involuntarySwitches": .int(report.involuntary),
        ]
        if let figures {
            object["waitMs"] = .double(round1(Double(figures.waitNs) / 1_000_000))
            object["cpus"] = .array(figures.cpus.sorted().map(JSONValue.int))
        }
        perWorker.append(.object(object))
    }
    let involuntary = reports.reduce(0) { $0 + $1.involuntary }
    let voluntary = reports.reduce(0) { $0 + $1.voluntary }
    let events = run.recorder.events
    let turns = turnTaking(events, lanes: lanes, after: releaseSeq ?? 0)
    // A thread worker that saw another make progress while it ran without a break.
    let witnesses = events.filter { $0.type == "log" && $0.fields["op"]?.stringValue == "witness" && lanes.contains($0.lane) }
    // Processes: their clocks lag a tick, so the evidence is the samples catching two of
    // them running on two different CPUs in the same window.
    let twoCpus = backend == "processes" && parallel.windowsRunningOnTwoCpus > 0
    let parallelSeen = overlapMs >= 1 || !witnesses.isEmpty || twoCpus

    // Insights: what the picture shows, pointing at it.
    if workers >= 2 {
        if parallelSeen {
            let how = overlapMs >= 1
                ? "together their CPU clocks ran \(fmt(overlapMs)) ms ahead of the wall clock, which only two cores at once can do"
                : witnesses.isEmpty
                ? "\(parallel.windowsRunningOnTwoCpus) samples caught two of them running on two CPUs"
                : "\(witnesses[0].lane) saw \(witnesses[0].fields["other"]?.stringValue ?? "another worker") make progress while it ran without a break"
            main.insight("""
                Side by side: on \(chosen.count) CPUs the workers were running at the same moment — \(how). \
                The cores view shows them on different CPUs at once.
                """, refs: [parallel.firstOverlapSeq ?? parallel.firstTwoCpuSeq, witnesses.first?.seq] + reports.map(\.startSeq),
                kind: .success)
        } else if chosen.count == 1 {
            main.insight("""
                Taking turns: on one CPU only one worker's strip is running at any moment; while it runs \
                the others are ready (runnable) and wait for the CPU — \(fmt(waitMs)) ms of waiting in all.
                """, refs: [turns.running, turns.waiting], kind: .order)
        }
        main.insight("""
            Wall time \(fmt(wallMs)) ms for \(fmt(cpuMs)) ms of CPU work in all (the longest worker \
            \(fmt(longestMs)) ms): \(speedup >= 1.2 ? "the work overlapped, a speedup of \(fmt(speedup))×" : "about the sum — no speedup (\(fmt(speedup))×)").
            """, refs: reports.map(\.startSeq) + reports.map(\.endSeq), kind: .timing)
        if let busiest = reports.max(by: { $0.involuntary < $1.involuntary }), busiest.involuntary > 0 {
            main.insight("""
                \(busiest.lane) was switched off its CPU \(busiest.involuntary) times against its will \
                (involuntary context switches: its time slice ran out or another thread was due) and \
                \(busiest.voluntary) times by itself.
                """, refs: [busiest.endSeq], kind: .info)
        }
    } else {
        main.insight("One worker: nothing to take turns with, so it ran whenever it was ready; wall \(fmt(wallMs)) ms for \(fmt(cpuMs)) ms of CPU.",
                     refs: reports.map(\.endSeq), kind: .timing)
    }

    let verdict: String
    if workers == 1 {
        verdict = "One worker did \(fmt(cpuMs)) ms of CPU work in \(fmt(wallMs)) ms of wall time; there was nothing to run in parallel."
    } else if parallelSeen {
        verdict = "Parallel: on \(chosen.count) CPUs the \(workers) workers ran at the same time\(overlapMs >= 1 ? " (at least \(fmt(overlapMs)) ms overlapped)" : "") and did \(fmt(cpuMs)) ms of CPU work in \(fmt(wallMs)) ms of wall time (speedup \(fmt(speedup))×)\(speedup < 1 ? "; the busy machine made them wait \(fmt(waitMs)) ms for a CPU" : "")."
    } else if wallMs >= cpuMs * 0.9 {
        verdict = "Concurrent, not parallel: on \(chosen.count) CPU\(chosen.count == 1 ? "" : "s") the \(workers) workers took turns — \(fmt(wallMs)) ms of wall time for \(fmt(cpuMs)) ms of CPU work, never two running at once, with \(involuntary) involuntary context switches."
    } else {
        verdict = "The \(workers) workers did \(fmt(cpuMs)) ms of CPU work in \(fmt(wallMs)) ms on \(chosen.count) CPUs, but the samples never caught two of them running at once."
    }
    return [
        "verdict": .string(verdict), "workers": .int(workers), "backend": .string(backend),
        "workMs": .int(workMs), "pinnedTo": .array(chosen.map(JSONValue.int)), "allowedCpus": .int(allowed.count),
        "wallMs": .double(round1(wallMs)), "cpuMs": .double(round1(cpuMs)), "longestCpuMs": .double(round1(longestMs)),
        "speedup": .double((speedup * 100).rounded() / 100), "parallelMs": .double(round1(overlapMs)),
        "witnessedParallel": .int(Set(witnesses.map(\.lane)).count),
        "samplesOnTwoCpus": .int(parallel.windowsRunningOnTwoCpus),
        "waitForCpuMs": .double(round1(waitMs)), "cpusUsed": .array(cpusUsed.sorted().map(JSONValue.int)),
        "contextSwitches": ["voluntary": .int(voluntary), "involuntary": .int(involuntary)],
        "perWorker": .array(perWorker),
    ]
}

private func fmt(_ value: Double) -> String {
    value >= 100 ? String(Int(value.rounded())) : String((value * 10).rounded() / 10)
}

/// The first moment the strips show taking turns: a worker running (seq) and, after it,
/// another worker ready but waiting (seq).
private func turnTaking(_ events: [TraceEvent], lanes: Set<String>, after: Int) -> (running: Int?, waiting: Int?) {
    var running: [String: Int] = [:]
    for event in events where event.seq > after && event.type == "sched.state" && lanes.contains(event.lane) {
        let state = event.fields["state"]?.stringValue
        if state == "running" {
            running[event.lane] = event.seq
        } else {
            running[event.lane] = nil
            if state == "runnable", let other = running.first(where: { $0.key != event.lane }) {
                return (other.value, event.seq)
            }
        }
    }
    return (nil, nil)
}

// MARK: Threads

private func runThreads(_ run: RunContext, workers: Int, workMs: Int, cpus: [Int])
    throws -> ([WorkerReport], Int64, Int?)
{
    let gate = StartGate(control: run.control)
    let reports = Mutex<[WorkerReport]>([])
    let progress = Progress(workers: workers)
    var threads: [TracedThread] = []
    for index in 1...workers {
        let cpu = cpus[(index - 1) % cpus.count]
        threads.append(run.spawn("worker-\(index)") { lane in
            let error = CPU.pin(to: [cpu])
            lane.log(error == 0 ? "sched_setaffinity → CPU \(cpu)" : "sched_setaffinity failed: \(String(cString: strerror(error)))")
            try gate.arrive()
            let switches = CPU.contextSwitches()
            let cpu0 = CPU.threadTimeNs
            let startSeq = lane.emit("task.start", ["task": .int(index), "pinnedCpu": .int(cpu)])
            var witnessed = false
            try progress.work(index - 1, ms: Double(workMs), check: { () throws(RunInterrupted) in try run.check() },
                              witness: { other in
                                  if !witnessed {
                                      witnessed = true
                                      lane.emit("log", [
                                          "message": .string("saw worker-\(other + 1) make progress while I ran without a break: we ran at the same time"),
                                          "op": "witness", "other": .string("worker-\(other + 1)"),
                                      ])
                                  }
                              })
            let cpuMs = Double(CPU.threadTimeNs - cpu0) / 1_000_000
            let after = CPU.contextSwitches()
            let report = WorkerReport(lane: lane.name, cpuMs: cpuMs, voluntary: after.voluntary - switches.voluntary,
                                      involuntary: after.involuntary - switches.involuntary, startSeq: startSeq,
                                      endSeq: nil, endUs: 0)
            let endSeq = lane.emit("task.end", ["task": .int(index), "result": result(report)])
            var done = report
            done.endSeq = endSeq
            done.endUs = run.recorder.elapsedMicros
            reports.withLock { $0.append(done) }
        })
    }
    try gate.waitForAll(workers, on: run.main)
    let startUs = run.recorder.elapsedMicros
    let releaseSeq = run.main.emit("log", ["message": .string("go: all \(workers) workers start their work now")])
    gate.open()
    for thread in threads { thread.join() }
    try run.check()
    return (reports.withLock { $0 }.sorted { $0.lane.compare($1.lane) }, startUs, releaseSeq)
}

private func result(_ report: WorkerReport) -> JSONValue {
    ["cpuMs": .double(round1(report.cpuMs)), "voluntarySwitches": .int(report.voluntary),
     "involuntarySwitches": .int(report.involuntary)]
}

extension String {
    /// worker-2 before worker-10.
    fileprivate func compare(_ other: String) -> Bool {
        (count, self) < (other.count, other)
    }
}

/// Workers arrive, the main lane waits for all of them, then lets them go at once.
private final class StartGate: Sendable {
    private let monitor: Monitor
    private let state = Mutex((arrived: 0, open: false))

    init(control: RunControl) { monitor = Monitor(control: control) }

    func arrive() throws(RunInterrupted) {
        state.withLock { $0.arrived += 1 }
        monitor.lockAndBroadcast()
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: { state.withLock { $0.open } })
        }
    }

    func waitForAll(_ count: Int, on lane: Lane) throws(RunInterrupted) {
        lane.emit("io.begin", ["op": .string("wait for \(count) workers to be pinned")])
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: { state.withLock { $0.arrived } >= count })
        }
        lane.emit("io.end", ["op": .string("wait for \(count) workers to be pinned")])
    }

    func open() {
        state.withLock { $0.open = true }
        monitor.lockAndBroadcast()
    }
}

// MARK: Processes

private func runProcesses(_ run: RunContext, workers: Int, workMs: Int, cpus: [Int])
    throws -> ([WorkerReport], Int64, Int?)
{
    let main = run.main
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let latch = ReadyLatch(control: run.control)
    var children: [ChildProcess] = []
    for index in 1...workers {
        children.append(try supervisor.spawn(
            name: "worker-\(index)", kind: "cpu-work",
            arguments: ["--task", String(index), "--work-ms", String(workMs), "--cpus", String(cpus[(index - 1) % cpus.count])],
            input: true, from: main, onMessage: latch.handler))
    }
    try latch.wait(for: workers, on: main)
    let startUs = run.recorder.elapsedMicros
    let releaseSeq = main.emit("log", ["message": .string("go: all \(workers) workers start their work now")])
    for child in children { child.send(["go": true]) }
    for child in children { try supervisor.join(child, on: main) }
    supervisor.shutdown(on: main)
    // The children measured themselves and said so in their task.end.
    var reports: [WorkerReport] = []
    let events = run.recorder.events
    for child in children {
        guard let start = events.first(where: { $0.lane == child.lane && $0.type == "task.start" }),
              let end = events.first(where: { $0.lane == child.lane && $0.type == "task.end" }),
              let result = end.fields["result"]?.objectValue
        else { continue }
        reports.append(WorkerReport(
            lane: child.lane, cpuMs: result["cpuMs"]?.doubleValue ?? 0,
            voluntary: result["voluntarySwitches"]?.intValue ?? 0,
            involuntary: result["involuntarySwitches"]?.intValue ?? 0,
            startSeq: start.seq, endSeq: end.seq, endUs: end.ts))
    }
    return (reports, startUs, releaseSeq)
}

/// `cpu-work`: the child of `parallel-vs-concurrent`: pins itself, says it is ready,
/// waits for "go", then does `--work-ms` of CPU work and reports what it measured.
@Sendable func cpuWorkWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    let task = worker.int("task")
    let cpus = (worker.options["cpus"] ?? "").split(separator: ",").compactMap { Int($0) }
    lane.start()
    let error = cpus.isEmpty ? 0 : CPU.pin(to: cpus)
    lane.log(error == 0 ? "sched_setaffinity → CPU \(cpus.map(String.init).joined(separator: ", "))"
        : "sched_setaffinity failed: \(String(cString: strerror(error)))")
    lane.trace.send(["ctl": "ready"])
    guard Worker.LineReader().next() != nil else {
        lane.end()
        return 0
    }
    let switches = CPU.contextSwitches()
    let cpu0 = CPU.threadTimeNs
    lane.emit("task.start", ["task": .int(task), "pinnedCpu": .int(cpus.first ?? -1)])
    CPU.work(ms: Double(worker.int("work-ms"))) {}
    let after = CPU.contextSwitches()
    let report = WorkerReport(lane: lane.name, cpuMs: Double(CPU.threadTimeNs - cpu0) / 1_000_000,
                              voluntary: after.voluntary - switches.voluntary,
                              involuntary: after.involuntary - switches.involuntary,
                              startSeq: nil, endSeq: nil, endUs: 0)
    lane.emit("task.end", ["task": .int(task), "result": result(report)])
    lane.end()
    return 0
}

/// Each thread worker's progress counter, and the witness of parallelism: a worker that
/// ran without a break (its CPU clock kept pace with the wall clock, to within 5 µs) while
/// another worker's counter went up twice — which takes that worker at least one full chunk
/// of CPU time, far more than 5 µs — saw the two run at the same moment on two CPUs. On one
/// CPU this cannot happen, whatever the load.
private final class Progress: Sendable {
    private let counters: [Counter]
    final class Counter: Sendable { let value = Atomic<Int>(0) }

    init(workers: Int) { counters = (0..<workers).map { _ in Counter() } }

    func work<E: Error>(_ me: Int, ms: Double, check: () throws(E) -> Void, witness: (Int) -> Void) throws(E) {
        let budget = Int64(ms * 1_000_000)
        let start = CPU.threadTimeNs
        var x: UInt64 = 0x9E37_79B9
        var cpuNow = start
        while cpuNow - start < budget {
            let wall0 = interleave_monotonic_ns()
            let cpu0 = CPU.threadTimeNs
            let before = counters.map { $0.value.load(ordering: .sequentiallyConsistent) }
            for _ in 0..<8 {
                for _ in 0..<20_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
                counters[me].value.add(1, ordering: .sequentiallyConsistent)
            }
            let after = counters.map { $0.value.load(ordering: .sequentiallyConsistent) }
            cpuNow = CPU.threadTimeNs
            let wall1 = interleave_monotonic_ns()
            if Int64(wall1 - wall0) - (cpuNow - cpu0) < 5_000 {
                for other in counters.indices where other != me && after[other] - before[other] >= 2 { witness(other) }
            }
            try check()
        }
        blackHole(x)
    }
}
