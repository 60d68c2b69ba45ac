import CSystem
import Glibc
import JSON
import Primitives
import Synchronization
import Tracing

extension Experiment {
    /// 先来先服务 / 短作业优先 / 时间片轮转 / 多级反馈队列 on one CPU, measured.
    public static let scheduling = Experiment(
        id: "scheduling",
        title: "Scheduling policies: FCFS, SJF, RR, fair, MLFQ",
        category: "OS",
        summary: "Jobs (arrival:burst) on one CPU under a scheduling policy — the kernel's own (SCHED_FIFO, SCHED_RR, SCHED_OTHER) where allowed — with each job's waiting and turnaround time.",
        lesson: """
            The textbook table, measured. Every job is a thread pinned to one CPU (one the server \
            is not using right now); it arrives at arrivalMs and needs burstMs of CPU time. The strip \
            under each job's lane is what the kernel did with it: ready (runnable, waiting for the \
            CPU) from its arrival, running while it has the CPU. fcfs is SCHED_FIFO at one priority: \
            jobs run to completion in arrival order. sjf is SCHED_FIFO with shorter bursts at higher \
            priority (a job that gets the CPU raises itself to the top, so it is not preempted): the \
            shortest waiting job goes next. rr is SCHED_RR: the kernel takes the CPU away after each \
            time slice (summary.rrSliceMs, from sched_rr_get_interval) and jobs alternate. fair is \
            SCHED_OTHER, Linux's fair scheduler: runnable jobs share the CPU. mlfq is always an \
            emulation by a user-space dispatcher (labelled so): new jobs start in the top queue with \
            a short quantum and sink when they use it up. Where the kernel refuses a real-time \
            policy (EPERM) the same algorithm is emulated by the dispatcher, and the trace says so. \
            waiting = turnaround − burst; turnaround = completion − arrival.
            """,
        parameters: [
            .choice("policy", ["fcfs", "sjf", "rr", "fair", "mlfq"], default: "fcfs", "The scheduling policy."),
            .text("jobs", default: "0:240,10:120,20:40,30:80",
                  "Jobs as arrivalMs:burstMs pairs, comma-separated: 1–8 jobs, arrival 0–2000, burst 1–400, bursts 900 ms at most in all.",
                  check: { JobSpec.parse($0).problem }),
        ],
        body: runScheduling
    )
}

struct JobSpec: Sendable {
    let index: Int
    let arrivalMs: Int
    let burstMs: Int
    var lane: String { "job-\(index)" }

    /// The jobs, or what is wrong with the text.
    static func parse(_ text: String) -> (jobs: [JobSpec], problem: String?) {
        let form = "jobs must be 1–8 arrivalMs:burstMs pairs separated by commas, arrival 0–2000, burst 1–400, bursts 900 ms at most in all (e.g. \"0:240,10:120,20:40\")"
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard (1...8).contains(parts.count) else { return ([], "\(form); got \(parts.count) pairs") }
        var jobs: [JobSpec] = []
        for (offset, part) in parts.enumerated() {
            let pair = part.split(separator: ":", omittingEmptySubsequences: false)
                .map { Int($0.trimmingPrefix(" ").prefix { $0 != " " }) }
            guard pair.count == 2, let arrival = pair[0], let burst = pair[1],
                  (0...2000).contains(arrival), (1...400).contains(burst)
            else { return ([], "\(form); pair \(offset + 1) is \"\(part.prefix(20))\"") }
            jobs.append(JobSpec(index: offset + 1, arrivalMs: arrival, burstMs: burst))
        }
        let total = jobs.reduce(0) { $0 + $1.burstMs }
        if total > 900 { return ([], "\(form); the bursts add up to \(total) ms") }
        return (jobs, nil)
    }
}

/// What one job measured on itself.
private struct JobResult {
    var startUs: Int64 = 0
    var endUs: Int64 = 0
    var cpuMs: Double = 0
    var startSeq: Int?
    var endSeq: Int?
}

private func runScheduling(_ run: RunContext) throws -> JSONObject {
    let policy = run.params.string("policy")
    let jobs = JobSpec.parse(run.params.string("jobs")).jobs
    let main = run.main
    let allowed = CPU.allowed()
    let here = CPU.current
    let cpu = allowed.last { $0 != here } ?? allowed.last ?? 0
    main.log("jobs " + jobs.map { "\($0.lane) arrives \($0.arrivalMs) ms, burst \($0.burstMs) ms" }.joined(separator: "; "))

    // Which way: the kernel's policy, or the dispatcher's emulation.
    var emulated: String?
    if policy == "mlfq" {
        emulated = "MLFQ is not a Linux policy: emulated by a user-space dispatcher (queues with 20, 40, 80 ms quanta)"
    } else if allowed.count < 2 {
        emulated = "only one CPU is allowed here: a real-time policy would stall the server, so \(policy) is emulated by a user-space dispatcher"
    }
    let policyName: String = switch policy {
    case "fcfs": "SCHED_FIFO, one priority"
    case "sjf": "SCHED_FIFO, priority by burst"
    case "rr": "SCHED_RR"
    case "fair": "SCHED_OTHER"
    default: "MLFQ"
    }

    var results: [Int: JobResult] = [:]
    var rrSliceMs: Double?
    var t0Us: Int64 = 0
    if emulated == nil {
        let real = try runReal(run, jobs: jobs, policy: policy, cpu: cpu)
        if let refused = real.refused {
            emulated = "the kernel refused \(policyName) (\(refused)): \(policy) is emulated by a user-space dispatcher"
        } else {
            results = real.results
            rrSliceMs = real.rrSliceMs
            t0Us = real.t0Us
        }
    }
    if let emulated {
        main.emit("log", ["message": .string("EMULATION: " + emulated), "emulated": true])
        let sim = try runDispatcher(run, jobs: jobs, policy: policy, cpu: cpu)
        results = sim.results
        t0Us = sim.t0Us
    }
    try run.check()

    // The textbook table, measured.
    run.sched.settle()
    var rows: [JSONValue] = []
    var waits: [Double] = []
    var turnarounds: [Double] = []
    let order = jobs.sorted { (results[$0.index]?.endUs ?? .max, $0.index) < (results[$1.index]?.endUs ?? .max, $1.index) }
    for job in jobs {
        let result = results[job.index] ?? JobResult()
        let arrivalUs = t0Us + Int64(job.arrivalMs) * 1000
        let turnaround = Double(result.endUs - arrivalUs) / 1000
        let waiting = turnaround - result.cpuMs
        waits.append(waiting)
        turnarounds.append(turnaround)
        var row: JSONObject = [
            "job": .string(job.lane), "arrivalMs": .int(job.arrivalMs), "burstMs": .int(job.burstMs),
            "cpuMs": .double(round1(result.cpuMs)), "startMs": .double(round1(Double(result.startUs - t0Us) / 1000)),
            "completionMs": .double(round1(Double(result.endUs - t0Us) / 1000)),
            "turnaroundMs": .double(round1(turnaround)), "waitingMs": .double(round1(waiting)),
            "finishedAs": .int((order.firstIndex { $0.index == job.index } ?? 0) + 1),
        ]
        if let figures = run.sched.figures(of: job.lane) {
            row["kernelWaitMs"] = .double(round1(Double(figures.waitNs) / 1_000_000))
        }
        rows.append(.object(row))
    }
    let avgWait = waits.reduce(0, +) / Double(max(jobs.count, 1))
    let avgTurn = turnarounds.reduce(0, +) / Double(max(jobs.count, 1))
    let orderText = order.map(\.lane).joined(separator: ", ")
    let arrivalOrder = jobs.sorted { ($0.arrivalMs, $0.index) < ($1.arrivalMs, $1.index) }.map(\.lane)
    let how = emulated == nil ? policyName + (rrSliceMs.map { ", \(fmt1($0)) ms slices" } ?? "") : "emulated"
    let ends = order.compactMap { results[$0.index]?.endSeq }
    let kind: String
    if order.map(\.lane) == arrivalOrder {
        kind = "in arrival order, each to completion"
    } else if zip(order, order.dropFirst()).allSatisfy({ $0.burstMs <= $1.burstMs }) {
        // Round robin and the fair scheduler get here too, but not by choosing the shortest job:
        // every job got the CPU in turn, so the short ones were simply done first.
        kind = policy == "rr" || policy == "fair"
            ? "shortest first — not chosen that way: each job got the CPU in turn, so the short ones were done first"
            : "shortest first"
    } else {
        kind = "not in arrival order: the first to arrive was not the first to finish"
    }
    main.insight("Jobs finished \(kind): \(orderText) (\(how)). The ready stretches on each strip are the waiting.",
                 refs: ends, kind: .order)
    main.insight("Average waiting \(fmt1(avgWait)) ms, average turnaround \(fmt1(avgTurn)) ms over \(jobs.count) jobs.",
                 refs: ends.suffix(1), kind: .timing)
    if emulated != nil {
        main.insight("This run is an emulation: a dispatcher in the server decided who runs; the jobs are real threads doing real CPU work.",
                     refs: [run.recorder.events.last { $0.fields["emulated"] == true }?.seq], kind: .info)
    }
    let verdict = "\(policy.uppercased()) (\(how)): jobs finished \(orderText); average waiting \(fmt1(avgWait)) ms, average turnaround \(fmt1(avgTurn)) ms."
    var summary: JSONObject = [
        "verdict": .string(verdict), "policy": .string(policy), "kernelPolicy": .string(emulated == nil ? policyName : "none"),
        "emulated": .bool(emulated != nil), "cpu": .int(cpu), "jobs": .array(rows),
        "completionOrder": .array(order.map { .string($0.lane) }),
        "averageWaitingMs": .double(round1(avgWait)), "averageTurnaroundMs": .double(round1(avgTurn)),
    ]
    if let emulated { summary["emulation"] = .string(emulated) }
    if let rrSliceMs { summary["rrSliceMs"] = .double(round1(rrSliceMs)) }
    return summary
}

private func fmt1(_ value: Double) -> String { String((value * 10).rounded() / 10) }

// MARK: The kernel's policies

private func runReal(_ run: RunContext, jobs: [JobSpec], policy: String, cpu: Int) throws
    -> (results: [Int: JobResult], rrSliceMs: Double?, t0Us: Int64, refused: String?)
{
    // Priorities 1…n+1, far below the kernel's own real-time threads.
    let bursts = Array(Set(jobs.map(\.burstMs))).sorted()
    let top = Int32(bursts.count + 1)
    @Sendable func priority(_ job: JobSpec) -> Int32 {
        policy == "sjf" ? Int32(bursts.count - bursts.firstIndex(of: job.burstMs)!) : 1
    }
    let kernelPolicy: Int32 = switch policy {
    case "rr": interleave_os_sched_rr()
    case "fair": interleave_os_sched_other()
    default: interleave_os_sched_fifo()
    }
    let refused = Mutex<String?>(nil)
    let slice = Mutex<Double?>(nil)
    let results = Mutex<[Int: JobResult]>([:])
    let ready = Mutex(0)
    let go = Mutex<UInt64?>(nil)
    let monitor = Monitor(control: run.control)
    var threads: [TracedThread] = []
    for job in jobs {
        threads.append(run.spawn(job.lane) { lane in
            CPU.pin(to: [cpu])
            let error = policy == "fair" ? 0 : interleave_os_set_scheduler(0, kernelPolicy, priority(job))
            if error != 0 {
                let text = String(cString: strerror(error))
                lane.log("sched_setscheduler: \(text)")
                refused.withLock { $0 = $0 ?? (error == EPERM ? "EPERM" : text) }
            } else {
                lane.log("pinned to CPU \(cpu), \(policy == "fair" ? "SCHED_OTHER" : "priority \(priority(job))"); arrives at \(job.arrivalMs) ms, needs \(job.burstMs) ms")
                if policy == "rr" {
                    let ns = interleave_os_rr_interval_ns(0)
                    if ns > 0 { slice.withLock { $0 = Double(ns) / 1_000_000 } }
                }
            }
            ready.withLock { $0 += 1 }
            monitor.lockAndBroadcast()
            // Wait for the common start, then sleep until this job's arrival.
            let start = try monitor.withLock { () throws(RunInterrupted) -> UInt64 in
                _ = try monitor.wait(until: { go.withLock { $0 } != nil })
                return go.withLock { $0 }!
            }
            if refused.withLock({ $0 }) != nil { return }
            let arrival = start + UInt64(job.arrivalMs) * 1_000_000
            try monitor.withLock { () throws(RunInterrupted) in
                while try monitor.wait(deadlineNs: arrival) {}
            }
            // First instruction after arrival: this job has been given the CPU.
            if policy == "sjf" { _ = interleave_os_set_priority(0, top) }
            var result = JobResult()
            result.startUs = run.recorder.elapsedMicros
            result.startSeq = lane.emit("task.start", ["task": .int(job.index), "burstMs": .int(job.burstMs)])
            let cpu0 = CPU.threadTimeNs
            try CPU.work(ms: Double(job.burstMs)) { () throws(RunInterrupted) in try run.check() }
            result.cpuMs = Double(CPU.threadTimeNs - cpu0) / 1_000_000
            result.endUs = run.recorder.elapsedMicros
            result.endSeq = lane.emit("task.end", ["task": .int(job.index), "cpuMs": .double(round1(result.cpuMs))])
            // Back to the fair class before the thread ends.
            _ = interleave_os_set_scheduler(0, interleave_os_sched_other(), 0)
            results.withLock { $0[job.index] = result }
        })
    }
    try monitor.withLock { () throws(RunInterrupted) in
        _ = try monitor.wait(until: { ready.withLock { $0 } >= jobs.count })
    }
    let startNs = interleave_monotonic_ns() + 5_000_000
    let t0Us = Int64(startNs &- run.recorder.startNs) / 1000
    go.withLock { $0 = startNs }
    monitor.lockAndBroadcast()
    for thread in threads { thread.join() }
    return (results.withLock { $0 }, slice.withLock { $0 }, t0Us, refused.withLock { $0 })
}

// MARK: The dispatcher's emulation

/// A user-space dispatcher: the jobs are real threads pinned to one CPU, but each does
/// CPU work only while the dispatcher has granted it a quantum.
private func runDispatcher(_ run: RunContext, jobs: [JobSpec], policy: String, cpu: Int) throws
    -> (results: [Int: JobResult], t0Us: Int64)
{
    let monitor = Monitor(control: run.control)
    struct State {
        var granted: Int?
        var quantumMs: Double = 0
        var usedMs: Double = 0
        var finished = false
    }
    let state = Mutex(State())
    let results = Mutex<[Int: JobResult]>([:])
    let quantumFor: (Int) -> Double = { level in policy == "mlfq" ? [20, 40, 80][min(level, 2)] : policy == "rr" ? 20 : 5 }
    var threads: [TracedThread] = []
    for job in jobs {
        threads.append(run.spawn(job.lane) { lane in
            CPU.pin(to: [cpu])
            var remaining = Double(job.burstMs)
            var result = JobResult()
            let cpu0 = CPU.threadTimeNs
            while remaining > 0 {
                let quantum = try monitor.withLock { () throws(RunInterrupted) -> Double in
                    _ = try monitor.wait(until: { state.withLock { $0.granted == job.index } })
                    return state.withLock { $0.quantumMs }
                }
                if result.startSeq == nil {
                    result.startUs = run.recorder.elapsedMicros
                    result.startSeq = lane.emit("task.start", ["task": .int(job.index), "burstMs": .int(job.burstMs), "emulated": true])
                }
                let slice = min(quantum, remaining)
                let before = CPU.threadTimeNs
                try CPU.work(ms: slice) { () throws(RunInterrupted) in try run.check() }
                let used = Double(CPU.threadTimeNs - before) / 1_000_000
                remaining -= used
                if remaining <= 0 {
                    result.cpuMs = Double(CPU.threadTimeNs - cpu0) / 1_000_000
                    result.endUs = run.recorder.elapsedMicros
                    result.endSeq = lane.emit("task.end", ["task": .int(job.index), "cpuMs": .double(round1(result.cpuMs))])
                    results.withLock { $0[job.index] = result }
                }
                state.withLock { $0 = State(granted: nil, quantumMs: 0, usedMs: used, finished: remaining <= 0) }
                monitor.lockAndBroadcast()
            }
        })
    }
    let startUs = run.recorder.elapsedMicros + 2000
    var pending = jobs.sorted { ($0.arrivalMs, $0.index) < ($1.arrivalMs, $1.index) }
    var queues: [[Int]] = [[], [], []]
    var remaining = Dictionary(uniqueKeysWithValues: jobs.map { ($0.index, Double($0.burstMs)) })
    var level: [Int: Int] = [:]
    func admit() {
        let now = run.recorder.elapsedMicros
        while let next = pending.first, startUs + Int64(next.arrivalMs) * 1000 <= now {
            queues[0].append(next.index)
            level[next.index] = 0
            pending.removeFirst()
        }
    }
    while !(queues.allSatisfy(\.isEmpty) && pending.isEmpty) {
        try run.check()
        admit()
        guard let q = queues.firstIndex(where: { !$0.isEmpty }) else {
            let wait = max(1, Int((startUs + Int64(pending[0].arrivalMs) * 1000 - run.recorder.elapsedMicros) / 1000))
            try run.sleep(ms: wait)
            continue
        }
        var pick = queues[q][0]
        if policy == "sjf" { pick = queues[q].min { (remaining[$0]!, $0) < (remaining[$1]!, $1) }! }
        queues[q].removeAll { $0 == pick }
        let whole = policy == "fcfs" || policy == "sjf"
        let quantum = whole ? remaining[pick]! : quantumFor(level[pick] ?? 0)
        state.withLock { $0 = State(granted: pick, quantumMs: quantum) }
        monitor.lockAndBroadcast()
        let done = try monitor.withLock { () throws(RunInterrupted) -> State in
            _ = try monitor.wait(until: { state.withLock { $0.granted == nil } })
            return state.withLock { $0 }
        }
        remaining[pick]! -= done.usedMs
        admit()  // jobs that arrived during the quantum queue before the preempted one
        if !done.finished {
            let next = policy == "mlfq" && done.usedMs >= quantum - 0.5 ? min((level[pick] ?? 0) + 1, 2) : (level[pick] ?? 0)
            level[pick] = next
            queues[policy == "mlfq" ? next : 0].append(pick)
        }
    }
    for thread in threads { thread.join() }
    return (results.withLock { $0 }, startUs)
}
