/// Serialises JSON into a byte buffer without Foundation: compact, keys in order,
/// non-ASCII passed through as UTF-8, and non-finite numbers written as `null`.
public struct JSONWriter {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func write(_ value: JSONValue) {
        switch value {
        case .null: append("null")
        case .bool(let b): append(b ? "true" : "false")
        case .int(let i): writeInt(i)
        case .double(let d): writeDouble(d)
        case .string(let s): writeString(s)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for (offset, item) in items.enumerated() {
                if offset > 0 { bytes.append(UInt8(ascii: ",")) }
                write(item)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let object):
            bytes.append(UInt8(ascii: "{"))
            var first = true
            for (key, item) in object {
                writeKey(key, first: first)
                first = false
                write(item)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    /// Writes `"key":` (with a leading comma unless first), for hand-built objects.
    public mutating func writeKey(_ key: String, first: Bool) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    public mutating func append(_ raw: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: raw.utf8Start, count: raw.utf8CodeUnitCount))
    }

    public mutating func writeInt(_ value: Int) {
        // One append per number instead of one per digit (the recorder writes ~8 a line).
        Self.withDecimal(value) { bytes.append(contentsOf: $0) }
    }

    /// Hands `body` the decimal digits of `value` (and its sign): at most 20 bytes, written
    /// from the end of a buffer on the stack. Shared by `writeInt` and the recorder's
    /// in-place line writer, so a number is formatted the same way in both.
    @inlinable @inline(__always)
    public static func withDecimal<R>(_ value: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        var magnitude = value.magnitude
        // 19 digits and a sign at most (Int.min).
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                start -= 1
                buffer[start] = UInt8(ascii: "-")
            }
            return UnsafeRawBufferPointer(rebasing: buffer[start...]).withMemoryRebound(to: UInt8.self, body)
        }
    }

    public mutating func writeDouble(_ value: Double) {
        guard value.isFinite else { append("null"); return }
        if value.rounded() == value, abs(value) < 1e15 {
            writeInt(Int(value))
            return
        }
        bytes.append(contentsOf: "\(value)".utf8)
    }

    public mutating func writeString(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): append("\\\"")
            case UInt8(ascii: "\\"): append("\\\\")
            case 0x0A: append("\\n")
            case 0x0D: append("\\r")
            case 0x09: append("\\t")
            case 0..<0x20:
                append("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension JSONValue {
    /// Compact UTF-8 JSON bytes.
    public func encoded() -> [UInt8] {
        var writer = JSONWriter()
        writer.write(self)
        return writer.bytes
    }

    /// Compact JSON text.
    public var jsonString: String { String(decoding: encoded(), as: UTF8.self) }
}
