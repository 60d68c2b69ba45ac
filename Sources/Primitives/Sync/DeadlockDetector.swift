import JSON
import Synchronization
import Tracing

/// One per run, shared by all of its traced locks, recursive locks, semaphores and
/// conditions. It keeps the run's wait-for graph and, when a wait closes a cycle,
/// reports `deadlock.detected {cycle}` and stops the run as `.deadlocked`, which makes
/// every blocked wait of the run throw so the threads unwind. It also keeps the
/// lock-order graph and reports `deadlock.potential {order}` the first time two locks
/// have been taken in both orders, even when the run did not hang.
///
/// Primitives call it outside their own monitor's lock: stopping the run wakes every
/// monitor of the run, this one's included.
public final class DeadlockDetector: Sendable {
    public let control: RunControl

    private struct State {
        /// Waits, and the holders of semaphores. Lock holders are kept apart in
        /// `heldLocks` and merged in only when a wait is checked: taking an
        /// uncontended lock is the hot path and costs one dictionary update here.
        var waitFor = WaitForGraph()
        var lockOrder = LockOrderGraph()
        /// lane → locks it holds, in the order taken.
        var heldLocks: [String: [String]] = [:]
        var detected: [WaitForGraph.Edge]?
        var potentials: [[String]] = []

        var fullGraph: WaitForGraph {
            var graph = waitFor
            for (lane, locks) in heldLocks {
                for lock in locks { graph.acquired(lock, by: lane) }
            }
            return graph
        }
    }

    private let state = Mutex(State())

    public init(control: RunControl) {
        self.control = control
    }

    private struct WeakEntry: @unchecked Sendable {
        // Only read and written under `registry`'s lock.
        weak var detector: DeadlockDetector?
    }

    private static let registry = Mutex<[ObjectIdentifier: WeakEntry]>([:])

    /// The run's one detector, so every primitive of a run feeds the same graph however
    /// the experiment creates them. It lives as long as a primitive of the run uses it.
    public static func forRun(_ control: RunControl) -> DeadlockDetector {
        registry.withLock { registry in
            let key = ObjectIdentifier(control)
            if let existing = registry[key]?.detector, existing.control === control { return existing }
            registry = registry.filter { $0.value.detector != nil }
            let detector = DeadlockDetector(control: control)
            registry[key] = WeakEntry(detector: detector)
            return detector
        }
    }

    /// The first cycle found in this run, if any.
    public var detectedCycle: [WaitForGraph.Edge]? { state.withLock { $0.detected } }
    /// Every lock-order inversion reported so far.
    public var potentialDeadlocks: [[String]] { state.withLock { $0.potentials } }

    /// `lane` is about to block on `resource`. A timed wait is not recorded: it ends
    /// by itself, so it cannot be part of a deadlock.
    public func willWait(_ lane: Lane, for resource: String, timed: Bool = false) {
        guard !timed else { return }
        let cycle: [WaitForGraph.Edge]? = state.withLock { state in
            state.waitFor.waits(lane.name, for: resource)
            guard state.detected == nil, let cycle = state.fullGraph.cycle(startingAt: lane.name) else { return nil }
            state.detected = cycle
            return cycle
        }
        guard let cycle else { return }
        let edges: [JSONValue] = cycle.map {
            ["lane": .string($0.lane), "waitsFor": .string($0.waitsFor), "heldBy": .string($0.heldBy)]
        }
        lane.emit("deadlock.detected", ["cycle": .array(edges)])
        control.stop(.deadlocked)
    }

    /// `resource` says nothing certain about deadlock any more (a semaphore released by a
    /// lane that never took it): its holders and waits leave the graph.
    public func forget(_ resource: String) {
        state.withLock { $0.waitFor.forget(resource) }
    }

    public func stoppedWaiting(_ lane: Lane) {
        state.withLock { $0.waitFor.stopsWaiting(lane.name) }
    }

    /// `lane` took `resource` (a permit, or a lock at depth 1). For locks, also records
    /// the lock order and reports a new inversion as `deadlock.potential`.
    public func acquired(_ resource: String, by lane: Lane, isLock: Bool) {
        let cycles: [[String]] = state.withLock { state in
            guard isLock else {
                state.waitFor.acquired(resource, by: lane.name)
                return []
            }
            let held = state.heldLocks[lane.name, default: []]
            state.heldLocks[lane.name, default: []].append(resource)
            guard !held.isEmpty else { return [] }
            let cycles = state.lockOrder.took(resource, holding: held)
            state.potentials += cycles
            return cycles
        }
        for order in cycles {
            lane.emit("deadlock.potential", ["order": JSONValue(order), "lock": .string(resource)])
        }
    }

    public func released(_ resource: String, by lane: Lane, isLock: Bool) {
        state.withLock { state in
            guard isLock else {
                state.waitFor.released(resource, by: lane.name)
                return
            }
            if let index = state.heldLocks[lane.name]?.lastIndex(of: resource) {
                state.heldLocks[lane.name]?.remove(at: index)
            }
        }
    }
}
