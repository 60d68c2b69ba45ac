import Synchronization

/// Where runs are kept. In memory for now; a disk store can replace it behind the
/// same four calls.
public protocol RunStore: Sendable {
    func insert(_ run: RunRecord)
    func get(_ id: String) -> RunRecord?
    /// Newest first.
    func all() -> [RunRecord]
    @discardableResult func remove(_ id: String) -> RunRecord?
}

/// Keeps runs in memory, forgetting the oldest finished ones past `maxFinished` or
/// once their events together pass `maxEvents`, so a long-lived server stays small.
public final class InMemoryRunStore: RunStore {
    private let runs = Mutex<[RunRecord]>([])
    private let maxFinished: Int
    private let maxEvents: Int

    public init(maxFinished: Int = 200, maxEvents: Int = 3_000_000) {
        self.maxFinished = maxFinished
        self.maxEvents = maxEvents
    }

    public func insert(_ run: RunRecord) {
        runs.withLock { runs in
            runs.append(run)
            evict(&runs)
        }
    }

    public func get(_ id: String) -> RunRecord? {
        runs.withLock { $0.first { $0.id == id } }
    }

    public func all() -> [RunRecord] {
        runs.withLock { $0.reversed() }
    }

    @discardableResult
    public func remove(_ id: String) -> RunRecord? {
        runs.withLock { runs in
            guard let index = runs.firstIndex(where: { $0.id == id }) else { return nil }
            return runs.remove(at: index)
        }
    }

    private func evict(_ runs: inout [RunRecord]) {
        var finished = runs.filter { $0.status.isFinal }.count
        var events = runs.reduce(0) { $0 + $1.recorder.count }
        var index = 0
        while index < runs.count, finished > maxFinished || events > maxEvents {
            if runs[index].status.isFinal {
                finished -= 1
                events -= runs[index].recorder.count
                runs.remove(at: index)
            } else {
                index += 1
            }
        }
    }
}
