import ArgumentParser
import CSystem
import Glibc
import JSON
import Store
import Tracing

/// `interleave bench-store`: how fast the run store takes events, against how fast the
/// recorder makes them (same run, same machine): a store that keeps up with the
/// recorder never makes the disk fall behind a live run.
struct BenchStore: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-store",
        abstract: "Measure the store's append rate (events/s) against the recorder's, and against one SQLite row per event.")

    @Option(help: "Events in the trace.") var events = 200_000
    @Option(help: "Events per append, as the store writer batches them.") var batch = 8192
    @Option(help: "Repetitions; the best of each is kept.") var repeats = 3

    func run() throws {
        var emitBest = Double.infinity, encodeBest = Double.infinity, fileBest = Double.infinity
        var rowsBest = Double.infinity, replayBest = Double.infinity
        var bytes = 0
        for _ in 0..<repeats {
            let recorder = TraceRecorder(capacity: events + 10)
            var t = now()
            for index in 0..<events {
                recorder.emit(index % 3 == 0 ? "var.read" : "log", lane: "worker-\(index % 4)", ["var": "counter", "value": .int(index)])
            }
            recorder.finish()
            emitBest = min(emitBest, now() - t)

            t = now()
            var batches: [([UInt8], Int)] = []
            var next = 0
            while true {
                let chunk = recorder.readEncoded(from: next, limit: batch)
                if chunk.isEmpty { break }
                batches.append((chunk.bytes, chunk.count))
                next += chunk.count
            }
            encodeBest = min(encodeBest, now() - t)
            bytes = batches.reduce(0) { $0 + $1.0.count }

            let directory = temporaryDirectory()
            defer { remove(directory) }
            let store = try DiskRunStore(directory: directory + "/store")
            try store.insert(RunSnapshot(id: "bench", experiment: "bench", params: [:], status: .running, createdAt: Timestamp.now()))
            t = now()
            for (lines, count) in batches { try store.append("bench", lines: lines, count: count) }
            try store.update(RunSnapshot(id: "bench", experiment: "bench", params: [:], status: .completed, createdAt: Timestamp.now()))
            fileBest = min(fileBest, now() - t)  // includes the fsync that seals the run

            t = now()
            let cursor = try store.events("bench", from: 0)
            var read = 0
            while let lines = try cursor.next(maxBytes: 1 << 20) { read += lines.count }
            precondition(read == events, "replay read \(read) of \(events) events")
            replayBest = min(replayBest, now() - t)

            rowsBest = min(rowsBest, try StoreBenchmark.sqliteRows(directory: directory, batches: batches.map(\.0)))
        }
        func rate(_ seconds: Double) -> String { String(Int((Double(events) / seconds).rounded())) }
        let perEvent = bytes / max(events, 1)
        writeOut("""
            store append rate, \(events) events (~\(perEvent) bytes each), batches of \(batch), best of \(repeats)
              recorder emit (1 thread)         \(rate(emitBest)) events/s
              encode once (readEncoded)        \(rate(encodeBest)) events/s
              store append, NDJSON files       \(rate(fileBest)) events/s   (\(ratio(emitBest, fileBest))× the recorder's rate, fsync included)
              one SQLite row per event         \(rate(rowsBest)) events/s   (\(ratio(emitBest, rowsBest))× the recorder's rate)
              replay read from the store       \(rate(replayBest)) events/s

            """)
    }

    private func ratio(_ recorder: Double, _ store: Double) -> String { String((recorder / store * 100).rounded() / 100) }

    private func now() -> Double { Double(interleave_monotonic_ns()) / 1e9 }

    private func temporaryDirectory() -> String {
        var template = Array("/tmp/interleave-bench-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    private func remove(_ path: String) {
        for name in ["store/traces/bench.ndjson", "store/interleave.sqlite", "store/interleave.sqlite-wal", "store/interleave.sqlite-shm",
                     "rows.sqlite", "rows.sqlite-wal", "rows.sqlite-shm"] {
            unlink(path + "/" + name)
        }
        rmdir(path + "/store/traces")
        rmdir(path + "/store")
        rmdir(path)
    }
}
