import Foundation
import Glibc
import Testing

@Suite struct StaticFilesE2ETests {
    /// A public directory with a page, a script, a hidden file, and a symlink out.
    static func makePublic() throws -> String {
        let root = NSTemporaryDirectory() + "interleave-public-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root + "/js", withIntermediateDirectories: true)
        try "<!doctype html><title>t</title>".write(toFile: root + "/index.html", atomically: true, encoding: .utf8)
        try "export const x = 1;".write(toFile: root + "/js/app.js", atomically: true, encoding: .utf8)
        try "secret".write(toFile: root + "/.env", atomically: true, encoding: .utf8)
        try "outside".write(toFile: root + "-secret.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/escape.txt", withDestinationPath: root + "-secret.txt")
        return root
    }

    @Test func filesAreServedWithTheirTypesAndNothingOutsideLeaks() throws {
        let root = try Self.makePublic()
        let server = try ServerProcess.start(publicDir: root)
        let index = try server.get("/")
        #expect(index.status == 200)
        #expect(index.header("content-type") == "text/html; charset=utf-8")
        #expect(index.text.contains("<title>t</title>"))
        let script = try server.get("/js/app.js")
        #expect(script.header("content-type") == "text/javascript; charset=utf-8")
        for path in ["/../Package.swift", "/%2e%2e/%2e%2e/etc/passwd", "/js/..%2f..%2fetc/passwd", "/.env",
                     "/escape.txt", "/index.html%00.js", "/js/../../" + URL(fileURLWithPath: root).lastPathComponent + "-secret.txt",
                     "/nope.html"] {
            let response = try server.get(path)
            #expect(response.status == 404, "\(path) → \(response.status)")
            #expect(!response.text.contains("outside") && !response.text.contains("secret\n") && !response.text.contains("root:"))
        }
        #expect(try server.request("POST", "/index.html", body: "x").status == 405)
    }

    @Test func theRealViewerIsServed() throws {
        let server = try ServerProcess.start()
        let index = try server.get("/")
        #expect(index.status == 200)
        #expect(index.text.lowercased().contains("<!doctype html"))
    }

    // MARK: Validators (the cached fast path and the sendfile path answer alike)

    /// One request written by hand, so a test controls every header (Host included).
    static func raw(_ server: ServerProcess, _ head: String) throws -> ServerProcess.HTTPResult {
        let connection = try HTTPConnection(port: server.port)
        try connection.sendAll(Array(head.utf8))
        return try connection.readWholeResponse()
    }

    @Test func cachedFilesRevalidateWith304AndCacheControl() throws {
        let root = try Self.makePublic()
        let server = try ServerProcess.start(publicDir: root)
        let page = try server.get("/index.html")
        #expect(page.status == 200)
        #expect(page.header("cache-control") == "no-cache")
        #expect(page.header("x-content-type-options") == "nosniff")
        let etag = try #require(page.header("etag"))
        let modified = try #require(page.header("last-modified"))
        #expect(etag.hasPrefix("\"") && etag.hasSuffix("\""))
        // A second fetch (now from the cache) carries the same validators.
        let again = try server.get("/index.html")
        #expect(again.header("etag") == etag && again.text == page.text)

        for headers in [["If-None-Match": etag], ["If-None-Match": "W/" + etag], ["If-None-Match": "\"a\", \(etag) , \"b\""],
                        ["If-None-Match": "*"], ["If-Modified-Since": modified]] {
            let revalidated = try server.request("GET", "/index.html", headers: headers)
            #expect(revalidated.status == 304, "\(headers)")
            #expect(revalidated.body.isEmpty)
            #expect(revalidated.header("etag") == etag)
            #expect(revalidated.header("cache-control") == "no-cache")
            #expect(revalidated.header("last-modified") == modified)
        }
        // If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2); a date that is
        // not an IMF-fixdate is ignored.
        #expect(try server.request("GET", "/index.html", headers: ["If-None-Match": "\"other\"", "If-Modified-Since": modified]).status == 200)
        #expect(try server.request("GET", "/index.html", headers: ["If-Modified-Since": "yesterday"]).status == 200)
        // HEAD: the same headers, no body; and a 304 too.
        let head = try server.request("HEAD", "/index.html")
        #expect(head.status == 200 && head.body.isEmpty && head.header("etag") == etag)
        #expect(try server.request("HEAD", "/index.html", headers: ["If-None-Match": etag]).status == 304)
        #expect(server.stop() == 0)
    }

    @Test func aChangedFileGetsANewETagAndTheOldOneNoLongerMatches() throws {
        let root = try Self.makePublic()
        let server = try ServerProcess.start(publicDir: root)
        let first = try server.get("/js/app.js")
        let etag = try #require(first.header("etag"))
        #expect(try server.request("GET", "/js/app.js", headers: ["If-None-Match": etag]).status == 304)
        try "export const x = 2; // changed".write(toFile: root + "/js/app.js", atomically: true, encoding: .utf8)
        // The cache looks at the file again at most once a second: wait for it to notice.
        var changed = try server.get("/js/app.js")
        #expect(try server.eventually(seconds: 10) {
            changed = try server.get("/js/app.js")
            return changed.header("etag") != etag
        })
        #expect(changed.status == 200 && changed.text.contains("changed"))
        #expect(try server.request("GET", "/js/app.js", headers: ["If-None-Match": etag]).status == 200)
        let newTag = try #require(changed.header("etag"))
        #expect(try server.request("GET", "/js/app.js", headers: ["If-None-Match": newTag]).status == 304)
        // Removed: 404, not the cached copy.
        try FileManager.default.removeItem(atPath: root + "/js/app.js")
        #expect(try server.eventually(seconds: 10) { try server.get("/js/app.js").status == 404 })
        #expect(server.stop() == 0)
    }

    @Test func largeFilesAreSentFromTheFileWithTheSameValidators() throws {
        let root = try Self.makePublic()
        let big = [UInt8](repeating: UInt8(ascii: "x"), count: 300 * 1024) + Array("end".utf8)
        #expect(FileManager.default.createFile(atPath: root + "/big.txt", contents: Data(big)))
        let server = try ServerProcess.start(publicDir: root)
        let response = try server.get("/big.txt")
        #expect(response.status == 200)
        #expect(response.body == big)
        #expect(response.header("content-type") == "text/plain; charset=utf-8")
        #expect(response.header("cache-control") == "no-cache")
        let etag = try #require(response.header("etag"))
        #expect(try server.request("GET", "/big.txt", headers: ["If-None-Match": etag]).status == 304)
        #expect(server.stop() == 0)
    }

    @Test func theFastPathKeepsTheFrontDoorsChecksAndCountsItsAnswers() throws {
        let root = try Self.makePublic()
        let server = try ServerProcess.start(publicDir: root)
        #expect(try server.get("/index.html").status == 200)  // cached from here on
        // A foreign Host is refused for a cached file as for any other (DNS rebinding).
        let foreign = try Self.raw(server, "GET /index.html HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n")
        #expect(foreign.status == 421)
        #expect(!foreign.text.contains("<title>t</title>"))
        // A NUL in the request line is refused, not served as the cached /index.html.
        let nul = try Self.raw(server, "GET /index.html\u{0}.js HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        #expect(nul.status == 400 || nul.status == 404, "\(nul.status)")
        // Other methods still get 405 with Allow.
        let post = try server.request("POST", "/index.html", body: "{}")
        #expect(post.status == 405 && post.header("allow") == "GET, HEAD")
        let etag = try #require(try server.get("/index.html").header("etag"))
        #expect(try server.request("GET", "/index.html", headers: ["If-None-Match": etag]).status == 304)
        #expect(try server.request("HEAD", "/index.html").status == 200)
        let metrics = try server.get("/metrics").text
        for line in [#"interleave_http_requests_total{route="static",method="GET",status="200"}"#,
                     #"interleave_http_requests_total{route="static",method="GET",status="304"}"#,
                     #"interleave_http_requests_total{route="static",method="HEAD",status="200"}"#] {
            #expect(metrics.contains(line), "\(line)")
        }
        #expect(server.stop() == 0)
    }
}
