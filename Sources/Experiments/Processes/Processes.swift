import Glibc
import JSON
import Primitives
import Tracing

extension Experiment {
    /// multiprocessing.Process: start, join, kill, terminate, daemon.
    public static let processes = Experiment(
        id: "processes",
        title: "Processes",
        category: "Processes",
        summary: "Start N real child processes (the server's own executable, spawned again) and join, serialise, kill, terminate or abandon them as daemons.",
        lesson: """
            Each child is a separate process with its own pid: its lane shows the pid, and its \
            events carry it. process.spawn marks the start, process.exit how it ended. With join, \
            the parent starts them all, then waits, and every child exits with code 0 after doing \
            its work side by side with the others. serial is the notes' `start(); join()` inside \
            the loop (000 §3.1): each child starts only after the last has exited, so the run takes \
            N × workMs — join() belongs after the loop. kill and terminate send SIGKILL or SIGTERM \
            halfway through: a child still working never reaches its last step and its exit shows \
            the signal instead of an exit code (one that had already finished shows code 0). \
            kill-one is the notes' `b_p.kill()` right after `b_p.start()`: only the last child is \
            killed, before it does any work, and the others run to the end. daemon children are \
            ended when the main lane ends, even though their work is unfinished (daemon=True, \
            守护进程).
            """,
        parameters: [
            .integer("count", 1...64, default: 3, "Child processes to start."),
            .choice("action", ["join", "serial", "kill", "terminate", "kill-one", "daemon"], default: "join",
                    "join: start all, then join each; serial: start(); join() inside the loop; kill: SIGKILL mid-work; terminate: SIGTERM mid-work; kill-one: SIGKILL only the last child right after its start; daemon: end them when the main lane ends."),
            .integer("workMs", 0...10_000, default: 500, "How long each child works, in three steps."),
        ],
        body: runProcesses
    )
}

private func runProcesses(_ run: RunContext) throws -> JSONObject {
    let count = run.params.int("count")
    let action = run.params.string("action")
    let workMs = run.params.int("workMs")
    let main = run.main
    main.log("parent pid \(getpid()): starting \(count) × Process(target=work); action \(action)")
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let ready = ReadyLatch(control: run.control)
    let startUs = run.recorder.elapsedMicros
    var children: [ChildProcess] = []
    func start(_ index: Int) throws -> ChildProcess {
        let child = try supervisor.spawn(name: "process-\(index)", kind: "work",
                                         arguments: ["--index", String(index), "--work-ms", String(workMs)],
                                         daemon: action == "daemon", from: main, onMessage: ready.handler)
        children.append(child)
        return child
    }
    return try run.surviving(supervisor, {
        switch action {
        case "serial":
            for index in 1...count {
                let child = try start(index)
                try supervisor.join(child, on: main)
            }
        case "kill-one":
            for index in 1...count {
                let child = try start(index)
                if index == count { supervisor.kill(child, SIGKILL, from: main) }
            }
            for child in children { try supervisor.join(child, on: main) }
        case "kill", "terminate":
            for index in 1...count { _ = try start(index) }
            try ready.wait(for: count, on: main)
            try run.sleep(ms: workMs / 2, on: main)
            let signal = action == "kill" ? SIGKILL : SIGTERM
            for child in children { supervisor.kill(child, signal, from: main) }
            for child in children { try supervisor.join(child, on: main) }
        case "daemon":
            for index in 1...count { _ = try start(index) }
            try ready.wait(for: count, on: main)
            main.log("main does its own work for \(workMs / 2) ms, then ends without joining")
            try run.sleep(ms: workMs / 2, on: main)
            supervisor.shutdown(on: main)
        default:
            for index in 1...count { _ = try start(index) }
            for child in children { try supervisor.join(child, on: main) }
        }
        let wallMs = milliseconds(since: startUs, run)
        supervisor.shutdown(on: main)
        return processesSummary(run, supervisor: supervisor, children: children, action: action, workMs: workMs, wallMs: wallMs)
    }, onDeath: { death in
        let steps = run.recorder.events.filter { $0.pid == death.child.pid && $0.type == "io.end" }.count
        let finished = children.filter { supervisor.status(of: $0)?.code == 0 }.count
        return ("it had finished \(steps) of its 3 steps of work; \(finished) of \(children.count) children had exited with code 0",
                ["count": .int(count), "action": .string(action), "exitedZero": .int(finished)])
    })
}

private func processesSummary(_ run: RunContext, supervisor: ProcessSupervisor, children: [ChildProcess],
                              action: String, workMs: Int, wallMs: Double) -> JSONObject {
    let main = run.main
    let count = children.count
    let events = run.recorder.events
    let exits = children.map { child -> JSONValue in
        var object: JSONObject = ["child": .string(child.lane), "pid": .int(Int(child.pid))]
        for (key, value) in supervisor.status(of: child)?.fields ?? [:] { object[key] = value }
        // Steps of work the child reached (each sleep it finished).
        object["steps"] = .int(events.filter { $0.pid == child.pid && $0.type == "io.end" }.count)
        return .object(object)
    }
    let statuses = children.map { supervisor.status(of: $0) }
    let signalled = statuses.filter { $0?.signal != nil }.count
    let exitedZero = statuses.filter { $0?.code == 0 }.count
    var byHow: [String: Int] = [:]
    for status in statuses { byHow[status?.description ?? "unknown", default: 0] += 1 }
    let exitText = byHow.sorted { $0.value > $1.value }.map { "\($0.value) × \($0.key)" }.joined(separator: ", ")
    let pids = children.map { String($0.pid) }
    let pidText = pids.count > 6 ? pids.prefix(6).joined(separator: ", ") + ", …" : pids.joined(separator: ", ")
    func seq(_ type: String, _ child: ChildProcess) -> Int? {
        events.first { $0.type == type && $0.fields["childPid"]?.intValue == Int(child.pid) }?.seq
    }
    let unfinished = exits.filter { ($0["steps"]?.intValue ?? 0) < 3 }.count

    let verdict: String
    switch action {
    case "serial":
        verdict = "start(); join() inside the loop ran \(count) children one after another: \(Int(wallMs)) ms for \(count) × \(workMs) ms of work; exits: \(exitText)."
        if count > 1, let exit = seq("process.exit", children[0]), let next = seq("process.spawn", children[1]) {
            main.insight("\(children[1].lane) is started only after \(children[0].lane) has exited: join() inside the loop makes the children take turns.",
                         refs: [exit, next], kind: .timing)
        }
    case "kill", "terminate":
        let name = action == "kill" ? "SIGKILL" : "SIGTERM"
        verdict = "Sent \(name) to \(count) children halfway through \(workMs) ms of work: \(signalled) ended by the signal, \(exitedZero) had already exited with code 0 (exits: \(exitText))."
    case "kill-one":
        let last = children[count - 1]
        let lastSteps = exits[count - 1]["steps"]?.intValue ?? 0
        verdict = "\(last.lane) was killed right after start and ended by \(supervisor.status(of: last)?.description ?? "unknown") after \(lastSteps) of 3 steps; the other \(count - 1) ran on (exits: \(exitText))."
    case "daemon":
        // A child may be terminated after its last step but before it exited: count what its lane did.
        let cutShort = zip(statuses, exits).filter { $0.0?.signal != nil && ($0.1["steps"]?.intValue ?? 0) < 3 }.count
        let terminated = signalled == 0 ? "none was terminated"
            : signalled == cutShort ? "\(signalled) \(signalled == 1 ? "was" : "were") terminated with \(signalled == 1 ? "its" : "their") work unfinished"
            : "\(signalled) \(signalled == 1 ? "was" : "were") terminated (\(cutShort) with \(cutShort == 1 ? "its" : "their") work unfinished, \(signalled - cutShort) after \(signalled - cutShort == 1 ? "its" : "their") last step, before exiting)"
        verdict = "The main lane ended after \(workMs / 2) ms: of its \(count) daemon children, \(terminated) and \(exitedZero) had already exited with code 0 (exits: \(exitText))."
    default:
        verdict = "\(count) child processes (pids \(pidText)) worked side by side and were joined after \(Int(wallMs)) ms; exits: \(exitText)."
        let spawns = children.prefix(3).map { seq("process.spawn", $0) }
        main.insight("Each child is its own process with its own pid (\(pidText)), started by the parent pid \(getpid()); their lanes work at the same time.",
                     refs: spawns, kind: .actor)
    }
    if action == "kill" || action == "terminate" || action == "kill-one" || action == "daemon",
       let hit = children.first(where: { supervisor.status(of: $0)?.signal != nil }) {
        main.insight("\(hit.lane) was ended by \(supervisor.status(of: hit)!.description) before finishing its work: its lane stops early and its exit shows the signal, not an exit code.",
                     refs: [seq("process.kill", hit), seq("process.exit", hit)], kind: .problem)
    } else if action != "join" && action != "serial", let first = children.first {
        main.insight("Every child had finished its work before the signal: each exit shows code 0.",
                     refs: [seq("process.exit", first)], kind: .info)
    }
    return [
        "verdict": .string(verdict), "count": .int(count), "action": .string(action),
        "parentPid": .int(Int(getpid())), "children": .array(exits),
        "distinctPids": .int(Set(children.map(\.pid)).count), "signalled": .int(signalled),
        "exitedZero": .int(exitedZero), "unfinished": .int(unfinished),
        "wallMs": .double(round1(wallMs)),
    ]
}

/// `work`: the child of `processes`: three steps of work, announcing itself first.
@Sendable func processWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    let index = worker.int("index")
    let workMs = worker.int("work-ms")
    lane.start()
    lane.log("child \(index) started: pid \(getpid()), parent \(getppid())")
    lane.trace.send(["ctl": "ready"])
    for step in 0..<3 {
        lane.log("\(step) work \(index) pid \(getpid())")
        worker.sleep(ms: workMs / 3 + (step < workMs % 3 ? 1 : 0))
    }
    lane.log("child \(index) finished its work")
    lane.end()
    return 0
}
