import GRDB
import Glibc

/// The alternative the disk store did not take, measured by `interleave bench-store`:
/// every event as its own SQLite row (WAL, one transaction per batch, as the
/// writer's batches), so the README's choice of append-only files is a measurement.
public enum StoreBenchmark {
    /// Inserts each batch's lines as rows; returns the seconds it took.
    public static func sqliteRows(directory: String, batches: [[UInt8]]) throws -> Double {
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let queue = try DatabaseQueue(path: directory + "/rows.sqlite", configuration: configuration)
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE event (run TEXT NOT NULL, seq INTEGER NOT NULL, line TEXT NOT NULL, PRIMARY KEY (run, seq)) WITHOUT ROWID")
        }
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        let start = Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
        var seq = 0
        for batch in batches {
            try queue.write { db in
                let statement = try db.makeStatement(sql: "INSERT INTO event (run, seq, line) VALUES ('bench', ?, ?)")
                var lineStart = 0
                for index in batch.indices where batch[index] == 0x0A {
                    try statement.execute(arguments: [seq, String(decoding: batch[lineStart..<index], as: UTF8.self)])
                    seq += 1
                    lineStart = index + 1
                }
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9 - start
    }
}
