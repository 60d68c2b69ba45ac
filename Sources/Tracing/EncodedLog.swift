import JSON

/// A run's events as their canonical NDJSON lines, in seq order, each encoded exactly
/// once; every reader (NDJSON and SSE streams, the disk store) reads these bytes, and a
/// read hands out a reference to them, not a copy.
///
/// Lines live in segments of about `segmentBytes`, never split across two, so a read
/// is one contiguous range. Not thread-safe: the recorder guards it.
struct EncodedLog {
    static let segmentBytes = 1 << 20

    /// Lines held: they are seqs `0..<count`.
    private(set) var count = 0
    private(set) var byteCount = 0
    private var segments: [EncodedSegment] = []
    private var segmentFirstSeq: [Int] = []
    /// Per seq, where its line ends (exclusive) inside its segment.
    private var lineEnds: [UInt32] = []
    /// Where each line is encoded before it is copied into its segment.
    private var scratch = JSONWriter(capacity: 4096)

    /// Encodes the next lines (seq `count`, `count + 1`, …) with `body`, which calls
    /// `line` once per event with a writer positioned at the start of its line; the
    /// writer's bytes must end with exactly that line, newline included.
    mutating func append(_ body: (_ line: (_ write: (inout JSONWriter) -> Void) -> Void) -> Void) {
        withoutActuallyEscaping(body) { body in appendLines { line, _ in body(line) } }
    }

    /// A line written straight into the log's memory: at most `capacity` bytes at the
    /// pointer given, and `write` returns how many it wrote (the line, newline included).
    typealias RawLine = (_ capacity: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) -> Void

    /// `append`, where `body` may also write a line in place (`raw`): no scratch buffer, no copy.
    mutating func appendLines(_ body: (_ line: (_ write: (inout JSONWriter) -> Void) -> Void, _ raw: RawLine) -> Void) {
        var writer = JSONWriter(capacity: 0)
        swap(&writer, &scratch)
        defer { swap(&writer, &scratch) }
        body({ write in
            writer.bytes.removeAll(keepingCapacity: true)
            write(&writer)
            let length = writer.bytes.count
            if segments.isEmpty || segments[segments.count - 1].room < length {
                segments.append(EncodedSegment(capacity: max(Self.segmentBytes, length)))
                segmentFirstSeq.append(count)
            }
            let segment = segments[segments.count - 1]
            writer.bytes.withUnsafeBytes { segment.append($0) }
            byteCount += length
            lineEnds.append(UInt32(segment.used))
            count += 1
        }, { capacity, write in
            if segments.isEmpty || segments[segments.count - 1].room < capacity {
                segments.append(EncodedSegment(capacity: max(Self.segmentBytes, capacity)))
                segmentFirstSeq.append(count)
            }
            let length = segments[segments.count - 1].write(capacity: capacity, write)
            byteCount += length
            lineEnds.append(UInt32(segments[segments.count - 1].used))
            count += 1
        })
    }

    /// Up to `limit` lines (and about `maxBytes`, but at least one line) from `seq` on,
    /// as a range of the segment that holds them; fewer when a segment ends first.
    func read(from seq: Int, limit: Int, maxBytes: Int) -> (bytes: EncodedBytes, lineEnds: [Int]) {
        guard seq >= 0, seq < count, limit > 0 else { return (EncodedBytes(), []) }
        // The last segment whose first seq is <= seq.
        var low = 0, high = segmentFirstSeq.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if segmentFirstSeq[mid] <= seq { low = mid } else { high = mid - 1 }
        }
        let segment = low
        let segmentEnd = segment + 1 < segmentFirstSeq.count ? segmentFirstSeq[segment + 1] : count
        let first = seq == segmentFirstSeq[segment] ? 0 : Int(lineEnds[seq - 1])
        var end = seq, ends: [Int] = []
        ends.reserveCapacity(min(limit, segmentEnd - seq))
        while end < segmentEnd, ends.count < limit {
            let lineEnd = Int(lineEnds[end])
            if !ends.isEmpty, lineEnd - first > maxBytes { break }
            ends.append(lineEnd - first)
            end += 1
        }
        let last = Int(lineEnds[end - 1])
        return (EncodedBytes(segment: segments[segment], range: first..<last), ends)
    }
}

/// Bytes of encoded lines in one block of memory, appended under the recorder's lock
/// and never changed once written. A reader is handed a range below `used` (under that
/// lock, which orders the writing before it) and may read it later without the lock:
/// those bytes no longer change, and the reference keeps them alive.
final class EncodedSegment: @unchecked Sendable {
    private let base: UnsafeMutableRawPointer
    let capacity: Int
    /// Bytes written; only grows, only under the recorder's lock.
    private(set) var used = 0

    init(capacity: Int) {
        self.capacity = capacity
        // Pages are touched as lines are written, so a short run's segment costs little.
        base = .allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    var room: Int { capacity - used }

    func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= room, "a line must fit its segment")
        if let source = bytes.baseAddress { (base + used).copyMemory(from: source, byteCount: bytes.count) }
        used += bytes.count
    }

    /// Writes up to `capacity` bytes (at most `room`) past `used` with `write`, which
    /// returns how many it wrote; they become part of the segment. Under the recorder's
    /// lock, like `append`: readers only ever look below `used`.
    func write(capacity: Int, _ write: (UnsafeMutablePointer<UInt8>) -> Int) -> Int {
        precondition(capacity <= room, "a line must fit its segment")
        let length = write((base + used).bindMemory(to: UInt8.self, capacity: capacity))
        precondition(length <= capacity, "a line overran the room it asked for")
        used += length
        return length
    }

    /// Bytes `range` (below `used` when it was handed out: written, and never rewritten).
    func withUnsafeBytes<R>(_ range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }
}

/// A range of encoded lines, shared: every reader of the same lines holds the same
/// memory (the log's segment), so a thousand subscribers cost one copy of the trace.
public struct EncodedBytes: Sendable {
    private let segment: EncodedSegment?
    private let range: Range<Int>

    init(segment: EncodedSegment? = nil, range: Range<Int> = 0..<0) {
        self.segment = segment
        self.range = range
    }

    /// Bytes of lines encoded elsewhere (tests, imports): kept in a segment of their own.
    public init(_ bytes: [UInt8]) {
        let segment = EncodedSegment(capacity: max(bytes.count, 1))
        bytes.withUnsafeBytes { segment.append($0) }
        self.init(segment: segment, range: 0..<bytes.count)
    }

    public var count: Int { range.count }

    /// The bytes, borrowed for the duration of `body` (no copy).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        guard let segment else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return try segment.withUnsafeBytes(range, body)
    }

    /// A copy of the bytes.
    public var array: [UInt8] { withUnsafeBytes { Array($0) } }
}

/// Canonical NDJSON lines of consecutive events, as `TraceRecorder.readEncoded` hands
/// them out: the same bytes for every reader, encoded once per run and shared (the
/// batch refers to the run's encoded log; `shared` reads it without copying).
public struct EncodedEvents: Sendable {
    /// The seq of the first line.
    public let from: Int
    /// `count` lines, each one event's JSON object followed by `\n`, shared with every
    /// other reader of these events.
    public let shared: EncodedBytes
    /// Where each line ends in `bytes` (exclusive, after its `\n`).
    public let lineEnds: [Int]
    /// The trace has ended and nothing follows these lines.
    public let finished: Bool

    public var count: Int { lineEnds.count }
    public var isEmpty: Bool { lineEnds.isEmpty }
    /// The lines' bytes, copied out of the shared log.
    public var bytes: [UInt8] { shared.array }
    public var byteCount: Int { shared.count }

    public init(from: Int, bytes: EncodedBytes, lineEnds: [Int], finished: Bool) {
        self.from = from
        self.shared = bytes
        self.lineEnds = lineEnds
        self.finished = finished
    }

    public init(from: Int, bytes: [UInt8], lineEnds: [Int], finished: Bool) {
        self.init(from: from, bytes: EncodedBytes(bytes), lineEnds: lineEnds, finished: finished)
    }

    /// Each line without its newline: one event's JSON object.
    public var lines: [ArraySlice<UInt8>] {
        let bytes = self.bytes
        var start = 0
        return lineEnds.map { end in
            defer { start = end }
            return bytes[start..<(end - 1)]
        }
    }
}
