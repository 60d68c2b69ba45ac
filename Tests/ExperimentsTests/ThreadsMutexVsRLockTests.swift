import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsMutexVsRLockTests {
    @Test func aMutexTakenTwiceDeadlocksItsOwnThreadAndIsRecovered() throws {
        let (outcome, events) = try runThreadsExperiment("mutex-vs-rlock", ["kind": "mutex", "depth": 2])
        #expect(outcome.status == .deadlocked)
        #expect(outcome.summary["durationMs"]!.doubleValue! < 1_000)
        let detected = try #require(events.of("deadlock.detected").first)
        let edge = detected.fields["cycle"]?.arrayValue?.first
        #expect(edge?["lane"] == "thread-1" && edge?["heldBy"] == "thread-1" && edge?["waitsFor"] == "lock")
        #expect(events.of("lock.acquire").count == 1)
        #expect(events.of("lane.end").contains { $0.lane == "thread-1" && $0.fields["cutOff"] == true })
        #expect(outcome.summary["reached"] == 1)
        #expect(events.everyLaneEnded)
    }

    @Test(arguments: [2, 5])
    func aRecursiveLockCountsDepthAndReleasesInReverse(depth: Int) throws {
        let (outcome, events) = try runThreadsExperiment("mutex-vs-rlock", ["kind": "recursive", "depth": .int(depth)])
        #expect(outcome.status == .completed)
        #expect(events.of("lock.acquire").compactMap { $0.int("depth") } == Array(1...depth))
        #expect(events.of("lock.release").compactMap { $0.int("depth") } == Array((1...depth).reversed()))
        #expect(events.of("deadlock.detected").isEmpty)
    }
}
