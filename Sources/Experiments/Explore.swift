import JSON
import Primitives

/// Systematic concurrency testing, explained: runs one experiment under many seeded
/// schedules and reports how many went wrong — lost updates, deadlocks, failures — with
/// the shortest schedule that went wrong, replayable as `schedule=replay`.
public enum Explore {
    public struct Request: Sendable {
        public let experiment: Experiment
        public let params: Parameters
        public let seeds: Int
        public let firstSeed: Int

        public init(experiment: Experiment, params: Parameters, seeds: Int, firstSeed: Int = 1) {
            self.experiment = experiment
            self.params = params
            self.seeds = seeds
            self.firstSeed = firstSeed
        }
    }

    /// What went wrong in one run, or nil if nothing did.
    static func failure(_ outcome: RunOutcome) -> String? {
        if outcome.status == .deadlocked { return "deadlock" }
        if outcome.status == .failed { return "failed" }
        if let lost = outcome.summary["lost"]?.intValue, lost > 0 { return "lost update" }
        return nil
    }

    /// Runs every seed, one after another (each run on its own threads, all joined before
    /// the next starts). `shouldStop` is polled between runs (a cancelled request).
    public static func run(_ request: Request, deadlineMs: Int = 10_000,
                           shouldStop: @Sendable () -> Bool = { false }) -> JSONObject {
        // The default schedule's length sets the PCT horizon: priority changes are drawn
        // from the steps a run of this size really takes.
        let probe = ExperimentRun(id: "explore-probe", experiment: request.experiment, params: request.params,
                                  deadlineMs: deadlineMs, schedule: .replay(choices: [])).runToEnd()
        let horizon = max(probe.summary["schedule"]?.arrayValue?.count ?? 50, 2)
        var counts: [String: Int] = [:]
        var runs = 0
        var firstFailing: Int?
        var shortest: (seed: Int, kind: String, choices: [JSONValue], verdict: JSONValue)?
        for seed in request.firstSeed..<(request.firstSeed + request.seeds) {
            if shouldStop() { break }
            var values = request.params.values
            values["schedule"] = "seeded"
            values["seed"] = .int(seed)
            let params = (try? request.experiment.resolve(.object(values))) ?? request.params
            let outcome = ExperimentRun(id: "explore-\(seed)", experiment: request.experiment, params: params,
                                        deadlineMs: deadlineMs,
                                        schedule: .seeded(seed: UInt64(seed), depth: 3, steps: horizon)).runToEnd()
            runs += 1
            guard let kind = failure(outcome) else { continue }
            counts[kind, default: 0] += 1
            if firstFailing == nil { firstFailing = seed }
            let choices = outcome.summary["schedule"]?.arrayValue ?? []
            if shortest == nil || choices.count < shortest!.choices.count {
                shortest = (seed, kind, choices, outcome.summary["verdict"] ?? .null)
            }
        }
        let failed = counts.values.reduce(0, +)
        var report: JSONObject = [
            "experiment": .string(request.experiment.id), "params": .object(request.params.values),
            "runs": .int(runs), "failed": .int(failed), "passed": .int(runs - failed),
            "byKind": .object(JSONObject(counts.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.int($0.value)) })),
            "horizon": .int(horizon),
        ]
        if let firstFailing { report["firstFailingSeed"] = .int(firstFailing) }
        if let shortest {
            report["shortest"] = [
                "seed": .int(shortest.seed), "kind": .string(shortest.kind), "steps": .int(shortest.choices.count),
                "choices": .array(shortest.choices), "verdict": shortest.verdict,
            ]
        }
        report["verdict"] = .string(failed == 0
            ? "\(runs) seeded schedules, none went wrong: no lost update or deadlock was found (which does not prove there is none)."
            : "\(failed) of \(runs) seeded schedules went wrong (first at seed \(firstFailing!)); the shortest, seed \(shortest!.seed), "
              + "takes \(shortest!.choices.count) steps — replay it with schedule=replay and its choices.")
        return report
    }
}
