import JSON
import Primitives
import Synchronization
import Tracing

/// A fixed pool of real worker threads taking tasks from one FIFO queue — Python's
/// `ThreadPoolExecutor` with its futures and done-callbacks — traced as
/// `task.submit` → `task.start` (same `flow`) → `task.end` → `task.callback`.
///
/// Wake-ups are targeted, not broadcast: a submit wakes one idle worker only when no
/// woken worker is already on its way (busy workers take the next task themselves
/// when they finish one), and a completion wakes only the lanes waiting for that
/// future, or for the pool to drain. So a stream of short tasks costs no futex
/// wake-ups at all while every worker is busy.
public final class TaskPool: Sendable {
    public typealias Work = @Sendable (Lane) throws -> JSONValue

    private struct Pending {
        let future: TaskFuture
        let work: Work
    }

    private struct State {
        var queue: [Pending] = []
        var head = 0
        var shuttingDown = false
        /// Workers waiting in `taskMonitor` for a task, and signals sent to them not yet
        /// consumed: a submit signals only when `idle > wakes`.
        var idle = 0
        var wakes = 0
    }

    private let context: RunContext
    /// Idle workers wait here for a task.
    private let taskMonitor: Monitor
    /// Lanes waiting for a result or for `shutdown(wait: true)` wait here.
    private let doneMonitor: Monitor
    private let state = Mutex(State())
    /// Tasks submitted and not yet completed (their callbacks run).
    private let unfinished = Atomic<Int>(0)
    /// Lanes waiting in `shutdown(wait: true)` for `unfinished` to reach 0.
    private let drainWaiters = Atomic<Int>(0)
    public let workerLanes: [String]

    /// Starts `workers` threads named `\(prefix)-1` … on their own lanes.
    public init(context: RunContext, workers: Int, prefix: String = "worker") {
        self.context = context
        self.taskMonitor = Monitor(control: context.control)
        self.doneMonitor = Monitor(control: context.control)
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
            guard state.idle > state.wakes else { return false }
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

    /// The next task for a worker, waiting while the queue is empty; nil once the
    /// pool shuts down with nothing left.
    private func take() throws(RunInterrupted) -> Pending? {
        try taskMonitor.withLock { () throws(RunInterrupted) -> Pending? in
            while true {
                let (next, stop): (Pending?, Bool) = state.withLock { state in
                    if state.head < state.queue.count {
                        let next = state.queue[state.head]
                        state.head += 1
                        // Let go of finished entries now and then, so a long run does not keep them all.
                        if state.head >= 1024 && state.head * 2 >= state.queue.count {
                            state.queue.removeFirst(state.head)
                            state.head = 0
                        }
                        return (next, false)
                    }
                    if state.shuttingDown { return (nil, true) }
                    state.idle += 1
                    return (nil, false)
                }
                if let next { return next }
                if stop { return nil }
                defer {
                    state.withLock { state in
                        state.idle -= 1
                        state.wakes = max(0, state.wakes - 1)
                    }
                }
                try taskMonitor.wait()
            }
        }
    }

    private func workLoop(_ lane: Lane) throws {
        while let next = try take() {
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
}

/// The pool's event and field names, interned once for the tracer's fast path.
enum TaskNames {
    static let submit = TraceName("task.submit"), start = TraceName("task.start"), end = TraceName("task.end")
    static let callback = TraceName("task.callback"), task = TraceName("task"), result = TraceName("result")
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
        lane.emit("io.begin", ["op": "result", "task": .int(task)])
        try monitor.withLock { () throws(RunInterrupted) in
            waiters.add(1, ordering: .sequentiallyConsistent)
            defer { waiters.subtract(1, ordering: .sequentiallyConsistent) }
            _ = try monitor.wait(until: { isDone })
        }
        lane.emit("io.end", ["op": "result", "task": .int(task)])
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
