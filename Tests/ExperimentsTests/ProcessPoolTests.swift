import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessPoolTests {
        @Test(arguments: ["apply_async", "map", "apply"])
        func workersAreReusedAndNeverMoreThanWRunAtOnce(mode: String) throws {
            let (outcome, events) = try ProcessRuns.run("process-pool", ["workers": 3, "tasks": 9, "taskMs": 10, "mode": .string(mode)])
            #expect(outcome.status == .completed)
            let starts = ProcessRuns.events(events, "task.start")
            #expect(starts.count == 9)
            let pidOf = Dictionary(uniqueKeysWithValues: starts.map { ($0.fields["task"]!.intValue!, $0.pid) })
            #expect(Set(pidOf.values).count == 3)
            #expect(!pidOf.values.contains(getpid()))
            // Pid reuse: the same process ran tasks 0, 3 and 6.
            #expect(pidOf[0] == pidOf[3] && pidOf[3] == pidOf[6])
            #expect(maxConcurrentTasks(events) <= (mode == "apply" ? 1 : 3))
            #expect(outcome.summary["results"]?.arrayValue?.count == 9)
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
