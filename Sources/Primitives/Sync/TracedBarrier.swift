import JSON
import Synchronization
import Tracing

/// Python's `threading.Barrier(parties)`, traced: `barrier.wait {barrier, round,
/// arrived}` as each party arrives and `barrier.pass {barrier, round}` as each leaves.
/// The last arrival's `barrier.wait` is recorded before anyone can pass, and carries
/// the `flow` every `barrier.pass` of that round points back to.
public final class TracedBarrier: Sendable {
    public let name: String
    public let parties: Int
    private let monitor: Monitor

    private struct State {
        var round = 0
        var arrived = 0
        var releaseFlow: [Int: Int] = [:]
    }

    private let state = Mutex(State())

    public init(_ name: String, parties: Int, control: RunControl) {
        self.name = name
        self.parties = max(parties, 1)
        self.monitor = Monitor(control: control)
    }

    /// Blocks until all parties have arrived; returns this party's arrival index
    /// (0 for the first, parties − 1 for the one that released the others).
    @discardableResult
    public func wait(on lane: Lane) throws(RunInterrupted) -> Int {
        try monitor.control.point(lane, "wait", name)
        let (round, index, flow) = try monitor.withLock { () throws(RunInterrupted) -> (Int, Int, Int?) in
            let (round, index) = state.withLock { state in
                state.arrived += 1
                return (state.round, state.arrived - 1)
            }
            var fields: JSONObject = ["barrier": .string(name), "round": .int(round), "arrived": .int(index + 1),
                                      "parties": .int(parties)]
            if index + 1 == parties {
                let flow = lane.recorder.nextFlow()
                fields["last"] = true
                lane.emit("barrier.wait", flow: flow, fields)
                state.withLock { state in
                    state.releaseFlow[round] = flow
                    state.releaseFlow[round - 1] = nil
                    state.round += 1
                    state.arrived = 0
                }
                monitor.broadcast()
                return (round, index, flow)
            }
            lane.emit("barrier.wait", fields)
            _ = try monitor.wait(until: { state.withLock { $0.round > round } })
            return (round, index, state.withLock { $0.releaseFlow[round] })
        }
        lane.emit("barrier.pass", flow: flow, ["barrier": .string(name), "round": .int(round)])
        return index
    }
}
