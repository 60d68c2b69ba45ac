import JSON

/// Wire formats for a run's events.
public enum EventEncoding: Sendable {
    /// `application/x-ndjson`: one JSON object a line.
    case ndjson
    /// `text/event-stream`: `id:` is the seq, so a client resumes with `Last-Event-ID`.
    case sse

    public var contentType: String {
        switch self {
        case .ndjson: "application/x-ndjson"
        case .sse: "text/event-stream"
        }
    }

    /// Bytes that keep an idle stream open and reveal a vanished client: a blank
    /// line for NDJSON (readers skip it), a comment for SSE.
    public var heartbeat: [UInt8] {
        switch self {
        case .ndjson: Array("\n".utf8)
        case .sse: Array(": heartbeat\n\n".utf8)
        }
    }

    public func encode<Events: Sequence<TraceEvent>>(_ events: Events, into writer: inout JSONWriter) {
        for event in events {
            switch self {
            case .ndjson:
                event.write(to: &writer)
                writer.bytes.append(0x0A)
            case .sse:
                writer.append("id: ")
                writer.writeInt(event.seq)
                writer.append("\ndata: ")
                event.write(to: &writer)
                writer.append("\n\n")
            }
        }
    }

    /// The wire bytes for lines the recorder encoded once (`TraceRecorder.readEncoded`):
    /// NDJSON is those bytes as they are (a stream sends `encoded.shared` without even
    /// copying them); SSE wraps each line as `id: seq` / `data: line`.
    public func frame(_ encoded: EncodedEvents) -> [UInt8] {
        switch self {
        case .ndjson:
            return encoded.bytes
        case .sse:
            var writer = JSONWriter(capacity: encoded.byteCount + encoded.count * 24)
            var start = 0
            encoded.shared.withUnsafeBytes { bytes in
                for (index, end) in encoded.lineEnds.enumerated() {
                    writer.append("id: ")
                    writer.writeInt(encoded.from + index)
                    writer.append("\ndata: ")
                    writer.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<(end - 1)]))
                    writer.append("\n\n")
                    start = end
                }
            }
            return writer.bytes
        }
    }

    public func encode<Events: Sequence<TraceEvent>>(_ events: Events) -> [UInt8] {
        var writer = JSONWriter(capacity: 4096)
        encode(events, into: &writer)
        return writer.bytes
    }
}
