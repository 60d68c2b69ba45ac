import Experiments
import JSON
import Testing
import Tracing

/// coroutines: real stack switching on one OS thread; a blocking call stalls
/// everyone, the monkey patch un-stalls. Every claim is about the ORDER of events,
/// which one thread makes deterministic, never about wall time.
@Suite struct AsyncCoroutinesTests {
    static let coroutineLanes: Set<String> = ["work1", "work2", "work3", "g1", "g2", "g3", "hub"]

    func coroutineEvents(_ events: [TraceEvent]) -> [TraceEvent] {
        events.filter { Self.coroutineLanes.contains($0.lane) }
    }

    @Test(arguments: ["generator", "greenlet", "gevent"])
    func everyCoroutineRunsOnOneOSThread(style: String) throws {
        let (outcome, events) = try runThreadsExperiment("coroutines", ["style": .string(style), "tasks": 3, "steps": 2, "stepMs": 2])
        #expect(outcome.status == .completed)
        let ours = coroutineEvents(events)
        #expect(ours.count > 10)
        #expect(Set(ours.map(\.tid)).count == 1)
        #expect(outcome.summary["osThreads"] == 1)
        #expect(events.everyLaneEnded)
        #expect(!events.of("insight").isEmpty)
    }

    @Test func anUnpatchedTimeSleepStopsEveryoneElse() throws {
        let (outcome, events) = try runThreadsExperiment("coroutines", ["tasks": 2, "steps": 2, "stepMs": 5, "blocking": true])
        #expect(outcome.status == .completed)
        let sleeps = events.on("work1").filter { $0.type == "io.begin" }
        #expect(sleeps.count == 2 && sleeps.allSatisfy { $0.fields["blocking"] == true })
        for begin in sleeps {
            let end = try #require(events.first { $0.seq > begin.seq && $0.lane == "work1" && $0.type == "io.end" })
            // Nothing else happens on the thread while work1 sits in time.sleep (the OS
            // sampler's sched.state, emitted by another thread, is not the thread's doing).
            let during = events.filter { $0.seq > begin.seq && $0.seq < end.seq && !$0.type.hasPrefix("sched.") }
            #expect(during.isEmpty, "events during a blocking sleep: \(during.map(\.lane))")
        }
        #expect(outcome.summary["blockingSleeps"] == 2)
    }

    @Test func theMonkeyPatchLetsOthersRunDuringTheSleep() throws {
        let (outcome, events) = try runThreadsExperiment("coroutines", ["tasks": 2, "steps": 2, "stepMs": 5, "blocking": true, "monkeyPatch": true])
        #expect(outcome.status == .completed)
        let begin = try #require(events.on("work1").first { $0.type == "io.begin" })
        #expect(begin.fields["blocking"] == nil)
        let end = try #require(events.first { $0.seq > begin.seq && $0.lane == "work1" && $0.type == "io.end" })
        // work2 logs its step while work1 is still inside its (now cooperative) sleep.
        #expect(events.contains { $0.lane == "work2" && $0.type == "log" && $0.seq > begin.seq && $0.seq < end.seq })
        #expect(outcome.summary["blockingSleeps"] == 0)
    }

    @Test func greenletSwitchesAreHandOffsDrawnAsFlows() throws {
        let (outcome, events) = try runThreadsExperiment("coroutines", ["style": "greenlet", "tasks": 2, "steps": 3, "stepMs": 0])
        #expect(outcome.status == .completed)
        let switches = events.of("coro.switch")
        #expect(switches.count >= 4)
        for switchEvent in switches {
            let flow = try #require(switchEvent.flow)
            // The very next event is the target resuming, carrying the same flow.
            let next = try #require(events.first {
                $0.seq > switchEvent.seq && $0.lane != "main" && $0.type != "lane.start" && !$0.type.hasPrefix("sched.")
            })
            #expect(next.type == "coro.resume" && next.flow == flow && next.lane == switchEvent.string("to"))
        }
        // g1 returned to main; g2 was left suspended and killed with GreenletExit.
        #expect(events.on("g2").last?.string("reason") == "GreenletExit")
    }

    @Test func generatorsAlternateUnderTheDriver() throws {
        let (outcome, events) = try runThreadsExperiment("coroutines", ["style": "generator", "tasks": 2, "steps": 3, "stepMs": 0])
        #expect(outcome.status == .completed)
        let logs = events.of("log").filter { $0.lane.hasPrefix("work") && $0.string("message")?.hasPrefix("---") == true }.map(\.lane)
        #expect(logs == ["work1", "work2", "work1", "work2", "work1", "work2"])
    }
}
