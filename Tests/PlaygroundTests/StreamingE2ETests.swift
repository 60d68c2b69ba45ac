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
}
