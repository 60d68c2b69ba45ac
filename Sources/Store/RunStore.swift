import Glibc
import Experiments
import JSON

/// Where recorded runs live: a small interface of values that throws. The playground
/// keeps live runs in memory and writes them through (`insert` when a run starts,
/// `append` as its events are recorded, `update` when it ends); everything else
/// reads snapshots and event lines from here.
///
/// Events are stored as their canonical NDJSON lines — exactly the bytes the live
/// stream sent — so a recorded run replays byte-identical.
public protocol RunStore: Sendable {
    func insert(_ run: RunSnapshot) throws(StoreError)
    /// Replaces the run's metadata (status, summary, title, tags, pinned …).
    func update(_ run: RunSnapshot) throws(StoreError)
    func snapshot(_ id: String) throws(StoreError) -> RunSnapshot?
    /// Newest first.
    func list() throws(StoreError) -> [RunSnapshot]
    /// Deletes the run, its events and its notes; false if there was none.
    @discardableResult func delete(_ id: String) throws(StoreError) -> Bool

    /// Appends `count` complete NDJSON lines (each ending in `\n`) to the run's trace.
    func append(_ id: String, lines: [UInt8], count: Int) throws(StoreError)
    /// The run's event lines from `seq` on, read in chunks.
    func events(_ id: String, from seq: Int) throws(StoreError) -> any EventCursor

    /// Evicts the oldest finished, unpinned runs until the limits hold; returns their ids.
    @discardableResult func enforceRetention() throws(StoreError) -> [String]

    func notes(_ run: String) throws(StoreError) -> [RunNote]
    func addNote(run: String, seq: Int, text: String, createdAt: String) throws(StoreError) -> RunNote
    @discardableResult func deleteNote(run: String, id: Int) throws(StoreError) -> Bool

    /// Oldest first.
    func lessons() throws(StoreError) -> [Lesson]
    func lesson(_ id: String) throws(StoreError) -> Lesson?
    /// Inserts or replaces.
    func save(_ lesson: Lesson) throws(StoreError)
    @discardableResult func deleteLesson(_ id: String) throws(StoreError) -> Bool
}

/// How much a store keeps: finished, unpinned runs beyond either limit are evicted,
/// oldest first. Live and pinned runs are never evicted (but their bytes count).
public struct RetentionPolicy: Sendable, Equatable {
    public var maxRuns: Int
    public var maxBytes: Int

    public init(maxRuns: Int, maxBytes: Int) {
        self.maxRuns = maxRuns
        self.maxBytes = maxBytes
    }

    /// On disk: 1000 runs or 2 GiB of traces.
    public static let disk = RetentionPolicy(maxRuns: 1000, maxBytes: 2 << 30)
    /// In memory (`--no-store`): 200 runs or 512 MiB of traces.
    public static let memory = RetentionPolicy(maxRuns: 200, maxBytes: 512 << 20)

    /// Which of `runs` (oldest first) to evict so that the rest fit.
    func victims(_ runs: [RunSnapshot]) -> [String] {
        var eviction = Eviction(self, count: runs.count, bytes: runs.reduce(0) { $0 + $1.bytes })
        for run in runs where !eviction.fits {
            eviction.consider(run.id, bytes: run.bytes, evictable: run.status.isFinal && !run.pinned)
        }
        return eviction.victims
    }

    /// The same choice made one run at a time, oldest first, from the store's totals: a
    /// store can stop reading its runs as soon as the rest fit (`fits`), so a seal that
    /// evicts one run reads a few rows, not the whole table.
    struct Eviction {
        let policy: RetentionPolicy
        private(set) var count: Int
        private(set) var bytes: Int
        private(set) var victims: [String] = []

        init(_ policy: RetentionPolicy, count: Int, bytes: Int) {
            self.policy = policy
            self.count = count
            self.bytes = bytes
        }

        var fits: Bool { count <= policy.maxRuns && bytes <= policy.maxBytes }

        mutating func consider(_ id: String, bytes runBytes: Int, evictable: Bool) {
            guard !fits, evictable else { return }
            victims.append(id)
            count -= 1
            bytes -= runBytes
        }
    }
}

public struct StoreError: Error, CustomStringConvertible {
    public enum Code: Sendable { case io, database, notFound, corrupt }
    public let code: Code
    public let description: String

    public init(_ code: Code, _ description: String) {
        self.code = code
        self.description = description
    }
}

/// A run of consecutive event lines: seqs `first ..< first + count`, each line
/// ending in `\n`.
public struct EventLines: Sendable {
    public var first: Int
    public var count: Int
    public var bytes: [UInt8]

    public init(first: Int, count: Int, bytes: [UInt8]) {
        self.first = first
        self.count = count
        self.bytes = bytes
    }

    /// Each line without its `\n`, with its seq.
    public func forEachLine(_ body: (Int, ArraySlice<UInt8>) -> Void) {
        var start = 0
        var seq = first
        for index in bytes.indices where bytes[index] == 0x0A {
            body(seq, bytes[start..<index])
            seq += 1
            start = index + 1
        }
    }
}

/// Reads a stored trace forward in chunks of whole lines.
public protocol EventCursor: Sendable {
    /// The next whole lines (about `maxBytes`, at least one), or nil at the end.
    func next(maxBytes: Int) throws(StoreError) -> EventLines?
}

/// Finding line ends quickly (memchr) in a stored trace.
enum LineScan {
    /// Offset just past the `n`-th newline at or after `from`, and how many were found (≤ n).
    static func skip(_ bytes: UnsafeRawBufferPointer, from: Int, lines n: Int) -> (end: Int, found: Int) {
        guard let base = bytes.baseAddress else { return (from, 0) }
        var offset = from
        var found = 0
        while found < n, offset < bytes.count {
            guard let hit = memchr(base + offset, 0x0A, bytes.count - offset) else { break }
            offset = UnsafeRawPointer(hit) - base + 1
            found += 1
        }
        return (offset, found)
    }

    /// Offset just past the last newline in `bytes`, or 0.
    static func lastLineEnd(_ bytes: UnsafeRawBufferPointer) -> Int {
        var index = bytes.count
        while index > 0 {
            if bytes[index - 1] == 0x0A { return index }
            index -= 1
        }
        return 0
    }
}
