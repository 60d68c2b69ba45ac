import Glibc
import JSON
import Synchronization
import Tracing

/// Python's `threading.Lock` (or, with `recursive`, `threading.RLock`), traced:
/// `lock.wait {lock, heldBy}` when it has to block, `lock.acquire {lock, depth}`,
/// `lock.release {lock, depth}` (with a `flow` to the waiter it hands the lock to),
/// `lock.timeout {lock}` when a try-lock or a timed acquire gives up.
///
/// Ownership is by lane: a lane that takes a plain lock it already holds waits for
/// itself, which the run's `DeadlockDetector` reports as a one-edge cycle.
/// Blocking is a `Monitor` wait, so a stopped run always releases the waiter.
public final class TracedLock: Sendable {
    public let name: String
    public let isRecursive: Bool
    public let detector: DeadlockDetector
    private let monitor: Monitor

    private struct State {
        var owner: String?
        var depth = 0
        var waiters = 0
        /// Set by a release that had waiters; the waiter that gets the lock ends the arrow.
        var handoff: Int?
    }

    private let state = Mutex(State())

    public init(_ name: String, recursive: Bool = false, detector: DeadlockDetector) {
        self.name = name
        self.isRecursive = recursive
        self.detector = detector
        self.monitor = Monitor(control: detector.control)
    }

    /// The lane holding it, if any.
    public var owner: String? { state.withLock { $0.owner } }

    /// Takes the lock. With `blocking: false` it is a try-lock; with `timeoutMs` it
    /// waits at most that long. Returns false when it gave up (traced `lock.timeout`).
    /// `traced: false` keeps the bookkeeping but emits nothing, for hot loops.
    @discardableResult
    public func acquire(on lane: Lane, blocking: Bool = true, timeoutMs: Int? = nil,
                        traced: Bool = true) throws(RunInterrupted) -> Bool {
        try monitor.control.point(lane, blocking ? "acquire" : "try-acquire", name)
        var first = monitor.withLock { take(lane, waited: false, traced: traced) }
        // Untraced hot loops spin briefly before sleeping, as an adaptive mutex does: a
        // hand-off through a condition variable costs a context switch per acquire.
        if first == nil, !traced, blocking {
            for _ in 0..<64 where first == nil {
                sched_yield()
                first = monitor.withLock { take(lane, waited: false, traced: traced) }
            }
        }
        if let first {
            if first == 1 { detector.acquired(name, by: lane, isLock: true) }
            return true
        }
        guard blocking else {
            if traced { lane.emit("lock.timeout", ["lock": .string(name), "timeoutMs": 0, "tryLock": true]) }
            return false
        }
        let deadline = timeoutMs.map { Monitor.deadline(afterMs: $0) }
        if traced {
            var fields: JSONObject = ["lock": .string(name)]
            if let holder = owner { fields["heldBy"] = .string(holder) }
            if let timeoutMs { fields["timeoutMs"] = .int(timeoutMs) }
            lane.emit("lock.wait", fields)
        }
        detector.willWait(lane, for: name, timed: deadline != nil)
        let depth: Int?
        do {
            depth = try monitor.withLock { () throws(RunInterrupted) -> Int? in
                state.withLock { $0.waiters += 1 }
                defer { state.withLock { $0.waiters -= 1 } }
                while true {
                    if let depth = take(lane, waited: true, traced: traced) { return depth }
                    if try !monitor.wait(deadlineNs: deadline) {
                        return take(lane, waited: true, traced: traced)
                    }
                }
            }
        } catch {
            detector.stoppedWaiting(lane)
            throw error
        }
        detector.stoppedWaiting(lane)
        guard let depth else {
            if traced { lane.emit("lock.timeout", ["lock": .string(name), "timeoutMs": .int(timeoutMs ?? 0)]) }
            return false
        }
        if depth == 1 { detector.acquired(name, by: lane, isLock: true) }
        return true
    }

    /// Call with the monitor held. Takes the lock if `lane` may; returns the new depth.
    private func take(_ lane: Lane, waited: Bool, traced: Bool) -> Int? {
        let taken: (depth: Int, flow: Int?)? = state.withLock { state in
            if state.owner == nil {
                state.owner = lane.name
                state.depth = 1
                let flow = waited ? state.handoff : nil
                state.handoff = nil
                return (1, flow)
            }
            if isRecursive, state.owner == lane.name {
                state.depth += 1
                return (state.depth, nil)
            }
            return nil
        }
        guard let taken else { return nil }
        if traced {
            var fields: JSONObject = ["lock": .string(name)]
            if isRecursive { fields["depth"] = .int(taken.depth) }
            lane.emit("lock.acquire", flow: taken.flow, fields)
        }
        return taken.depth
    }

    /// Releases one level. Releasing a lock `lane` does not hold does nothing: that is
    /// what an unwinding thread may do after its wait was interrupted.
    public func release(on lane: Lane, traced: Bool = true) {
        try? monitor.control.point(lane, "release", name)
        let freed: Bool = monitor.withLock {
            let released: (depth: Int, flow: Int?)? = state.withLock { state in
                guard state.owner == lane.name, state.depth > 0 else { return nil }
                let depth = state.depth
                state.depth -= 1
                var flow: Int?
                if state.depth == 0 {
                    state.owner = nil
                    if state.waiters > 0 {
                        flow = lane.recorder.nextFlow()
                        state.handoff = flow
                    }
                }
                return (depth, flow)
            }
            guard let released else { return false }
            if traced {
                var fields: JSONObject = ["lock": .string(name)]
                if isRecursive { fields["depth"] = .int(released.depth) }
                lane.emit("lock.release", flow: released.flow, fields)
            }
            guard released.depth == 1 else { return false }
            monitor.signal()
            return true
        }
        if freed { detector.released(name, by: lane, isLock: true) }
    }

    /// `with lock:` — acquire, run `body`, release even if it throws.
    public func withLock<T>(on lane: Lane, traced: Bool = true, _ body: () throws -> T) throws -> T {
        try acquire(on: lane, traced: traced)
        defer { release(on: lane, traced: traced) }
        return try body()
    }
}
