@testable import Experiments
import Foundation
import JSON
import Testing
import Tracing

/// The processes backend of callbacks (the threads engineer owns the id).
extension ProcessExperimentTests {
    @Suite struct ProcessCallbacksTests {
        static let experiment = Experiment(
            id: "callbacks-processes", title: "", category: "", summary: "", lesson: "",
            parameters: [
                .integer("tasks", 1...1000, default: 5, ""), .integer("taskMs", 0...10_000, default: 200, ""),
                .integer("workers", 1...64, default: 3, ""), .integer("jitterPct", 0...100, default: 60, ""),
                .integer("seed", 0...1_000_000, default: 3, ""),
            ],
            body: callbacksProcesses)

        @Test func callbacksRunInTheParentOnOneThreadAfterTheirTasksEnd() throws {
            let execution = ExperimentRun(id: "cb", experiment: Self.experiment,
                                          params: try Self.experiment.resolve(["tasks": 6, "taskMs": 20, "workers": 3]))
            let outcome = execution.runToEnd()
            let events = execution.recorder.events
            #expect(outcome.status == .completed)
            #expect(outcome.summary["callbacksInParent"] == true)
            let callbacks = events.filter { $0.type == "task.callback" }
            #expect(callbacks.count == 6)
            #expect(callbacks.allSatisfy { $0.pid == getpid() } && Set(callbacks.map(\.tid)).count == 1)
            // Each callback follows its own task's end, which happened in a worker.
            for callback in callbacks {
                let end = events.first { $0.type == "task.end" && $0.fields["task"] == callback.fields["task"] }!
                #expect(end.pid != getpid() && end.seq < callback.seq)
            }
            // The summary's order is the order the callbacks ran in.
            #expect(outcome.summary["callbackOrder"]?.arrayValue?.compactMap(\.intValue) == callbacks.map { $0.fields["task"]!.intValue! })
        }
    }
}
