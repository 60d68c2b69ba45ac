import ArgumentParser
import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

/// `interleave bench`: what one traced event costs the thread that emits it, beside the
/// cost of a bare monotonic clock read measured the same way in the same run. Two ways:
///
/// - loop mean: each writer times a loop of emits with its thread CPU clock (time it was
///   preempted is not counted; page faults and cache misses are) — the average cost,
///   every slow emit included. Its minor page faults per event are counted too.
/// - per-event median: each emit (or clock read) is bracketed by two clock reads; the
///   median bracket minus the median of an empty bracket is what one typical emit costs.
///   This is what `summary.tracer.nsPerEvent` reports for a run (the recorder times one
///   emit in 64 from its own clock read to a clock read after publishing, and adds the
///   part of a clock read such a span misses), so the two should agree.
///
/// Each figure is the median over writers and repeats.
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
            var typedAllocs: [Double] = [], objectAllocs: [Double] = [], typedFaults: [Double] = []
            var clockMedian: [Double] = [], typedMedian: [Double] = [], typedP99: [Double] = [], emptyMedian: [Double] = []
            for _ in 0..<repeats {
                clock += measure(threads: threads) { _, count in
                    var sink: UInt64 = 0
                    for _ in 0..<count { sink &+= interleave_clock_ns() }
                    blackHole(sink)
                }.map(\.ns)
                let typedRun = measureTracer(threads: threads, typed: true)
                typed += typedRun.samples.map(\.ns)
                typedAllocs += typedRun.samples.compactMap(\.allocs)
                typedFaults += typedRun.samples.map(\.faults)
                reported.append(typedRun.reported)
                let brackets = measureBrackets(threads: threads)
                emptyMedian += brackets.map(\.empty)
                clockMedian += brackets.map { $0.clock - $0.empty }
                typedMedian += brackets.map { $0.typed - $0.empty }
                typedP99 += brackets.map { $0.typedP99 - $0.empty }
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
                "typedFaultsPerEvent": .double(median(typedFaults)),
                "emptyBracketNs": .double(round2(median(emptyMedian))),
                "clockMedianNs": .double(round2(median(clockMedian))),
                "typedMedianNs": .double(round2(median(typedMedian))),
                "typedP99Ns": .double(round2(median(typedP99))),
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
        /// Minor page faults per iteration (the thread's own).
        var faults: Double
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
                let faultsBefore = Self.threadFaults()
                let start = Self.threadCPU()
                body(index, count)
                let ns = Double(Self.threadCPU() - start) / Double(count)
                let faults = Double(Self.threadFaults() - faultsBefore) / Double(count)
                let allocs = mallocs.map { Double($0() - allocsBefore) / Double(count) }
                results.withLock { $0.append(Sample(ns: ns, allocs: allocs, faults: faults)) }
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

    private struct Brackets: Sendable {
        var empty: Double, clock: Double, typed: Double, typedP99: Double
    }

    /// Per-event medians: each writer brackets every typed emit with two clock reads
    /// (into a fresh recorder, as in `measureTracer`), then does the same around a bare
    /// clock read and around nothing. Medians (and the emits' p99) of the brackets, in ns.
    private func measureBrackets(threads: Int) -> [Brackets] {
        let recorder = TraceRecorder(capacity: threads * events + 10, deliverWake: { Scheduler.shared.after(ms: 2, $0) })
        let counter = TraceName("counter"), name = TraceName("name"), value = TraceName("value"), i = TraceName("i")
        let lanes = (0..<threads).map { TraceName("thread-\($0)") }
        let count = events
        let results = Mutex<[Brackets]>([])
        let ready = Atomic<Int>(0)
        let workers = (0..<threads).map { index in
            TracedThread(name: "bench-\(index)") {
                var counts = [Int](repeating: 0, count: CostHistogram.buckets)
                ready.add(1, ordering: .relaxed)
                while ready.load(ordering: .relaxed) < threads { sched_yield() }
                let lane = lanes[index]
                for step in 0..<count {
                    let before = interleave_clock_ns()
                    recorder.emit(counter, lane: lane, TraceFields(name, .name(i), value, .int(step)))
                    counts[CostHistogram.bucket(interleave_clock_ns() &- before)] += 1
                }
                let typed = CostHistogram.median(counts), typedP99 = Self.percentile(counts, 0.99)
                counts = [Int](repeating: 0, count: CostHistogram.buckets)
                var sink: UInt64 = 0
                for _ in 0..<count {
                    let before = interleave_clock_ns()
                    sink &+= interleave_clock_ns()
                    counts[CostHistogram.bucket(interleave_clock_ns() &- before)] += 1
                }
                blackHole(sink)
                let clock = CostHistogram.median(counts)
                counts = [Int](repeating: 0, count: CostHistogram.buckets)
                for _ in 0..<count {
                    let before = interleave_clock_ns()
                    counts[CostHistogram.bucket(interleave_clock_ns() &- before)] += 1
                }
                let empty = CostHistogram.median(counts)
                results.withLock { $0.append(Brackets(empty: empty, clock: clock, typed: typed, typedP99: typedP99)) }
            }
        }
        for worker in workers { worker.join() }
        recorder.finish()
        return results.withLock { $0 }
    }

    /// The lower edge of the bucket holding the `fraction` quantile.
    private static func percentile(_ counts: [Int], _ fraction: Double) -> Double {
        let total = counts.reduce(0, +)
        var seen = 0
        for (bucket, count) in counts.enumerated() {
            seen += count
            if Double(seen) >= Double(total) * fraction {
                return bucket < CostHistogram.linear ? Double(bucket) : Double(1 << (bucket - CostHistogram.linear + 9))
            }
        }
        return 0
    }

    /// The calling thread's minor page faults so far.
    private static func threadFaults() -> Int {
        var usage = rusage()
        getrusage(__rusage_who_t(1), &usage)  // RUSAGE_THREAD
        return usage.ru_minflt
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
