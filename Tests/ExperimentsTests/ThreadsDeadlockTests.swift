import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsDeadlockTests {
    @Test(arguments: [2, 5])
    func naivePhilosophersFormACycleThatIsDetectedAndUnwound(philosophers: Int) throws {
        let (outcome, events) = try runThreadsExperiment("deadlock", ["philosophers": .int(philosophers), "strategy": "naive", "holdMs": 5])
        #expect(outcome.status == .deadlocked)
        let detected = try #require(events.of("deadlock.detected").first)
        let cycle = detected.fields["cycle"]?.arrayValue ?? []
        #expect(cycle.count == philosophers)
        // Each edge: a philosopher waits for a fork held by the next edge's philosopher.
        for (edge, next) in zip(cycle, cycle.dropFirst() + cycle.prefix(1)) {
            #expect(edge["heldBy"] == next["lane"])
        }
        let detectedAfterLastWait = detected.ts - (events.of("lock.wait").last?.ts ?? 0)
        #expect(detectedAfterLastWait < 1_000_000)
        let ends = events.of("lane.end").filter { $0.lane.hasPrefix("philosopher-") }
        #expect(ends.count == philosophers)
        #expect(events.everyLaneEnded)
        #expect(outcome.summary["deadlocked"] == true)
    }

    @Test func orderedTakesForksInOneGlobalOrderAndFinishes() throws {
        let (outcome, events) = try runThreadsExperiment("deadlock", ["philosophers": 4, "strategy": "ordered", "holdMs": 2, "meals": 2])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["mealsEaten"] == 8)
        #expect(events.of("deadlock.detected").isEmpty && events.of("deadlock.potential").isEmpty)
    }

    @Test func trylockBacksOffAndReportsThePotentialDeadlock() throws {
        let (outcome, events) = try runThreadsExperiment("deadlock", ["philosophers": 2, "strategy": "trylock", "holdMs": 5])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["mealsEaten"] == 2)
        #expect(events.of("lock.timeout").contains { $0.fields["tryLock"] == true })
        #expect(outcome.summary["retries"]!.intValue! >= 1)
        #expect(events.of("deadlock.detected").isEmpty)
        let potential = try #require(events.of("deadlock.potential").first)
        #expect(Set(potential.fields["order"]?.arrayValue?.compactMap(\.stringValue) ?? []) == ["fork-1", "fork-2"])
    }

    @Test func timeoutGivesUpAndFinishes() throws {
        let (outcome, events) = try runThreadsExperiment("deadlock", ["philosophers": 3, "strategy": "timeout", "holdMs": 5, "timeoutMs": 30])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["mealsEaten"] == 3)
        #expect(!events.of("lock.timeout").isEmpty)
        #expect(events.of("deadlock.detected").isEmpty)
        #expect(events.of("deadlock.potential").count == 1, "three forks taken in a circular order")
    }

    /// 004: "递归锁互斥锁都可能死锁" — recursive forks deadlock in the crossed order just the same.
    @Test(arguments: [2, 3])
    func naiveWithRLocksStillDeadlocks(philosophers: Int) throws {
        let (outcome, events) = try runThreadsExperiment(
            "deadlock", ["philosophers": .int(philosophers), "strategy": "naive", "holdMs": 0, "lockKind": "rlock"])
        #expect(outcome.status == .deadlocked)
        let cycle = try #require(events.of("deadlock.detected").first?.fields["cycle"]?.arrayValue)
        #expect(cycle.count == philosophers)
        // They are RLocks: every acquire reports its depth (each fork taken once, depth 1).
        let acquires = events.of("lock.acquire").filter { $0.lane.hasPrefix("philosopher-") }
        #expect(acquires.count == philosophers && acquires.allSatisfy { $0.int("depth") == 1 })
        #expect(outcome.summary["lockKind"] == "rlock" && outcome.summary["deadlocked"] == true)
        let verdict = outcome.summary["verdict"]?.stringValue ?? ""
        #expect(verdict.contains("RLocks") && verdict.contains("\(philosophers)-edge wait-for cycle"))
        #expect(verdict.contains("\(philosophers) of \(philosophers) philosophers held a fork"))
        #expect(events.everyLaneEnded)
    }

    @Test func orderedWithRLocksFinishes() throws {
        let (outcome, _) = try runThreadsExperiment(
            "deadlock", ["philosophers": 3, "strategy": "ordered", "holdMs": 1, "lockKind": "rlock"])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["mealsEaten"] == 3)
        #expect(outcome.summary["verdict"]?.stringValue?.contains("RLocks") == true)
    }
}
