import Foundation
import JSON
import Testing

/// Every thread experiment through a real server: it ends with the status its lesson
/// claims, and afterwards the server has exactly as many threads as before — whether
/// the run completed, deadlocked or was cancelled. Each test has its own server and
/// runs its cases one at a time, so no other run can disturb the count.
@Suite struct ThreadsE2ETests {
    struct Case: CustomTestStringConvertible, Sendable {
        let experiment: String
        let params: JSONValue
        let status: String
        var testDescription: String { "\(experiment) \(params.jsonString) → \(status)" }
    }

    static let finishing: [Case] = [
        Case(experiment: "threads", params: ["count": 4, "workMs": 5], status: "completed"),
        Case(experiment: "threads", params: ["count": 4, "workMs": 10_000, "daemon": true], status: "completed"),
        Case(experiment: "callbacks", params: ["tasks": 6, "taskMs": 5], status: "completed"),
        Case(experiment: "race-condition", params: ["workers": 8, "increments": 500], status: "completed"),
        Case(experiment: "race-condition", params: ["workers": 8, "increments": 500, "lock": true], status: "completed"),
        Case(experiment: "mutex-vs-rlock", params: ["kind": "mutex"], status: "deadlocked"),
        Case(experiment: "mutex-vs-rlock", params: ["kind": "recursive", "depth": 4], status: "completed"),
        Case(experiment: "deadlock", params: ["philosophers": 6, "strategy": "naive", "holdMs": 5], status: "deadlocked"),
        Case(experiment: "deadlock", params: ["philosophers": 4, "strategy": "ordered", "holdMs": 5], status: "completed"),
        Case(experiment: "deadlock", params: ["philosophers": 4, "strategy": "trylock", "holdMs": 5], status: "completed"),
        Case(experiment: "deadlock", params: ["philosophers": 4, "strategy": "timeout", "holdMs": 5, "timeoutMs": 20], status: "completed"),
        Case(experiment: "event", params: ["waiters": 4, "setAfterMs": 20, "timeoutMs": 5], status: "completed"),
        Case(experiment: "semaphore", params: ["permits": 2, "workers": 6, "holdMs": 5], status: "completed"),
        Case(experiment: "condition", params: ["consumers": 3, "items": 6, "notify": "all"], status: "completed"),
        Case(experiment: "barrier", params: ["parties": 4, "rounds": 2, "workMs": 2], status: "completed"),
        Case(experiment: "queues", params: ["kind": "lifo", "items": 8, "capacity": 3], status: "completed"),
        Case(experiment: "producer-consumer", params: ["producers": 3, "consumers": 3, "items": 40, "produceMs": 0, "consumeMs": 1], status: "completed"),
    ]

    /// Long runs, cancelled while their threads are alive; `threads` is how many they start.
    static let cancelled: [(experiment: String, params: JSONValue, threads: Int)] = [
        ("threads", ["count": 6, "workMs": 10_000], 6),
        ("callbacks", ["tasks": 6, "taskMs": 10_000, "workers": 3], 3),
        ("race-condition", ["workers": 6, "increments": 100_000, "lock": true], 6),
        ("deadlock", ["philosophers": 5, "strategy": "timeout", "holdMs": 10_000], 5),
        ("event", ["waiters": 6, "setAfterMs": 10_000], 6),
        ("semaphore", ["permits": 2, "workers": 6, "holdMs": 10_000], 6),
        ("barrier", ["parties": 6, "workMs": 10_000], 6),
        ("producer-consumer", ["producers": 2, "consumers": 2, "consumeMs": 10_000], 4),
    ]

    /// A server warmed up by one tiny run (which starts the scheduler thread, which stays).
    func warmServer() throws -> ServerProcess {
        let server = try ServerProcess.start()
        _ = try server.runToEnd("threads", ["count": 1, "workMs": 0])
        return server
    }

    /// The thread count once it holds still: the same twice in a row, 50 ms apart.
    func settledThreadCount(_ server: ServerProcess) -> Int {
        var count = server.threadCount()
        server.eventually {
            usleep(50_000)
            let now = server.threadCount()
            defer { count = now }
            return now == count
        }
        return count
    }

    @Test func everyExperimentEndsAsClaimedAndLeavesNoThreadBehind() throws {
        let server = try warmServer()
        defer { server.stop() }
        for testCase in Self.finishing {
            let baseline = settledThreadCount(server)
            let (run, events) = try server.runToEnd(testCase.experiment, testCase.params)
            #expect(run["status"]?.stringValue == testCase.status,
                    "\(testCase.testDescription): \(run["summary"]?["verdict"]?.stringValue ?? "")")
            #expect(events.last?["type"] == "run.end", "\(testCase.testDescription)")
            if testCase.status == "deadlocked" {
                #expect(events.contains { $0["type"] == "deadlock.detected" }, "\(testCase.testDescription)")
            }
            #expect(server.eventually { server.threadCount() == baseline },
                    "\(testCase.testDescription): thread count back to \(baseline), is \(server.threadCount())")
        }
    }

    @Test func cancellingMidRunLeavesNoThreadBehind() throws {
        let server = try warmServer()
        defer { server.stop() }
        for (experiment, params, threads) in Self.cancelled {
            let baseline = settledThreadCount(server)
            let id = try server.startRun(experiment, params)["id"]!.stringValue!
            #expect(server.eventually { server.threadCount() >= baseline + threads }, "\(experiment): its threads really run")
            #expect(try server.request("DELETE", "/api/runs/\(id)").status == 202)
            let run = try server.waitForFinal(id)
            #expect(run["status"] == "cancelled", "\(experiment) ended \(run["status"]?.stringValue ?? "?")")
            #expect(server.eventually { server.threadCount() == baseline },
                    "\(experiment): thread count back to \(baseline), is \(server.threadCount())")
        }
    }
}
