import Foundation
import Glibc
import JSON
import Testing

/// The GIL, event-loop and coroutine experiments against a real `interleave serve`:
/// however a run ends — completed, cancelled, past its deadline — the server is left
/// with the threads it had and no child or zombie.
@Suite(.serialized) struct AsyncE2ETests {
    func expectClean(_ server: ServerProcess, threads baseline: Int, _ context: String) {
        #expect(server.eventually { server.children().isEmpty }, "\(context): children left: \(server.children())")
        #expect(server.eventually { server.threadCount() == baseline },
                "\(context): \(server.threadCount()) threads, \(baseline) before")
    }

    func warmedUp(_ arguments: [String] = []) throws -> (ServerProcess, Int) {
        let server = try ServerProcess.start(arguments)
        let (run, _) = try server.runToEnd("cpu-vs-io", ["backend": "processes", "tasks": 1, "taskMs": 10, "workers": 1])
        // Only to start the server's long-lived threads; under a short deadline it may time out.
        let status = try server.waitForFinal(run["id"]!.stringValue!)["status"]?.stringValue ?? ""
        #expect(["completed", "timedOut"].contains(status))
        #expect(server.eventually { server.children().isEmpty })
        return (server, server.threadCount())
    }

    @Test func completedAndCancelledRunsLeaveNoThreadsAndNoChildren() throws {
        let (server, baseline) = try warmedUp()
        let completed: [(String, JSONValue)] = [
            ("cpu-vs-io", ["tasks": 2, "taskMs": 20]),
            ("cpu-vs-io", ["backend": "processes", "tasks": 2, "taskMs": 20]),
            ("cpu-vs-io", ["backend": "async", "workload": "mixed", "tasks": 2, "taskMs": 20]),
            ("async-gather", ["tasks": 3, "steps": 2, "maxStepMs": 10]),
            ("coroutines", ["stepMs": 5]),
            ("coroutines", ["style": "greenlet", "tasks": 3, "stepMs": 5]),
        ]
        for (id, params) in completed {
            let (run, events) = try server.runToEnd(id, params)
            #expect(try server.waitForFinal(run["id"]!.stringValue!)["status"] == "completed", "\(id)")
            #expect(events.contains { $0["type"] == "insight" }, "\(id)")
            expectClean(server, threads: baseline, "\(id) \(params.jsonString)")
        }
        // Cancelled once their concurrent part is under way: a child computing, threads
        // fighting over the GIL, the loop in epoll_wait, a coroutine in a blocking sleep.
        let long: [(String, JSONValue, String)] = [
            ("cpu-vs-io", ["backend": "processes", "tasks": 2, "taskMs": 2000, "workload": "io"], "process.spawn"),
            ("cpu-vs-io", ["tasks": 2, "taskMs": 400], "\"lane\":\"thread-2\""),
            ("async-gather", ["tasks": 8, "steps": 100, "maxStepMs": 5000], "epoll_wait"),
            ("coroutines", ["steps": 100, "stepMs": 2000, "blocking": true], "time.sleep"),
        ]
        for (id, params, marker) in long {
            let run = try server.startRun(id, params)
            let runID = run["id"]!.stringValue!
            #expect(server.eventually { (try? server.get("/api/runs/\(runID)/trace?format=ndjson").text.contains(marker)) == true },
                    "\(id): never reached \(marker)")
            #expect(try server.request("DELETE", "/api/runs/\(runID)").status == 202, "\(id)")
            let final = try server.waitForFinal(runID)
            #expect(final["status"] == "cancelled", "\(id)")
            expectClean(server, threads: baseline, "\(id) cancelled")
        }
    }

    @Test func aRunPastItsDeadlineLeavesNothingBehind() throws {
        let (server, baseline) = try warmedUp(["--run-deadline-ms", "400"])
        for (id, params) in [("coroutines", ["stepMs": 2000] as JSONValue), ("async-gather", ["maxStepMs": 5000]),
                             ("cpu-vs-io", ["backend": "processes", "tasks": 1, "taskMs": 5000, "workload": "io"])] {
            let (run, _) = try server.runToEnd(id, params)
            #expect(try server.waitForFinal(run["id"]!.stringValue!)["status"] == "timedOut", "\(id)")
            expectClean(server, threads: baseline, "\(id) timed out")
        }
    }
}
