import Experiments
import Foundation
import JSON
import Primitives
import Testing
import Tracing

extension ProcessExperimentTests {
    /// However a process run ends, it leaves no child, no zombie and no supervisor
    /// thread behind.
    @Suite struct ProcessCleanupTests {
        static let completed: [(String, JSONValue)] = [
            ("processes", ["count": 3, "workMs": 10]),
            ("processes", ["count": 3, "action": "kill", "workMs": 300]),
            ("processes", ["count": 3, "action": "daemon", "workMs": 300]),
            ("process-pool", ["workers": 3, "tasks": 6, "taskMs": 1]),
            ("process-queue", ["items": 10, "consumers": 2]),
            ("pipe", ["consumers": 2, "items": 20]),
            ("shared-memory", ["processes": 3, "decrements": 5]),
            ("spawn-cost", ["count": 5]),
        ]

        func expectNothingLeft(_ events: [TraceEvent], _ context: String) {
            let pids = ProcessRuns.spawnedPids(events)
            #expect(!pids.isEmpty, "\(context): spawned nothing")
            // Not a child any more, not even a zombie: reaped. (Other children of this
            // test process — servers started by end-to-end suites — are not ours to judge.)
            let left = ProcessRuns.children().filter { pids.contains($0.pid) }
            #expect(left.isEmpty, "\(context): children left (state Z = zombie): \(left)")
            #expect(!ProcessRuns.threadNames().contains("proc-supervisor"), "\(context): supervisor thread left")
            // Every child spawned got its process.exit.
            #expect(events.filter { $0.type == "process.exit" }.count == pids.count, "\(context)")
        }

        @Test func completedRunsLeaveNothingBehind() throws {
            for (id, params) in Self.completed {
                let (outcome, events) = try ProcessRuns.run(id, params)
                #expect(outcome.status == .completed, "\(id)")
                expectNothingLeft(events, "\(id) \(params.jsonString)")
            }
        }

        static let longRunning: [(String, JSONValue)] = [
            ("processes", ["count": 3, "workMs": 10_000]),
            ("process-pool", ["workers": 2, "tasks": 10, "taskMs": 10_000]),
            ("pipe", ["consumers": 2, "items": 1000, "lock": true]),
            ("shared-memory", ["processes": 4, "decrements": 10_000, "lock": true]),
        ]

        @Test(arguments: [StopReason.cancelled, .deadlocked, .interrupted])
        func stoppedRunsKillEveryProcessGroupAndReapIt(reason: StopReason) throws {
            for (id, params) in Self.longRunning {
                let started = Date()
                // Stop once a child is really running (its own lane.start is in the trace).
                let (outcome, events) = try ProcessRuns.stop(id, params, reason: reason) { events in
                    events.contains { $0.type == "lane.start" && $0.fields["kind"] == "process" }
                }
                #expect(outcome.status.rawValue == reason.rawValue, "\(id)")
                #expect(Date().timeIntervalSince(started) < 5, "\(id) took too long to stop")
                expectNothingLeft(events, "\(id) \(reason)")
                #expect(events.contains { $0.type == "process.exit" && $0.fields["signal"] == "SIGKILL" }, "\(id)")
            }
        }

        @Test func timedOutRunsLeaveNothingBehind() throws {
            let (outcome, events) = try ProcessRuns.run("processes", ["count": 2, "workMs": 10_000], deadlineMs: 300)
            #expect(outcome.status == .timedOut)
            expectNothingLeft(events, "timed out")
            #expect(ProcessRuns.events(events, "process.exit").allSatisfy { $0.fields["signal"] == "SIGKILL" })
        }

        /// A parent killed with SIGKILL cannot clean up: its children must end
        /// themselves (PR_SET_PDEATHSIG). The parent here is `interleave run`, a
        /// real process of its own.
        @Test func workersDieWhenTheirParentIsKilled() throws {
            let binary = try WorkerBinary.path()
            let cli = Process()
            cli.executableURL = URL(fileURLWithPath: binary)
            cli.arguments = ["run", "processes", "--param", "count=3", "--param", "workMs=10000", "--summary-only"]
            cli.standardOutput = FileHandle.nullDevice
            try cli.run()
            let parent = cli.processIdentifier
            var workers: [Int32] = []
            #expect(ProcessRuns.eventually {
                workers = ProcessRuns.processes(withParent: parent)
                return workers.count == 3
            }, "the run never started its 3 workers")
            kill(parent, SIGKILL)
            cli.waitUntilExit()
            #expect(ProcessRuns.eventually { workers.allSatisfy { !ProcessRuns.isRunning($0) } },
                    "orphaned workers still running: \(workers.filter(ProcessRuns.isRunning))")
        }
    }
}
