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
    func processSupervisor() throws -> ProcessSupervisor {
        try ProcessSupervisor(recorder: recorder, control: control)
    }

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
