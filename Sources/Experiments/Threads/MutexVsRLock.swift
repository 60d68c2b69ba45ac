import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// Taking one lock twice in one thread: Lock deadlocks itself, RLock counts depth.
    public static let mutexVsRLock = Experiment(
        id: "mutex-vs-rlock",
        title: "Mutex vs recursive lock",
        category: "Threads",
        summary: "One thread acquires the same lock `depth` times: a plain mutex deadlocks on the second acquire, a recursive lock counts depth.",
        lesson: """
            A mutex (threading.Lock) does not know who holds it: the second acquire in the same \
            thread waits for a release that only that thread could do (互斥锁在同一个线程中不能连续 \
            acquire 多次). The wait-for graph sees thread-1 waiting for a lock held by thread-1 — a \
            one-edge cycle — reports deadlock.detected, and releases the wait, so the run ends \
            deadlocked instead of hanging. A recursive lock (threading.RLock) remembers its owner and \
            counts: lock.acquire depth 1, 2, …, then lock.release depth …, 2, 1 in reverse; other \
            threads still wait until the count is back to zero.
            """,
        parameters: [
            .choice("kind", ["mutex", "recursive"], default: "mutex", "threading.Lock (mutex) or threading.RLock (recursive)."),
            .integer("depth", 2...10, default: 2, "How many times the thread acquires the lock before releasing."),
        ],
        body: runMutexVsRLock
    )
}

private func runMutexVsRLock(_ run: RunContext) throws -> JSONObject {
    let recursive = run.params.string("kind") == "recursive"
    let depth = run.params.int("depth")
    let detector = run.deadlockDetector
    let lock = TracedLock(recursive ? "rlock" : "lock", recursive: recursive, detector: detector)
    let reached = Atomic<Int>(0)
    run.main.log("\(lock.name) = threading.\(recursive ? "RLock" : "Lock")(); thread-1 acquires it \(depth) times")

    let thread = run.spawn("thread-1") { lane in
        for level in 1...depth {
            lane.log("\(lock.name).acquire()  # level \(level)")
            try lock.acquire(on: lane)
            reached.store(level, ordering: .sequentiallyConsistent)
        }
        lane.log("inside, at depth \(depth)")
        for _ in 1...depth { lock.release(on: lane) }
    }
    thread.join()
    let levels = reached.load(ordering: .sequentiallyConsistent)
    if let cycle = detector.detectedCycle {
        run.main.log("thread-1 waited for itself; the wait was cancelled and the thread unwound")
        run.main.insight("thread-1 already holds the lock (green) and asks for it again (red WAIT): it waits for a release only it could do — a deadlock with itself.",
                         refs: [run.firstSeq("lock.acquire", lane: "thread-1"), run.firstSeq("lock.wait", lane: "thread-1"), run.firstSeq("deadlock.detected")],
                         kind: .problem)
        return [
            "verdict": .string("The mutex deadlocked its own thread on acquire #\(levels + 1): detected as a \(cycle.count)-edge wait-for cycle and recovered."),
            "kind": .string(recursive ? "recursive" : "mutex"), "depth": .int(depth), "reached": .int(levels),
            "deadlocked": true, "cycle": .array(cycle.map { ["lane": .string($0.lane), "waitsFor": .string($0.waitsFor), "heldBy": .string($0.heldBy)] }),
        ]
    }
    try run.check()
    run.main.insight("One thread takes the recursive lock \(levels) times: each acquire nests one bar deeper, and the lock is free only after \(levels) releases.",
                     refs: run.recorded(["lock.acquire", "lock.release"], lane: "thread-1").map(\.seq), kind: .success)
    return [
        "verdict": .string("The recursive lock was taken \(levels) times by one thread (depth 1…\(levels)) and released in reverse without deadlock."),
        "kind": .string(recursive ? "recursive" : "mutex"), "depth": .int(depth), "reached": .int(levels),
        "deadlocked": false,
    ]
}
