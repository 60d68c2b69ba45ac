import HTTPServer
import JSON
import Store
import Tracing

extension Playground {
    /// A run's whole trace as NDJSON: the bytes its live stream sends.
    public func traceLines(_ id: String) throws(Problem) -> [UInt8] {
        if let live = liveRun(id) { return CanonicalTrace.lines(live.recorder.events) }
        _ = try snapshot(id)
        return try storeCall { () throws(StoreError) in
            let cursor = try store.events(id, from: 0)
            var bytes: [UInt8] = []
            while let lines = try cursor.next(maxBytes: 1 << 20) { bytes.append(contentsOf: lines.bytes) }
            return bytes
        }
    }

    /// A run's whole trace as events (for the Chrome export).
    public func traceEvents(_ id: String) throws(Problem) -> [TraceEvent] {
        if let live = liveRun(id) { return live.recorder.events }
        let bytes = try traceLines(id)
        var events: [TraceEvent] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            if index > start, let value = try? JSONParser.parse(Array(bytes[start..<index])),
               let event = TraceEvent(json: value) {
                events.append(event)
            }
            start = index + 1
        }
        return events
    }
}
