import Experiments
import Glibc
import JSON
import Synchronization
import Tracing

/// One run as the API shows it: the execution plus its lifecycle timestamps.
public final class RunRecord: Sendable {
    public let id: String
    public let experiment: String
    public let params: Parameters
    public let createdAt: String
    public let execution: ExperimentRun

    private struct Lifecycle {
        var status: RunStatus = .queued
        var startedAt: String?
        var endedAt: String?
        var summary: JSONObject?
    }

    private let lifecycle = Mutex(Lifecycle())

    init(id: String, execution: ExperimentRun) {
        self.id = id
        self.experiment = execution.experiment.id
        self.params = execution.context.params
        self.createdAt = Timestamp.now()
        self.execution = execution
    }

    public var status: RunStatus { lifecycle.withLock { $0.status } }
    public var recorder: TraceRecorder { execution.recorder }

    func markStarted() {
        lifecycle.withLock {
            $0.status = .running
            $0.startedAt = Timestamp.now()
        }
    }

    func markEnded(_ outcome: RunOutcome) {
        lifecycle.withLock {
            $0.status = outcome.status
            $0.summary = outcome.summary
            $0.endedAt = Timestamp.now()
        }
    }

    public var json: JSONValue {
        let state = lifecycle.withLock { $0 }
        let base = "/api/runs/\(id)"
        return [
            "id": .string(id), "experiment": .string(experiment), "params": .object(params.values),
            "status": .string(state.status.rawValue), "createdAt": .string(createdAt),
            "startedAt": JSONValue(state.startedAt), "endedAt": JSONValue(state.endedAt),
            "summary": state.summary.map(JSONValue.object) ?? .null,
            "eventCount": .int(recorder.count),
            "links": [
                "self": .string(base), "events": .string(base + "/events"),
                "trace": .string(base + "/trace?format=chrome"),
            ],
        ]
    }
}

/// ISO 8601 UTC timestamps with milliseconds, from the wall clock.
enum Timestamp {
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var seconds = spec.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(spec.tv_nsec / 1_000_000), 3))Z"
    }
}
