@testable import Experiments
import Foundation
import JSON
import Testing
import Tracing

/// The processes backend of producer-consumer, run through an experiment with the
/// same parameters as the threads one (which owns the id).
extension ProcessExperimentTests {
    @Suite struct ProcessProducerConsumerTests {
        static let experiment = Experiment(
            id: "producer-consumer-processes", title: "", category: "", summary: "", lesson: "",
            parameters: [
                .integer("producers", 1...16, default: 2, ""), .integer("consumers", 1...16, default: 2, ""),
                .integer("items", 1...10_000, default: 20, ""), .integer("capacity", 1...1000, default: 4, ""),
                .integer("produceMs", 0...10_000, default: 10, ""), .integer("consumeMs", 0...10_000, default: 30, ""),
            ],
            body: producerConsumerProcesses)

        @Test func producersAndConsumersAreProcessesAndEveryItemIsConsumedOnce() throws {
            let execution = ExperimentRun(id: "pc", experiment: Self.experiment, params: try Self.experiment.resolve(
                ["producers": 2, "consumers": 3, "items": 15, "capacity": 2, "produceMs": 0, "consumeMs": 2]))
            let outcome = execution.runToEnd()
            let events = execution.recorder.events
            #expect(outcome.status == .completed)
            #expect(outcome.summary["exactlyOnce"] == true)
            let putPids = Set(events.filter { $0.type == "queue.put" && $0.flow != nil }.map(\.pid))
            let getPids = Set(events.filter { $0.type == "queue.get" && $0.flow != nil }.map(\.pid))
            #expect(putPids.count == 2 && !putPids.contains(getpid()))
            #expect(getPids.isDisjoint(with: putPids) && !getPids.contains(getpid()))
            // The bounded queue made fast producers wait, and never held more than capacity.
            #expect(events.contains { $0.type == "queue.full" })
            #expect(events.filter { $0.type == "queue.put" }.allSatisfy { ($0.fields["size"]?.intValue ?? 0) <= 2 })
            #expect(events.filter { $0.type == "queue.get" && $0.fields["item"] == "STOP" }.count == 3)
        }
    }
}
