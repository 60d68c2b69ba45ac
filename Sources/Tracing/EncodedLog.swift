import JSON

/// A run's events as their canonical NDJSON lines, in seq order, each encoded exactly
/// once; every reader (NDJSON and SSE streams, the disk store) copies these bytes.
///
/// Lines live in segments of about `segmentBytes`, never split across two, so a read
/// copies one contiguous range. Not thread-safe: the recorder guards it.
struct EncodedLog {
    static let segmentBytes = 1 << 20

    /// Lines held: they are seqs `0..<count`.
    private(set) var count = 0
    private(set) var byteCount = 0
    private var segments: [[UInt8]] = []
    private var segmentFirstSeq: [Int] = []
    /// Per seq, where its line ends (exclusive) inside its segment.
    private var lineEnds: [UInt32] = []

    /// Encodes the next lines (seq `count`, `count + 1`, …) with `body`, which calls
    /// `line` once per event with a writer positioned at the start of its line; the
    /// writer's bytes must end with exactly that line, newline included.
    mutating func append(_ body: (_ line: (_ write: (inout JSONWriter) -> Void) -> Void) -> Void) {
        var writer = JSONWriter(capacity: 0)
        if segments.isEmpty || segments[segments.count - 1].count >= Self.segmentBytes {
            segments.append([])
            segments[segments.count - 1].reserveCapacity(Self.segmentBytes + 4096)
            segmentFirstSeq.append(count)
        }
        swap(&writer.bytes, &segments[segments.count - 1])
        body { write in
            if writer.bytes.count >= Self.segmentBytes {
                // Start a new segment at a line boundary.
                swap(&writer.bytes, &segments[segments.count - 1])
                segments.append([])
                segments[segments.count - 1].reserveCapacity(Self.segmentBytes + 4096)
                segmentFirstSeq.append(count)
                swap(&writer.bytes, &segments[segments.count - 1])
            }
            let before = writer.bytes.count
            write(&writer)
            byteCount += writer.bytes.count - before
            lineEnds.append(UInt32(writer.bytes.count))
            count += 1
        }
        swap(&writer.bytes, &segments[segments.count - 1])
    }

    /// Up to `limit` lines (and about `maxBytes`, but at least one line) from `seq` on,
    /// copied out; fewer when a segment ends first.
    func read(from seq: Int, limit: Int, maxBytes: Int) -> (bytes: [UInt8], lineEnds: [Int]) {
        guard seq >= 0, seq < count, limit > 0 else { return ([], []) }
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
        let bytes = Array(segments[segment][first..<last])
        return (bytes, ends)
    }
}

/// Canonical NDJSON lines of consecutive events, as `TraceRecorder.readEncoded` hands
/// them out: the same bytes for every reader, encoded once per run.
public struct EncodedEvents: Sendable {
    /// The seq of the first line.
    public let from: Int
    /// `count` lines, each one event's JSON object followed by `\n`.
    public let bytes: [UInt8]
    /// Where each line ends in `bytes` (exclusive, after its `\n`).
    public let lineEnds: [Int]
    /// The trace has ended and nothing follows these lines.
    public let finished: Bool

    public var count: Int { lineEnds.count }
    public var isEmpty: Bool { lineEnds.isEmpty }

    public init(from: Int, bytes: [UInt8], lineEnds: [Int], finished: Bool) {
        self.from = from
        self.bytes = bytes
        self.lineEnds = lineEnds
        self.finished = finished
    }

    /// Each line without its newline: one event's JSON object.
    public var lines: [ArraySlice<UInt8>] {
        var start = 0
        return lineEnds.map { end in
            defer { start = end }
            return bytes[start..<(end - 1)]
        }
    }
}
