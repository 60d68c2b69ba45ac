import Dispatch
import Foundation
import Glibc
import JSON
import Store
import Testing

/// Deleting a run while its writer is appending to it (what fuzzing the API hit as
/// "Bad file descriptor" in the store's log): the delete closes the trace under the lock
/// the appends take, and the run stays deleted — the writer's next append is told
/// `notFound` instead of recreating the file.
@Suite struct StoreRaceTests {
    static let line = Array("{\"seq\":0,\"type\":\"x\"}\n".utf8)

    static func run(_ id: String) -> RunSnapshot {
        RunSnapshot(id: id, experiment: "threads", params: [:], status: .running, createdAt: Timestamp.now())
    }

    /// This process's open fds on the trace of run `id` (a deleted file reads as "… (deleted)").
    /// (Other tests run in parallel in this process, so counting all fds would not say anything.)
    static func fds(onTraceOf id: String) -> Int {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.filter { fd in
            let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? ""
            return target.contains("/traces/\(id).ndjson")
        }.count
    }

    @Test func aRunDeletedWhileItsWriterAppendsStaysDeleted() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DiskRunStore(directory: directory)
        let id = "deleted-under-its-writer"
        try store.insert(Self.run(id))

        // The writer appends until the store refuses; it says when it has appended 100 batches
        // (so the trace is open and being written), and the delete comes then, mid-stream.
        let writing = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let outcome = Outcome()
        DispatchQueue.global().async {
            var appended = 0
            defer { finished.signal() }
            while appended < 10_000_000 {
                do {
                    try store.append(id, lines: Self.line, count: 1)
                } catch {
                    outcome.set(error: error, appended: appended)
                    return
                }
                appended += 1
                if appended == 100 { writing.signal() }
            }
            outcome.set(error: nil, appended: appended)
        }
        writing.wait()
        #expect(Self.fds(onTraceOf: id) == 1, "the trace is open while it is written")
        #expect(try store.delete(id))
        finished.wait()

        let (error, appended) = outcome.get()
        #expect(appended >= 100)
        #expect(error?.code == .notFound, "the writer's append after the delete: \(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/traces/\(id).ndjson"), "the delete was undone by a later append")
        #expect(try store.snapshot(id) == nil)
        // The writer's final update hears the same, and clears what the store kept about the run.
        var final = Self.run(id)
        final.status = .completed
        #expect(throws: StoreError.self) { try store.update(final) }
        #expect(Self.fds(onTraceOf: id) == 0, "the trace is still open")
    }

    @Test func aDeleteBetweenTwoAppendsIsFinalAndTheIdCanBeUsedAgain() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DiskRunStore(directory: directory)
        let id = "between-appends"
        try store.insert(Self.run(id))
        try store.append(id, lines: Self.line, count: 1)
        #expect(try store.delete(id))
        #expect { try store.append(id, lines: Self.line, count: 1) } throws: { ($0 as? StoreError)?.code == .notFound }
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/traces/\(id).ndjson"))
        // Inserted again, the id is a new run that is written normally.
        try store.insert(Self.run(id))
        try store.append(id, lines: Self.line + Self.line, count: 2)
        var final = Self.run(id)
        final.status = .completed
        try store.update(final)
        #expect(try store.snapshot(id)?.eventCount == 2)
    }

    @Test func aRunStillBeingWrittenIsNotEvictedWhateverItsRowSays() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try DiskRunStore(directory: directory, retention: RetentionPolicy(maxRuns: 1, maxBytes: 1 << 30))
        let old = "old-open"
        try store.insert(Self.run(old))
        try store.append(old, lines: Self.line, count: 1)
        // Its row says it ended (sealed early), and then its writer appends again.
        var ended = Self.run(old)
        ended.status = .completed
        try store.update(ended)
        try store.append(old, lines: Self.line, count: 1)
        try store.insert(Self.run("newer"))
        var newer = Self.run("newer")
        newer.status = .completed
        try store.update(newer)
        #expect(try store.enforceRetention().contains(old) == false, "evicted under its writer")
        try store.append(old, lines: Self.line, count: 1)
        try store.update(ended)
        // The counts are the file's: the two lines from before the early seal are counted too.
        #expect(try store.snapshot(old)?.eventCount == 3)
        #expect(try store.snapshot(old)?.bytes == 3 * Self.line.count)
    }
}

/// What the writer thread saw, read back by the test once it has finished.
private final class Outcome: @unchecked Sendable {
    private let lock = NSLock()
    private var error: StoreError?
    private var appended = 0

    func set(error: (any Error)?, appended: Int) {
        lock.withLock {
            self.error = error as? StoreError
            self.appended = appended
        }
    }

    func get() -> (StoreError?, Int) { lock.withLock { (error, appended) } }
}
