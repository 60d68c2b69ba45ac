import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    /// map hands tasks out in chunks of ceil(T / 4W), as Python's Pool.map does.
    @Suite struct ProcessPoolChunkTests {
        @Test func mapHandsOutWholeChunksAndStillTracesEveryTask() throws {
            // 2 workers, 20 tasks: chunksize ceil(20 / 8) = 3, so 7 chunks (the last of 2).
            let (outcome, events) = try ProcessRuns.run("process-pool", ["workers": 2, "tasks": 20, "taskMs": 0,
                                                                         "jitterPct": 0, "mode": "map"])
            #expect(outcome.status == .completed)
            let submits = ProcessRuns.events(events, "task.submit")
            #expect(submits.map { $0.fields["task"]!.intValue! } == Array(0..<20))
            #expect(submits.map { $0.fields["chunk"]!.intValue! } == (0..<20).map { $0 / 3 })
            let parent = getpid()
            let starts = events.filter { $0.type == "task.start" && $0.pid != parent }
            #expect(starts.count == 20)
            // Every task keeps its own arrow from its submit to its start.
            for submit in submits {
                let start = starts.first { $0.fields["task"] == submit.fields["task"] }
                #expect(submit.flow != nil && start?.flow == submit.flow && submit.seq < start!.seq)
            }
            // A chunk runs whole in one worker, its tasks one after another.
            for chunk in 0..<7 {
                let tasks = Array(chunk * 3..<min(chunk * 3 + 3, 20))
                let runs = starts.filter { tasks.contains($0.fields["task"]!.intValue!) }
                #expect(Set(runs.map(\.pid)).count == 1, "chunk \(chunk)")
                #expect(runs.map { $0.fields["task"]!.intValue! } == tasks, "chunk \(chunk)")
            }
            #expect(maxConcurrentTasks(events) <= 2)
            let results = outcome.summary["results"]!.arrayValue!.compactMap(\.stringValue)
            #expect(results.map { $0.split(separator: " ")[1] } == (0..<20).map { Substring(String($0)) })
            #expect(outcome.summary["tasksMs"]?.doubleValue != nil)
            #expect(outcome.summary["maxConcurrent"]?.intValue ?? 0 <= 2)
        }
    }
}
