import JSON

/// A merged event as the recorder keeps it: its 64-byte record — `ns` replaced by the
/// event's clamped `ts` in microseconds — and who emitted it. A `TraceEvent` value is
/// built from it only when someone reads events as values (`events`, `read`); the
/// streams and the store read the encoded lines instead.
struct StoredEvent {
    var record: Record
    var tid: Int32
    /// 0: the recorder's own process.
    var pid: Int32
    /// A merged event whose fields came as JSON text: where that text (`,"key":value…`)
    /// starts in its encoded line, which it runs to the closing brace. 0: none.
    var text: UInt32 = 0
}

/// The merged events, in seq order, in fixed blocks (no reallocation as the run grows,
/// and blocks big enough that malloc maps them whole rather than growing an arena page
/// by page). A slow record's box (`SlowEvent`) stays retained here until the recorder
/// goes. Not thread-safe: the recorder guards it.
final class StoredEvents {
    static let perBlock = 4096
    private var blocks: [UnsafeMutablePointer<StoredEvent>] = []
    private(set) var count = 0

    deinit {
        for index in 0..<count where self[index].record.type == Record.slow {
            Unmanaged<SlowEvent>.fromOpaque(UnsafeRawPointer(bitPattern: self[index].record.v0)!).release()
        }
        for block in blocks { block.deallocate() }
    }

    /// Takes over the record's box if it is a slow one.
    @inline(__always)
    func append(_ event: StoredEvent) {
        if count == blocks.count * Self.perBlock { blocks.append(.allocate(capacity: Self.perBlock)) }
        (blocks[count / Self.perBlock] + count % Self.perBlock).initialize(to: event)
        count += 1
    }

    subscript(index: Int) -> StoredEvent {
        @inline(__always) get { blocks[index / Self.perBlock][index % Self.perBlock] }
    }

    /// The event at `index` as a value. `names` is a snapshot of the interned names,
    /// refreshed when a record uses a newer one; `lanes` are the recorder's own names
    /// (`Record.localName`); `log` holds the lines of events whose fields came as text.
    func decode(_ index: Int, processID: Int32, names: inout [String], lanes: [String], log: EncodedLog) -> TraceEvent {
        let stored = self[index]
        return Self.decode(stored, seq: index, processID: processID, names: &names, lanes: lanes,
                           line: stored.text == 0 ? nil : log.read(from: index, limit: 1, maxBytes: .max).bytes)
    }

    /// The same, for an event copied out (the copy may be decoded without the recorder's
    /// lock: a slow record's box lives as long as the recorder, and a line never changes).
    /// `line` is the event's encoded line when its fields came as text.
    static func decode(_ stored: StoredEvent, seq index: Int, processID: Int32, names: inout [String], lanes: [String],
                       line: EncodedBytes?) -> TraceEvent {
        let record = stored.record
        let cpu = record.cpu >= 0 ? record.cpu : nil
        let flow = record.flow == Record.noFlow ? nil : record.flow
        if record.type == Record.slow {
            let slow = Unmanaged<SlowEvent>.fromOpaque(UnsafeRawPointer(bitPattern: record.v0)!).takeUnretainedValue()
            return TraceEvent(seq: index, ts: record.ns, type: slow.type, lane: slow.lane, pid: slow.pid ?? processID,
                              tid: slow.tid, cpu: cpu, flow: flow, fields: slow.fields)
        }
        let fields = record.fields
        let lane = record.lane & Record.localName
        if Int(fields.highestName(type: record.type, lane: lane == 0 ? record.lane : 0)) >= names.count {
            names = NameTable.shared.strings
        }
        var event = TraceEvent(seq: index, ts: record.ns, type: names[Int(record.type)],
                               lane: lane == 0 ? names[Int(record.lane)] : lanes[Int(record.lane & ~Record.localName)],
                               pid: stored.pid == 0 ? processID : stored.pid, tid: stored.tid, cpu: cpu, flow: flow)
        if stored.text == 0 {
            event.fields = fields.object(names: names)
        } else if let line = line?.array {
            // `{` + the members after their leading comma, up to the line's closing brace.
            var object: [UInt8] = [UInt8(ascii: "{")]
            object += line[(Int(stored.text) + 1)..<(line.count - 2)]
            object.append(UInt8(ascii: "}"))
            if let parsed = (try? JSONParser.parse(object))?.objectValue { event.fields = parsed }
        }
        return event
    }
}

extension TraceFields {
    /// The highest name id the event uses (its type, lane, keys and name values).
    @inline(__always)
    func highestName(type: UInt32, lane: UInt32) -> UInt32 {
        var highest = max(type, lane, k0 >> 2, k1 >> 2, k2 >> 2)
        if k0 != 0 && k0 & 3 == Self.kindName { highest = max(highest, UInt32(truncatingIfNeeded: v0)) }
        if k1 != 0 && k1 & 3 == Self.kindName { highest = max(highest, UInt32(truncatingIfNeeded: v1)) }
        if k2 != 0 && k2 & 3 == Self.kindName { highest = max(highest, UInt32(truncatingIfNeeded: v2)) }
        return highest
    }

    /// The fields as a JSON object, with names from a snapshot that holds every id used.
    func object(names: [String]) -> JSONObject {
        var object = JSONObject()
        for (key, value) in [(k0, v0), (k1, v1), (k2, v2)] where key != 0 {
            let name = names[Int(key >> 2)]
            switch key & 3 {
            case Self.kindInt: object[name] = .int(value)
            case Self.kindBool: object[name] = .bool(value != 0)
            case Self.kindName: object[name] = .string(names[value])
            default: object[name] = .null
            }
        }
        return object
    }
}
