import CSystem
import Experiments
import Glibc
import HTTPServer
import JSON
import Primitives
import Synchronization

/// Settings of the playground; every field has a default.
public struct PlaygroundConfiguration: Sendable {
    /// Runs allowed at once; more get 429 with `Retry-After`.
    public var maxRuns = 4
    /// A run still going after this many milliseconds ends as `timedOut`.
    public var runDeadlineMs = 60_000
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
/// cancellation, and the store of recorded runs.
public final class Playground: Sendable {
    public let configuration: PlaygroundConfiguration
    public let store: any RunStore
    private let startedNs = interleave_monotonic_ns()
    private let active = Mutex<[String: RunRecord]>([:])
    private let allEnded = Monitor(control: RunControl())
    private let shuttingDown = Atomic<Bool>(false)

    public init(configuration: PlaygroundConfiguration = .init(), store: any RunStore = InMemoryRunStore()) {
        self.configuration = configuration
        self.store = store
    }

    public var activeCount: Int { active.withLock { $0.count } }
    public var uptimeSeconds: Double { Double(interleave_monotonic_ns() - startedNs) / 1e9 }

    /// Validates and starts a run; throws a problem for bad input or a full house.
    public func startRun(experimentID: String?, params: JSONValue?) throws(Problem) -> RunRecord {
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
        guard !shuttingDown.load(ordering: .acquiring) else {
            throw Problem(status: 503, title: "Shutting down", detail: "the server is stopping", slug: "shutting-down")
        }
        let id = Self.newID()
        let execution = ExperimentRun(id: id, experiment: experiment, params: resolved,
                                      deadlineMs: configuration.runDeadlineMs,
                                      capacity: configuration.maxEventsPerRun,
                                      stepIdleTimeoutMs: configuration.stepIdleTimeoutMs)
        let record = RunRecord(id: id, execution: execution)
        let admitted = active.withLock { active in
            guard active.count < configuration.maxRuns else { return false }
            active[id] = record
            return true
        }
        guard admitted else {
            throw Problem(status: 429, title: "Too many runs",
                          detail: "at most \(configuration.maxRuns) runs may be active at once; wait for one to end",
                          slug: "too-many-runs", extra: ["limit": .int(configuration.maxRuns)],
                          headers: [("Retry-After", "2")])
        }
        store.insert(record)
        record.markStarted()
        Observability.runStarted(record)
        execution.start { [self] outcome in
            record.markEnded(outcome)
            Observability.runEnded(record, status: outcome.status.rawValue, summary: outcome.summary)
            active.withLock { _ = $0.removeValue(forKey: id) }
            allEnded.lockAndBroadcast()
        }
        return record
    }

    /// The live execution of run `id`, if it is still running.
    public func liveRun(_ id: String) -> ExperimentRun? {
        active.withLock { $0[id]?.execution }
    }

    /// Whether the server is stopping (long requests give up early).
    public var isShuttingDown: Bool { shuttingDown.load(ordering: .acquiring) }

    /// Cancels a live run (true) or deletes a finished one (false).
    public func cancelOrDelete(_ id: String) throws(Problem) -> Bool {
        guard let record = store.get(id) else { throw Problem.notFound("no run \"\(id.prefix(80))\"") }
        if record.status.isFinal {
            store.remove(id)
            return false
        }
        record.execution.control.stop(.cancelled)
        return true
    }

    /// Stops every live run as `interrupted` and waits (bounded) for them to end.
    public func shutdown(timeoutMs: Int = 5_000) {
        shuttingDown.store(true, ordering: .releasing)
        for record in active.withLock({ Array($0.values) }) { record.execution.control.stop(.interrupted) }
        let deadline = Monitor.deadline(afterMs: timeoutMs)
        allEnded.withLock {
            _ = try? allEnded.wait(until: { active.withLock { $0.isEmpty } }, deadlineNs: deadline)
        }
    }

    /// Short, unguessable-enough run ids: 12 hex digits from the system's random source.
    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<6).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }
}

extension Problem {
    /// 404 for an experiment id the catalog does not have, listing the ones it does.
    static func unknownExperiment(_ id: String, field: String? = nil) -> Problem {
        Problem(status: 404, title: "Unknown experiment",
                detail: "no experiment \"\(id.prefix(80))\"; known experiments: \(Catalog.ids.joined(separator: ", "))",
                slug: "unknown-experiment", extra: field.map { ["field": .string($0)] } ?? [:])
    }
}
