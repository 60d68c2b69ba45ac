import JSON

/// Chrome Trace Event Format (opens in Perfetto UI and chrome://tracing), following the
/// format's rules so Perfetto imports it without fix-ups:
/// - each lane is its own track: `M` `thread_name` / `thread_sort_index` on a synthetic
///   tid (the real tid is in `args.tid`), grouped under its real pid (`M` `process_name`);
/// - spans are complete events `X` with `dur` ≥ 0 (ts never decreases within a run):
///   task.start→task.end, *.wait→acquire/wake/pass/timeout, io.begin→io.end; they nest
///   on their lane because a lane is one thread doing one thing at a time;
/// - lock holds are nestable async `b`/`e` (same cat, name and id `lane|lock`), since holds
///   of different locks overlap without nesting;
/// - other events are thread-scoped instants `i` (`s: "t"`), with the event's fields,
///   `seq` and real tid in `args`; `counter` events with a numeric value are `C`;
/// - a hand-off (`flow`) is a flow `s` → `f` (`bp: "e"`) pair per receiver, each bound to a
///   zero-length `X` slice at its event, so every flow id has exactly one start and one end;
/// - `ts` is microseconds since the run started; `otherData` names the run and experiment.
public enum ChromeTrace {
    public static func document(_ events: [TraceEvent], runID: String, experiment: String) -> JSONValue {
        var out: [JSONValue] = []
        var laneTrack: [String: Int] = [:]
        var pids: Set<Int32> = []
        // Open spans: key → start event.
        var open: [String: TraceEvent] = [:]
        // Where each hand-off started, and how many arrows it has drawn.
        var flowOrigin: [Int: (ts: JSONValue, pid: JSONValue, tid: JSONValue)] = [:]
        var flowArrows: [Int: Int] = [:]

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
            case "counter" where event.fields["value"]?.doubleValue != nil:
                out.append(["ph": "C", "name": .string(label(event, "name")), "ts": .int(Int(event.ts)), "pid": pid,
                            "tid": .int(tid), "args": [.init(stringLiteral: "value"): event.fields["value"] ?? .null]])
            default:
                instant(event, pid: pid, tid: tid, into: &out, args: args(event))
            }
            if let flow = event.flow {
                // A zero-length slice to bind the flow arrow to.
                out.append(["ph": "X", "name": .string(event.type), "cat": "flow", "ts": .int(Int(event.ts)), "dur": 0,
                            "pid": pid, "tid": .int(tid)])
                let ts = JSONValue.int(Int(event.ts))
                if let origin = flowOrigin[flow] {
                    // One arrow per receiver: a flow id has exactly one `s` and one `f`, so the
                    // second and later receivers of one hand-off (event.set → each wake) get
                    // their own id, starting again from the origin's slice.
                    let arrows = flowArrows[flow, default: 0]
                    flowArrows[flow] = arrows + 1
                    let id = JSONValue.string(arrows == 0 ? "\(flow)" : "\(flow).\(arrows)")
                    if arrows > 0 {
                        out.append(["ph": "s", "name": "handoff", "cat": "flow", "id": id, "ts": origin.ts,
                                    "pid": origin.pid, "tid": origin.tid])
                    }
                    out.append(["ph": "f", "bp": "e", "name": "handoff", "cat": "flow", "id": id, "ts": ts,
                                "pid": pid, "tid": .int(tid)])
                } else {
                    flowOrigin[flow] = (ts, pid, .int(tid))
                    out.append(["ph": "s", "name": "handoff", "cat": "flow", "id": .string("\(flow)"), "ts": ts,
                                "pid": pid, "tid": .int(tid)])
                }
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
