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
            updates is lost: its W marker is drawn as lost and linked to the write it overwrote. \
            With interleaving=forced (the default) the window is widened by construction: in the \
            traced rounds every worker reads, then all hand off to each other before anyone writes, \
            so each round of W increments gains only 1 — the most that can be lost, on every run, \
            which is not what a race usually costs. With interleaving=natural each worker does the \
            real read, a yield (like Python's sleep(0)), and the write, and nothing arranges who \
            goes when: the summary reports what this run lost, which differs from run to run (the \
            notes' Python lost 299 of 400 with sleep(0) in the window, and 0 of 4,000,000 with a \
            plain +=, whose window the GIL rarely splits). With lock=true the read and the write happen inside lock.acquire/lock.release, \
            the workers queue on lock.wait, and final == expected (锁保证了非原子操作的数据安全). \
            Rounds after the traced ones run untraced (with a yield between read and write) and are \
            only counted, so large runs stay small.
            """,
        parameters: [
            .integer("workers", 1...32, default: 4, "Threads incrementing the shared counter."),
            .integer("increments", 1...100_000, default: 100, "Increments per thread."),
            .boolean("lock", default: false, "Hold a lock around each read-modify-write."),
            .choice("interleaving", ["forced", "natural"], default: "forced",
                    "forced: every traced round, all workers read before any writes (the worst case, every run); natural: read, yield, write, with no hand-off — whatever the scheduler does."),
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
    let natural = run.params["interleaving"]?.stringValue == "natural"
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

    // The seq of the last traced write, so a write that overwrites it can point at it.
    let lastWrite = Atomic<Int>(-1)
    let firstLost = Mutex<(read: Int?, write: Int?, overwrote: Int?)?>(nil)
    let lostWrites = Atomic<Int>(0)
    // Increments done so far: what the counter would read if none had been lost. Drawn
    // beside the counter, the gap between the two lines is the lost updates.
    let incrementsDone = Atomic<Int>(0)
    @Sendable func read(_ lane: Lane, traced: Bool) -> (value: Int, seq: Int?) {
        let value = counter.load(ordering: .sequentiallyConsistent)
        guard traced else { return (value, nil) }
        lane.emit("log", ["message": .string("read counter = \(value)"), "op": "read", "value": .int(value)])
        return (value, lane.read("counter", value))
    }
    /// Writes `read.value + 1`. If another write landed since the read, this one
    /// overwrites it: the other's update is lost (the compare tells, the store still
    /// happens — a blind write, as in the Python original).
    // Traced writes land and are recorded one at a time, so a write that lost an update always
    // finds the write it overwrote already recorded (its seq in lastWrite). The reads are not
    // ordered by this, so what is lost is still decided by who read what.
    let traceOrder = Mutex(())
    @Sendable func write(_ read: (value: Int, seq: Int?), _ lane: Lane, traced: Bool) {
        let value = read.value + 1
        let done = incrementsDone.add(1, ordering: .sequentiallyConsistent).newValue
        @Sendable func land() -> Bool {
            let clean = counter.compareExchange(expected: read.value, desired: value, ordering: .sequentiallyConsistent).exchanged
            if !clean {
                counter.store(value, ordering: .sequentiallyConsistent)
                lostWrites.add(1, ordering: .relaxed)
            }
            return clean
        }
        guard traced else { _ = land(); return }
        let (clean, seq, overwrote): (Bool, Int?, Int?) = traceOrder.withLock { _ in
            let clean = land()
            lane.emit("log", ["message": .string("write counter = \(value)"), "op": "write", "value": .int(value)])
            let overwrote = clean ? nil : lastWrite.load(ordering: .sequentiallyConsistent)
            let seq = lane.write("counter", value, lost: !clean, overwrote: overwrote.flatMap { $0 >= 0 ? $0 : nil })
            if let seq { lastWrite.store(seq, ordering: .sequentiallyConsistent) }
            return (clean, seq, overwrote)
        }
        if !clean { firstLost.withLock { if $0 == nil { $0 = (read.seq, seq, overwrote) } } }
        lane.emit("counter", ["name": "counter", "value": .int(value), "expected": .int(done)])
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
                    write(value, lane, traced: traced)
                    lock.release(on: lane, traced: traced)
                } else if controlled {
                    try run.control.point(lane, "read", "counter")
                    let value = read(lane, traced: true)
                    try run.control.point(lane, "write", "counter")
                    write(value, lane, traced: true)
                } else if traced && !natural {
                    let value = read(lane, traced: true)
                    try meet.arrive()  // everyone has read the same value before anyone writes
                    write(value, lane, traced: true)
                    try meet.arrive()  // everyone has written before the next round reads
                } else {
                    // The real read-modify-write, a yield in its window; nobody arranges who goes when.
                    let value = read(lane, traced: traced)
                    sched_yield()
                    write(value, lane, traced: traced)
                }
            }
        })
    }
    for thread in threads { thread.join() }
    try run.check()
    let final = counter.load(ordering: .sequentiallyConsistent)
    run.main.emit("counter", ["name": "counter", "value": .int(final), "expected": .int(expected)])
    let lost = expected - final
    let how = controlled ? "under the controlled schedule the run" : natural ? "with natural interleaving (nothing forced) this run"
        : workers > 1 ? "with forced interleaving (every traced round, all read before any wrote) the run" : "with forced interleaving the run"
    let verdict: String
    if useLock {
        verdict = lost == 0
            ? "With the lock all \(expected) updates landed: final \(final) == expected \(expected)."
            : "Even with the lock \(lost) of \(expected) updates were lost — that should never happen."
    } else if lost > 0 {
        verdict = "Without a lock, \(how) lost \(lost) of \(expected) updates: final \(final) instead of \(expected)."
    } else if workers == 1 {
        verdict = "With a single worker nothing interleaves, so no update was lost (final \(final))."
    } else {
        verdict = "Without a lock, \(how) lost no update (final \(final) == expected): no other write landed between any read and its write — it can, it did not this time."
    }
    if let (readSeq, writeSeq, overwrote) = firstLost.withLock({ $0 }) {
        run.main.insight("This write overwrote another worker's: both read the same value, so one increment is lost — the counter ends \(lost) short.",
                         refs: [readSeq, overwrote, writeSeq], kind: .problem)
    } else if useLock, let wait = run.recorder.events.first(where: { $0.type == "lock.wait" || $0.type == "lock.acquire" }) {
        run.main.insight("Each read and write happens while the lock is held; the others wait their turn, and no write overwrites another.",
                         refs: [wait.seq], kind: .success)
    } else if let anyWrite = run.recorder.events.first(where: { $0.type == "var.write" }) {
        run.main.insight(workers == 1 ? "One worker alone: every write follows its own read, nothing to overwrite."
                            : "No write landed between another worker's read and write in the traced rounds: nothing was overwritten this time.",
                         refs: [anyWrite.seq], kind: .info)
    }
    run.main.log("final counter = \(final), expected \(expected), lost \(lost)")
    return [
        "verdict": .string(verdict),
        "workers": .int(workers), "increments": .int(increments), "lock": .bool(useLock),
        "expected": .int(expected), "final": .int(final), "lost": .int(lost),
        "tracedRounds": .int(tracedRounds), "interleaving": .string(controlled ? "controlled" : natural ? "natural" : "forced"),
        "overwrites": .int(lostWrites.load(ordering: .relaxed)),
        "traceNote": .string("The first \(tracedRounds) rounds of each worker are traced in detail; the other \(increments - tracedRounds) are only counted."),
    ]
}
