import Experiments
import JSON
import Testing
import Tracing

/// async-gather: one OS thread, tasks interleaving at awaits, gather's argument order.
@Suite struct AsyncGatherTests {
    static let lanes: Set<String> = ["loop", "main()", "task-1", "task-2", "task-3"]

    @Test(arguments: ["gather", "sequential", "create_task"])
    func theLoopAndEveryTaskShareOneOSThread(mode: String) throws {
        let (outcome, events) = try runThreadsExperiment("async-gather", ["tasks": 3, "steps": 2, "maxStepMs": 5, "mode": .string(mode)])
        #expect(outcome.status == .completed)
        let ours = events.filter { Self.lanes.contains($0.lane) }
        #expect(Set(ours.map(\.tid)).count == 1)
        #expect(ours.contains { $0.lane == "loop" && $0.type == "io.begin" && $0.string("op") == "epoll_wait" })
        #expect(events.everyLaneEnded)
        #expect(!events.of("insight").isEmpty)
    }

    @Test func gatherReturnsResultsInArgumentOrderWhateverFinishesFirst() throws {
        // One await each: a task finishes when its own timer fires, and timers fire in
        // deadline order — so seed 1's durations (45, 12, 3 ms) finish 3, 2, 1.
        let (outcome, events) = try runThreadsExperiment("async-gather", ["tasks": 3, "steps": 1, "maxStepMs": 60, "seed": 1])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["completionOrder"] == [3, 2, 1])
        let results = outcome.summary["results"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(results.count == 3 && results.enumerated().allSatisfy { $0.element.hasPrefix("result-\($0.offset + 1) ") })
        let ends = events.of("task.end").map { $0.int("task") }
        #expect(ends == [3, 2, 1])
    }

    @Test func gatherInterleavesTasksButSequentialRunsThemOneAfterAnother() throws {
        func starts(_ mode: String) throws -> (task1End: Int, task2Start: Int) {
            let (_, events) = try runThreadsExperiment("async-gather", ["tasks": 2, "steps": 3, "maxStepMs": 3, "mode": .string(mode)])
            let end1 = try #require(events.first { $0.type == "task.end" && $0.int("task") == 1 })
            let start2 = try #require(events.first { $0.type == "task.start" && $0.int("task") == 2 })
            return (end1.seq, start2.seq)
        }
        let gather = try starts("gather")
        #expect(gather.task2Start < gather.task1End)
        let sequential = try starts("sequential")
        #expect(sequential.task2Start > sequential.task1End)
    }
}
