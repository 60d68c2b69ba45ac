import JSON
import Synchronization
import Tracing

/// Python's `threading.Event`, traced: `event.wait {event}`, `event.set {event}` with a
/// `flow` that every waiter it releases carries on its `event.wake {event, timedOut}`,
/// and `event.clear`. Waits are `Monitor` waits, so a stopped run releases them.
public final class TracedEvent: Sendable {
    public let name: String
    private let monitor: Monitor

    private struct State {
        var isSet = false
        /// The flow of the `event.set` that made it true.
        var setFlow: Int?
        /// Lanes that have called `wait` so far (whether still waiting or not).
        var arrivals = 0
    }

    private let state = Mutex(State())

    public init(_ name: String, control: RunControl) {
        self.name = name
        self.monitor = Monitor(control: control)
    }

    public var isSet: Bool { state.withLock { $0.isSet } }

    /// Blocks until the event is set, or `timeoutMs` passes. Returns the flag, as
    /// Python's `wait(timeout)` does: false means it timed out.
    @discardableResult
    public func wait(on lane: Lane, timeoutMs: Int? = nil) throws(RunInterrupted) -> Bool {
        try monitor.control.point(lane, "wait", name)
        let deadline = timeoutMs.map { Monitor.deadline(afterMs: $0) }
        var fields: JSONObject = ["event": .string(name)]
        if let timeoutMs { fields["timeoutMs"] = .int(timeoutMs) }
        let (isSet, flow) = try monitor.withLock { () throws(RunInterrupted) -> (Bool, Int?) in
            lane.emit("event.wait", fields)
            state.withLock { $0.arrivals += 1 }
            monitor.broadcast()  // for `waitForArrivals`
            let isSet = try monitor.wait(until: { state.withLock { $0.isSet } }, deadlineNs: deadline)
            return (isSet, isSet ? state.withLock { $0.setFlow } : nil)
        }
        lane.emit("event.wake", flow: flow, ["event": .string(name), "timedOut": .bool(!isSet)])
        return isSet
    }

    public func set(on lane: Lane) {
        try? monitor.control.point(lane, "set", name)
        monitor.withLock {
            let flow = lane.recorder.nextFlow()
            state.withLock { state in
                state.isSet = true
                state.setFlow = flow
            }
            lane.emit("event.set", flow: flow, ["event": .string(name)])
            monitor.broadcast()
        }
    }

    public func clear(on lane: Lane) {
        try? monitor.control.point(lane, "clear", name)
        monitor.withLock {
            state.withLock { $0.isSet = false }
            lane.emit("event.clear", ["event": .string(name)])
        }
    }

    /// Blocks until `count` lanes have called `wait` — a hand-shake so that an
    /// experiment sets the event only once its waiters are really waiting.
    public func waitForArrivals(_ count: Int) throws(RunInterrupted) {
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: { state.withLock { $0.arrivals >= count } })
        }
    }
}
