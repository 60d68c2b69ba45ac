import JSON
import Testing
import Tracing

/// The Chrome export follows the Trace Event Format's rules (what Perfetto needs).
struct ChromeTraceTests {
    static func event(_ seq: Int, _ ts: Int64, _ type: String, _ lane: String, flow: Int? = nil, _ fields: JSONObject = [:]) -> TraceEvent {
        TraceEvent(seq: seq, ts: ts, type: type, lane: lane, pid: 100, tid: Int32(lane.count), flow: flow, fields: fields)
    }

    static let trace: [TraceEvent] = [
        event(0, 0, "run.start", "main"),
        event(1, 5, "event.set", "main", flow: 7, ["event": "go"]),
        event(2, 9, "event.wake", "w1", flow: 7, ["event": "go"]),
        event(3, 9, "event.wake", "w22", flow: 7, ["event": "go"]),
        event(4, 10, "event.wake", "w333", flow: 7, ["event": "go"]),
        event(5, 11, "lock.wait", "w1", ["lock": "a"]),
        event(6, 12, "lock.acquire", "w1", ["lock": "a"]),
        event(7, 13, "lock.acquire", "w1", ["lock": "b"]),
        event(8, 14, "lock.release", "w1", ["lock": "a"]),
        event(9, 15, "lock.release", "w1", ["lock": "b"]),
        event(10, 16, "counter", "main", ["name": "n", "value": 3]),
        event(11, 17, "counter", "main", ["name": "n", "value": "not a number"]),
        event(12, 18, "task.start", "w1", ["task": 1]),
        event(13, 30, "task.end", "w1", ["task": 1]),
    ]

    static var records: [JSONValue] { ChromeTrace.document(trace, runID: "r", experiment: "e")["traceEvents"]?.arrayValue ?? [] }

    @Test func everyFlowIdHasExactlyOneStartAndOneEnd() {
        var starts: [String: Int] = [:], ends: [String: Int] = [:]
        for record in Self.records {
            guard let id = record["id"]?.stringValue else { continue }
            if record["ph"] == "s" { starts[id, default: 0] += 1 }
            if record["ph"] == "f" {
                ends[id, default: 0] += 1
                #expect(record["bp"] == "e")
            }
        }
        #expect(starts.count == 3, "one arrow per receiver of the set")
        #expect(starts == ends)
        #expect(starts.values.allSatisfy { $0 == 1 })
    }

    @Test func completeEventsHaveNonNegativeDurationsAndAsyncHoldsPair() {
        var open: [String: Int] = [:]
        for record in Self.records {
            if record["ph"] == "X" { #expect((record["dur"]?.intValue ?? -1) >= 0) }
            let key = "\(record["cat"]?.stringValue ?? "")|\(record["name"]?.stringValue ?? "")|\(record["id"]?.stringValue ?? "")"
            if record["ph"] == "b" { open[key, default: 0] += 1 }
            if record["ph"] == "e" { open[key, default: 0] -= 1 }
        }
        #expect(open.count == 2, "two locks held")
        #expect(open.values.allSatisfy { $0 == 0 }, "every hold begins and ends with the same cat, name and id")
        let task = Self.records.first { $0["ph"] == "X" && $0["cat"] == "task" }
        #expect(task?["dur"] == 12)
    }

    @Test func countersAreNumericAndLanesAreNamedTracks() {
        let counters = Self.records.filter { $0["ph"] == "C" }
        #expect(counters.count == 1)
        #expect(counters.first?["args"]?["value"] == 3)
        let names = Self.records.filter { $0["ph"] == "M" && $0["name"] == "thread_name" }.compactMap { $0["args"]?["name"]?.stringValue }
        #expect(Set(names) == ["main", "w1", "w22", "w333"])
        #expect(Self.records.filter { $0["ph"] == "i" }.allSatisfy { $0["s"] == "t" })
    }
}
