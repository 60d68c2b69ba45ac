import Glibc
import JSON
import Primitives
import Tracing

extension Experiment {
    /// Starting 100 threads vs 100 processes (the seed's 多线程与多进程 timing).
    public static let spawnCost = Experiment(
        id: "spawn-cost",
        title: "Spawn cost: threads vs processes",
        category: "Processes",
        summary: "Start and join N threads that do nothing, then N processes that do nothing; compare the wall time.",
        lesson: """
            A thread is cheap to start: it shares its process's memory and only needs a stack. \
            A process needs its own address space, and here a whole program loaded and linked \
            (posix_spawn of the server's executable, like multiprocessing's spawn method). Compare \
            the two lanes' spans and summary.ratio: processes cost one to two orders of magnitude \
            more to start (开启一个线程所需要的时间要远远小于开启一个进程), which is why pools \
            keep their processes alive.
            """,
        parameters: [
            .integer("count", 1...500, default: 100, "Threads, then processes, to start and join."),
        ],
        body: runSpawnCost
    )
}

private func runSpawnCost(_ run: RunContext) throws -> JSONObject {
    let count = run.params.int("count")
    let main = run.main
    main.log("start and join \(count) threads, then \(count) processes; each only computes n + 1")
    let threadsStart = run.recorder.elapsedMicros
    let threadsBegin = main.phaseBegin("threads")
    main.emit("io.begin", ["op": .string("\(count) threads")])
    let threads = (1...count).map { index in run.spawn("thread-\(index)") { _ in blackHole(index + 1) } }
    for thread in threads { thread.join() }
    main.emit("io.end", ["op": .string("\(count) threads")])
    let threadsEnd = main.phaseEnd("threads")
    let threadsMs = milliseconds(since: threadsStart, run)
    try run.check()

    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let processesStart = run.recorder.elapsedMicros
    let processesBegin = main.phaseBegin("processes")
    main.emit("io.begin", ["op": .string("\(count) processes")])
    let died = try run.surviving(supervisor, {
        let children = try (1...count).map { index in
            try supervisor.spawn(name: "process-\(index)", kind: "noop", from: main)
        }
        for child in children { try supervisor.join(child, on: main) }
        return [:]
    }, onDeath: { _ in
        ("the processes timing is lost (\(count) threads had taken \(format(threadsMs)) ms)", ["threadsMs": .double(round1(threadsMs))])
    })
    if died["childDied"] != nil { return died }
    main.emit("io.end", ["op": .string("\(count) processes")])
    let processesEnd = main.phaseEnd("processes")
    let processesMs = milliseconds(since: processesStart, run)
    let ratio = threadsMs > 0 ? processesMs / threadsMs : 0
    let faster = ratio >= 1 ? "longer" : "shorter"
    main.insight("The processes band is \(format(ratio))× \(faster) than the threads band: \(format(processesMs * 1000 / Double(count))) µs per process against \(format(threadsMs * 1000 / Double(count))) µs per thread.",
                 refs: [threadsBegin, threadsEnd, processesBegin, processesEnd], kind: .timing)
    let verdict = "Starting and joining \(count) processes took \(Int(processesMs.rounded())) ms, \(format(ratio))× the \(format(threadsMs)) ms for \(count) threads."
    return [
        "verdict": .string(verdict), "count": .int(count),
        "threadsMs": .double(round1(threadsMs)), "processesMs": .double(round1(processesMs)),
        "ratio": .double(round1(ratio)),
        "perThreadUs": .double(round1(threadsMs * 1000 / Double(count))),
        "perProcessUs": .double(round1(processesMs * 1000 / Double(count))),
    ]
}
