import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// Seed 000 §8, §11: why "threads for IO, processes for CPU" — the GIL.
    public static let cpuVsIO = Experiment(
        id: "cpu-vs-io",
        title: "CPU-bound vs IO-bound: threads, processes, async and the GIL",
        category: "Async",
        summary: "The same tasks (CPU work calibrated to taskMs, a blocking sleep, or both) run one after another, then on threads, processes or an event loop — with an emulated global interpreter lock.",
        lesson: """
            First the tasks run one after another on main (the sequential phase, this run's own \
            baseline), then on the chosen backend. With gil on, each process has one global \
            interpreter lock, emulated with CPython's rules (Python/ceval_gil.c) — it is our lock, \
            not CPython's: a thread must hold it to compute; a thread that wants it waits 5 ms (the \
            switch interval), then sets a drop request; the holder drops it at its next check and \
            waits until the other has taken it; blocking IO (time.sleep) releases it. Each thread's \
            lane shows its waits for the GIL, and the GIL's holder is drawn on a track of its own: \
            with threads doing CPU work it passes from one to the other every ~5 ms and never two \
            compute at once, so they take as long as one after another — and use one core. \
            Processes each have their own GIL (their own interpreter), so they compute side by \
            side on different cores. Sleeping threads hold no GIL, so IO-bound threads overlap \
            their sleeps. The event loop runs CPU work one task after another (nothing awaits) but \
            overlaps sleeps. Hence the notes' rule: threads (or async) for IO, processes for CPU. \
            Turn gil off to see free-threaded Python.
            """,
        parameters: [
            .choice("workload", ["cpu", "io", "mixed"], default: "cpu", "CPU work, a blocking sleep, or half of each."),
            .choice("backend", ["sequential", "threads", "processes", "async"], default: "threads", "Where the tasks run."),
            .integer("workers", 1...16, default: 2, "Threads or processes (not used by sequential and async)."),
            .integer("tasks", 1...64, default: 4, "Tasks to run."),
            .integer("taskMs", 10...5000, default: 200, "What one task costs alone: CPU time, sleep, or half of each."),
            .boolean("gil", default: true, "Emulate the global interpreter lock (one per process)."),
        ],
        body: runCPUvsIO
    )
}

/// What one task does, shared by every backend (and by the worker processes).
struct GILTaskPlan: Sendable {
    let workload: String
    let taskMs: Int
    let work: CPUWork

    var cpuIterations: Int {
        switch workload {
        case "cpu": work.iterations(forMs: taskMs)
        case "mixed": work.iterations(forMs: taskMs / 2)
        default: 0
        }
    }

    var sleepMs: Int {
        switch workload {
        case "io": taskMs
        case "mixed": taskMs - taskMs / 2
        default: 0
        }
    }
}

/// One thread's way of running tasks: compute holding its process's GIL (if any),
/// release the GIL around the blocking sleep.
struct GILTaskRunner: Sendable {
    let plan: GILTaskPlan
    let gil: GIL?
    let thread: GIL.ThreadState
    let control: RunControl
    /// Sleeps `ms` on this thread, traced.
    let sleep: @Sendable (Int) throws(RunInterrupted) -> Void

    func run(task: Int) throws(RunInterrupted) {
        _ = thread.emit("task.start", nil, ["task": .int(task)])
        if plan.cpuIterations > 0 {
            if let gil {
                try gil.compute(thread, work: plan.work, iterations: plan.cpuIterations, control: control)
            } else {
                let chunk = max(plan.work.iterationsPerMs / 20, 1)
                var left = plan.cpuIterations
                while left > 0 {
                    plan.work.run(min(chunk, left))
                    left -= chunk
                    try control.check()
                }
            }
        }
        if plan.sleepMs > 0 {
            try gil?.drop(thread, .blockingIO)
            try sleep(plan.sleepMs)
            try gil?.take(thread)
        }
        _ = thread.emit("task.end", nil, ["task": .int(task)])
    }
}

private func threadState(_ id: Int, _ lane: Lane) -> GIL.ThreadState {
    GIL.ThreadState(id: id, lane: lane.name) { type, flow, fields in lane.emit(type, flow: flow, fields) }
}

private func runCPUvsIO(_ run: RunContext) throws -> JSONObject {
    let workload = run.params.string("workload")
    let backend = run.params.string("backend")
    let tasks = run.params.int("tasks")
    let workers = min(run.params.int("workers"), tasks)
    let taskMs = run.params.int("taskMs")
    let useGIL = run.params.bool("gil")
    let main = run.main

    let work = main.phase("calibrate") { CPUWork.calibrate() }
    main.log("calibrated: \(work.iterationsPerMs) iterations of the work loop cost 1 ms of CPU")
    let plan = GILTaskPlan(workload: workload, taskMs: taskMs, work: work)
    let gil = useGIL ? GIL(name: "GIL (pid \(getpid()))", control: run.control, flows: { run.recorder.nextFlow() }) : nil
    let mainState = threadState(0, main)
    @Sendable func timeSleep(_ lane: Lane) -> @Sendable (Int) throws(RunInterrupted) -> Void {
        { (ms: Int) throws(RunInterrupted) in
            let op = JSONValue.string("time.sleep(\(pythonSeconds(ms)))")
            lane.emit("io.begin", ["op": op])
            try run.sleep(ms: ms)
            lane.emit("io.end", ["op": op])
        }
    }

    // The baseline, measured in this run: every task on main, one after another.
    let sequential = try measure(run) {
        try main.phase("sequential") { () throws(RunInterrupted) in
            try gil?.take(mainState)
            let runner = GILTaskRunner(plan: plan, gil: gil, thread: mainState, control: run.control, sleep: timeSleep(main))
            for task in 1...tasks { try runner.run(task: task) }
            try gil?.drop(mainState, .blockingIO)
        }
    }
    let phaseStartSeq = run.recorder.count
    let measured: Measured
    var processFacts: ProcessFacts?
    switch backend {
    case "sequential":
        measured = sequential
    case "threads":
        measured = try measure(run) {
            try main.phase("threads") { () throws(RunInterrupted) in
                let next = Mutex(1)
                let threads = (1...workers).map { index in
                    run.spawn("thread-\(index)") { lane in
                        let state = threadState(index, lane)
                        let runner = GILTaskRunner(plan: plan, gil: gil, thread: state, control: run.control, sleep: timeSleep(lane))
                        // A new Python thread takes the GIL before it runs any code.
                        try gil?.take(state)
                        while true {
                            let task = next.withLock { value -> Int in defer { value += 1 }; return value }
                            if task > tasks { break }
                            try runner.run(task: task)
                        }
                        try gil?.drop(state, .done)
                    }
                }
                main.emit("io.begin", ["op": "join"])
                for thread in threads { thread.join() }
                main.emit("io.end", ["op": "join"])
                try run.check()
            }
        }
    case "processes":
        let (result, facts) = try runInProcesses(run, plan: plan, tasks: tasks, workers: workers, useGIL: useGIL)
        measured = result
        processFacts = facts
    default:
        measured = try measure(run) {
            try main.phase("async") { try runOnLoop(run, plan: plan, tasks: tasks, gil: gil, mainState: mainState) }
        }
    }

    // Facts from the trace of the measured phase.
    let phaseEvents = Array(run.recorder.events.dropFirst(backend == "sequential" ? 0 : phaseStartSeq))
    let compute = computeIntervals(phaseEvents, gil: useGIL)
    let overlap = parallelism(compute)
    let gilWaitMs = (useGIL ? phaseEvents.gilWaitUs : 0) / 1000
    let cpuMs = processFacts?.cpuMs ?? measured.cpuMs
    let cores = CPUWork.cores
    let utilisation = cpuMs / max(measured.wallMs, 0.001) / Double(cores)
    let speedup = sequential.wallMs / max(measured.wallMs, 0.001)

    insights(run, events: phaseEvents, backend: backend, workload: workload, useGIL: useGIL, overlap: overlap,
             gilWaitMs: gilWaitMs, speedup: speedup)
    let verdict = cpuVsIOVerdict(workload: workload, backend: backend, workers: workers, useGIL: useGIL,
                                 sequentialMs: sequential.wallMs, backendMs: measured.wallMs, speedup: speedup,
                                 peak: overlap.peak, gilWaitMs: gilWaitMs, utilisation: utilisation, cores: cores)
    var summary: JSONObject = [
        "verdict": .string(verdict), "workload": .string(workload), "backend": .string(backend),
        "gil": .bool(useGIL), "workers": .int(backend == "threads" || backend == "processes" ? workers : 1),
        "tasks": .int(tasks), "taskMs": .int(taskMs),
        "backendMs": .double(round1(measured.wallMs)), "sequentialMs": .double(round1(sequential.wallMs)),
        "speedup": .double((speedup * 100).rounded() / 100),
        "speedupBasis": "the sequential phase of this same run",
        "cpuMs": .double(round1(cpuMs)), "cores": .int(cores),
        "cpuUtilisation": .double((utilisation * 1000).rounded() / 1000),
        "gilWaitMs": .double(round1(gilWaitMs)),
        "peakParallelCompute": .int(overlap.peak), "parallelComputeMs": .double(round1(overlap.parallelUs / 1000)),
        "iterationsPerMs": .int(work.iterationsPerMs),
    ]
    if let gil { summary["gilSwitches"] = .int(gil.switches); summary["gilDropRequests"] = .int(gil.requests) }
    if let processFacts { summary["spawnMs"] = .double(round1(processFacts.spawnMs)) }
    return summary
}

// MARK: measuring

struct Measured {
    let wallMs: Double
    /// CPU time of the threads that did the work (this process) or of the children.
    let cpuMs: Double
}

/// Wall time on the run's clock and this process's CPU time around `body`. The
/// process CPU clock counts every thread of the server, so on a busy server it
/// over-counts; the experiment's own threads dominate it while it runs.
private func measure(_ run: RunContext, _ body: () throws -> Void) throws -> Measured {
    let wallStart = run.recorder.elapsedMicros
    let cpuStart = CPUWork.processCPUNs()
    try body()
    return Measured(wallMs: milliseconds(since: wallStart, run), cpuMs: Double(CPUWork.processCPUNs() - cpuStart) / 1e6)
}

/// Intervals during which each lane computed: it held its GIL (gil on), or it was
/// inside a task and not sleeping (gil off). Keyed by lane.
func computeIntervals(_ events: [TraceEvent], gil: Bool) -> [String: [ClosedRange<Int64>]] {
    var open: [String: Int64] = [:]
    var intervals: [String: [ClosedRange<Int64>]] = [:]
    let (startTypes, endTypes): (Set<String>, Set<String>) = gil
        ? (["gil.acquire"], ["gil.release"])
        : (["task.start", "io.end"], ["io.begin", "task.end"])
    for event in events {
        if startTypes.contains(event.type) {
            if event.type == "io.end", event.fields["op"]?.stringValue?.hasPrefix("time.sleep") != true { continue }
            open[event.lane] = event.ts
        } else if endTypes.contains(event.type), let start = open.removeValue(forKey: event.lane) {
            if event.type == "io.begin", event.fields["op"]?.stringValue?.hasPrefix("time.sleep") != true {
                open[event.lane] = start
                continue
            }
            intervals[event.lane, default: []].append(start...event.ts)
        }
    }
    return intervals
}

/// How many lanes computed at once at most, and for how long two or more did.
func parallelism(_ intervals: [String: [ClosedRange<Int64>]]) -> (peak: Int, parallelUs: Double) {
    var edges: [(Int64, Int)] = []
    for ranges in intervals.values {
        for range in ranges where range.upperBound > range.lowerBound {
            edges.append((range.lowerBound, 1))
            edges.append((range.upperBound, -1))
        }
    }
    // Ends before starts at the same instant: a hand-off is not an overlap.
    edges.sort { ($0.0, $0.1) < ($1.0, $1.1) }
    var level = 0, peak = 0
    var parallel: Int64 = 0
    var last: Int64 = 0
    for (ts, delta) in edges {
        if level >= 2 { parallel += ts - last }
        level += delta
        peak = max(peak, level)
        last = ts
    }
    return (peak, Double(parallel))
}

extension [TraceEvent] {
    /// Microseconds spent between gil.wait and gil.acquire, over every lane.
    var gilWaitUs: Double {
        var open: [String: Int64] = [:]
        var total: Int64 = 0
        for event in self {
            if event.type == "gil.wait" { open[event.lane] = event.ts }
            if event.type == "gil.acquire", let start = open.removeValue(forKey: event.lane) { total += event.ts - start }
        }
        return Double(total)
    }
}

// MARK: async

private func runOnLoop(_ run: RunContext, plan: GILTaskPlan, tasks: Int, gil: GIL?, mainState: GIL.ThreadState) throws {
    let loopLane = run.lane("loop", kind: .thread)
    let loop = try EventLoop(lane: loopLane, control: run.control)
    // One thread: it holds the GIL except while the loop blocks in epoll_wait.
    if let gil {
        let loopState = GIL.ThreadState(id: 0, lane: loopLane.name) { type, flow, fields in loopLane.emit(type, flow: flow, fields) }
        loop.aroundWait = ({ try gil.drop(loopState, .blockingIO) }, { try gil.take(loopState) })
        loopLane.start()
        try gil.take(loopState)
    } else {
        loopLane.start()
    }
    var finished = 0
    for task in 1...tasks {
        let lane = run.lane("task-\(task)", kind: .task)
        let coroutine = Coroutine(lane.name, host: loop.host) {
            lane.start()
            do {
                lane.emit("task.start", ["task": .int(task)])
                // Compute: no await inside, so no other task runs meanwhile.
                if plan.cpuIterations > 0 {
                    let chunk = max(plan.work.iterationsPerMs / 20, 1)
                    var left = plan.cpuIterations
                    while left > 0 {
                        plan.work.run(min(chunk, left))
                        left -= chunk
                        try run.check()
                    }
                }
                if plan.sleepMs > 0 {
                    let op = JSONValue.string("await asyncio.sleep(\(pythonSeconds(plan.sleepMs)))")
                    lane.emit("io.begin", ["op": op])
                    try loop.sleep(ms: plan.sleepMs)
                    lane.emit("io.end", ["op": op])
                }
                lane.emit("task.end", ["task": .int(task)])
                finished += 1
                lane.end()
            } catch let interrupted as RunInterrupted {
                lane.emit("lane.end", ["cutOff": true, "reason": .string(interrupted.reason.rawValue)])
                throw interrupted
            }
        }
        loop.schedule(coroutine)
    }
    defer { loopLane.end() }
    try loop.run(until: { finished == tasks })
    if let gil {
        try gil.drop(GIL.ThreadState(id: 0, lane: loopLane.name) { type, flow, fields in loopLane.emit(type, flow: flow, fields) }, .done)
    }
    _ = mainState
}

// MARK: processes

struct ProcessFacts {
    let cpuMs: Double
    let spawnMs: Double
}

/// `workers` child processes (`interleave worker gil-worker`), each with its own
/// GIL; task k goes to worker k mod W. They start, report ready, and compute only
/// when every one of them has been told to go, so the measured phase is the work.
private func runInProcesses(_ run: RunContext, plan: GILTaskPlan, tasks: Int, workers: Int, useGIL: Bool)
    throws -> (Measured, ProcessFacts)
{
    let main = run.main
    let supervisor = try run.processSupervisor()
    defer { supervisor.shutdown(on: main) }
    let latch = ReadyLatch(control: run.control)
    let cpuNs = Mutex<UInt64>(0)
    let reported = Mutex(0)
    let handler: ProcessSupervisor.MessageHandler = { child, message in
        if message["ctl"] == "cpu", let ns = message["cpuNs"]?.intValue {
            cpuNs.withLock { $0 += UInt64(ns) }
            reported.withLock { $0 += 1 }
        }
        latch.handler(child, message)
    }
    let spawnStart = run.recorder.elapsedMicros
    let children = try main.phase("start processes") {
        let children = try (0..<workers).map { index in
            let mine = stride(from: index + 1, through: tasks, by: workers).map(String.init).joined(separator: ",")
            return try supervisor.spawn(
                name: "process-\(index + 1)", kind: "gil-worker",
                arguments: ["--tasks", mine, "--task-ms", String(plan.taskMs), "--workload", plan.workload,
                            "--iterations-per-ms", String(plan.work.iterationsPerMs), "--gil", String(useGIL)],
                input: true, from: main, onMessage: handler)
        }
        try latch.wait(for: workers, on: main)
        return children
    }
    let spawnMs = milliseconds(since: spawnStart, run)
    let measured = try measure(run) {
        try main.phase("processes") { () throws(RunInterrupted) in
            for child in children { _ = child.send(["go": true]) }
            for child in children { try supervisor.join(child, on: main) }
        }
    }
    // The children's CPU clocks, as they reported them just before exiting.
    let facts = ProcessFacts(cpuMs: Double(cpuNs.withLock { $0 }) / 1e6, spawnMs: spawnMs)
    return (Measured(wallMs: measured.wallMs, cpuMs: facts.cpuMs), facts)
}

/// `gil-worker`: one Python process of the pool — its own GIL, one thread, the
/// tasks it was given. Waits for `{"go": true}` on stdin before computing.
@Sendable func gilWorker(_ worker: Worker) -> Int32 {
    let lane = worker.lane
    lane.start()
    let control = RunControl()
    let useGIL = worker.options["gil"] != "false"
    let plan = GILTaskPlan(workload: worker.options["workload"] ?? "cpu", taskMs: worker.int("task-ms", 200),
                           work: CPUWork(iterationsPerMs: worker.int("iterations-per-ms", 1)))
    let gil = useGIL ? GIL(name: "GIL (pid \(getpid()))", control: control) : nil
    let state = GIL.ThreadState(id: 1, lane: lane.name) { type, flow, fields in
        lane.emit(type, flow: flow, fields)
        return nil
    }
    let runner = GILTaskRunner(plan: plan, gil: gil, thread: state, control: control) { ms in
        let op = JSONValue.string("time.sleep(\(pythonSeconds(ms)))")
        lane.emit("io.begin", ["op": op])
        var request = timespec(tv_sec: ms / 1000, tv_nsec: (ms % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
        lane.emit("io.end", ["op": op])
    }
    lane.trace.send(["ctl": "ready"])
    guard Worker.LineReader().next()?["go"] == true else {
        lane.end()
        return 0
    }
    do {
        try gil?.take(state)
        for task in (worker.options["tasks"] ?? "").split(separator: ",").compactMap({ Int($0) }) {
            try runner.run(task: task)
        }
        try gil?.drop(state, .done)
    } catch {
        lane.emit("lane.end", ["error": .string("\(error)")])
        return 1
    }
    lane.trace.send(["ctl": "cpu", "cpuNs": .int(Int(CPUWork.processCPUNs()))])
    lane.end()
    return 0
}

// MARK: what the run showed

private func insights(_ run: RunContext, events: [TraceEvent], backend: String, workload: String, useGIL: Bool,
                      overlap: (peak: Int, parallelUs: Double), gilWaitMs: Double, speedup: Double)
{
    let main = run.main
    let request = events.first { $0.type == "gil.drop-request" }
    let forced = request.flatMap { request in events.first { $0.type == "gil.release" && $0.flow == request.flow && $0.flow != nil } }
    let handedTo = forced.flatMap { release in events.first { $0.seq > release.seq && $0.type == "gil.acquire" } }
    if let request, let forced {
        main.insight("\(request.lane) waited 5 ms for the GIL, then asked for it; \(forced.lane) dropped it at its next check and \(handedTo?.lane ?? "the other") took it — the GIL changes hands like this every switch interval.",
                     refs: [request.seq, forced.seq, handedTo?.seq], kind: .actor)
    }
    let acquires = events.filter { $0.type == "gil.acquire" }
    if useGIL, backend == "threads", workload != "io", acquires.count > 1 {
        main.insight("Never two threads inside the GIL track at once: the threads computed one at a time (at most \(overlap.peak) at any moment) and waited \(Int(gilWaitMs.rounded())) ms in total for the lock.",
                     refs: Array(acquires.prefix(4).map(\.seq)), kind: .problem)
    }
    if backend == "processes" {
        let starts = events.filter { $0.type == "task.start" && $0.pid != getpid() }
        main.insight(overlap.peak >= 2
            ? "Each process has its own GIL: their tasks computed side by side (up to \(overlap.peak) at once, \(Int((overlap.parallelUs / 1000).rounded())) ms of it in parallel)."
            : "Each process has its own GIL, yet here no two computed at the same moment (the machine gave them one core at a time).",
                     refs: Array(starts.prefix(4).map(\.seq)), kind: overlap.peak >= 2 ? .success : .timing)
    }
    if workload != "cpu", backend == "threads" || backend == "async" {
        let sleeps = events.filter { $0.type == "io.begin" && ($0.fields["op"]?.stringValue ?? "").contains("sleep(") }
        if sleeps.count > 1 {
            main.insight("The sleeps overlap: \(backend == "threads" ? "a sleeping thread has released the GIL" : "an awaiting task gives the thread back to the loop"), so the others go on meanwhile.",
                         refs: Array(sleeps.prefix(3).map(\.seq)), kind: .timing)
        }
    }
    if backend == "async", workload == "cpu" {
        let starts = events.filter { $0.type == "task.start" }
        main.insight("On the event loop CPU work never awaits, so each task runs to its end before the next starts: no overlap at all.",
                     refs: Array(starts.prefix(3).map(\.seq)), kind: .problem)
    }
    let phaseEnds = run.recorder.events.filter { $0.type == "phase.end" && $0.lane == "main" }
    if backend != "sequential", let last = phaseEnds.last {
        let sequentialEnd = phaseEnds.first { $0.fields["name"]?.stringValue == "sequential" }
        main.insight("The \(backend) phase ran \(format1(speedup))× as fast as the sequential phase before it, on the same tasks: \(speedup >= 1.25 ? "a real gain" : "no real gain").",
                     refs: [sequentialEnd?.seq, last.seq], kind: .timing)
    }
}

func format1(_ value: Double) -> String {
    let tenths = Int((value * 10).rounded())
    return "\(tenths / 10).\(abs(tenths % 10))"
}

/// The notes' rule (threads or async for IO, processes for CPU), stated from what
/// this run measured: did the backend beat the sequential phase, and why.
func cpuVsIOVerdict(workload: String, backend: String, workers: Int, useGIL: Bool, sequentialMs: Double,
                    backendMs: Double, speedup: Double, peak: Int, gilWaitMs: Double, utilisation: Double,
                    cores: Int) -> String
{
    // The same rounding as the summary's figures, so the sentence quotes them exactly.
    let backendMs = round1(backendMs), sequentialMs = round1(sequentialMs)
    let kind = workload == "cpu" ? "CPU-bound" : workload == "io" ? "IO-bound" : "Mixed CPU and IO"
    if backend == "sequential" {
        return "\(kind) tasks one after another took \(Int(backendMs.rounded())) ms, using \(Int((utilisation * 100).rounded()))% of \(cores) cores — the baseline the other backends are measured against."
    }
    let who = backend == "threads" ? "\(workers) threads\(useGIL ? " under the GIL" : " without a GIL")"
        : backend == "processes" ? "\(workers) processes (one GIL each)" : "one event loop"
    let gained = speedup >= 1.25
    var why: [String] = []
    if useGIL && backend == "threads" && workload != "io" {
        why.append("at most \(peak) computed at once and they waited \(Int(gilWaitMs.rounded())) ms for the GIL")
    } else if workload != "io" {
        why.append("up to \(peak) computed at once")
    }
    if workload != "cpu" && backend != "processes" { why.append("the sleeps overlapped") }
    why.append("CPU use \(Int((utilisation * 100).rounded()))% of \(cores) cores")
    // What the notes predict for this combination.
    let predicted: Bool = switch (workload, backend) {
    case ("cpu", "threads"): !useGIL
    case ("cpu", "async"): false
    default: true
    }
    let rule = gained == predicted
        ? "as the notes' rule says: threads and async for IO, processes for CPU"
        : "not what the notes' rule predicts for this case (a busy machine can do that to one run)"
    return "\(kind) work on \(who) took \(Int(backendMs.rounded())) ms against \(Int(sequentialMs.rounded())) ms one after another (\(format1(speedup))×, \(gained ? "a gain" : "no gain")): \(why.joined(separator: ", ")) — \(rule)."
}
