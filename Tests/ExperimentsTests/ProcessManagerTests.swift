import Experiments
import Foundation
import Glibc
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessManagerTests {
        /// The dict lives in the manager process; every get and set is a round trip from a
        /// worker process. With the manager lock nothing can be lost, by construction.
        @Test func withTheManagerLockNoDecrementIsLost() throws {
            let (outcome, events) = try ProcessRuns.run("manager", ["processes": 64, "lock": true, "start": "together"])
            #expect(outcome.status == .completed)
            #expect(outcome.summary["final"] == 0)
            #expect(outcome.summary["lost"] == 0)
            #expect(outcome.summary["overwrites"] == 0)
            let writes = events.filter { $0.type == "var.write" }
            #expect(writes.count == 64)
            #expect(!writes.contains { $0.fields["lost"] == true })
            // The dict's value lives in the manager: its pid is neither the server's nor a worker's.
            let managerPid = outcome.summary["managerPid"]?.intValue
            #expect(managerPid != nil && managerPid != Int(getpid()) && !writes.contains { Int($0.pid) == managerPid })
            // Holders never overlap.
            var holding = 0, peak = 0
            for event in events where event.fields["lock"] == "manager-lock" {
                if event.type == "lock.acquire" { holding += 1; peak = max(peak, holding) }
                if event.type == "lock.release" { holding -= 1 }
            }
            #expect(peak == 1)
            #expect(events.contains { $0.type == "insight" })
        }

        /// A manager run stopped after the manager has its socket ends (the parent closed its
        /// copies) closes each end once. Its ends used to be closed a second time on the way out,
        /// closing whatever this process had opened with those numbers since (under fuzzing: a
        /// store's trace file, "Bad file descriptor"; a sampler's /proc file, read as garbage).
        /// Here the numbers the parent freed are taken by sentinels, which must still be open.
        @Test func aStoppedManagerRunClosesEachOfItsDescriptorsOnce() throws {
            let experiment = Catalog.experiment("manager")!
            let execution = ExperimentRun(id: "stop-manager-fds", experiment: experiment,
                                          params: try experiment.resolve(["processes": 4, "decrements": 100]))
            execution.start()
            var sentinels: [Int32] = []
            defer { for fd in sentinels { close(fd) } }
            // The first worker is spawned after the parent closed its copies of the manager's ends
            // (polled for, as ProcessRuns.stop does; the run cannot end before it is stopped).
            let deadline = Date().addingTimeInterval(20)
            while !execution.recorder.events.contains(where: { $0.type == "process.spawn" && $0.fields["kind"] == "manager-client" }),
                  Date() < deadline { usleep(1000) }
            // The lowest free numbers, which include the ends the parent has just closed.
            for _ in 0..<64 { sentinels.append(open("/dev/null", O_RDONLY | O_CLOEXEC)) }
            execution.control.stop(.cancelled)
            let outcome = execution.wait()
            #expect(outcome.status == .cancelled)
            let closed = sentinels.filter { fcntl($0, F_GETFD) == -1 }
            #expect(closed.isEmpty, "closed by the run's cleanup: \(closed)")
        }

        /// Without the lock the race is natural: the test checks that whatever happened is
        /// reported consistently — every marked write names the write it overwrote, the
        /// count of marked writes is the manager's, and the verdict's figure is the summary's.
        @Test(arguments: ["together", "staggered"])
        func withoutTheLockLossesAreReportedAsTheyHappened(start: String) throws {
            let (outcome, events) = try ProcessRuns.run("manager", ["processes": 64, "start": .string(start)])
            #expect(outcome.status == .completed)
            let final = outcome.summary["final"]!.intValue!
            let lost = outcome.summary["lost"]!.intValue!
            #expect(lost == final && lost >= 0 && lost < 64)
            let marked = events.filter { $0.type == "var.write" && $0.fields["lost"] == true }
            #expect(marked.count == outcome.summary["overwrites"]!.intValue!)
            // A lost decrement needs an overwrite; each overwrite loses at least one.
            #expect((lost > 0) == !marked.isEmpty)
            for write in marked {
                if let target = write.fields["overwrote"]?.intValue {
                    let overwritten = events.first { $0.seq == target }
                    #expect(overwritten?.type == "var.write" && overwritten!.seq < write.seq && overwritten!.pid != write.pid)
                }
            }
            let verdict = outcome.summary["verdict"]!.stringValue!
            #expect(lost == 0 ? verdict.contains("lost none") : verdict.contains("lost \(lost) of 64"))
            #expect(events.contains { $0.type == "insight" })
            if start == "together" {
                // 64 workers released at once: in practice the gets pile up before the sets.
                #expect(lost > 0)
            }
        }
    }
}
