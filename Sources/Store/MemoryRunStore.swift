import Glibc
import JSON
import Synchronization

/// Keeps everything in memory (`--no-store`): each run's trace as one contiguous
/// buffer of NDJSON lines — a few allocations per run rather than several per event,
/// so evicting or deleting a run really gives its memory back.
public final class MemoryRunStore: RunStore {
    private struct Entry {
        var snapshot: RunSnapshot
        var trace: [UInt8] = []
        var notes: [RunNote] = []
    }

    private struct State {
        /// Oldest first.
        var runs: [Entry] = []
        var lessons: [Lesson] = []
        var nextNote = 1

        func index(_ id: String) -> Int? { runs.firstIndex { $0.snapshot.id == id } }
    }

    private let state = Mutex(State())
    public let retention: RetentionPolicy

    public init(retention: RetentionPolicy = .memory) {
        self.retention = retention
    }

    public func insert(_ run: RunSnapshot) throws(StoreError) {
        state.withLock { state in
            if let index = state.index(run.id) { state.runs.remove(at: index) }
            state.runs.append(Entry(snapshot: run))
        }
    }

    public func update(_ run: RunSnapshot) throws(StoreError) {
        try state.withLock { state throws(StoreError) in
            guard let index = state.index(run.id) else { throw StoreError(.notFound, "no run \(run.id)") }
            let held = state.runs[index].snapshot
            state.runs[index].snapshot = run
            // The trace's size is what this store holds, whatever the caller counted.
            state.runs[index].snapshot.eventCount = held.eventCount
            state.runs[index].snapshot.bytes = held.bytes
        }
    }

    public func snapshot(_ id: String) throws(StoreError) -> RunSnapshot? {
        state.withLock { state in state.index(id).map { state.runs[$0].snapshot } }
    }

    public func list() throws(StoreError) -> [RunSnapshot] {
        state.withLock { $0.runs.reversed().map(\.snapshot) }
    }

    @discardableResult
    public func delete(_ id: String) throws(StoreError) -> Bool {
        let removed: Entry? = state.withLock { state in
            guard let index = state.index(id) else { return nil }
            return state.runs.remove(at: index)
        }
        // Freed outside the lock; the caller decides when to hand memory back to the OS.
        return removed != nil
    }

    public func append(_ id: String, lines: [UInt8], count: Int) throws(StoreError) {
        try state.withLock { state throws(StoreError) in
            guard let index = state.index(id) else { throw StoreError(.notFound, "no run \(id)") }
            state.runs[index].trace.append(contentsOf: lines)
            state.runs[index].snapshot.eventCount += count
            state.runs[index].snapshot.bytes += lines.count
        }
    }

    public func events(_ id: String, from seq: Int) throws(StoreError) -> any EventCursor {
        guard let trace = state.withLock({ state in state.index(id).map { state.runs[$0].trace } }) else {
            throw StoreError(.notFound, "no run \(id)")
        }
        return BufferCursor(trace, from: seq)
    }

    @discardableResult
    public func enforceRetention() throws(StoreError) -> [String] {
        let evicted: [Entry] = state.withLock { state in
            let victims = Set(retention.victims(state.runs.map(\.snapshot)))
            guard !victims.isEmpty else { return [] }
            let gone = state.runs.filter { victims.contains($0.snapshot.id) }
            state.runs.removeAll { victims.contains($0.snapshot.id) }
            return gone
        }
        return evicted.map(\.snapshot.id)
    }

    public func notes(_ run: String) throws(StoreError) -> [RunNote] {
        try state.withLock { state throws(StoreError) in
            guard let index = state.index(run) else { throw StoreError(.notFound, "no run \(run)") }
            return state.runs[index].notes
        }
    }

    public func addNote(run: String, seq: Int, text: String, createdAt: String) throws(StoreError) -> RunNote {
        try state.withLock { state throws(StoreError) in
            guard let index = state.index(run) else { throw StoreError(.notFound, "no run \(run)") }
            let note = RunNote(id: state.nextNote, run: run, seq: seq, text: text, createdAt: createdAt)
            state.nextNote += 1
            state.runs[index].notes.append(note)
            return note
        }
    }

    @discardableResult
    public func deleteNote(run: String, id: Int) throws(StoreError) -> Bool {
        state.withLock { state in
            guard let index = state.index(run), let at = state.runs[index].notes.firstIndex(where: { $0.id == id }) else {
                return false
            }
            state.runs[index].notes.remove(at: at)
            return true
        }
    }

    public func lessons() throws(StoreError) -> [Lesson] { state.withLock { $0.lessons } }

    public func lesson(_ id: String) throws(StoreError) -> Lesson? {
        state.withLock { $0.lessons.first { $0.id == id } }
    }

    public func save(_ lesson: Lesson) throws(StoreError) {
        state.withLock { state in
            if let index = state.lessons.firstIndex(where: { $0.id == lesson.id }) {
                state.lessons[index] = lesson
            } else {
                state.lessons.append(lesson)
            }
        }
    }

    @discardableResult
    public func deleteLesson(_ id: String) throws(StoreError) -> Bool {
        state.withLock { state in
            guard let index = state.lessons.firstIndex(where: { $0.id == id }) else { return false }
            state.lessons.remove(at: index)
            return true
        }
    }
}

/// Reads whole lines out of an in-memory trace.
final class BufferCursor: EventCursor {
    private let trace: [UInt8]
    private struct Position { var offset: Int; var seq: Int }
    private let position: Mutex<Position>

    init(_ trace: [UInt8], from seq: Int) {
        self.trace = trace
        let (offset, found) = trace.withUnsafeBytes { LineScan.skip($0, from: 0, lines: max(seq, 0)) }
        self.position = Mutex(Position(offset: offset, seq: found))
    }

    func next(maxBytes: Int) throws(StoreError) -> EventLines? {
        position.withLock { position in
            guard position.offset < trace.count else { return nil }
            let limit = min(trace.count, position.offset + max(maxBytes, 1))
            var end = trace.withUnsafeBytes { LineScan.lastLineEnd(UnsafeRawBufferPointer(rebasing: $0[position.offset..<limit])) }
            if end == 0 {
                // A line longer than maxBytes: take it whole.
                end = trace.withUnsafeBytes { LineScan.skip($0, from: position.offset, lines: 1).end } - position.offset
            }
            let bytes = Array(trace[position.offset..<(position.offset + end)])
            let count = bytes.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
            let lines = EventLines(first: position.seq, count: count, bytes: bytes)
            position.offset += end
            position.seq += count
            return lines
        }
    }
}
