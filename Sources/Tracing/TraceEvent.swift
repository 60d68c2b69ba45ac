import JSON

/// One step of a run, as DESIGN.md describes it: `seq`, `ts`, `type`, `lane`, `pid`,
/// `tid`, the `cpu` it was emitted on (when known), an optional `flow` that pairs the
/// two ends of a hand-off, and the fields the type needs.
public struct TraceEvent: Sendable, Equatable {
    /// 0, 1, 2, … gapless within a run.
    public var seq: Int
    /// Microseconds since the run started, on the host's monotonic clock.
    public var ts: Int64
    public var type: String
    /// The actor's display name: `main`, `thread-2`, `worker-1 (pid 4312)`.
    public var lane: String
    public var pid: Int32
    public var tid: Int32
    /// The CPU the emitting thread was running on (sched_getcpu), when known.
    public var cpu: Int32?
    public var flow: Int?
    public var fields: JSONObject

    public init(seq: Int, ts: Int64, type: String, lane: String, pid: Int32, tid: Int32,
                cpu: Int32? = nil, flow: Int? = nil, fields: JSONObject = [:]) {
        self.seq = seq
        self.ts = ts
        self.type = type
        self.lane = lane
        self.pid = pid
        self.tid = tid
        self.cpu = cpu
        self.flow = flow
        self.fields = fields
    }

    /// A field of the event, or of the envelope (`seq`, `ts`, `type`, `lane`, …).
    public subscript(key: String) -> JSONValue? {
        switch key {
        case "seq": .int(seq)
        case "ts": .int(Int(ts))
        case "type": .string(type)
        case "lane": .string(lane)
        case "pid": .int(Int(pid))
        case "tid": .int(Int(tid))
        case "cpu": cpu.map { .int(Int($0)) }
        case "flow": flow.map(JSONValue.int)
        default: fields[key]
        }
    }

    private static let envelopeKeys: Set<String> = ["seq", "ts", "type", "lane", "pid", "tid", "cpu", "flow"]

    /// The event as one flat JSON object, envelope first: its canonical NDJSON line
    /// (without the newline). The recorder's fast path writes the same bytes.
    public func write(to writer: inout JSONWriter) {
        writer.append("{\"seq\":")
        writer.writeInt(seq)
        writer.append(",\"ts\":")
        writer.writeInt(Int(ts))
        writer.append(",\"type\":")
        writer.writeString(type)
        writer.append(",\"lane\":")
        writer.writeString(lane)
        writer.append(",\"pid\":")
        writer.writeInt(Int(pid))
        writer.append(",\"tid\":")
        writer.writeInt(Int(tid))
        if let cpu {
            writer.append(",\"cpu\":")
            writer.writeInt(Int(cpu))
        }
        if let flow {
            writer.append(",\"flow\":")
            writer.writeInt(flow)
        }
        for (key, value) in fields where !Self.envelopeKeys.contains(key) {
            writer.writeKey(key, first: false)
            writer.write(value)
        }
        writer.append("}")
    }

    public var json: JSONValue {
        var object = JSONObject([
            ("seq", .int(seq)), ("ts", .int(Int(ts))), ("type", .string(type)), ("lane", .string(lane)),
            ("pid", .int(Int(pid))), ("tid", .int(Int(tid))),
        ])
        if let cpu { object["cpu"] = .int(Int(cpu)) }
        if let flow { object["flow"] = .int(flow) }
        for (key, value) in fields where !Self.envelopeKeys.contains(key) { object[key] = value }
        return .object(object)
    }

    /// Reads an event back from its JSON form (a recorded trace, or a child process's line).
    public init?(json: JSONValue) {
        guard let object = json.objectValue,
              let type = object["type"]?.stringValue,
              let lane = object["lane"]?.stringValue
        else { return nil }
        self.seq = object["seq"]?.intValue ?? 0
        self.ts = Int64(object["ts"]?.intValue ?? 0)
        self.type = type
        self.lane = lane
        self.pid = Int32(truncatingIfNeeded: object["pid"]?.intValue ?? 0)
        self.tid = Int32(truncatingIfNeeded: object["tid"]?.intValue ?? 0)
        self.cpu = object["cpu"]?.intValue.map { Int32(truncatingIfNeeded: $0) }
        self.flow = object["flow"]?.intValue
        var fields = JSONObject()
        for (key, value) in object where !Self.envelopeKeys.contains(key) { fields[key] = value }
        self.fields = fields
    }
}
