import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// counter += 1 from several threads, with and without a lock (the seed's lost updates).
    public static let raceCondition = Experiment(
        id: "race-condition",
        title: "Race condition: lost updates",
        category: "Threads",
        summary: "W threads each add 1 to one shared counter N times by read-modify-write; without a lock updates are lost.",
        lesson: """
            counter += 1 is three steps: read the value, add one, write it back. Without a lock, \
            another thread can read the same old value before this one writes, and one of the two \
            updates is lost. Here the window is widened by construction: in the traced rounds every \
            worker reads (log op=read), then all hand off to each other before anyone writes, so each \
            round of W increments gains only 1 — summary.final falls short of summary.expected on \
            every run. With lock=true the read and the write happen inside lock.acquire/lock.release, \
            the workers queue on lock.wait, and final == expected (锁保证了非原子操作的数据安全). \
            Rounds after the traced ones run untraced (with a yield between read and write) and are \
            only counted, so large runs stay small.
            """,
        parameters: [
            .integer("workers", 1...32, default: 4, "Threads incrementing the shared counter."),
            .integer("increments", 1...100_000, default: 100, "Increments per thread."),
            .boolean("lock", default: false, "Hold a lock around each read-modify-write."),
            .integer("tracedRounds", 1...1000, default: 5,
                     "Rounds traced in detail (read, hand-off, write, lock events); later rounds are only counted."),
        ],
        body: runRaceCondition
    )
}

private func runRaceCondition(_ run: RunContext) throws -> JSONObject {
    let workers = run.params.int("workers")
    let increments = run.params.int("increments")
    let useLock = run.params.bool("lock")
    // Under a controlled schedule every round is traced: each read and write is a
    // scheduling point, and the schedule (not a hand-off) decides who interleaves.
    let controlled = run.control.schedule != nil
    let tracedRounds = controlled ? increments : min(run.params.int("tracedRounds"), increments)
    let expected = workers * increments
    let counter = Atomic<Int>(0)
    let meet = Rendezvous(parties: workers, control: run.control)
    let detector = run.deadlockDetector
    let lock = TracedLock("counter-lock", detector: detector)
    run.main.log("counter = 0; \(workers) threads each do counter += 1 \(increments) times\(useLock ? " with lock" : ", no lock")")
    run.main.counter("counter", 0)

    @Sendable func read(_ lane: Lane, traced: Bool) -> Int {
        let value = counter.load(ordering: .sequentiallyConsistent)
        if traced { lane.emit("log", ["message": .string("read counter = \(value)"), "op": "read", "value": .int(value)]) }
        return value
    }
    @Sendable func write(_ value: Int, _ lane: Lane, traced: Bool) {
        counter.store(value, ordering: .sequentiallyConsistent)
        if traced {
            lane.emit("log", ["message": .string("write counter = \(value)"), "op": "write", "value": .int(value)])
            lane.counter("counter", value)
        }
    }

    var threads: [TracedThread] = []
    for index in 1...workers {
        threads.append(run.spawn("worker-\(index)") { lane in
            for round in 0..<increments {
                let traced = round < tracedRounds
                if round % 1024 == 0 { try run.check() }
                if useLock {
                    // Traced rounds start together, so the lock really is contended.
                    if traced, !controlled { try meet.arrive() }
                    try lock.acquire(on: lane, traced: traced)
                    let value = read(lane, traced: traced)
                    if traced { sched_yield() }  // widening the window changes nothing under the lock
                    write(value + 1, lane, traced: traced)
                    lock.release(on: lane, traced: traced)
                } else if controlled {
                    try run.control.point(lane, "read", "counter")
                    let value = read(lane, traced: true)
                    try run.control.point(lane, "write", "counter")
                    write(value + 1, lane, traced: true)
                } else if traced {
                    let value = read(lane, traced: true)
                    try meet.arrive()  // everyone has read the same value before anyone writes
                    write(value + 1, lane, traced: true)
                    try meet.arrive()  // everyone has written before the next round reads
                } else {
                    let value = read(lane, traced: false)
                    sched_yield()
                    write(value + 1, lane, traced: false)
                }
            }
        })
    }
    for thread in threads { thread.join() }
    try run.check()
    let final = counter.load(ordering: .sequentiallyConsistent)
    run.main.counter("counter", final)
    let lost = expected - final
    let verdict: String
    if useLock {
        verdict = lost == 0
            ? "With the lock all \(expected) updates landed: final \(final) == expected \(expected)."
            : "Even with the lock \(lost) of \(expected) updates were lost — that should never happen."
    } else if lost > 0 {
        verdict = "Lost \(lost) of \(expected) updates without a lock: final \(final) instead of \(expected)."
    } else {
        verdict = "With a single worker nothing interleaves, so no update was lost (final \(final))."
    }
    run.main.log("final counter = \(final), expected \(expected), lost \(lost)")
    return [
        "verdict": .string(verdict),
        "workers": .int(workers), "increments": .int(increments), "lock": .bool(useLock),
        "expected": .int(expected), "final": .int(final), "lost": .int(lost),
        "tracedRounds": .int(tracedRounds),
        "traceNote": .string("The first \(tracedRounds) rounds of each worker are traced in detail; the other \(increments - tracedRounds) are only counted."),
    ]
}
