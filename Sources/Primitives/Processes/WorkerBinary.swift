import Glibc

/// Where the `interleave` executable is, so a run can start it again as
/// `interleave worker …`.
public enum WorkerBinary {
    public struct NotFound: Error, Sendable, CustomStringConvertible {
        public let tried: [String]
        public var description: String {
            "cannot find the interleave executable to start worker processes (tried \(tried.joined(separator: ", "))); "
                + "build it with `swift build` or set INTERLEAVE_WORKER_BIN"
        }
    }

    /// `INTERLEAVE_WORKER_BIN` if set; this executable if it is `interleave` (the
    /// server, the CLI); else `interleave` beside it (under `swift test` this process
    /// is the xctest bundle, which SwiftPM builds next to the executable).
    public static func path() throws(NotFound) -> String {
        var tried: [String] = []
        if let override = getenv("INTERLEAVE_WORKER_BIN").map({ String(cString: $0) }), !override.isEmpty {
            if access(override, X_OK) == 0 { return override }
            throw NotFound(tried: ["INTERLEAVE_WORKER_BIN=\(override)"])
        }
        let me = currentExecutable()
        if me.split(separator: "/").last == "interleave" { return me }
        let directory = me.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        // An xctest bundle on Linux is a plain executable: …/debug/InterleavePackageTests.xctest
        let beside = directory + "/interleave"
        tried.append(beside)
        if access(beside, X_OK) == 0 { return beside }
        tried.append(me)
        throw NotFound(tried: tried)
    }

    static func currentExecutable() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return "" }
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
