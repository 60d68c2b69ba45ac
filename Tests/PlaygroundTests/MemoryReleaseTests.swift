import Foundation
import Experiments
import JSON
@testable import Playground
@testable import Store
import Testing

/// Giving memory back: retention that costs what it evicts, not what it keeps (the store
/// writer seals every run through it; reading every row at every seal let it fall behind,
/// and the finished runs waiting for it held their traces in memory), and the idle hook
/// through which the tracer's spare chunks are released.
@Suite struct MemoryReleaseTests {
    static func run(_ id: String, _ status: RunStatus = .completed, bytes: Int = 0) -> RunSnapshot {
        var run = RunSnapshot(id: id, experiment: "threads", params: [:], status: status, createdAt: Timestamp.now())
        run.bytes = bytes
        return run
    }

    static func ids(_ range: Range<Int>) -> [String] { range.map { String(format: "run%09d", $0) } }

    @Test func retentionReadsOnlyTheRowsItEvicts() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DiskRunStore(directory: directory, retention: RetentionPolicy(maxRuns: 20, maxBytes: 1 << 30))
        for id in Self.ids(0..<30) { try store.insert(Self.run(id)) }
        #expect(try store.enforceRetention() == Self.ids(0..<10), "the 10 oldest")
        #expect(store.retentionRowsRead.load(ordering: .relaxed) == 10)
        // At the limit, one more run evicts one run, reading one row.
        try store.insert(Self.run(Self.ids(30..<31)[0]))
        #expect(try store.enforceRetention() == Self.ids(10..<11))
        #expect(store.retentionRowsRead.load(ordering: .relaxed) == 11)
        // Within the limits, no row is read at all.
        #expect(try store.enforceRetention() == [])
        #expect(store.retentionRowsRead.load(ordering: .relaxed) == 11)
        #expect(try store.list().count == 20)
    }

    @Test func retentionCountsAnOpenTraceAndEvictsTheNextRunInstead() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DiskRunStore(directory: directory, retention: RetentionPolicy(maxRuns: 2, maxBytes: 1 << 30))
        // The oldest run's row says it ended, but its writer still has its trace open.
        try store.insert(Self.run("open0"))
        try store.append("open0", lines: Array("{\"seq\":0}\n".utf8), count: 1)
        try store.insert(Self.run("done1"))
        try store.insert(Self.run("done2"))
        // Not evicted under its writer, and the limit still holds: the next oldest goes.
        #expect(try store.enforceRetention() == ["done1"])
        #expect(Set(try store.list().map(\.id)) == ["open0", "done2"])

        // Bytes: an open trace's bytes count although its row says 0.
        let bytes = try DiskRunStore(directory: directory + "-bytes", retention: RetentionPolicy(maxRuns: 100, maxBytes: 100))
        defer { try? FileManager.default.removeItem(atPath: directory + "-bytes") }
        try bytes.insert(Self.run("old", bytes: 40))
        try bytes.insert(Self.run("live", .running))
        try bytes.append("live", lines: Array(repeating: UInt8(ascii: "x"), count: 79) + [10], count: 1)
        #expect(try bytes.enforceRetention() == ["old"], "40 + 80 bytes are over 100")
        #expect(try bytes.enforceRetention() == [], "80 bytes fit")
    }

    @Test func theStoreWriterReportsIdleOnlyWhenNoRunIsHeld() {
        let idle = Counter()
        let writer = StoreWriter(store: MemoryRunStore(), liveRuns: { [] }, persisted: { _ in }, failed: { _, _ in },
                                 idle: { idle.add() })
        writer.pass()
        writer.pass()
        #expect(idle.value == 2)
    }
}

private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func add() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
