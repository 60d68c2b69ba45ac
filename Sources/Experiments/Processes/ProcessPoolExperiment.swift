import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// multiprocessing.Pool and ProcessPoolExecutor: apply_async with callbacks, map,
    /// apply, executor submit (async) and submit-then-result (sync).
    public static let processPool = Experiment(
        id: "process-pool",
        title: "Process pool",
        category: "Processes",
        summary: "W long-lived worker processes take T tasks from one shared queue: apply_async with callbacks in the parent, map, apply, or ProcessPoolExecutor submit (async or sync).",
        lesson: """
            A pool starts W processes once and reuses them: whichever worker is free takes the \
            next task from the one shared queue, so follow the pids on the worker lanes — the same \
            pid comes back for later tasks, in whatever order the workers free up (uneven tasks, \
            jitterPct, make that order differ from submission order). Never more than W tasks run \
            at once, however many are submitted. With apply_async each result travels back to the \
            parent and its callback runs there — the server's pid, on one result-handler thread — \
            never in the worker (回调函数是在主进程中执行的); map and apply take no callback. \
            apply_async and submit hand everything over at once (异步发布), then close() and join() \
            / shutdown(wait=True); map blocks until all results are back, in input order, and, as \
            Python's map does, hands the tasks out in chunks of ceil(T / 4W) (one task per chunk up \
            to 4W tasks): a free worker takes a whole chunk (task.submit's chunk field) and runs it \
            through before it takes the next; apply and \
            sync wait for each result before the next submit (同步发布): one task at a time, so the \
            run takes the sum of the task times. With lock, every task holds one process-shared lock \
            while it works (the notes' manager.Lock() in a Pool, 000 §4.4): the pool runs one task \
            at a time however many workers it has.
            """,
        parameters: [
            .integer("workers", 1...64, default: 3, "Worker processes in the pool (Pool(W), max_workers=W)."),
            .integer("tasks", 0...10_000, default: 9, "Tasks to submit."),
            .integer("taskMs", 0...10_000, default: 100, "How long each task takes in its worker (before jitter)."),
            .integer("jitterPct", 0...100, default: 40,
                     "Each task's duration varies by up to ± this percent, from a seeded sequence: uneven tasks."),
            .integer("seed", 0...1_000_000, default: 1, "Seed of the duration sequence; the same seed gives the same durations."),
            .choice("mode", ["apply_async", "map", "apply", "submit", "sync"], default: "apply_async",
                    "apply_async: submit all with callbacks, then close() and join(); map: wait for every result in order; apply: wait for each before the next; submit: ProcessPoolExecutor.submit all, then shutdown(wait=True); sync: submit one, result(), then the next."),
            .boolean("lock", default: false, "Each task holds one process-shared lock while it works (a manager lock inside the pool)."),
        ],
        body: runProcessPool
    )
}

private func runProcessPool(_ run: RunContext) throws -> JSONObject {
    let workers = run.params.int("workers")
    let tasks = run.params.int("tasks")
    let taskMs = run.params.int("taskMs")
    let mode = run.params.string("mode")
    let locked = run.params.bool("lock")
    let durations = taskDurations(count: tasks, baseMs: taskMs, jitterPct: run.params.int("jitterPct"),
                                  seed: run.params.int("seed"))
    let main = run.main
    let executor = mode == "submit" || mode == "sync"
    main.log("\(executor ? "ProcessPoolExecutor(max_workers=\(workers))" : "Pool(\(workers))") in parent pid \(getpid()); \(tasks) tasks of about \(taskMs) ms; \(mode)\(locked ? "; each task holds a shared lock" : "")")
    let memory = try SharedMemory(size: ProcessLock.size)
    ProcessLock(at: memory.base).initialize()
    defer { withExtendedLifetime(memory) {} }
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let lockFds: [(child: Int32, parent: Int32)] = locked ? [(child: Int32(4), parent: Int32(memory.fd))] : []
    let pool = try ProcessPool(run: run, supervisor: supervisor, workers: workers, from: main, fds: lockFds)
    defer { pool.abandon() }
    let callbackPids = Mutex<Set<Int32>>([])
    let callback: ProcessPool.Callback = { completed, lane in
        callbackPids.withLock { _ = $0.insert(getpid()) }
        lane.log("callback in pid \(getpid()): \(completed.value.stringValue ?? "")")
    }
    func message(_ task: Int) -> JSONObject { locked ? ["ms": .int(durations[task]), "lock": true] : ["ms": .int(durations[task])] }
    return try run.surviving(supervisor, {
        // Python's Pool(W) forks W workers that are running when it returns; ours start
        // a new executable, so wait until they are up: wallMs counts the tasks, not start-up.
        try pool.waitUntilReady(on: main)
        let startUs = run.recorder.elapsedMicros
        var results: [JSONValue] = []
        // From the first submit until every result is in hand: the pool's per-task cost,
        // without starting the workers or closing and joining them.
        var tasksMs = 0.0
        switch mode {
        case "apply", "sync":
            for task in 0..<tasks {
                pool.submit(task: task, message: message(task), from: main)
                results.append(try pool.result(of: task, on: main).value)
            }
            try pool.closeAndJoin(on: main, op: executor ? "shutdown(wait=True)" : "pool.join")
        case "map":
            // Python's Pool.map: chunksize, extra = divmod(T, 4W); chunksize += 1 if extra.
            let chunksize = max(1, (tasks + 4 * workers - 1) / (4 * workers))
            if chunksize > 1 {
                main.log("map: \(tasks) tasks in chunks of \(chunksize) (ceil(T / 4W), Python's default chunksize): each worker takes a whole chunk at a time")
            }
            for (index, first) in stride(from: 0, to: tasks, by: chunksize).enumerated() {
                let chunk = (first..<min(first + chunksize, tasks)).map { (task: $0, message: message($0)) }
                pool.submit(chunk: chunk, index: chunksize > 1 ? index : nil, from: main)
            }
            for task in 0..<tasks { results.append(try pool.result(of: task, on: main).value) }
            tasksMs = milliseconds(since: startUs, run)
            main.log("map returned \(tasks) results in input order")
            try pool.closeAndJoin(on: main)
        case "submit":
            for task in 0..<tasks { pool.submit(task: task, message: message(task), from: main) }
            main.log("shutdown(wait=True)")
            try pool.closeAndJoin(on: main, op: "shutdown(wait=True)")
            for task in 0..<tasks { results.append(try pool.result(of: task, on: main).value) }
        default:
            for task in 0..<tasks { pool.submit(task: task, message: message(task), from: main, callback: callback) }
            main.log("pool.close(); pool.join()")
            try pool.closeAndJoin(on: main)
            for task in 0..<tasks { results.append(try pool.result(of: task, on: main).value) }
        }
        let wallMs = milliseconds(since: startUs, run)
        var summary = poolSummary(run, pool: pool, mode: mode, locked: locked, durations: durations, wallMs: wallMs,
                                  results: results, callbackPids: callbackPids.withLock { $0 })
        if mode == "map" { summary["tasksMs"] = .double(round1(tasksMs)) }
        return summary
    }, onDeath: { death in
        let lost = pool.lostWork(to: death.child.pid)
        let running = lost.running.isEmpty ? "it was between tasks" : "task \(lost.running.map(String.init).joined(separator: ", ")) it was running never came back"
        let done = lost.submitted - lost.unfinished
        return ("\(running); \(done) of \(lost.submitted) submitted tasks had returned a result, \(lost.unfinished) never did",
                ["workers": .int(workers), "tasks": .int(tasks), "mode": .string(mode), "completed": .int(done),
                 "lostTasks": .int(lost.unfinished), "runningWhenKilled": JSONValue(lost.running)])
    })
}

private func poolSummary(_ run: RunContext, pool: ProcessPool, mode: String, locked: Bool, durations: [Int],
                         wallMs: Double, results: [JSONValue], callbackPids: Set<Int32>) -> JSONObject {
    let main = run.main
    let workers = pool.workers
    let tasks = durations.count
    let completed = pool.completed
    let events = run.recorder.events
    let parent = getpid()
    let workMs = durations.reduce(0, +)
    let serial = mode == "apply" || mode == "sync" || locked
    // What a pool whose free worker takes the next task needs with no overhead at all.
    let idealMs = Double(serial ? workMs : listSchedule(durations, workers: workers))
    // Which pid ran which task, in the order the tasks started.
    let starts = events.filter { $0.type == "task.start" && $0.pid != parent }
    var tasksByPid: [Int32: [Int]] = [:]
    for start in starts { if let task = start.fields["task"]?.intValue { tasksByPid[start.pid, default: []].append(task) } }
    let reusedPids = tasksByPid.filter { $0.value.count > 1 }.count
    let callbackEvents = events.filter { $0.type == "task.callback" }

    // What to look at: the first worker that came back for another task.
    if let reuse = starts.first(where: { start in (tasksByPid[start.pid]?.first).map { $0 != start.fields["task"]?.intValue } ?? false }),
       let task = reuse.fields["task"]?.intValue, let previous = tasksByPid[reuse.pid].flatMap({ list in list.firstIndex(of: task).map { list[$0 - 1] } }) {
        let end = events.first { $0.type == "task.end" && $0.pid == reuse.pid && $0.fields["task"]?.intValue == previous }
        main.insight("\(reuse.lane) finished task \(previous) and took task \(task), the next one in the shared queue: the same process, reused, not a new one.",
                     refs: [end?.seq, reuse.seq], kind: .order)
    }
    if let first = callbackEvents.first, let task = first.fields["task"]?.intValue,
       let end = events.first(where: { $0.type == "task.end" && $0.fields["task"]?.intValue == task }) {
        main.insight("Task \(task) ended in pid \(end.pid); its callback runs here, in the parent (pid \(parent)), on the result-handler thread.",
                     refs: [end.seq, first.seq], kind: .actor)
    }
    if locked, let wait = events.first(where: { $0.type == "lock.wait" && $0.pid != parent }) {
        main.insight("\(wait.lane) has a task but waits for the shared lock another worker holds: with the lock the pool runs one task at a time.",
                     refs: [wait.seq], kind: .problem)
    }
    if serial && !locked, tasks > 1,
       let get = events.first(where: { $0.type == "io.end" && $0.fields["op"] == "get" && $0.lane == main.name }),
       let next = events.first(where: { $0.type == "task.submit" && $0.seq > get.seq }) {
        main.insight("The next task is submitted only after the last result is back: \(workers) workers, but only one is ever busy (同步发布).",
                     refs: [get.seq, next.seq], kind: .timing)
    }
    if tasks == 0, let spawn = events.first(where: { $0.type == "process.spawn" }) {
        main.insight("No tasks: the pool still started its \(workers) workers and joined them.", refs: [spawn.seq], kind: .info)
    }

    let peak = pool.peakInFlight
    let callbacksRan = callbackEvents.count
    let callbackText = mode == "apply_async"
        ? "; \(callbacksRan) callback\(callbacksRan == 1 ? "" : "s") ran in the parent, pid \(parent)"
        : "; \(mode) takes no callback, so none ran"
    let reuseText = reusedPids > 0
        ? "\(reusedPids) of \(tasksByPid.count) worker pids ran more than one task"
        : "no worker ran more than one task"
    let within = idealMs > 0 ? Int(((wallMs / idealMs) - 1) * 100) : 0
    let verdict: String
    if tasks == 0 {
        verdict = "No tasks: \(workers) worker process\(workers == 1 ? " was" : "es were") started and joined in \(Int(wallMs)) ms; nothing ran."
    } else if serial {
        let why = locked
            ? "With the shared lock held per task, at most \(maxHolding(events)) task\(maxHolding(events) == 1 ? "" : "s") worked at once"
            : "\(mode) waited for each result, so at most \(peakRunningTasks(events)) task\(peakRunningTasks(events) == 1 ? "" : "s") ran at once"
        verdict = "\(why): \(tasks) tasks (\(workMs) ms of work) took \(Int(wallMs)) ms on \(workers) worker\(workers == 1 ? "" : "s"), at most \(peak) handed out at once; \(reuseText)\(callbackText)."
    } else {
        verdict = "\(workers) worker process\(workers == 1 ? "" : "es") ran \(tasks) tasks (\(workMs) ms of work) in \(Int(wallMs)) ms, \(within <= 0 ? "at" : "\(within)% over") the ideal \(Int(idealMs)) ms, at most \(peak) at once; \(reuseText)\(callbackText)."
    }
    return [
        "verdict": .string(verdict), "workers": .int(workers), "tasks": .int(tasks), "mode": .string(mode), "lock": .bool(locked),
        "workMs": .int(workMs), "idealMs": .double(round1(idealMs)), "wallMs": .double(round1(wallMs)),
        "maxConcurrent": .int(peak), "workerPids": JSONValue(pool.workerPids.map { Int($0) }),
        "taskPids": JSONValue(completed.map { Int($0.pid) }), "reusedPids": .int(reusedPids),
        "parentPid": .int(Int(parent)), "callbacks": .int(callbacksRan),
        "callbackPids": JSONValue(callbackPids.map { Int($0) }), "results": .array(results),
    ]
}

/// The makespan of handing each task, in order, to the first worker to free up.
func listSchedule(_ durations: [Int], workers: Int) -> Int {
    var free = Array(repeating: 0, count: max(workers, 1))
    for duration in durations {
        let index = free.indices.min { free[$0] < free[$1] }!
        free[index] += duration
    }
    return free.max() ?? 0
}

/// The most tasks running at once, from task.start / task.end in the trace.
func peakRunningTasks(_ events: [TraceEvent]) -> Int {
    var running = 0, peak = 0
    for event in events {
        if event.type == "task.start" { running += 1; peak = max(peak, running) }
        if event.type == "task.end" { running -= 1 }
    }
    return peak
}

/// The most processes holding `lock` at once, from lock.acquire / lock.release.
func maxHolding(_ events: [TraceEvent], lock: String = "lock") -> Int {
    var holding = 0, peak = 0
    for event in events where event.fields["lock"]?.stringValue == lock {
        if event.type == "lock.acquire" { holding += 1; peak = max(peak, holding) }
        if event.type == "lock.release" { holding -= 1 }
    }
    return peak
}
