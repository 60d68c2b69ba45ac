import JSON
import Synchronization
import Tracing

/// Python's `threading.Semaphore(permits)`, traced: `sem.wait {sem}` when no permit is
/// free, `sem.acquire {sem, available}`, `sem.release {sem, available}` (with a `flow`
/// to the waiter the permit goes to) and a `counter` of free permits named after it.
///
/// Used as a pool of permits (`with sem:` — each lane releases what it took), its
/// holders feed the run's wait-for graph, so a cycle through it is detected once every
/// holder that could release a permit is blocked too. A semaphore used as a signal —
/// released by lanes that never took it — could be released by anyone, so its waits
/// say nothing certain about deadlock: make it with `signalling: true`, and one that
/// turns out to be released by a non-holder leaves the graph from then on.
public final class TracedSemaphore: Sendable {
    public let name: String
    public let detector: DeadlockDetector
    private let monitor: Monitor

    private struct State {
        var available: Int
        var waiters = 0
        var handoffs: [Int] = []
        /// lane → permits it took and has not released.
        var holders: [String: Int] = [:]
        var signalling: Bool
    }

    private let state: Mutex<State>

    public init(_ name: String, permits: Int, signalling: Bool = false, detector: DeadlockDetector) {
        self.name = name
        self.detector = detector
        self.monitor = Monitor(control: detector.control)
        self.state = Mutex(State(available: permits, signalling: signalling))
    }

    private var inGraph: Bool { !state.withLock { $0.signalling } }

    public var available: Int { state.withLock { $0.available } }

    /// Takes a permit, blocking until one is free (or `timeoutMs` passes: false).
    @discardableResult
    public func acquire(on lane: Lane, timeoutMs: Int? = nil) throws(RunInterrupted) -> Bool {
        try monitor.control.point(lane, "acquire", name)
        if monitor.withLock({ take(lane, waited: false) }) {
            if inGraph { detector.acquired(name, by: lane, isLock: false) }
            return true
        }
        let deadline = timeoutMs.map { Monitor.deadline(afterMs: $0) }
        lane.emit("sem.wait", ["sem": .string(name), "available": 0])
        if inGraph { detector.willWait(lane, for: name, timed: deadline != nil) }
        let taken: Bool
        do {
            taken = try monitor.withLock { () throws(RunInterrupted) -> Bool in
                state.withLock { $0.waiters += 1 }
                defer { state.withLock { $0.waiters -= 1 } }
                while true {
                    if take(lane, waited: true) { return true }
                    if try !monitor.wait(deadlineNs: deadline) { return take(lane, waited: true) }
                }
            }
        } catch {
            detector.stoppedWaiting(lane)
            throw error
        }
        detector.stoppedWaiting(lane)
        if taken {
            if inGraph { detector.acquired(name, by: lane, isLock: false) }
        } else {
            lane.emit("sem.timeout", ["sem": .string(name), "timeoutMs": .int(timeoutMs ?? 0)])
        }
        return taken
    }

    private func take(_ lane: Lane, waited: Bool) -> Bool {
        let taken: (available: Int, flow: Int?)? = state.withLock { state in
            guard state.available > 0 else { return nil }
            state.available -= 1
            state.holders[lane.name, default: 0] += 1
            let flow = waited && !state.handoffs.isEmpty ? state.handoffs.removeFirst() : nil
            return (state.available, flow)
        }
        guard let taken else { return false }
        lane.emit("sem.acquire", flow: taken.flow, ["sem": .string(name), "available": .int(taken.available)])
        lane.counter(name, taken.available)
        return true
    }

    /// Returns a permit (any lane may, as in Python).
    public func release(on lane: Lane) {
        try? monitor.control.point(lane, "release", name)
        let leavesGraph: Bool = monitor.withLock {
            let (available, flow, leavesGraph): (Int, Int?, Bool) = state.withLock { state in
                state.available += 1
                var leavesGraph = false
                if let held = state.holders[lane.name], held > 0 {
                    state.holders[lane.name] = held > 1 ? held - 1 : nil
                } else if !state.signalling {
                    state.signalling = true
                    leavesGraph = true
                }
                var flow: Int?
                if state.waiters > state.handoffs.count {
                    flow = lane.recorder.nextFlow()
                    state.handoffs.append(flow!)
                }
                return (state.available, flow, leavesGraph)
            }
            lane.emit("sem.release", flow: flow, ["sem": .string(name), "available": .int(available)])
            lane.counter(name, available)
            monitor.signal()
            return leavesGraph
        }
        if leavesGraph {
            detector.forget(name)
        } else if inGraph {
            detector.released(name, by: lane, isLock: false)
        }
    }
}
