import CSystem
import Glibc
import Synchronization

/// Handing freed memory back to the system. glibc keeps freed heap pages for reuse,
/// so a server that dropped a gigabyte of traces would still hold it; `malloc_trim`
/// returns the free pages. Called after runs are evicted, deleted or persisted, at
/// most every 250 ms.
enum Memory {
    private static let lastTrimNs = Atomic<UInt64>(0)

    static func giveBack() {
        let now = interleave_monotonic_ns()
        let last = lastTrimNs.load(ordering: .relaxed)
        guard now &- last > 250_000_000,
              lastTrimNs.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
        else { return }
        interleave_release_free_memory()
    }
}

/// Lines for the operator on standard error, until the server has a logger.
enum FileHandleLog {
    static func error(_ text: String) {
        let line = Array("interleave: \(text)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
