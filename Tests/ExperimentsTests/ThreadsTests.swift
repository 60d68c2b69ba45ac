import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsTests {
    @Test func eachThreadHasItsOwnLaneAndTidAndIsJoined() throws {
        let (outcome, events) = try runThreadsExperiment("threads", ["count": 3, "workMs": 5])
        #expect(outcome.status == .completed)
        let lanes = (1...3).map { "thread-\($0)" }
        for lane in lanes { #expect(events.of("lane.start").contains { $0.lane == lane }) }
        let tids = Set(lanes.compactMap { lane in events.on(lane).first?.tid })
        #expect(tids.count == 3)
        #expect(!tids.contains(events.on("main").first!.tid))
        #expect(Set(events.map(\.pid)).count == 1, "threads share one process")
        #expect(events.of("io.begin").filter { $0.string("op") == "join" }.count == 3)
        #expect(events.of("lane.end").allSatisfy { $0.fields["cutOff"] == nil })
        let active = events.of("counter").filter { $0.string("name") == "active_count" }.compactMap { $0.int("value") }
        #expect(active.max() == 4 && active.last == 1)
        #expect(events.of("log").contains { $0.string("message")?.contains("ident=") == true })
        // main ends after every thread it joined
        let mainEnd = events.of("lane.end").first { $0.lane == "main" }!.seq
        #expect(events.of("lane.end").filter { $0.lane != "main" }.allSatisfy { $0.seq < mainEnd })
        #expect(events.everyLaneEnded)
    }

    @Test func daemonThreadsAreCutOffWhenMainEnds() throws {
        let (outcome, events) = try runThreadsExperiment("threads", ["count": 2, "workMs": 10_000, "daemon": true])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["durationMs"]!.doubleValue! < 5_000)
        #expect(events.of("io.begin").filter { $0.string("op") == "join" }.isEmpty)
        let ends = events.of("lane.end").filter { $0.lane.hasPrefix("thread-") }
        #expect(ends.count == 2)
        #expect(ends.allSatisfy { $0.fields["cutOff"] == true && $0.string("reason") == "runEnded" })
        #expect(outcome.summary["stillRunningAtMainEnd"] == 2)
        // The main lane ends without joining; the daemon threads are cut off after it.
        let mainEnd = events.of("lane.end").first { $0.lane == "main" }!.seq
        #expect(ends.allSatisfy { $0.seq > mainEnd })
    }
}
