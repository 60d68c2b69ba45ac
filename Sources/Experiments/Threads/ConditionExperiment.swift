import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// threading.Condition: consumers wait in a predicate loop, a producer notifies.
    public static let condition = Experiment(
        id: "condition",
        title: "Condition: wait and notify",
        category: "Threads",
        summary: "C consumers wait on a condition in a `while not items: cond.wait()` loop; the producer appends an item and notifies.",
        lesson: """
            cond.wait releases the condition's lock and sleeps until a cond.notify picks this \
            waiter (the flow arrow), then takes the lock back before returning. A wake-up is only a \
            hint that the state changed, so the consumer re-checks its predicate in a loop: with \
            notify=all every consumer wakes for each item, one takes it and the others find the \
            list empty and wait again. With notify=one only the oldest waiter is woken. The producer \
            hands over one item at a time, once every consumer is waiting, so the pattern is the \
            same on every run; at the end it sets done and notify_all()s so the consumers exit.
            """,
        parameters: [
            .integer("consumers", 1...16, default: 2, "Consumer threads waiting on the condition."),
            .integer("items", 1...1000, default: 5, "Items the producer (main) appends, one notify each."),
            .choice("notify", ["one", "all"], default: "one", "notify(): wake one waiter; notify_all(): wake every waiter."),
        ],
        body: runCondition
    )
}

private func runCondition(_ run: RunContext) throws -> JSONObject {
    let consumers = run.params.int("consumers")
    let items = run.params.int("items")
    let notifyAll = run.params.string("notify") == "all"
    let detector = run.deadlockDetector
    let lock = TracedLock("cond-lock", detector: detector)
    let cond = TracedCondition("cond", lock: lock)
    struct Shared { var items: [Int] = []; var done = false; var taken: [Int] = [] }
    let shared = Mutex(Shared())
    let emptyWakes = Atomic<Int>(0)
    let main = run.main
    main.log("cond = threading.Condition(); \(consumers) consumers; \(items) items; notify\(notifyAll ? "_all" : "")()")

    var threads: [TracedThread] = []
    for index in 1...consumers {
        threads.append(run.spawn("consumer-\(index)") { lane in
            while true {
                try lock.acquire(on: lane)
                defer { lock.release(on: lane) }
                var waited = false
                while shared.withLock({ $0.items.isEmpty && !$0.done }) {
                    if waited {
                        emptyWakes.add(1, ordering: .relaxed)
                        lane.log("woke, but the list is empty: wait again")
                    }
                    try cond.wait(on: lane)
                    waited = true
                }
                let item: Int? = shared.withLock { shared in
                    guard !shared.items.isEmpty else { return nil }
                    let item = shared.items.removeFirst()
                    shared.taken.append(item)
                    return item
                }
                guard let item else {
                    lane.log("done is set and nothing is left: exit")
                    return
                }
                lane.log("took item \(item)")
            }
        })
    }
    for item in 1...items {
        try cond.waitForWaiters(consumers)
        try lock.acquire(on: main)
        shared.withLock { $0.items.append(item) }
        main.log("append item \(item); notify\(notifyAll ? "_all" : "")()")
        if notifyAll { cond.notifyAll(on: main) } else { cond.notify(on: main) }
        lock.release(on: main)
    }
    try cond.waitForWaiters(consumers)
    try lock.acquire(on: main)
    shared.withLock { $0.done = true }
    main.log("done = True; notify_all()")
    cond.notifyAll(on: main)
    lock.release(on: main)
    for thread in threads { thread.join() }
    try run.check()
    let taken = shared.withLock { $0.taken }
    if let notify = run.recorded(["cond.notify"], where: { ($0.int("woken") ?? 0) > 0 }).first {
        let wakes = notify.flow.map { flow in run.recorded(["cond.wake"]) { $0.flow == flow } } ?? []
        run.main.insight(notifyAll
            ? "notify_all() wakes every waiting consumer at once (one arrow each), but only one finds the item; the others see an empty list and wait again."
            : "Each notify() on main wakes exactly one waiting consumer — one arrow per notify — and that consumer takes the item.",
            refs: [notify.seq] + wakes.map(\.seq), kind: .order)
    } else {
        run.main.insight("No notify woke a waiter in this run.", refs: [run.firstSeq("cond.notify")], kind: .info)
    }
    let empty = emptyWakes.load(ordering: .relaxed)
    let verdict = notifyAll
        ? "\(consumers) consumers took \(taken.count) items; notify_all woke everyone each time, so \(empty) wake-ups found the list empty and looped back to wait."
        : "\(consumers) consumers took \(taken.count) items, each woken by its own notify(); no wake-up found the list empty."
    return [
        "verdict": .string(verdict),
        "consumers": .int(consumers), "items": .int(items), "notify": .string(notifyAll ? "all" : "one"),
        "taken": JSONValue(taken), "emptyWakeups": .int(empty),
    ]
}
