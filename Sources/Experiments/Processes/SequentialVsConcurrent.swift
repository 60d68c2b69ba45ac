import Glibc
import JSON
import Primitives
import Tracing

extension Experiment {
    /// The seed's work_a / work_b: 6 s one after another, 3 s side by side.
    public static let sequentialVsConcurrent = Experiment(
        id: "sequential-vs-concurrent",
        title: "Sequential vs threads vs processes",
        category: "Processes",
        summary: "Two jobs of `steps` × `taskMs` run one after another, then as two threads, then as two processes.",
        lesson: """
            The same two jobs (print, sleep, three times each) take twice as long one after \
            another as side by side: the seed measured 6 s against 3 s. As threads they share the \
            server's pid; as processes each has its own pid (os.getpid() differs) and pays a few \
            milliseconds to start. While a job sleeps it needs no CPU, so both kinds of \
            concurrency about halve the wall time when the steps are long; with very short steps \
            (taskMs 10) the cost of starting a process is a large part of the time, and the \
            summary's speedups say how much was really saved.
            """,
        parameters: [
            .integer("taskMs", 10...5000, default: 300, "How long each step sleeps."),
            .integer("steps", 1...20, default: 3, "Steps in each job."),
        ],
        body: runSequentialVsConcurrent
    )
}

private func runSequentialVsConcurrent(_ run: RunContext) throws -> JSONObject {
    let taskMs = run.params.int("taskMs")
    let steps = run.params.int("steps")
    let main = run.main
    @Sendable func job(_ name: String, on lane: Lane) throws {
        for step in 0..<steps {
            lane.log("\(step) \(name) pid \(getpid())")
            try run.sleep(ms: taskMs, on: lane)
        }
    }

    main.log("sequential: work_a(); work_b()")
    var start = run.recorder.elapsedMicros
    let sequentialBegin = main.phaseBegin("sequential")
    try job("a", on: main)
    try job("b", on: main)
    let sequentialEnd = main.phaseEnd("sequential")
    let sequentialMs = milliseconds(since: start, run)

    main.log("threads: Thread(target=work_a), Thread(target=work_b)")
    start = run.recorder.elapsedMicros
    let threadsBegin = main.phaseBegin("threads")
    let threads = ["a", "b"].map { name in run.spawn("thread-\(name)") { lane in try job(name, on: lane) } }
    for thread in threads { thread.join() }
    try run.check()
    let threadsEnd = main.phaseEnd("threads")
    let threadsMs = milliseconds(since: start, run)

    main.log("processes: Process(target=work_a), Process(target=work_b)")
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    start = run.recorder.elapsedMicros
    let processesBegin = main.phaseBegin("processes")
    var children: [ChildProcess] = []
    let died = try run.surviving(supervisor, {
        children = try ["a", "b"].map { name in
            try supervisor.spawn(name: "process-\(name)", kind: "job",
                                 arguments: ["--job", name, "--steps", String(steps), "--task-ms", String(taskMs)], from: main)
        }
        for child in children { try supervisor.join(child, on: main) }
        return [:]
    }, onDeath: { death in
        let done = run.recorder.events.filter { $0.pid == death.child.pid && $0.type == "io.end" }.count
        return ("it had done \(done) of its \(steps) steps, so the processes timing is lost (sequential took \(Int(sequentialMs)) ms, threads \(Int(threadsMs)) ms)",
                ["sequentialMs": .double(round1(sequentialMs)), "threadsMs": .double(round1(threadsMs))])
    })
    if died["childDied"] != nil { return died }
    let processesEnd = main.phaseEnd("processes")
    let processesMs = milliseconds(since: start, run)

    // Rounded once, so the verdict's words and the summary's figures are the same numbers.
    let speedupThreads = round1(sequentialMs / max(threadsMs, 0.001))
    let speedupProcesses = round1(sequentialMs / max(processesMs, 0.001))
    func describe(_ speedup: Double) -> String {
        speedup >= 1.8 ? "about halved the time (\(format(speedup))×)"
            : speedup >= 1.1 ? "cut the time by only \(format(speedup))×"
            : speedup > 0.9 ? "saved nothing (\(format(speedup))×)" : "was slower (\(format(speedup))×)"
    }
    let extra = processesMs - threadsMs
    let verdict = "One after another took \(Int(sequentialMs)) ms; two threads \(describe(speedupThreads)) at \(Int(threadsMs)) ms; two processes \(describe(speedupProcesses)) at \(Int(processesMs)) ms, \(extra >= 0 ? "\(Int(extra.rounded())) ms more than threads" : "\(Int((-extra).rounded())) ms less than threads")."
    // Whether the two jobs' sleeps really overlapped, as this run's trace has them: a
    // child's start is an exec of the server binary, which a loaded machine can delay
    // past the other job's whole length.
    let events = run.recorder.events
    let threadsOverlapMs = jobOverlapMs(events, "thread-a", "thread-b")
    let processesOverlapMs = jobOverlapMs(events, "process-a", "process-b")
    func overlapWords(_ kind: String, _ ms: Double?) -> String {
        guard let ms, ms > 0 else { return "as \(kind) they did not overlap at all" }
        return "as \(kind) they overlapped for \(Int(ms.rounded())) ms"
    }
    let bothOverlap = (threadsOverlapMs ?? 0) > 0 && (processesOverlapMs ?? 0) > 0
    let slowest = min(speedupThreads, speedupProcesses)
    let bands = !bothOverlap ? "so a band without overlap is no shorter"
        : slowest >= 1.8 ? "so those bands are about half as long"
        : slowest >= 1.1 ? "so those bands are shorter, though not half"
        : "yet the \(speedupProcesses <= speedupThreads ? "processes" : "threads") band is no shorter (\(format(slowest))×): starting them cost more than the overlap saved"
    main.insight("The same two jobs: one after another they fill the sequential band end to end; \(overlapWords("threads", threadsOverlapMs)) and \(overlapWords("processes", processesOverlapMs)), \(bands) (\(Int(sequentialMs)) / \(Int(threadsMs)) / \(Int(processesMs)) ms).",
                 refs: [sequentialBegin, sequentialEnd, threadsBegin, threadsEnd, processesBegin, processesEnd], kind: .timing)
    if let spawn = run.recorder.events.first(where: { $0.type == "process.spawn" }),
       let first = run.recorder.events.first(where: { $0.type == "lane.start" && $0.pid != getpid() }) {
        main.insight("A process pays to start: \(format(Double(first.ts - spawn.ts) / 1000)) ms from the spawn to the child's first event, and its pid (\(first.pid)) is not the server's (\(getpid())).",
                     refs: [spawn.seq, first.seq], kind: .timing)
    }
    return [
        "verdict": .string(verdict), "taskMs": .int(taskMs), "steps": .int(steps),
        "sequentialMs": .double(round1(sequentialMs)), "threadsMs": .double(round1(threadsMs)),
        "processesMs": .double(round1(processesMs)),
        "threadsOverlapMs": .double(round1(max(threadsOverlapMs ?? 0, 0))), "processesOverlapMs": .double(round1(max(processesOverlapMs ?? 0, 0))),
        "speedupThreads": .double(round1(speedupThreads)),
        "speedupProcesses": .double(round1(speedupProcesses)),
    ]
}

/// `job`: the seed's work_a / work_b in a child: print, sleep, `--steps` times.
@Sendable func jobWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    let name = worker.options["job"] ?? "a"
    lane.start()
    for step in 0..<worker.int("steps") {
        lane.log("\(step) \(name) pid \(getpid())")
        worker.sleep(ms: worker.int("task-ms"))
    }
    lane.end()
    return 0
}

/// How long two jobs' sleeps overlapped, in ms (0 or less: not at all): each job's span
/// runs from its lane's first io.begin to its last io.end. Nil when a job left no sleeps.
func jobOverlapMs(_ events: [TraceEvent], _ laneA: String, _ laneB: String) -> Double? {
    func span(_ prefix: String) -> (Int64, Int64)? {
        let sleeps = events.filter { $0.lane.hasPrefix(prefix) && ($0.type == "io.begin" || $0.type == "io.end") }
        guard let first = sleeps.first, let last = sleeps.last else { return nil }
        return (first.ts, last.ts)
    }
    guard let a = span(laneA), let b = span(laneB) else { return nil }
    return Double(min(a.1, b.1) - max(a.0, b.0)) / 1000
}
