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
            read the same value and both write value − 1: one decrement is lost. Here the worst \
            case is made to happen on every run: in each round every process reads the counter, \
            waits at a process-shared barrier until all have read, then writes — so each round \
            loses P − 1 of its P decrements, and summary.lost is D × (P − 1), by construction \
            (with one process nothing can be lost). With a process-shared lock (a robust pthread \
            mutex with PTHREAD_PROCESS_SHARED, like multiprocessing.Lock), the read and the write \
            happen under the lock and none are lost: the lock events come from every pid.
            """,
        parameters: [
            .integer("processes", 1...16, default: 4, "Processes decrementing the counter."),
            .integer("decrements", 1...10_000, default: 50, "Decrements each process makes."),
            .boolean("lock", default: false, "Hold a process-shared lock around each read-modify-write."),
        ],
        body: runSharedMemory
    )
}

private func runSharedMemory(_ run: RunContext) throws -> JSONObject {
    let processes = run.params.int("processes")
    let decrements = run.params.int("decrements")
    let locked = run.params.bool("lock")
    let main = run.main
    var layout = SharedMemory.Layout()
    let lockAt = layout.reserve(ProcessLock.size)
    let barrierAt = layout.reserve(ProcessBarrier.size)
    let counterAt = layout.reserve(SharedCounter.size)
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
    let arguments = ["--decrements", String(decrements), "--lock", String(locked), "--lock-at", String(lockAt),
                     "--barrier-at", String(barrierAt), "--counter-at", String(counterAt)]
    let children = try (1...processes).map { index in
        try supervisor.spawn(name: "process-\(index)", kind: "counter", arguments: arguments,
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
    let verdict = lost == 0
        ? "All \(initial) decrements by \(processes) process\(processes == 1 ? "" : "es") landed\(locked ? " under the process-shared lock" : "")\(processes == 1 && !locked ? " — one process cannot race itself" : ""): count ended at 0."
        : "Without a lock \(processes) processes lost \(lost) of \(initial) decrements: count ended at \(final) instead of 0."
    return [
        "verdict": .string(verdict), "processes": .int(processes), "decrements": .int(decrements), "lock": .bool(locked),
        "initial": .int(initial), "final": .int(final), "expected": .int(expected), "lost": .int(lost),
        "pids": JSONValue(children.map { Int($0.pid) }),
    ]
}

/// `counter`: decrements the shared counter `--decrements` times: under the lock,
/// or read / barrier / write / barrier so that every process reads the same value.
@Sendable func counterWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    guard let memory = worker.sharedMemory() else { return 5 }
    let lock = ProcessLock(at: memory.base + worker.int("lock-at"))
    let barrier = ProcessBarrier(at: memory.base + worker.int("barrier-at"))
    let counter = SharedCounter(at: memory.base + worker.int("counter-at"))
    let locked = worker.bool("lock")
    lane.start()
    for _ in 0..<worker.int("decrements") {
        if locked {
            if !lock.tryLock() {
                lane.emit("lock.wait", ["lock": "lock"])
                lock.lock()
            }
            lane.emit("lock.acquire", ["lock": "lock"])
            let value = counter.load()
            counter.store(value - 1)
            lane.emit("counter", ["name": "count", "value": .int(value - 1), "read": .int(value)])
            lane.emit("lock.release", ["lock": "lock"])
            lock.unlock()
        } else {
            let value = counter.load()
            barrier.wait()  // everyone has read the same value…
            counter.store(value - 1)
            lane.emit("counter", ["name": "count", "value": .int(value - 1), "read": .int(value)])
            barrier.wait()  // …and everyone has written value − 1.
        }
    }
    lane.end()
    withExtendedLifetime(memory) {}
    return 0
}
