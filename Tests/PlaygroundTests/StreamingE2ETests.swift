import Foundation
import Glibc
import JSON
import Testing

@Suite struct StreamingE2ETests {
    @Test func idleStreamsGetHeartbeatsAndAVanishedClientIsNoticed() throws {
        let server = try ServerProcess.start(["--heartbeat-ms", "100"])
        let run = try server.startRun("thread-pool", ["workers": 1, "tasks": 1, "taskMs": 10_000])
        let id = run["id"]!.stringValue!
        let stream = try server.openStream("/api/runs/\(id)/events")
        var blankLines = 0
        while blankLines < 2, let line = stream.readLine() { if line.isEmpty { blankLines += 1 } }
        #expect(blankLines == 2, "an idle NDJSON stream sends blank heartbeat lines")
        #expect(try server.get("/api/health").json["streamsActive"] == 1)
        stream.close()
        // The next heartbeat write fails and the server lets the stream go.
        #expect(try server.eventually { try server.get("/api/health").json["streamsActive"] == 0 })
        _ = try server.request("DELETE", "/api/runs/\(id)")
    }

    @Test func hundredsOfViewersFollowOneRunWithoutAThreadEach() throws {
        let server = try ServerProcess.start()
        _ = try server.runToEnd("thread-pool", ["workers": 1, "tasks": 1, "taskMs": 1])
        let baseline = server.threadCount()
        // A run that cannot end by itself while the viewers connect: it ends when cancelled.
        let run = try server.startRun("thread-pool", ["workers": 2, "tasks": 2, "taskMs": 10_000])
        let id = run["id"]!.stringValue!
        let viewers = try (0..<200).map { _ in try server.openStream("/api/runs/\(id)/events") }
        #expect(try server.eventually { try server.get("/api/health").json["streamsActive"] == 200 })
        // Two workers, the run's main thread and its sched sampler: the 200 viewers add none.
        #expect(server.threadCount() <= baseline + 4, "threads: \(server.threadCount()), baseline \(baseline)")
        #expect(try server.request("DELETE", "/api/runs/\(id)").status == 202)
        var traces: [[String]] = []
        for viewer in viewers {
            var lines: [String] = []
            while let line = viewer.readLine() { if !line.isEmpty { lines.append(line) } }
            traces.append(lines)
        }
        let reference = try server.events(id).map(\.jsonString)
        #expect(traces.allSatisfy { $0.count == reference.count }, "every viewer got the whole trace")
        #expect(traces.allSatisfy { $0.compactMap { try? JSONParser.parse($0).jsonString } == reference })
        #expect(traces.first?.last.map { try? JSONParser.parse($0) }??["status"] == "cancelled")
        #expect(try server.eventually { try server.get("/api/health").json["streamsActive"] == 0 })
    }

    /// Lines of a whole body, as the server sent them (raw, not re-encoded).
    private static func lines(_ connection: HTTPConnection) -> [String] {
        var lines: [String] = []
        while let line = connection.readLine() { if !line.isEmpty { lines.append(line) } }
        return lines
    }

    @Test func subscribersJoiningALiveRunAnywhereGetEveryLaterEventInOrderByteForByte() throws {
        let server = try ServerProcess.start()
        // Stays live until cancelled: its workers sleep.
        let run = try server.startRun("thread-pool", ["workers": 2, "tasks": 4, "taskMs": 10_000])
        let id = run["id"]!.stringValue!
        let first = try server.openStream("/api/runs/\(id)/events")
        var seen: [String] = []
        while seen.count < 3, let line = first.readLine() { if !line.isEmpty { seen.append(line) } }
        #expect(seen.count == 3)
        // Joined while the run is live, after events 0...2 exist: from seq 2, and (SSE) after id 1.
        let late = try server.openStream("/api/runs/\(id)/events?from=2")
        let sse = try server.openStream("/api/runs/\(id)/events",
                                        headers: ["Accept": "text/event-stream", "Last-Event-ID": "1"])
        #expect(sse.headers["content-type"] == "text/event-stream")
        #expect(try server.request("DELETE", "/api/runs/\(id)").status == 202)
        let firstLines = seen + Self.lines(first)
        let lateLines = Self.lines(late)
        var ids: [Int] = [], data: [String] = []
        while let line = sse.readLine() {
            if line.hasPrefix("id: ") { ids.append(Int(line.dropFirst(4)) ?? -1) }
            if line.hasPrefix("data: ") { data.append(String(line.dropFirst(6))) }
        }
        // The recorded run replays byte-identical to what the live subscribers got.
        _ = try server.waitForFinal(id)
        let reference = try server.request("GET", "/api/runs/\(id)/events").text.split(separator: "\n").map(String.init)
        #expect(reference.count > 3)
        #expect(firstLines == reference)
        #expect(lateLines == Array(reference.dropFirst(2)))
        #expect(ids == Array(2..<reference.count))
        #expect(data == Array(reference.dropFirst(2)))
    }

    @Test func aSubscriberThatStopsReadingHoldsUpNobodyElse() throws {
        let server = try ServerProcess.start()
        // About 12,000 events (over a megabyte) in well under a second of run.
        let run = try server.startRun("thread-pool", ["workers": 4, "tasks": 2_000, "taskMs": 1, "jitterPct": 0])
        let id = run["id"]!.stringValue!
        // Asks for the stream, then never reads: with a tiny receive window, the server's
        // writes to it soon find no room.
        let stalled = try HTTPConnection(port: server.port)
        var small: Int32 = 2_048
        setsockopt(stalled.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try stalled.send(method: "GET", path: "/api/runs/\(id)/events", headers: [:], body: nil)
        let readers = try (0..<3).map { _ in try server.openStream("/api/runs/\(id)/events") }
        let traces = readers.map { Self.lines($0) }
        _ = try server.waitForFinal(id)
        let reference = try server.request("GET", "/api/runs/\(id)/events").text.split(separator: "\n").map(String.init)
        #expect(reference.count > 10_000)
        #expect(traces.allSatisfy { $0 == reference }, "every reading subscriber got the whole run, in order")
        // However far the stalled stream got, it goes once its client does.
        stalled.close()
        #expect(try server.eventually { try server.get("/api/health").json["streamsActive"] == 0 },
                "a subscriber that hung up mid-stream was let go")
    }
}
