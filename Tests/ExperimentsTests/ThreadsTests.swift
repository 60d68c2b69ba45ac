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

    /// 004 day36: main joins only the non-daemon threads; when they have ended the program
    /// ends, and the daemons still working are cut off. Daemons that work 10 s cannot finish
    /// first, so which ones are cut off is fixed by construction.
    @Test func mixedDaemonsAreCutOffWhenTheNonDaemonThreadsEnd() throws {
        let (outcome, events) = try runThreadsExperiment(
            "threads", ["count": 2, "workMs": 5, "daemons": 2, "daemonWorkMs": 10_000])
        #expect(outcome.status == .completed)
        let joins = events.of("io.begin").filter { $0.string("op") == "join" }.compactMap { $0.string("thread") }
        #expect(joins == ["thread-1", "thread-2"], "main joins only the non-daemon threads")
        let ends = events.of("lane.end")
        for name in ["thread-1", "thread-2"] {
            #expect(ends.first { $0.lane == name }?.fields["cutOff"] == nil)
        }
        let mainEnd = try #require(ends.first { $0.lane == "main" }).seq
        for name in ["daemon-1", "daemon-2"] {
            let end = try #require(ends.first { $0.lane == name })
            #expect(end.fields["cutOff"] == true && end.string("reason") == "runEnded")
            #expect(end.seq > mainEnd, "cut off only after the program (main) ended")
        }
        #expect(outcome.summary["stillRunningAtMainEnd"] == 2)
        #expect(outcome.summary["daemons"] == 2)
        #expect(outcome.summary["cutOff"] == ["daemon-1", "daemon-2"])
        let verdict = outcome.summary["verdict"]?.stringValue ?? ""
        #expect(verdict.contains("Main joined 2 non-daemon threads") && verdict.contains("2 of 2 daemon threads were still working"))
        #expect(events.of("insight").contains { $0.string("text")?.contains("cut off") == true })
        #expect(events.everyLaneEnded)
    }

    /// Whatever the race between short daemons and the non-daemon threads, the verdict's
    /// figures are the trace's: each daemon the summary says was cut off ends cut off, each
    /// it says finished ends normally.
    @Test func mixedDaemonVerdictMatchesWhatTheLanesDid() throws {
        for _ in 0..<3 {
            let (outcome, events) = try runThreadsExperiment(
                "threads", ["count": 1, "workMs": 2, "daemons": 3, "daemonWorkMs": 2])
            #expect(outcome.status == .completed)
            let cutOff = Set(outcome.summary["cutOff"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            let finished = Set(outcome.summary["daemonsFinished"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            #expect(cutOff.union(finished) == ["daemon-1", "daemon-2", "daemon-3"] && cutOff.isDisjoint(with: finished))
            let endedCutOff = Set(events.of("lane.end").filter { $0.fields["cutOff"] == true }.map(\.lane))
            #expect(endedCutOff == cutOff)
            #expect(outcome.summary["stillRunningAtMainEnd"]?.intValue == cutOff.count)
            #expect(outcome.summary["verdict"]?.stringValue?.contains("\(cutOff.count) of 3 daemon threads") == true)
        }
    }
}
