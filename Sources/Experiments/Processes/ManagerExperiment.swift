import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// multiprocessing.Manager: a server process holds a dict; worker processes change
    /// it through proxies, one round trip per get and per set (002 §2).
    public static let manager = Experiment(
        id: "manager",
        title: "Manager: a dict in a server process",
        category: "Processes",
        summary: "A manager process holds dic = {'count': N}; P worker processes each do dic['count'] -= 1 through a proxy — a get and a set, each a round trip over a pipe — with or without a manager lock.",
        lesson: """
            Manager() starts a server process that holds the dict; the workers never touch it, \
            they send requests (the proxy) over a pipe and wait for the answer. dic['count'] -= 1 \
            is two round trips: a get, then a set of the value read minus one. Nothing stops \
            another worker's get from landing between them, so two workers read the same count \
            and both write count − 1: the second write overwrites the first and one decrement is \
            lost (the marked writes point at the one they overwrote). Nothing forces it: how many \
            are lost is up to the scheduler, different on every run. As in Python, Manager() \
            returns only once the server process is up, so no worker is waiting for it when it \
            starts. Expect more losses than Python's: on the same busy 2-core machine, side by \
            side, the notes' program lost 2–12 of 50 and this run 13–25. Each worker here is a new \
            process running the server's own binary (about 15 ms of CPU to start, where Python's \
            fork costs little), and on a busy machine those start-ups take the CPU from the round \
            trips under way: the manager saw a get or set a median of 4–8 ms after it was sent, \
            where Python's whole round trips took a median of under 1 ms — wider get/set windows, more of them \
            overlapping. With lock, each worker holds the manager's lock around its get and set: \
            the round trips queue up and nothing is lost. Note the notes' own program passes \
            a Lock to every process and never acquires it — so it loses updates just the same; \
            the lock only helps when `with lock:` wraps the read-modify-write.
            """,
        parameters: [
            .integer("processes", 1...64, default: 50, "Worker processes, each with its own proxy (the notes use 50)."),
            .integer("decrements", 1...100, default: 1, "dic['count'] -= 1 done by each worker."),
            .boolean("lock", default: false, "Hold the manager's lock around each get and set."),
            .choice("start", ["together", "staggered"], default: "staggered",
                    "together: every worker begins once all are connected; staggered: each begins as soon as it is up, as in the notes' loop of start()."),
        ],
        body: runManager
    )
}

private func runManager(_ run: RunContext) throws -> JSONObject {
    let processes = run.params.int("processes")
    let decrements = run.params.int("decrements")
    let locked = run.params.bool("lock")
    let together = run.params.string("start") == "together"
    let initial = processes * decrements
    let main = run.main
    main.log("m = Manager(); dic = m.dict({'count': \(initial)}); \(processes) × Process(target=main) doing dic['count'] -= 1 \(decrements == 1 ? "once" : "\(decrements) times")\(locked ? " with m.Lock()" : " without a lock")")

    // One socket pair per worker: the worker's proxy end and the manager's end.
    var pairs: [(worker: Int32, manager: Int32)] = []
    // Each end is closed once: an end closed early is set to -1 (closing a number twice closes
    // whatever the server opened with it in between — a trace file, a sampler's /proc file).
    defer {
        for pair in pairs {
            if pair.worker >= 0 { close(pair.worker) }
            if pair.manager >= 0 { close(pair.manager) }
        }
    }
    for _ in 0..<processes {
        var fds: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw ProcessSupervisor.SpawnError(description: "socketpair: \(String(cString: strerror(errno)))")
        }
        pairs.append((fds[0], fds[1]))
    }
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let final = Mutex<JSONObject?>(nil)
    // Manager() returns only once its server process is up (Python waits for the server's
    // address): no worker exists before it can answer, as in the notes' program.
    let managerUp = Mutex(false)
    let upMonitor = Monitor(control: run.control)
    let manager = try supervisor.spawn(
        name: "manager", kind: "manager",
        arguments: ["--workers", String(processes), "--initial", String(initial), "--together", String(together)],
        fds: pairs.enumerated().map { (child: Int32(5 + $0.offset), parent: $0.element.manager) }, from: main
    ) { _, message in
        if message["ctl"] == "final" { final.withLock { $0 = message } }
        if message["ctl"] == "ready" {
            managerUp.withLock { $0 = true }
            upMonitor.lockAndBroadcast()
        }
    }
    // The manager holds its ends now; the parent's copies would keep its reads from ever seeing EOF.
    for index in pairs.indices {
        close(pairs[index].manager)
        pairs[index].manager = -1
    }
    var workers: [ChildProcess] = []
    return try run.surviving(supervisor, {
        main.emit("io.begin", ["op": "Manager(): wait until the server process is up"])
        try upMonitor.withLock { () throws(RunInterrupted) in
            _ = try upMonitor.wait(until: { managerUp.withLock { $0 } })
        }
        main.emit("io.end", ["op": "Manager(): wait until the server process is up"])
        for index in 1...processes {
            workers.append(try supervisor.spawn(
                name: "worker-\(index)", kind: "manager-client",
                arguments: ["--index", String(index), "--decrements", String(decrements), "--lock", String(locked)],
                fds: [(5, pairs[index - 1].worker)], from: main))
            close(pairs[index - 1].worker)
            pairs[index - 1].worker = -1
        }
        for worker in workers { try supervisor.join(worker, on: main) }
        try supervisor.join(manager, on: main)
        pairs = []
        let report = final.withLock { $0 } ?? [:]
        return managerSummary(run, report: report, processes: processes, decrements: decrements, locked: locked,
                              together: together, initial: initial)
    }, onDeath: { death in
        let sets = run.recorder.events.filter { $0.type == "var.write" }.count
        let what = death.child.pid == manager.pid
            ? "the dict lived in it, so all the proxies lost their server: \(sets) of \(initial) decrements had been written and the count itself is gone"
            : "its proxy's round trips stopped; \(sets) of \(initial) decrements had been written"
        return (what, ["processes": .int(processes), "decrements": .int(decrements), "lock": .bool(locked),
                       "initial": .int(initial), "written": .int(sets)])
    })
}

private func managerSummary(_ run: RunContext, report: JSONObject, processes: Int, decrements: Int, locked: Bool,
                            together: Bool, initial: Int) -> JSONObject {
    let main = run.main
    let events = run.recorder.events
    let finalValue = report["value"]?.intValue ?? initial
    let lost = finalValue
    let overwrites = report["overwrites"]?.intValue ?? 0
    let writes = events.filter { $0.type == "var.write" }
    main.counter("count", finalValue)
    if let first = writes.first(where: { $0.fields["lost"] == true }) {
        let victim = first.fields["overwrote"]?.intValue.flatMap { seq in events.first { $0.seq == seq } }
        let read = events.last { $0.type == "var.read" && $0.lane == first.lane && $0.seq < first.seq }
        let value = first.fields["value"]?.intValue ?? 0
        main.insight("\(first.lane) read \(read?.fields["value"]?.intValue ?? value + 1) and wrote \(value)\(victim.map { ", over \($0.lane)'s write of \($0.fields["value"]?.intValue ?? 0)" } ?? ""): another worker's get came between its get and its set, so that decrement is lost.",
                     refs: [read?.seq, victim?.seq, first.seq], kind: .problem)
    } else if locked, let wait = events.first(where: { $0.type == "lock.wait" }) ?? events.first(where: { $0.type == "lock.acquire" }) {
        main.insight("\(wait.lane) waits for the manager's lock before its get: gets and sets take turns, and no write overwrites another.",
                     refs: [wait.seq], kind: .success)
    } else if let write = writes.first {
        main.insight("This time no worker's get came between another's get and set: nothing was lost, but nothing prevented it either.",
                     refs: [write.seq], kind: .info)
    }
    let mode = together ? "starting together" : "starting as each came up"
    let verdict: String
    if lost == 0 {
        verdict = locked
            ? "With the manager lock, \(processes) processes made all \(initial) decrements through their proxies: count ended at 0, no write overwrote another."
            : "This run, \(processes) process\(processes == 1 ? "" : "es") (\(mode)) lost none of \(initial) decrements without a lock: no get landed between another worker's get and set — it can, it did not."
    } else {
        verdict = "\(locked ? "Even with the lock" : "Without a lock"), \(processes) processes (\(mode)) lost \(lost) of \(initial) decrements: count ended at \(finalValue) instead of 0; \(overwrites) set\(overwrites == 1 ? "" : "s") overwrote a newer value."
    }
    return [
        "verdict": .string(verdict), "processes": .int(processes), "decrements": .int(decrements), "lock": .bool(locked),
        "start": .string(together ? "together" : "staggered"), "initial": .int(initial), "final": .int(finalValue),
        "expected": 0, "lost": .int(lost), "overwrites": .int(overwrites),
        "roundTrips": .int(report["requests"]?.intValue ?? 0), "managerPid": report["pid"] ?? .null,
    ]
}

// MARK: The manager and its clients

/// `manager`: the server process. Holds `count`; serves get / set / acquire / release
/// from `--workers` proxies on fds 5, 6, …; exits when every proxy has hung up and
/// reports the final value to the parent.
@Sendable func managerServer(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    let count = worker.int("workers")
    let together = worker.bool("together")
    var value = worker.int("initial")
    var version = 0
    var lastWriter: String?
    var holder: Int?
    var waiting: [Int] = []
    var hellos: [Int] = []
    var requests = 0, overwrites = 0
    var open = Set(0..<count)
    var buffers = Array(repeating: [UInt8](), count: count)
    lane.start()
    lane.log("manager pid \(getpid()) holds dic = {'count': \(value)}")
    lane.counter("count", value)
    lane.trace.send(["ctl": "ready"])
    var chunk = [UInt8](repeating: 0, count: 4096)

    func handle(_ index: Int, _ request: JSONObject) {
        let fd = Int32(5 + index)
        requests += 1
        switch request["op"]?.stringValue {
        case "hello":
            if together {
                hellos.append(index)
                if hellos.count == count { for waiter in hellos { _ = sendJSONLine(Int32(5 + waiter), ["go": true]) } }
            } else {
                _ = sendJSONLine(fd, ["go": true])
            }
        case "get":
            _ = sendJSONLine(fd, ["value": .int(value), "version": .int(version), "atNs": .int(Int(interleave_monotonic_ns()))])
        case "set":
            let lost = request["version"]?.intValue != version
            if lost { overwrites += 1 }
            let overwrote = lost ? lastWriter : nil
            value = request["value"]?.intValue ?? value
            version += 1
            lastWriter = request["key"]?.stringValue
            var reply: JSONObject = ["lost": .bool(lost), "atNs": .int(Int(interleave_monotonic_ns()))]
            if let overwrote { reply["overwrote"] = .string(overwrote) }
            _ = sendJSONLine(fd, reply)
            lane.counter("count", value)
        case "acquire":
            if holder == nil {
                holder = index
                _ = sendJSONLine(fd, ["granted": true, "waited": false])
            } else {
                waiting.append(index)
            }
        case "release":
            holder = waiting.isEmpty ? nil : waiting.removeFirst()
            if let next = holder { _ = sendJSONLine(Int32(5 + next), ["granted": true, "waited": true]) }
        default:
            break
        }
    }

    while !open.isEmpty {
        let watched = open.sorted()
        var fds = watched.map { pollfd(fd: Int32(5 + $0), events: Int16(POLLIN), revents: 0) }
        let ready = poll(&fds, nfds_t(fds.count), -1)
        if ready < 0 && errno == EINTR { continue }
        if ready < 0 { return 8 }
        for (slot, index) in watched.enumerated() where fds[slot].revents != 0 {
            let got = read(Int32(5 + index), &chunk, chunk.count)
            if got < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if got <= 0 {
                open.remove(index)
                close(Int32(5 + index))
                continue
            }
            buffers[index].append(contentsOf: chunk[..<got])
            while let newline = buffers[index].firstIndex(of: 0x0A) {
                let line = Array(buffers[index][..<newline])
                buffers[index].removeFirst(newline + 1)
                if let request = (try? JSONParser.parse(line))?.objectValue { handle(index, request) }
            }
        }
    }
    lane.log("every proxy has disconnected: dic = {'count': \(value)}; the manager exits")
    lane.trace.send(["ctl": "final", "value": .int(value), "overwrites": .int(overwrites), "requests": .int(requests),
                     "pid": .int(Int(getpid()))])
    lane.end()
    return 0
}

/// `manager-client`: one worker process with a proxy on fd 5: `dic['count'] -= 1`
/// `--decrements` times, as a get round trip and a set round trip, with the manager's
/// lock around them if `--lock true`.
@Sendable func managerClient(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    let index = worker.int("index")
    let locked = worker.bool("lock")
    let reader = Worker.LineReader(fd: 5)
    lane.start()
    func call(_ request: JSONObject) -> JSONObject? {
        guard sendJSONLine(5, request) else { return nil }
        return reader.next()
    }
    guard call(["op": "hello"]) != nil else { return 7 }
    for round in 0..<worker.int("decrements") {
        if locked {
            let before = interleave_monotonic_ns()
            guard let grant = call(["op": "acquire"]) else { return 7 }
            if grant["waited"] == true { lane.emit("lock.wait", atNs: before, ["lock": "manager-lock"]) }
            lane.emit("lock.acquire", ["lock": "manager-lock"])
        }
        guard let got = call(["op": "get"]), let value = got["value"]?.intValue else { return 7 }
        let key = "w\(index)#\(round)"
        guard let set = call(["op": "set", "value": .int(value - 1), "version": got["version"] ?? 0, "key": .string(key)])
        else { return 7 }
        // Traced only now, stamped with the manager's moments: a trace write between the get
        // and the set would wake the parent and widen the very window the lesson is about,
        // which Python's `dic['count'] -= 1` does not have.
        lane.emit("var.read", atNs: got["atNs"]?.intValue.map { UInt64($0) }, ["var": "dic['count']", "value": .int(value)])
        var fields: JSONObject = ["var": "dic['count']", "value": .int(value - 1), "refKey": .string(key)]
        if set["lost"] == true {
            fields["lost"] = true
            if let overwrote = set["overwrote"] { fields["overwroteKey"] = overwrote }
        }
        lane.emit("var.write", atNs: set["atNs"]?.intValue.map { UInt64($0) }, fields)
        if locked {
            lane.emit("lock.release", ["lock": "manager-lock"])
            guard sendJSONLine(5, ["op": "release"]) else { return 7 }
        }
    }
    lane.end()
    return 0
}
