import CSystem
import Experiments
import Glibc
import HTTPServer
import JSON
import Primitives
import Store
import Synchronization
import Tracing

/// Settings of the playground; every field has a default.
public struct PlaygroundConfiguration: Sendable {
    /// Runs allowed at once; more get 429 with `Retry-After`.
    public var maxRuns = 4
    /// A run still going after this many milliseconds ends as `timedOut`.
    public var runDeadlineMs = 60_000
    /// Refuse a run whose estimated duration reaches `runDeadlineMs` (400 `run-too-long`).
    public var refuseLongRuns = true
    /// Idle event streams send a heartbeat this often.
    public var heartbeatMs = 15_000
    /// Events one run may record before the rest are counted as dropped.
    public var maxEventsPerRun = 500_000
    /// A `schedule=step` run left waiting this long for its learner ends as `timedOut`.
    public var stepIdleTimeoutMs = 600_000
    public var version = "0.1.0"

    public init() {}
}

/// Runs experiments for the API: admission (at most `maxRuns` at once), lifecycle,
/// cancellation; live runs in memory, written through to the store, which holds
/// everything else (recorded runs, notes, lessons).
public final class Playground: Sendable {
    public let configuration: PlaygroundConfiguration
    public let store: any RunStore
    private let startedNs = interleave_monotonic_ns()
    /// Runs counted against `maxRuns`: from admission until their outcome is known.
    private let active = Mutex<Set<String>>([])
    /// Runs held in memory: from admission until their whole trace is in the store.
    private let table = LiveTable()
    private var allEnded: Monitor { table.persisted }
    private let shuttingDown = Atomic<Bool>(false)
    private let writer: StoreWriter

    public init(configuration: PlaygroundConfiguration = .init(), store: any RunStore = MemoryRunStore()) {
        self.configuration = configuration
        self.store = store
        let table = self.table
        writer = StoreWriter(
            store: store, liveRuns: { table.runs.withLock { Array($0.values) } },
            persisted: { run in
                // Deleted while it was ending: gone from the store before it leaves the table,
                // so no request sees it come back in between. The flag is read under the
                // table's lock, which a DELETE holds while it sets it: either it is seen
                // here, or the run has left the table and the DELETE deletes the stored row.
                table.runs.withLock { runs in
                    if run.written.withLock({ $0.deleteWhenPersisted }) { _ = try? store.delete(run.id) }
                    _ = runs.removeValue(forKey: run.id)
                }
                _ = try? store.enforceRetention()
                Memory.giveBack()
                table.persisted.lockAndBroadcast()
            },
            failed: { run, error in
                // The store cannot take this run (disk full, unwritable): keep serving it from
                // memory until it ends, then let it go rather than hold it forever.
                if run.recorder.isFinished {
                    table.runs.withLock { _ = $0.removeValue(forKey: run.id) }
                    table.persisted.lockAndBroadcast()
                }
                FileHandleLog.error("store: run \(run.id): \(error)")
            },
            idle: {
                // No run is live or waiting for the store: the tracer keeps a few spare
                // chunks for the next run and unmaps the rest.
                TracerMemory.releaseIdle()
            })
        writer.start()
    }

    public var activeCount: Int { active.withLock { $0.count } }
    /// Runs held in memory: live, or ended and waiting for the store writer.
    public var heldCount: Int { table.runs.withLock { $0.count } }
    public var uptimeSeconds: Double { Double(interleave_monotonic_ns() - startedNs) / 1e9 }

    /// A run this server is executing (or still writing to the store), for its live objects.
    public func liveRun(_ id: String) -> LiveRun? { table.runs.withLock { $0[id] } }

    /// The run as a value, live or recorded; 404 if there is none.
    public func snapshot(_ id: String) throws(Problem) -> RunSnapshot {
        if let run = liveRun(id) {
            guard !run.written.withLock({ $0.deleteWhenPersisted }) else { throw Problem.noRun(id) }
            return run.snapshot
        }
        guard let snapshot = try storeCall({ () throws(StoreError) in try store.snapshot(id) }) else { throw Problem.noRun(id) }
        return snapshot
    }

    /// Every run, newest first: live ones as they are now.
    public func runs() throws(Problem) -> [RunSnapshot] {
        // Live runs first: a run leaves the table only once its final row is in the store,
        // so one that leaves between the two reads is still listed as it ended. Read the
        // other way round, its row could be read while still "running" and its live
        // entry gone by the time the table is read.
        let live = self.table.runs.withLock { $0 }
        let stored = try storeCall { () throws(StoreError) in try store.list() }
        return stored.compactMap { run in
            guard let current = live[run.id] else { return run }
            return current.written.withLock({ $0.deleteWhenPersisted }) ? nil : current.snapshot
        }
    }

    /// Validates and starts a run; throws a problem for bad input or a full house.
    public func startRun(experimentID: String?, params: JSONValue?) throws(Problem) -> LiveRun {
        guard let experimentID else {
            throw Problem.badRequest("the body must name an experiment, e.g. {\"experiment\":\"thread-pool\"}",
                                     title: "Invalid request", slug: "invalid-request", extra: ["field": "experiment"])
        }
        guard let experiment = Catalog.experiment(experimentID) else {
            throw Problem.unknownExperiment(experimentID, field: "experiment")
        }
        let resolved: Parameters
        do {
            resolved = try experiment.resolve(params)
        } catch {
            throw Problem.badRequest(error.detail, title: "Invalid parameter", slug: "invalid-parameter",
                                     extra: ["field": .string(error.parameter.map { "params.\($0)" } ?? "params")])
        }
        // Parameters that could only end at the deadline are refused up front.
        if configuration.refuseLongRuns, let estimate = experiment.estimate(resolved),
           estimate.ms >= configuration.runDeadlineMs {
            let named = estimate.parameters.map { "\($0) \(resolved[$0]?.jsonString ?? "?")" }.joined(separator: ", ")
            throw Problem.badRequest(
                "these parameters (\(named)) would run for at least \(estimate.ms / 1000) s (\(estimate.reason)), past the run deadline of \(configuration.runDeadlineMs / 1000) s; lower \(estimate.parameters.joined(separator: " or "))",
                title: "Run would not finish", slug: "run-too-long",
                extra: ["field": .string("params.\(estimate.parameters.first ?? "")"), "estimateMs": .int(estimate.ms),
                        "deadlineMs": .int(configuration.runDeadlineMs), "parameters": JSONValue(estimate.parameters)])
        }
        guard !shuttingDown.load(ordering: .acquiring) else {
            throw Problem(status: 503, title: "Shutting down", detail: "the server is stopping", slug: "shutting-down")
        }
        let id = Self.newID()
        let admitted = active.withLock { active in
            guard active.count < configuration.maxRuns else { return false }
            active.insert(id)
            return true
        }
        guard admitted else {
            throw Problem(status: 429, title: "Too many runs",
                          detail: "at most \(configuration.maxRuns) runs may be active at once; wait for one to end",
                          slug: "too-many-runs", extra: ["limit": .int(configuration.maxRuns)],
                          headers: [("Retry-After", "2")])
        }
        let execution = ExperimentRun(id: id, experiment: experiment, params: resolved,
                                      deadlineMs: configuration.runDeadlineMs,
                                      capacity: configuration.maxEventsPerRun,
                                      stepIdleTimeoutMs: configuration.stepIdleTimeoutMs)
        let run = LiveRun(id: id, execution: execution)
        run.markStarted()
        // In the table before its row exists: a DELETE is never without the live run and
        // so never deletes the row under the writer (it cancels instead).
        table.runs.withLock { $0[id] = run }
        do {
            // The row before any event: after a crash, a row without an end is a run that was cut off.
            try store.insert(run.snapshot)
        } catch {
            table.runs.withLock { _ = $0.removeValue(forKey: id) }
            active.withLock { _ = $0.remove(id) }
            throw Problem.storeFailed(error)
        }
        Observability.runStarted(run)
        execution.start { [self] outcome in
            run.markEnded(outcome)
            Observability.runEnded(run, status: outcome.status.rawValue, summary: outcome.summary)
            active.withLock { _ = $0.remove(id) }
            writer.wake()
        }
        return run
    }

    /// Whether the server is stopping (long requests give up early).
    public var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }

    /// Cancels a live run (true) or deletes a finished one (false).
    public func cancelOrDelete(_ id: String) throws(Problem) -> Bool {
        enum Live { case running(LiveRun), marked, markedBefore, gone }
        // Under the table's lock (see `persisted`): a run still in the table when its flag
        // is set is deleted by the store writer, one that has left it is deleted below.
        let live: Live = table.runs.withLock { runs in
            guard let run = runs[id] else { return .gone }
            if !run.status.isFinal { return .running(run) }
            let first = run.written.withLock { written in
                defer { written.deleteWhenPersisted = true }
                return !written.deleteWhenPersisted
            }
            return first ? .marked : .markedBefore
        }
        switch live {
        case .running(let run):
            run.execution.control.stop(.cancelled)
            return true
        case .marked:
            writer.wake()
            return false
        case .markedBefore:
            throw Problem.noRun(id)
        case .gone:
            break
        }
        guard try storeCall({ () throws(StoreError) in try store.delete(id) }) else { throw Problem.noRun(id) }
        Memory.giveBack()
        return false
    }

    /// Edits a run's title, description, tags or pinned flag, live or recorded.
    public func edit(_ id: String, _ change: @escaping (inout RunSnapshot) -> Void) throws(Problem) -> RunSnapshot {
        try writer.updates.withLock { _ throws(Problem) in
            if let run = liveRun(id) {
                run.edit(change)
                let snapshot = run.snapshot
                var row = snapshot
                if row.status.isFinal, !run.written.withLock({ $0.sealed }) {
                    // Ended, but its writer has not written the whole trace yet: its row keeps
                    // saying `running` until the writer seals it (an ended row would close the
                    // trace early and let retention evict the run under its writer).
                    row.status = .running
                    row.endedAt = nil
                    row.summary = nil
                }
                try storeCall { () throws(StoreError) in try store.update(row) }
                return snapshot
            }
            guard var snapshot = try storeCall({ () throws(StoreError) in try store.snapshot(id) }) else { throw Problem.noRun(id) }
            change(&snapshot)
            let edited = snapshot
            try storeCall { () throws(StoreError) in try store.update(edited) }
            return edited
        }
    }

    /// Stores a run made elsewhere (an imported trace) and applies retention.
    public func record(_ snapshot: RunSnapshot, lines: [UInt8], count: Int) throws(Problem) {
        try storeCall { () throws(StoreError) in
            try store.insert(snapshot)
            if count > 0 { try store.append(snapshot.id, lines: lines, count: count) }
            var final = snapshot
            final.eventCount = count
            final.bytes = lines.count
            try store.update(final)
            try store.enforceRetention()
        }
    }

    /// Stops every live run as `interrupted`, waits (bounded) for them to end and
    /// reach the store, then stops the writer.
    public func shutdown(timeoutMs: Int = 5_000) {
        shuttingDown.store(true, ordering: .releasing)
        for run in table.runs.withLock({ Array($0.values) }) { run.execution.control.stop(.interrupted) }
        writer.wake()
        let deadline = Monitor.deadline(afterMs: timeoutMs)
        allEnded.withLock {
            _ = try? allEnded.wait(until: { table.runs.withLock { $0.isEmpty } }, deadlineNs: deadline)
        }
        writer.stop()
    }

    /// Runs a store call, turning its failure into a 500 problem that says what broke.
    func storeCall<T>(_ body: () throws(StoreError) -> T) throws(Problem) -> T {
        do { return try body() } catch { throw Problem.storeFailed(error) }
    }

    /// Short, unguessable-enough run ids: 12 hex digits from the system's random source.
    public static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<6).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }
}

/// Live runs by id, and a monitor broadcast each time one leaves for the store.
private final class LiveTable: Sendable {
    let runs = Mutex<[String: LiveRun]>([:])
    let persisted = Monitor(control: RunControl())
}

extension Problem {
    static func noRun(_ id: String) -> Problem { Problem.notFound("no run \"\(id.prefix(80))\"") }

    static func storeFailed(_ error: StoreError) -> Problem {
        if error.code == .notFound { return Problem.notFound(error.description) }
        return Problem(status: 500, title: "Store failed", detail: "the run store failed: \(error.description)", slug: "store-failed")
    }

    /// 404 for an experiment id the catalog does not have, listing the ones it does.
    static func unknownExperiment(_ id: String, field: String? = nil) -> Problem {
        Problem(status: 404, title: "Unknown experiment",
                detail: "no experiment \"\(id.prefix(80))\"; known experiments: \(Catalog.ids.joined(separator: ", "))",
                slug: "unknown-experiment", extra: field.map { ["field": .string($0)] } ?? [:])
    }
}
