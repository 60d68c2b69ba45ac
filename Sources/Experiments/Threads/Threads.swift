import CSystem
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// threading.Thread: start, join, daemon, names, idents and active_count().
    public static let threads = Experiment(
        id: "threads",
        title: "Threads: start, join, daemon",
        category: "Threads",
        summary: "N real threads on their own lanes: names, kernel ids, active_count(), join — or daemon threads cut off when main ends.",
        lesson: """
            Each thread gets its own lane and its own kernel thread id (tid): they are real OS \
            threads sharing one process (same pid). The active_count counter rises as they start \
            and falls as they end. Without daemon, the main lane joins each thread (io.begin/io.end \
            "join") and ends last. With daemon=True (set before start), the main lane returns \
            without joining: the daemon threads do not keep the program alive and are cut off when \
            it ends — their lanes end with cutOff: true (守护线程随主线程结束而结束).
            """,
        parameters: [
            .integer("count", 1...64, default: 3, "Threads to start."),
            .integer("workMs", 0...10_000, default: 300, "How long each thread works (sleeps), in milliseconds."),
            .boolean("daemon", default: false, "Start them as daemon threads: main does not join them and they are cut off when it ends."),
        ],
        body: runThreads
    )
}

private func runThreads(_ run: RunContext) throws -> JSONObject {
    let count = run.params.int("count")
    let workMs = run.params.int("workMs")
    let daemon = run.params.bool("daemon")
    let main = run.main
    // Python counts the main thread in active_count().
    let active = Atomic<Int>(1)
    let allStarted = Rendezvous(parties: count + 1, control: run.control)
    main.log("main thread: name=MainThread ident=\(interleave_tid()) active_count()=1")
    main.counter("active_count", 1)

    var threads: [(name: String, thread: TracedThread)] = []
    for index in 1...count {
        let name = "thread-\(index)"
        main.log("\(name) = Thread(target=work, daemon=\(daemon ? "True" : "False")); \(name).start()")
        let thread = run.spawn(name, daemon: daemon) { lane in
            let now = active.add(1, ordering: .sequentiallyConsistent).newValue
            lane.counter("active_count", now)
            lane.log("current_thread(): name=\(name) ident=\(interleave_tid()) daemon=\(daemon)")
            defer {
                let left = active.subtract(1, ordering: .sequentiallyConsistent).newValue
                lane.counter("active_count", left)
            }
            try allStarted.arrive()
            try run.sleep(ms: workMs, on: lane)
            lane.log("\(name) finished its work")
        }
        threads.append((name, thread))
    }
    try allStarted.arrive()
    let tids = threads.map { Int($0.thread.tid) }
    main.log("all \(count) started; threading.active_count() = \(active.load(ordering: .sequentiallyConsistent))")

    let starts = run.recorded(["lane.start"]) { $0.string("kind") == "thread" }
    main.insight("\(count) thread lanes, \(Set(tids).count) different kernel thread ids (tid), one process (pid \(starts.first.map { String($0.pid) } ?? "?")): each is a real OS thread inside the same process.",
                 refs: starts.map(\.seq), kind: .actor)
    if daemon {
        let running = active.load(ordering: .sequentiallyConsistent) - 1
        main.log("main returns without join(); the daemon threads end with it")
        main.insight("Main returns without join(): \(running) daemon lanes are still working when it ends, so they are cut off at run end (their bars stop with a ragged edge).",
                     refs: [run.lastSeq("log", lane: "main")], kind: .order)
        return [
            "verdict": .string("Main ended without joining; \(running) of \(count) daemon threads were still working and were cut off at run end."),
            "count": .int(count), "daemon": true, "joined": false, "tids": JSONValue(tids),
            "stillRunningAtMainEnd": .int(running),
        ]
    }
    for (name, thread) in threads {
        main.emit("io.begin", ["op": "join", "thread": .string(name)])
        thread.join()
        main.emit("io.end", ["op": "join", "thread": .string(name)])
    }
    try run.check()
    let left = active.load(ordering: .sequentiallyConsistent)
    main.log("all joined; threading.active_count() = \(left)")
    if let last = threads.last {
        main.insight("The main lane waits in \"join\" for each thread in turn, and goes on only after \(last.name) has ended.",
                     refs: [run.lastSeq("io.begin", lane: "main") { $0.string("op") == "join" }, run.lastSeq("lane.end", lane: last.name)],
                     kind: .order)
    }
    return [
        "verdict": .string("Started \(count) threads with \(Set(tids).count) distinct kernel ids in one process and joined them all; active_count() went from \(count + 1) back to \(left)."),
        "count": .int(count), "daemon": false, "joined": true, "tids": JSONValue(tids),
    ]
}
