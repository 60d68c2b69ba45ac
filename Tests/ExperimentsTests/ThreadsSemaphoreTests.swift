import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsSemaphoreTests {
    @Test func neverMoreThanPermitsHolders() throws {
        let (outcome, events) = try runThreadsExperiment("semaphore", ["permits": 2, "workers": 6, "holdMs": 30])
        #expect(outcome.status == .completed)
        var holders = 0, peak = 0
        for event in events {
            if event.type == "sem.acquire" { holders += 1; peak = max(peak, holders) }
            if event.type == "sem.release" { holders -= 1 }
        }
        #expect(peak <= 2)
        #expect(outcome.summary["peakHolders"]!.intValue! <= 2)
        #expect(events.of("sem.acquire").count == 6 && events.of("sem.release").count == 6)
        #expect(events.of("sem.acquire").allSatisfy { ($0.int("available") ?? -1) >= 0 })
        let permits = events.of("counter").filter { $0.string("name") == "permits" }.compactMap { $0.int("value") }
        #expect(permits.allSatisfy { (0...2).contains($0) } && permits.last == 2)
        #expect(!events.of("sem.wait").isEmpty, "with 6 workers and 2 permits someone waits")
    }
}
