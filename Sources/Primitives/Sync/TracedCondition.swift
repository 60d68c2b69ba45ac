import JSON
import Synchronization
import Tracing

/// Python's `threading.Condition(lock)`, traced: `cond.wait {cond}` (the lock is
/// released while waiting), `cond.notify {cond, n, woken}` with a `flow` that each
/// waiter it picks carries on its `cond.wake {cond, timedOut}`, after which the
/// waiter takes the lock back (traced as the lock's own events).
///
/// While waiting for a notify a lane holds nothing and could be woken by anyone, so
/// only the lock re-acquisition enters the run's wait-for graph.
public final class TracedCondition: Sendable {
    public let name: String
    public let lock: TracedLock
    private let monitor: Monitor

    private struct Waiter {
        let ticket: Int
        let lane: String
        var flow: Int?
    }

    private struct State {
        var waiters: [Waiter] = []
        var nextTicket = 0
    }

    private let state = Mutex(State())

    public init(_ name: String, lock: TracedLock) {
        self.name = name
        self.lock = lock
        self.monitor = Monitor(control: lock.detector.control)
    }

    /// Lanes waiting for a notify right now.
    public var waitingCount: Int { state.withLock { $0.waiters.count(where: { $0.flow == nil }) } }

    /// Call holding `lock`. Releases it, waits for a notify (or `timeoutMs`: returns
    /// false), and takes it back before returning. If the run stops while waiting it
    /// throws without the lock.
    @discardableResult
    public func wait(on lane: Lane, timeoutMs: Int? = nil) throws(RunInterrupted) -> Bool {
        try monitor.control.point(lane, "wait", name)
        let deadline = timeoutMs.map { Monitor.deadline(afterMs: $0) }
        // Registered before the lock is released: a notify needs the lock, so none is lost.
        let ticket: Int = monitor.withLock {
            let ticket = state.withLock { state in
                state.nextTicket += 1
                state.waiters.append(Waiter(ticket: state.nextTicket, lane: lane.name))
                return state.nextTicket
            }
            lane.emit("cond.wait", ["cond": .string(name)])
            monitor.broadcast()  // for `waitForWaiters`
            return ticket
        }
        lock.release(on: lane)
        let flow: Int?
        do {
            flow = try monitor.withLock { () throws(RunInterrupted) -> Int? in
                func notified() -> Int? {
                    state.withLock { $0.waiters.first { $0.ticket == ticket }?.flow }
                }
                _ = try monitor.wait(until: { notified() != nil }, deadlineNs: deadline)
                let flow = notified()
                state.withLock { $0.waiters.removeAll { $0.ticket == ticket } }
                return flow
            }
        } catch {
            monitor.withLock { state.withLock { $0.waiters.removeAll { $0.ticket == ticket } } }
            throw error
        }
        lane.emit("cond.wake", flow: flow, ["cond": .string(name), "timedOut": .bool(flow == nil)])
        try lock.acquire(on: lane)
        return flow != nil
    }

    /// Wakes up to `n` waiters, oldest first. Call holding `lock`.
    public func notify(_ n: Int = 1, on lane: Lane) {
        try? monitor.control.point(lane, n == Int.max ? "notify_all" : "notify", name)
        monitor.withLock {
            let flow = lane.recorder.nextFlow()
            let woken: Int = state.withLock { state in
                var woken = 0
                for index in state.waiters.indices where woken < n && state.waiters[index].flow == nil {
                    state.waiters[index].flow = flow
                    woken += 1
                }
                return woken
            }
            lane.emit("cond.notify", flow: woken > 0 ? flow : nil,
                      ["cond": .string(name), "n": .int(n), "woken": .int(woken)])
            monitor.broadcast()
        }
    }

    public func notifyAll(on lane: Lane) { notify(Int.max, on: lane) }

    /// Blocks until `count` lanes are waiting for a notify — a hand-shake for experiments.
    public func waitForWaiters(_ count: Int) throws(RunInterrupted) {
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: { state.withLock { $0.waiters.count(where: { $0.flow == nil }) >= count } })
        }
    }
}
