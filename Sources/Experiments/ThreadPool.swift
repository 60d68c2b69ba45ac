import CSystem
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// ThreadPoolExecutor(max_workers=W) taking T tasks: asynchronous submit, map,
    /// and the seed's synchronous publishing (submit one, wait for it, then the next).
    public static let threadPool = Experiment(
        id: "thread-pool",
        title: "Thread pool",
        category: "Threads",
        summary: "W real worker threads take T tasks from one queue: submit, map, or submit-and-wait.",
        lesson: """
            A pool keeps W threads alive and hands them tasks: each task.submit arrow lands on \
            whichever worker is free, so worker lanes fill left to right and never more than W \
            tasks run at once. Task i sleeps its time and returns i × i; main prints each result \
            (log "result" with the task and its value), in submit order. With submit, every task is handed over at once and results are \
            collected after shutdown(wait=True); with map, results come back in input order even \
            when later tasks finish first; with sync (同步发布), the main lane waits for each \
            result before submitting the next, so only one worker is ever busy and the run takes \
            T × taskMs. The notes' locked pool (000 §7: a lock held around print and sleep in every \
            task) shows its output in order 0…9, but that is not promised: the lock serialises the \
            tasks, not the order the workers take it (Python here printed 0,1,2,4,3,6,5,8,7,9). \
            With lock, every task holds that one shared lock around its print and sleep: the \
            workers still take tasks in parallel, but only one at a time gets inside the lock \
            (lock.acquire … lock.release), the others wait for it (red WAIT), so the tasks run one \
            after another and the pool is no faster than a single thread. A lock does not queue \
            its waiters: a worker that has just released it may take it again for its next task \
            before the waiting one wakes, so the printed order can differ from 0, 1, 2 ….
            """,
        parameters: [
            .integer("workers", 1...64, default: 4, "Worker threads in the pool (max_workers)."),
            .integer("tasks", 0...10_000, default: 12, "Tasks to submit."),
            .integer("taskMs", 0...10_000, default: 200, "How long each task sleeps, in milliseconds (before jitter)."),
            .choice("mode", ["submit", "map", "sync"], default: "submit",
                    "submit: all at once, then shutdown(wait=True); map: results in input order; sync: wait for each result before the next submit."),
            .integer("jitterPct", 0...100, default: 50,
                     "Each task's duration varies by up to ± this percent, from a seeded sequence, so completion order differs from submit order."),
            .integer("seed", 0...1_000_000, default: 1, "Seed of the duration sequence; the same seed gives the same durations."),
            .boolean("lock", default: false, "Every task holds one shared threading.Lock around its print and sleep (000 §7)."),
        ],
        body: runThreadPool
    )
}

/// Names of main's per-result print, interned once for the tracer's fast path.
private enum PoolNames {
    static let log = TraceName("log"), message = TraceName("message")
    static let result = TraceName("result"), mapYielded = TraceName("map yielded"), task = TraceName("task")
}

/// Python's `print("result", i, future.result())`: `log {message, task, result}` on the
/// fast path — a fixed message and two integers, no string built per result.
private func printResult(_ main: Lane, _ message: TraceName, task: Int, _ value: JSONValue) {
    main.emit(PoolNames.log, TraceFields(PoolNames.message, .name(message), PoolNames.task, .int(task),
                                         PoolNames.result, value.intValue.map(TraceValue.int) ?? .null))
}

/// Task durations from a small seeded generator, so a run can be repeated exactly.
func taskDurations(count: Int, baseMs: Int, jitterPct: Int, seed: Int) -> [Int] {
    var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 0x1234_5678
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let unit = Double(state >> 11) / Double(1 << 53)  // [0, 1)
        let factor = 1 + (unit * 2 - 1) * Double(jitterPct) / 100
        return max(0, Int((Double(baseMs) * factor).rounded()))
    }
}

private func runThreadPool(_ run: RunContext) throws -> JSONObject {
    let workers = run.params.int("workers")
    let tasks = run.params.int("tasks")
    let mode = run.params.string("mode")
    let locked = run.params.bool("lock")
    let durations = taskDurations(count: tasks, baseMs: run.params.int("taskMs"),
                                  jitterPct: run.params.int("jitterPct"), seed: run.params.int("seed"))
    let main = run.main
    main.log("ThreadPoolExecutor(max_workers=\(workers)); \(tasks) tasks; mode \(mode)\(locked ? "; lock = threading.Lock() held around each task's print and sleep" : "")")
    let pool = TaskPool(context: run, workers: workers)
    let lock = locked ? TracedLock("lock", detector: run.deadlockDetector) : nil
    // The tasks' print(i), in the order they happened.
    let printed = Mutex<[Int]>([])

    @Sendable func work(_ index: Int) -> TaskPool.Work {
        { lane in
            if let lock {
                try lock.acquire(on: lane)
                do {
                    printed.withLock { $0.append(index) }
                    lane.log("print(\(index))")
                    try run.sleep(ms: durations[index], on: lane)
                } catch {
                    lock.release(on: lane)
                    throw error
                }
                lock.release(on: lane)
            } else if durations[index] > 0 {
                // A 0 ms task is a no-op, as in Python's benchmark: no sleep, no io.begin/io.end.
                try run.sleep(ms: durations[index], on: lane)
            }
            // An integer result travels on the tracer's fast path (task.end {task, result}).
            return .int(index * index)
        }
    }

    let startUs = run.recorder.elapsedMicros
    var results: [JSONValue] = []
    switch mode {
    case "sync":
        for index in 0..<tasks {
            let future = pool.submit(task: index, from: main, work(index))
            results.append(try future.result(on: main))
            printResult(main, PoolNames.result, task: index, results.last!)
        }
        try pool.shutdown(wait: true, on: main)
    case "map":
        let futures = (0..<tasks).map { pool.submit(task: $0, from: main, work($0)) }
        for future in futures {
            results.append(try future.result(on: main))
            printResult(main, PoolNames.mapYielded, task: future.task, results.last!)
        }
        try pool.shutdown(wait: true, on: main)
    default:
        let futures = (0..<tasks).map { pool.submit(task: $0, from: main, work($0)) }
        try pool.shutdown(wait: true, on: main)
        main.log("shutdown(wait=True) returned: all \(tasks) tasks are done")
        for future in futures {
            results.append(try future.result(on: main))
            printResult(main, PoolNames.result, task: future.task, results.last!)
        }
    }
    let wallMs = Double(run.recorder.elapsedMicros - startUs) / 1000
    // One pass over the trace for the tasks' starts (a run may hold 40,000 events).
    let starts = run.recorder.events.filter { $0.type == "task.start" }
    poolInsights(run, starts: starts, workers: workers, mode: mode)
    let totalMs = durations.reduce(0, +)
    let longest = durations.max() ?? 0
    let serial = mode == "sync" || locked
    let idealMs = serial ? Double(totalMs) : max(Double(totalMs) / Double(workers), Double(longest))
    let speedup = wallMs > 0 ? Double(totalMs) / wallMs : 0
    // The verdict states the rounded figure the summary carries, so the two always agree.
    let rounded = (speedup * 100).rounded() / 100
    // Which threads ran tasks, from the trace (no shared set for the workers to contend on).
    let distinct = Set(starts.map(\.tid)).count
    let pace = rounded > 1
        ? "\(format(rounded))× faster than one after another"
        : "a speedup of \(format(rounded))×, no faster than one after another"
    var summary: JSONObject = [
        "workers": .int(workers), "tasks": .int(tasks), "mode": .string(mode), "lock": .bool(locked),
        "workMs": .int(totalMs), "wallMs": .double(wallMs), "idealMs": .double(idealMs),
        "speedup": .double(rounded), "distinctThreads": .int(distinct),
        "results": .array(results),
    ]
    var lockText = ""
    if locked {
        let facts = lockFacts(run, printed: printed.withLock { $0 })
        lockInsights(run, facts)
        summary["insideLockAtOnce"] = .int(facts.maxInside)
        summary["lockWaits"] = .int(facts.waits)
        summary["printOrder"] = JSONValue(facts.order)
        let inOrder = facts.order == facts.order.sorted()
        let shown = facts.order.prefix(12).map(String.init).joined(separator: ",") + (facts.order.count > 12 ? ",…" : "")
        lockText = tasks == 0 ? "" : "; with the lock, at most \(facts.maxInside) task\(facts.maxInside == 1 ? "" : "s") at a time \(facts.maxInside == 1 ? "was" : "were") inside it (\(facts.waits) wait\(facts.waits == 1 ? "" : "s") for it) and they printed \(shown)\(inOrder ? ", in submit order this time" : ", not in submit order")"
    }
    let verdict = switch mode {
    case _ where tasks == 0:
        "No tasks were submitted: the \(workers) workers had nothing to run."
    case _ where totalMs == 0:
        "\(workers) worker threads ran \(tasks) tasks of 0 ms in \(format(wallMs)) ms on \(distinct) distinct thread\(distinct == 1 ? "" : "s"): no work to overlap, so no speedup to measure\(lockText)."
    case "sync":
        "Synchronous publishing ran \(tasks) tasks one at a time in \(Int(wallMs)) ms: \(workers) workers but a speedup of only \(format(rounded))×\(lockText)."
    default:
        "\(workers) worker threads ran \(tasks) tasks (\(totalMs) ms of work) in \(Int(wallMs)) ms: \(pace), on \(distinct) distinct thread\(distinct == 1 ? "" : "s")\(lockText)."
    }
    summary["verdict"] = .string(verdict)
    return summary
}

/// What the trace says the lock did: the most tasks inside it at once (from the
/// acquires and releases in order), how many acquires had to wait, and the print order.
private struct LockFacts {
    var maxInside = 0
    var waits = 0
    var order: [Int] = []
}

private func lockFacts(_ run: RunContext, printed: [Int]) -> LockFacts {
    var facts = LockFacts(order: printed)
    var inside = 0
    for event in run.recorded(["lock.acquire", "lock.release", "lock.wait"]) where event.string("lock") == "lock" {
        switch event.type {
        case "lock.acquire": inside += 1; facts.maxInside = max(facts.maxInside, inside)
        case "lock.release": inside -= 1
        default: facts.waits += 1
        }
    }
    return facts
}

private func lockInsights(_ run: RunContext, _ facts: LockFacts) {
    guard let wait = run.recorded(["lock.wait"]).first else { return }
    let holder = wait.string("heldBy") ?? "another worker"
    let release = run.firstSeq("lock.release") { $0.seq > wait.seq && $0.lane == holder }
    let granted = run.firstSeq("lock.acquire", lane: wait.lane) { $0.seq > wait.seq }
    run.main.insight("\(wait.lane) has its task but waits for the lock (red WAIT) while \(holder) holds it: only one task at a time is inside, so the \(facts.waits) waits line the tasks up one after another.",
                     refs: [run.lastSeq("lock.acquire", lane: holder) { $0.seq < wait.seq }, wait.seq, release, granted], kind: .problem)
    // The first task printed out of submit order, if any.
    let order = facts.order
    if let slot = order.indices.dropFirst().first(where: { order[$0] < order[$0 - 1] }) {
        let prints = run.recorded(["log"]) { $0.string("message")?.hasPrefix("print(") == true }
        let pair = prints.filter { [order[slot - 1], order[slot]].map { "print(\($0))" }.contains($0.string("message")) }
        run.main.insight("print(\(order[slot - 1])) came before print(\(order[slot])): the lock let whoever took it first in, not the lower task number — nothing promises the order 0, 1, 2 ….",
                         refs: pair.map(\.seq), kind: .order)
    }
}

func format(_ value: Double) -> String {
    String((value * 10).rounded() / 10)
}

/// What a learner should see in a pool run: when it saturates, and how workers are reused.
private func poolInsights(_ run: RunContext, starts: [TraceEvent], workers: Int, mode: String) {
    guard let firstStart = starts.first else {
        run.main.insight("No tasks were submitted, so the worker lanes stay empty.", kind: .info)
        return
    }
    if mode == "sync" {
        let waits = run.recorded(["io.begin"], lane: "main") { $0.string("op") == "result" }.prefix(2)
        run.main.insight("Main waits for each result (grey bar) before it submits the next task, so only one worker is ever busy.",
                         refs: waits.map(\.seq) + starts.prefix(2).map(\.seq), kind: .timing)
        return
    }
    if starts.count > workers {
        let next = starts[workers]
        let freed = run.lastSeq("task.end", lane: next.lane) { $0.seq < next.seq }
        run.main.insight("\(workers == 1 ? "The only worker is" : "All \(workers) workers are") busy, so task \(next.int("task") ?? workers) waits in the queue until \(next.lane) finishes a task and picks it up.",
                         refs: [next.int("task").flatMap { task in run.firstSeq("task.submit") { $0.int("task") == task } }, freed, next.seq],
                         kind: .timing)
    }
    let reused = starts.filter { $0.lane == firstStart.lane }
    if reused.count > 1 {
        run.main.insight("\(firstStart.lane) runs \(reused.count) tasks one after another on the same thread: the pool reuses its threads instead of starting one per task.",
                         refs: reused.map(\.seq), kind: .actor)
    } else {
        run.main.insight("Each task starts on a pool worker thread, not on main.", refs: [firstStart.seq], kind: .actor)
    }
}
