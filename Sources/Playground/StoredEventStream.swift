import HTTPServer
import Store
import Synchronization
import Tracing

/// A recorded run's events as an HTTP body, read from the store in chunks: the
/// stored NDJSON lines as they are, or each wrapped as an SSE message (`id:` its seq).
/// The bytes are the ones the live stream sent, so a replay is byte-identical.
final class StoredEventStream: StreamSource {
    private let cursor: any EventCursor
    private let encoding: EventEncoding
    private let done = Atomic<Bool>(false)

    init(cursor: any EventCursor, encoding: EventEncoding) {
        self.cursor = cursor
        self.encoding = encoding
    }

    func next(wake: @escaping @Sendable () -> Void) -> StreamChunk {
        guard !done.load(ordering: .acquiring), let lines = try? cursor.next(maxBytes: 64 << 10) else { return .end }
        switch encoding {
        case .ndjson:
            return .data(lines.bytes)
        case .sse:
            return .data(Self.sse(lines))
        }
    }

    func close() { done.store(true, ordering: .releasing) }

    /// Each stored line as `id: SEQ\ndata: LINE\n\n`, as the live SSE encoder writes it.
    static func sse(_ lines: EventLines) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(lines.bytes.count + lines.count * 16)
        lines.forEachLine { seq, line in
            out.append(contentsOf: "id: \(seq)\ndata: ".utf8)
            out.append(contentsOf: line)
            out.append(contentsOf: [0x0A, 0x0A])
        }
        return out
    }
}
