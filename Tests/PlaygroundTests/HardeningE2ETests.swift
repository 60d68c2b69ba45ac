import Foundation
import Glibc
import JSON
import Testing

/// A hostile client on loopback: malformed framing, floods of idle and trickling
/// connections, clients that vanish, files that are not files. Each test is bounded:
/// floods are opened once (no loops on time), waits are `eventually` with a bound.
@Suite struct HardeningE2ETests {
    // MARK: Protocol

    /// Sends `raw` on one connection and reads the whole answer (to the server's close).
    static func exchange(_ server: ServerProcess, _ raw: String) throws -> (ServerProcess.HTTPResult, rest: String) {
        let connection = try HTTPConnection(port: server.port)
        try connection.sendAll(Array(raw.utf8))
        let result = try connection.readWholeResponse()
        return (result, result.text)
    }

    @Test func ambiguousFramingIsRefusedAndTheConnectionClosed() throws {
        let server = try ServerProcess.start()
        let smuggled = "GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        let cases: [(String, Int, String)] = [
            ("POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 40\r\n\r\n{\"a\":" + smuggled,
             400, "Content-Length"),
            ("POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
             400, "Transfer-Encoding"),
            ("POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\nabc",
             501, "Transfer-Encoding"),
        ]
        for (raw, status, field) in cases {
            let (result, text) = try Self.exchange(server, raw)
            #expect(result.status == status, "\(raw.prefix(60))")
            #expect(result.header("content-type") == "application/problem+json")
            #expect(result.json["field"]?.stringValue == field)
            #expect(result.header("connection")?.lowercased() == "close")
            // One answer only: the smuggled request after the body was never read.
            #expect(!text.contains("HTTP/1.1"), "a second response followed")
        }
    }

    @Test func expectContinueOverTheLimitGets413AtOnce() throws {
        let server = try ServerProcess.start()
        let connection = try HTTPConnection(port: server.port)
        // Headers only: the body is never sent, so an answer proves it was not waited for.
        try connection.sendAll(Array(("POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + "Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n").utf8))
        let result = try connection.readWholeResponse()
        #expect(result.status == 413)
        #expect(result.json["type"]?.stringValue == "/problems/body-too-large")
    }

    @Test func aRawNULInTheRequestLineIs400() throws {
        let server = try ServerProcess.start()
        for target in ["/index.html\0.js", "/api/runs?from=\0"] {
            let (result, _) = try Self.exchange(server, "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            #expect(result.status == 400, "\(target.debugDescription)")
            #expect(!result.text.contains("<html"))
        }
        #expect(try server.get("/index.html").status == 200)
    }

    // MARK: Availability

    /// A socket from `source` (any 127.0.0.0/8 address) connected to the server.
    static func connect(from source: String, to port: Int) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        local.sin_addr.s_addr = inet_addr(source)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = UInt16(port).bigEndian
        remote.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        let connected = withUnsafePointer(to: &remote) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, connected == 0 else { close(fd); return nil }
        return fd
    }

    @Test func healthIsAnsweredUnderIdleAndTricklingFloods() throws {
        let server = try ServerProcess.start()
        // 1010 idle connections from the viewer's own address.
        let idle = (0..<1010).compactMap { _ in Self.connect(from: "127.0.0.1", to: server.port) }
        defer { idle.forEach { close($0) } }
        #expect(idle.count == 1010)
        #expect(try server.get("/api/health").status == 200)
        #expect(try server.get("/index.html").status == 200)
        // 1100 connections from five other addresses, each having sent one byte of a request line.
        var trickle: [Int32] = []
        defer { trickle.forEach { close($0) } }
        for host in 2...6 {
            for _ in 0..<220 {
                guard let fd = Self.connect(from: "127.0.0.\(host)", to: server.port) else { continue }
                _ = send(fd, "G", 1, Int32(MSG_NOSIGNAL))
                trickle.append(fd)
            }
        }
        #expect(trickle.count == 1100)
        #expect(try server.get("/api/health").status == 200)
        // The trickle keeps dripping; the answer still comes.
        for fd in trickle { _ = send(fd, "E", 1, Int32(MSG_NOSIGNAL)) }
        #expect(try server.get("/api/health").status == 200)
        #expect(try server.get("/api/health").json["status"] == "ok")
    }

    @Test func aTrickleCannotExtendTheHeaderDeadline() throws {
        let server = try ServerProcess.start(["--header-timeout-ms", "300"])
        guard let fd = Self.connect(from: "127.0.0.1", to: server.port) else { Issue.record("connect"); return }
        defer { close(fd) }
        _ = send(fd, "GET /api/health HTTP/1.1\r\nX-Slow: ", 34, Int32(MSG_NOSIGNAL))
        // One byte every 50 ms for at most 10 s; the server must hang up long before.
        var closed = false
        for _ in 0..<200 {
            usleep(50_000)
            var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&probe, 1, 0) == 1 {
                var byte: UInt8 = 0
                if recv(fd, &byte, 1, Int32(MSG_DONTWAIT)) <= 0 { closed = true; break }
            }
            if send(fd, "a", 1, Int32(MSG_NOSIGNAL)) < 0 { closed = true; break }
        }
        #expect(closed, "a connection trickling its headers was never closed")
        #expect(try server.get("/api/health").status == 200)
    }

    @Test func aVanishedStreamClientIsNoticedWithoutAHeartbeat() throws {
        // Heartbeats every 10 minutes and a run that records nothing for 10 s: only
        // watching the socket can notice the client going.
        let server = try ServerProcess.start(["--heartbeat-ms", "600000"])
        let run = try server.startRun("thread-pool", ["workers": 1, "tasks": 1, "taskMs": 10_000])
        let id = run["id"]!.stringValue!
        let streams = try (0..<20).map { _ in try server.openStream("/api/runs/\(id)/events") }
        #expect(try server.eventually { try server.get("/api/health").json["streamsActive"] == 20 })
        for stream in streams { stream.close() }
        #expect(try server.eventually(seconds: 6) { try server.get("/api/health").json["streamsActive"] == 0 },
                "streams of clients that hung up were still open")
        #expect(try server.get("/api/runs/\(id)").json["status"] == "running")
        _ = try server.request("DELETE", "/api/runs/\(id)")
    }

    // MARK: Static files

    @Test func onlyRegularVisibleFilesAreServedAndValidatorsGive304() throws {
        let root = try StaticFilesE2ETests.makePublic()
        #expect(mkfifo(root + "/pipe.html", 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: root + "/env.txt", withDestinationPath: root + "/.env")
        try FileManager.default.createDirectory(atPath: root + "/.git", withIntermediateDirectories: true)
        try "[core]".write(toFile: root + "/.git/config", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/gitdir", withDestinationPath: root + "/.git")
        let server = try ServerProcess.start(publicDir: root)
        for path in ["/pipe.html", "/env.txt", "/gitdir/config"] {
            let response = try server.get(path)
            #expect(response.status == 404, "\(path) → \(response.status)")
            #expect(!response.text.contains("secret") && !response.text.contains("[core]"))
        }
        // The FIFO did not block a serving thread: the server still answers, and stops cleanly.
        let page = try server.get("/index.html")
        #expect(page.status == 200)
        let etag = try #require(page.header("etag"))
        let modified = try #require(page.header("last-modified"))
        #expect(page.header("cache-control") == "no-cache")
        let revalidated = try server.request("GET", "/index.html", headers: ["If-None-Match": etag])
        #expect(revalidated.status == 304)
        #expect(revalidated.body.isEmpty)
        #expect(revalidated.header("etag") == etag)
        #expect(try server.request("GET", "/index.html", headers: ["If-Modified-Since": modified]).status == 304)
        #expect(try server.request("GET", "/index.html", headers: ["If-None-Match": "\"other\""]).status == 200)
        #expect(try server.request("GET", "/index.html", headers: ["If-Modified-Since": "Thu, 01 Jan 1970 00:00:01 GMT"]).status == 200)
        #expect(server.stop() == 0)
    }
}
