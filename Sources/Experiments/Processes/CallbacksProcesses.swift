import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

/// The `processes` backend of `callbacks`: tasks run in worker processes, and every
/// done-callback runs in the parent — the server's pid — on the pool's one
/// result-handler thread, in completion order. Reads the parameters `tasks`,
/// `taskMs`, `workers`, `jitterPct`, `seed` (defaults as the threads backend's).
func callbacksProcesses(_ run: RunContext) throws -> JSONObject {
    let tasks = run.params["tasks"]?.intValue ?? 5
    let workers = run.params["workers"]?.intValue ?? 3
    let durations = taskDurations(count: tasks, baseMs: run.params["taskMs"]?.intValue ?? 200,
                                  jitterPct: run.params["jitterPct"]?.intValue ?? 60, seed: run.params["seed"]?.intValue ?? 3)
    let main = run.main
    main.log("pool = Pool(\(workers)) in pid \(getpid()); apply_async(get_page, callback=parse) for \(tasks) tasks")
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let pool = try ProcessPool(run: run, supervisor: supervisor, workers: workers, from: main)
    defer { pool.abandon() }

    struct Call: Sendable { let task: Int; let pid: Int32; let workerPid: Int32 }
    let calls = Mutex<[Call]>([])
    var died: JSONObject?
    let diedSummary = try run.surviving(supervisor, {
        for task in 0..<tasks {
            pool.submit(task: task, message: ["ms": .int(durations[task])], from: main) { completed, lane in
                calls.withLock { $0.append(Call(task: completed.task, pid: getpid(), workerPid: completed.pid)) }
                lane.log("parse(\(completed.value.stringValue ?? "?")) in pid \(getpid()), not in worker \(completed.pid)")
            }
        }
        main.log("pool.close(); pool.join()")
        try pool.closeAndJoin(on: main)
        return [:]
    }, onDeath: { death in
        let lost = pool.lostWork(to: death.child.pid)
        let ran = calls.withLock { $0.count }
        return ("\(lost.running.isEmpty ? "it was between tasks" : "task \(lost.running.map(String.init).joined(separator: ", ")) it was running never came back"); \(ran) of \(tasks) callbacks had run, \(lost.unfinished) tasks never returned",
                ["backend": "processes", "tasks": .int(tasks), "workers": .int(workers), "callbacksRan": .int(ran),
                 "lostTasks": .int(lost.unfinished)])
    })
    if diedSummary["childDied"] != nil { died = diedSummary }
    if let died { return died }

    let done = calls.withLock { $0 }
    let order = done.map(\.task)
    let inParent = done.allSatisfy { $0.pid == getpid() }
    let verdict = "All \(done.count) callbacks ran in the parent (pid \(getpid())) on its result-handler thread, in completion order \(order.prefix(8).map(String.init).joined(separator: ", "))\(order.count > 8 ? ", …" : ""), while the tasks ran in \(Set(done.map(\.workerPid)).count) worker processes."
    return [
        "verdict": .string(verdict), "backend": "processes", "tasks": .int(tasks), "workers": .int(workers),
        "callbackOrder": JSONValue(order), "callbacksInParent": .bool(inParent), "parentPid": .int(Int(getpid())),
        "workerPids": JSONValue(pool.workerPids.map { Int($0) }), "resultLane": .string(pool.resultLane),
    ]
}
