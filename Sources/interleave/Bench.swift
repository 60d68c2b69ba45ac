import ArgumentParser
import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

/// `interleave bench`: what one traced event costs the thread that emits it, beside the
/// cost of a bare monotonic clock read measured the same way in the same run. Each
/// writer times its own loop with its thread CPU clock (time it was preempted is not
/// counted; page faults are); the figure is the median over writers and repeats.
///
/// Run under `bench/malloc_count.so` (LD_PRELOAD) it also counts the heap allocations
/// each writer made inside its loop. `scripts/bench` does both and writes BENCHMARKS.md.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure the tracer against a bare clock read (JSON on stdout).")

    @Option(help: "Events per writer.") var events = 200_000
    @Option(help: "Repetitions; the median is kept.") var repeats = 5
    @Option(help: "Writer counts, comma-separated.") var writers = "1,2,4"

    func run() {
        let counts = writers.split(separator: ",").compactMap { Int($0) }
        var rows: [JSONValue] = []
        // Warm up once, unmeasured: the server recycles record chunks across runs, so a run
        // in a running server writes into memory that is already mapped.
        _ = measureTracer(threads: 2, typed: true)
        for threads in counts {
            var clock: [Double] = [], typed: [Double] = [], object: [Double] = [], reported: [Double] = []
            var typedAllocs: [Double] = [], objectAllocs: [Double] = []
            for _ in 0..<repeats {
                clock += measure(threads: threads) { _, count in
                    var sink: UInt64 = 0
                    for _ in 0..<count { sink &+= interleave_clock_ns() }
                    blackHole(sink)
                }.map(\.ns)
                let typedRun = measureTracer(threads: threads, typed: true)
                typed += typedRun.samples.map(\.ns)
                typedAllocs += typedRun.samples.compactMap(\.allocs)
                reported.append(typedRun.reported)
                let objectRun = measureTracer(threads: threads, typed: false)
                object += objectRun.samples.map(\.ns)
                objectAllocs += objectRun.samples.compactMap(\.allocs)
            }
            var row: JSONObject = [
                "writers": .int(threads),
                "clockNs": .double(round2(median(clock))),
                "typedNs": .double(round2(median(typed))),
                "objectNs": .double(round2(median(object))),
                "reportedNs": .double(round2(median(reported))),
            ]
            if !typedAllocs.isEmpty {
                row["typedAllocsPerEvent"] = .double(median(typedAllocs))
                row["objectAllocsPerEvent"] = .double(median(objectAllocs))
            }
            rows.append(.object(row))
        }
        writeOut(JSONValue.object(["events": .int(events), "repeats": .int(repeats), "rows": .array(rows)]).jsonString + "\n")
    }

    private struct Sample: Sendable {
        var ns: Double
        var allocs: Double?
    }

    /// Runs `body(index, events)` on `threads` writers started together; each reports
    /// its own CPU ns per iteration (and allocations per iteration when counted).
    private func measure(threads: Int, _ body: @escaping @Sendable (Int, Int) -> Void) -> [Sample] {
        let count = events
        let results = Mutex<[Sample]>([])
        let ready = Atomic<Int>(0)
        let mallocs = Self.mallocCounter
        let workers = (0..<threads).map { index in
            TracedThread(name: "bench-\(index)") {
                ready.add(1, ordering: .relaxed)
                while ready.load(ordering: .relaxed) < threads { sched_yield() }
                let allocsBefore = mallocs?() ?? 0
                let start = Self.threadCPU()
                body(index, count)
                let ns = Double(Self.threadCPU() - start) / Double(count)
                let allocs = mallocs.map { Double($0() - allocsBefore) / Double(count) }
                results.withLock { $0.append(Sample(ns: ns, allocs: allocs)) }
            }
        }
        for worker in workers { worker.join() }
        return results.withLock { $0 }
    }

    private func measureTracer(threads: Int, typed: Bool) -> (samples: [Sample], reported: Double) {
        // As a run's recorder: wake-ups and merges handed to the scheduler thread.
        let recorder = TraceRecorder(capacity: threads * events + 10, deliverWake: { Scheduler.shared.after(ms: 2, $0) })
        let counter = TraceName("counter"), name = TraceName("name"), value = TraceName("value"), i = TraceName("i")
        let lanes = (0..<threads).map { TraceName("thread-\($0)") }
        let samples = measure(threads: threads) { index, count in
            let lane = lanes[index]
            if typed {
                for step in 0..<count { recorder.emit(counter, lane: lane, TraceFields(name, .name(i), value, .int(step))) }
            } else {
                let laneName = "thread-\(index)"
                for step in 0..<count { recorder.emit("counter", lane: laneName, ["name": "i", "value": .int(step)]) }
            }
        }
        let reported = recorder.cost["nsPerEvent"]?.doubleValue ?? 0
        recorder.finish()
        return (samples, reported)
    }

    private static func threadCPU() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// The calling thread's allocation count, when bench/malloc_count.so is preloaded.
    private static let mallocCounter: (@Sendable () -> UInt64)? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "interleave_bench_mallocs") else { return nil }
        let function = unsafeBitCast(symbol, to: (@convention(c) () -> UInt64).self)
        return { function() }
    }()

    private func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    private func round2(_ value: Double) -> Double { (value * 100).rounded() / 100 }
}

@inline(never)
private func blackHole(_ value: UInt64) {
    if value == 42 { print("") }
}
