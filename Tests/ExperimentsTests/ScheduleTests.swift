import Experiments
import JSON
import Primitives
import Testing
import Tracing

/// Controlled schedules on real threads: step, seeded, replay, explore.
@Suite struct ScheduleTests {
    private func start(_ id: String, _ params: JSONValue, idleMs: Int = 600_000) throws -> ExperimentRun {
        let experiment = try #require(Catalog.experiment(id))
        let run = ExperimentRun(id: "test-\(id)", experiment: experiment, params: try experiment.resolve(params),
                                deadlineMs: 20_000, stepIdleTimeoutMs: idleMs)
        run.start()
        return run
    }

    /// Lets `lane` take its next operation, after checking that it is `op` on `target`.
    private func step(_ run: ExperimentRun, _ lane: String, _ op: String, _ target: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation) throws {
        let schedule = try #require(run.control.schedule)
        schedule.waitUntilPaused(timeoutMs: 10_000)
        let pending = schedule.pending
        let mine = try #require(pending.first { $0.lane == lane },
                                "\(lane) cannot go; pending: \(pending)", sourceLocation: sourceLocation)
        #expect(mine.op == op, "pending: \(pending)", sourceLocation: sourceLocation)
        if let target { #expect(mine.target == target, sourceLocation: sourceLocation) }
        try schedule.step(lane: lane)
    }

    /// The events a learner sees, without what differs between two identical runs
    /// (times, ids, the tracer's own cost).
    private func shape(_ events: [TraceEvent]) -> [String] {
        events.map { event in
            var fields = event.fields
            if event.type == "run.end" { fields = ["status": fields["status"] ?? .null,
                                                   "schedule": fields["summary"]?.objectValue?["schedule"] ?? .null] }
            return "\(event.type) \(event.lane) \(event.flow.map(String.init) ?? "-") \(JSONValue.object(fields).jsonString)"
        }
    }

    @Test func steppingBothReadsBeforeEitherWriteLosesAnUpdate() throws {
        let run = try start("race-condition", ["workers": 2, "increments": 1, "schedule": "step"])
        try step(run, "worker-1", "start")
        try step(run, "worker-2", "start")
        try step(run, "worker-1", "read", "counter")
        try step(run, "worker-2", "read", "counter")
        try step(run, "worker-1", "write", "counter")
        try step(run, "worker-2", "write", "counter")
        let schedule = try #require(run.control.schedule)
        schedule.waitUntilPaused(timeoutMs: 10_000)
        try schedule.step(lane: nil, steps: 100)
        let outcome = run.wait()
        #expect(outcome.status == .completed)
        #expect(outcome.summary["lost"]?.intValue == 1)
        #expect(outcome.summary["final"]?.intValue == 1)
        let events = run.recorder.events
        let values = events.filter { $0.type == "log" && $0.fields["op"] != nil }.map { "\($0.lane) \($0.string("op")!) \($0.int("value")!)" }
        #expect(values == ["worker-1 read 0", "worker-2 read 0", "worker-1 write 1", "worker-2 write 1"])
        #expect(outcome.summary["schedule"]?.arrayValue?.prefix(6).map { $0.stringValue! }
            == ["worker-1", "worker-2", "worker-1", "worker-2", "worker-1", "worker-2"])
    }

    @Test func aSteppedRunTakesItsChoicesFirstThenAsks() throws {
        // What the viewer's Undo does: the same choices again, minus the last, then the learner.
        let run = try start("race-condition", ["workers": 2, "increments": 1, "schedule": "step",
                                               "choices": ["worker-1", "worker-2", "worker-1", "worker-2"]])
        try step(run, "worker-1", "write", "counter")
        try step(run, "worker-2", "write", "counter")
        let schedule = try #require(run.control.schedule)
        schedule.waitUntilPaused(timeoutMs: 10_000)
        try schedule.step(lane: nil, steps: 100)
        #expect(run.wait().summary["lost"]?.intValue == 1)
    }

    @Test func steppingEveryPhilosopherToItsLeftForkClosesTheCycle() throws {
        let run = try start("deadlock", ["philosophers": 2, "strategy": "naive", "schedule": "step"])
        try step(run, "philosopher-1", "start")
        try step(run, "philosopher-2", "start")
        try step(run, "philosopher-1", "acquire", "fork-1")
        try step(run, "philosopher-2", "acquire", "fork-2")
        try step(run, "philosopher-1", "sleep")
        try step(run, "philosopher-1", "acquire", "fork-2")  // blocks: philosopher-2 holds it
        try step(run, "philosopher-2", "sleep")
        try step(run, "philosopher-2", "acquire", "fork-1")  // closes the cycle
        let outcome = run.wait()
        #expect(outcome.status == .deadlocked)
        let cycle = try #require(run.recorder.events.first { $0.type == "deadlock.detected" })
        #expect(cycle.fields["cycle"]?.arrayValue?.count == 2)
    }

    @Test func replayGivesTheSameEventsEveryTime() throws {
        let params: JSONValue = ["workers": 3, "increments": 3, "schedule": "seeded", "seed": 11]
        let (recorded, recordedEvents) = try runThreadsExperiment("race-condition", params)
        let choices = try #require(recorded.summary["schedule"]?.arrayValue)
        #expect(choices.count > 10)
        let expected = shape(recordedEvents).filter { !$0.hasPrefix("sched.") && !$0.hasPrefix("run.") }
        for _ in 0..<50 {
            let (outcome, events) = try runThreadsExperiment(
                "race-condition", ["workers": 3, "increments": 3, "schedule": "replay", "choices": .array(choices)])
            #expect(outcome.status == .completed)
            #expect(outcome.summary["lost"] == recorded.summary["lost"])
            #expect(shape(events).filter { !$0.hasPrefix("sched.") && !$0.hasPrefix("run.") } == expected)
        }
    }

    @Test func theSameSeedGivesTheSameSchedule() throws {
        let params: JSONValue = ["philosophers": 3, "strategy": "timeout", "holdMs": 10, "timeoutMs": 10,
                                 "schedule": "seeded", "seed": 5]
        let (first, firstEvents) = try runThreadsExperiment("deadlock", params)
        let (second, secondEvents) = try runThreadsExperiment("deadlock", params)
        #expect(first.summary["schedule"] == second.summary["schedule"])
        #expect(shape(firstEvents) == shape(secondEvents))
    }

    @Test func exploreFindsTheLostUpdateWithinAHundredSeeds() throws {
        let experiment = try #require(Catalog.experiment("race-condition"))
        let params = try experiment.resolve(["workers": 2, "increments": 10])
        let report = Explore.run(.init(experiment: experiment, params: params, seeds: 100))
        #expect((report["failed"]?.intValue ?? 0) > 0)
        let shortest = try #require(report["shortest"]?.objectValue)
        // The shortest failing schedule replays to the same lost update.
        let (outcome, _) = try runThreadsExperiment(
            "race-condition", ["workers": 2, "increments": 10, "schedule": "replay", "choices": shortest["choices"]!])
        #expect((outcome.summary["lost"]?.intValue ?? 0) > 0)
    }

    @Test func aReplayThatCannotBeFollowedFailsAndSaysWhere() throws {
        let (outcome, _) = try runThreadsExperiment(
            "race-condition", ["workers": 2, "increments": 1, "schedule": "replay", "choices": ["worker-1", "main"]])
        #expect(outcome.status == .failed)
        #expect(outcome.summary["error"]?.stringValue?.contains("replay diverged at step 1") == true)
    }

    @Test func aSteppedRunCancelledOrLeftIdleEndsWithEveryThreadJoined() throws {
        let cancelled = try start("race-condition", ["workers": 4, "increments": 5, "schedule": "step"])
        let schedule = try #require(cancelled.control.schedule)
        schedule.waitUntilPaused(timeoutMs: 10_000)
        #expect(schedule.pending.count == 4)
        cancelled.control.stop(.cancelled)
        #expect(cancelled.wait().status == .cancelled)  // wait() returns once every thread is joined
        #expect(cancelled.recorder.events.everyLaneEnded)

        let idle = try start("event", ["schedule": "step"], idleMs: 50)
        #expect(idle.wait().status == .timedOut)
        #expect(idle.recorder.events.everyLaneEnded)
    }

    @Test func everyControllableExperimentFinishesUnderTheDefaultPolicy() throws {
        for id in ScheduleParameters.controllable.sorted() where id != "deadlock" && id != "mutex-vs-rlock" {
            let (outcome, events) = try runThreadsExperiment(id, ["schedule": "replay"])
            #expect(outcome.status == .completed, "\(id): \(outcome.summary)")
            #expect(events.everyLaneEnded, "\(id)")
        }
    }
}
