import JSON
import Synchronization

/// A string interned once per process — an event type, a lane name, a field name, or a
/// string value that repeats (a lock's name). The tracer's fast path stores the id, and
/// the encoder copies the name's JSON bytes, encoded once here.
///
/// Interning takes a process-wide lock: make names once (a `static let`, a stored
/// property) and emit with them many times.
public struct TraceName: Hashable, Sendable, CustomStringConvertible {
    public let id: UInt32

    public init(_ string: String) { id = NameTable.shared.intern(string) }

    public var string: String { NameTable.shared.string(id) }
    public var description: String { string }
}

/// A field value of the fast path: no allocation to make or to store.
public enum TraceValue: Sendable, Equatable {
    case int(Int)
    case bool(Bool)
    case name(TraceName)
    case null
}

/// Up to three fields of an event, stored inline (no dictionary, no allocation).
public struct TraceFields: Sendable {
    // A key is a name id shifted left by 2, its low bits the value's kind; 0 = no field.
    var k0: UInt32 = 0, k1: UInt32 = 0, k2: UInt32 = 0
    var v0 = 0, v1 = 0, v2 = 0

    static let kindInt: UInt32 = 0, kindBool: UInt32 = 1, kindName: UInt32 = 2, kindNull: UInt32 = 3

    public init() {}

    public init(_ key: TraceName, _ value: TraceValue) {
        (k0, v0) = Self.pack(key, value)
    }

    public init(_ key0: TraceName, _ value0: TraceValue, _ key1: TraceName, _ value1: TraceValue) {
        (k0, v0) = Self.pack(key0, value0)
        (k1, v1) = Self.pack(key1, value1)
    }

    public init(_ key0: TraceName, _ value0: TraceValue, _ key1: TraceName, _ value1: TraceValue,
                _ key2: TraceName, _ value2: TraceValue) {
        (k0, v0) = Self.pack(key0, value0)
        (k1, v1) = Self.pack(key1, value1)
        (k2, v2) = Self.pack(key2, value2)
    }

    /// Adds a field in the first free place; false when all three are taken.
    public mutating func append(_ key: TraceName, _ value: TraceValue) -> Bool {
        if k0 == 0 { (k0, v0) = Self.pack(key, value) } else if k1 == 0 { (k1, v1) = Self.pack(key, value) }
        else if k2 == 0 { (k2, v2) = Self.pack(key, value) } else { return false }
        return true
    }

    public var isEmpty: Bool { k0 == 0 && k1 == 0 && k2 == 0 }

    @inline(__always)
    static func pack(_ key: TraceName, _ value: TraceValue) -> (UInt32, Int) {
        switch value {
        case .int(let int): (key.id << 2 | kindInt, int)
        case .bool(let bool): (key.id << 2 | kindBool, bool ? 1 : 0)
        case .name(let name): (key.id << 2 | kindName, Int(name.id))
        case .null: (key.id << 2 | kindNull, 0)
        }
    }

    /// The fields as a JSON object (off the hot path: reading events back).
    public var object: JSONObject {
        var object = JSONObject()
        for (key, value) in [(k0, v0), (k1, v1), (k2, v2)] where key != 0 {
            let name = NameTable.shared.string(key >> 2)
            switch key & 3 {
            case Self.kindInt: object[name] = .int(value)
            case Self.kindBool: object[name] = .bool(value != 0)
            case Self.kindName: object[name] = .string(NameTable.shared.string(UInt32(value)))
            default: object[name] = .null
            }
        }
        return object
    }
}

/// Names by index, each with its JSON string bytes (`"task.start"`): the process's
/// (`NameTable`) and a recorder's own (`TraceRecorder.localName`).
struct InternedNames {
    private var ids: [String: Int] = [:]
    private(set) var strings: [String] = []
    private(set) var json: [[UInt8]] = []

    /// Starts with `first` at indexes 0, 1, ….
    init(_ first: [String] = []) {
        for name in first { _ = index(of: name) }
    }

    /// `name`'s index, added (with its JSON bytes) if it is new.
    mutating func index(of name: String) -> Int {
        if let index = ids[name] { return index }
        let index = strings.count
        ids[name] = index
        strings.append(name)
        var writer = JSONWriter(capacity: name.utf8.count + 2)
        writer.writeString(name)
        json.append(writer.bytes)
        return index
    }
}

/// The process's interned names.
final class NameTable: Sendable {
    static let shared = NameTable()

    private let names = Mutex(InternedNames([""]))  // id 0: no name

    func intern(_ string: String) -> UInt32 {
        names.withLock { names in
            let index = names.index(of: string)
            precondition(index < 1 << 30, "too many interned trace names")
            return UInt32(index)
        }
    }

    func string(_ id: UInt32) -> String { names.withLock { Int(id) < $0.strings.count ? $0.strings[Int(id)] : "" } }

    /// Every name, by id (a snapshot: names interned later are not in it).
    var strings: [String] { names.withLock { $0.strings } }

    /// Every name's JSON bytes, by id (a snapshot: names interned later are not in it).
    var json: [[UInt8]] { names.withLock { $0.json } }
}
