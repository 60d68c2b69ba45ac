import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsEventTests {
    @Test func everyWaiterWakesAfterTheSetWithItsFlow() throws {
        let (outcome, events) = try runThreadsExperiment("event", ["waiters": 4, "setAfterMs": 20])
        #expect(outcome.status == .completed)
        let set = try #require(events.of("event.set").first)
        #expect(set.lane == "main" && set.flow != nil)
        #expect(events.of("event.wait").count == 4)
        #expect(events.of("event.wait").allSatisfy { $0.seq < set.seq })
        let wakes = events.of("event.wake")
        #expect(wakes.count == 4)
        #expect(wakes.allSatisfy { $0.seq > set.seq && $0.flow == set.flow && $0.fields["timedOut"] == false })
        #expect(outcome.summary["woken"] == 4)
    }

    @Test func aShorterTimeoutWakesTimedOutBeforeTheSet() throws {
        let (outcome, events) = try runThreadsExperiment("event", ["waiters": 2, "setAfterMs": 300, "timeoutMs": 20])
        #expect(outcome.status == .completed)
        let set = try #require(events.of("event.set").first)
        let wakes = events.of("event.wake")
        #expect(wakes.count == 2)
        #expect(wakes.allSatisfy { $0.fields["timedOut"] == true && $0.seq < set.seq && $0.flow == nil })
        #expect(outcome.summary["timedOut"] == 2)
    }
}
