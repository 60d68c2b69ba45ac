import Experiments
import GRDB
import Glibc
import JSON
import Synchronization

/// The store on disk: SQLite (through GRDB, WAL mode) for what is small and edited —
/// runs' metadata, notes, lessons — and one append-only NDJSON file per run for its
/// events, `traces/<id>.ndjson`, holding exactly the bytes the live stream sent.
///
/// Why files for events: appending a batch is one `write` to the page cache, a
/// replay is a sequential read whose bytes go straight to the client, and a crash
/// can only tear the last line, which start-up cuts off. (`interleave bench` measures
/// this against one SQLite row per event.)
///
/// Crash safety: a run's row is inserted (status `running`) before its first event
/// is appended; its file is fsynced before its row says it ended. So after `kill -9`
/// a row that still says `queued`/`running` is a run that was cut off: start-up marks
/// it `interrupted` and counts the whole lines its file holds, cutting a torn last
/// line off. A file whose size disagrees with its row is recounted the same way.
public final class DiskRunStore: RunStore {
    public let directory: String
    public let retention: RetentionPolicy
    private let database: DatabaseQueue
    private var tracesDirectory: String { directory + "/traces" }

    /// Files of runs being written, kept open between appends.
    private struct OpenTrace {
        var fd: Int32
        var count: Int
        var bytes: Int
    }

    /// The open trace files, and the runs deleted while their file was open. Every use of
    /// an fd — write, fsync, close — happens under this lock, so a delete can never close
    /// a file an append is writing (which used to end in EBADF, or in a write to whatever
    /// file had since reused the fd number); and a run deleted under its writer stays
    /// deleted: the writer's next append gets `notFound` instead of recreating the file.
    private struct Traces {
        var open: [String: OpenTrace] = [:]
        /// Cleared when the run's writer hears it is gone (its next append or final update)
        /// or when a run with the id is inserted again; only runs open at their delete get one.
        var deleted: Set<String> = []
    }

    private let traces = Mutex(Traces())
    /// What start-up repaired, for the log and the tests.
    public var recovered: [String] { recoveredIDs.withLock { $0 } }
    private let recoveredIDs = Mutex<[String]>([])

    /// Opens (creating if needed) the store in `directory` and repairs what a crash left.
    /// `recover: false` opens a store a running server may be using (the CLI), without
    /// repairing anything: a run that is live there must not be marked interrupted here.
    public init(directory: String, retention: RetentionPolicy = .disk, recover: Bool = true) throws(StoreError) {
        self.directory = directory
        self.retention = retention
        try Self.makeDirectory(directory)
        try Self.makeDirectory(directory + "/traces")
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.label = "interleave-store"
        configuration.prepareDatabase { db in
            // WAL + NORMAL: a commit survives a process crash; only power loss can lose the newest.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            database = try DatabaseQueue(path: directory + "/interleave.sqlite", configuration: configuration)
            try Self.migrator.migrate(database)
        } catch {
            throw StoreError(.database, "cannot open the store in \(directory): \(error)")
        }
        let repaired = recover ? try self.recover() : []
        recoveredIDs.withLock { $0 = repaired }
    }

    private static func makeDirectory(_ path: String) throws(StoreError) {
        if mkdir(path, 0o755) != 0, errno != EEXIST {
            throw StoreError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
        }
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE run (
                    id TEXT PRIMARY KEY NOT NULL,
                    position INTEGER NOT NULL,
                    experiment TEXT NOT NULL,
                    params TEXT NOT NULL,
                    status TEXT NOT NULL,
                    createdAt TEXT NOT NULL,
                    startedAt TEXT,
                    endedAt TEXT,
                    summary TEXT,
                    eventCount INTEGER NOT NULL DEFAULT 0,
                    bytes INTEGER NOT NULL DEFAULT 0,
                    title TEXT,
                    description TEXT,
                    tags TEXT NOT NULL DEFAULT '[]',
                    pinned INTEGER NOT NULL DEFAULT 0,
                    origin TEXT NOT NULL DEFAULT 'live'
                );
                CREATE INDEX run_position ON run(position);
                CREATE TABLE note (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    run TEXT NOT NULL REFERENCES run(id) ON DELETE CASCADE,
                    seq INTEGER NOT NULL,
                    text TEXT NOT NULL,
                    createdAt TEXT NOT NULL
                );
                CREATE INDEX note_run ON note(run);
                CREATE TABLE lesson (
                    id TEXT PRIMARY KEY NOT NULL,
                    position INTEGER NOT NULL,
                    title TEXT NOT NULL,
                    description TEXT NOT NULL,
                    steps TEXT NOT NULL,
                    createdAt TEXT NOT NULL,
                    updatedAt TEXT NOT NULL
                );
                """)
        }
        return migrator
    }

    // MARK: Runs

    public func insert(_ run: RunSnapshot) throws(StoreError) {
        let path = try tracePath(run.id)
        try write { db in
            let position = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(position), 0) + 1 FROM run") ?? 1
            try db.execute(sql: "DELETE FROM run WHERE id = ?", arguments: [run.id])
            try db.execute(sql: """
                INSERT INTO run (id, position, experiment, params, status, createdAt, startedAt, endedAt, summary,
                                 eventCount, bytes, title, description, tags, pinned, origin)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: Self.arguments(run, position: position))
        }
        // A leftover file from an earlier run with this id would corrupt the new trace.
        traces.withLock { traces in
            traces.deleted.remove(run.id)
            unlink(path)
        }
    }

    public func update(_ run: RunSnapshot) throws(StoreError) {
        var run = run
        if let trace = traces.withLock({ $0.open[run.id] }) {
            run.eventCount = trace.count
            run.bytes = trace.bytes
            if run.status.isFinal { try seal(run.id) }
        }
        let changed = try write { db in
            try db.execute(sql: """
                UPDATE run SET experiment = ?, params = ?, status = ?, createdAt = ?, startedAt = ?, endedAt = ?,
                               summary = ?, eventCount = ?, bytes = ?, title = ?, description = ?, tags = ?,
                               pinned = ?, origin = ?
                WHERE id = ?
                """, arguments: [run.experiment, JSONValue.object(run.params).jsonString, run.status.rawValue,
                                 run.createdAt, run.startedAt, run.endedAt,
                                 run.summary.map { JSONValue.object($0).jsonString }, run.eventCount, run.bytes,
                                 run.title, run.description, JSONValue(run.tags).jsonString, run.pinned, run.origin,
                                 run.id])
            return db.changesCount
        }
        if changed == 0 {
            // Its writer has heard that it was deleted: nothing more will come for it.
            traces.withLock { _ = $0.deleted.remove(run.id) }
            throw StoreError(.notFound, "no run \(run.id)")
        }
    }

    public func snapshot(_ id: String) throws(StoreError) -> RunSnapshot? {
        guard Self.isSafeID(id) else { return nil }
        return try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM run WHERE id = ?", arguments: [id]).map(Self.snapshot(from:))
        }
    }

    public func list() throws(StoreError) -> [RunSnapshot] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM run ORDER BY position DESC").map(Self.snapshot(from:)) }
    }

    @discardableResult
    public func delete(_ id: String) throws(StoreError) -> Bool {
        guard Self.isSafeID(id) else { return false }
        // The file first: a crash in between leaves a row without a trace, which start-up
        // recognises as a cut-off delete (a trace without a row would be adopted instead).
        let path = try tracePath(id)
        traces.withLock { traces in
            if let trace = traces.open.removeValue(forKey: id) {
                // A writer is still appending to it: close it here, under the lock its
                // appends take, and refuse its later appends.
                close(trace.fd)
                traces.deleted.insert(id)
            }
            unlink(path)
        }
        return try write { db in
            try db.execute(sql: "DELETE FROM run WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    // MARK: Events

    public func append(_ id: String, lines: [UInt8], count: Int) throws(StoreError) {
        let path = try tracePath(id)
        try traces.withLock { traces throws(StoreError) in
            guard !traces.deleted.contains(id) else {
                traces.deleted.remove(id)
                throw StoreError(.notFound, "run \(id) was deleted while it was being written")
            }
            var trace: OpenTrace
            if let existing = traces.open[id] {
                trace = existing
            } else {
                // A file already there belongs to this run (appended to after an early seal, or
                // an import): count what it holds, so the row's counts stay those of the file.
                var info = stat()
                let (count, bytes) = stat(path, &info) == 0 && info.st_size > 0 ? try Self.repairTrace(path) : (0, 0)
                let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw StoreError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
                trace = OpenTrace(fd: fd, count: count, bytes: bytes)
            }
            // Recorded before the write, so a write that fails does not leak a newly opened fd.
            traces.open[id] = trace
            try Self.writeAll(trace.fd, lines, path: path)
            trace.count += count
            trace.bytes += lines.count
            traces.open[id] = trace
        }
    }

    /// fsyncs and closes a finished run's file, so its row may say it ended.
    private func seal(_ id: String) throws(StoreError) {
        try traces.withLock { traces throws(StoreError) in
            guard let trace = traces.open.removeValue(forKey: id) else { return }
            defer { close(trace.fd) }
            if fsync(trace.fd) != 0 { throw StoreError(.io, "fsync of the trace of \(id) failed: \(String(cString: strerror(errno)))") }
        }
    }

    public func events(_ id: String, from seq: Int) throws(StoreError) -> any EventCursor {
        guard let run = try snapshot(id) else { throw StoreError(.notFound, "no run \(id)") }
        let path = try tracePath(id)
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            // No file yet: a live run whose writer has not flushed its first batch (it
            // writes every 50 ms), so nothing of it is on disk to read.
            if errno == ENOENT, run.eventCount == 0 || !run.status.isFinal { return BufferCursor([], from: 0) }
            throw StoreError(.io, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        return try FileCursor(fd: fd, from: seq)
    }

    // MARK: Retention

    /// Rows `enforceRetention` has walked, for the tests.
    let retentionRowsRead = Atomic<Int>(0)

    /// Runs every seal, so it must not cost in proportion to the runs kept: it reads the
    /// totals, and only when they are over a limit the oldest rows' id, size, status and
    /// pin, stopping once the rest fit. (It used to read and decode every row at every
    /// seal: at 1,000 runs the store writer fell behind a busy server, and the finished
    /// runs waiting for it held their traces in memory, hundreds of MB in the soak.)
    @discardableResult
    public func enforceRetention() throws(StoreError) -> [String] {
        let live = traces.withLock { $0.open.mapValues(\.bytes) }
        let victims: [String] = try read { db in
            guard let totals = try Row.fetchOne(db, sql: "SELECT COUNT(*) AS runs, COALESCE(SUM(bytes), 0) AS bytes FROM run")
            else { return [] }
            var bytes: Int = totals["bytes"]
            if !live.isEmpty {
                // An open trace holds more than its row says: count what it holds.
                let marks = Array(repeating: "?", count: live.count).joined(separator: ",")
                for row in try Row.fetchAll(db, sql: "SELECT id, bytes FROM run WHERE id IN (\(marks))",
                                            arguments: StatementArguments(Array(live.keys))) {
                    bytes += (live[row["id"] as String] ?? 0) - (row["bytes"] as Int)
                }
            }
            var eviction = RetentionPolicy.Eviction(retention, count: totals["runs"], bytes: bytes)
            if eviction.fits { return [] }
            let rows = try Row.fetchCursor(db, sql: "SELECT id, bytes, status, pinned FROM run ORDER BY position")
            while !eviction.fits, let row = try rows.next() {
                retentionRowsRead.add(1, ordering: .relaxed)
                let id: String = row["id"]
                // A run whose trace is still open is still being written (its writer has not
                // sealed it), whatever its row says: it is not evicted under its writer.
                let open = live[id]
                let final = (RunStatus(rawValue: row["status"] as String) ?? .interrupted).isFinal
                eviction.consider(id, bytes: open ?? row["bytes"], evictable: open == nil && final && !(row["pinned"] as Bool))
            }
            return eviction.victims
        }
        for id in victims { try delete(id) }
        return victims
    }

    // MARK: Notes

    public func notes(_ run: String) throws(StoreError) -> [RunNote] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM note WHERE run = ? ORDER BY seq, id", arguments: [run]).map {
                RunNote(id: $0["id"], run: $0["run"], seq: $0["seq"], text: $0["text"], createdAt: $0["createdAt"])
            }
        }
    }

    public func addNote(run: String, seq: Int, text: String, createdAt: String) throws(StoreError) -> RunNote {
        let id: Int? = try write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM run WHERE id = ?", arguments: [run]) != nil else { return nil }
            try db.execute(sql: "INSERT INTO note (run, seq, text, createdAt) VALUES (?, ?, ?, ?)",
                           arguments: [run, seq, text, createdAt])
            return Int(db.lastInsertedRowID)
        }
        guard let id else { throw StoreError(.notFound, "no run \(run)") }
        return RunNote(id: id, run: run, seq: seq, text: text, createdAt: createdAt)
    }

    @discardableResult
    public func deleteNote(run: String, id: Int) throws(StoreError) -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM note WHERE run = ? AND id = ?", arguments: [run, id])
            return db.changesCount > 0
        }
    }

    // MARK: Lessons

    public func lessons() throws(StoreError) -> [Lesson] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM lesson ORDER BY position").map(Self.lesson(from:)) }
    }

    public func lesson(_ id: String) throws(StoreError) -> Lesson? {
        try read { db in try Row.fetchOne(db, sql: "SELECT * FROM lesson WHERE id = ?", arguments: [id]).map(Self.lesson(from:)) }
    }

    public func save(_ lesson: Lesson) throws(StoreError) {
        try write { db in
            let existing = try Int.fetchOne(db, sql: "SELECT position FROM lesson WHERE id = ?", arguments: [lesson.id])
            let position = try existing ?? (Int.fetchOne(db, sql: "SELECT COALESCE(MAX(position), 0) + 1 FROM lesson") ?? 1)
            try db.execute(sql: """
                INSERT OR REPLACE INTO lesson (id, position, title, description, steps, createdAt, updatedAt)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [lesson.id, position, lesson.title, lesson.description,
                                 LessonCoding.json(lesson.steps).jsonString, lesson.createdAt, lesson.updatedAt])
        }
    }

    @discardableResult
    public func deleteLesson(_ id: String) throws(StoreError) -> Bool {
        try write { db in
            try db.execute(sql: "DELETE FROM lesson WHERE id = ?", arguments: [id])
            return db.changesCount > 0
        }
    }

    // MARK: Recovery

    /// Marks runs a crash cut off as `interrupted`, recounts traces whose size disagrees
    /// with their row (cutting a torn last line off), and removes traces without a row.
    private func recover() throws(StoreError) -> [String] {
        let runs = try read { db in try Row.fetchAll(db, sql: "SELECT * FROM run").map(Self.snapshot(from:)) }
        var repaired: [String] = []
        var known = Set<String>()
        for var run in runs {
            known.insert(run.id)
            guard Self.isSafeID(run.id) else { continue }
            let path = try tracePath(run.id)
            var info = stat()
            let exists = stat(path, &info) == 0
            let size = exists ? Int(info.st_size) : 0
            let cutOff = !run.status.isFinal
            guard cutOff || size != run.bytes else { continue }
            if !exists, !cutOff {
                // A finished run whose trace is gone: its delete was cut off; finish it.
                _ = try write { db in try db.execute(sql: "DELETE FROM run WHERE id = ?", arguments: [run.id]) }
                continue
            }
            let (count, bytes) = exists ? try Self.repairTrace(path) : (0, 0)
            run.eventCount = count
            run.bytes = bytes
            if cutOff {
                run.status = .interrupted
                if exists { run.endedAt = Timestamp.format(seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec) }
                var summary = run.summary ?? [:]
                summary["verdict"] = .string("Interrupted: the server stopped while it ran; the \(count) events recorded until then were kept.")
                summary["recovered"] = true
                run.summary = summary
            }
            try update(run)
            repaired.append(run.id)
        }
        // Traces without a row: the row's commit was lost (a torn journal) — adopt them.
        if let dir = opendir(tracesDirectory) {
            var orphans: [String] = []
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name.hasSuffix(".ndjson") else { continue }
                let id = String(name.dropLast(7))
                if !known.contains(id), Self.isSafeID(id) { orphans.append(id) }
            }
            closedir(dir)
            for id in orphans {
                try adopt(id)
                repaired.append(id)
            }
        }
        return repaired
    }

    /// Makes a row for a trace that has none, from its `run.start` line, as an interrupted run.
    private func adopt(_ id: String) throws(StoreError) {
        let path = try tracePath(id)
        let (count, bytes) = try Self.repairTrace(path)
        var info = stat()
        stat(path, &info)
        let when = Timestamp.format(seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec)
        var first: JSONValue = .null
        if let cursor = try? FileCursor(fd: Glibc.open(path, O_RDONLY | O_CLOEXEC), from: 0),
           let lines = try? cursor.next(maxBytes: 1 << 16), let end = lines.bytes.firstIndex(of: 0x0A) {
            first = (try? JSONParser.parse(Array(lines.bytes[..<end]))) ?? .null
        }
        let isStart = first["type"]?.stringValue == "run.start"
        let run = RunSnapshot(
            id: id, experiment: isStart ? first["experiment"]?.stringValue ?? "unknown" : "unknown",
            params: isStart ? first["params"]?.objectValue ?? [:] : [:], status: .interrupted, createdAt: when,
            endedAt: when,
            summary: ["verdict": .string("Interrupted: the server stopped while it ran; the \(count) events recorded until then were kept."),
                      "recovered": true],
            eventCount: count, bytes: bytes)
        try write { db in
            let position = try Int.fetchOne(db, sql: "SELECT COALESCE(MAX(position), 0) + 1 FROM run") ?? 1
            try db.execute(sql: """
                INSERT INTO run (id, position, experiment, params, status, createdAt, startedAt, endedAt, summary,
                                 eventCount, bytes, title, description, tags, pinned, origin)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: Self.arguments(run, position: position))
        }
    }

    /// Cuts a trace back to its last whole line; returns its lines and bytes.
    static func repairTrace(_ path: String) throws(StoreError) -> (count: Int, bytes: Int) {
        let fd = Glibc.open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw StoreError(.io, "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var count = 0
        var total = 0
        var lastLineEnd = 0
        while true {
            let got = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if got < 0, errno == EINTR { continue }
            guard got > 0 else { break }
            buffer.withUnsafeBytes { raw in
                let chunk = UnsafeRawBufferPointer(rebasing: raw[0..<got])
                let (_, found) = LineScan.skip(chunk, from: 0, lines: Int.max)
                count += found
                let end = LineScan.lastLineEnd(chunk)
                if end > 0 { lastLineEnd = total + end }
            }
            total += got
        }
        if lastLineEnd != total { ftruncate(fd, off_t(lastLineEnd)) }
        return (count, lastLineEnd)
    }

    // MARK: Helpers

    /// Run ids become file names: only letters, digits, `-` and `_`.
    static func isSafeID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.utf8.allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D || $0 == 0x5F
        }
    }

    private func tracePath(_ id: String) throws(StoreError) -> String {
        guard Self.isSafeID(id) else { throw StoreError(.notFound, "no run \(id.prefix(80))") }
        return tracesDirectory + "/" + id + ".ndjson"
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(StoreError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw StoreError(.io, "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += written
        }
    }

    private func write<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try database.write(body) } catch { throw StoreError(.database, "\(error)") }
    }

    private func read<T>(_ body: (Database) throws -> T) throws(StoreError) -> T {
        do { return try database.read(body) } catch { throw StoreError(.database, "\(error)") }
    }

    private static func arguments(_ run: RunSnapshot, position: Int) -> StatementArguments {
        [run.id, position, run.experiment, JSONValue.object(run.params).jsonString, run.status.rawValue, run.createdAt,
         run.startedAt, run.endedAt, run.summary.map { JSONValue.object($0).jsonString }, run.eventCount, run.bytes,
         run.title, run.description, JSONValue(run.tags).jsonString, run.pinned, run.origin]
    }

    private static func object(_ text: String?) -> JSONObject? {
        guard let text, let value = try? JSONParser.parse(text) else { return nil }
        return value.objectValue
    }

    private static func snapshot(from row: Row) -> RunSnapshot {
        let tags = (try? JSONParser.parse(row["tags"] as String? ?? "[]"))?.arrayValue?.compactMap(\.stringValue) ?? []
        return RunSnapshot(
            id: row["id"], experiment: row["experiment"], params: object(row["params"]) ?? [:],
            status: RunStatus(rawValue: row["status"]) ?? .interrupted, createdAt: row["createdAt"],
            startedAt: row["startedAt"], endedAt: row["endedAt"], summary: object(row["summary"]),
            eventCount: row["eventCount"], bytes: row["bytes"], title: row["title"], description: row["description"],
            tags: tags, pinned: row["pinned"], origin: row["origin"])
    }

    private static func lesson(from row: Row) -> Lesson {
        let steps = (try? JSONParser.parse(row["steps"] as String)).map(LessonCoding.steps(_:)) ?? []
        return Lesson(id: row["id"], title: row["title"], description: row["description"], steps: steps,
                      createdAt: row["createdAt"], updatedAt: row["updatedAt"])
    }
}

/// Lesson steps as JSON, the form the API shows and the store keeps.
public enum LessonCoding {
    public static func json(_ step: LessonStep) -> JSONValue {
        var object: JSONObject = ["run": .string(step.run)]
        object["view"] = step.view.map { JSONValue($0) } ?? .null
        object["seq"] = JSONValue(step.seq)
        object["note"] = .string(step.note)
        return .object(object)
    }

    public static func json(_ steps: [LessonStep]) -> JSONValue { .array(steps.map(json)) }

    static func steps(_ value: JSONValue) -> [LessonStep] {
        (value.arrayValue ?? []).compactMap { step in
            guard let run = step["run"]?.stringValue else { return nil }
            return LessonStep(run: run, view: step["view"]?.arrayValue?.compactMap(\.intValue), seq: step["seq"]?.intValue,
                              note: step["note"]?.stringValue ?? "")
        }
    }
}

/// Reads whole lines from a trace file, forward.
final class FileCursor: EventCursor {
    private struct State {
        var fd: Int32
        var pending: [UInt8] = []
        var seq = 0
        var eof = false
    }

    private let state: Mutex<State>

    init(fd: Int32, from seq: Int) throws(StoreError) {
        var state = State(fd: fd)
        // Skip `seq` lines.
        var toSkip = max(seq, 0)
        while toSkip > 0 {
            guard let chunk = Self.readChunk(&state, 1 << 18) else { break }
            let (end, found) = chunk.withUnsafeBytes { LineScan.skip($0, from: 0, lines: toSkip) }
            toSkip -= found
            state.seq += found
            state.pending = Array(chunk[end...])
        }
        self.state = Mutex(state)
    }

    deinit { state.withLock { close($0.fd) } }

    /// Pending bytes plus up to `size` more from the file; nil at the end of both.
    private static func readChunk(_ state: inout State, _ size: Int) -> [UInt8]? {
        var chunk = state.pending
        state.pending = []
        if !state.eof {
            var buffer = [UInt8](repeating: 0, count: size)
            while true {
                let got = buffer.withUnsafeMutableBytes { read(state.fd, $0.baseAddress, $0.count) }
                if got < 0, errno == EINTR { continue }
                if got <= 0 { state.eof = true } else { chunk.append(contentsOf: buffer[0..<got]) }
                break
            }
        }
        return chunk.isEmpty ? nil : chunk
    }

    func next(maxBytes: Int) throws(StoreError) -> EventLines? {
        state.withLock { state in
            while true {
                guard let chunk = Self.readChunk(&state, max(maxBytes, 4096)) else { return nil }
                let end = chunk.withUnsafeBytes { LineScan.lastLineEnd($0) }
                if end == 0 {
                    // No whole line yet: keep reading, unless the file ended (a torn tail is not a line).
                    if state.eof { return nil }
                    state.pending = chunk
                    continue
                }
                state.pending = Array(chunk[end...])
                let bytes = Array(chunk[..<end])
                let count = bytes.withUnsafeBytes { LineScan.skip($0, from: 0, lines: Int.max).found }
                let lines = EventLines(first: state.seq, count: count, bytes: bytes)
                state.seq += count
                return lines
            }
        }
    }
}
