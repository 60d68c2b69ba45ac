import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

/// Counts `{"ctl": "ready"}` messages from children so the parent can wait, on a
/// run-interruptible monitor, until every child is really running.
final class ReadyLatch: Sendable {
    private let monitor: Monitor
    private let count = Mutex(0)

    init(control: RunControl) { monitor = Monitor(control: control) }

    /// The supervisor's message handler for the children counted here.
    var handler: ProcessSupervisor.MessageHandler {
        { [self] _, message in
            guard message["ctl"] == "ready" else { return }
            count.withLock { $0 += 1 }
            monitor.lockAndBroadcast()
        }
    }

    func wait(for expected: Int, on lane: Lane) throws(RunInterrupted) {
        lane.emit("io.begin", ["op": .string("wait for \(expected) children to start")])
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: { count.withLock { $0 } >= expected })
        }
        lane.emit("io.end", ["op": .string("wait for \(expected) children to start")])
    }
}

extension RunContext {
    /// A supervisor for this run's children; shut it down before the body returns.
    ///
    /// A child that dies while the run still needs it (`kill -9` from outside, a
    /// crash) fails the run at once: the failure is recorded, the run is stopped with
    /// `.failed` (its other children are killed, its waits end), and the experiment's
    /// `surviving(…)` wrapper turns what happened into the verdict.
    func processSupervisor() throws -> ProcessSupervisor {
        let supervisor = try ProcessSupervisor(recorder: recorder, control: control, heldLane: Self.heldLane(runID))
        supervisor.onSpawn { [self] _ in childCount.add(1, ordering: .relaxed) }
        supervisor.onUnexpectedExit { [self] child, status in
            failures.withLock { $0.append("\(child.lane) died unexpectedly (\(status.description))") }
            control.stop(.failed)
        }
        return supervisor
    }

    /// Tests only: the lane `ChildDeathHooks.hold` named for this run.
    static func heldLane(_ runID: String) -> String? { ChildDeathHooks.held.withLock { $0[runID] } }

    /// `count` consecutive flow ids, for hand-offs that children trace themselves.
    func reserveFlows(_ count: Int) -> Int {
        let first = recorder.nextFlow()
        for _ in 1..<max(count, 1) { _ = recorder.nextFlow() }
        return first
    }
}

func milliseconds(since startUs: Int64, _ run: RunContext) -> Double {
    Double(run.recorder.elapsedMicros - startUs) / 1000
}

func round1(_ value: Double) -> Double { (value * 10).rounded() / 10 }

/// A child that died while the run still needed it.
struct ChildDeath {
    let child: ChildProcess
    let status: ExitStatus
    /// Its `process.exit` and its last traced event, for the insight's refs.
    let exitSeq: Int?
    let lastSeq: Int?
    /// Its last traced event, e.g. the `task.start` of the task it was running.
    let lastEvent: TraceEvent?
}

extension RunContext {
    /// Runs `body`; if one of `supervisor`'s children died unexpectedly meanwhile
    /// (whether or not `body` was interrupted by it), returns `onDeath`'s summary
    /// instead — after tracing the child's `process.exit` on main. `onDeath` says what
    /// was lost, from the facts of this run; its text becomes the verdict and an insight.
    func surviving(_ supervisor: ProcessSupervisor, _ body: () throws -> JSONObject,
                   onDeath: (ChildDeath) -> (lost: String, figures: JSONObject)) throws -> JSONObject {
        var summary: JSONObject?
        do {
            summary = try body()
        } catch let interrupted as RunInterrupted {
            guard interrupted.reason == .failed, supervisor.unexpectedExit != nil else { throw interrupted }
        }
        guard supervisor.unexpectedExit != nil else { return summary ?? [:] }
        // Every other child is killed and reaped first, so the death that came first
        // (and every exit) is known before the verdict is written.
        supervisor.shutdown(on: main)
        guard let (child, status) = supervisor.unexpectedExit else { return summary ?? [:] }
        let exitSeq = supervisor.reportExitIfEnded(child, on: main)
        let last = recorder.events.last { $0.pid == child.pid && $0.type != "process.exit" }
        let death = ChildDeath(child: child, status: status, exitSeq: exitSeq, lastSeq: last?.seq, lastEvent: last)
        let (lost, figures) = onDeath(death)
        let how = status.signal != nil ? "was killed by \(status.description)" : "exited with \(status.description)"
        let text = "\(child.lane) \(how), which the run did not send: \(lost). The run stopped its other children and ended as failed."
        main.insight(text, refs: [exitSeq, last?.seq], kind: .problem)
        var result = figures
        result["verdict"] = .string(text)
        result["childDied"] = ["child": .string(child.lane), "pid": .int(Int(child.pid)),
                               "how": .string(status.description)]
        return result
    }
}

/// For tests of runs whose child dies: `hold(run:lane:)` makes that run's child on
/// `lane` (e.g. "worker-2") hold still, right after its lane starts, until something
/// kills it — so a test can `kill -9` it from outside at a known point, without sleeps.
public enum ChildDeathHooks {
    static let held = Mutex<[String: String]>([:])

    public static func hold(run: String, lane: String) { held.withLock { $0[run] = lane } }
    public static func release(run: String) { _ = held.withLock { $0.removeValue(forKey: run) } }
}
