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
            concurrency halve the wall time here.
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
    try job("a", on: main)
    try job("b", on: main)
    let sequentialMs = milliseconds(since: start, run)

    main.log("threads: Thread(target=work_a), Thread(target=work_b)")
    start = run.recorder.elapsedMicros
    let threads = ["a", "b"].map { name in run.spawn("thread-\(name)") { lane in try job(name, on: lane) } }
    for thread in threads { thread.join() }
    try run.check()
    let threadsMs = milliseconds(since: start, run)

    main.log("processes: Process(target=work_a), Process(target=work_b)")
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    start = run.recorder.elapsedMicros
    let children = try ["a", "b"].map { name in
        try supervisor.spawn(name: "process-\(name)", kind: "job",
                             arguments: ["--job", name, "--steps", String(steps), "--task-ms", String(taskMs)], from: main)
    }
    for child in children { try supervisor.join(child, on: main) }
    let processesMs = milliseconds(since: start, run)

    let verdict = "One after another took \(Int(sequentialMs)) ms; as two threads \(Int(threadsMs)) ms; as two processes \(Int(processesMs)) ms — concurrency halved the time, processes paid \(Int((processesMs - threadsMs).rounded())) ms more to start."
    return [
        "verdict": .string(verdict), "taskMs": .int(taskMs), "steps": .int(steps),
        "sequentialMs": .double(round1(sequentialMs)), "threadsMs": .double(round1(threadsMs)),
        "processesMs": .double(round1(processesMs)),
        "speedupThreads": .double(round1(sequentialMs / max(threadsMs, 0.001))),
        "speedupProcesses": .double(round1(sequentialMs / max(processesMs, 0.001))),
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
