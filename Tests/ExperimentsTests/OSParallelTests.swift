import CSystem
import Experiments
import Foundation
import JSON
import Primitives
import Testing
import Tracing

/// Running intervals of each lane, rebuilt from its `sched.state` changes.
func runningIntervals(_ events: [TraceEvent], lanes: Set<String>) -> [String: [(Int64, Int64)]] {
    var open: [String: Int64] = [:]
    var result: [String: [(Int64, Int64)]] = [:]
    for event in events where lanes.contains(event.lane) && (event.type == "sched.state" || event.type == "lane.end") {
        if let start = open.removeValue(forKey: event.lane) { result[event.lane, default: []].append((start, event.ts)) }
        if event.type == "sched.state", event.string("state") == "running" { open[event.lane] = event.ts }
    }
    return result
}

@Suite struct OSParallelTests {
    @Test func onOneCpuWorkersTakeTurnsAndNeverRunAtOnce() throws {
        let (outcome, events) = try runThreadsExperiment("parallel-vs-concurrent",
                                                         ["workers": 2, "cpus": 1, "workMs": 60])
        #expect(outcome.status == .completed)
        let summary = outcome.summary
        let lanes: Set<String> = ["worker-1", "worker-2"]
        // From the CPU clocks: never more CPU time than wall time in any sampling window,
        // and no worker saw another make progress while it ran without a break.
        #expect(summary["parallelMs"]?.doubleValue == 0)
        #expect(summary["witnessedParallel"] == 0)
        // From the samples: the running stretches of the two workers never overlap.
        let intervals = runningIntervals(events, lanes: lanes)
        #expect(!(intervals["worker-1"] ?? []).isEmpty && !(intervals["worker-2"] ?? []).isEmpty)
        for a in intervals["worker-1"] ?? [] {
            for b in intervals["worker-2"] ?? [] { #expect(min(a.1, b.1) <= max(a.0, b.0), "running at once: \(a) \(b)") }
        }
        // Every running sample is on the one CPU they were pinned to.
        let pinned = try #require(summary["pinnedTo"]?.arrayValue?.first?.intValue)
        let running = events.of("sched.state").filter { lanes.contains($0.lane) && $0.string("state") == "running" }
        #expect(running.allSatisfy { $0.cpu.map(Int.init) == pinned })
        // One CPU did all the work: the wall time covers the sum of the CPU times.
        let wall = try #require(summary["wallMs"]?.doubleValue), cpu = try #require(summary["cpuMs"]?.doubleValue)
        #expect(cpu >= 119 && wall >= cpu - 0.2)
        #expect(summary["verdict"]?.stringValue?.hasPrefix("Concurrent, not parallel") == true)
        #expect(!events.of("insight").isEmpty)
        #expect(events.everyLaneEnded)
    }

    @Test(.enabled(if: CPU.allowed().count >= 2, "needs two CPUs: this machine allows the process only one"))
    func onTwoCpusWorkersRunAtTheSameMoment() throws {
        let (outcome, events) = try runThreadsExperiment("parallel-vs-concurrent",
                                                         ["workers": 2, "cpus": 2, "workMs": 150])
        #expect(outcome.status == .completed)
        // Proof from CPU time, not wall time: a worker that ran without a break saw the other
        // advance, or together their CPU clocks outran the wall clock.
        let witnessed = outcome.summary["witnessedParallel"]?.intValue ?? 0
        let overlap = outcome.summary["parallelMs"]?.doubleValue ?? 0
        #expect(witnessed > 0 || overlap > 0, "\(outcome.summary["verdict"] ?? "")")
        #expect(Set(events.of("task.start").compactMap { $0.int("pinnedCpu") }).count == 2)
        #expect(outcome.summary["verdict"]?.stringValue?.hasPrefix("Parallel") == true)
    }

    @Test func processWorkersOnOneCpuTakeTurnsToo() throws {
        let (outcome, events) = try ProcessRuns.run("parallel-vs-concurrent",
                                                    ["workers": 2, "cpus": 1, "workMs": 40, "backend": "processes"])
        #expect(outcome.status == .completed)
        #expect(outcome.summary["samplesOnTwoCpus"] == 0)
        #expect(outcome.summary["verdict"]?.stringValue?.hasPrefix("Concurrent, not parallel") == true)
        let lanes = Set(events.of("process.spawn").compactMap { $0.string("child") })
        #expect(lanes.count == 2)
        let states = events.of("sched.state").filter { lanes.contains($0.lane) }
        // Two children pinned to one CPU get about half of it each, so a sample calls a
        // child "running" (more than half the window on a CPU) or "runnable" by a hair:
        // either shows it was seen wanting the CPU.
        #expect(states.contains { ["running", "runnable"].contains($0.string("state")) })
        #expect(states.allSatisfy { $0.pid != getpid() }, "a child's states carry the child's pid")
        let pinned = try #require(outcome.summary["pinnedTo"]?.arrayValue?.first?.intValue)
        // Once a child has pinned itself and started its work, it runs only on that CPU.
        for lane in lanes {
            let started = try #require(events.first { $0.lane == lane && $0.type == "task.start" }).seq
            let running = states.filter { $0.lane == lane && $0.seq > started && $0.string("state") == "running" }
            #expect(running.allSatisfy { $0.cpu.map(Int.init) == pinned })
        }
    }

    @Test func samplerIsNoLaneAndStopsWithTheRun() throws {
        let experiment = try #require(Catalog.experiment("parallel-vs-concurrent"))
        let execution = ExperimentRun(id: "test-sampler", experiment: experiment,
                                      params: try experiment.resolve(["workers": 2, "workMs": 10]))
        let outcome = execution.runToEnd()
        #expect(outcome.status == .completed)
        let sampler = execution.context.sched.threadID
        #expect(sampler != 0)
        let events = execution.recorder.events
        #expect(!events.contains { $0.tid == sampler }, "the sampler never emits as itself")
        let lanes = Set(events.of("lane.start").map(\.lane))
        #expect(Set(events.of("sched.state").map(\.lane)).isSubset(of: lanes))
        // Its thread is joined and every /proc file it read is closed.
        #expect(!FileManager.default.fileExists(atPath: "/proc/self/task/\(sampler)"))
        let tids = Set(events.map(\.tid))
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        let open = fds.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\($0)") }
            .filter { path in tids.contains { path.hasSuffix("/task/\($0)/stat") || path.hasSuffix("/task/\($0)/schedstat") } }
        #expect(open.isEmpty, "\(open)")
        let sched = try #require(outcome.summary["sched"]?["lanes"]?.objectValue)
        #expect(sched["worker-1"]?["onCpuMs"]?.doubleValue ?? 0 > 0)
    }

    @Test func cpusBeyondTheMachineAreRefused() throws {
        let experiment = try #require(Catalog.experiment("parallel-vs-concurrent"))
        #expect(throws: ParameterError.self) { try experiment.resolve(["cpus": .int(CPU.configuredCount + 1)]) }
        #expect(throws: ParameterError.self) { try experiment.resolve(["workers": 17]) }
    }
}
