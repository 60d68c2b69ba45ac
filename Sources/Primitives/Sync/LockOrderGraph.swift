/// The orders in which locks were taken during a run, as ThreadSanitizer keeps them:
/// an edge A → B each time a lane took B while holding A. A cycle means two lanes
/// could each hold one lock and wait for the other — a deadlock that this run may
/// have escaped by timing alone.
public struct LockOrderGraph: Sendable, Equatable {
    private var edges: [String: [String]] = [:]
    private var reported: Set<[String]> = []

    public init() {}

    /// Records that `lock` was taken while `held` were held. Returns each new lock-order
    /// cycle this closes, as the locks in order starting from the held one, e.g.
    /// `[A, B]` for "A then B here, B then A elsewhere"; each cycle is reported once.
    public mutating func took(_ lock: String, holding held: [String]) -> [[String]] {
        var cycles: [[String]] = []
        for first in held where first != lock {
            guard !(edges[first]?.contains(lock) ?? false) else { continue }
            edges[first, default: []].append(lock)
            // A path lock → … → first closes a cycle through the new edge first → lock.
            if let path = path(from: lock, to: first) {
                let cycle = [first] + path.dropLast()
                let key = Self.canonical(cycle)
                if reported.insert(key).inserted { cycles.append(cycle) }
            }
        }
        return cycles
    }

    /// Breadth-first, so the shortest inversion is the one reported.
    private func path(from start: String, to goal: String) -> [String]? {
        var previous: [String: String] = [start: start]
        var frontier = [start]
        while !frontier.isEmpty {
            var next: [String] = []
            for node in frontier {
                for neighbour in edges[node] ?? [] where previous[neighbour] == nil {
                    previous[neighbour] = node
                    if neighbour == goal {
                        var path = [goal]
                        var current = goal
                        while current != start {
                            current = previous[current]!
                            path.append(current)
                        }
                        return path.reversed()
                    }
                    next.append(neighbour)
                }
            }
            frontier = next
        }
        return nil
    }

    /// The same cycle read from any starting lock is reported once.
    private static func canonical(_ cycle: [String]) -> [String] {
        guard let smallest = cycle.indices.min(by: { cycle[$0] < cycle[$1] }) else { return cycle }
        return Array(cycle[smallest...] + cycle[..<smallest])
    }
}
