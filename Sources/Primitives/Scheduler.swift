import CSystem
import Glibc
import Synchronization

/// One long-lived thread that fires timed actions: run deadlines, stream heartbeats.
/// A single thread for the whole process keeps thread counts steady, which the
/// "no thread left behind" checks rely on. Actions must be quick and must not block.
public final class Scheduler: Sendable {
    public static let shared = Scheduler()

    private struct Entry {
        let token: Int
        let deadlineNs: UInt64
        let action: @Sendable () -> Void
    }

    private struct State {
        var entries: [Entry] = []
        var nextToken = 0
        var started = false
    }

    private let state = Mutex(State())
    private let monitor = Monitor(control: RunControl())

    private init() {}

    /// Runs `action` on the scheduler thread after `ms` milliseconds; returns a token
    /// for `cancel`.
    @discardableResult
    public func after(ms: Int, _ action: @escaping @Sendable () -> Void) -> Int {
        let deadline = Monitor.deadline(afterMs: ms)
        let (token, needsThread) = state.withLock { state in
            state.nextToken += 1
            state.entries.append(Entry(token: state.nextToken, deadlineNs: deadline, action: action))
            state.entries.sort { $0.deadlineNs < $1.deadlineNs }
            let needsThread = !state.started
            state.started = true
            return (state.nextToken, needsThread)
        }
        if needsThread { _ = TracedThread(name: "scheduler", detached: true) { [self] in loop() } }
        monitor.lockAndBroadcast()
        return token
    }

    public func cancel(_ token: Int) {
        state.withLock { $0.entries.removeAll { $0.token == token } }
    }

    private func loop() {
        while true {
            let due: [Entry] = state.withLock { state in
                let now = interleave_monotonic_ns()
                let due = state.entries.prefix { $0.deadlineNs <= now }
                state.entries.removeFirst(due.count)
                return Array(due)
            }
            for entry in due { entry.action() }
            monitor.withLock {
                let next = state.withLock { $0.entries.first?.deadlineNs }
                // Re-check under the monitor so an `after` racing with us is not missed:
                // it broadcasts under the same monitor lock.
                _ = try? monitor.wait(deadlineNs: next ?? Monitor.deadline(afterMs: 60_000))
            }
        }
    }
}
