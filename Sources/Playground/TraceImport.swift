import Experiments
import HTTPServer
import JSON
import Store
import Tracing

/// An NDJSON trace (one exported from another machine, or written by `interleave run`)
/// read back into a run: every line must be a trace event, `seq` counting 0, 1, 2, …
/// and `ts` never decreasing. The first line that is not gets a 400 naming it.
public struct TraceImport: Sendable {
    public let snapshot: RunSnapshot
    /// The trace in canonical form: what the store keeps and replays.
    public let lines: [UInt8]
    public let count: Int

    public static func read(_ bytes: [UInt8], id: String, createdAt: String) throws(Problem) -> TraceImport {
        var events: [TraceEvent] = []
        var lineNumber = 0
        var start = 0
        var lastTs: Int64 = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            lineNumber += 1
            var line = bytes[start..<end]
            start = end + 1
            if line.last == 0x0D { line = line.dropLast() }
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }  // blank: a heartbeat
            func bad(_ reason: String) -> Problem {
                Problem.badRequest("line \(lineNumber) \(reason)", title: "Invalid trace", slug: "invalid-trace",
                                   extra: ["field": "body", "line": .int(lineNumber)])
            }
            let value: JSONValue
            do { value = try JSONParser.parse(Array(line)) } catch { throw bad("is not valid JSON: \(error)") }
            guard value.objectValue != nil else { throw bad("must be a JSON object, one event (got \(value.typeName))") }
            guard let event = TraceEvent(json: value) else { throw bad("is not a trace event: it needs a string \"type\" and \"lane\"") }
            guard value["seq"]?.intValue == events.count else {
                throw bad("has seq \(value["seq"]?.jsonString.prefix(20) ?? "missing"); expected \(events.count) (seq counts 0, 1, 2, … without gaps)")
            }
            guard let ts = value["ts"]?.intValue, ts >= lastTs else {
                throw bad("has ts \(value["ts"]?.jsonString.prefix(20) ?? "missing"); expected an integer ≥ \(lastTs) (ts never decreases)")
            }
            lastTs = Int64(ts)
            events.append(event)
        }
        guard !events.isEmpty else {
            throw Problem.badRequest("the body has no events: send an NDJSON trace, one event per line",
                                     title: "Invalid trace", slug: "invalid-trace", extra: ["field": "body"])
        }
        let startEvent = events.first { $0.type == "run.start" }
        let endEvent = events.last { $0.type == "run.end" }
        let status = endEvent?.fields["status"]?.stringValue.flatMap(RunStatus.init(rawValue:))
        let summary = endEvent?.fields["summary"]?.objectValue
        let lines = CanonicalTrace.lines(events)
        let snapshot = RunSnapshot(
            id: id, experiment: startEvent?.fields["experiment"]?.stringValue ?? "unknown",
            params: startEvent?.fields["params"]?.objectValue ?? [:],
            status: status.map { $0.isFinal ? $0 : .interrupted } ?? .interrupted, createdAt: createdAt,
            summary: summary ?? ["verdict": "Imported without its run.end: the trace stops part-way."],
            eventCount: events.count, bytes: lines.count, origin: "import")
        return TraceImport(snapshot: snapshot, lines: lines, count: events.count)
    }
}
