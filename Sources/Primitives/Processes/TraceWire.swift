import JSON
import Tracing

/// The child → parent trace protocol on fd 3: binary frames, so that neither side
/// encodes or parses JSON for an ordinary event.
///
/// Every frame starts with its total length (u32, the header included) and its kind
/// (u8); integers are in the machine's byte order (parent and child are one machine).
/// - `name`: u32 id, then the name's UTF-8 bytes. A child names each string it uses as
///   an event type, lane or field key once, before its first use; ids count from 1.
/// - `event`: i64 ns since the run's start, i32 tid, i32 cpu (-1 unknown), u32 type id,
///   u32 lane id, u8 has-flow, i64 flow, u8 n, then n typed fields (u32 key id, u8 kind
///   — `TraceWire.int`, `bool`, `null` — i64 value), then, to the frame's end, the other
///   fields as JSON members (`,"key":value` each). A child sends up to three int, bool or
///   null fields typed, anything else as text; the envelope's keys are never fields.
/// - `json`: one event as a JSON object (the fields that name other events, `refKey`,
///   `overwroteKey`, `refKeys`, which the parent resolves to seqs).
/// - `control`: a `{"ctl": …}` JSON object for the parent, not part of the trace.
/// A frame cut short by a child's death is dropped with the rest of its pipe.
public enum TraceWire {
    public static let name: UInt8 = 1, event: UInt8 = 2, json: UInt8 = 3, control: UInt8 = 4
    public static let int: UInt8 = 0, bool: UInt8 = 1, null: UInt8 = 2
    static let headerBytes = 5
    /// The fixed part of an event frame after the header.
    static let eventFixedBytes = 8 + 4 + 4 + 4 + 4 + 1 + 8 + 1
    static let typedFieldBytes = 4 + 1 + 8
    /// A frame longer than this is taken as a broken stream.
    static let maxFrameBytes = 64 << 20
    static let envelopeKeys: Set<String> = ["seq", "ts", "type", "lane", "pid", "tid", "cpu", "flow"]
    static let referenceKeys: Set<String> = ["refKey", "overwroteKey", "refKeys"]
}

/// Builds frames (the child's side).
struct TraceWireWriter {
    var bytes: [UInt8] = []
    /// Ids of the names sent so far.
    private var ids: [String: UInt32] = [:]

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    /// Starts a frame; returns where its length goes.
    mutating func begin(_ kind: UInt8) -> Int {
        let start = bytes.count
        append(UInt32(0))
        bytes.append(kind)
        return start
    }

    mutating func end(_ start: Int) {
        let length = UInt32(bytes.count - start)
        withUnsafeBytes(of: length) { raw in
            for index in 0..<4 { bytes[start + index] = raw[index] }
        }
    }

    /// The id of `string`, sending its `name` frame first if it is new.
    mutating func id(_ string: String) -> UInt32 {
        if let id = ids[string] { return id }
        let id = UInt32(ids.count + 1)
        ids[string] = id
        let start = begin(TraceWire.name)
        append(id)
        bytes.append(contentsOf: string.utf8)
        end(start)
        return id
    }

    /// What a field key is, looked up once per key.
    private struct Key {
        let id: UInt32
        let envelope: Bool
        let reference: Bool
    }
    private var keys: [String: Key] = [:]
    /// The last type and lane used: a worker emits on one lane, a few types.
    private var lastType: (string: String, id: UInt32)?
    private var lastLane: (string: String, id: UInt32)?

    private mutating func key(_ string: String) -> Key {
        if let key = keys[string] { return key }
        let key = Key(id: id(string), envelope: TraceWire.envelopeKeys.contains(string),
                      reference: TraceWire.referenceKeys.contains(string))
        keys[string] = key
        return key
    }

    private mutating func typeID(_ string: String) -> UInt32 {
        if let lastType, lastType.string == string { return lastType.id }
        let id = id(string)
        lastType = (string, id)
        return id
    }

    private mutating func laneID(_ string: String) -> UInt32 {
        if let lastLane, lastLane.string == string { return lastLane.id }
        let id = id(string)
        lastLane = (string, id)
        return id
    }

    mutating func event(ns: Int64, pid: Int32, tid: Int32, cpu: Int32, type: String, lane: String, flow: Int?,
                        fields: JSONObject) {
        var typed = fields.count <= 3
        var keyIDs: (UInt32, UInt32, UInt32) = (0, 0, 0)
        for (index, (name, value)) in fields.enumerated() {
            let info = key(name)
            if info.reference { return json(ns: ns, pid: pid, tid: tid, cpu: cpu, type: type, lane: lane, flow: flow, fields: fields) }
            switch value {
            case .int, .bool, .null: if info.envelope { typed = false }
            default: typed = false
            }
            if typed {
                switch index {
                case 0: keyIDs.0 = info.id
                case 1: keyIDs.1 = info.id
                default: keyIDs.2 = info.id
                }
            }
        }
        let typeID = typeID(type), laneID = laneID(lane)
        let start = begin(TraceWire.event)
        append(ns)
        append(tid)
        append(cpu)
        append(typeID)
        append(laneID)
        bytes.append(flow == nil ? 0 : 1)
        append(Int64(flow ?? 0))
        if typed {
            bytes.append(UInt8(fields.count))
            for (index, (_, value)) in fields.enumerated() {
                append(index == 0 ? keyIDs.0 : index == 1 ? keyIDs.1 : keyIDs.2)
                switch value {
                case .int(let int): bytes.append(TraceWire.int); append(Int64(int))
                case .bool(let bool): bytes.append(TraceWire.bool); append(Int64(bool ? 1 : 0))
                default: bytes.append(TraceWire.null); append(Int64(0))
                }
            }
        } else {
            bytes.append(0)
            // The members written straight after the frame's fixed part (every key was looked
            // up above, so `key` sends no name frame while the bytes are swapped out).
            var writer = JSONWriter(capacity: 0)
            swap(&writer.bytes, &bytes)
            for (name, value) in fields where !key(name).envelope {
                writer.writeKey(name, first: false)
                writer.write(value)
            }
            swap(&writer.bytes, &bytes)
        }
        end(start)
    }

    /// An event whose fields name other events, as a JSON object the parent resolves.
    private mutating func json(ns: Int64, pid: Int32, tid: Int32, cpu: Int32, type: String, lane: String, flow: Int?,
                               fields: JSONObject) {
        let event = TraceEvent(seq: 0, ts: ns / 1000, type: type, lane: lane, pid: pid, tid: tid, cpu: cpu,
                               flow: flow, fields: fields)
        var writer = JSONWriter(capacity: 256)
        event.write(to: &writer)
        let start = begin(TraceWire.json)
        bytes.append(contentsOf: writer.bytes)
        end(start)
    }

    mutating func control(_ message: JSONObject) {
        var writer = JSONWriter(capacity: 128)
        writer.write(.object(message))
        let start = begin(TraceWire.control)
        bytes.append(contentsOf: writer.bytes)
        end(start)
    }
}

/// Reads frames (the parent's side), one reader per child pipe.
struct TraceWireReader {
    /// What one frame was.
    enum Frame {
        case event(MergedEvent, text: ArraySlice<UInt8>)
        case json(TraceEvent)
        case control(JSONObject)
    }

    let pid: Int32
    let recorder: TraceRecorder
    private var pending: [UInt8] = []
    private var strings: [String?] = [nil]
    /// Child ids as process-wide names (types, keys) or the recorder's own (lanes).
    private var global: [TraceName?] = [nil]
    private var local: [UInt32?] = [nil]
    /// A malformed frame was seen: the rest of the pipe is ignored.
    private(set) var broken = false

    init(pid: Int32, recorder: TraceRecorder) {
        self.pid = pid
        self.recorder = recorder
    }

    private mutating func globalName(_ id: UInt32) -> TraceName? {
        let index = Int(id)
        guard index < strings.count, let string = strings[index] else { return nil }
        if let name = global[index] { return name }
        let name = TraceName(string)
        global[index] = name
        return name
    }

    private mutating func localName(_ id: UInt32) -> UInt32? {
        let index = Int(id)
        guard index < strings.count, let string = strings[index] else { return nil }
        if let name = local[index] { return name }
        let name = recorder.localName(string)
        local[index] = name
        return name
    }

    /// Takes `count` more bytes and hands every whole frame to `deliver`, in order.
    mutating func read(_ chunk: UnsafeRawBufferPointer, _ deliver: (Frame) -> Void) {
        guard !broken else { return }
        // Frames keep slices of this array (text fields) until they are merged.
        var data = pending
        data.append(contentsOf: chunk)
        var offset = 0
        while data.count - offset >= TraceWire.headerBytes {
            let length = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) })
            guard length >= TraceWire.headerBytes, length <= TraceWire.maxFrameBytes else {
                broken = true
                pending = []
                return
            }
            guard data.count - offset >= length else { break }
            if let frame = parse(data, from: offset, length: length) { deliver(frame) }
            if broken { pending = []; return }
            offset += length
        }
        pending = offset == 0 ? data : Array(data[offset...])
    }

    private mutating func parse(_ data: [UInt8], from start: Int, length: Int) -> Frame? {
        let kind = data[start + 4]
        let body = (start + TraceWire.headerBytes)..<(start + length)
        switch kind {
        case TraceWire.name:
            guard body.count >= 4 else { broken = true; return nil }
            let id = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: body.lowerBound, as: UInt32.self) })
            // Ids count up from 1 without gaps: anything else is a broken stream.
            guard id == strings.count else { broken = true; return nil }
            strings.append(String(decoding: data[(body.lowerBound + 4)..<body.upperBound], as: UTF8.self))
            global.append(nil)
            local.append(nil)
            return nil
        case TraceWire.event:
            guard body.count >= TraceWire.eventFixedBytes else { broken = true; return nil }
            return data.withUnsafeBytes { raw -> Frame? in
                var at = body.lowerBound
                func load<T: FixedWidthInteger>(_: T.Type) -> T {
                    defer { at += MemoryLayout<T>.size }
                    return raw.loadUnaligned(fromByteOffset: at, as: T.self)
                }
                let ns = load(Int64.self), tid = load(Int32.self), cpu = load(Int32.self)
                let typeID = load(UInt32.self), laneID = load(UInt32.self)
                let hasFlow = load(UInt8.self), flow = load(Int64.self), count = Int(load(UInt8.self))
                guard count <= 3, body.upperBound - at >= count * TraceWire.typedFieldBytes,
                      let type = globalName(typeID), let lane = localName(laneID) else { broken = true; return nil }
                var fields = TraceFields()
                for _ in 0..<count {
                    let keyID = load(UInt32.self), kind = load(UInt8.self), value = load(Int64.self)
                    guard let key = globalName(keyID) else { broken = true; return nil }
                    switch kind {
                    case TraceWire.int: _ = fields.append(key, .int(Int(value)))
                    case TraceWire.bool: _ = fields.append(key, .bool(value != 0))
                    default: _ = fields.append(key, .null)
                    }
                }
                let event = MergedEvent(ts: ns / 1000, pid: pid, tid: tid, cpu: cpu, type: type, lane: lane,
                                        flow: hasFlow != 0 ? Int(flow) : nil, fields: fields)
                return .event(event, text: data[at..<body.upperBound])
            }
        case TraceWire.json:
            guard let value = try? JSONParser.parse(Array(data[body])), let event = TraceEvent(json: value) else { return nil }
            return .json(event)
        case TraceWire.control:
            guard let object = (try? JSONParser.parse(Array(data[body])))?.objectValue else { return nil }
            return .control(object)
        default:
            broken = true
            return nil
        }
    }
}
