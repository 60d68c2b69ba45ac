import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessPoolTests {
        @Test(arguments: ["apply_async", "map", "apply", "submit", "sync"])
        func workersAreReusedAndNeverMoreThanWRunAtOnce(mode: String) throws {
            let (outcome, events) = try ProcessRuns.run("process-pool", ["workers": 3, "tasks": 9, "taskMs": 10, "jitterPct": 0,
                                                                         "mode": .string(mode)])
            #expect(outcome.status == .completed)
            let starts = ProcessRuns.events(events, "task.start")
            #expect(starts.count == 9)
            let pidOf = Dictionary(uniqueKeysWithValues: starts.map { ($0.fields["task"]!.intValue!, $0.pid) })
            // Every worker takes tasks (the longest-idle one first), none is the parent, and
            // 9 tasks on 3 processes means pids come back: processes are reused.
            #expect(Set(pidOf.values).count == 3)
            #expect(!pidOf.values.contains(getpid()))
            // Nine tasks on three processes: at least one pid ran three (pigeonhole); which
            // ones depends on who was free first.
            #expect((outcome.summary["reusedPids"]?.intValue ?? 0) >= 1)
            #expect(Dictionary(grouping: pidOf.values, by: { $0 }).values.map(\.count).max()! >= 3)
            let serial = mode == "apply" || mode == "sync"
            #expect(maxConcurrentTasks(events) <= (serial ? 1 : 3))
            #expect(outcome.summary["results"]?.arrayValue?.count == 9)
            // Only apply_async passes a callback.
            #expect(ProcessRuns.events(events, "task.callback").count == (mode == "apply_async" ? 9 : 0))
            #expect(outcome.summary["callbacks"]?.intValue == (mode == "apply_async" ? 9 : 0))
            #expect(ProcessRuns.events(events, "insight").count >= 1)
        }

        /// One shared queue: the k-th result to come back frees the worker that takes task
        /// W + k, so with uneven tasks no worker sits idle while a task waits — unlike
        /// dealing task k to worker k mod W.
        @Test(arguments: [1, 7, 42])
        func theFreeWorkerTakesTheNextTask(seed: Int) throws {
            let workers = 3
            let (outcome, events) = try ProcessRuns.run("process-pool", [
                "workers": .int(workers), "tasks": 12, "taskMs": 20, "jitterPct": 90, "seed": .int(seed), "mode": "map",
            ])
            #expect(outcome.status == .completed)
            let parent = getpid()
            let starts = events.filter { $0.type == "task.start" && $0.pid != parent }
            let pidOf = Dictionary(uniqueKeysWithValues: starts.map { ($0.fields["task"]!.intValue!, $0.pid) })
            // The parent hears results in the order of the workers' result messages, which
            // the trace records as task.end in the same order.
            let ends = events.filter { $0.type == "task.end" && $0.pid != parent }
            // Two results that come back within a few milliseconds may be handled in either
            // order (their pipes are read in one round), so a near-tie may swap.
            for k in 0..<(12 - workers) {
                let candidates = ends.filter { abs($0.ts - ends[k].ts) <= 10_000 }.map(\.pid)
                #expect(candidates.contains(pidOf[workers + k]!), "task \(workers + k)")
            }
            #expect(outcome.summary["idealMs"]!.doubleValue! <= outcome.summary["workMs"]!.doubleValue! / Double(workers) + 40)
        }

        @Test func aSharedLockMakesThePoolRunOneTaskAtATime() throws {
            let (outcome, events) = try ProcessRuns.run("process-pool", ["workers": 3, "tasks": 6, "taskMs": 5, "lock": true])
            #expect(outcome.status == .completed)
            var holding = 0, peak = 0
            for event in events where event.fields["lock"] == "lock" {
                if event.type == "lock.acquire" { holding += 1; peak = max(peak, holding) }
                if event.type == "lock.release" { holding -= 1 }
            }
            #expect(peak == 1)
            #expect(Set(events.filter { $0.type == "lock.acquire" }.map(\.pid)).count >= 2)
            #expect(outcome.summary["verdict"]!.stringValue!.contains("at most 1 task worked at once"))
        }

        @Test func everyCallbackRunsInTheParentAfterItsTaskEnded() throws {
            let (_, events) = try ProcessRuns.run("process-pool", ["workers": 2, "tasks": 6, "taskMs": 5])
            let callbacks = ProcessRuns.events(events, "task.callback")
            #expect(callbacks.map { $0.fields["task"]!.intValue! }.sorted() == Array(0..<6))
            #expect(callbacks.allSatisfy { $0.pid == getpid() && $0.lane == "result-handler" })
            #expect(Set(callbacks.map(\.tid)).count == 1)
            for callback in callbacks {
                let end = events.first { $0.type == "task.end" && $0.fields["task"] == callback.fields["task"] }!
                #expect(end.pid != getpid() && end.seq < callback.seq)
            }
            for task in 0..<6 {
                let submit = events.first { $0.type == "task.submit" && $0.fields["task"] == .int(task) }!
                let start = events.first { $0.type == "task.start" && $0.fields["task"] == .int(task) }!
                #expect(submit.flow != nil && submit.flow == start.flow && submit.seq < start.seq)
            }
        }

        @Test func mapReturnsResultsInInputOrder() throws {
            let (outcome, _) = try ProcessRuns.run("process-pool", ["workers": 3, "tasks": 7, "taskMs": 1, "mode": "map"])
            let results = outcome.summary["results"]!.arrayValue!.compactMap(\.stringValue)
            #expect(results.map { $0.split(separator: " ")[1] } == (0..<7).map { Substring(String($0)) })
        }

        @Test func applyIsSynchronous() throws {
            let (outcome, events) = try ProcessRuns.run("process-pool", ["workers": 3, "tasks": 4, "taskMs": 20, "mode": "apply"])
            #expect(outcome.summary["wallMs"]!.doubleValue! >= 80)
            // Each submit comes after the previous task's end.
            let submits = ProcessRuns.events(events, "task.submit")
            let ends = ProcessRuns.events(events, "task.end")
            for task in 1..<4 { #expect(ends[task - 1].seq < submits[task].seq) }
        }

        @Test func zeroTasksStillStartsAndJoinsTheWorkers() throws {
            let (outcome, events) = try ProcessRuns.run("process-pool", ["workers": 2, "tasks": 0])
            #expect(outcome.status == .completed)
            #expect(ProcessRuns.events(events, "process.exit").count == 2)
        }
    }
}
