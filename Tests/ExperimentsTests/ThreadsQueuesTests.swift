import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsQueuesTests {
    func order(_ events: [TraceEvent], _ type: String) -> [Int] {
        events.of(type).compactMap { $0.int("item") }
    }

    @Test func fifoGetsInPutOrder() throws {
        let (outcome, events) = try runThreadsExperiment("queues", ["kind": "fifo", "items": 6])
        #expect(outcome.status == .completed)
        #expect(order(events, "queue.get") == order(events, "queue.put"))
        #expect(order(events, "queue.get") == Array(1...6))
        for get in events.of("queue.get") {
            #expect(events.of("queue.put").first { $0.flow == get.flow }?.int("item") == get.int("item"))
        }
    }

    @Test func lifoGetsInReverse() throws {
        let (_, events) = try runThreadsExperiment("queues", ["kind": "lifo", "items": 6])
        #expect(order(events, "queue.get") == Array((1...6).reversed()))
    }

    @Test func priorityGetsInAscendingPriority() throws {
        let (outcome, events) = try runThreadsExperiment("queues", ["kind": "priority", "items": 10, "seed": 4])
        let priorities = events.of("queue.get").compactMap { $0.int("priority") }
        #expect(priorities.count == 10 && priorities == priorities.sorted())
        #expect(Set(priorities).count > 1)
        #expect(outcome.summary["inExpectedOrder"] == true)
    }

    @Test(arguments: ["fifo", "lifo", "priority"])
    func boundedPutsBlockAndSizeStaysWithinCapacity(kind: String) throws {
        let (outcome, events) = try runThreadsExperiment("queues", ["kind": .string(kind), "items": 8, "capacity": 3])
        #expect(outcome.status == .completed)
        #expect(events.of("queue.put").allSatisfy { ($0.int("size") ?? 99) <= 3 })
        #expect(events.of("queue.full").filter { $0.fields["waiting"] == true }.count == 5)
        #expect(outcome.summary["inExpectedOrder"] == true)
        if kind == "fifo" { #expect(order(events, "queue.get") == Array(1...8)) }
    }

    @Test func nowaitFailsWithFullAndEmptyInsteadOfBlocking() throws {
        let (outcome, events) = try runThreadsExperiment("queues", ["kind": "fifo", "items": 5, "capacity": 3, "nowait": true])
        #expect(outcome.status == .completed)
        #expect(events.of("queue.full").count == 2)
        #expect(events.of("queue.full").allSatisfy { $0.fields["waiting"] == false })
        #expect(events.of("queue.empty").count == 2)
        #expect(order(events, "queue.get") == [1, 2, 3])
        #expect(Set(events.map(\.lane)) == ["main"])
    }
}
