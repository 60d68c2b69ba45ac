import JSON
import Primitives

/// `schedule`, `seed` and `choices`: the parameters of the thread experiments whose every
/// traced operation can be a scheduling point (DESIGN.md, "controlled schedules").
public enum ScheduleParameters {
    /// The experiments built only from traced primitives and `RunContext.spawn`ed threads.
    public static let controllable: Set<String> = [
        "race-condition", "mutex-vs-rlock", "deadlock", "event", "semaphore", "condition", "barrier",
        "queues", "producer-consumer", "thread-pool",
    ]

    static let specs: [ParameterSpec] = [
        .choice("schedule", ["free", "step", "seeded", "replay"], default: "free",
                "Who decides which thread goes next at each traced operation: the OS (free), you (step: "
                + "POST /api/runs/{id}/step), a seeded scheduler (seeded), or a recorded list (replay: choices)."),
        .integer("seed", 0...2_147_483_647, default: 1,
                 "Seed of the seeded scheduler (schedule=seeded); the same seed gives the same interleaving."),
        .strings("choices", maxItems: 10_000,
                 "Lane names, one per scheduling decision, from an earlier run's summary.schedule: replayed "
                 + "exactly (schedule=replay), or taken first before you are asked (schedule=step)."),
    ]

    /// `experiment` with the schedule parameters added, if it is controllable. An
    /// experiment that already has a `seed` keeps it; the scheduler then uses that one.
    static func adding(to experiment: Experiment) -> Experiment {
        guard controllable.contains(experiment.id) else { return experiment }
        var copy = experiment
        for spec in specs where !copy.parameters.contains(where: { $0.name == spec.name }) {
            copy.parameters.append(spec)
        }
        return copy
    }

    /// The controlled mode the parameters ask for, or nil for `free` (and for experiments
    /// without the parameter).
    public static func mode(of params: Parameters) -> ScheduleController.Mode? {
        switch params["schedule"]?.stringValue {
        case "step": .step
        case "seeded": .seeded(seed: UInt64(params["seed"]?.intValue ?? 1))
        case "replay": .replay(choices: params.strings("choices"))
        default: nil
        }
    }

    /// Whether a run of these parameters follows a controlled schedule.
    public static func isControlled(_ params: Parameters) -> Bool { mode(of: params) != nil }
}
