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
}
