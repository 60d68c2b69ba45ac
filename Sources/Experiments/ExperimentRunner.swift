import CSystem
import JSON
import Primitives
import Synchronization
import Tracing

/// A run's status, as the API reports it.
public enum RunStatus: String, Sendable, CaseIterable {
    case queued, running, completed, failed, cancelled, deadlocked, timedOut, interrupted

    public var isFinal: Bool { self != .queued && self != .running }
}

/// How a run ended.
public struct RunOutcome: Sendable {
    public let status: RunStatus
    public let summary: JSONObject
}

/// Runs one experiment on its own `main` thread, with a deadline, and always ends it
/// the same way: every thread joined, `lane.end` and `run.end {status, summary}`
/// emitted, the trace finished. Used by the server, the CLI and the tests.
public final class ExperimentRun: Sendable {
    public let context: RunContext
    public let experiment: Experiment
    public let deadlineMs: Int
    private let outcomeState = Mutex<RunOutcome?>(nil)
    private let finishedMonitor: Monitor

    public var recorder: TraceRecorder { context.recorder }
    public var control: RunControl { context.control }
    public var outcome: RunOutcome? { outcomeState.withLock { $0 } }

    /// `schedule` overrides the controlled schedule the parameters ask for (the explorer
    /// passes a seeded scheduler tuned to the run's length).
    public init(id: String, experiment: Experiment, params: Parameters, deadlineMs: Int = 60_000,
                capacity: Int = 500_000, schedule: ScheduleController.Mode? = nil, stepIdleTimeoutMs: Int = 600_000) {
        self.experiment = experiment
        self.deadlineMs = deadlineMs
        let control = RunControl()
        let recorder = TraceRecorder(capacity: capacity, deliverWake: { wake in
            Scheduler.shared.after(ms: 2, wake)
        })
        if let mode = schedule ?? ScheduleParameters.mode(of: params) {
            control.attach(ScheduleController(mode: mode, control: control, recorder: recorder,
                                              idleTimeoutMs: stepIdleTimeoutMs,
                                              stepPrefix: mode == .step ? params.strings("choices") : []))
        }
        self.context = RunContext(runID: id, experiment: experiment.id, params: params,
                                  recorder: recorder, control: control)
        // A private control: waiting for the outcome must not be interrupted by the run's own stop.
        self.finishedMonitor = Monitor(control: RunControl())
    }

    /// Starts the run on its own thread; `onEnd` is called last, on the scheduler thread.
    ///
    /// The order at the end is what clients rely on: the run's thread is joined, then
    /// the outcome is recorded (`onEnd`, `wait`), then the trace is finished (streams
    /// close). So a client that saw its stream close will find the run's final status,
    /// and by then no thread of the run is left.
    public func start(onEnd: @escaping @Sendable (RunOutcome) -> Void = { _ in }) {
        // After an idle period the tracer keeps only a few spare chunks: top them up on
        // the scheduler thread while the run starts, not on the run's traced threads.
        Scheduler.shared.after(ms: 0) { TracerMemory.prepare() }
        let thread = Mutex<TracedThread?>(nil)
        let gate = Monitor(control: RunControl())
        let runThread = TracedThread(name: "run-\(context.runID)") { [self] in
            // Wait until `thread` is stored, so the scheduler below can join it.
            gate.withLock { _ = try? gate.wait(until: { thread.withLock { $0 != nil } }) }
            let outcome = execute()
            Scheduler.shared.after(ms: 0) { [self] in
                thread.withLock { $0 }?.join()
                outcomeState.withLock { $0 = outcome }
                finishedMonitor.lockAndBroadcast()
                onEnd(outcome)
                recorder.finish()
            }
        }
        thread.withLock { $0 = runThread }
        gate.lockAndBroadcast()
    }

    /// Blocks until the run has ended.
    public func wait() -> RunOutcome {
        finishedMonitor.withLock {
            while outcomeState.withLock({ $0 }) == nil { _ = try? finishedMonitor.wait() }
        }
        return outcome!
    }

    /// Starts and waits: the whole run on a background thread, for tests and the CLI.
    public func runToEnd() -> RunOutcome {
        start()
        return wait()
    }

    private func execute() -> RunOutcome {
        let main = context.main
        let startNs = interleave_monotonic_ns()
        let schedule = control.schedule
        schedule?.registerRunning(main.name)
        main.emit("run.start", ["experiment": .string(experiment.id), "params": .object(context.params.values)])
        main.start()
        // A controlled schedule decides who runs and replays to the same trace: the kernel's
        // view (sampled, never the same twice) is left out of those runs.
        if schedule == nil { context.sched.start() }
        // A stepped run waits for its learner: its own idle timeout replaces the deadline.
        let deadline = schedule?.mode == .step
            ? nil : Scheduler.shared.after(ms: deadlineMs) { [control] in control.stop(.timedOut) }

        var summary = JSONObject()
        var failure: String?
        do {
            summary = try experiment.body(context)
        } catch is RunInterrupted {
            // The stop reason decides the status below.
        } catch {
            failure = "\(error)"
        }
        // Main's code is done: its lane ends here, as Python's main thread does, before
        // the interpreter waits for non-daemon threads and abandons daemon ones.
        main.end()
        schedule?.end(main.name)
        context.joinAll()
        // Every thread of the run is joined: the sampler takes its last look and is joined too.
        let sched = context.sched.stop()
        if let deadline { Scheduler.shared.cancel(deadline) }
        if failure == nil { failure = context.failures.withLock { $0.first } }
        if let schedule {
            schedule.finish()
            summary["schedule"] = JSONValue(schedule.choices)
            if let divergence = schedule.divergence { failure = divergence }
        }

        let status: RunStatus
        switch control.stopReason {
        case .cancelled?: status = .cancelled
        case .timedOut?: status = .timedOut
        case .deadlocked?: status = .deadlocked
        case .interrupted?: status = .interrupted
        case .failed?: status = .failed
        case .runEnded?, nil: status = failure == nil ? .completed : .failed
        }
        if summary["verdict"] == nil {
            summary["verdict"] = .string(schedule?.mode == .step && status == .timedOut
                ? "No step came for \(schedule!.idleTimeoutMs / 1000) s, so the stepped run ended; every thread was stopped and joined."
                : Self.defaultVerdict(status, failure: failure, deadlineMs: deadlineMs,
                                      children: context.childrenStarted))
        }
        if let failure { summary["error"] = .string(failure) }
        if summary["sched"] == nil, schedule == nil { summary["sched"] = .object(sched) }
        summary["durationMs"] = .double(Double((interleave_monotonic_ns() - startNs) / 1000) / 1000)
        // run.end and the final summary report the same tracer cost, counting run.end itself.
        let final = withTracer(summary)
        main.emit("run.end", ["status": .string(status.rawValue), "summary": .object(final)])
        return RunOutcome(status: status, summary: final)
    }

    /// The summary with `tracer`, counting the one event (run.end) about to be recorded.
    private func withTracer(_ summary: JSONObject) -> JSONObject {
        var copy = summary
        var cost = recorder.cost.objectValue ?? [:]
        let key = (cost["events"]?.intValue ?? 0) < recorder.capacity ? "events" : "dropped"
        cost[key] = .int((cost[key]?.intValue ?? 0) + 1)
        copy["tracer"] = .object(cost)
        return copy
    }

    private static func defaultVerdict(_ status: RunStatus, failure: String?, deadlineMs: Int, children: Int) -> String {
        let stopped = children > 0
            ? "every thread was stopped and joined, and the \(children) child process\(children == 1 ? " it started was" : "es it started were") ended and reaped"
            : "every thread was stopped and joined"
        return switch status {
        case .completed: "Completed."
        case .failed: "Failed: \(failure ?? "unknown error")."
        case .cancelled: "Cancelled before it finished; \(stopped)."
        case .timedOut: "Stopped at the \(deadlineMs) ms deadline; \(stopped)."
        case .deadlocked: "Deadlocked; the blocked waits were released and every thread unwound."
        case .interrupted: "Interrupted by the server shutting down."
        case .queued, .running: ""
        }
    }
}
