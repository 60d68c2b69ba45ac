import CSystem
import Glibc

/// Pure CPU work measured in iterations, calibrated once per run so that
/// `iterations(forMs:)` costs about that many milliseconds of one core's time. The
/// same number of iterations is then the same work on every backend: sequential,
/// threads, processes and the event loop compare like with like.
public struct CPUWork: Sendable {
    public let iterationsPerMs: Int

    public init(iterationsPerMs: Int) { self.iterationsPerMs = max(iterationsPerMs, 1) }

    /// Measures on this thread's CPU clock (CLOCK_THREAD_CPUTIME_ID), not the wall
    /// clock, so a loaded machine that preempts the calibration does not inflate it.
    public static func calibrate(sampleMs: Int = 15) -> CPUWork {
        let start = threadCPUNs()
        var iterations = 0
        var state: UInt64 = 0x9E37_79B9
        while threadCPUNs() - start < UInt64(sampleMs) * 1_000_000 {
            state = burn(10_000, from: state)
            iterations += 10_000
        }
        let elapsedMs = Double(threadCPUNs() - start) / 1e6
        keep(state)
        return CPUWork(iterationsPerMs: Int(Double(iterations) / max(elapsedMs, 0.001)))
    }

    public func iterations(forMs ms: Int) -> Int { ms * iterationsPerMs }

    /// Burns `iterations` (a linear congruential step each: no memory traffic,
    /// nothing the optimiser may drop, since the result is kept).
    public func run(_ iterations: Int) {
        Self.keep(Self.burn(iterations, from: UInt64(iterations)))
    }

    @inline(never)
    static func burn(_ iterations: Int, from seed: UInt64) -> UInt64 {
        var x = seed
        for _ in 0..<iterations { x = x &* 6364136223846793005 &+ 1442695040888963407 }
        return x
    }

    @inline(never) static func keep(_ value: UInt64) { if value == 42 { print("", terminator: "") } }

    /// CPU time of the calling thread, in nanoseconds.
    public static func threadCPUNs() -> UInt64 { clockNs(CLOCK_THREAD_CPUTIME_ID) }
    /// CPU time of the whole process (all its threads), in nanoseconds.
    public static func processCPUNs() -> UInt64 { clockNs(CLOCK_PROCESS_CPUTIME_ID) }

    private static func clockNs(_ clock: clockid_t) -> UInt64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Cores this process may run on.
    public static var cores: Int { max(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 1) }
}
