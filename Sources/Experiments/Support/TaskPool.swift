import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

/// A fixed pool of real worker threads taking tasks from one FIFO queue — Python's
/// `ThreadPoolExecutor` with its futures and done-callbacks — traced as
/// `task.submit` → `task.start` (same `flow`) → `task.end` → `task.callback`.
///
/// Wake-ups are targeted, not broadcast, and avoided where a thread is already looking:
/// - a worker that finishes a task takes the next one itself, under one short lock;
/// - a worker that finds the queue empty first looks again for a few microseconds
///   (yielding its CPU between looks) before it sleeps — the *spinning* worker. While one
///   spins, a submit wakes nobody: the spinner takes the task. (Not in a run with a
///   controlled schedule: there a waiting worker parks with the schedule at once.)
/// - otherwise a submit wakes one sleeping worker, only when no woken worker is already
///   on its way; and a worker that got a task by spinning or by being woken wakes the next
///   sleeper if more tasks are queued, so queued tasks never wait while a worker sleeps;
/// - a completion wakes only the lanes waiting for that future, or for the pool to drain.
///
/// Tasks are taken one at a time, as Python's workers do — except by a worker whose last
/// task ran for less than `shortTaskNs`: it takes up to half of the queue (at most
/// `batchMax`) under one lock and runs them in order, so a stream of near no-op tasks
/// costs a lock hand-off per batch, not per task. A task longer than that ends the
/// batching at once, so the lesson's long tasks still spread over the workers exactly as
/// before. Each task is still traced on its own: submit → start (same flow) → end.
public final class TaskPool: Sendable {
    public typealias Work = @Sendable (Lane) throws -> JSONValue

    private struct Pending {
        let future: TaskFuture
        let work: Work
    }

    private struct State {
        /// Taken slots are moved out (nil), so taking releases nothing under the lock.
        var queue: [Pending?] = []
        var head = 0
        var shuttingDown = false
        /// Workers asleep in `taskMonitor`, and signals sent to them not yet consumed:
        /// a submit signals only when `idle > wakes` and nobody spins.
        var idle = 0
        var wakes = 0
        /// Workers looking for a task before they sleep (at most one at a time).
        var spinning = 0

        var queued: Int { queue.count - head }

        mutating func pop() -> Pending? {
            guard head < queue.count else { return nil }
            let next = queue[head].take()
            head += 1
            // Drop the taken (empty) slots now and then, so a long run does not keep them all.
            if head >= 1024 && head * 2 >= queue.count {
                queue.removeFirst(head)
                head = 0
            }
            return next
        }

        /// Up to `limit` tasks, in queue order, into `batch`.
        mutating func pop(upTo limit: Int, into batch: inout [Pending]) {
            for _ in 0..<min(limit, queued) {
                guard let next = pop() else { return }
                batch.append(next)
            }
        }

        /// After a take by a worker that was spinning or just woken: whether it should
        /// wake a sleeper for the tasks still queued (no one else is looking).
        mutating func shouldWakeNext() -> Bool {
            guard queued > 0, spinning == 0, idle > wakes else { return false }
            wakes += 1
            return true
        }
    }

    private let context: RunContext
    /// Idle workers wait here for a task.
    private let taskMonitor: Monitor
    /// Lanes waiting for a result or for `shutdown(wait: true)` wait here.
    private let doneMonitor: Monitor
    private let state = Mutex(State())
    /// Tasks queued and not yet taken, readable without the lock (what a spinner polls).
    private let available = Atomic<Int>(0)
    /// Tasks submitted and not yet completed (their callbacks run).
    private let unfinished = Atomic<Int>(0)
    /// Lanes waiting in `shutdown(wait: true)` for `unfinished` to reach 0.
    private let drainWaiters = Atomic<Int>(0)
    /// Looks a spinning worker takes (each after a sched_yield) before it sleeps; 0 in a
    /// controlled run.
    private let spinLooks: Int
    /// A task that ran for less than this lets its worker take a batch next time.
    static let shortTaskNs: UInt64 = 50_000
    static let batchMax = 16
    private let batching: Bool
    public let workerLanes: [String]

    /// Starts `workers` threads named `\(prefix)-1` … on their own lanes.
    public init(context: RunContext, workers: Int, prefix: String = "worker") {
        self.context = context
        self.taskMonitor = Monitor(control: context.control)
        self.doneMonitor = Monitor(control: context.control)
        // A controlled schedule replays the same trace: no timing-dependent spinning or batching.
        self.spinLooks = context.control.schedule == nil ? 64 : 0
        self.batching = context.control.schedule == nil
        self.workerLanes = (1...max(workers, 1)).map { "\(prefix)-\($0)" }
        for name in workerLanes {
            context.spawn(name) { [self] lane in try workLoop(lane) }
        }
    }

    /// Queues a task; `from` is the submitting lane.
    @discardableResult
    public func submit(task: Int, from lane: Lane, _ work: @escaping Work) -> TaskFuture {
        let flow = context.recorder.nextFlow()
        let future = TaskFuture(task: task, flow: flow, monitor: doneMonitor)
        unfinished.add(1, ordering: .sequentiallyConsistent)
        // Traced before the task is visible to the workers, so its task.start always follows it.
        lane.emit(TaskNames.submit, flow: flow, TraceFields(TaskNames.task, .int(task)))
        let wake = state.withLock { state in
            state.queue.append(Pending(future: future, work: work))
            available.add(1, ordering: .releasing)
            guard state.spinning == 0, state.idle > state.wakes else { return false }
            state.wakes += 1
            return true
        }
        // Under the monitor's lock: a worker that just counted itself idle is then
        // already inside its wait, so the signal cannot be lost.
        if wake { taskMonitor.withLock { taskMonitor.signal() } }
        return future
    }

    /// Stops taking tasks; with `wait`, blocks `lane` until every queued task is done
    /// (traced as `io.begin/io.end {op: "shutdown"}`).
    public func shutdown(wait: Bool, on lane: Lane) throws(RunInterrupted) {
        state.withLock { $0.shuttingDown = true }
        taskMonitor.lockAndBroadcast()
        guard wait else { return }
        lane.emit("io.begin", ["op": "shutdown(wait=True)"])
        try doneMonitor.withLock { () throws(RunInterrupted) in
            drainWaiters.add(1, ordering: .sequentiallyConsistent)
            defer { drainWaiters.subtract(1, ordering: .sequentiallyConsistent) }
            _ = try doneMonitor.wait(until: { unfinished.load(ordering: .sequentiallyConsistent) == 0 })
        }
        lane.emit("io.end", ["op": "shutdown(wait=True)"])
    }

    /// The next task for a worker (with `batch`, after a short task: up to half of the
    /// queue, into `batch`): taken at once if one is queued, else after spinning, else
    /// after sleeping; nil once the pool shuts down with nothing left.
    private func take(batch: inout [Pending], short: Bool) throws(RunInterrupted) -> Pending? {
        // The common case while tasks stream in: one short lock, no monitor.
        let (next, spin): (Pending?, Bool) = state.withLock { state in
            if let next = state.pop() {
                if short, state.queued > 1 {
                    state.pop(upTo: min(Self.batchMax - 1, state.queued / 2), into: &batch)
                }
                available.subtract(1 + batch.count, ordering: .relaxed)
                return (next, false)
            }
            guard !state.shuttingDown, spinLooks > 0, state.spinning == 0 else { return (nil, false) }
            state.spinning += 1
            return (nil, true)
        }
        if let next { return next }
        if spin, let next = try spinForTask() { return next }
        return try sleepForTask()
    }

    /// Looks for a task a few times, yielding the CPU in between, while counted as the
    /// spinning worker; nil (no longer spinning) if none came.
    private func spinForTask() throws(RunInterrupted) -> Pending? {
        for _ in 0..<spinLooks {
            sched_yield()
            if available.load(ordering: .acquiring) > 0 { break }
        }
        let (next, wakeNext): (Pending?, Bool) = state.withLock { state in
            state.spinning -= 1
            guard let next = state.pop() else { return (nil, false) }
            available.subtract(1, ordering: .relaxed)
            return (next, state.shouldWakeNext())
        }
        if wakeNext { taskMonitor.withLock { taskMonitor.signal() } }
        try context.control.check()
        return next
    }

    /// Sleeps in `taskMonitor` until a task is queued (or the pool shuts down).
    private func sleepForTask() throws(RunInterrupted) -> Pending? {
        try taskMonitor.withLock { () throws(RunInterrupted) -> Pending? in
            var woken = false
            while true {
                let (next, stop, wakeNext): (Pending?, Bool, Bool) = state.withLock { state in
                    if let next = state.pop() {
                        available.subtract(1, ordering: .relaxed)
                        return (next, false, woken && state.shouldWakeNext())
                    }
                    if state.shuttingDown { return (nil, true, false) }
                    state.idle += 1
                    return (nil, false, false)
                }
                if let next {
                    // The monitor's lock is held: signal directly.
                    if wakeNext { taskMonitor.signal() }
                    return next
                }
                if stop { return nil }
                defer {
                    state.withLock { state in
                        state.idle -= 1
                        state.wakes = max(0, state.wakes - 1)
                    }
                }
                try taskMonitor.wait()
                woken = true
            }
        }
    }

    private func workLoop(_ lane: Lane) throws {
        var batch: [Pending] = []
        batch.reserveCapacity(Self.batchMax)
        var taken = 0
        var short = false
        while true {
            let next: Pending
            if taken < batch.count {
                next = batch[taken]
                taken += 1
            } else {
                batch.removeAll(keepingCapacity: true)
                taken = 0
                guard let first = try take(batch: &batch, short: short) else { return }
                next = first
            }
            let began = interleave_clock_ns()
            try run(next, on: lane)
            short = batching && interleave_clock_ns() &- began < Self.shortTaskNs
            if !short, taken < batch.count {
                // A long task: hand the rest of the batch back to the queue's front, so an
                // idle worker can take them, as if they had never been taken.
                giveBack(batch[taken...])
                batch.removeAll(keepingCapacity: true)
                taken = 0
            }
        }
    }

    /// Puts taken tasks back at the front of the queue, in order, and wakes a sleeper for
    /// them if nobody is looking.
    private func giveBack(_ tasks: ArraySlice<Pending>) {
        let wake = state.withLock { state in
            state.queue.insert(contentsOf: tasks.map(Optional.some), at: state.head)
            available.add(tasks.count, ordering: .releasing)
            return state.shouldWakeNext()
        }
        if wake { taskMonitor.withLock { taskMonitor.signal() } }
    }

    private func run(_ next: Pending, on lane: Lane) throws {
        let future = next.future
        lane.emit(TaskNames.start, flow: future.flow, TraceFields(TaskNames.task, .int(future.task)))
        let result: Result<JSONValue, any Error>
        do { result = .success(try next.work(lane)) } catch { result = .failure(error) }
        if case .failure(let error as RunInterrupted) = result { throw error }
        switch result {
        // The fast path for results it can hold inline; anything else as an object.
        case .success(.int(let value)):
            lane.emit(TaskNames.end, TraceFields(TaskNames.task, .int(future.task), TaskNames.result, .int(value)))
        case .success(.bool(let value)):
            lane.emit(TaskNames.end, TraceFields(TaskNames.task, .int(future.task), TaskNames.result, .bool(value)))
        case .success(.null):
            lane.emit(TaskNames.end, TraceFields(TaskNames.task, .int(future.task), TaskNames.result, .null))
        default:
            var end: JSONObject = ["task": .int(future.task)]
            if case .success(let value) = result { end["result"] = value }
            if case .failure(let error) = result { end["error"] = .string("\(error)") }
            lane.emit("task.end", end)
        }
        future.complete(result, on: lane)
        // The last task done wakes whoever waits in shutdown(wait: true), and only them.
        if unfinished.subtract(1, ordering: .sequentiallyConsistent).newValue == 0,
           drainWaiters.load(ordering: .sequentiallyConsistent) > 0 {
            doneMonitor.lockAndBroadcast()
        }
    }
}

/// The pool's event and field names, interned once for the tracer's fast path.
enum TaskNames {
    static let submit = TraceName("task.submit"), start = TraceName("task.start"), end = TraceName("task.end")
    static let callback = TraceName("task.callback"), task = TraceName("task"), result = TraceName("result")
    static let ioBegin = TraceName("io.begin"), ioEnd = TraceName("io.end"), op = TraceName("op")
}

/// The result of a submitted task, as `concurrent.futures.Future`.
public final class TaskFuture: Sendable {
    public let task: Int
    public let flow: Int
    private let monitor: Monitor

    private struct State {
        var result: Result<JSONValue, any Error>?
        var callbacks: [@Sendable (TaskFuture, Lane) -> Void] = []
    }

    private let state = Mutex(State())
    /// Set once the result is in; with `waiters`, lets `complete` skip the wake-up when
    /// nobody waits (both seq-cst: a waiter either sees `done` or is seen waiting).
    private let done = Atomic<Bool>(false)
    private let waiters = Atomic<Int>(0)

    init(task: Int, flow: Int, monitor: Monitor) {
        self.task = task
        self.flow = flow
        self.monitor = monitor
    }

    public var isDone: Bool { done.load(ordering: .sequentiallyConsistent) }

    /// The value, once done (nil before, or if the task threw).
    public var value: JSONValue? {
        state.withLock { state in
            if case .success(let value)? = state.result { return value }
            return nil
        }
    }

    /// Blocks `lane` until the task is done (traced as `io.begin/io.end {op: "result"}`),
    /// then returns its value or rethrows its error.
    public func result(on lane: Lane) throws -> JSONValue {
        if let done = state.withLock({ $0.result }) { return try done.get() }
        lane.emit(TaskNames.ioBegin, TraceFields(TaskNames.op, .name(TaskNames.result), TaskNames.task, .int(task)))
        try monitor.withLock { () throws(RunInterrupted) in
            waiters.add(1, ordering: .sequentiallyConsistent)
            defer { waiters.subtract(1, ordering: .sequentiallyConsistent) }
            _ = try monitor.wait(until: { isDone })
        }
        lane.emit(TaskNames.ioEnd, TraceFields(TaskNames.op, .name(TaskNames.result), TaskNames.task, .int(task)))
        return try state.withLock { $0.result! }.get()
    }

    /// Runs `callback` when the task completes, on the thread that completes it; if
    /// it is already done, at once on the calling thread (`lane`), as Python does.
    public func addDoneCallback(on lane: Lane, _ callback: @escaping @Sendable (TaskFuture, Lane) -> Void) {
        let runNow = state.withLock { state in
            if state.result != nil { return true }
            state.callbacks.append(callback)
            return false
        }
        if runNow { runCallback(callback, on: lane) }
    }

    func complete(_ result: Result<JSONValue, any Error>, on lane: Lane) {
        let callbacks = state.withLock { state in
            state.result = result
            let callbacks = state.callbacks
            state.callbacks = []
            return callbacks
        }
        done.store(true, ordering: .sequentiallyConsistent)
        if waiters.load(ordering: .sequentiallyConsistent) > 0 { monitor.lockAndBroadcast() }
        for callback in callbacks { runCallback(callback, on: lane) }
    }

    private func runCallback(_ callback: @Sendable (TaskFuture, Lane) -> Void, on lane: Lane) {
        lane.emit(TaskNames.callback, TraceFields(TaskNames.task, .int(task)))
        callback(self, lane)
    }
}
