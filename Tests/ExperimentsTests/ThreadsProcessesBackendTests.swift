import Experiments
import Foundation
import JSON
import Testing
import Tracing

/// `callbacks` and `producer-consumer` hand backend=processes to the process
/// experiments' code (which its own suites test in depth). Nested in the process
/// suites' serialized parent, since those inspect this process's children.
extension ProcessExperimentTests {
    @Suite struct ThreadsProcessesBackendTests {
        @Test func callbacksWithProcessesRunInTheParent() throws {
            let (outcome, events) = try runThreadsExperiment("callbacks", ["backend": "processes", "tasks": 3, "taskMs": 5])
            #expect(outcome.status == .completed)
            #expect(outcome.summary["backend"] == "processes" && outcome.summary["callbacksInParent"] == true)
            #expect(events.filter { $0.type == "task.callback" }.allSatisfy { $0.pid == getpid() })
            #expect(events.filter { $0.type == "task.end" }.allSatisfy { $0.pid != getpid() })
        }

        @Test func producerConsumerWithProcessesConsumesEveryItemOnce() throws {
            let (outcome, events) = try runThreadsExperiment(
                "producer-consumer", ["backend": "processes", "items": 12, "produceMs": 0, "consumeMs": 0])
            #expect(outcome.status == .completed)
            #expect(outcome.summary["backend"] == "processes")
            #expect(Set(events.filter { $0.type == "queue.put" }.map(\.pid)).count > 1)
        }
    }
}
