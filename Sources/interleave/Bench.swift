import ArgumentParser
import CSystem
import JSON
import Primitives
import Synchronization
import Tracing

/// `interleave bench`: what the tracer costs, as a ratio against a side-by-side baseline
/// in the same run — the least any thread-safe recorder must do: take a lock and
/// append a prebuilt event (no clock read, no tid, no subscriber wake-up).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure the tracer against a baseline (ratios, same run).")

    @Option(help: "Events per thread.") var events = 200_000
    @Option(help: "Repetitions; the best of each is kept.") var repeats = 5

    func run() {
        writeOut("threads  baseline ns/event  tracer ns/event  ratio  tracer-reported ns/event\n")
        for threads in [1, 2, 4] {
            var baseline = Double.infinity, traced = Double.infinity, reported = 0.0
            for _ in 0..<repeats {
                baseline = min(baseline, measureBaseline(threads: threads))
                let (wall, cost) = measureTracer(threads: threads)
                if wall < traced { traced = wall; reported = cost }
            }
            writeOut("\(pad(threads, 7))  \(pad(baseline, 17))  \(pad(traced, 15))  \(pad(traced / baseline, 5))  \(pad(reported, 24))\n")
        }
    }

    private func pad(_ value: Double, _ width: Int) -> String {
        let text = String((value * 100).rounded() / 100)
        return String(repeating: " ", count: max(0, width - text.count)) + text
    }

    private func pad(_ value: Int, _ width: Int) -> String {
        String(repeating: " ", count: max(0, width - String(value).count)) + String(value)
    }

    /// Wall-clock ns per event with `threads` writers.
    private func timed(threads: Int, _ body: @escaping @Sendable (Int) -> Void) -> Double {
        let start = interleave_monotonic_ns()
        let workers = (0..<threads).map { index in TracedThread(name: "bench-\(index)") { body(index) } }
        for worker in workers { worker.join() }
        return Double(interleave_monotonic_ns() - start) / Double(threads * events)
    }

    private func measureBaseline(threads: Int) -> Double {
        let store = Mutex<[TraceEvent]>([])
        let count = events
        return timed(threads: threads) { index in
            let event = TraceEvent(seq: 0, ts: 0, type: "counter", lane: "thread-\(index)", pid: 1, tid: 1,
                                   fields: ["name": "i", "value": 1])
            for i in 0..<count {
                var copy = event
                copy.seq = i
                store.withLock { $0.append(copy) }
            }
        }
    }

    private func measureTracer(threads: Int) -> (Double, Double) {
        let recorder = TraceRecorder(capacity: threads * events + 10)
        let count = events
        let wall = timed(threads: threads) { index in
            let lane = "thread-\(index)"
            for _ in 0..<count { recorder.emit("counter", lane: lane, ["name": "i", "value": 1]) }
        }
        return (wall, recorder.cost["nsPerEvent"]?.doubleValue ?? 0)
    }
}
