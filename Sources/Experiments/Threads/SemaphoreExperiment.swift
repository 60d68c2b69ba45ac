import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// threading.Semaphore(K) shared by N workers.
    public static let semaphore = Experiment(
        id: "semaphore",
        title: "Semaphore: K permits",
        category: "Threads",
        summary: "N workers share K permits: never more than K hold one at a time; the rest wait in sem.wait.",
        lesson: """
            A semaphore is a counter of permits. sem.acquire takes one (available drops), \
            sem.release gives it back (available rises) and hands it, with a flow arrow, to a \
            waiting worker. The permits counter never goes below zero, so never more than K \
            workers are inside at once — a lock is the special case K = 1. Unlike a lock, a \
            semaphore has no owner: any thread may release a permit.
            """,
        parameters: [
            .integer("permits", 1...16, default: 2, "Permits (K): how many workers may hold one at once."),
            .integer("workers", 1...64, default: 5, "Workers (N) that each acquire a permit once."),
            .integer("holdMs", 0...10_000, default: 200, "How long each worker holds its permit, in milliseconds."),
        ],
        body: runSemaphore
    )
}

private func runSemaphore(_ run: RunContext) throws -> JSONObject {
    let permits = run.params.int("permits")
    let workers = run.params.int("workers")
    let holdMs = run.params.int("holdMs")
    let detector = run.deadlockDetector
    let semaphore = TracedSemaphore("permits", permits: permits, detector: detector)
    let inside = Atomic<Int>(0)
    let peak = Atomic<Int>(0)
    // All workers reach for a permit together, so the ones beyond K really wait.
    let start = Rendezvous(parties: workers, control: run.control)
    run.main.log("sem = threading.Semaphore(\(permits)); \(workers) workers")
    run.main.counter("permits", permits)

    var threads: [TracedThread] = []
    for index in 1...workers {
        threads.append(run.spawn("worker-\(index)") { lane in
            try start.arrive()
            try semaphore.acquire(on: lane)
            let now = inside.add(1, ordering: .sequentiallyConsistent).newValue
            peak.max(now, ordering: .sequentiallyConsistent)
            lane.counter("holders", now)
            defer {
                let left = inside.subtract(1, ordering: .sequentiallyConsistent).newValue
                lane.counter("holders", left)
                semaphore.release(on: lane)
            }
            try run.sleep(ms: holdMs, on: lane)
        })
    }
    for thread in threads { thread.join() }
    try run.check()
    let most = peak.load(ordering: .sequentiallyConsistent)
    let waits = run.recorded(["sem.wait"])
    if let wait = waits.first,
       let got = run.recorded(["sem.acquire"], lane: wait.lane, where: { $0.seq > wait.seq }).first {
        let release = got.flow.flatMap { flow in run.recorded(["sem.release"]) { $0.flow == flow }.first }
        run.main.insight("Only \(permits) workers hold a permit at once: \(wait.lane) waits (amber) until \(release?.lane ?? "a holder") releases one, and the arrow hands it over.",
                         refs: [wait.seq, release?.seq, got.seq], kind: .timing)
    } else {
        run.main.insight("\(workers) workers, \(permits) permits: nobody had to wait for a permit.",
                         refs: run.recorded(["sem.acquire"]).map(\.seq), kind: .info)
    }
    return [
        "verdict": .string("\(workers) workers shared \(permits) permits: at most \(most) held one at the same time, never more than \(permits)."),
        "permits": .int(permits), "workers": .int(workers), "peakHolders": .int(most),
    ]
}
