import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

/// `multiprocessing.Pool(W)` / `ProcessPoolExecutor(W)`: W long-lived worker
/// processes fed from one shared task queue — whichever worker is free takes the next
/// task, as in Python — results sent back to the parent, and done-callbacks (only
/// for the calls that take one) run in the parent on one result-handler thread, as
/// Python's Pool runs them on its result thread.
///
/// A worker gets its next task only when it has sent back the last one's result, so
/// at most W tasks ever run at once; which pid runs which task depends on who frees
/// up first, so pid reuse shows in whatever order the workers finish.
///
/// `map` hands tasks out in chunks, as Python's `Pool.map` does (chunksize
/// ceil(T / 4W) by default): a free worker takes a whole chunk, runs its tasks one
/// after another, and sends their results back together. Each task is still traced
/// on its own (`task.submit {chunk}` → `task.start` → `task.end`).
final class ProcessPool: Sendable {
    struct Completed: Sendable {
        let task: Int
        let value: JSONValue
        let pid: Int32
    }

    typealias Callback = @Sendable (Completed, Lane) -> Void

    private struct Pending {
        let task: Int
        let message: JSONObject
        let callback: Callback?
        var worker: Int32?
        var result: Completed?
    }

    private struct State {
        var children: [ChildProcess] = []
        var idle: [Int32] = []
        /// Chunks of tasks, each handed to one worker at once (one task each, but for map).
        var queue: [[Int]] = []
        var queueHead = 0
        var tasks: [Int: Pending] = [:]
        var order: [Int] = []
        /// Chunks handed out and not yet back: the workers busy.
        var inFlight = 0
        var peakInFlight = 0
        var closed = false
        var abandoned = false
        var callbacksPending = 0
        var callbackQueue: [Int] = []
        /// Workers that said `{"ctl": "ready"}` (pool workers do, once up).
        var ready = 0
        var queued: Int { queue.count - queueHead }
    }

    let run: RunContext
    let supervisor: ProcessSupervisor
    let workers: Int
    private let state: Mutex<State>
    private let monitor: Monitor
    /// The parent's result-handler thread, which runs every callback.
    let resultLane: String

    /// Starts `workers` pool processes (`worker-1 (pid N)` …) and the result thread.
    /// `fds` are passed to every worker (e.g. the shared lock at fd 4); `kind` is the
    /// worker's code (`interleave worker KIND`), which must answer like `poolWorker`.
    init(run: RunContext, supervisor: ProcessSupervisor, workers: Int, from lane: Lane,
         prefix: String = "worker", resultLane: String = "result-handler",
         fds: [(child: Int32, parent: Int32)] = [], kind: String = "pool") throws {
        self.run = run
        self.supervisor = supervisor
        self.workers = workers
        self.resultLane = resultLane
        self.monitor = Monitor(control: run.control)
        self.state = Mutex(State())
        for index in 0..<workers {
            let child = try supervisor.spawn(name: "\(prefix)-\(index + 1)", kind: kind,
                                             arguments: fds.isEmpty ? [] : ["--shared", "true"], fds: fds, input: true,
                                             from: lane) { [weak self] child, message in
                self?.received(message, from: child)
            }
            state.withLock {
                $0.children.append(child)
                $0.idle.append(child.pid)
            }
        }
        run.spawn(resultLane) { [self] lane in try resultLoop(lane) }
    }

    /// `apply_async(work, (task,), callback=…)` / `submit(work, task)`: queues
    /// `message` (sent to the worker as is, plus `task` and `flow`), traced as
    /// `task.submit` on `lane`. A free worker takes it at once; else it waits in the
    /// shared queue for the first worker to free up.
    @discardableResult
    func submit(task: Int, message: JSONObject, from lane: Lane, callback: Callback? = nil) -> Int {
        submit(chunk: [(task, message)], from: lane, callback: callback)[0]
    }

    /// `map`'s hand-over: queues `tasks` as one chunk that a single free worker takes
    /// whole; each task is traced as its own `task.submit {task, chunk}` with its own
    /// flow. Returns the flows.
    @discardableResult
    func submit(chunk tasks: [(task: Int, message: JSONObject)], index: Int? = nil, from lane: Lane,
                callback: Callback? = nil) -> [Int] {
        guard !tasks.isEmpty else { return [] }
        var flows: [Int] = []
        let toSend: (ChildProcess, JSONObject)? = state.withLock { state in
            for (task, message) in tasks {
                let flow = run.recorder.nextFlow()
                flows.append(flow)
                var full = message
                full["task"] = .int(task)
                full["flow"] = .int(flow)
                state.tasks[task] = Pending(task: task, message: full, callback: callback)
                state.order.append(task)
                if callback != nil { state.callbacksPending += 1 }
                if let index {
                    lane.emit(ProcessPoolNames.submit, flow: flow,
                              TraceFields(ProcessPoolNames.task, .int(task), ProcessPoolNames.chunk, .int(index)))
                } else {
                    lane.emit("task.submit", flow: flow, ["task": .int(task), "queued": .int(state.queued + 1)])
                }
            }
            state.queue.append(tasks.map(\.task))
            // The longest-idle worker first, as the kernel wakes readers of a shared pipe.
            guard !state.idle.isEmpty else { return nil }
            let pid = state.idle.removeFirst()
            return dispatch(to: pid, &state)
        }
        if let (child, message) = toSend { child.send(message) }
        return flows
    }

    /// Hands the next queued chunk to the free worker `pid`: one task as its message,
    /// several as `{"chunk": [message, …]}`. Call with the state locked.
    private func dispatch(to pid: Int32, _ state: inout State) -> (ChildProcess, JSONObject)? {
        guard state.queueHead < state.queue.count, let child = state.children.first(where: { $0.pid == pid }) else {
            state.idle.append(pid)
            return nil
        }
        let chunk = state.queue[state.queueHead]
        state.queueHead += 1
        if state.queueHead > 1024 && state.queueHead * 2 > state.queue.count {
            state.queue.removeFirst(state.queueHead)
            state.queueHead = 0
        }
        for task in chunk { state.tasks[task]?.worker = pid }
        state.inFlight += 1
        state.peakInFlight = max(state.peakInFlight, state.inFlight)
        if chunk.count == 1 { return (child, state.tasks[chunk[0]]!.message) }
        return (child, ["chunk": .array(chunk.map { .object(state.tasks[$0]!.message) })])
    }

    /// A worker's `{"ctl": "result", task, value}` (or, for a chunk, `{"ctl": "results",
    /// tasks, values}`), on the supervisor thread: the worker is free again and takes
    /// the next queued chunk.
    private func received(_ message: JSONObject, from child: ChildProcess) {
        if message["ctl"] == "ready" {
            state.withLock { $0.ready += 1 }
            monitor.lockAndBroadcast()
            return
        }
        let results: [(Int, JSONValue)]
        if message["ctl"] == "result", let task = message["task"]?.intValue {
            results = [(task, message["value"] ?? .null)]
        } else if message["ctl"] == "results", let tasks = message["tasks"]?.arrayValue,
                  let values = message["values"]?.arrayValue, tasks.count == values.count {
            results = zip(tasks, values).compactMap { task, value in task.intValue.map { ($0, value) } }
        } else {
            return
        }
        let next: (ChildProcess, JSONObject)? = state.withLock { state in
            state.inFlight -= 1
            for (task, value) in results {
                state.tasks[task]?.result = Completed(task: task, value: value, pid: child.pid)
                if state.tasks[task]?.callback != nil { state.callbackQueue.append(task) }
            }
            return dispatch(to: child.pid, &state)
        }
        if let (child, message) = next { child.send(message) }
        monitor.lockAndBroadcast()
    }

    /// The result handler: runs each callback in the parent as results arrive.
    private func resultLoop(_ lane: Lane) throws {
        while true {
            let next: (Int, Callback, Completed)? = try monitor.withLock { () throws(RunInterrupted) in
                _ = try monitor.wait(until: {
                    state.withLock {
                        $0.abandoned || $0.callbackQueue.count > 0 || ($0.closed && $0.callbacksPending == 0)
                    }
                })
                return state.withLock { state in
                    guard !state.abandoned, !state.callbackQueue.isEmpty else { return nil }
                    let task = state.callbackQueue.removeFirst()
                    let pending = state.tasks[task]!
                    return (task, pending.callback!, pending.result!)
                }
            }
            guard let (task, callback, completed) = next else { return }
            lane.emit("task.callback", ["task": .int(task)])
            callback(completed, lane)
            state.withLock { $0.callbacksPending -= 1 }
            monitor.lockAndBroadcast()
        }
    }

    /// Blocks `lane` until every worker process is up (has started and said so), so
    /// that what is timed next is the tasks, not the processes' start-up. Only for
    /// workers that answer like `poolWorker`.
    func waitUntilReady(on lane: Lane) throws(RunInterrupted) {
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: { state.withLock { $0.ready >= workers || $0.abandoned } })
        }
    }

    /// `AsyncResult.get()` / `Future.result()`: blocks `lane` until the task's result is back.
    func result(of task: Int, on lane: Lane) throws(RunInterrupted) -> Completed {
        if let done = state.withLock({ $0.tasks[task]?.result }) { return done }
        lane.emit("io.begin", ["op": "get", "task": .int(task)])
        let completed = try monitor.withLock { () throws(RunInterrupted) -> Completed in
            _ = try monitor.wait(until: { state.withLock { $0.tasks[task]?.result != nil } })
            return state.withLock { $0.tasks[task]!.result! }
        }
        lane.emit("io.end", ["op": "get", "task": .int(task)])
        return completed
    }

    /// `close()` then `join()` (or `shutdown(wait=True)`): no more tasks; wait until
    /// every task is done and its callback has run, then let the workers exit (their
    /// stdin closes) and join them.
    func closeAndJoin(on lane: Lane, op: String = "pool.join") throws(RunInterrupted) {
        state.withLock { $0.closed = true }
        monitor.lockAndBroadcast()
        lane.emit("io.begin", ["op": .string(op)])
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: {
                state.withLock { $0.callbacksPending == 0 && $0.inFlight == 0 && $0.queued == 0 }
            })
        }
        let children = state.withLock { $0.children }
        for child in children { child.closeInput() }
        for child in children { try supervisor.join(child, on: lane) }
        lane.emit("io.end", ["op": .string(op)])
    }

    /// Lets the result thread end even though tasks are unfinished (the run failed
    /// or was stopped); call it in a `defer`.
    func abandon() {
        state.withLock { $0.abandoned = true }
        monitor.lockAndBroadcast()
    }

    var peakInFlight: Int { state.withLock { $0.peakInFlight } }
    var workerPids: [Int32] { state.withLock { $0.children.map(\.pid) } }

    /// Every finished task, in submission order.
    var completed: [Completed] { state.withLock { state in state.order.compactMap { state.tasks[$0]?.result } } }

    /// What a worker that died took with it: the task it was running, and the tasks
    /// submitted that never came back.
    func lostWork(to pid: Int32) -> (running: [Int], unfinished: Int, submitted: Int) {
        state.withLock { state in
            let running = state.order.filter { state.tasks[$0]?.worker == pid && state.tasks[$0]?.result == nil }
            let unfinished = state.order.filter { state.tasks[$0]?.result == nil }.count
            return (running, unfinished, state.order.count)
        }
    }
}

/// `pool`: a pool worker: takes `{"task", "flow", "ms", "lock"?}` lines from stdin,
/// works (holding the shared lock at fd 4 if asked), answers `{"ctl": "result"}`,
/// until stdin closes.
@Sendable func poolWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    lane.start()
    // Up and reading: the parent may wait for this before it starts the clock.
    lane.trace.send(["ctl": "ready"])
    let memory = worker.bool("shared") ? worker.sharedMemory() : nil
    let lock = memory.map { ProcessLock(at: $0.base) }
    let reader = Worker.LineReader()
    while let message = reader.next() {
        if let chunk = message["chunk"]?.arrayValue {
            // map's chunk: its tasks one after another, their events written in batches,
            // and all their results sent back together (as Pool.map's worker does).
            let (tasks, values) = lane.trace.batched {
                var tasks: [JSONValue] = [], values: [JSONValue] = []
                for case .object(let message) in chunk {
                    guard let task = message["task"]?.intValue else { continue }
                    tasks.append(.int(task))
                    values.append(runPoolTask(task, message, lane: lane, worker: worker, lock: lock))
                }
                return (tasks, values)
            }
            lane.trace.send(["ctl": "results", "tasks": .array(tasks), "values": .array(values)])
            continue
        }
        guard let task = message["task"]?.intValue else { continue }
        let value = runPoolTask(task, message, lane: lane, worker: worker, lock: lock)
        lane.trace.send(["ctl": "result", "task": .int(task), "value": value])
    }
    lane.log("stdin closed: the pool is closing, worker exits")
    lane.end()
    withExtendedLifetime(memory) {}
    return 0
}

/// One pool task in the worker: traced start, the work (under the shared lock if
/// asked), traced end; returns its result.
private func runPoolTask(_ task: Int, _ message: JSONObject, lane: WorkerLane, worker: Worker,
                     lock: ProcessLock?) -> JSONValue {
    let flow = message["flow"]?.intValue
    lane.emit("task.start", flow: flow, ["task": .int(task)])
    let locked = message["lock"] == true && lock != nil
    if locked, let lock {
        if !lock.tryLock() {
            lane.emit("lock.wait", ["lock": "lock"])
            lane.trace.flushBatch()  // what happened so far is seen while it waits
            _ = lock.lock()
        }
        lane.emit("lock.acquire", ["lock": "lock"])
    }
    let ms = message["ms"]?.intValue ?? 0
    if ms > 0 {
        lane.trace.flushBatch()
        worker.sleep(ms: ms)
    }
    if locked, let lock {
        lane.emit("lock.release", ["lock": "lock"])
        lock.unlock()
    }
    let value = JSONValue.string("task \(task) done by pid \(getpid())")
    lane.emit("task.end", ["task": .int(task), "result": value])
    return value
}

/// The pool's event and field names, interned once for the tracer's fast path.
enum ProcessPoolNames {
    static let submit = TraceName("task.submit"), task = TraceName("task"), chunk = TraceName("chunk")
}
