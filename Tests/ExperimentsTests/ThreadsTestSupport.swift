import Experiments
import JSON
import Testing
import Tracing

/// Runs a catalog experiment to its end with `params`; returns its outcome and trace.
func runThreadsExperiment(_ id: String, _ params: JSONValue = [:], deadlineMs: Int = 20_000) throws -> (RunOutcome, [TraceEvent]) {
    let experiment = try #require(Catalog.experiment(id))
    let execution = ExperimentRun(id: "test-\(id)", experiment: experiment, params: try experiment.resolve(params),
                                  deadlineMs: deadlineMs)
    let outcome = execution.runToEnd()
    return (outcome, execution.recorder.events)
}

extension [TraceEvent] {
    func of(_ type: String) -> [TraceEvent] { filter { $0.type == type } }
    func on(_ lane: String) -> [TraceEvent] { filter { $0.lane == lane } }

    /// Every lane that started ended, and the run ended last.
    var everyLaneEnded: Bool {
        let started = Set(of("lane.start").map(\.lane))
        let ended = Set(of("lane.end").map(\.lane))
        return started == ended && last?.type == "run.end"
    }
}

extension TraceEvent {
    func int(_ key: String) -> Int? { fields[key]?.intValue }
    func string(_ key: String) -> String? { fields[key]?.stringValue }
}
