import Experiments
import JSON
import Primitives
import Testing
import Tracing

/// Deadlock detection is a property of the primitives, not of the `deadlock`
/// experiment: any experiment whose threads block in a cycle is detected and unwound.
@Suite struct SyncDeadlockDetectorTests {
    func run(_ body: @escaping @Sendable (RunContext) throws -> JSONObject) -> (RunOutcome, [TraceEvent]) {
        let experiment = Experiment(id: "ad-hoc", title: "", category: "", summary: "", lesson: "", parameters: [], body: body)
        let execution = ExperimentRun(id: "t", experiment: experiment, params: try! experiment.resolve(nil), deadlineMs: 10_000)
        let outcome = execution.runToEnd()
        return (outcome, execution.recorder.events)
    }

    @Test func opposingLockOrderInAnyExperimentIsDetectedAndUnwound() {
        let (outcome, events) = run { run in
            let detector = run.deadlockDetector
            let a = TracedLock("A", detector: detector), b = TracedLock("B", detector: detector)
            let both = Rendezvous(parties: 2, control: run.control)
            run.spawn("t1") { lane in
                try a.acquire(on: lane); try both.arrive(); try b.acquire(on: lane)
            }
            run.spawn("t2") { lane in
                try b.acquire(on: lane); try both.arrive(); try a.acquire(on: lane)
            }
            return [:]
        }
        #expect(outcome.status == .deadlocked)
        let detected = events.of("deadlock.detected")
        #expect(detected.count == 1)
        let cycle = detected.first?.fields["cycle"]?.arrayValue ?? []
        #expect(cycle.count == 2)
        #expect(Set(cycle.compactMap { $0["waitsFor"]?.stringValue }) == ["A", "B"])
        #expect(events.of("lane.end").filter { $0.lane.hasPrefix("t") }.count == 2)
    }

    @Test func locksMadeApartInOneRunShareItsGraph() {
        let (outcome, events) = run { run in
            let a = TracedLock("A", detector: run.deadlockDetector)
            let b = TracedLock("B", detector: run.deadlockDetector)
            let shared = run.deadlockDetector === a.detector && a.detector === b.detector
            let both = Rendezvous(parties: 2, control: run.control)
            run.spawn("t1") { lane in try a.acquire(on: lane); try both.arrive(); try b.acquire(on: lane) }
            run.spawn("t2") { lane in try b.acquire(on: lane); try both.arrive(); try a.acquire(on: lane) }
            return ["shared": .bool(shared)]
        }
        #expect(outcome.summary["shared"] == true)
        #expect(outcome.status == .deadlocked)
        #expect(events.of("deadlock.detected").count == 1)
    }

    @Test func aCycleThroughASemaphoreIsDetected() {
        let (outcome, events) = run { run in
            let detector = run.deadlockDetector
            let sem = TracedSemaphore("sem", permits: 1, detector: detector)
            let lock = TracedLock("L", detector: detector)
            let both = Rendezvous(parties: 2, control: run.control)
            run.spawn("t1") { lane in
                try sem.acquire(on: lane); try both.arrive(); try lock.acquire(on: lane)
            }
            run.spawn("t2") { lane in
                try lock.acquire(on: lane); try both.arrive(); try sem.acquire(on: lane)
            }
            return [:]
        }
        #expect(outcome.status == .deadlocked)
        #expect(events.of("deadlock.detected").count == 1)
    }

    @Test func locksTakenInBothOrdersAreFlaggedEvenWhenNothingHangs() {
        let (outcome, events) = run { run in
            let a = TracedLock("A", detector: run.deadlockDetector), b = TracedLock("B", detector: run.deadlockDetector)
            run.spawn("t1") { lane in
                try a.acquire(on: lane); try b.acquire(on: lane)
                b.release(on: lane); a.release(on: lane)
            }.join()
            run.spawn("t2") { lane in
                try b.acquire(on: lane); try a.acquire(on: lane)
                a.release(on: lane); b.release(on: lane)
            }.join()
            return [:]
        }
        #expect(outcome.status == .completed)
        let potential = events.of("deadlock.potential")
        #expect(potential.count == 1)
        #expect(potential.first?.lane == "t2" && potential.first?.fields["order"] == ["B", "A"])
    }

    /// A signalling semaphore (bounded-buffer "empty slots") is released by lanes that
    /// never took it: the producer waiting on permits only it holds is not deadlocked.
    @Test func aSignallingSemaphoreIsNeverMistakenForADeadlock() {
        let (outcome, events) = run { run in
            let slots = TracedSemaphore("slots", permits: 1, signalling: true, detector: run.deadlockDetector)
            let filled = Rendezvous(parties: 2, control: run.control)
            run.spawn("producer") { lane in
                try slots.acquire(on: lane)
                try filled.arrive()
                try slots.acquire(on: lane)  // waits for the consumer to free a slot
            }
            run.spawn("consumer") { lane in
                try filled.arrive()
                try run.sleep(ms: 20, on: lane)
                slots.release(on: lane)
            }
            return [:]
        }
        #expect(outcome.status == .completed)
        #expect(events.of("deadlock.detected").isEmpty)
    }

    @Test func aSemaphoreReleasedByANonHolderLeavesTheGraph() {
        let (outcome, events) = run { run in
            let slots = TracedSemaphore("slots", permits: 1, detector: run.deadlockDetector)
            let main = run.main
            slots.release(on: main)  // a release by a lane that took nothing: a signal
            try slots.acquire(on: main)
            try slots.acquire(on: main)
            let helper = run.spawn("helper") { lane in
                try run.sleep(ms: 20, on: lane)
                slots.release(on: lane)
            }
            try slots.acquire(on: main)  // only main holds permits, yet the helper frees one
            helper.join()
            return [:]
        }
        #expect(outcome.status == .completed)
        #expect(events.of("deadlock.detected").isEmpty)
    }

    @Test func aTimedWaitIsNotADeadlock() {
        let (outcome, events) = run { run in
            let detector = run.deadlockDetector
            let lock = TracedLock("L", detector: detector)
            let thread = run.spawn("t1") { lane in
                try lock.acquire(on: lane)
                _ = try lock.acquire(on: lane, timeoutMs: 20)
                lock.release(on: lane)
            }
            thread.join()
            return [:]
        }
        #expect(outcome.status == .completed)
        #expect(events.of("deadlock.detected").isEmpty)
        #expect(events.of("lock.timeout").count == 1)
    }
}
