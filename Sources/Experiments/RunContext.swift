import CSystem
import JSON
import Primitives
import Synchronization
import Tracing

/// Everything an experiment's code sees of its run: its parameters, its trace, its
/// stop switch, and a way to start threads that the run will always join.
public final class RunContext: Sendable {
    public let runID: String
    public let experiment: String
    public let params: Parameters
    public let recorder: TraceRecorder
    public let control: RunControl
    /// The lane of the thread that runs the experiment's body.
    public let main: Lane
    /// What the kernel did with this run's threads and children (`sched.state`), sampled
    /// while the run is live; the runner starts and stops it.
    public let sched: SchedSampler

    private struct Spawned {
        let thread: TracedThread
        let daemon: Bool
    }

    private let threads = Mutex<[Spawned]>([])

    public init(runID: String, experiment: String, params: Parameters, recorder: TraceRecorder, control: RunControl) {
        self.runID = runID
        self.experiment = experiment
        self.params = params
        self.recorder = recorder
        self.control = control
        self.main = Lane("main", kind: .main, recorder: recorder)
        self.sched = SchedSampler(recorder: recorder)
    }

    public func lane(_ name: String, kind: Lane.Kind = .thread) -> Lane {
        Lane(name, kind: kind, recorder: recorder)
    }

    /// Starts a real thread on its own lane. It emits `lane.start` and `lane.end`
    /// (`lane.end {cutOff: true}` when the run stopped it). The run joins it before it
    /// ends: non-daemon threads are waited for, as Python waits for them at exit;
    /// daemon threads are cut off (their blocking calls throw `RunInterrupted`).
    /// An error other than `RunInterrupted` thrown by `body` fails the run.
    @discardableResult
    public func spawn(_ name: String, kind: Lane.Kind = .thread, daemon: Bool = false,
                      _ body: @escaping @Sendable (Lane) throws -> Void) -> TracedThread {
        let lane = lane(name, kind: kind)
        let schedule = control.schedule
        schedule?.register(name)
        let thread = TracedThread(name: name) { [self] in
            defer { schedule?.end(name) }
            do {
                try schedule?.attach(name)
            } catch {
                return  // stopped before the schedule ever let it start: it has no lane to end
            }
            do {
                lane.start()
                try body(lane)
                lane.end()
            } catch let interrupted as RunInterrupted {
                lane.emit("lane.end", ["cutOff": true, "reason": .string(interrupted.reason.rawValue)])
            } catch {
                lane.emit("lane.end", ["error": .string("\(error)")])
                failures.withLock { $0.append("\(name): \(error)") }
            }
        }
        if let schedule {
            thread.setJoinGate {
                if let joiner = schedule.currentLane() { schedule.join(joiner, target: name) }
            }
        }
        threads.withLock { $0.append(Spawned(thread: thread, daemon: daemon)) }
        return thread
    }

    /// Errors thrown by spawned threads, for the run's `failed` status.
    let failures = Mutex<[String]>([])

    /// Child processes this run started (counted by `processSupervisor()`), for the
    /// verdict of a run that was stopped.
    let childCount = Atomic<Int>(0)
    public var childrenStarted: Int { childCount.load(ordering: .relaxed) }

    /// Sleeps on `lane`, traced as `io.begin/io.end {op: "sleep"}`; a stopped run
    /// wakes it early with `RunInterrupted`.
    public func sleep(ms: Int, on lane: Lane? = nil) throws(RunInterrupted) {
        if control.schedule != nil {
            // A controlled schedule runs on virtual time: a sleep is one scheduling point.
            if let lane { try control.point(lane, "sleep", "\(ms) ms") }
            lane?.emit("io.begin", ["op": "sleep", "ms": .int(ms), "virtual": true])
            lane?.emit("io.end", ["op": "sleep"])
            return
        }
        lane?.emit("io.begin", ["op": "sleep", "ms": .int(ms)])
        let monitor = Monitor(control: control)
        let deadline = Monitor.deadline(afterMs: ms)
        try monitor.withLock { () throws(RunInterrupted) in
            while try monitor.wait(deadlineNs: deadline) {}
        }
        lane?.emit("io.end", ["op": "sleep"])
    }

    /// Busy CPU work for about `ms` milliseconds that notices a stopped run.
    public func spin(ms: Int) throws(RunInterrupted) {
        let deadline = Monitor.deadline(afterMs: ms)
        var x: UInt64 = 0x9E37_79B9
        while interleave_monotonic_ns() < deadline {
            for _ in 0..<10_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
            try control.check()
        }
        blackHole(x)
    }

    public func check() throws(RunInterrupted) { try control.check() }

    /// Joins every spawned thread: non-daemon ones first, then daemons after stopping
    /// the run with `.runEnded` (if it has not been stopped for another reason).
    func joinAll() {
        while true {
            let pending = threads.withLock { threads in
                let pending = threads
                threads.removeAll()
                return pending
            }
            if pending.isEmpty { return }
            for spawned in pending where !spawned.daemon { spawned.thread.join() }
            let daemons = pending.filter(\.daemon)
            if !daemons.isEmpty {
                control.stop(.runEnded)
                for spawned in daemons { spawned.thread.join() }
            }
        }
    }
}

@inline(never) func blackHole<T>(_ value: T) { _ = value }
