import Foundation
import Glibc
import JSON
import Testing

/// The socket experiments against a real `interleave serve`: however a run ends —
/// completed, cancelled, timed out — the server is left with the threads, children
/// and open descriptors (sockets, epoll instances, eventfds) it had before.
@Suite(.serialized) struct IOE2ETests {
    func descriptorCount(_ server: ServerProcess) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(server.pid)/fd").count) ?? -1
    }

    struct Baseline {
        let threads: Int
        let descriptors: Int
    }

    /// Starts a server and runs each experiment once, so its long-lived threads exist.
    func warmedUp(_ arguments: [String] = []) throws -> (ServerProcess, Baseline) {
        let server = try ServerProcess.start(arguments)
        for (id, params) in [("echo-server", ["clients": 2, "requests": 2] as JSONValue),
                             ("crawler", ["pages": 2, "latencyMs": 0, "workers": 2]),
                             ("io-multiplexing", ["idleConnections": 4, "rounds": 2, "gapMs": 1])] {
            let (run, _) = try server.runToEnd(id, params)
            #expect(try server.waitForFinal(run["id"]!.stringValue!)["status"] == "completed", "\(id)")
        }
        #expect(server.eventually { server.children().isEmpty })
        var baseline = Baseline(threads: server.threadCount(), descriptors: descriptorCount(server))
        // Let the connections of the warm-up requests close before counting.
        server.eventually(seconds: 2) {
            baseline = Baseline(threads: server.threadCount(), descriptors: descriptorCount(server))
            return false
        }
        return (server, baseline)
    }

    func expectClean(_ server: ServerProcess, _ baseline: Baseline, _ context: String) {
        #expect(server.eventually { server.children().isEmpty }, "\(context): children left (Z = zombie): \(server.children())")
        #expect(server.eventually { server.threadCount() <= baseline.threads },
                "\(context): \(server.threadCount()) threads, \(baseline.threads) before")
        #expect(server.eventually { descriptorCount(server) <= baseline.descriptors },
                "\(context): \(descriptorCount(server)) open descriptors, \(baseline.descriptors) before")
    }

    @Test func completedRunsLeaveNoThreadChildOrSocket() throws {
        let (server, baseline) = try warmedUp()
        var runs: [(String, JSONValue)] = ["thread-per-connection", "thread-pool", "process-pool", "event-loop", "udp-dict"].map {
            ("echo-server", ["model": .string($0), "clients": 6, "requests": 10, "workers": 2])
        }
        runs += ["sequential", "threads", "processes", "async"].map {
            ("crawler", ["backend": .string($0), "pages": 4, "latencyMs": 10, "workers": 2])
        }
        runs += ["select", "poll", "epoll", "busy-nonblocking"].map {
            ("io-multiplexing", ["mechanism": .string($0), "idleConnections": 50, "rounds": 20, "gapMs": 1])
        }
        for (id, params) in runs {
            let (run, events) = try server.runToEnd(id, params)
            #expect(try server.waitForFinal(run["id"]!.stringValue!)["status"] == "completed", "\(id) \(params.jsonString)")
            #expect(events.contains { $0["type"] == "insight" }, "\(id): no insight")
            expectClean(server, baseline, "\(id) \(params.jsonString)")
        }
    }

    /// Runs that would take minutes, stopped while they are blocked in accept, recv,
    /// epoll_wait, a child's fetch or a busy loop.
    static let longRuns: [(String, JSONValue)] = [
        ("echo-server", ["model": "thread-per-connection", "clients": 16, "requests": 10_000]),
        ("echo-server", ["model": "thread-pool", "clients": 16, "requests": 10_000, "workers": 2]),
        ("echo-server", ["model": "process-pool", "clients": 8, "requests": 10_000, "workers": 3]),
        ("echo-server", ["model": "event-loop", "clients": 16, "requests": 10_000]),
        ("echo-server", ["model": "udp-dict", "clients": 8, "requests": 10_000]),
        ("crawler", ["backend": "processes", "pages": 40, "latencyMs": 5000]),
        ("crawler", ["backend": "threads", "pages": 40, "latencyMs": 5000]),
        ("crawler", ["backend": "async", "pages": 40, "latencyMs": 5000]),
        ("io-multiplexing", ["mechanism": "poll", "idleConnections": 1000, "rounds": 100_000]),
        ("io-multiplexing", ["mechanism": "busy-nonblocking", "idleConnections": 10, "rounds": 10, "gapMs": 1000]),
    ]

    @Test func cancelledRunsLeaveNoThreadChildOrSocket() throws {
        let (server, baseline) = try warmedUp()
        for (id, params) in Self.longRuns {
            let run = try server.startRun(id, params)
            let runID = run["id"]!.stringValue!
            // Cancel once the run has got going: its sockets are open.
            #expect(server.eventually { descriptorCount(server) > baseline.descriptors + 4 }, "\(id): no sockets opened")
            #expect(try server.request("DELETE", "/api/runs/\(runID)").status == 202, "\(id)")
            let final = try server.waitForFinal(runID)
            #expect(final["status"] == "cancelled", "\(id) \(params.jsonString): \(final["status"]?.stringValue ?? "?")")
            expectClean(server, baseline, "\(id) \(params.jsonString) cancelled")
        }
    }

    @Test func runsPastTheirDeadlineLeaveNoThreadChildOrSocket() throws {
        let (server, baseline) = try warmedUp(["--run-deadline-ms", "700"])
        for (id, params) in [Self.longRuns[2], Self.longRuns[5], Self.longRuns[7], Self.longRuns[9]] {
            let (run, _) = try server.runToEnd(id, params)
            #expect(try server.waitForFinal(run["id"]!.stringValue!)["status"] == "timedOut", "\(id) \(params.jsonString)")
            expectClean(server, baseline, "\(id) \(params.jsonString) timed out")
        }
    }
}
