import Synchronization

/// An untraced, reusable meeting point for `parties` threads: `arrive()` returns once
/// all of them have arrived in the current round. Experiments use it to force an
/// interleaving by construction (everyone has read before anyone writes; everyone
/// holds a left fork before anyone reaches right) instead of hoping a sleep is long
/// enough. It is a `Monitor` wait, so a stopped run releases it.
public final class Rendezvous: Sendable {
    public let parties: Int
    private let monitor: Monitor

    private struct State {
        var round = 0
        var arrived = 0
    }

    private let state = Mutex(State())

    public init(parties: Int, control: RunControl) {
        self.parties = max(parties, 1)
        self.monitor = Monitor(control: control)
    }

    public func arrive() throws(RunInterrupted) {
        try monitor.withLock { () throws(RunInterrupted) in
            let round: Int? = state.withLock { state in
                state.arrived += 1
                guard state.arrived == parties else { return state.round }
                state.arrived = 0
                state.round += 1
                return nil
            }
            guard let round else {
                monitor.broadcast()
                return
            }
            _ = try monitor.wait(until: { state.withLock { $0.round > round } })
        }
    }
}
