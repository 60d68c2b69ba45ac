import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

/// `multiprocessing.Pool(W)`: W long-lived worker processes that take tasks one at a
/// time, results sent back to the parent, and done-callbacks run in the parent on
/// one result-handler thread — as Python's Pool runs them on its result thread.
///
/// Tasks are handed out in turn (task k of the pool goes to worker k mod W) and a
/// worker gets its next task only when it has sent back the last one's result, so
/// at most W tasks ever run at once and, with equal durations, tasks 0, W, 2W … share
/// a pid: the same process reused.
final class ProcessPool: Sendable {
    struct Completed: Sendable {
        let task: Int
        let value: JSONValue
        let pid: Int32
    }

    typealias Callback = @Sendable (Completed, Lane) -> Void

    private struct Slot {
        var child: ChildProcess?
        var backlog: [Int] = []
        var busy: Int?
    }

    private struct Pending {
        let task: Int
        let flow: Int
        let message: JSONObject
        var callback: Callback?
        var result: Completed?
        var callbackDone = false
    }

    private struct State {
        var slots: [Slot]
        var tasks: [Int: Pending] = [:]
        var order: [Int] = []
        var submitted = 0
        var inFlight = 0
        var peakInFlight = 0
        var closed = false
        var abandoned = false
        var callbacksDone = 0
        var allCallbacksDone: Bool { callbacksDone == tasks.count }
        var callbackQueue: [Int] = []
    }

    let run: RunContext
    let supervisor: ProcessSupervisor
    let workers: Int
    private let state: Mutex<State>
    private let monitor: Monitor
    /// The parent's result-handler thread, which runs every callback.
    let resultLane: String

    /// Starts `workers` pool processes (`worker-1 (pid N)` …) and the result thread.
    init(run: RunContext, supervisor: ProcessSupervisor, workers: Int, from lane: Lane,
         prefix: String = "worker", resultLane: String = "result-handler") throws {
        self.run = run
        self.supervisor = supervisor
        self.workers = workers
        self.resultLane = resultLane
        self.monitor = Monitor(control: run.control)
        self.state = Mutex(State(slots: Array(repeating: Slot(), count: workers)))
        for index in 0..<workers {
            let child = try supervisor.spawn(name: "\(prefix)-\(index + 1)", kind: "pool", input: true, from: lane) {
                [weak self] child, message in self?.received(message, from: child)
            }
            state.withLock { $0.slots[index].child = child }
        }
        run.spawn(resultLane) { [self] lane in try resultLoop(lane) }
    }

    /// `apply_async(work, (task,), callback=…)`: queues `message` (sent to the worker
    /// as is, plus `task` and `flow`), traced as `task.submit` on `lane`.
    @discardableResult
    func submit(task: Int, message: JSONObject, from lane: Lane, callback: Callback? = nil) -> Int {
        let flow = run.recorder.nextFlow()
        var full = message
        full["task"] = .int(task)
        full["flow"] = .int(flow)
        let toSend: (ChildProcess, JSONObject)? = state.withLock { state in
            state.tasks[task] = Pending(task: task, flow: flow, message: full, callback: callback)
            state.order.append(task)
            let slot = state.submitted % workers
            state.submitted += 1
            state.slots[slot].backlog.append(task)
            lane.emit("task.submit", flow: flow, ["task": .int(task), "worker": .int(slot + 1)])
            return dispatch(slot, &state)
        }
        if let (child, message) = toSend { child.send(message) }
        return flow
    }

    /// Takes the slot's next task if it is idle. Call with the state locked.
    private func dispatch(_ slot: Int, _ state: inout State) -> (ChildProcess, JSONObject)? {
        guard state.slots[slot].busy == nil, !state.slots[slot].backlog.isEmpty,
              let child = state.slots[slot].child else { return nil }
        let task = state.slots[slot].backlog.removeFirst()
        state.slots[slot].busy = task
        state.inFlight += 1
        state.peakInFlight = max(state.peakInFlight, state.inFlight)
        return (child, state.tasks[task]!.message)
    }

    /// A worker's `{"ctl": "result", task, value}`, on the supervisor thread.
    private func received(_ message: JSONObject, from child: ChildProcess) {
        guard message["ctl"] == "result", let task = message["task"]?.intValue else { return }
        let next: (ChildProcess, JSONObject)? = state.withLock { state in
            guard let slot = state.slots.firstIndex(where: { $0.child?.pid == child.pid }) else { return nil }
            state.slots[slot].busy = nil
            state.inFlight -= 1
            state.tasks[task]?.result = Completed(task: task, value: message["value"] ?? .null, pid: child.pid)
            state.callbackQueue.append(task)
            return dispatch(slot, &state)
        }
        if let (child, message) = next { child.send(message) }
        monitor.lockAndBroadcast()
    }

    /// The result handler: runs each callback in the parent as results arrive.
    private func resultLoop(_ lane: Lane) throws {
        while true {
            let next: (Int, Callback?, Completed)? = try monitor.withLock { () throws(RunInterrupted) in
                _ = try monitor.wait(until: {
                    state.withLock {
                        $0.abandoned || $0.callbackQueue.count > 0 || ($0.closed && $0.allCallbacksDone)
                    }
                })
                return state.withLock { state in
                    guard !state.abandoned, !state.callbackQueue.isEmpty else { return nil }
                    let task = state.callbackQueue.removeFirst()
                    let pending = state.tasks[task]!
                    return (task, pending.callback, pending.result!)
                }
            }
            guard let (task, callback, completed) = next else { return }
            lane.emit("task.callback", ["task": .int(task)])
            callback?(completed, lane)
            state.withLock { state in
                state.tasks[task]?.callbackDone = true
                state.callbacksDone += 1
            }
            monitor.lockAndBroadcast()
        }
    }

    /// `AsyncResult.get()`: blocks `lane` until the task's result is back.
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

    /// `close()` then `join()`: no more tasks; wait until every task is done and its
    /// callback has run, then let the workers exit (their stdin closes) and join them.
    func closeAndJoin(on lane: Lane) throws(RunInterrupted) {
        state.withLock { $0.closed = true }
        monitor.lockAndBroadcast()
        lane.emit("io.begin", ["op": "pool.join"])
        try monitor.withLock { () throws(RunInterrupted) in
            _ = try monitor.wait(until: { state.withLock { $0.allCallbacksDone } })
        }
        let children = state.withLock { $0.slots.compactMap(\.child) }
        for child in children { child.closeInput() }
        for child in children { try supervisor.join(child, on: lane) }
        lane.emit("io.end", ["op": "pool.join"])
    }

    /// Lets the result thread end even though tasks are unfinished (the run failed
    /// or was stopped); call it in a `defer`.
    func abandon() {
        state.withLock { $0.abandoned = true }
        monitor.lockAndBroadcast()
    }

    var peakInFlight: Int { state.withLock { $0.peakInFlight } }
    var workerPids: [Int32] { state.withLock { $0.slots.compactMap { $0.child?.pid } } }

    /// Every finished task, in submission order.
    var completed: [Completed] { state.withLock { state in state.order.compactMap { state.tasks[$0]?.result } } }
}

/// `pool`: a pool worker: takes `{"task", "flow", "ms"}` lines from stdin, works,
/// answers `{"ctl": "result"}`, until stdin closes.
@Sendable func poolWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    lane.start()
    let reader = Worker.LineReader()
    while let message = reader.next() {
        guard let task = message["task"]?.intValue else { continue }
        let flow = message["flow"]?.intValue
        lane.emit("task.start", flow: flow, ["task": .int(task)])
        worker.sleep(ms: message["ms"]?.intValue ?? 0)
        let value = JSONValue.string("task \(task) done by pid \(getpid())")
        lane.emit("task.end", ["task": .int(task), "result": value])
        lane.trace.send(["ctl": "result", "task": .int(task), "value": value])
    }
    lane.log("stdin closed: the pool is closing, worker exits")
    lane.end()
    return 0
}
