import JSON
import Primitives
import Synchronization
import Tracing

/// A fixed pool of real worker threads taking tasks from one FIFO queue — Python's
/// `ThreadPoolExecutor` with its futures and done-callbacks — traced as
/// `task.submit` → `task.start` (same `flow`) → `task.end` → `task.callback`.
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
        var running = 0
    }

    private let context: RunContext
    private let monitor: Monitor
    private let state = Mutex(State())
    public let workerLanes: [String]

    /// Starts `workers` threads named `\(prefix)-1` … on their own lanes.
    public init(context: RunContext, workers: Int, prefix: String = "worker") {
        self.context = context
        self.monitor = Monitor(control: context.control)
        self.workerLanes = (1...max(workers, 1)).map { "\(prefix)-\($0)" }
        for name in workerLanes {
            context.spawn(name) { [self] lane in try workLoop(lane) }
        }
    }

    /// Queues a task; `from` is the submitting lane.
    @discardableResult
    public func submit(task: Int, from lane: Lane, _ work: @escaping Work) -> TaskFuture {
        let flow = context.recorder.nextFlow()
        let future = TaskFuture(task: task, flow: flow, monitor: monitor)
        monitor.withLock {
            state.withLock { $0.queue.append(Pending(future: future, work: work)) }
            lane.emit(TaskNames.submit, flow: flow, TraceFields(TaskNames.task, .int(task)))
            monitor.broadcast()
        }
        return future
    }

    /// Stops taking tasks; with `wait`, blocks `lane` until every queued task is done
    /// (traced as `io.begin/io.end {op: "shutdown"}`).
    public func shutdown(wait: Bool, on lane: Lane) throws(RunInterrupted) {
        monitor.withLock {
            state.withLock { $0.shuttingDown = true }
            monitor.broadcast()
        }
        guard wait else { return }
        lane.emit("io.begin", ["op": "shutdown(wait=True)"])
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: { state.withLock { $0.head == $0.queue.count && $0.running == 0 } })
        }
        lane.emit("io.end", ["op": "shutdown(wait=True)"])
    }

    private func workLoop(_ lane: Lane) throws {
        while true {
            let next: Pending? = try monitor.withLock { () throws(RunInterrupted) -> Pending? in
                _ = try monitor.wait(until: { state.withLock { $0.head < $0.queue.count || $0.shuttingDown } })
                return state.withLock { state in
                    guard state.head < state.queue.count else { return nil }
                    let next = state.queue[state.head]
                    state.head += 1
                    state.running += 1
                    return next
                }
            }
            guard let next else { return }
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
            monitor.withLock {
                state.withLock { $0.running -= 1 }
                monitor.broadcast()
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

    init(task: Int, flow: Int, monitor: Monitor) {
        self.task = task
        self.flow = flow
        self.monitor = monitor
    }

    public var isDone: Bool { state.withLock { $0.result != nil } }

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
        monitor.lockAndBroadcast()
        for callback in callbacks { runCallback(callback, on: lane) }
    }

    private func runCallback(_ callback: @Sendable (TaskFuture, Lane) -> Void, on lane: Lane) {
        lane.emit(TaskNames.callback, TraceFields(TaskNames.task, .int(task)))
        callback(self, lane)
    }
}
