import CSystem
import Glibc

/// The calling thread and the CPUs: affinity, its own CPU clock, its context switches,
/// and CPU-bound work measured in CPU time (so "300 ms of work" is the same amount of
/// work whether the thread has a core to itself or shares it).
public enum CPU {
    /// How many CPUs this process may use (its affinity when the server started).
    public static let configuredCount: Int = max(1, allowed().count)

    /// The CPUs the calling thread may run on (sched_getaffinity), ascending.
    public static func allowed() -> [Int] {
        var cpus = [Int32](repeating: 0, count: 1024)
        let count = interleave_os_get_affinity(0, &cpus, Int32(cpus.count))
        return count > 0 ? cpus[..<Int(count)].map(Int.init) : [0]
    }

    /// Pins the calling thread to `cpus`; returns 0 or an errno value.
    @discardableResult
    public static func pin(to cpus: [Int]) -> Int32 {
        let list = cpus.map(Int32.init)
        return interleave_os_set_affinity(0, list, Int32(list.count))
    }

    /// The CPU the calling thread is on right now.
    public static var current: Int { Int(interleave_os_current_cpu()) }

    /// CPU time the calling thread has used, in ns.
    public static var threadTimeNs: Int64 { interleave_os_thread_cpu_ns(interleave_tid()) }

    /// The calling thread's voluntary and involuntary context switches so far, from
    /// /proc/thread-self/status.
    public static func contextSwitches() -> (voluntary: Int, involuntary: Int) {
        guard let file = fopen("/proc/thread-self/status", "r") else { return (0, 0) }
        defer { fclose(file) }
        var voluntary = 0, involuntary = 0
        var line = [CChar](repeating: 0, count: 256)
        while fgets(&line, Int32(line.count), file) != nil {
            let text = line.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            if text.hasPrefix("voluntary_ctxt_switches:") {
                voluntary = Int(text.dropFirst(24).trimmingCharacters(in: " \t\n")) ?? 0
            } else if text.hasPrefix("nonvoluntary_ctxt_switches:") {
                involuntary = Int(text.dropFirst(27).trimmingCharacters(in: " \t\n")) ?? 0
            }
        }
        return (voluntary, involuntary)
    }

    /// Busy work until the calling thread has used `ms` milliseconds of CPU time; `check`
    /// is called every few hundred microseconds of work (throw from it to stop early).
    public static func work<E: Error>(ms: Double, check: () throws(E) -> Void) throws(E) {
        let start = threadTimeNs
        let budget = Int64(ms * 1_000_000)
        var x: UInt64 = 0x9E37_79B9
        while threadTimeNs - start < budget {
            for _ in 0..<20_000 { x = x &* 6364136223846793005 &+ 1442695040888963407 }
            try check()
        }
        sink(x)
    }
}

@inline(never) private func sink(_ value: UInt64) { _ = value }

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, set.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}
