import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessSequentialVsConcurrentTests {
        @Test func twoJobsSideBySideTakeAboutHalfTheTime() throws {
            let (outcome, events) = try ProcessRuns.run("sequential-vs-concurrent", ["taskMs": 40, "steps": 2])
            #expect(outcome.status == .completed)
            let sequential = outcome.summary["sequentialMs"]!.doubleValue!
            #expect(sequential >= 160)
            #expect(outcome.summary["threadsMs"]!.doubleValue! < sequential)
            #expect(outcome.summary["processesMs"]!.doubleValue! >= 80)
            // The process jobs print their own pids, which are not the server's.
            let jobPids = Set(events.filter { $0.type == "log" && $0.lane.hasPrefix("process-") }.map(\.pid))
            #expect(jobPids.count == 2 && !jobPids.contains(getpid()))
        }
    }
}
