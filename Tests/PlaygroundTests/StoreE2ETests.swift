import Foundation
import Glibc
import JSON
import Testing

/// The run store against real server processes: restarts, `kill -9`, torn files,
/// retention, notes and lessons across restarts.
@Suite(.serialized) struct StoreE2ETests {
    /// A run's whole NDJSON stream, heartbeat lines dropped.
    static func ndjson(_ server: ServerProcess, _ id: String, query: String = "") throws -> String {
        let text = try server.request("GET", "/api/runs/\(id)/events\(query)").text
        return text.split(separator: "\n", omittingEmptySubsequences: true).map { $0 + "\n" }.joined()
    }

    static func sse(_ server: ServerProcess, _ id: String) throws -> String {
        let text = try server.request("GET", "/api/runs/\(id)/events", headers: ["Accept": "text/event-stream"]).text
        // Heartbeat comments are timing, not content.
        return text.components(separatedBy: "\n\n").filter { !$0.isEmpty && !$0.hasPrefix(":") }.joined(separator: "\n\n")
    }

    static func lines(_ path: String) -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { return 0 }
        return data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }

    /// A run that keeps emitting for about ten seconds.
    static let slow: JSONValue = ["workers": 1, "tasks": 200, "taskMs": 50, "jitterPct": 0]

    @Test func completedRunsReplayByteIdenticalAfterARestart() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var server = try ServerProcess.start(dataDir: directory)
        let first = try server.startRun("race-condition")["id"]!.stringValue!
        let liveNDJSON = try Self.ndjson(server, first)
        let second = try server.runToEnd("thread-pool", ["tasks": 6, "taskMs": 5]).run["id"]!.stringValue!
        let sizes = [first: liveNDJSON.utf8.count, second: try Self.ndjson(server, second).utf8.count]
        // Until a run's whole trace is in the store, its `bytes` is still growing.
        #expect(server.eventually {
            (try? server.get("/api/runs").json.arrayValue?.allSatisfy { sizes[$0["id"]!.stringValue!] == $0["bytes"]?.intValue }) == true
        })
        let before = try server.get("/api/runs").json
        let liveSSE = try Self.sse(server, second)
        #expect(server.stop() == 0)

        server = try ServerProcess.start(dataDir: directory)
        let after = try server.get("/api/runs").json
        #expect(after == before, "the list of runs, statuses and summaries included, is the same after a restart")
        #expect(after.arrayValue?.map { $0["status"] } == [.string("completed"), .string("completed")])
        #expect(try Self.ndjson(server, first) == liveNDJSON)
        #expect(try Self.sse(server, second) == liveSSE)
        let suffix = liveNDJSON.split(separator: "\n").dropFirst(10).map { $0 + "\n" }.joined()
        #expect(try Self.ndjson(server, first, query: "?from=10") == suffix)
        #expect(try server.get("/api/runs/\(first)/trace?format=ndjson").text == liveNDJSON)
        let chrome = try server.get("/api/runs/\(first)/trace?format=chrome").json
        #expect((chrome["traceEvents"]?.arrayValue?.count ?? 0) > 0)
    }

    @Test func aKilledServerLeavesTheRunInterruptedWithItsPersistedEvents() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var server = try ServerProcess.start(dataDir: directory)
        let done = try server.startRun("race-condition")["id"]!.stringValue!
        let doneTrace = try Self.ndjson(server, done)
        let id = try server.startRun("thread-pool", Self.slow)["id"]!.stringValue!
        let file = "\(directory)/traces/\(id).ndjson"
        // Write-through: the events reach the file while the run goes on.
        #expect(server.eventually(seconds: 20) { Self.lines(file) >= 30 })
        kill(server.pid, SIGKILL)
        server.process.waitUntilExit()
        let persisted = Self.lines(file)

        server = try ServerProcess.start(dataDir: directory)
        let run = try server.get("/api/runs/\(id)").json
        #expect(run["status"] == "interrupted")
        #expect(run["eventCount"]?.intValue == persisted)
        #expect(run["summary"]?["verdict"]?.stringValue?.contains("Interrupted") == true)
        let events = try Self.ndjson(server, id).split(separator: "\n")
        #expect(events.count == persisted)
        #expect(events.enumerated().allSatisfy { index, line in
            (try? JSONParser.parse(String(line)))?["seq"]?.intValue == index
        })
        #expect(try Self.ndjson(server, done) == doneTrace, "a run completed before the crash is intact")
    }

    @Test func aTornLastRecordDoesNotStopStartUp() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var server = try ServerProcess.start(dataDir: directory)
        let id = try server.startRun("thread-pool", Self.slow)["id"]!.stringValue!
        let file = "\(directory)/traces/\(id).ndjson"
        #expect(server.eventually(seconds: 20) { Self.lines(file) >= 10 })
        kill(server.pid, SIGKILL)
        server.process.waitUntilExit()
        let whole = Self.lines(file)
        // Half a record, as if the process died inside a write.
        let handle = try #require(FileHandle(forWritingAtPath: file))
        handle.seekToEndOfFile()
        handle.write(Data(#"{"seq":\#(whole),"ts":12345,"type":"task.st"#.utf8))
        try handle.close()
        // And a database journal cut short.
        if let wal = FileHandle(forWritingAtPath: "\(directory)/interleave.sqlite-wal") {
            let size = wal.seekToEndOfFile()
            if size > 100 { wal.truncateFile(atOffset: size - 37) }
            try wal.close()
        }

        server = try ServerProcess.start(dataDir: directory)
        #expect(try server.get("/api/health").status == 200)
        let run = try server.get("/api/runs/\(id)").json
        #expect(run["status"] == "interrupted")
        #expect(run["eventCount"]?.intValue == whole)
        let text = try Self.ndjson(server, id)
        #expect(text.split(separator: "\n").count == whole)
        #expect(!text.contains("task.st\""), "the torn line is cut off, not served")
    }

    @Test func retentionEvictsTheOldestUnpinnedRunsOnly() throws {
        let server = try ServerProcess.start(["--retain-runs", "2"])
        var ids: [String] = []
        for index in 0..<4 {
            let id = try server.startRun("race-condition")["id"]!.stringValue!
            _ = try server.waitForFinal(id)
            _ = try Self.ndjson(server, id)
            if index == 0 {
                let pinned = try server.request("PATCH", "/api/runs/\(id)", body: #"{"pinned":true,"title":"keep me"}"#)
                #expect(pinned.status == 200)
                #expect(pinned.json["pinned"] == true)
            }
            ids.append(id)
        }
        // Eviction happens as each run reaches the store.
        let listed = { (try? server.get("/api/runs").json.arrayValue?.compactMap { $0["id"]?.stringValue }) ?? [] }
        #expect(server.eventually { Set(listed()) == [ids[0], ids[3]] }, "kept \(listed()), ran \(ids)")
        #expect(try server.get("/api/runs/\(ids[1])").status == 404)
        #expect(try server.get("/api/runs/\(ids[0])").json["title"] == "keep me")
    }

    @Test func notesAndLessonsSurviveARestart() throws {
        let directory = ServerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var server = try ServerProcess.start(dataDir: directory)
        let id = try server.startRun("race-condition")["id"]!.stringValue!
        _ = try Self.ndjson(server, id)
        _ = try server.waitForFinal(id)
        let note = try server.request("POST", "/api/runs/\(id)/notes", body: #"{"seq":5,"text":"here the update is lost"}"#)
        #expect(note.status == 201)
        let badSeq = try server.request("POST", "/api/runs/\(id)/notes", body: #"{"seq":100000,"text":"x"}"#)
        #expect(badSeq.status == 400)
        #expect(badSeq.json["field"] == "seq")
        let lesson = try server.request("POST", "/api/lessons", body: """
            {"title":"Races","steps":[{"run":"\(id)","view":[0,2000],"seq":5,"note":"look here"},{"run":"\(id)","note":"the end"}]}
            """)
        #expect(lesson.status == 201)
        let lessonID = try #require(lesson.json["id"]?.stringValue)
        #expect(server.stop() == 0)

        server = try ServerProcess.start(dataDir: directory)
        let notes = try server.get("/api/runs/\(id)/notes").json
        #expect(notes.arrayValue?.count == 1)
        #expect(notes.arrayValue?.first?["text"] == "here the update is lost")
        #expect(notes.arrayValue?.first?["seq"] == 5)
        let stored = try server.get("/api/lessons/\(lessonID)").json
        #expect(stored["title"] == "Races")
        #expect(stored["steps"]?.arrayValue?.count == 2)
        #expect(stored["steps"]?.arrayValue?.first?["view"] == [0, 2000])
        #expect(try server.get("/api/runs/\(id)").json["pinned"] == true, "a lesson's runs are pinned")
        let noteID = try #require(notes.arrayValue?.first?["id"]?.intValue)
        #expect(try server.request("DELETE", "/api/runs/\(id)/notes/\(noteID)").status == 204)
        #expect(try server.get("/api/runs/\(id)/notes").json == [])
        #expect(try server.request("DELETE", "/api/lessons/\(lessonID)").status == 204)
        #expect(try server.get("/api/lessons/\(lessonID)").status == 404)
    }

    @Test func noStoreKeepsRunsInMemoryOnly() throws {
        let server = try ServerProcess.start(["--no-store"])
        let id = try server.startRun("race-condition")["id"]!.stringValue!
        let live = try Self.ndjson(server, id)
        _ = try server.waitForFinal(id)
        #expect(try Self.ndjson(server, id) == live, "served from memory after it ended, same bytes")
        #expect(try server.request("DELETE", "/api/runs/\(id)").status == 204)
        #expect(try server.get("/api/runs/\(id)").status == 404)
    }
}

/// Imports and offline hand-outs.
@Suite struct HandoutE2ETests {
    static let ndjsonType = ["Content-Type": "application/x-ndjson"]

    @Test func anExportedTraceImportsBackByteIdentical() throws {
        let server = try ServerProcess.start()
        let id = try server.startRun("race-condition")["id"]!.stringValue!
        _ = try StoreE2ETests.ndjson(server, id)
        _ = try server.waitForFinal(id)
        let exported = try server.get("/api/runs/\(id)/trace?format=ndjson").body
        let imported = try server.request("POST", "/api/runs/import", headers: Self.ndjsonType, rawBody: exported)
        #expect(imported.status == 201)
        let copy = try #require(imported.json["id"]?.stringValue)
        #expect(copy != id)
        #expect(imported.json["origin"] == "import")
        #expect(imported.json["status"] == "completed")
        #expect(imported.json["experiment"] == "race-condition")
        let original = try server.get("/api/runs/\(id)").json
        #expect(imported.json["summary"] == original["summary"])
        #expect(imported.json["eventCount"] == original["eventCount"])
        #expect(try server.get("/api/runs/\(copy)/trace?format=ndjson").body == exported)
        #expect(Array(try StoreE2ETests.ndjson(server, copy).utf8) == exported)
    }

    @Test func aBadImportLineIsNamed() throws {
        let server = try ServerProcess.start(["--no-store"])
        func importing(_ text: String) throws -> ServerProcess.HTTPResult {
            try server.request("POST", "/api/runs/import", headers: Self.ndjsonType, rawBody: Array(text.utf8))
        }
        let start = #"{"seq":0,"ts":0,"type":"run.start","lane":"main","pid":1,"tid":1}"#
        let torn = try importing(start + "\n\n" + #"{"seq":1,"ts":5,"type":"lo"# + "\n")
        #expect(torn.status == 400)
        #expect(torn.json["line"] == 3, "blank lines count: the torn one is line 3")
        #expect(torn.json["detail"]?.stringValue?.hasPrefix("line 3 ") == true)
        let gap = try importing(start + "\n" + #"{"seq":2,"ts":5,"type":"log","lane":"main","pid":1,"tid":1}"#)
        #expect(gap.status == 400)
        #expect(gap.json["line"] == 2)
        #expect(gap.json["detail"]?.stringValue?.contains("expected 1") == true)
        let backwards = try importing(#"{"seq":0,"ts":9,"type":"log","lane":"main","pid":1,"tid":1}"# + "\n"
            + #"{"seq":1,"ts":5,"type":"log","lane":"main","pid":1,"tid":1}"#)
        #expect(backwards.json["line"] == 2)
        #expect(try importing("").status == 400)
        #expect(try importing("[1,2]").json["line"] == 1)
        #expect(try server.get("/api/runs").json == [], "nothing half-imported is left")
        // Without a run.end the imported run is listed as cut off.
        let partial = try importing(start + "\n")
        #expect(partial.status == 201)
        #expect(partial.json["status"] == "interrupted")
    }

    @Test func aRunAndALessonExportAsOneSelfContainedPage() throws {
        let server = try ServerProcess.start(["--no-store"])
        let id = try server.startRun("race-condition")["id"]!.stringValue!
        let trace = try StoreE2ETests.ndjson(server, id)
        _ = try server.waitForFinal(id)
        #expect(try server.request("POST", "/api/runs/\(id)/notes", body: #"{"seq":3,"text":"a note </script> <b>"}"#).status == 201)
        let page = try server.get("/api/runs/\(id)/export.html")
        #expect(page.status == 200)
        #expect(page.header("content-type") == "text/html; charset=utf-8")
        let html = page.text
        #expect(!html.contains("<script type=\"module\" src="), "no module is loaded from a file")
        #expect(!html.contains("href=\"css/"), "the styles are inlined")
        #expect(!html.contains("http://") || !html.contains("src=\"http"), "nothing is fetched from a network")
        #expect(html.components(separatedBy: "</script>").count - 1 == 3, "the note's </script> cannot end a script early")
        #expect(html.contains("interleave-offline-data"))
        // The trace is in it, line for line (JSON-escaped, `<` as \u003c).
        let firstLine = String(trace.split(separator: "\n")[0]).replacing("\"", with: "\\\"")
        #expect(html.contains(firstLine))

        let lesson = try server.request("POST", "/api/lessons", body: #"{"title":"Lost updates","steps":[{"run":"\#(id)","seq":3,"note":"see"}]}"#)
        let lessonID = try #require(lesson.json["id"]?.stringValue)
        let lessonPage = try server.get("/api/lessons/\(lessonID)/export.html")
        #expect(lessonPage.status == 200)
        #expect(lessonPage.text.contains("Lost updates — Interleave hand-out"))
        #expect(lessonPage.text.contains("?lesson=\(lessonID)"))
        #expect(try server.get("/api/lessons/nope/export.html").status == 404)
    }
}
