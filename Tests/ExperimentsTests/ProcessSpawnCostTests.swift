import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessSpawnCostTests {
        @Test func processesCostMoreToStartThanThreads() throws {
            let (outcome, events) = try ProcessRuns.run("spawn-cost", ["count": 10])
            #expect(outcome.status == .completed)
            let threadsMs = outcome.summary["threadsMs"]!.doubleValue!
            let processesMs = outcome.summary["processesMs"]!.doubleValue!
            #expect(processesMs > threadsMs)
            #expect(outcome.summary["ratio"]!.doubleValue! > 1)
            #expect(ProcessRuns.events(events, "process.spawn").count == 10)
            #expect(ProcessRuns.events(events, "process.exit").count == 10)
            // Ten thread lanes in the server's pid, ten process lanes each in its own.
            let threadLanes = Set(events.filter { $0.type == "lane.start" && $0.fields["kind"] == "thread" }.map(\.lane))
            let processPids = Set(events.filter { $0.type == "lane.start" && $0.fields["kind"] == "process" }.map(\.pid))
            #expect(threadLanes.count == 10 && processPids.count == 10 && !processPids.contains(getpid()))
        }
    }
}
