import JSON
import Synchronization
import Tracing

/// Python's `queue.Queue`, `LifoQueue` and `PriorityQueue(maxsize)`, traced:
/// `queue.put {queue, item, size}` and `queue.get {queue, item, size}` sharing one
/// `flow` per item; `queue.full {queue, size, waiting}` when a put finds it full
/// (`waiting: true` if it then blocks, false for `put_nowait`, which fails), and
/// `queue.empty {queue, waiting}` likewise for gets. With `depthCounter` it also
/// emits a `counter` of its size. Blocking is a `Monitor` wait.
public final class TracedQueue: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case fifo, lifo, priority
    }

    /// What `get` hands back: the value, and its priority in a priority queue.
    public struct Item: Sendable, Equatable {
        public let value: JSONValue
        public let priority: Int?
    }

    /// A view of the queue for experiments that step it deterministically.
    public struct Snapshot: Sendable {
        public let size: Int
        public let blockedPutters: Int
        public let blockedGetters: Int
        public let totalPuts: Int
        public let totalGets: Int
    }

    public let name: String
    public let kind: Kind
    /// 0 means unbounded, as Python's `maxsize=0`.
    public let capacity: Int
    public let depthCounter: String?
    private let monitor: Monitor

    private struct Entry {
        let item: Item
        let sequence: Int
        let flow: Int
    }

    private struct State {
        var entries: [Entry] = []
        var sequence = 0
        var blockedPutters = 0
        var blockedGetters = 0
        var totalPuts = 0
        var totalGets = 0
        var maxSize = 0
    }

    private let state = Mutex(State())

    public init(_ name: String, kind: Kind = .fifo, capacity: Int = 0, depthCounter: String? = nil,
                control: RunControl) {
        self.name = name
        self.kind = kind
        self.capacity = max(capacity, 0)
        self.depthCounter = depthCounter
        self.monitor = Monitor(control: control)
    }

    public var snapshot: Snapshot {
        state.withLock {
            Snapshot(size: $0.entries.count, blockedPutters: $0.blockedPutters, blockedGetters: $0.blockedGetters,
                     totalPuts: $0.totalPuts, totalGets: $0.totalGets)
        }
    }

    /// The largest size the queue ever had.
    public var maxSize: Int { state.withLock { $0.maxSize } }

    /// `put(item)`; with `block: false`, `put_nowait`: returns false (traced
    /// `queue.full`) instead of waiting when the queue is full.
    @discardableResult
    public func put(_ value: JSONValue, priority: Int? = nil, on lane: Lane, block: Bool = true) throws(RunInterrupted) -> Bool {
        try monitor.control.point(lane, block ? "put" : "put_nowait", name)
        return try monitor.withLock { () throws(RunInterrupted) -> Bool in
            if isFull {
                let size = state.withLock { $0.entries.count }
                lane.emit("queue.full", ["queue": .string(name), "item": value, "size": .int(size), "waiting": .bool(block)])
                guard block else { return false }
                state.withLock { $0.blockedPutters += 1 }
                monitor.broadcast()  // for `waitUntil`
                defer { state.withLock { $0.blockedPutters -= 1 } }
                _ = try monitor.wait(until: { !isFull })
            }
            let flow = lane.recorder.nextFlow()
            let size: Int = state.withLock { state in
                state.sequence += 1
                state.entries.append(Entry(item: Item(value: value, priority: priority), sequence: state.sequence, flow: flow))
                state.totalPuts += 1
                state.maxSize = max(state.maxSize, state.entries.count)
                return state.entries.count
            }
            var fields: JSONObject = ["queue": .string(name), "item": value, "size": .int(size)]
            if let priority { fields["priority"] = .int(priority) }
            lane.emit("queue.put", flow: flow, fields)
            if let depthCounter { lane.counter(depthCounter, size) }
            monitor.broadcast()
            return true
        }
    }

    /// `get()`; with `block: false`, `get_nowait`: returns nil (traced `queue.empty`)
    /// instead of waiting when the queue is empty.
    public func get(on lane: Lane, block: Bool = true) throws(RunInterrupted) -> Item? {
        try monitor.control.point(lane, block ? "get" : "get_nowait", name)
        return try monitor.withLock { () throws(RunInterrupted) -> Item? in
            if state.withLock({ $0.entries.isEmpty }) {
                lane.emit("queue.empty", ["queue": .string(name), "size": 0, "waiting": .bool(block)])
                guard block else { return nil }
                state.withLock { $0.blockedGetters += 1 }
                monitor.broadcast()
                defer { state.withLock { $0.blockedGetters -= 1 } }
                _ = try monitor.wait(until: { !state.withLock { $0.entries.isEmpty } })
            }
            let (entry, size): (Entry, Int) = state.withLock { state in
                let index = switch kind {
                case .fifo: 0
                case .lifo: state.entries.count - 1
                case .priority: state.entries.indices.min {
                    let a = state.entries[$0], b = state.entries[$1]
                    return (a.item.priority ?? 0, a.sequence) < (b.item.priority ?? 0, b.sequence)
                }!
                }
                let entry = state.entries.remove(at: index)
                state.totalGets += 1
                return (entry, state.entries.count)
            }
            var fields: JSONObject = ["queue": .string(name), "item": entry.item.value, "size": .int(size)]
            if let priority = entry.item.priority { fields["priority"] = .int(priority) }
            lane.emit("queue.get", flow: entry.flow, fields)
            if let depthCounter { lane.counter(depthCounter, size) }
            monitor.broadcast()
            return entry.item
        }
    }

    /// Call with the monitor held.
    private var isFull: Bool {
        capacity > 0 && state.withLock { $0.entries.count >= capacity }
    }

    /// Blocks until `predicate` holds for the queue's state (re-checked after every
    /// put, get and block) — for experiments that step a queue deterministically.
    public func waitUntil(_ predicate: (Snapshot) -> Bool) throws(RunInterrupted) {
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: { predicate(snapshot) })
        }
    }

    /// Wakes anyone in `waitUntil` to look again, after state outside the queue changed.
    public func poke() { monitor.lockAndBroadcast() }
}
