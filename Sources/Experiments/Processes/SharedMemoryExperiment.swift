import CSystem
import Glibc
import JSON
import Primitives
import Tracing

extension Experiment {
    /// The Manager lesson: `dic['count'] -= 1` from many processes, with and without a lock.
    public static let sharedMemory = Experiment(
        id: "shared-memory",
        title: "Shared memory between processes",
        category: "Processes",
        summary: "P processes each decrement one counter in shared memory D times, with or without a process-shared lock.",
        lesson: """
            `count -= 1` is three steps: read, subtract, write. Without a lock, two processes can \
            read the same value and both write value − 1: one decrement is lost — its W marker is \
            drawn as lost, linked to the write it overwrote. With interleaving=forced (the \
            default) the worst case is made to happen on every run: in each round every process \
            reads the counter, waits at a process-shared barrier until all have read, then writes \
            — so each round loses P − 1 of its P decrements, and summary.lost is D × (P − 1), by \
            construction (with one process nothing can be lost). With interleaving=natural each \
            process reads, yields, and writes with nothing arranging who goes when, and the summary \
            reports what this run lost. This is raw shared memory; the notes' Manager — a server \
            process holding the dict — is the `manager` experiment. With a process-shared lock (a robust pthread \
            mutex with PTHREAD_PROCESS_SHARED, like multiprocessing.Lock), the read and the write \
            happen under the lock and none are lost: the lock events come from every pid.
            """,
        parameters: [
            .integer("processes", 1...64, default: 4, "Processes decrementing the counter."),
            .integer("decrements", 1...10_000, default: 50, "Decrements each process makes."),
            .boolean("lock", default: false, "Hold a process-shared lock around each read-modify-write."),
            .choice("interleaving", ["forced", "natural"], default: "forced",
                    "forced: every round, all processes read before any writes (a shared barrier); natural: read, yield, write — whatever the scheduler does."),
        ],
        body: runSharedMemory
    )
}

private func runSharedMemory(_ run: RunContext) throws -> JSONObject {
    let processes = run.params.int("processes")
    let decrements = run.params.int("decrements")
    let locked = run.params.bool("lock")
    let natural = run.params.string("interleaving") == "natural"
    let main = run.main
    var layout = SharedMemory.Layout()
    let lockAt = layout.reserve(ProcessLock.size)
    let barrierAt = layout.reserve(ProcessBarrier.size)
    let counterAt = layout.reserve(SharedCounter.size)
    let writerAt = layout.reserve(SharedCounter.size)
    let memory = try SharedMemory(size: layout.size)
    defer { withExtendedLifetime(memory) {} }
    ProcessLock(at: memory.base + lockAt).initialize()
    ProcessBarrier(at: memory.base + barrierAt).initialize(count: processes)
    let counter = SharedCounter(at: memory.base + counterAt)
    let initial = processes * decrements
    counter.store(initial)
    main.log("count = \(initial) in shared memory; \(processes) processes × \(decrements) decrements (count -= 1)\(locked ? " under a Lock" : " without a lock")")
    main.counter("count", initial)
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let arguments = ["--decrements", String(decrements), "--lock", String(locked), "--natural", String(natural),
                     "--writer-at", String(writerAt), "--lock-at", String(lockAt),
                     "--barrier-at", String(barrierAt), "--counter-at", String(counterAt)]
    let children = try (1...processes).map { index in
        try supervisor.spawn(name: "process-\(index)", kind: "counter", arguments: arguments + ["--index", String(index)],
                             fds: [(4, memory.fd)], from: main)
    }
    let died = try run.surviving(supervisor, {
        for child in children { try supervisor.join(child, on: main) }
        return [:]
    }, onDeath: { death in
        let value = counter.load()
        let writes = run.recorder.events.filter { $0.type == "counter" && $0.pid == death.child.pid }.count
        return ("it had made \(writes) of its \(decrements) decrements; count stands at \(value) of \(initial), and the other processes' unfinished decrements are lost with the run",
                ["processes": .int(processes), "decrements": .int(decrements), "lock": .bool(locked), "initial": .int(initial),
                 "final": .int(value)])
    })
    if died["childDied"] != nil { return died }
    let final = counter.load()
    main.counter("count", final)
    let expected = 0
    let lost = final - expected
    let events = run.recorder.events
    let marked = events.filter { $0.type == "var.write" && $0.fields["lost"] == true }
    let how = natural ? "with natural interleaving (nothing forced) this run" : "with forced interleaving (all read before any wrote, every round) the run"
    let verdict: String
    if lost == 0 {
        verdict = "All \(initial) decrements by \(processes) process\(processes == 1 ? "" : "es") landed\(locked ? " under the process-shared lock" : "")\(processes == 1 && !locked ? " — one process cannot race itself" : !locked ? " — \(natural ? "nothing was forced and no write overwrote another this time" : "")" : ""): count ended at 0."
    } else {
        verdict = "\(locked ? "Even with the lock" : "Without a lock"), \(how) lost \(lost) of \(initial) decrements across \(processes) processes: count ended at \(final) instead of 0."
    }
    if let first = marked.first {
        let read = events.last { $0.type == "var.read" && $0.pid == first.pid && $0.seq < first.seq }
        main.insight("\(first.lane) wrote \(first.fields["value"]?.intValue ?? 0) over another process's write: both had read the same count in their own address space's view of the shared page, so one decrement is lost.",
                     refs: [read?.seq, first.fields["overwrote"]?.intValue, first.seq], kind: .problem)
    } else if locked, let wait = events.first(where: { ($0.type == "lock.wait" || $0.type == "lock.acquire") && $0.pid != getpid() }) {
        main.insight("Every read and write happens under the process-shared lock, taken by each pid in turn: no write overwrites another.",
                     refs: [wait.seq], kind: .success)
    } else if let write = events.first(where: { $0.type == "var.write" }) {
        main.insight(processes == 1 ? "One process alone: each write follows its own read." : "No write landed between another process's read and write: nothing was overwritten this time.",
                     refs: [write.seq], kind: .info)
    }
    return [
        "verdict": .string(verdict), "processes": .int(processes), "decrements": .int(decrements), "lock": .bool(locked),
        "initial": .int(initial), "final": .int(final), "expected": .int(expected), "lost": .int(lost),
        "interleaving": .string(natural ? "natural" : "forced"), "overwrites": .int(marked.count),
        "pids": JSONValue(children.map { Int($0.pid) }),
    ]
}

/// `counter`: decrements the shared counter `--decrements` times: under the lock;
/// read / barrier / write / barrier so that every process reads the same value
/// (forced); or read / yield / write (natural). Each read and write is traced as
/// var.read / var.write; a write that finds another write landed since its read is
/// marked lost and names that write (by key, resolved to its seq by the parent).
@Sendable func counterWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    guard let memory = worker.sharedMemory() else { return 5 }
    let lock = ProcessLock(at: memory.base + worker.int("lock-at"))
    let barrier = ProcessBarrier(at: memory.base + worker.int("barrier-at"))
    let counter = SharedCounter(at: memory.base + worker.int("counter-at"))
    let lastWriter = SharedCounter(at: memory.base + worker.int("writer-at"))
    let locked = worker.bool("lock")
    let natural = worker.bool("natural")
    let index = worker.int("index")
    lane.start()

    func write(_ value: Int, round: Int) {
        let clean = counter.compareExchange(expected: value, desired: value - 1)
        if !clean { counter.store(value - 1) }
        let at = interleave_monotonic_ns()
        let previous = lastWriter.load()
        lastWriter.store(index * 1_000_000 + round + 1)
        var fields: JSONObject = ["var": "count", "value": .int(value - 1), "refKey": .string("p\(index)#\(round)")]
        if !clean {
            fields["lost"] = true
            if previous > 0 { fields["overwroteKey"] = .string("p\(previous / 1_000_000)#\(previous % 1_000_000 - 1)") }
        }
        lane.emit("var.write", atNs: at, fields)
        lane.emit("counter", atNs: at, ["name": "count", "value": .int(value - 1), "read": .int(value)])
    }

    for round in 0..<worker.int("decrements") {
        if locked {
            if !lock.tryLock() {
                lane.emit("lock.wait", ["lock": "lock"])
                _ = lock.lock()
            }
            lane.emit("lock.acquire", ["lock": "lock"])
            let value = counter.load()
            lane.emit("var.read", ["var": "count", "value": .int(value)])
            write(value, round: round)
            lane.emit("lock.release", ["lock": "lock"])
            lock.unlock()
        } else if natural {
            let value = counter.load()
            lane.emit("var.read", ["var": "count", "value": .int(value)])
            sched_yield()
            write(value, round: round)
        } else {
            let value = counter.load()
            lane.emit("var.read", ["var": "count", "value": .int(value)])
            barrier.wait()  // everyone has read the same value…
            write(value, round: round)
            barrier.wait()  // …and everyone has written value − 1.
        }
    }
    lane.end()
    withExtendedLifetime(memory) {}
    return 0
}
