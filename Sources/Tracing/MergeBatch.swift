/// An event another process traced, as the binary child path carries it (no dictionary,
/// no JSON to parse): its own pid, tid, cpu and ts, interned names, and either up to
/// three typed fields or its fields as JSON text.
public struct MergedEvent: Sendable {
    /// Microseconds since the run started, on the shared monotonic clock.
    public var ts: Int64
    public var pid: Int32
    public var tid: Int32
    /// -1 when unknown.
    public var cpu: Int32
    public var type: TraceName
    /// A `TraceName` id, or a recorder's own name (`TraceRecorder.localName`).
    public var lane: UInt32
    public var flow: Int?
    public var fields: TraceFields
    /// When not empty: the fields as JSON members (`,"key":value` each, envelope keys
    /// left out) in the batch's `text`, and `fields` is empty.
    public var text: Range<Int>

    public init(ts: Int64, pid: Int32, tid: Int32, cpu: Int32, type: TraceName, lane: UInt32, flow: Int?,
                fields: TraceFields = TraceFields(), text: Range<Int> = 0..<0) {
        self.ts = ts
        self.pid = pid
        self.tid = tid
        self.cpu = cpu
        self.type = type
        self.lane = lane
        self.flow = flow
        self.fields = fields
        self.text = text
    }
}

/// Events of other processes merged at once (`TraceRecorder.merge(_:)`): they take
/// consecutive seqs with one ticket, and one record carries the whole batch, so a
/// merged event costs no allocation of its own.
public final class MergeBatch: Sendable {
    public let events: [MergedEvent]
    /// The JSON text the events' `text` ranges point into.
    public let text: [UInt8]

    public init(events: [MergedEvent], text: [UInt8]) {
        self.events = events
        self.text = text
    }
}
