import CSystem
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// Future.add_done_callback on a thread pool: which thread runs each callback, and when.
    public static let callbacks = Experiment(
        id: "callbacks",
        title: "Done-callbacks",
        category: "Threads",
        summary: "T tasks on a thread pool, each with a done-callback: callbacks run on the worker that finished the task, in completion order.",
        lesson: """
            add_done_callback(fn) does not run fn on the thread that added it. The task.callback \
            events sit on the worker lanes, right after that worker's task.end: the thread that \
            completes a future runs its callbacks, one after another (回调函数是串行的 per worker), \
            so a slow callback delays that worker's next task. Callbacks fire in completion order, \
            which the seeded durations make differ from submission order. The last callback is \
            added to a future that is already done, so it runs at once on the main lane, as Python \
            does. With backend=processes the tasks run in worker processes and every callback runs \
            back in the parent, on the pool's one result-handler thread, in completion order \
            (回调函数是在主进程中执行的).
            """,
        parameters: [
            .integer("tasks", 1...1000, default: 5, "Tasks to submit, each with a done-callback."),
            .integer("taskMs", 0...10_000, default: 200, "How long each task sleeps, in milliseconds (before jitter)."),
            .choice("backend", ["threads", "processes"], default: "threads",
                    "threads: a thread pool, callbacks on its workers; processes: a process pool, callbacks in the parent."),
            .integer("workers", 1...64, default: 3, "Worker threads in the pool."),
            .integer("jitterPct", 0...100, default: 60, "Each task's duration varies by up to ± this percent, from a seeded sequence."),
            .integer("seed", 0...1_000_000, default: 2, "Seed of the duration sequence."),
        ],
        body: runCallbacks
    )
}

private func runCallbacks(_ run: RunContext) throws -> JSONObject {
    if run.params.string("backend") == "processes" { return try callbacksProcesses(run) }
    let tasks = run.params.int("tasks")
    let workers = run.params.int("workers")
    let durations = taskDurations(count: tasks, baseMs: run.params.int("taskMs"),
                                  jitterPct: run.params.int("jitterPct"), seed: run.params.int("seed"))
    let main = run.main
    let mainTid = interleave_tid()
    main.log("pool = ThreadPoolExecutor(\(workers)); every future gets add_done_callback(parse)")
    let pool = TaskPool(context: run, workers: workers)
    // No task may finish before its callback is attached, or the callback would run on
    // main instead: tasks wait for this gate, which opens once every callback is added.
    let gateOpen = Atomic<Bool>(false)
    let gateMonitor = Monitor(control: run.control)

    struct Call: Sendable { let task: Int; let lane: String; let tid: Int32 }
    let calls = Mutex<[Call]>([])
    let completions = Mutex<[Int]>([])

    let futures = (0..<tasks).map { index in
        pool.submit(task: index, from: main) { lane in
            try gateMonitor.withLock { () throws(RunInterrupted) in
                _ = try gateMonitor.wait(until: { gateOpen.load(ordering: .acquiring) })
            }
            try run.sleep(ms: durations[index], on: lane)
            completions.withLock { $0.append(index) }
            return .string("page \(index)")
        }
    }
    for future in futures {
        future.addDoneCallback(on: main) { future, lane in
            calls.withLock { $0.append(Call(task: future.task, lane: lane.name, tid: interleave_tid())) }
            lane.log("parse(\(future.value?.stringValue ?? "?")) on \(lane.name)")
        }
    }
    gateOpen.store(true, ordering: .releasing)
    gateMonitor.lockAndBroadcast()
    try pool.shutdown(wait: true, on: main)

    // A callback added to a future that is already done runs at once, on the caller.
    if let first = futures.first {
        main.log("add_done_callback on a finished future: it runs immediately, here")
        first.addDoneCallback(on: main) { future, lane in
            calls.withLock { $0.append(Call(task: future.task, lane: lane.name, tid: interleave_tid())) }
            lane.log("late parse(\(future.value?.stringValue ?? "?")) on \(lane.name)")
        }
    }

    if let callback = run.recorded(["task.callback"], where: { $0.lane != "main" }).first {
        run.main.insight("The callback (▼) runs on \(callback.lane), right after that worker's task ends — on the worker thread that finished it, not on main.",
                         refs: [run.lastSeq("task.end", lane: callback.lane) { $0.seq < callback.seq }, callback.seq], kind: .actor)
    }
    if let late = run.lastSeq("task.callback", lane: "main") {
        run.main.insight("This callback was added after its task had finished, so it ran at once, on main.", refs: [late], kind: .actor)
    }
    let callList = calls.withLock { $0 }
    let completionOrder = completions.withLock { $0 }
    let pooled = callList.dropLast()
    let callbackOrder = pooled.map(\.task)
    let onWorkers = pooled.filter { $0.tid != mainTid }.count
    let lateOnMain = callList.last.map { $0.tid == mainTid } ?? false
    let sameOrder = callbackOrder == completionOrder
    let submitOrder = callbackOrder == Array(0..<tasks)
    let verdict = "\(onWorkers) of \(tasks) callbacks ran on the worker thread that finished the task, "
        + (sameOrder ? "in completion order" : "close to completion order")
        + (submitOrder ? " (which here matched submission order)" : ", not submission order")
        + "; the callback added after completion ran on main."
    return [
        "verdict": .string(verdict),
        "tasks": .int(tasks), "workers": .int(workers), "backend": "threads",
        "completionOrder": JSONValue(completionOrder), "callbackOrder": JSONValue(callbackOrder),
        "callbackLanes": .array(pooled.map { ["task": .int($0.task), "lane": .string($0.lane)] }),
        "callbacksOnWorkers": .int(onWorkers), "lateCallbackOnMain": .bool(lateOnMain),
    ]
}
