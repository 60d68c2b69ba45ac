import CSystem
import Glibc
import Synchronization

/// Handing freed memory back to the system. glibc keeps freed heap pages for reuse,
/// so a server that dropped a gigabyte of traces would still hold it; `malloc_trim`
/// returns the free pages. Called after runs are evicted, deleted or persisted, at
/// most every 250 ms; a call that comes sooner is made up for later (`giveBackIfPending`,
/// from the store writer's loop), so the last of a burst of ends is trimmed too.
enum Memory {
    private static let lastTrimNs = Atomic<UInt64>(0)
    private static let pending = Atomic<Bool>(false)
    /// Trims made, for the tests.
    static let trims = Atomic<Int>(0)

    /// At most this many malloc arenas. glibc makes up to 8 per core, one per thread that
    /// finds the others busy: the soak's ~30 threads (libmicrohttpd's, runs', the store
    /// writer's) had 16 on 2 cores, each keeping its own free pages and fragments. Four
    /// keep request threads and traced threads from queueing on one lock (small blocks
    /// come from glibc's per-thread caches without any lock).
    static let arenas = 4
    /// Blocks this large or larger get their own mapping, unmapped when freed. glibc would
    /// otherwise raise this bound to the largest block freed so far (up to 32 MiB), after
    /// which every run's 1 MiB trace segments came from the arenas and left them fragmented.
    static let mmapThreshold = 256 << 10

    /// Once, before the server's threads start.
    static func configure() {
        _ = interleave_configure_malloc(Int32(arenas), Int32(mmapThreshold))
    }

    static func giveBack() {
        let now = interleave_monotonic_ns()
        let last = lastTrimNs.load(ordering: .relaxed)
        guard now &- last > 250_000_000,
              lastTrimNs.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged
        else {
            pending.store(true, ordering: .relaxed)
            return
        }
        pending.store(false, ordering: .relaxed)
        interleave_release_free_memory()
        trims.add(1, ordering: .relaxed)
    }

    /// Makes the trim a recent `giveBack` skipped, once 250 ms have passed since the last.
    static func giveBackIfPending() {
        if pending.load(ordering: .relaxed) { giveBack() }
    }

    /// What malloc holds from the system, and how much of it is in use.
    static func usage() -> (system: Int, inUse: Int) {
        var system = 0, inUse = 0
        interleave_malloc_usage(&system, &inUse)
        return (system, inUse)
    }
}

/// Lines for the operator on standard error, until the server has a logger.
enum FileHandleLog {
    static func error(_ text: String) {
        let line = Array("interleave: \(text)\n".utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}
