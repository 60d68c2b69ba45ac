import Foundation
import Glibc
import JSON
import Testing

/// A real server process, driven over HTTP as a user would.
@Suite struct RunLifecycleE2ETests {
    @Test func healthAndCatalog() throws {
        let server = try ServerProcess.start()
        let health = try server.get("/api/health")
        #expect(health.status == 200)
        #expect(health.json["status"] == "ok")
        #expect(health.json["runsActive"] == 0)
        let catalog = try server.get("/api/experiments").json.arrayValue ?? []
        let pool = catalog.first { $0["id"] == "thread-pool" }
        #expect(pool != nil)
        let workers = pool?["parameters"]?.arrayValue?.first { $0["name"] == "workers" }
        #expect(workers?["type"] == "integer")
        #expect(workers?["minimum"] == 1 && workers?["maximum"] == 64 && workers?["default"] == 4)
        #expect(pool?["lesson"]?.stringValue?.isEmpty == false)
        #expect(try server.get("/api/experiments/thread-pool").json["id"] == "thread-pool")
    }

    @Test func aRunStreamsToItsEndWithAGaplessTrace() throws {
        let server = try ServerProcess.start()
        let (run, events) = try server.runToEnd("thread-pool", ["workers": 3, "tasks": 12, "taskMs": 10])
        #expect(run["status"] == "completed")
        #expect(events.map { $0["seq"]?.intValue ?? -1 } == Array(0..<events.count))
        #expect(events.first?["type"] == "run.start")
        #expect(events.last?["type"] == "run.end")
        #expect(events.last?["status"] == "completed")
        #expect(events.filter { $0["type"] == "task.end" }.count == 12)
        #expect(run["eventCount"]?.intValue == events.count)
        #expect(run["params"]?["mode"] == "submit", "defaults are filled in and echoed")
        let summary = run["summary"]
        #expect(summary?["durationMs"] != nil && summary?["verdict"] != nil)
        #expect(summary?["tracer"]?["events"]?.intValue ?? 0 > 0)
        #expect(Set(events.compactMap { $0["pid"]?.intValue }) == [Int(server.pid)], "events carry the server's real pid")
        // Never more than W tasks at once, on at most W threads.
        var running = 0, peak = 0
        for event in events {
            if event["type"] == "task.start" { running += 1; peak = max(peak, running) }
            if event["type"] == "task.end" { running -= 1 }
        }
        #expect(peak <= 3)
        #expect(Set(events.filter { $0["type"] == "task.start" }.compactMap { $0["tid"]?.intValue }).count <= 3)
    }

    @Test func eventsArriveLiveWhileTheRunIsStillGoing() throws {
        let server = try ServerProcess.start()
        let run = try server.startRun("thread-pool", ["workers": 1, "tasks": 3, "taskMs": 10_000])
        let id = run["id"]!.stringValue!
        let stream = try server.openStream("/api/runs/\(id)/events")
        #expect(stream.headers["content-type"] == "application/x-ndjson")
        // The first task starts long before the run can end (3 × 10 s of work).
        var sawTaskStart = false
        while let line = stream.readLine() {
            if line.isEmpty { continue }
            if (try JSONParser.parse(line))["type"] == "task.start" { sawTaskStart = true; break }
        }
        #expect(sawTaskStart)
        #expect(try server.get("/api/runs/\(id)").json["status"] == "running")
        // Cancel: the stream ends with run.end {status: cancelled}.
        let cancel = try server.request("DELETE", "/api/runs/\(id)")
        #expect(cancel.status == 202)
        var last: JSONValue = .null
        while let line = stream.readLine() { if !line.isEmpty { last = try JSONParser.parse(line) } }
        #expect(last["type"] == "run.end")
        #expect(last["status"] == "cancelled")
        let final = try server.waitForFinal(id)
        #expect(final["status"] == "cancelled")
        #expect(final["summary"]?["durationMs"]?.doubleValue ?? .infinity < 10_000)
        // A finished run can then be deleted.
        #expect(try server.request("DELETE", "/api/runs/\(id)").status == 204)
        #expect(try server.get("/api/runs/\(id)").status == 404)
    }

    @Test func aLateSubscriberGetsTheWholeHistory() throws {
        let server = try ServerProcess.start()
        let (run, live) = try server.runToEnd("thread-pool", ["workers": 2, "tasks": 6, "taskMs": 5])
        let id = run["id"]!.stringValue!
        let late = try server.events(id)
        #expect(late == live)
        let fromTen = try server.events(id, query: "?from=10")
        #expect(fromTen.first?["seq"] == 10)
        #expect(fromTen == Array(live.dropFirst(10)))
        let listed = try server.get("/api/runs").json.arrayValue ?? []
        #expect(listed.contains { $0["id"]?.stringValue == id })
    }

    @Test func sseFramesResumeAfterLastEventID() throws {
        let server = try ServerProcess.start()
        let (run, events) = try server.runToEnd("thread-pool", ["workers": 2, "tasks": 4, "taskMs": 1])
        let id = run["id"]!.stringValue!
        let connection = try HTTPConnection(port: server.port)
        try connection.send(method: "GET", path: "/api/runs/\(id)/events",
                            headers: ["Accept": "text/event-stream", "Last-Event-ID": "5"], body: nil)
        let response = try connection.readWholeResponse()
        #expect(response.header("content-type") == "text/event-stream")
        let frames = response.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        #expect(frames.count == events.count - 6)
        let first = frames.first?.split(separator: "\n") ?? []
        #expect(first.first == "id: 6")
        #expect(first.last.map { try? JSONParser.parse(String($0.dropFirst(6))) } == events[6])
    }

    @Test func chromeTraceExportOpensAsTraceEvents() throws {
        let server = try ServerProcess.start()
        let (run, _) = try server.runToEnd("thread-pool", ["workers": 2, "tasks": 4, "taskMs": 1])
        let trace = try server.get("/api/runs/\(run["id"]!.stringValue!)/trace?format=chrome").json
        let events = trace["traceEvents"]?.arrayValue ?? []
        #expect(events.filter { $0["ph"] == "X" && $0["cat"] == "task" }.count == 4)
        #expect(events.contains { $0["ph"] == "M" && $0["name"] == "thread_name" && $0["args"]?["name"] == "worker-1" })
        #expect(events.filter { $0["ph"] == "s" }.count == events.filter { $0["ph"] == "f" }.count)
    }

    @Test func theDeadlineEndsARunAsTimedOut() throws {
        let server = try ServerProcess.start(["--run-deadline-ms", "300"])
        let run = try server.startRun("thread-pool", ["workers": 1, "tasks": 1, "taskMs": 10_000])
        let final = try server.waitForFinal(run["id"]!.stringValue!)
        #expect(final["status"] == "timedOut")
    }

    @Test func tooManyRunsGet429WithRetryAfter() throws {
        let server = try ServerProcess.start(["--max-runs", "1"])
        let first = try server.startRun("thread-pool", ["workers": 1, "tasks": 1, "taskMs": 10_000])
        let second = try server.request("POST", "/api/runs", body: #"{"experiment":"thread-pool"}"#)
        #expect(second.status == 429)
        #expect(second.header("retry-after") != nil)
        #expect(second.header("content-type") == "application/problem+json")
        #expect(second.json["detail"]?.stringValue?.contains("at most 1") == true)
        _ = try server.request("DELETE", "/api/runs/\(first["id"]!.stringValue!)")
        _ = try server.waitForFinal(first["id"]!.stringValue!)
        #expect(try server.request("POST", "/api/runs", body: #"{"experiment":"thread-pool","params":{"taskMs":1}}"#).status == 201)
    }

    @Test func noThreadIsLeftBehindAfterCompletedAndCancelledRuns() throws {
        let server = try ServerProcess.start()
        // Warm up: the first run starts the scheduler thread, which stays.
        _ = try server.runToEnd("thread-pool", ["workers": 1, "tasks": 1, "taskMs": 1])
        let baseline = server.threadCount()
        #expect(server.eventually { server.threadCount() == baseline })
        _ = try server.runToEnd("thread-pool", ["workers": 16, "tasks": 32, "taskMs": 5])
        let long = try server.startRun("thread-pool", ["workers": 8, "tasks": 8, "taskMs": 10_000])
        let id = long["id"]!.stringValue!
        #expect(server.eventually { server.threadCount() >= baseline + 8 }, "the workers really are threads")
        _ = try server.request("DELETE", "/api/runs/\(id)")
        #expect(try server.waitForFinal(id)["status"] == "cancelled")
        #expect(server.eventually { server.threadCount() == baseline }, "thread count back to \(baseline), is \(server.threadCount())")
    }

    @Test func sigtermStopsGracefullyInterruptingRunsAndClosingStreams() throws {
        let server = try ServerProcess.start()
        let run = try server.startRun("thread-pool", ["workers": 1, "tasks": 2, "taskMs": 10_000])
        let stream = try server.openStream("/api/runs/\(run["id"]!.stringValue!)/events")
        #expect(stream.readLine() != nil)
        #expect(server.stop() == 0, "exit status 0 after SIGTERM")
        var last: JSONValue = .null
        while let line = stream.readLine() { if !line.isEmpty { last = try JSONParser.parse(line) } }
        #expect(last["type"] == "run.end")
        #expect(last["status"] == "interrupted")
    }

    @Test func aServerWhoseSupervisorGoesAwayStopsGracefully() throws {
        let server = try ServerProcess.start()
        let run = try server.startRun("thread-pool", ["workers": 1, "tasks": 1, "taskMs": 10_000])
        #expect(server.closeStandardInput() == 0, "--exit-on-stdin-close stops like SIGTERM, exit status 0")
        _ = run
    }
}
