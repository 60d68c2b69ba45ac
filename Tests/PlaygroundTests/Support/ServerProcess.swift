import Foundation
import Glibc
import JSON

/// A real `interleave serve` process on a free port, for end-to-end tests: HTTP over
/// plain sockets (so a test can read a stream line by line, or drop a connection),
/// and a view of the process from /proc (threads, children, zombies).
final class ServerProcess: @unchecked Sendable {
    let process: Process
    let port: Int
    var pid: Int32 { process.processIdentifier }

    struct StartError: Error, CustomStringConvertible { let description: String }

    /// The repository root, found from this file's path.
    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `$INTERLEAVE_BIN`, else the `interleave` beside this test binary (SwiftPM builds both into one directory).
    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["INTERLEAVE_BIN"] { return path }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return me.deletingLastPathComponent().appendingPathComponent("interleave").path
    }

    /// A fresh, empty directory under the system's temporary directory.
    static func temporaryDirectory() -> String {
        var template = Array((NSTemporaryDirectory() + "/interleave-test-XXXXXX").utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }

    /// Starts the server with `arguments` added to `serve --port 0`; waits for its
    /// "listening on" line. Each server gets its own store in a fresh temporary
    /// directory (removed when it is released), unless `dataDir` names one to reuse
    /// (a restart) or `arguments` say `--no-store` / `--data-dir`: tests never touch
    /// the real home and never share state.
    static func start(_ arguments: [String] = [], publicDir: String? = nil, dataDir: String? = nil) throws -> ServerProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        var storeArguments: [String] = []
        var ownedDirectory: String?
        if !arguments.contains("--no-store"), !arguments.contains("--data-dir") {
            if let dataDir {
                storeArguments = ["--data-dir", dataDir]
            } else {
                let directory = temporaryDirectory()
                ownedDirectory = directory
                storeArguments = ["--data-dir", directory]
            }
        }
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", "0", "--exit-on-stdin-close",
                             "--public-dir", publicDir ?? repositoryRoot + "/Public",
                             "--log-level", "warning"] + storeArguments
            // Tests start runs meant to be cancelled or to time out; the estimate check has its own test.
            + (arguments.contains("--refuse-long-runs") ? [] : ["--no-refuse-long-runs"]) + arguments  // a test that reads the log passes its own level
        let output = Pipe()
        // We hold the write end: if this test process dies, the server sees EOF and stops.
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        // Read the first line byte by byte: the port is in it.
        var line: [UInt8] = []
        let fd = output.fileHandleForReading.fileDescriptor
        var byte: UInt8 = 0
        // A signal (another test's child exiting) can interrupt the read: retry, or the
        // line would be cut short ("server did not report a port (got "I")").
        while true {
            let got = read(fd, &byte, 1)
            if got < 0, errno == EINTR { continue }
            guard got == 1, byte != 0x0A else { break }
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
            process.terminate()
            throw StartError(description: "server did not report a port (got \"\(text)\")")
        }
        let server = ServerProcess(process: process, port: port)
        server.outputPipe = output
        server.inputPipe = input
        server.ownedDirectory = ownedDirectory
        return server
    }

    private var outputPipe: Pipe?
    private var inputPipe: Pipe?
    /// The temporary store this server was given, removed with it.
    private var ownedDirectory: String?

    private init(process: Process, port: Int) {
        self.process = process
        self.port = port
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
        if let ownedDirectory { try? FileManager.default.removeItem(atPath: ownedDirectory) }
    }

    /// Closes the server's standard input, as a dying parent would; returns the exit status.
    func closeStandardInput() -> Int32 {
        try? inputPipe?.fileHandleForWriting.close()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// SIGTERM, then wait for the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { kill(pid, SIGTERM) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    // MARK: HTTP

    struct HTTPResult {
        let status: Int
        let headers: [String: String]
        let body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }
        func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    /// One request on its own connection (`Connection: close`), read to the end.
    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:],
                 rawBody: [UInt8]? = nil) throws -> HTTPResult {
        let connection = try HTTPConnection(port: port)
        try connection.send(method: method, path: path, headers: headers, body: rawBody ?? body.map { Array($0.utf8) })
        return try connection.readWholeResponse()
    }

    func get(_ path: String) throws -> HTTPResult { try request("GET", path) }

    /// Starts a run; returns its JSON (fails the caller if the status is not 201).
    func startRun(_ experiment: String, _ params: JSONValue = [:]) throws -> JSONValue {
        let body: JSONValue = ["experiment": .string(experiment), "params": params]
        let result = try request("POST", "/api/runs", body: body.jsonString)
        guard result.status == 201 else { throw StartError(description: "POST /api/runs → \(result.status): \(result.text)") }
        return result.json
    }

    /// Starts a run and reads its whole event stream; returns the final run JSON and the events.
    func runToEnd(_ experiment: String, _ params: JSONValue = [:]) throws -> (run: JSONValue, events: [JSONValue]) {
        let run = try startRun(experiment, params)
        let id = run["id"]!.stringValue!
        let events = try self.events(id)
        return (try get("/api/runs/\(id)").json, events)
    }

    /// The whole NDJSON stream of a run, read until the server closes it.
    func events(_ id: String, query: String = "") throws -> [JSONValue] {
        let result = try request("GET", "/api/runs/\(id)/events\(query)")
        return result.text.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
    }

    /// Opens a stream to read line by line.
    func openStream(_ path: String, headers: [String: String] = [:]) throws -> HTTPConnection {
        let connection = try HTTPConnection(port: port)
        try connection.send(method: "GET", path: path, headers: headers, body: nil)
        try connection.readHead()
        return connection
    }

    /// Polls `condition` every 10 ms until it holds or `seconds` pass; returns whether it held.
    /// For waiting on something known to happen (a thread exiting), never as a timing assertion.
    @discardableResult
    func eventually(seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }

    func waitForFinal(_ id: String, seconds: Double = 20) throws -> JSONValue {
        var run: JSONValue = .null
        _ = try eventually(seconds: seconds) {
            run = try get("/api/runs/\(id)").json
            return !["queued", "running"].contains(run["status"]?.stringValue ?? "")
        }
        return run
    }

    // MARK: /proc

    /// Threads of the server process.
    func threadCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count) ?? -1
    }

    /// Processes whose parent is the server, with their state letter (Z = zombie).
    func children() -> [(pid: Int32, state: Character)] {
        Self.processes().filter { $0.ppid == pid }.map { ($0.pid, $0.state) }
    }

    /// Processes whose process group is `pgid`.
    static func processGroup(_ pgid: Int32) -> [Int32] {
        processes().filter { $0.pgrp == pgid }.map(\.pid)
    }

    static func processes() -> [(pid: Int32, ppid: Int32, pgrp: Int32, state: Character)] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry in
            guard let pid = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")")
            else { return nil }
            // After "pid (comm) ": state ppid pgrp …
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            guard fields.count > 3, let ppid = Int32(fields[1]), let pgrp = Int32(fields[2]) else { return nil }
            return (pid, ppid, pgrp, fields[0].first ?? "?")
        }
    }
}

/// A minimal HTTP/1.1 client over a blocking socket, enough to test the server:
/// chunked decoding, reading a stream line by line, dropping a connection.
final class HTTPConnection {
    let fd: Int32
    private var buffer: [UInt8] = []
    private(set) var status = 0
    private(set) var headers: [String: String] = [:]
    private var chunkRemaining = 0
    private var chunked = false
    private var finished = false
    /// Decoded body bytes not yet handed out by `readLine`.
    private var decoded: [UInt8] = []

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { Glibc.close(fd); throw ServerProcess.StartError(description: "connect failed") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(fd) }

    func close() { shutdown(fd, Int32(SHUT_RDWR)) }

    func send(method: String, path: String, headers: [String: String], body: [UInt8]?) throws {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        // State-changing requests must say they send JSON (else 415); a test that means
        // to send something else passes its own Content-Type.
        if ["POST", "PATCH", "DELETE"].contains(method), !headers.keys.contains(where: { $0.lowercased() == "content-type" }) {
            head += "Content-Type: application/json\r\n"
        }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        try sendAll(Array(head.utf8) + (body ?? []))
    }

    func sendAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw ServerProcess.StartError(description: "send failed") }
            offset += sent
        }
    }

    /// Reads more raw bytes; false at end of stream.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return false }
        buffer.append(contentsOf: chunk[0..<count])
        return true
    }

    func readHead() throws {
        while true {
            if let end = find([13, 10, 13, 10]) {
                let head = String(decoding: buffer[0..<end], as: UTF8.self)
                buffer.removeFirst(end + 4)
                var lines = head.components(separatedBy: "\r\n")
                let statusLine = lines.removeFirst().split(separator: " ")
                status = Int(statusLine[1]) ?? 0
                for line in lines {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                }
                chunked = headers["transfer-encoding"]?.lowercased() == "chunked"
                return
            }
            guard fill() else { throw ServerProcess.StartError(description: "connection closed before the response head") }
        }
    }

    private func find(_ pattern: [UInt8], from start: Int = 0) -> Int? {
        guard buffer.count >= pattern.count + start else { return nil }
        for index in start...(buffer.count - pattern.count) where buffer[index] == pattern[0] {
            if Array(buffer[index..<index + pattern.count]) == pattern { return index }
        }
        return nil
    }

    /// Decodes more body bytes into `decoded`; false when the body has ended.
    private func decodeMore() -> Bool {
        if finished { return false }
        if !chunked {
            if !buffer.isEmpty { decoded += buffer; buffer = []; return true }
            if fill() { decoded += buffer; buffer = []; return true }
            finished = true
            return false
        }
        while true {
            if chunkRemaining > 0 {
                if buffer.isEmpty, !fill() { finished = true; return false }
                let take = min(chunkRemaining, buffer.count)
                decoded += buffer[0..<take]
                buffer.removeFirst(take)
                chunkRemaining -= take
                if chunkRemaining == 0 { chunkRemaining = -2 }  // expect CRLF
                return true
            }
            if chunkRemaining == -2 {
                while buffer.count < 2 { if !fill() { finished = true; return false } }
                buffer.removeFirst(2)
                chunkRemaining = 0
            }
            guard let lineEnd = find([13, 10]) else {
                if !fill() { finished = true; return false }
                continue
            }
            let sizeText = String(decoding: buffer[0..<lineEnd], as: UTF8.self).split(separator: ";")[0]
            buffer.removeFirst(lineEnd + 2)
            let size = Int(sizeText, radix: 16) ?? 0
            if size == 0 { finished = true; return false }
            chunkRemaining = size
        }
    }

    /// The next line of the body (without "\n"), or nil at the end of the body.
    func readLine() -> String? {
        while true {
            if let newline = decoded.firstIndex(of: 0x0A) {
                let line = String(decoding: decoded[0..<newline], as: UTF8.self)
                decoded.removeFirst(newline + 1)
                return line
            }
            if !decodeMore() {
                if decoded.isEmpty { return nil }
                let line = String(decoding: decoded, as: UTF8.self)
                decoded = []
                return line
            }
        }
    }

    func readWholeResponse() throws -> ServerProcess.HTTPResult {
        try readHead()
        while decodeMore() {}
        let body = decoded
        decoded = []
        return ServerProcess.HTTPResult(status: status, headers: headers, body: body)
    }
}
