import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessSharedMemoryTests {
        @Test func withoutALockEveryRoundLosesAllButOneDecrement() throws {
            let (outcome, events) = try ProcessRuns.run("shared-memory", ["processes": 4, "decrements": 25])
            #expect(outcome.status == .completed)
            #expect(outcome.summary["initial"] == 100)
            #expect(outcome.summary["expected"] == 0)
            #expect(outcome.summary["final"] == 75)
            #expect(outcome.summary["lost"] == 75)
            // Every process wrote; all of them from the same values read.
            let writers = Set(events.filter { $0.type == "counter" && $0.pid != getpid() }.map(\.pid))
            #expect(writers.count == 4)
        }

        @Test func aProcessSharedLockLosesNothingAndEveryPidTakesIt() throws {
            let (outcome, events) = try ProcessRuns.run("shared-memory", ["processes": 4, "decrements": 25, "lock": true])
            #expect(outcome.summary["final"] == 0 && outcome.summary["lost"] == 0)
            let lockers = Set(events.filter { $0.type == "lock.acquire" }.map(\.pid))
            #expect(lockers.count == 4 && !lockers.contains(getpid()))
            #expect(events.filter { $0.type == "lock.acquire" }.count == 100)
            #expect(events.filter { $0.type == "lock.release" }.count == 100)
        }

        @Test func oneProcessCannotLoseUpdates() throws {
            let (outcome, _) = try ProcessRuns.run("shared-memory", ["processes": 1, "decrements": 10])
            #expect(outcome.summary["lost"] == 0)
        }
    }
}
