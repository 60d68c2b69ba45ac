import CSystem
import JSON
import Primitives
import Tracing

extension Experiment {
    /// Seed 000 §9: asyncio.run, await, gather, create_task.
    public static let asyncGather = Experiment(
        id: "async-gather",
        title: "asyncio: tasks interleaving at await",
        category: "Async",
        summary: "An event loop on one OS thread runs tasks that each await asyncio.sleep `steps` times: gather or create_task overlaps their waits; awaiting one coroutine after the other adds them up.",
        lesson: """
            One OS thread runs everything: every event here has the same tid. The loop lane is \
            asyncio's event loop; when no task can run it blocks in a real epoll_wait on a timerfd \
            set for the earliest sleep, and its ready queue is drawn as a counter. Each task lane \
            shows its awaits as waits: at every await the task gives the thread back to the loop, \
            which runs whichever task is ready — that is all the concurrency there is, so the tasks \
            interleave only at their awaits. gather (and create_task, then await each) overlaps \
            the waits: the run takes about as long as the longest task. sequential is the notes' \
            asyncio.run(b()) that awaits one coroutine after the other: each runs to its end before \
            the next starts, and the times add up. gather returns the results in the order of its \
            arguments whatever order the tasks finish in. The tasks are stackful coroutines on our \
            own stack-switching shim (as greenlet does), not Python's generator-based coroutines — \
            an emulation of the mechanism; it lets a task wait anywhere in its call stack, while \
            asyncio needs an await at every level. The sleeps are real, waited for by the kernel.
            """,
        parameters: [
            .integer("tasks", 1...64, default: 2, "Tasks (coroutines) to run."),
            .integer("steps", 1...100, default: 10, "Awaits each task makes."),
            .integer("maxStepMs", 0...5000, default: 200, "Each await sleeps a seeded random 0…maxStepMs."),
            .choice("mode", ["gather", "sequential", "create_task"], default: "gather",
                    "await gather(...), await each coroutine in turn, or create_task then await each."),
            .integer("seed", 0...1_000_000, default: 3, "Seed of the sleep durations (3: task-2 finishes first)."),
        ],
        body: runAsyncGather
    )
}

private func runAsyncGather(_ run: RunContext) throws -> JSONObject {
    let count = run.params.int("tasks")
    let steps = run.params.int("steps")
    let maxStepMs = run.params.int("maxStepMs")
    let mode = run.params.string("mode")
    var numbers = SeededNumbers(seed: run.params.int("seed"))
    let plan = (0..<count).map { _ in (0..<steps).map { _ in numbers.next(upTo: maxStepMs) } }
    let totals = plan.map { $0.reduce(0, +) }
    let sumMs = Double(totals.reduce(0, +))
    let longestMs = Double(totals.max() ?? 0)

    let loopLane = run.lane("loop", kind: .thread)
    let loop = try EventLoop(lane: loopLane, control: run.control)
    let mainTask = run.lane("main()", kind: .task)
    var results: [JSONValue?] = Array(repeating: nil, count: count)
    var completion: [Int] = []
    var endSeqs: [Int: Int] = [:]
    var firstAwait: [Int: Int] = [:]
    var startSeqs: [Int: Int] = [:]
    var submitFlows: [Int: Int] = [:]
    var gathered: Int?
    var mainDone = false

    /// `async def work(i)`: sleeps its planned steps, returns its result.
    func work(_ index: Int, on lane: Lane) throws -> JSONValue {
        startSeqs[index] = lane.emit("task.start", flow: submitFlows[index], ["task": .int(index + 1)])
        for (step, ms) in plan[index].enumerated() {
            lane.log("task-\(index + 1) step \(step)")
            let op = JSONValue.string("await asyncio.sleep(\(pythonSeconds(ms)))")
            let begin = lane.emit("io.begin", ["op": op])
            if firstAwait[index] == nil { firstAwait[index] = begin }
            try loop.sleep(ms: ms)
            lane.emit("io.end", ["op": op])
        }
        let result = JSONValue.string("result-\(index + 1) (\(totals[index]) ms)")
        endSeqs[index] = lane.emit("task.end", ["task": .int(index + 1), "result": result])
        completion.append(index)
        return result
    }

    let taskLanes = (0..<count).map { run.lane("task-\($0 + 1)", kind: .task) }
    /// A Task wrapping work(i): scheduled on the loop, its own lane.
    func makeTask(_ index: Int) -> Coroutine {
        let lane = taskLanes[index]
        submitFlows[index] = run.recorder.nextFlow()
        mainTask.emit("task.submit", flow: submitFlows[index], ["task": .int(index + 1)])
        let task = Coroutine(lane.name, host: loop.host) {
            lane.start()
            do {
                results[index] = try work(index, on: lane)
                lane.end()
            } catch let interrupted as RunInterrupted {
                lane.emit("lane.end", ["cutOff": true, "reason": .string(interrupted.reason.rawValue)])
                throw interrupted
            }
        }
        loop.schedule(task)
        return task
    }

    let names = (1...count).map { "work(\($0))" }.joined(separator: ", ")
    let mainCoroutine = Coroutine("main()", host: loop.host) {
        mainTask.start()
        defer { mainDone = true }
        do {
            switch mode {
            case "sequential":
                // await work(i): the coroutine runs inside main's task, to its end, before the next.
                for index in 0..<count {
                    let lane = taskLanes[index]
                    let op = JSONValue.string("await work(\(index + 1))")
                    mainTask.emit("io.begin", ["op": op])
                    lane.start()
                    results[index] = try work(index, on: lane)
                    lane.end()
                    mainTask.emit("io.end", ["op": op])
                }
            case "create_task":
                let tasks = mainTask.phase("create_task × \(count)") { (0..<count).map { makeTask($0) } }
                try mainTask.phase("await each task") {
                    for (index, task) in tasks.enumerated() {
                        let op = JSONValue.string("await task\(index + 1)")
                        mainTask.emit("io.begin", ["op": op])
                        try loop.wait { task.isFinished }
                        mainTask.emit("io.end", ["op": op])
                    }
                }
            default:
                let tasks = (0..<count).map { makeTask($0) }
                let op = JSONValue.string("await asyncio.gather(\(names))")
                mainTask.emit("io.begin", ["op": op])
                try loop.wait { tasks.allSatisfy(\.isFinished) }
                mainTask.emit("io.end", ["op": op])
            }
            gathered = mainTask.emit("log", ["message": .string("results = \(results.map { $0?.stringValue ?? "None" })")])
            mainTask.end()
        } catch let interrupted as RunInterrupted {
            mainTask.emit("lane.end", ["cutOff": true, "reason": .string(interrupted.reason.rawValue)])
            throw interrupted
        }
    }

    run.main.log("asyncio.run(main())")
    let start = run.recorder.elapsedMicros
    loopLane.start()
    loop.schedule(mainCoroutine)
    do {
        try loop.run(until: { mainDone && mainCoroutine.isFinished })
    } catch {
        loopLane.emit("lane.end", ["cutOff": true])
        throw error
    }
    loopLane.end()
    let elapsedMs = milliseconds(since: start, run)
    if let error = mainCoroutine.error { throw error }

    // Facts about this run, from its own trace.
    let ours = Set(taskLanes.map(\.name) + ["main()", "loop"])
    let taskEvents = run.recorder.events.filter { ours.contains($0.lane) }
    let tids = Set(taskEvents.map(\.tid))
    let inOrder = completion == Array(0..<count)
    let main = run.main
    if let first = taskEvents.first, let last = taskEvents.last {
        main.insight("All \(taskEvents.count) events of the loop and its tasks carry tid \(tids.sorted().map(String.init).joined(separator: ", ")): one OS thread runs every task.",
                     refs: [first.seq, last.seq], kind: .actor)
    }
    if mode == "sequential", count > 1 {
        main.insight("task-2 starts only after task-1 has returned: awaiting a coroutine directly runs it to its end first, so the waits add up.",
                     refs: [endSeqs[0], startSeqs[1]], kind: .timing)
    } else if count > 1 {
        main.insight("While task-1 waits at its first await, the loop runs task-2: the tasks interleave at their awaits, on one thread.",
                     refs: [firstAwait[0], firstAwait[1]], kind: .timing)
        if !inOrder {
            main.insight("The tasks finished in the order \(completion.map { "task-\($0 + 1)" }.joined(separator: ", ")), yet the results list follows the arguments: task-1's result first.",
                         refs: completion.map { endSeqs[$0] } + [gathered], kind: .order)
        }
    }
    let firstWait = run.recorder.events.first { $0.lane == "loop" && $0.type == "io.begin" }
    if let firstWait {
        main.insight("When every task is waiting, the loop itself blocks in epoll_wait on a timerfd set for the earliest sleep — no thread spins.",
                     refs: [firstWait.seq], kind: .info)
    }

    let near = closerTo(elapsedMs, sum: sumMs, max: longestMs)
    let shape = count == 1 || sumMs == longestMs
        ? "took \(Int(elapsedMs.rounded())) ms"
        : "took \(Int(elapsedMs.rounded())) ms, close to \(near == "sum" ? "the \(Int(sumMs)) ms sum of all tasks" : "the longest task's \(Int(longestMs)) ms") rather than \(near == "sum" ? "the longest task's \(Int(longestMs)) ms" : "the \(Int(sumMs)) ms sum")"
    let order = mode == "sequential" || count == 1 ? ""
        : inOrder ? "; they finished in argument order" : "; results came back in argument order though task-\(completion[0] + 1) finished first"
    let verdict = "\(mode): \(count) task\(count == 1 ? "" : "s") of \(steps) awaits \(shape), all on \(tids.count) OS thread\(tids.count == 1 ? "" : "s")\(order)."
    return [
        "verdict": .string(verdict), "mode": .string(mode), "elapsedMs": .double(round1(elapsedMs)),
        "sumMs": .double(sumMs), "longestMs": .double(longestMs), "closerTo": .string(near),
        "speedupVsSequentialSum": .double(round1(sumMs / max(elapsedMs, 0.001))),
        "results": .array(results.map { $0 ?? .null }),
        "completionOrder": .array(completion.map { .int($0 + 1) }),
        "osThreads": .int(tids.count), "loopEpollWaits": .int(loop.epollWaits),
        "loopIdleMs": .double(round1(Double(loop.idleNs) / 1e6)), "peakReadyQueue": .int(loop.peakReady),
    ]
}
