import CSystem
import JSON
import Primitives
import Tracing

/// Draws a hand-off of the one OS thread from one coroutine to another as a flow:
/// `coro.switch {to}` on the lane that gives the thread up and `coro.resume {from}`
/// on the lane that gets it, with the same `flow`. One per run; used on one thread.
final class SwitchTrace {
    private let recorder: TraceRecorder
    private var pending: (flow: Int, from: String)?
    /// Seqs of the hand-offs drawn, in order: (switch, resume).
    private(set) var handOffs: [(switchSeq: Int?, resumeSeq: Int?)] = []

    init(recorder: TraceRecorder) { self.recorder = recorder }

    @discardableResult
    func switching(from lane: Lane, to target: String, _ extra: JSONObject = [:]) -> Int? {
        let flow = recorder.nextFlow()
        var fields: JSONObject = ["to": .string(target)]
        for (key, value) in extra { fields[key] = value }
        let seq = lane.emit("coro.switch", flow: flow, fields)
        pending = (flow, lane.name)
        handOffs.append((seq, nil))
        return seq
    }

    /// On the lane that just got the thread: closes the pending hand-off, if any.
    @discardableResult
    func resumed(on lane: Lane, _ extra: JSONObject = [:]) -> Int? {
        guard let pending else { return nil }
        self.pending = nil
        var fields: JSONObject = ["from": .string(pending.from)]
        for (key, value) in extra { fields[key] = value }
        let seq = lane.emit("coro.resume", flow: pending.flow, fields)
        if !handOffs.isEmpty { handOffs[handOffs.count - 1].resumeSeq = seq }
        return seq
    }
}

/// Seconds as Python writes them in a call: 100 ms → "0.1".
func pythonSeconds(_ ms: Int) -> String {
    let fraction = String(ms % 1000)
    var digits = String(repeating: "0", count: 3 - fraction.count) + fraction
    while digits.count > 1 && digits.hasSuffix("0") { digits.removeLast() }
    return "\(ms / 1000).\(digits)"
}

/// A small seeded generator (SplitMix64): the same seed draws the same numbers.
struct SeededNumbers {
    private var state: UInt64
    init(seed: Int) { state = UInt64(bitPattern: Int64(seed)) &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next(upTo bound: Int) -> Int {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return bound <= 0 ? 0 : Int(z % UInt64(bound + 1))
    }
}

/// How an elapsed time compares with "one after another" and "side by side".
func closerTo(_ elapsedMs: Double, sum: Double, max: Double) -> String {
    abs(elapsedMs - sum) <= abs(elapsedMs - max) ? "sum" : "max"
}
