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
        summary: "Start N real child processes (the server's own executable, spawned again) and join, kill, terminate or abandon them as daemons.",
        lesson: """
            Each child is a separate process with its own pid: its lane shows the pid, and its \
            events carry it. process.spawn marks the start, process.exit how it ended. With join, \
            the parent waits and every child exits with code 0 after doing its work in parallel \
            with the others. kill and terminate send SIGKILL or SIGTERM mid-work: the child never \
            reaches its last step and its exit shows the signal instead of an exit code. daemon \
            children are ended when the main lane ends, even though their work is unfinished \
            (daemon=True, 守护进程).
            """,
        parameters: [
            .integer("count", 1...16, default: 3, "Child processes to start."),
            .choice("action", ["join", "kill", "terminate", "daemon"], default: "join",
                    "join: wait for each; kill: SIGKILL mid-work; terminate: SIGTERM mid-work; daemon: end them when the main lane ends."),
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
    let children = try (1...count).map { index in
        try supervisor.spawn(name: "process-\(index)", kind: "work",
                             arguments: ["--index", String(index), "--work-ms", String(workMs)],
                             daemon: action == "daemon", from: main, onMessage: ready.handler)
    }
    switch action {
    case "kill", "terminate":
        try ready.wait(for: count, on: main)
        try run.sleep(ms: workMs / 2, on: main)
        let signal = action == "kill" ? SIGKILL : SIGTERM
        for child in children { supervisor.kill(child, signal, from: main) }
        for child in children { try supervisor.join(child, on: main) }
    case "daemon":
        try ready.wait(for: count, on: main)
        main.log("main does its own work for \(workMs / 2) ms, then ends without joining")
        try run.sleep(ms: workMs / 2, on: main)
        supervisor.shutdown(on: main)
    default:
        for child in children { try supervisor.join(child, on: main) }
    }
    let wallMs = milliseconds(since: startUs, run)
    supervisor.shutdown(on: main)
    let exits = children.map { child -> JSONValue in
        var object: JSONObject = ["child": .string(child.lane), "pid": .int(Int(child.pid))]
        for (key, value) in supervisor.status(of: child)?.fields ?? [:] { object[key] = value }
        return .object(object)
    }
    let statuses = children.compactMap { supervisor.status(of: $0) }
    let signalled = statuses.filter { $0.signal != nil }.count
    let pids = children.map { String($0.pid) }.joined(separator: ", ")
    let verdict = switch action {
    case "kill", "terminate":
        "\(signalled) of \(count) children were ended by \(action == "kill" ? "SIGKILL" : "SIGTERM") halfway through \(workMs) ms of work; none returned an exit code."
    case "daemon":
        "The main lane ended after \(workMs / 2) ms, so its \(count) daemon children (pids \(pids)) were terminated with their work unfinished."
    default:
        "\(count) child processes (pids \(pids)) each worked \(workMs) ms in parallel and were joined after \(Int(wallMs)) ms, all with exit code 0."
    }
    return [
        "verdict": .string(verdict), "count": .int(count), "action": .string(action),
        "parentPid": .int(Int(getpid())), "children": .array(exits),
        "distinctPids": .int(Set(children.map(\.pid)).count), "signalled": .int(signalled),
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
