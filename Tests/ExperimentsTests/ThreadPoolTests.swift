import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadPoolTests {
    func run(_ params: JSONValue) throws -> (RunOutcome, [TraceEvent]) {
        let experiment = Catalog.experiment("thread-pool")!
        let execution = ExperimentRun(id: "test", experiment: experiment, params: try experiment.resolve(params))
        let outcome = execution.runToEnd()
        return (outcome, execution.recorder.events)
    }

    @Test(arguments: ["submit", "map", "sync"])
    func poolNeverRunsMoreTasksThanWorkers(mode: String) throws {
        let (outcome, events) = try run(["workers": 3, "tasks": 12, "taskMs": 5, "mode": .string(mode)])
        #expect(outcome.status == .completed)
        #expect(events.filter { $0.type == "task.end" }.count == 12)
        let peak = maxConcurrentTasks(events)
        #expect(peak <= (mode == "sync" ? 1 : 3))
        let taskTids = Set(events.filter { $0.type == "task.start" }.map(\.tid))
        #expect(taskTids.count <= 3)
        #expect(!taskTids.contains(events.first { $0.lane == "main" }!.tid), "tasks must not run on the main lane's thread")
    }

    @Test func submitAndStartShareAFlowForEveryTask() throws {
        let (_, events) = try run(["workers": 2, "tasks": 6, "taskMs": 1])
        for task in 0..<6 {
            let submit = events.first { $0.type == "task.submit" && $0.fields["task"] == .int(task) }
            let start = events.first { $0.type == "task.start" && $0.fields["task"] == .int(task) }
            #expect(submit?.flow != nil && submit?.flow == start?.flow)
            #expect(submit!.seq < start!.seq)
        }
    }

    @Test func mapReturnsResultsInInputOrderEvenWhenTheyFinishOutOfOrder() throws {
        // jitter makes later tasks finish first; map must still yield them in input order.
        let (outcome, events) = try run(["workers": 4, "tasks": 8, "taskMs": 20, "mode": "map", "jitterPct": 90, "seed": 7])
        // Task i returns i × i: distinct values, so their order is the order they were yielded.
        let results = outcome.summary["results"]!.arrayValue!.compactMap(\.intValue)
        #expect(results == (0..<8).map { $0 * $0 })
        let completion = events.filter { $0.type == "task.end" }.compactMap { $0.fields["task"]?.intValue }
        #expect(completion != Array(0..<8), "durations should make completion order differ from input order")
    }

    /// The bench's shape, smaller: no-op tasks are taken in batches, but every task is
    /// still traced on its own — submit → start (same flow) → end with its result, one task
    /// at a time per worker lane — and main prints every result in submit order.
    @Test(arguments: ["submit", "map"])
    func shortTasksInBatchesAreEachTracedOnTheirOwn(mode: String) throws {
        let tasks = 2000
        let (outcome, events) = try run(["workers": 4, "tasks": .int(tasks), "taskMs": 0, "jitterPct": 0,
                                         "mode": .string(mode)])
        #expect(outcome.status == .completed)
        let submits = events.of("task.submit"), starts = events.of("task.start"), ends = events.of("task.end")
        #expect(submits.compactMap { $0.int("task") } == Array(0..<tasks))
        #expect(Set(starts.compactMap { $0.int("task") }) == Set(0..<tasks) && starts.count == tasks)
        #expect(Set(ends.compactMap { $0.int("task") }) == Set(0..<tasks) && ends.count == tasks)
        let flows = Dictionary(uniqueKeysWithValues: submits.map { ($0.int("task")!, $0.flow) })
        for start in starts { #expect(start.flow != nil && start.flow == flows[start.int("task")!]) }
        // On each worker lane, a task ends (with i × i) before the next one starts.
        var running: [String: Int] = [:]
        for event in events where event.type == "task.start" || event.type == "task.end" {
            let task = event.int("task")!
            if event.type == "task.start" {
                #expect(running[event.lane] == nil, "\(event.lane) started task \(task) inside another")
                running[event.lane] = task
            } else {
                #expect(running[event.lane] == task)
                #expect(event.int("result") == task * task)
                running[event.lane] = nil
            }
        }
        // main prints each result, in submit order, with its value.
        let printed = events.of("log").filter { $0.lane == "main" && $0.int("task") != nil }
        #expect(printed.compactMap { $0.int("task") } == Array(0..<tasks))
        #expect(printed.allSatisfy { $0.int("result") == $0.int("task")! * $0.int("task")! })
        #expect(printed.allSatisfy { $0.string("message") == (mode == "map" ? "map yielded" : "result") })
        #expect(outcome.summary["results"]?.arrayValue?.compactMap(\.intValue) == (0..<tasks).map { $0 * $0 })
        #expect(outcome.summary["distinctThreads"]?.intValue == Set(starts.map(\.tid)).count)
        #expect(events.everyLaneEnded)
    }

    @Test func traceIsGaplessOrderedAndEndsWithRunEnd() throws {
        let (outcome, events) = try run(["workers": 4, "tasks": 20, "taskMs": 1])
        #expect(events.map(\.seq) == Array(0..<events.count))
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.ts <= $1.ts })
        #expect(events.first?.type == "run.start")
        #expect(events.last?.type == "run.end")
        #expect(events.last?.fields["status"] == "completed")
        #expect(outcome.summary["durationMs"] != nil)
        #expect(outcome.summary["tracer"]?["events"]?.intValue ?? 0 > 0)
        #expect(outcome.summary["verdict"]?.stringValue?.isEmpty == false)
    }

    @Test func cancellingStopsWorkersPromptly() throws {
        let experiment = Catalog.experiment("thread-pool")!
        let execution = ExperimentRun(id: "cancel", experiment: experiment,
                                      params: try experiment.resolve(["workers": 2, "tasks": 50, "taskMs": 10_000]))
        execution.start()
        // Handshake: wait until a task is really running before cancelling.
        while !execution.recorder.events.contains(where: { $0.type == "task.start" }) {}
        execution.control.stop(.cancelled)
        let outcome = execution.wait()
        #expect(outcome.status == .cancelled)
        #expect(outcome.summary["durationMs"]!.doubleValue! < 10_000)
    }

    /// 000 §7: one lock around every task's print and sleep serialises the tasks; the
    /// verdict's figures are the trace's.
    @Test(arguments: ["submit", "map"])
    func lockLetsOneTaskInAtATime(mode: String) throws {
        let (outcome, events) = try run(["workers": 3, "tasks": 6, "taskMs": 3, "jitterPct": 0, "mode": .string(mode), "lock": true])
        #expect(outcome.status == .completed)
        // Replay the lock's events in order: never two holders.
        var inside = 0, most = 0
        for event in events where event.string("lock") == "lock" {
            if event.type == "lock.acquire" { inside += 1; most = max(most, inside) }
            if event.type == "lock.release" { inside -= 1 }
        }
        #expect(most == 1 && inside == 0)
        #expect(outcome.summary["insideLockAtOnce"] == 1)
        #expect(outcome.summary["lockWaits"]?.intValue == events.of("lock.wait").count)
        // print(i) happens inside the lock; the summary's order is the trace's order.
        let printed = events.of("log").compactMap { $0.string("message") }.filter { $0.hasPrefix("print(") }
        let order = outcome.summary["printOrder"]?.arrayValue?.compactMap(\.intValue) ?? []
        #expect(printed == order.map { "print(\($0))" })
        #expect(order.sorted() == Array(0..<6))
        let verdict = outcome.summary["verdict"]?.stringValue ?? ""
        #expect(verdict.contains("at most 1 task at a time was inside it"))
        #expect(verdict.contains(order.map(String.init).joined(separator: ",")))
        #expect(verdict.contains(order == order.sorted() ? "in submit order this time" : "not in submit order"))
        #expect(events.everyLaneEnded)
    }
}
