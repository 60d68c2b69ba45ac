/// Lower bounds on how long the async experiments run (see `DurationEstimates`).

/// The sequential phase always runs; then the backend, at its best.
@Sendable func cpuVsIOEstimate(_ p: Parameters) -> DurationEstimate {
    let tasks = p.int("tasks"), taskMs = p.int("taskMs"), workload = p.string("workload")
    let workers = min(p.int("workers"), tasks)
    let cpuMs = workload == "cpu" ? taskMs : workload == "mixed" ? taskMs / 2 : 0
    let sequential = tasks * taskMs
    let rounds = (tasks + workers - 1) / workers
    let backend: Int = switch p.string("backend") {
    case "sequential": 0
    case "async": tasks * cpuMs + (taskMs - cpuMs)
    case "threads" where p.bool("gil"): max(tasks * cpuMs, rounds * taskMs)
    default: rounds * taskMs
    }
    return .init(ms: sequential + backend, parameters: ["taskMs", "tasks", "workers"],
                 reason: "\(tasks) tasks of \(taskMs) ms one after another, then on the \(p.string("backend")) backend")
}

@Sendable func asyncGatherEstimate(_ p: Parameters) -> DurationEstimate {
    var numbers = SeededNumbers(seed: p.int("seed"))
    let steps = p.int("steps"), count = p.int("tasks")
    let totals = (0..<count).map { _ in (0..<steps).map { _ in numbers.next(upTo: p.int("maxStepMs")) }.reduce(0, +) }
    let sequential = p.string("mode") == "sequential"
    return .init(ms: sequential ? totals.reduce(0, +) : totals.max() ?? 0, parameters: ["maxStepMs", "steps", "tasks"],
                 reason: "\(count) tasks of \(steps) seeded sleeps up to \(p.int("maxStepMs")) ms, \(sequential ? "one after another" : "side by side")")
}

@Sendable func coroutinesEstimate(_ p: Parameters) -> DurationEstimate {
    let one = p.int("steps") * p.int("stepMs"), tasks = p.int("tasks")
    let ms: Int = switch p.string("style") {
    case "generator": tasks * one
    case "gevent" where p.bool("blocking") && !p.bool("monkeyPatch"): one * min(tasks, 2)
    default: one
    }
    return .init(ms: ms, parameters: ["stepMs", "steps", "tasks"],
                 reason: "\(tasks) coroutines of \(p.int("steps")) steps × \(p.int("stepMs")) ms on one thread")
}
