import CSystem
import Glibc
import JSON
import Synchronization
import Tracing

/// A controlled schedule for one run's real threads (`schedule` = step | seeded | replay).
///
/// Exactly one lane of the run runs at a time: it holds the *token*. It gives the token
/// back when it reaches a scheduling point (`point`, before every traced operation),
/// when it blocks in a `Monitor` wait (a lock that is held, an event not yet set, a
/// full queue), when it joins a thread that is still running, and when it ends. Once
/// every lane of the run is parked like that, the policy chooses who goes next — the
/// learner (step), a seeded PCT scheduler, or a recorded list of choices (replay) —
/// and only that lane's thread continues. A lane blocked in a wait is not eligible
/// until another lane's signal wakes it; if no lane is eligible while some are
/// blocked, the run is deadlocked.
///
/// Because only one thread runs between two decisions, the same choices give the same
/// events: `choices` (kept in `summary.schedule`) replay an interleaving exactly.
/// Sleeps and timed waits take virtual time: a timed wait is eligible at once, and when
/// chosen before anyone woke it, it times out.
public final class ScheduleController: Sendable {
    public enum Mode: Sendable, Equatable {
        /// The learner chooses (`POST /api/runs/{id}/step`).
        case step
        /// A seeded PCT scheduler chooses: random lane priorities, `depth - 1` priority
        /// drops at random steps (Burckhardt et al., "A Randomized Scheduler with
        /// Probabilistic Guarantees of Finding Bugs", 2010).
        case seeded(seed: UInt64, depth: Int = 3, steps: Int = 200)
        /// `choices` are followed one by one; past their end the default policy goes on.
        case replay(choices: [String])
    }

    /// One lane that could go next, and what it would do.
    public struct Pending: Sendable, Equatable {
        public let lane: String
        public let op: String
        public let target: String
        /// `ready` at a scheduling point, `woken` from a wait, `timeout` a timed wait
        /// nobody has woken (choosing it times it out), `joined` a join whose thread ended.
        public let state: String

        public var json: JSONValue {
            ["lane": .string(lane), "op": .string(op), "target": .string(target), "state": .string(state)]
        }
    }

    /// Why `step` refused.
    public struct StepError: Error, Sendable {
        public let detail: String
    }

    private enum LaneState: Equatable {
        /// Registered by its spawner; its thread has not reached its first point yet.
        case starting
        case running
        /// At a scheduling point, eligible.
        case ready
        /// In a `Monitor` wait; eligible once woken, or at once when the wait is timed.
        case blocked(monitor: ObjectIdentifier, timed: Bool, woken: Bool)
        /// Joining `target`; eligible once it has ended.
        case joining(target: String)
        case ended
    }

    private struct LaneInfo {
        var state: LaneState
        var op = "start"
        var target = ""
        var order: Int
        var priority: Int
    }

    private struct State {
        var lanes: [String: LaneInfo] = [:]
        var order: [String] = []
        var tids: [Int32: String] = [:]
        var running: String?
        var granted: String?
        var lastRunning: String?
        var choices: [String] = []
        var stepBudget = 0
        var awaitingLearner = false
        var idleTimer: Int?
        var diverged: String?
        var rng: SplitMix64
        var changePoints: [Int] = []
        var nextLowPriority = 0
    }

    public let mode: Mode
    /// Step mode: choices taken before the learner is asked (Undo replays a prefix).
    public let stepPrefix: [String]
    public let control: RunControl
    /// Lane that `sched.pending` / `sched.grant` are emitted on.
    private let lane: Lane
    /// A step-mode run that waits this long for the learner ends as `timedOut`.
    public let idleTimeoutMs: Int
    /// Not itself controlled: it is what controlled threads park on.
    private let monitor: Monitor
    private let state: Mutex<State>

    public init(mode: Mode, control: RunControl, recorder: TraceRecorder, idleTimeoutMs: Int = 600_000,
                stepPrefix: [String] = []) {
        self.mode = mode
        self.stepPrefix = stepPrefix
        self.control = control
        self.lane = Lane("scheduler", kind: .main, recorder: recorder)
        self.idleTimeoutMs = idleTimeoutMs
        self.monitor = Monitor(control: control, controlled: false)
        var rng = SplitMix64(seed: 0)
        var changePoints: [Int] = []
        if case let .seeded(seed, depth, steps) = mode {
            rng = SplitMix64(seed: seed)
            changePoints = (0..<max(depth - 1, 0)).map { _ in Int(rng.next() % UInt64(max(steps, 1))) + 1 }
        }
        self.state = Mutex(State(rng: rng, changePoints: changePoints))
    }

    // MARK: lanes

    /// The calling thread runs `name` and holds the token (the run's main thread, at start).
    public func registerRunning(_ name: String) {
        monitor.withLock {
            state.withLock { state in
                add(name, .running, to: &state)
                state.tids[interleave_tid()] = name
                state.running = name
                state.lastRunning = name
            }
        }
    }

    /// Called by the spawner (which holds the token) before it starts the thread, so no
    /// decision is taken until the new lane has parked at its first point.
    public func register(_ name: String) {
        monitor.withLock { state.withLock { state in add(name, .starting, to: &state) } }
    }

    /// The first thing a spawned thread does: binds its thread to its lane and parks at
    /// the `start` point.
    public func attach(_ name: String) throws(RunInterrupted) {
        monitor.withLock { _ = state.withLock { $0.tids[interleave_tid()] = name } }
        try park(name, op: "start", target: "", as: .ready)
    }

    /// The lane is done: its token passes on, and whoever joins it may go.
    public func end(_ name: String) {
        let action: Action = monitor.withLock {
            state.withLock { state in
                state.lanes[name]?.state = .ended
                state.tids = state.tids.filter { $0.value != name }
                if state.running == name { state.running = nil }
                return decide(&state)
            }
        }
        perform(action)
    }

    private func add(_ name: String, _ laneState: LaneState, to state: inout State) {
        guard state.lanes[name] == nil else { return }
        let priority: Int
        if case let .seeded(_, depth, _) = mode {
            priority = depth + Int(state.rng.next() % 10_000)
        } else {
            priority = 0
        }
        state.lanes[name] = LaneInfo(state: laneState, order: state.order.count, priority: priority)
        state.order.append(name)
    }

    /// The lane the calling thread runs, if this schedule controls it.
    public func currentLane() -> String? {
        let tid = interleave_tid()
        return monitor.withLock { state.withLock { $0.tids[tid] } }
    }

    // MARK: scheduling points

    /// A scheduling point: `name` gives up the token and waits until it is chosen to
    /// perform `op` on `target`. Does nothing once the run has stopped (unwinding code
    /// releases its locks freely) or for a thread this schedule does not control.
    public func point(_ name: String, op: String, target: String) throws(RunInterrupted) {
        guard !control.isStopped else { return }
        try park(name, op: op, target: target, as: .ready)
    }

    /// `Monitor.wait` for a controlled thread: the lane is blocked on `monitor` until a
    /// signal of that monitor wakes it (or, `timed`, until it is chosen). `unlock` and
    /// `relock` let go of the monitor's mutex while parked. Returns whether it was woken.
    func block(_ name: String, on monitorID: ObjectIdentifier, timed: Bool,
               unlock: () -> Void, relock: () -> Void) throws(RunInterrupted) -> Bool {
        let action: Action = monitor.withLock {
            state.withLock { state in
                state.lanes[name]?.state = .blocked(monitor: monitorID, timed: timed, woken: false)
                if state.running == name { state.running = nil }
                return decide(&state)
            }
        }
        unlock()
        defer { relock() }
        perform(action)
        let woken = try awaitGrant(name)
        return woken
    }

    /// A signal or broadcast of `monitorID`: every lane blocked on it becomes eligible
    /// (a signal wakes them all: waits loop on their predicates, and choosing which one
    /// goes first is the schedule's job, not the kernel's).
    func wake(_ monitorID: ObjectIdentifier) {
        monitor.withLock {
            state.withLock { state in
                for (name, info) in state.lanes {
                    if case let .blocked(id, timed, _) = info.state, id == monitorID {
                        state.lanes[name]?.state = .blocked(monitor: id, timed: timed, woken: true)
                    }
                }
            }
        }
    }

    /// Joining a thread of the run: parks until its lane has ended.
    public func join(_ name: String, target: String) {
        guard !control.isStopped else { return }
        do {
            try park(name, op: "join", target: target, as: .joining(target: target))
        } catch {
            // A stopped run unwinds: the thread being joined is stopping too.
        }
    }

    private func park(_ name: String, op: String, target: String, as laneState: LaneState) throws(RunInterrupted) {
        let action: Action = monitor.withLock {
            state.withLock { state in
                state.lanes[name]?.state = laneState
                state.lanes[name]?.op = op
                state.lanes[name]?.target = target
                if state.running == name { state.running = nil }
                return decide(&state)
            }
        }
        perform(action)
        _ = try awaitGrant(name)
    }

    /// Waits until `name` is granted the token; returns whether it had been woken from a wait.
    private func awaitGrant(_ name: String) throws(RunInterrupted) -> Bool {
        try monitor.withLock { () throws(RunInterrupted) -> Bool in
            while true {
                let granted: Bool? = state.withLock { state in
                    guard state.granted == name else { return nil }
                    state.granted = nil
                    state.running = name
                    state.lastRunning = name
                    let woken: Bool
                    if case let .blocked(_, _, wasWoken) = state.lanes[name]?.state { woken = wasWoken } else { woken = true }
                    state.lanes[name]?.state = .running
                    return woken
                }
                if let granted { return granted }
                try monitor.wait()
            }
        }
    }

    // MARK: deciding

    private enum Action {
        case none
        case deadlock([Pending])
        case diverged(String)
    }

    /// Who could go next, in registration order.
    private func eligible(_ state: State) -> [Pending] {
        state.order.compactMap { name in
            guard let info = state.lanes[name] else { return nil }
            switch info.state {
            case .ready: return Pending(lane: name, op: info.op, target: info.target, state: "ready")
            case let .blocked(_, timed, woken) where woken || timed:
                return Pending(lane: name, op: info.op, target: info.target, state: woken ? "woken" : "timeout")
            case let .joining(target) where state.lanes[target]?.state == .ended:
                return Pending(lane: name, op: info.op, target: info.target, state: "joined")
            default: return nil
            }
        }
    }

    /// Who is stuck, for the deadlock report.
    private func stuck(_ state: State) -> [Pending] {
        state.order.compactMap { name in
            guard let info = state.lanes[name] else { return nil }
            switch info.state {
            case .blocked, .joining: return Pending(lane: name, op: info.op, target: info.target, state: "blocked")
            default: return nil
            }
        }
    }

    /// Called whenever a lane gives up the token. Chooses when every lane is parked.
    private func decide(_ state: inout State) -> Action {
        guard state.running == nil, state.granted == nil, state.diverged == nil else { return .none }
        guard !state.lanes.values.contains(where: { $0.state == .starting || $0.state == .running }) else { return .none }
        let candidates = eligible(state)
        if candidates.isEmpty {
            let blocked = stuck(state)
            return blocked.isEmpty ? .none : .deadlock(blocked)
        }
        let step = state.choices.count
        var choice: String
        if mode == .step, step < stepPrefix.count {
            guard candidates.contains(where: { $0.lane == stepPrefix[step] }) else {
                let detail = "replay diverged at step \(step): \(stepPrefix[step]) cannot go; "
                    + "could go: \(candidates.map(\.lane).joined(separator: ", "))"
                state.diverged = detail
                return .diverged(detail)
            }
            grant(stepPrefix[step], candidates, &state)
            return .none
        }
        switch mode {
        case .step:
            guard state.stepBudget > 0 else {
                guard !state.awaitingLearner else { return .none }
                state.awaitingLearner = true
                lane.emit("sched.pending", ["lanes": .array(candidates.map(\.json))])
                state.idleTimer = Scheduler.shared.after(ms: idleTimeoutMs) { [control] in control.stop(.timedOut) }
                monitor.broadcast()  // for `waitUntilPaused`
                return .none
            }
            state.stepBudget -= 1
            choice = defaultChoice(candidates, state)
        case .seeded:
            if let index = state.changePoints.firstIndex(of: step), let last = state.lastRunning {
                state.lanes[last]?.priority = state.nextLowPriority
                state.nextLowPriority += 1
                state.changePoints[index] = -1
            }
            choice = candidates.max { (state.lanes[$0.lane]?.priority ?? 0) < (state.lanes[$1.lane]?.priority ?? 0) }!.lane
        case let .replay(choices):
            if step < choices.count {
                guard candidates.contains(where: { $0.lane == choices[step] }) else {
                    let detail = "replay diverged at step \(step): \(choices[step]) cannot go; "
                        + "could go: \(candidates.map(\.lane).joined(separator: ", "))"
                    state.diverged = detail
                    return .diverged(detail)
                }
                choice = choices[step]
            } else {
                choice = defaultChoice(candidates, state)
            }
        }
        grant(choice, candidates, &state)
        return .none
    }

    /// Keeps the lane that ran last going while it can (fewest switches), else the first
    /// eligible lane in the order the lanes started.
    private func defaultChoice(_ candidates: [Pending], _ state: State) -> String {
        if let last = state.lastRunning, candidates.contains(where: { $0.lane == last }) { return last }
        return candidates[0].lane
    }

    private func grant(_ choice: String, _ candidates: [Pending], _ state: inout State) {
        state.choices.append(choice)
        state.granted = choice
        state.awaitingLearner = false
        let chosen = candidates.first { $0.lane == choice }
        var fields: JSONObject = ["choice": .string(choice), "step": .int(state.choices.count - 1)]
        if let chosen { fields["op"] = .string(chosen.op); fields["target"] = .string(chosen.target) }
        lane.emit("sched.grant", fields)
        monitor.broadcast()
    }

    private func perform(_ action: Action) {
        switch action {
        case .none:
            return
        case let .deadlock(blocked):
            // A wait-for cycle has usually been reported by the deadlock detector already.
            guard !control.isStopped else { return }
            lane.emit("log", ["message": .string("no lane can go on: "
                + blocked.map { "\($0.lane) waits in \($0.op) \($0.target)" }.joined(separator: "; "))])
            control.stop(.deadlocked)
        case let .diverged(detail):
            lane.emit("log", ["message": .string(detail)])
            // Ends the run; the runner reports it as failed with the divergence as its error.
            control.stop(.runEnded)
        }
    }

    // MARK: the learner

    /// Step mode: lets `laneName` perform its next operation, or (`laneName` nil) lets
    /// the default policy take `steps` steps. Returns the choices made so far.
    @discardableResult
    public func step(lane laneName: String?, steps: Int = 1) throws(StepError) -> Int {
        guard mode == .step else { throw StepError(detail: "this run's schedule is not step") }
        guard !control.isStopped else { throw StepError(detail: "the run has ended") }
        let result: Result<Int, StepError> = monitor.withLock {
            state.withLock { state -> Result<Int, StepError> in
                let candidates = eligible(state)
                guard state.awaitingLearner else {
                    return .failure(StepError(detail: "the run is not waiting for a step yet; try again"))
                }
                if let laneName {
                    guard candidates.contains(where: { $0.lane == laneName }) else {
                        let names = candidates.map(\.lane).joined(separator: ", ")
                        return .failure(StepError(detail: "\(laneName.prefix(80)) cannot go now; lanes that can: \(names)"))
                    }
                    grant(laneName, candidates, &state)
                } else {
                    state.stepBudget = max(steps, 1) - 1
                    grant(defaultChoice(candidates, state), candidates, &state)
                }
                if let timer = state.idleTimer { Scheduler.shared.cancel(timer) }
                state.idleTimer = nil
                return .success(state.choices.count)
            }
        }
        return try result.get()
    }

    /// What the learner may choose now (empty while the run is busy or has ended).
    public var pending: [Pending] {
        monitor.withLock { state.withLock { $0.awaitingLearner ? eligible($0) : [] } }
    }

    /// Every choice so far, in order: what `summary.schedule` holds.
    public var choices: [String] { monitor.withLock { state.withLock { $0.choices } } }

    /// Set when a replay could not follow its choices.
    public var divergence: String? { monitor.withLock { state.withLock { $0.diverged } } }

    /// Ends the idle timer when the run ends.
    public func finish() {
        let timer = monitor.withLock { state.withLock { state in
            defer { state.idleTimer = nil }
            return state.idleTimer
        } }
        if let timer { Scheduler.shared.cancel(timer) }
    }
}

/// A small seeded generator (Vigna's SplitMix64): the same seed, the same schedule.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension ScheduleController {
    /// Blocks (at most `timeoutMs`) until the run waits for the learner again or has
    /// stopped, so a step's answer can say who may go next.
    public func waitUntilPaused(timeoutMs: Int) {
        let deadline = Monitor.deadline(afterMs: timeoutMs)
        monitor.withLock {
            _ = try? monitor.wait(until: { [self] in
                control.isStopped || state.withLock { $0.awaitingLearner }
            }, deadlineNs: deadline)
        }
    }
}
