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
        summary: "N real threads on their own lanes: names, kernel ids, active_count(), join — or daemon threads, alone or mixed with non-daemon ones, cut off when the program ends.",
        lesson: """
            Each thread gets its own lane and its own kernel thread id (tid): they are real OS \
            threads sharing one process (same pid). The active_count counter rises as they start \
            and falls as they end. Without daemon, the main lane joins each thread (io.begin/io.end \
            "join") and ends last. With daemon=True (set before start), the main lane returns \
            without joining: the daemon threads do not keep the program alive and are cut off when \
            it ends — their lanes end with cutOff: true (守护线程随主线程结束而结束). With daemons > 0 \
            the two kinds are mixed (004 day36): main joins only the count non-daemon threads, and \
            the program ends when they have ended; the daemon threads (daemonWorkMs each) never \
            keep it alive — those still working then are cut off, those that finished earlier \
            ended normally (守护线程会等待所有的非守护线程结束之后结束). Without the joins, Python \
            would still wait for the non-daemon threads at exit, and end the daemons just the same.
            """,
        parameters: [
            .integer("count", 1...64, default: 3, "Threads to start."),
            .integer("workMs", 0...10_000, default: 300, "How long each thread works (sleeps), in milliseconds."),
            .boolean("daemon", default: false, "Start them as daemon threads: main does not join them and they are cut off when it ends."),
            .integer("daemons", 0...64, default: 0, "Daemon threads started beside the count threads (mixed): main joins only the non-daemon ones."),
            .integer("daemonWorkMs", 0...10_000, default: 1_000, "How long each of the extra daemon threads works (sleeps), in milliseconds."),
        ],
        body: runThreads
    )
}

/// What the daemon threads did, decided under one lock, so the verdict and the trace
/// agree: a daemon that finishes its work after the program has ended is cut off too —
/// in Python nothing of a daemon runs once the interpreter is gone.
private struct DaemonLedger {
    var programEnded = false
    var running: Set<String> = []
    var finished: [String] = []
}

private func runThreads(_ run: RunContext) throws -> JSONObject {
    let count = run.params.int("count")
    let workMs = run.params.int("workMs")
    let allDaemon = run.params.bool("daemon")
    let extraDaemons = run.params.int("daemons")
    let daemonWorkMs = run.params.int("daemonWorkMs")
    let main = run.main
    // Python counts the main thread in active_count().
    let active = Atomic<Int>(1)
    let total = count + extraDaemons
    let allStarted = Rendezvous(parties: total + 1, control: run.control)
    let ledger = Mutex(DaemonLedger())
    main.log("main thread: name=MainThread ident=\(interleave_tid()) active_count()=1")
    main.counter("active_count", 1)

    struct Started {
        let name: String
        let daemon: Bool
        let thread: TracedThread
    }
    var threads: [Started] = []
    let plan = (1...count).map { (name: "thread-\($0)", daemon: allDaemon, ms: workMs) }
        + (0..<extraDaemons).map { (name: "daemon-\($0 + 1)", daemon: true, ms: daemonWorkMs) }
    for (name, daemon, ms) in plan {
        main.log("\(name) = Thread(target=work, daemon=\(daemon ? "True" : "False")); \(name).start()")
        if daemon { ledger.withLock { _ = $0.running.insert(name) } }
        let thread = run.spawn(name, daemon: daemon) { lane in
            let now = active.add(1, ordering: .sequentiallyConsistent).newValue
            lane.counter("active_count", now)
            lane.log("current_thread(): name=\(name) ident=\(interleave_tid()) daemon=\(daemon)")
            defer {
                let left = active.subtract(1, ordering: .sequentiallyConsistent).newValue
                lane.counter("active_count", left)
            }
            try allStarted.arrive()
            try run.sleep(ms: ms, on: lane)
            if daemon {
                let cutOff = ledger.withLock { ledger in
                    if ledger.programEnded { return true }
                    ledger.running.remove(name)
                    ledger.finished.append(name)
                    return false
                }
                // Too late: the program is ending. Nothing more of it runs until the end cuts it off.
                while cutOff { try run.sleep(ms: 1_000) }
            }
            lane.log("\(name) finished its work")
        }
        threads.append(Started(name: name, daemon: daemon, thread: thread))
    }
    try allStarted.arrive()
    let tids = threads.map { Int($0.thread.tid) }
    main.log("all \(total) started; threading.active_count() = \(active.load(ordering: .sequentiallyConsistent))")

    let starts = run.recorded(["lane.start"]) { $0.string("kind") == "thread" }
    main.insight("\(total) thread lanes, \(Set(tids).count) different kernel thread ids (tid), one process (pid \(starts.first.map { String($0.pid) } ?? "?")): each is a real OS thread inside the same process.",
                 refs: starts.map(\.seq), kind: .actor)

    // Main joins only the non-daemon threads; then its code ends and so does the program.
    let nonDaemons = threads.filter { !$0.daemon }
    for started in nonDaemons {
        main.emit("io.begin", ["op": "join", "thread": .string(started.name)])
        started.thread.join()
        main.emit("io.end", ["op": "join", "thread": .string(started.name)])
    }
    try run.check()
    let daemonCount = threads.count - nonDaemons.count
    // The program ends here: every daemon still working is cut off (the runner stops them).
    let (cutOff, finished) = ledger.withLock { ledger in
        ledger.programEnded = true
        return (ledger.running, ledger.finished)
    }
    let left = active.load(ordering: .sequentiallyConsistent)
    var summary: JSONObject = [
        "count": .int(count), "daemon": .bool(allDaemon), "daemons": .int(daemonCount),
        "joined": .bool(!nonDaemons.isEmpty), "tids": JSONValue(tids),
    ]
    if daemonCount == 0 {
        main.log("all joined; threading.active_count() = \(left)")
        if let last = threads.last {
            main.insight("The main lane waits in \"join\" for each thread in turn, and goes on only after \(last.name) has ended.",
                         refs: [run.lastSeq("io.begin", lane: "main") { $0.string("op") == "join" }, run.lastSeq("lane.end", lane: last.name)],
                         kind: .order)
        }
        summary["verdict"] = .string("Started \(count) threads with \(Set(tids).count) distinct kernel ids in one process and joined them all; active_count() went from \(count + 1) back to \(left).")
        return summary
    }
    let stillRunning = threads.filter { $0.daemon && cutOff.contains($0.name) }.map(\.name)
    summary["stillRunningAtMainEnd"] = .int(stillRunning.count)
    summary["cutOff"] = JSONValue(stillRunning)
    summary["daemonsFinished"] = JSONValue(finished)
    let working = run.recorded(["io.begin"]) { stillRunning.contains($0.lane) && $0.string("op") == "sleep" }
    let finishedText = finished.isEmpty ? "" : "; \(finished.count) finished before that and ended normally"
    if nonDaemons.isEmpty {
        main.log("main returns without join(); the daemon threads end with it")
        main.insight("Main returns without join(): \(stillRunning.count) daemon lane\(stillRunning.count == 1 ? " is" : "s are") still working when it ends, so \(stillRunning.count == 1 ? "it is" : "they are") cut off at run end (their bars stop with a ragged edge).",
                     refs: working.prefix(8).map(\.seq) + [run.lastSeq("log", lane: "main")], kind: .order)
        summary["verdict"] = .string("Main ended without joining; \(stillRunning.count) of \(daemonCount) daemon threads were still working and were cut off at run end\(finishedText).")
        return summary
    }
    let lastName = nonDaemons.last!.name
    main.log("the \(nonDaemons.count) non-daemon threads are joined; main returns and the program ends: threading.active_count() = \(left)")
    main.insight(stillRunning.isEmpty
        ? "Every daemon thread finished before the last non-daemon thread: nothing was left to cut off when the program ended."
        : "Main joined only the non-daemon threads; when they had ended, the program ended, and \(stillRunning.count) daemon thread\(stillRunning.count == 1 ? " was" : "s were") still in \(stillRunning.count == 1 ? "its" : "their") sleep: cut off (ragged edge), the daemon does not keep the program alive.",
        refs: [run.lastSeq("io.end", lane: "main") { $0.string("op") == "join" }] + working.prefix(8).map(\.seq)
            + [run.lastSeq("log", lane: "main")] + (stillRunning.isEmpty ? [run.lastSeq("lane.end", lane: lastName)] : []),
        kind: stillRunning.isEmpty ? .info : .order)
    summary["verdict"] = .string("Main joined \(nonDaemons.count) non-daemon thread\(nonDaemons.count == 1 ? "" : "s") and the program ended: \(stillRunning.count) of \(daemonCount) daemon threads were still working then and were cut off\(finishedText).")
    return summary
}
