import CSystem
import Glibc
import Primitives
import Store
import Synchronization
import Tracing

/// Events as canonical NDJSON lines, for traces that do not come from a live
/// recorder (imports, the CLI, a live run's whole trace at once). The store writer
/// persists the recorder's own encoded bytes (`readEncoded`), the same encoder's output.
public enum CanonicalTrace {
    public static func lines<Events: Sequence<TraceEvent>>(_ events: Events) -> [UInt8] {
        EventEncoding.ndjson.encode(events)
    }
}

/// Writes live runs through to the store from one background thread: every
/// `intervalMs` (sooner when a run ends) it reads each live run's new events with
/// the recorder's ordinary read API — nothing is added to the traced threads' path —
/// and appends their lines. A run whose trace has finished is then sealed (its final
/// snapshot written) and handed to `persisted`.
final class StoreWriter: Sendable {
    private let store: any RunStore
    private let intervalMs: Int
    private let liveRuns: @Sendable () -> [LiveRun]
    private let persisted: @Sendable (LiveRun) -> Void
    private let failed: @Sendable (LiveRun, StoreError) -> Void
    private let idle: @Sendable () -> Void
    private let monitor = Monitor(control: RunControl())
    private let stopping = Atomic<Bool>(false)
    private let thread = Mutex<TracedThread?>(nil)
    /// Serialises snapshot-then-update, so an edit and the final write cannot cross.
    let updates = Mutex(())

    init(store: any RunStore, intervalMs: Int = 50, liveRuns: @escaping @Sendable () -> [LiveRun],
         persisted: @escaping @Sendable (LiveRun) -> Void, failed: @escaping @Sendable (LiveRun, StoreError) -> Void,
         idle: @escaping @Sendable () -> Void = {}) {
        self.store = store
        self.intervalMs = intervalMs
        self.liveRuns = liveRuns
        self.persisted = persisted
        self.failed = failed
        self.idle = idle
    }

    func start() {
        thread.withLock { thread in
            guard thread == nil else { return }
            thread = TracedThread(name: "store-writer") { [self] in loop() }
        }
    }

    /// Asks for a pass now (a run ended).
    func wake() { monitor.lockAndBroadcast() }

    /// Finishes the pass in progress, makes a last one, and joins the thread.
    func stop() {
        stopping.store(true, ordering: .releasing)
        wake()
        thread.withLock { $0 }?.join()
    }

    private func loop() {
        while true {
            let last = stopping.load(ordering: .acquiring)
            pass()
            if last { return }
            monitor.withLock {
                _ = try? monitor.wait(deadlineNs: Monitor.deadline(afterMs: intervalMs))
            }
        }
    }

    /// One pass over every live run, oldest first. Each seal enforces retention, which
    /// evicts the oldest finished runs; a newer run sealed first (the table is unordered)
    /// would be evicted in place of an older one whose final row was not written yet.
    func pass() {
        let runs = liveRuns()
        for run in runs.sorted(by: { $0.ordinal < $1.ordinal }) {
            do {
                if try drain(run) { try seal(run) } else { continue }
                persisted(run)
            } catch {
                failed(run, error)
            }
        }
        // `idle` when no run was held at the start of the pass, or none is now.
        if runs.isEmpty || liveRuns().isEmpty { idle() }
        // A trim skipped because it came too soon after another is made once it may be.
        Memory.giveBackIfPending()
    }

    /// Appends what the store does not have yet; true once the whole trace is in.
    /// The bytes are the recorder's own encoding of each event (encoded once per run,
    /// shared with every live stream), so what is stored is what clients received.
    private func drain(_ run: LiveRun) throws(StoreError) -> Bool {
        while true {
            let from = run.written.withLock { $0.events }
            let batch = run.recorder.readEncoded(from: from, limit: 8192)
            if batch.isEmpty { return batch.finished }
            try store.append(run.id, lines: batch.bytes, count: batch.count)
            run.written.withLock {
                $0.events += batch.count
                $0.bytes += batch.bytes.count
            }
            if batch.finished { return true }
        }
    }

    private func seal(_ run: LiveRun) throws(StoreError) {
        try updates.withLock { _ throws(StoreError) in
            try store.update(run.snapshot)
            run.written.withLock { $0.sealed = true }
        }
    }
}
