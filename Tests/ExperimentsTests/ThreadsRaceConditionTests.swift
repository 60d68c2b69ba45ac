import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsRaceConditionTests {
    @Test func withoutALockUpdatesAreLostOnEveryRun() throws {
        for _ in 0..<5 {
            let (outcome, events) = try runThreadsExperiment("race-condition", ["workers": 4, "increments": 50, "lock": false])
            #expect(outcome.status == .completed)
            let final = outcome.summary["final"]!.intValue!, expected = outcome.summary["expected"]!.intValue!
            #expect(expected == 200 && final < expected)
            #expect(outcome.summary["lost"]!.intValue! == expected - final)
            #expect(outcome.summary["lost"]!.intValue! >= 3 * 5, "each traced round of 4 workers loses 3 updates")
            // Every worker read the same value in round one before anyone wrote.
            let ops = events.of("log").filter { $0.fields["op"] != nil }
            let firstReads = ops.prefix(4)
            #expect(firstReads.allSatisfy { $0.string("op") == "read" && $0.int("value") == 0 })
            #expect(events.of("lock.acquire").isEmpty)
        }
    }

    @Test func withTheLockFinalEqualsExpectedAndHoldsNeverOverlap() throws {
        let (outcome, events) = try runThreadsExperiment("race-condition", ["workers": 4, "increments": 200, "lock": true])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["final"] == 800 && outcome.summary["lost"] == 0)
        #expect(!events.of("lock.wait").isEmpty)
        var holder: String?
        for event in events where event.type.hasPrefix("lock.") && event.type != "lock.wait" {
            if event.type == "lock.acquire" { #expect(holder == nil); holder = event.lane }
            if event.type == "lock.release" { #expect(holder == event.lane); holder = nil }
        }
        #expect(events.of("lock.acquire").count == 4 * 5, "only the traced rounds are traced")
    }

    @Test func bigRunsStayBoundedInEvents() throws {
        let (outcome, events) = try runThreadsExperiment("race-condition", ["workers": 8, "increments": 20_000])
        #expect(outcome.status == .completed)
        #expect(events.count < 2_000)
        #expect(outcome.summary["final"]!.intValue! < 160_000)
    }
}
