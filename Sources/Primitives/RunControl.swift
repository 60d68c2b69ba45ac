import Tracing
import Synchronization

/// Why a run's blocking calls are being interrupted.
public enum StopReason: String, Sendable {
    /// A client cancelled the run (DELETE).
    case cancelled
    /// The run passed its deadline.
    case timedOut
    /// A wait-for cycle was found; every blocked wait is released so threads unwind.
    case deadlocked
    /// The server is shutting down.
    case interrupted
    /// The experiment returned; what is still running (daemon threads) is cut off.
    case runEnded
    /// Part of the run failed (a child process died that the run did not end); the
    /// rest is stopped so the run ends promptly as `failed`.
    case failed
}

/// Thrown out of any blocking call of a run that has been stopped.
public struct RunInterrupted: Error, Sendable, CustomStringConvertible {
    public let reason: StopReason
    public init(_ reason: StopReason) { self.reason = reason }
    public var description: String { "run interrupted: \(reason.rawValue)" }
}

/// The stop switch of one run. Every blocking primitive of the run registers a wake-up
/// here, so that stopping the run (cancel, deadline, deadlock, shutdown) makes each
/// blocked thread return promptly with `RunInterrupted` — no thread is ever left
/// blocked in the server. The first reason wins.
public final class RunControl: Sendable {
    private struct State {
        var reason: StopReason?
        var nextToken = 0
        var onStop: [Int: @Sendable (StopReason) -> Void] = [:]
    }

    private let state = Mutex(State())
    private let scheduleBox = Mutex<ScheduleController?>(nil)

    public init() {}

    /// The controlled schedule of this run's threads, if it has one (set once, before
    /// any of the run's threads or monitors exist).
    public var schedule: ScheduleController? { scheduleBox.withLock { $0 } }

    public func attach(_ schedule: ScheduleController) {
        scheduleBox.withLock { $0 = schedule }
    }

    /// A scheduling point of a controlled run: `lane` waits here until it is chosen to
    /// perform `op` on `target`. Free runs pass straight through.
    public func point(_ lane: Lane, _ op: String, _ target: String = "") throws(RunInterrupted) {
        guard let schedule else { return }
        try schedule.point(lane.name, op: op, target: target)
    }

    public var stopReason: StopReason? { state.withLock { $0.reason } }
    public var isStopped: Bool { stopReason != nil }

    /// Throws if the run has been stopped; call it inside long CPU loops.
    public func check() throws(RunInterrupted) {
        if let reason = stopReason { throw RunInterrupted(reason) }
    }

    /// Stops the run. Returns false if it was already stopped (the first reason stays).
    @discardableResult
    public func stop(_ reason: StopReason) -> Bool {
        let handlers: [@Sendable (StopReason) -> Void]? = state.withLock { state in
            guard state.reason == nil else { return nil }
            state.reason = reason
            let handlers = Array(state.onStop.values)
            state.onStop.removeAll()
            return handlers
        }
        guard let handlers else { return false }
        for handler in handlers { handler(reason) }
        return true
    }

    /// Runs `handler` once when the run stops (at once if it already has).
    /// Keep the token to remove the handler when it is no longer needed.
    @discardableResult
    public func onStop(_ handler: @escaping @Sendable (StopReason) -> Void) -> Int? {
        let (token, reason): (Int?, StopReason?) = state.withLock { state in
            if let reason = state.reason { return (nil, reason) }
            state.nextToken += 1
            state.onStop[state.nextToken] = handler
            return (state.nextToken, nil)
        }
        if let reason { handler(reason) }
        return token
    }

    public func removeOnStop(_ token: Int?) {
        guard let token else { return }
        _ = state.withLock { $0.onStop.removeValue(forKey: token) }
    }
}
