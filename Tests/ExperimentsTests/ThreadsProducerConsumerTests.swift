import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsProducerConsumerTests {
    @Test func everyItemIsConsumedOnceAndTheQueueStaysWithinCapacity() throws {
        let (outcome, events) = try runThreadsExperiment(
            "producer-consumer", ["producers": 3, "consumers": 2, "items": 30, "capacity": 4, "produceMs": 0, "consumeMs": 1])
        #expect(outcome.status == .completed)
        let gotten = events.of("queue.get").compactMap { $0.int("item") }
        #expect(gotten.sorted() == Array(1...30))
        #expect(events.of("queue.put").allSatisfy { ($0.int("size") ?? 99) <= 4 })
        let depth = events.of("counter").filter { $0.string("name") == "queue depth" }.compactMap { $0.int("value") }
        #expect(!depth.isEmpty && depth.allSatisfy { (0...4).contains($0) })
        // One sentinel per consumer ends it.
        let sentinels = events.of("queue.get").filter { $0.fields["item"] == .null }
        #expect(Set(sentinels.map(\.lane)) == ["consumer-1", "consumer-2"])
        #expect(outcome.summary["exactlyOnce"] == true)
        #expect(events.everyLaneEnded)
    }
}
