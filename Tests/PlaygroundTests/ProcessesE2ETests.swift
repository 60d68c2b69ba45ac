import Foundation
import Glibc
import JSON
import Testing

/// Process experiments against a real `interleave serve`: children are the server's
/// own executable, and however a run ends the server is left with no child, no
/// zombie, and the threads it had before.
@Suite(.serialized) struct ProcessesE2ETests {
    /// Live (non-zombie) children of the server.
    func liveChildren(_ server: ServerProcess) -> [Int32] {
        server.children().filter { $0.state != "Z" }.map(\.pid)
    }

    func expectClean(_ server: ServerProcess, threads baseline: Int, _ context: String) {
        #expect(server.eventually { server.children().isEmpty }, "\(context): children left: \(server.children())")
        #expect(server.eventually { server.threadCount() == baseline },
                "\(context): \(server.threadCount()) threads, \(baseline) before")
    }

    /// A first run starts the server's long-lived threads (scheduler, …); count after it.
    func warmedUp() throws -> (ServerProcess, Int) {
        let server = try ServerProcess.start()
        let (run, _) = try server.runToEnd("processes", ["count": 1, "workMs": 0])
        #expect(try server.waitForFinal(run["id"]!.stringValue!)["status"] == "completed")
        #expect(server.eventually { server.children().isEmpty })
        return (server, server.threadCount())
    }

    @Test func childEventsReachTheStreamUnderTheChildrensPids() throws {
        let (server, _) = try warmedUp()
        let (run, events) = try server.runToEnd("processes", ["count": 3, "workMs": 30])
        #expect(try server.waitForFinal(run["id"]!.stringValue!)["status"] == "completed")
        let spawns = events.filter { $0["type"] == "process.spawn" }
        #expect(spawns.count == 3 && spawns.allSatisfy { $0["pid"]?.intValue == Int(server.pid) })
        let childPids = Set(spawns.compactMap { $0["childPid"]?.intValue })
        let traced = Set(events.filter { $0["type"] == "lane.start" && $0["kind"] == "process" }.compactMap { $0["pid"]?.intValue })
        #expect(traced == childPids && !childPids.contains(Int(server.pid)))
        #expect(events.filter { $0["type"] == "process.exit" }.allSatisfy { $0["exitCode"] == 0 })
        #expect(events.map { $0["seq"]?.intValue ?? -1 } == Array(0..<events.count))
    }

    @Test func completedRunsLeaveNoChildrenNoZombiesAndNoThreads() throws {
        let (server, baseline) = try warmedUp()
        let runs: [(String, JSONValue)] = [
            ("processes", ["count": 4, "workMs": 20]),
            ("processes", ["count": 2, "action": "kill", "workMs": 300]),
            ("processes", ["count": 2, "action": "daemon", "workMs": 300]),
            ("process-pool", ["workers": 3, "tasks": 9, "taskMs": 5]),
            ("process-queue", ["items": 10, "consumers": 2]),
            ("pipe", ["consumers": 2, "items": 20, "lock": true]),
            ("shared-memory", ["processes": 3, "decrements": 10]),
        ]
        for (id, params) in runs {
            let (run, _) = try server.runToEnd(id, params)
            #expect(try server.waitForFinal(run["id"]!.stringValue!)["status"] == "completed", "\(id)")
            expectClean(server, threads: baseline, "\(id) \(params.jsonString)")
        }
    }

    @Test func cancellingARunKillsItsWorkersAndReapsThem() throws {
        let (server, baseline) = try warmedUp()
        for (id, params) in [("processes", ["count": 3, "workMs": 10_000] as JSONValue),
                             ("process-pool", ["workers": 2, "tasks": 20, "taskMs": 10_000])] {
            let run = try server.startRun(id, params)
            let runID = run["id"]!.stringValue!
            #expect(server.eventually { liveChildren(server).count >= 2 }, "\(id): workers never started")
            #expect(try server.request("DELETE", "/api/runs/\(runID)").status == 202)
            let final = try server.waitForFinal(runID)
            #expect(final["status"] == "cancelled", "\(id)")
            expectClean(server, threads: baseline, "\(id) cancelled")
        }
    }

    @Test func aRunPastItsDeadlineKillsItsWorkers() throws {
        let server = try ServerProcess.start(["--run-deadline-ms", "400"])
        _ = try server.runToEnd("processes", ["count": 1, "workMs": 0])
        let baseline = server.threadCount()
        let (run, events) = try server.runToEnd("processes", ["count": 3, "workMs": 10_000])
        #expect(try server.waitForFinal(run["id"]!.stringValue!)["status"] == "timedOut")
        #expect(events.filter { $0["type"] == "process.exit" }.allSatisfy { $0["signal"] == "SIGKILL" })
        expectClean(server, threads: baseline, "timed out")
    }

    @Test func killingTheServerWithSIGKILLLeavesNoOrphanedWorkers() throws {
        let server = try ServerProcess.start()
        _ = try server.startRun("processes", ["count": 3, "workMs": 10_000])
        _ = try server.startRun("process-pool", ["workers": 2, "tasks": 4, "taskMs": 10_000])
        var workers: [Int32] = []
        #expect(server.eventually {
            workers = liveChildren(server)
            return workers.count == 5
        }, "expected 5 workers, saw \(workers)")
        kill(server.pid, SIGKILL)
        server.process.waitUntilExit()
        // Orphans are re-parented; each must end by itself (PR_SET_PDEATHSIG).
        func running(_ pid: Int32) -> Bool {
            ServerProcess.processes().contains { $0.pid == pid && $0.state != "Z" && $0.state != "X" }
        }
        #expect(server.eventually { workers.allSatisfy { !running($0) } },
                "workers still running after the server died: \(workers.filter(running))")
    }
}
