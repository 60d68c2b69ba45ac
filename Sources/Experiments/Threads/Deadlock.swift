import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// Dining philosophers: N threads, N locks, taken in opposite orders.
    public static let deadlock = Experiment(
        id: "deadlock",
        title: "Deadlock: dining philosophers",
        category: "Threads",
        summary: "N philosophers, N forks (locks): each needs its left and right fork. Naive order deadlocks; ordered, try-lock and timeout strategies do not.",
        lesson: """
            Naive: every philosopher takes the left fork, then reaches for the right one — which is \
            a neighbour's left fork. (A hand-off makes sure everyone holds the left fork before \
            anyone reaches right, so the cycle forms on every run, not by bad luck.) Nobody can go \
            on: the wait-for graph closes a cycle (philosopher → fork → holder → …), \
            deadlock.detected shows it, and the run releases every blocked wait so all threads \
            unwind (死锁: 多把锁交替使用). The fixes break one condition of the cycle: ordered takes \
            the lower-numbered fork first (one global order: no cycle can form); trylock gives the \
            left fork back when the right one is busy (lock.timeout with tryLock) and retries after a \
            staggered back-off; timeout waits at most timeoutMs for the right fork (lock.timeout), \
            then backs off the same way. deadlock.potential marks every run in which locks were \
            taken in conflicting orders, even when it finished — as ThreadSanitizer warns. With \
            lockKind=rlock the forks are recursive locks (threading.RLock) and naive deadlocks just \
            the same: an RLock lets the thread that holds it take it again, never a neighbour, so \
            the circle of waits closes as before (递归锁互斥锁都可能死锁 — only one single RLock \
            for everything, 只要是1把锁, can never deadlock).
            """,
        parameters: [
            .integer("philosophers", 2...16, default: 2, "Philosophers (threads), and as many forks (locks)."),
            .choice("strategy", ["naive", "ordered", "trylock", "timeout"], default: "naive",
                    "naive: left then right; ordered: lower-numbered fork first; trylock: give back the left fork if the right is busy; timeout: wait at most timeoutMs for the right fork."),
            .integer("holdMs", 0...10_000, default: 100, "How long a philosopher holds its left fork before reaching for the right one, and how long it eats."),
            .integer("timeoutMs", 0...10_000, default: 300, "timeout strategy: how long to wait for the right fork."),
            .integer("meals", 1...20, default: 1, "Meals each philosopher eats (ordered, trylock, timeout)."),
            .choice("lockKind", ["lock", "rlock"], default: "lock",
                    "What each fork is: threading.Lock (lock) or threading.RLock (rlock), which its holder may take again."),
        ],
        body: runDeadlock
    )
}

private func runDeadlock(_ run: RunContext) throws -> JSONObject {
    let count = run.params.int("philosophers")
    let strategy = run.params.string("strategy")
    let holdMs = run.params.int("holdMs")
    let timeoutMs = run.params.int("timeoutMs")
    let meals = run.params.int("meals")
    let recursive = run.params.string("lockKind") == "rlock"
    let kind = recursive ? "RLock" : "Lock"
    let detector = run.deadlockDetector
    let forks = (1...count).map { TracedLock("fork-\($0)", recursive: recursive, detector: detector) }
    // Everyone holds the left fork before anyone reaches right, on the first attempt.
    let allHoldLeft = Rendezvous(parties: count, control: run.control)
    let retries = Atomic<Int>(0)
    let eaten = Atomic<Int>(0)
    run.main.log("\(count) philosophers, \(count) forks, each fork = threading.\(kind)(); strategy \(strategy)")

    @Sendable func eat(_ lane: Lane) throws(RunInterrupted) {
        lane.log("eating")
        try run.sleep(ms: holdMs, on: lane)
        eaten.add(1, ordering: .relaxed)
    }

    var threads: [TracedThread] = []
    for index in 1...count {
        let left = forks[index - 1]
        let right = forks[index % count]
        threads.append(run.spawn("philosopher-\(index)") { lane in
            if strategy == "ordered" {
                let (first, second) = index == count ? (right, left) : (left, right)
                lane.log("global order: \(first.name) first (the lower number), then \(second.name)")
                for _ in 0..<meals {
                    try first.acquire(on: lane)
                    try run.sleep(ms: holdMs, on: lane)
                    try second.acquire(on: lane)
                    try eat(lane)
                    second.release(on: lane)
                    first.release(on: lane)
                }
                return
            }
            var meal = 0
            var attempt = 0
            while meal < meals {
                attempt += 1
                try left.acquire(on: lane)
                // Under a controlled schedule the cycle is the learner's (or the seed's) to make.
                if attempt == 1, run.control.schedule == nil { try allHoldLeft.arrive() }
                try run.sleep(ms: holdMs, on: lane)
                lane.log("holding \(left.name) (left); reaching for \(right.name) (right)")
                let gotRight: Bool = switch strategy {
                case "trylock": try right.acquire(on: lane, blocking: false)
                case "timeout": try right.acquire(on: lane, timeoutMs: timeoutMs)
                default: try right.acquire(on: lane)
                }
                guard gotRight else {
                    left.release(on: lane)
                    retries.add(1, ordering: .relaxed)
                    let backoff = index * max(holdMs, 10) / 2 * min(attempt, 4)
                    lane.log("\(right.name) is busy: put \(left.name) back, retry in \(backoff) ms")
                    try run.sleep(ms: backoff, on: lane)
                    continue
                }
                try eat(lane)
                right.release(on: lane)
                left.release(on: lane)
                meal += 1
            }
        })
    }

    for thread in threads { thread.join() }
    let potentials = detector.potentialDeadlocks
    var summary: JSONObject = [
        "philosophers": .int(count), "strategy": .string(strategy), "lockKind": .string(recursive ? "rlock" : "lock"),
        "mealsEaten": .int(eaten.load(ordering: .relaxed)), "mealsPlanned": .int(count * meals),
        "retries": .int(retries.load(ordering: .relaxed)),
        "potentialDeadlocks": .array(potentials.map { JSONValue($0) }),
    ]
    if let cycle = detector.detectedCycle {
        let waits = run.recorded(["lock.wait"]) { $0.lane.hasPrefix("philosopher-") }
        run.main.insight("Every philosopher holds its left fork (green) and waits for its right one (red WAIT), which the next philosopher holds: the waits close a circle, so nobody can go on\(recursive ? " — recursive or not: an RLock lets only its own holder take it again" : "").",
                         refs: waits.map(\.seq) + [run.firstSeq("deadlock.detected")], kind: .problem)
        summary["deadlocked"] = true
        summary["cycle"] = .array(cycle.map {
            ["lane": .string($0.lane), "waitsFor": .string($0.waitsFor), "heldBy": .string($0.heldBy)]
        })
        let held = Set(run.recorded(["lock.acquire"]) { $0.lane.hasPrefix("philosopher-") }.map(\.lane)).count
        let kinds = recursive ? "RLocks (recursive locks)" : "Locks"
        summary["verdict"] = .string("With \(kinds) as forks, \(held) of \(count) philosophers held a fork and waited for the next: a \(cycle.count)-edge wait-for cycle, detected at once\(recursive ? " — being recursive did not help, a neighbour is another thread" : ""); all \(count) threads were released and ended.")
        return summary
    }
    try run.check()
    summary["deadlocked"] = false
    switch strategy {
    case "ordered":
        let last = "philosopher-\(count)"
        run.main.insight("\(last) takes fork-1 before fork-\(count), the same global order as everyone else: no one can hold one fork while its neighbour holds the other, so no circle of waits forms.",
                         refs: [run.firstSeq("lock.acquire", lane: last)], kind: .success)
    case "naive":
        let meals = run.recorded(["log"]) { $0.string("message") == "eating" }.prefix(count)
        run.main.insight("Each philosopher got both forks before a neighbour took one of them: no circle of waits closed this time — by the order the steps ran in, not by design.",
                         refs: meals.map(\.seq), kind: .info)
    default:
        let gaveUp = run.recorded(["lock.timeout"]).prefix(3)
        run.main.insight(gaveUp.isEmpty
            ? "No right fork was ever busy here, so nobody had to give a fork back."
            : "The right fork was busy: \(gaveUp.first!.lane) gave its left fork back instead of waiting on (◆), which breaks the circle of waits.",
            refs: gaveUp.map(\.seq), kind: .success)
    }
    let ate = eaten.load(ordering: .relaxed)
    let inversions = potentials.isEmpty ? "no lock-order inversion" : "\(potentials.count) lock-order inversion(s) flagged as potential deadlocks"
    let verdict = switch strategy {
    case "ordered":
        "Taking the lower-numbered fork first, \(count) philosophers (forks: \(kind)s) ate \(ate) of \(count * meals) meals with no deadlock and \(inversions)."
    case "naive":
        "Left fork then right, with \(kind)s, and this schedule closed no cycle: \(ate) of \(count * meals) meals eaten, \(inversions)\(potentials.isEmpty ? "" : " — another order of the same steps can deadlock")."
    case "trylock":
        "With try-lock on \(kind)s, \(retries.load(ordering: .relaxed)) busy right forks made philosophers give back their left fork and retry; \(ate) of \(count * meals) meals eaten, no deadlock, \(inversions)."
    default:
        "With a \(timeoutMs) ms timeout on \(kind)s, \(retries.load(ordering: .relaxed)) waits for a right fork gave up and released the left fork; \(ate) of \(count * meals) meals eaten, no deadlock, \(inversions)."
    }
    summary["verdict"] = .string(verdict)
    return summary
}
