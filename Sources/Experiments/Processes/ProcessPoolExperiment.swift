import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// multiprocessing.Pool: apply_async with callbacks, map, apply.
    public static let processPool = Experiment(
        id: "process-pool",
        title: "Process pool",
        category: "Processes",
        summary: "W long-lived worker processes take T tasks: apply_async with callbacks in the parent, map, or synchronous apply.",
        lesson: """
            A pool starts W processes once and reuses them: follow the pids on the worker lanes — \
            with 3 workers, tasks 0, 3 and 6 run in the same process. Never more than W tasks run \
            at once, however many are submitted. Each result travels back to the parent, and its \
            callback (task.callback) runs in the parent — the server's pid, on one result-handler \
            thread — never in the worker (回调函数是在主进程中执行的). apply_async hands everything \
            over at once, then close() and join(); map blocks until all results are back, in \
            input order; apply is synchronous: one task at a time, so the run takes T × taskMs.
            """,
        parameters: [
            .integer("workers", 1...16, default: 3, "Worker processes in the pool (Pool(W))."),
            .integer("tasks", 0...10_000, default: 9, "Tasks to submit."),
            .integer("taskMs", 0...10_000, default: 100, "How long each task takes in its worker."),
            .choice("mode", ["apply_async", "map", "apply"], default: "apply_async",
                    "apply_async: submit all with callbacks, then close() and join(); map: wait for every result in order; apply: wait for each before the next."),
        ],
        body: runProcessPool
    )
}

private func runProcessPool(_ run: RunContext) throws -> JSONObject {
    let workers = run.params.int("workers")
    let tasks = run.params.int("tasks")
    let taskMs = run.params.int("taskMs")
    let mode = run.params.string("mode")
    let main = run.main
    main.log("Pool(\(workers)) in parent pid \(getpid()); \(tasks) tasks of \(taskMs) ms; \(mode)")
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let pool = try ProcessPool(run: run, supervisor: supervisor, workers: workers, from: main)
    defer { pool.abandon() }
    let callbackPids = Mutex<Set<Int32>>([])
    let callback: ProcessPool.Callback = { completed, lane in
        callbackPids.withLock { _ = $0.insert(getpid()) }
        lane.log("callback in pid \(getpid()): \(completed.value.stringValue ?? "")")
    }
    let message: JSONObject = ["ms": .int(taskMs)]
    let startUs = run.recorder.elapsedMicros
    var results: [JSONValue] = []
    switch mode {
    case "apply":
        for task in 0..<tasks {
            pool.submit(task: task, message: message, from: main, callback: callback)
            results.append(try pool.result(of: task, on: main).value)
        }
        try pool.closeAndJoin(on: main)
    case "map":
        for task in 0..<tasks { pool.submit(task: task, message: message, from: main, callback: callback) }
        for task in 0..<tasks { results.append(try pool.result(of: task, on: main).value) }
        main.log("map returned \(tasks) results in input order")
        try pool.closeAndJoin(on: main)
    default:
        for task in 0..<tasks { pool.submit(task: task, message: message, from: main, callback: callback) }
        main.log("pool.close(); pool.join()")
        try pool.closeAndJoin(on: main)
        for task in 0..<tasks { results.append(try pool.result(of: task, on: main).value) }
    }
    let wallMs = milliseconds(since: startUs, run)
    let completed = pool.completed
    let pids = pool.workerPids
    var tasksByPid: [Int32: [Int]] = [:]
    for item in completed { tasksByPid[item.pid, default: []].append(item.task) }
    let reuse = pids.first.flatMap { pid in tasksByPid[pid].map { (pid, $0) } }
    let reuseText = reuse.map { pid, list in
        "pid \(pid) ran tasks \(list.prefix(4).map(String.init).joined(separator: ", "))\(list.count > 4 ? ", …" : "")"
    } ?? "no tasks ran"
    let verdict = mode == "apply"
        ? "apply ran \(tasks) tasks one at a time in \(Int(wallMs)) ms on \(workers) workers (\(reuseText)); every callback ran in the parent, pid \(getpid())."
        : "\(workers) worker processes ran \(tasks) tasks in \(Int(wallMs)) ms, at most \(pool.peakInFlight) at once (\(reuseText)); every callback ran in the parent, pid \(getpid())."
    return [
        "verdict": .string(verdict), "workers": .int(workers), "tasks": .int(tasks), "mode": .string(mode),
        "wallMs": .double(round1(wallMs)), "maxConcurrent": .int(pool.peakInFlight),
        "workerPids": JSONValue(pids.map { Int($0) }), "taskPids": JSONValue(completed.map { Int($0.pid) }),
        "parentPid": .int(Int(getpid())), "callbackPids": JSONValue(callbackPids.withLock { $0 }.map { Int($0) }),
        "results": .array(results),
    ]
}
