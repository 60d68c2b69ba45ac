import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessesTests {
        @Test func joinShowsEachChildUnderItsOwnPidAndExitCodeZero() throws {
            let (outcome, events) = try ProcessRuns.run("processes", ["count": 3, "action": "join", "workMs": 30])
            #expect(outcome.status == .completed)
            let spawns = ProcessRuns.events(events, "process.spawn")
            let exits = ProcessRuns.events(events, "process.exit")
            #expect(spawns.count == 3)
            #expect(exits.count == 3)
            #expect(exits.allSatisfy { $0.fields["exitCode"] == 0 && $0.fields["signal"] == nil })
            let server = getpid()
            for spawn in spawns {
                let pid = Int32(spawn.fields["childPid"]!.intValue!)
                #expect(pid != server)
                let own = events.filter { $0.pid == pid }
                #expect(own.contains { $0.type == "lane.start" && $0.fields["kind"] == "process" })
                #expect(own.allSatisfy { $0.lane == spawn.fields["child"]?.stringValue })
                #expect(own.contains { $0.type == "lane.end" })
                // The child's events lie between its spawn and its exit.
                let exit = exits.first { $0.fields["childPid"]?.intValue == Int(pid) }!
                #expect(own.allSatisfy { spawn.seq < $0.seq && $0.seq < exit.seq })
            }
            #expect(events.map(\.seq) == Array(0..<events.count))
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.ts <= $1.ts })
        }

        @Test(arguments: [("kill", "SIGKILL"), ("terminate", "SIGTERM")])
        func killAndTerminateEndChildrenMidWorkBySignal(action: String, signal: String) throws {
            let (outcome, events) = try ProcessRuns.run("processes", ["count": 2, "action": .string(action), "workMs": 600])
            #expect(outcome.status == .completed)
            let kills = ProcessRuns.events(events, "process.kill")
            #expect(kills.count == 2 && kills.allSatisfy { $0.fields["signal"]?.stringValue == signal })
            let exits = ProcessRuns.events(events, "process.exit")
            #expect(exits.count == 2 && exits.allSatisfy { $0.fields["signal"]?.stringValue == signal && $0.fields["exitCode"] == nil })
            // Killed mid-work: no child reached its last step.
            #expect(!events.contains { $0.pid != getpid() && $0.type == "lane.end" })
            #expect(events.contains { $0.pid != getpid() && $0.type == "log" && ($0.fields["message"]?.stringValue ?? "").hasPrefix("0 work") })
        }

        @Test func daemonChildrenEndWhenTheMainLaneEnds() throws {
            let (outcome, events) = try ProcessRuns.run("processes", ["count": 2, "action": "daemon", "workMs": 600])
            #expect(outcome.status == .completed)
            let exits = ProcessRuns.events(events, "process.exit")
            #expect(exits.count == 2 && exits.allSatisfy { $0.fields["signal"] == "SIGTERM" })
            let mainEnd = events.last { $0.type == "lane.end" && $0.lane == "main" }!
            #expect(exits.allSatisfy { $0.seq < mainEnd.seq })
            #expect(outcome.summary["wallMs"]!.doubleValue! < 600)
        }

        /// While they run: each child leads its own process group, is the server's
        /// child, and holds only the descriptors it was given (stdin, stdout,
        /// stderr, its trace pipe) — nothing of the parent's leaks into it.
        @Test func childrenHaveTheirOwnProcessGroupAndOnlyTheirOwnDescriptors() throws {
            let experiment = Catalog.experiment("processes")!
            let execution = ExperimentRun(id: "fds", experiment: experiment,
                                          params: try experiment.resolve(["count": 2, "workMs": 10_000]))
            execution.start()
            defer {
                execution.control.stop(.cancelled)
                _ = execution.wait()
            }
            #expect(ProcessRuns.eventually {
                execution.recorder.events.filter { $0.type == "lane.start" && $0.fields["kind"] == "process" }.count == 2
            })
            for pid in ProcessRuns.spawnedPids(execution.recorder.events) {
                let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
                let fields = stat[stat.index(stat.lastIndex(of: ")")!, offsetBy: 2)...].split(separator: " ")
                #expect(Int32(fields[1]) == getpid(), "parent")
                #expect(Int32(fields[2]) == pid, "process group")
                let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap { Int($0) }.sorted()
                #expect(fds == [0, 1, 2, 3])
            }
        }
    }
}
