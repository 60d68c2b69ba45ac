/// Who holds what and who waits for what, among the lanes of one run: the graph a
/// deadlock detector searches. A lane waits for one resource at a time; a resource
/// (a lock, a semaphore) has zero or more holders. A pure value: `DeadlockDetector`
/// keeps one behind a lock and feeds it from every traced primitive.
public struct WaitForGraph: Sendable, Equatable {
    /// One edge of a wait-for cycle, as `deadlock.detected` reports it.
    public struct Edge: Sendable, Equatable {
        public let lane: String
        public let waitsFor: String
        public let heldBy: String

        public init(lane: String, waitsFor: String, heldBy: String) {
            self.lane = lane
            self.waitsFor = waitsFor
            self.heldBy = heldBy
        }
    }

    /// resource → holder lane → how many times it holds it (permits, recursion depth).
    private var holders: [String: [String: Int]] = [:]
    /// lane → the resource it is blocked on (untimed waits only: a timed wait ends by itself).
    private var waits: [String: String] = [:]
    /// Insertion order of holders, so reports name them in a stable order.
    private var holderOrder: [String: [String]] = [:]

    public init() {}

    public mutating func acquired(_ resource: String, by lane: String) {
        if holders[resource, default: [:]][lane] == nil { holderOrder[resource, default: []].append(lane) }
        holders[resource, default: [:]][lane, default: 0] += 1
    }

    public mutating func released(_ resource: String, by lane: String) {
        guard let count = holders[resource]?[lane] else { return }
        if count <= 1 {
            holders[resource]?[lane] = nil
            holderOrder[resource]?.removeAll { $0 == lane }
        } else {
            holders[resource]?[lane] = count - 1
        }
    }

    public mutating func waits(_ lane: String, for resource: String) { waits[lane] = resource }

    /// Drops every holder of and wait for `resource`.
    public mutating func forget(_ resource: String) {
        holders[resource] = nil
        holderOrder[resource] = nil
        waits = waits.filter { $0.value != resource }
    }
    public mutating func stopsWaiting(_ lane: String) { waits[lane] = nil }

    public func holders(of resource: String) -> [String] { holderOrder[resource] ?? [] }
    public func resource(awaitedBy lane: String) -> String? { waits[lane] }

    /// The lanes that can never be woken: blocked, and every lane that could release
    /// what they wait for is itself in the set. With single-holder locks this is a
    /// cycle; with semaphores (several holders) it is a knot, since any one holder
    /// that is still running could release a permit.
    public func deadlockedLanes() -> Set<String> {
        var stuck = Set(waits.keys)
        var changed = true
        while changed {
            changed = false
            for lane in stuck {
                let wakers = holders(of: waits[lane]!)
                if wakers.isEmpty || wakers.contains(where: { !stuck.contains($0) }) {
                    stuck.remove(lane)
                    changed = true
                }
            }
        }
        return stuck
    }

    /// A wait-for cycle through `lane` if it is deadlocked (else through any
    /// deadlocked lane), or nil when nobody is.
    public func cycle(startingAt lane: String) -> [Edge]? {
        let stuck = deadlockedLanes()
        guard let start = stuck.contains(lane) ? lane : stuck.sorted().first else { return nil }
        var path: [Edge] = []
        var seen: [String: Int] = [:]
        var current = start
        while seen[current] == nil {
            seen[current] = path.count
            let resource = waits[current]!
            let holder = holders(of: resource).first { stuck.contains($0) }!
            path.append(Edge(lane: current, waitsFor: resource, heldBy: holder))
            current = holder
        }
        return Array(path[seen[current]!...])
    }
}
