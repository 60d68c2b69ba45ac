import JSON

/// Chrome Trace Event Format (opens in Perfetto UI and chrome://tracing). Each lane
/// becomes its own track (a synthetic tid, the real one in `args`), grouped under
/// its real pid. Spans are `X`, lock holds async `b`/`e` (holds may overlap), other
/// events instants `i`, counters `C`, and flows `s`/`f` bound to zero-length slices.
public enum ChromeTrace {
    public static func document(_ events: [TraceEvent], runID: String, experiment: String) -> JSONValue {
        var out: [JSONValue] = []
        var laneTrack: [String: Int] = [:]
        var pids: Set<Int32> = []
        // Open spans: key → start event.
        var open: [String: TraceEvent] = [:]
        var flowSeen: Set<Int> = []

        func track(_ event: TraceEvent) -> Int {
            if let id = laneTrack[event.lane] { return id }
            let id = laneTrack.count + 1
            laneTrack[event.lane] = id
            if pids.insert(event.pid).inserted {
                out.append(["ph": "M", "name": "process_name", "pid": .int(Int(event.pid)), "tid": .int(id),
                            "args": ["name": .string("\(experiment) (pid \(event.pid))")]])
            }
            out.append(["ph": "M", "name": "thread_name", "pid": .int(Int(event.pid)), "tid": .int(id),
                        "args": ["name": .string(event.lane)]])
            out.append(["ph": "M", "name": "thread_sort_index", "pid": .int(Int(event.pid)), "tid": .int(id),
                        "args": ["sort_index": .int(id)]])
            return id
        }

        func args(_ event: TraceEvent) -> JSONValue {
            var fields = event.fields
            fields["seq"] = .int(event.seq)
            fields["tid"] = .int(Int(event.tid))
            return .object(fields)
        }

        /// What a wait or its ending is about: the kind (`lock`) and, for locks,
        /// semaphores and events, the object's name — the key that pairs the two ends.
        func waited(_ event: TraceEvent) -> (kind: String, object: String) {
            let kind = String(event.type.prefix { $0 != "." })
            return (kind, ["lock", "sem", "event"].contains(kind) ? label(event, kind) : "")
        }

        func complete(_ name: String, _ category: String, from start: TraceEvent, to end: TraceEvent) {
            out.append(["ph": "X", "name": .string(name), "cat": .string(category), "ts": .int(Int(start.ts)),
                        "dur": .int(Int(end.ts - start.ts)), "pid": .int(Int(start.pid)), "tid": .int(track(start)),
                        "args": args(start)])
        }

        func label(_ event: TraceEvent, _ key: String) -> String {
            switch event.fields[key] {
            case .string(let s)?: s
            case let value?: value.jsonString
            case nil: ""
            }
        }

        for event in events {
            let tid = track(event)
            let pid = JSONValue.int(Int(event.pid))
            switch event.type {
            case "task.start":
                open["task|\(event.lane)|\(label(event, "task"))"] = event
            case "task.end":
                if let start = open.removeValue(forKey: "task|\(event.lane)|\(label(event, "task"))") {
                    complete("task \(label(event, "task"))", "task", from: start, to: event)
                }
            case "lock.wait", "sem.wait", "event.wait", "cond.wait", "barrier.wait":
                let (kind, object) = waited(event)
                open["wait|\(event.lane)|\(kind)|\(object)"] = event
            case "lock.acquire", "lock.timeout", "sem.acquire", "event.wake", "cond.wake", "barrier.pass":
                let (kind, object) = waited(event)
                if let start = open.removeValue(forKey: "wait|\(event.lane)|\(kind)|\(object)") {
                    complete("wait \(kind) \(object)", "wait", from: start, to: event)
                }
                if event.type == "lock.acquire" {
                    out.append(["ph": "b", "name": .string("hold \(object)"), "cat": "lock",
                                "id": .string("\(event.lane)|\(object)"), "ts": .int(Int(event.ts)), "pid": pid,
                                "tid": .int(tid), "args": args(event)])
                } else {
                    instant(event, pid: pid, tid: tid, into: &out, args: args(event))
                }
            case "lock.release":
                out.append(["ph": "e", "name": .string("hold \(label(event, "lock"))"), "cat": "lock",
                            "id": .string("\(event.lane)|\(label(event, "lock"))"), "ts": .int(Int(event.ts)),
                            "pid": pid, "tid": .int(tid), "args": args(event)])
            case "io.begin":
                open["io|\(event.lane)|\(label(event, "op"))"] = event
            case "io.end":
                if let start = open.removeValue(forKey: "io|\(event.lane)|\(label(event, "op"))") {
                    complete(label(event, "op"), "io", from: start, to: event)
                }
            case "counter":
                out.append(["ph": "C", "name": .string(label(event, "name")), "ts": .int(Int(event.ts)), "pid": pid,
                            "tid": .int(tid), "args": [.init(stringLiteral: "value"): event.fields["value"] ?? .null]])
            default:
                instant(event, pid: pid, tid: tid, into: &out, args: args(event))
            }
            if let flow = event.flow {
                // A zero-length slice to bind the flow arrow to.
                out.append(["ph": "X", "name": .string(event.type), "cat": "flow", "ts": .int(Int(event.ts)), "dur": 0,
                            "pid": pid, "tid": .int(tid)])
                let first = flowSeen.insert(flow).inserted
                var arrow: JSONObject = ["ph": .string(first ? "s" : "f"), "name": "handoff", "cat": "flow",
                                         "id": .int(flow), "ts": .int(Int(event.ts)), "pid": pid, "tid": .int(tid)]
                if !first { arrow["bp"] = "e" }
                out.append(.object(arrow))
            }
        }
        return [
            "traceEvents": .array(out),
            "displayTimeUnit": "ms",
            "otherData": ["run": .string(runID), "experiment": .string(experiment), "generator": "interleave"],
        ]
    }

    private static func instant(_ event: TraceEvent, pid: JSONValue, tid: Int, into out: inout [JSONValue], args: JSONValue) {
        out.append(["ph": "i", "s": "t", "name": .string(event.type), "ts": .int(Int(event.ts)), "pid": pid,
                    "tid": .int(tid), "args": args])
    }
}
