import Experiments
import Foundation
import JSON
import Primitives
import Testing
import Tracing

extension ProcessExperimentTests {
    /// A child killed from outside (`kill -9`) while the run still needs it: the run ends
    /// promptly as `failed`, traces the child's `process.exit {signal}`, says in an insight
    /// what died and what was lost, and computes its verdict from that — for every
    /// experiment that starts processes. The child is held still by a test hook right
    /// after its lane starts, so the kill always lands at the same point.
    @Suite struct ProcessChildDeathTests {
        struct Case: CustomTestStringConvertible, Sendable {
            let experiment: String
            let params: JSONValue
            let lane: String
            var testDescription: String { "\(experiment) \(params.jsonString) kill \(lane)" }
        }

        static let cases: [Case] = [
            Case(experiment: "process-pool", params: ["workers": 3, "tasks": 6, "taskMs": 20], lane: "worker-2"),
            Case(experiment: "process-pool", params: ["workers": 2, "tasks": 4, "taskMs": 20, "mode": "map"], lane: "worker-1"),
            Case(experiment: "callbacks", params: ["backend": "processes", "tasks": 5, "taskMs": 20], lane: "worker-2"),
            Case(experiment: "processes", params: ["count": 3, "workMs": 30], lane: "process-2"),
            Case(experiment: "processes", params: ["count": 2, "workMs": 30, "action": "serial"], lane: "process-1"),
            Case(experiment: "sequential-vs-concurrent", params: ["taskMs": 10, "steps": 1], lane: "process-b"),
            Case(experiment: "spawn-cost", params: ["count": 4], lane: "process-3"),
            Case(experiment: "process-queue", params: ["items": 5, "consumers": 2], lane: "consumer-1"),
            Case(experiment: "producer-consumer", params: ["backend": "processes", "items": 6, "produceMs": 1, "consumeMs": 1],
                 lane: "consumer-1"),
            Case(experiment: "pipe", params: ["consumers": 2, "items": 10], lane: "consumer-2"),
            Case(experiment: "shared-memory", params: ["processes": 3, "decrements": 10, "lock": true], lane: "process-2"),
            Case(experiment: "shared-memory", params: ["processes": 3, "decrements": 10], lane: "process-3"),
            Case(experiment: "manager", params: ["processes": 4], lane: "worker-2"),
            Case(experiment: "manager", params: ["processes": 4, "lock": true, "start": "together"], lane: "manager"),
        ]

        @Test(arguments: cases)
        func aChildKilledFromOutsideFailsTheRunHonestly(_ testCase: Case) throws {
            let experiment = Catalog.experiment(testCase.experiment)!
            let id = "death-\(UUID().uuidString.prefix(8))"
            ChildDeathHooks.hold(run: id, lane: testCase.lane)
            defer { ChildDeathHooks.release(run: id) }
            let execution = ExperimentRun(id: id, experiment: experiment, params: try experiment.resolve(testCase.params),
                                          deadlineMs: 30_000)
            execution.start()
            var victim: Int32?
            let held = ProcessRuns.eventually(within: 20) {
                victim = execution.recorder.events.first {
                    $0.type == "log" && $0.fields["message"]?.stringValue?.hasPrefix("held for a test") == true
                }?.pid
                return victim != nil
            }
            try #require(held, "the held child never started")
            let pid = victim!
            #expect(kill(pid, SIGKILL) == 0)
            let outcome = execution.wait()
            let events = execution.recorder.events

            #expect(outcome.status == .failed)
            let exit = events.first { $0.type == "process.exit" && $0.fields["childPid"]?.intValue == Int(pid) }
            #expect(exit?.fields["signal"] == "SIGKILL")
            let insight = events.first { $0.type == "insight" && $0.fields["kind"] == "problem" && ($0.fields["text"]?.stringValue ?? "").contains("SIGKILL") }
            #expect(insight != nil)
            #expect(insight?.fields["refs"]?.arrayValue?.contains(.int(exit?.seq ?? -1)) == true)
            let verdict = outcome.summary["verdict"]?.stringValue ?? ""
            #expect(verdict.contains("\(testCase.lane) (pid \(pid))") && verdict.contains("SIGKILL"), "\(verdict)")
            #expect(!verdict.contains("every"), "a failed run claims everything went well: \(verdict)")
            #expect(outcome.summary["childDied"]?["pid"]?.intValue == Int(pid))
            // Nothing left behind: every child the run started is gone and reaped.
            for child in ProcessRuns.spawnedPids(events) { #expect(!ProcessRuns.isRunning(child)) }
            #expect(events.last?.type == "run.end")
        }

        /// Not held: a pool worker killed in the middle of a long task. The run does not
        /// wait for the 10 s tasks or the deadline; it fails at once, naming the lost task.
        @Test func aPoolWorkerKilledMidTaskEndsTheRunAtOnce() throws {
            let experiment = Catalog.experiment("process-pool")!
            let execution = ExperimentRun(id: "death-midtask", experiment: experiment,
                                          params: try experiment.resolve(["workers": 2, "tasks": 4, "taskMs": 10_000, "jitterPct": 0]),
                                          deadlineMs: 60_000)
            execution.start()
            var start: TraceEvent?
            try #require(ProcessRuns.eventually(within: 20) {
                start = execution.recorder.events.first { $0.type == "task.start" && $0.pid != getpid() }
                return start != nil
            })
            kill(start!.pid, SIGKILL)
            let outcome = execution.wait()
            #expect(outcome.status == .failed)
            #expect(outcome.summary["durationMs"]!.doubleValue! < 10_000)
            let task = start!.fields["task"]!.intValue!
            #expect(outcome.summary["runningWhenKilled"] == JSONValue([task]))
            #expect(outcome.summary["lostTasks"]?.intValue == 4)
            #expect(outcome.summary["verdict"]!.stringValue!.contains("task \(task) it was running never came back"))
        }
    }
}
