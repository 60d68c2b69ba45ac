import JSON

/// How long a run will take at the least, from its parameters alone — the sleeps and
/// work it must do, not counting overhead — and the parameters that make it so. A run
/// whose estimate is past the run deadline could only end as `timedOut`, so the API
/// refuses it up front with a 400 naming those parameters (`Playground.startRun`).
public struct DurationEstimate: Sendable, Equatable {
    public let ms: Int
    /// The parameters the estimate grows with, most important first.
    public let parameters: [String]
    /// How the figure was reached, e.g. "12 tasks × 200 ms on 4 workers".
    public let reason: String
}

extension Experiment {
    /// The least this run can take with `params`, if the experiment has an estimate.
    public func estimate(_ params: Parameters) -> DurationEstimate? {
        DurationEstimates.table[id]?(params)
    }
}

enum DurationEstimates {
    /// Process start-up, a low figure (posix_spawn of the server's executable).
    static let spawnMs = 5

    static let table: [String: @Sendable (Parameters) -> DurationEstimate] = [
        "thread-pool": { p in
            let durations = jittered(p, "taskMs", count: p.int("tasks"))
            let serial = p.string("mode") == "sync" || p.bool("lock")
            let ms = serial ? durations.reduce(0, +) : listSchedule(durations, workers: p.int("workers"))
            return .init(ms: ms, parameters: ["tasks", "taskMs", "workers"],
                         reason: "\(p.int("tasks")) tasks of about \(p.int("taskMs")) ms \(serial ? "one at a time" : "on \(p.int("workers")) workers")")
        },
        "callbacks": { p in
            let durations = jittered(p, "taskMs", count: p.int("tasks"))
            return .init(ms: listSchedule(durations, workers: p.int("workers")), parameters: ["tasks", "taskMs", "workers"],
                         reason: "\(p.int("tasks")) tasks of about \(p.int("taskMs")) ms on \(p.int("workers")) workers")
        },
        "process-pool": { p in
            let durations = jittered(p, "taskMs", count: p.int("tasks"))
            let serial = ["apply", "sync"].contains(p.string("mode")) || p.bool("lock")
            let ms = serial ? durations.reduce(0, +) : listSchedule(durations, workers: p.int("workers"))
            return .init(ms: ms, parameters: ["tasks", "taskMs", "workers"],
                         reason: "\(p.int("tasks")) tasks of about \(p.int("taskMs")) ms \(serial ? "one at a time" : "on \(p.int("workers")) workers")")
        },
        "producer-consumer": { p in
            let items = p.int("items")
            let produce = items * p.int("produceMs") / p.int("producers")
            let consume = items * p.int("consumeMs") / p.int("consumers")
            return .init(ms: max(produce, consume), parameters: ["items", "consumeMs", "produceMs"],
                         reason: "\(items) items, each \(p.int("produceMs")) ms to produce on \(p.int("producers")) producers and \(p.int("consumeMs")) ms to consume on \(p.int("consumers")) consumers")
        },
        "sequential-vs-concurrent": { p in
            let job = p.int("steps") * p.int("taskMs")
            return .init(ms: 4 * job, parameters: ["taskMs", "steps"],
                         reason: "two jobs of \(p.int("steps")) × \(p.int("taskMs")) ms one after another, then twice side by side")
        },
        "deadlock": { p in
            let count = p.int("philosophers"), hold = p.int("holdMs"), meals = p.int("meals")
            // naive deadlocks after one hold; the others may have to take turns around the table.
            let ms = p.string("strategy") == "naive" ? hold : count * meals * 2 * hold / 2
            return .init(ms: ms, parameters: ["holdMs", "philosophers", "meals"],
                         reason: p.string("strategy") == "naive" ? "one hold of \(hold) ms"
                            : "\(count) philosophers × \(meals) meals, holding forks \(hold) ms, about half of them waiting their turn")
        },
        "processes": { p in
            let count = p.int("count"), work = p.int("workMs")
            let serial = p.string("action") == "serial"
            return .init(ms: serial ? count * (work + spawnMs) : work / (p.string("action") == "join" ? 1 : 2) + count * spawnMs,
                         parameters: ["workMs", "count"],
                         reason: serial ? "\(count) children of \(work) ms one after another" : "\(count) children working \(work) ms")
        },
        "spawn-cost": { p in
            .init(ms: p.int("count") * spawnMs, parameters: ["count"], reason: "\(p.int("count")) processes started one by one")
        },
        "manager": { p in
            .init(ms: p.int("processes") * spawnMs, parameters: ["processes"], reason: "\(p.int("processes")) worker processes")
        },
        "cpu-vs-io": cpuVsIOEstimate,
        "async-gather": asyncGatherEstimate,
        "coroutines": coroutinesEstimate,
        "crawler": { p in
            let pages = p.int("pages"), latency = p.int("latencyMs")
            let atOnce = p.string("backend") == "sequential" ? 1 : min(p.int("workers"), pages)
            let rounds = (pages + atOnce - 1) / atOnce
            return .init(ms: rounds * latency, parameters: ["pages", "latencyMs"],
                         reason: "\(pages) pages of \(latency) ms, \(atOnce) at a time")
        },
        "io-multiplexing": { p in
            let mechanisms = p.bool("compare") ? 2 : 1
            return .init(ms: mechanisms * 10 * p.int("gapMs"), parameters: ["gapMs", "compare"],
                         reason: "10 messages \(p.int("gapMs")) ms apart for each of \(mechanisms) mechanism\(mechanisms == 1 ? "" : "s")")
        },
        "threads": { p in
            .init(ms: p.int("workMs"), parameters: ["workMs"], reason: "threads working \(p.int("workMs")) ms")
        },
        "semaphore": { p in
            let rounds = (p.int("workers") + p.int("permits") - 1) / p.int("permits")
            return .init(ms: rounds * p.int("holdMs"), parameters: ["holdMs", "workers", "permits"],
                         reason: "\(p.int("workers")) workers holding \(p.int("holdMs")) ms, \(p.int("permits")) at a time")
        },
        "barrier": { p in
            .init(ms: p.int("rounds") * p.int("parties") * p.int("workMs"), parameters: ["rounds", "workMs", "parties"],
                  reason: "\(p.int("rounds")) rounds, each waiting for the slowest of \(p.int("parties")) parties (\(p.int("parties")) × \(p.int("workMs")) ms)")
        },
    ]

    /// The seeded task durations the experiment itself uses, when it has `jitterPct`/`seed`.
    static func jittered(_ p: Parameters, _ key: String, count: Int) -> [Int] {
        let base = p.int(key)
        guard let jitter = p["jitterPct"]?.intValue, let seed = p["seed"]?.intValue else {
            return Array(repeating: base, count: count)
        }
        return taskDurations(count: count, baseMs: base, jitterPct: jitter, seed: seed)
    }
}
