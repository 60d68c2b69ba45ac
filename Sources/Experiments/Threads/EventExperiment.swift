import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// threading.Event: waiters block until one actor sets the flag.
    public static let event = Experiment(
        id: "event",
        title: "Event: wait and set",
        category: "Threads",
        summary: "W threads block in event.wait() until main calls event.set(); a wait with a shorter timeout gives up first.",
        lesson: """
            An Event is a flag that starts False (默认False). Every waiter blocks in event.wait \
            without using the CPU; when the main lane calls event.set(), all of them wake at once — \
            each event.wake carries the flow of that set, so the arrows fan out from one point. \
            wait(timeout) returns after the timeout even if nobody set the flag: those waiters wake \
            with timedOut: true before the set (event.wait(timeout=1): 阻塞1s, 改没改都会进行下一行).
            """,
        parameters: [
            .integer("waiters", 1...32, default: 3, "Threads waiting for the event."),
            .integer("setAfterMs", 0...10_000, default: 500, "How long main waits (once every waiter is waiting) before event.set()."),
            .integer("timeoutMs", 0...10_000, default: 0, "Each waiter's wait(timeout) in milliseconds; 0 waits without a timeout."),
        ],
        body: runEvent
    )
}

private func runEvent(_ run: RunContext) throws -> JSONObject {
    let waiters = run.params.int("waiters")
    let setAfterMs = run.params.int("setAfterMs")
    let timeoutMs = run.params.int("timeoutMs")
    let event = TracedEvent("event", control: run.control)
    let woken = Atomic<Int>(0)
    let timedOut = Atomic<Int>(0)
    run.main.log("event = threading.Event(); \(waiters) threads call event.wait(\(timeoutMs > 0 ? "timeout=\(Double(timeoutMs) / 1000)" : ""))")

    var threads: [TracedThread] = []
    for index in 1...waiters {
        threads.append(run.spawn("waiter-\(index)") { lane in
            let isSet = try event.wait(on: lane, timeoutMs: timeoutMs > 0 ? timeoutMs : nil)
            if isSet {
                woken.add(1, ordering: .relaxed)
                lane.log("the event is set: go on")
            } else {
                timedOut.add(1, ordering: .relaxed)
                lane.log("wait timed out; the event is still not set")
            }
        })
    }
    try event.waitForArrivals(waiters)
    try run.sleep(ms: setAfterMs, on: run.main)
    event.set(on: run.main)
    for thread in threads { thread.join() }
    try run.check()
    let wakes = run.recorded(["event.wake"]) { !$0.bool("timedOut") }
    let timeouts = run.recorded(["event.wake"]) { $0.bool("timedOut") }
    if !wakes.isEmpty {
        run.main.insight("One set() on main wakes \(wakes.count == waiters ? "every waiter" : "\(wakes.count) waiters") at once: the arrows fan out from it and the amber waits all end together.",
                         refs: [run.firstSeq("event.set")] + wakes.map(\.seq), kind: .order)
    }
    if let first = timeouts.first {
        run.main.insight("\(first.lane) stopped waiting after its \(timeoutMs) ms timeout, before the event was set: wait() returned False.",
                         refs: timeouts.map(\.seq), kind: .timing)
    }
    let wokenCount = woken.load(ordering: .relaxed), timedOutCount = timedOut.load(ordering: .relaxed)
    let verdict = timedOutCount == 0
        ? "All \(waiters) waiters blocked until main set the event after \(setAfterMs) ms, then woke together."
        : "\(timedOutCount) of \(waiters) waiters gave up after their \(timeoutMs) ms timeout; \(wokenCount) woke when main set the event at \(setAfterMs) ms."
    return [
        "verdict": .string(verdict),
        "waiters": .int(waiters), "woken": .int(wokenCount), "timedOut": .int(timedOutCount),
        "setAfterMs": .int(setAfterMs), "timeoutMs": .int(timeoutMs),
    ]
}
