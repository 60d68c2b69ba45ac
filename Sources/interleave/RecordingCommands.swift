import ArgumentParser
import Experiments
import Glibc
import HTTPServer
import JSON
import Playground
import Store
import Tracing

/// Where the store is, for the commands that read it (`runs`, `import`, `export`).
struct StoreOptions: ParsableArguments {
    @Option(help: "Directory of the run store (default: $XDG_DATA_HOME/interleave, else ~/.local/share/interleave).")
    var dataDir: String?

    /// Opens the store without repairing it: a server may be using it right now.
    func open() throws -> DiskRunStore {
        let directory = dataDir ?? DataDirectory.default
        do {
            return try DiskRunStore(directory: try DataDirectory.create(directory), recover: false)
        } catch {
            throw ValidationError("cannot open the store in \(directory): \(error)")
        }
    }
}

enum TraceFormat: String, ExpressibleByArgument, CaseIterable {
    case ndjson, chrome, html
}

/// Writes a whole output to a file (or standard output for nil / "-").
func writeAll(_ bytes: [UInt8], to path: String?) throws {
    let fd: Int32 = path == nil || path == "-" ? 1 : Glibc.open(path!, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ValidationError("cannot write \(path!): \(String(cString: strerror(errno)))") }
    defer { if fd != 1 { close(fd) } }
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
        if written < 0, errno == EINTR { continue }
        guard written > 0 else { throw ValidationError("cannot write \(path ?? "standard output"): \(String(cString: strerror(errno)))") }
        offset += written
    }
}

func readWhole(_ path: String) throws -> [UInt8] {
    if path == "-" {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let got = read(0, &buffer, buffer.count)
            if got < 0, errno == EINTR { continue }
            if got <= 0 { break }
            bytes.append(contentsOf: buffer[0..<got])
        }
        return bytes
    }
    guard let bytes = Handout.read(path) else { throw ValidationError("cannot read \(path): \(String(cString: strerror(errno)))") }
    return bytes
}

/// A trace in the format asked for.
func render(_ format: TraceFormat, snapshot: RunSnapshot, lines: [UInt8], notes: [RunNote] = [], publicDir: String?) throws -> [UInt8] {
    switch format {
    case .ndjson:
        return lines
    case .chrome:
        var events: [TraceEvent] = []
        var start = 0
        for index in lines.indices where lines[index] == 0x0A {
            if let value = try? JSONParser.parse(Array(lines[start..<index])), let event = TraceEvent(json: value) { events.append(event) }
            start = index + 1
        }
        return Array((ChromeTrace.document(events, runID: snapshot.id, experiment: snapshot.experiment).jsonString + "\n").utf8)
    case .html:
        do {
            return try Handout.html(.run(snapshot, trace: lines, notes: notes), publicDirectory: publicDir ?? "Public", version: "0.1.0")
        } catch {
            throw ValidationError("\(error.detail) (give the viewer's directory with --public-dir)")
        }
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one experiment here and write its trace (NDJSON to standard output unless --output).",
        discussion: "Progress goes to standard error: a line that updates while the run goes on when it is a terminal, a last line when the run ends.")

    @Argument(help: "Experiment id (see `interleave list`).") var experiment: String
    @Option(name: .customLong("param"), help: "A parameter as name=value; repeatable.") var params: [String] = []
    @Option(name: .shortAndLong, help: "Write the trace to this file instead of standard output.") var output: String?
    @Option(help: "ndjson (the live stream's lines), chrome (Perfetto), or html (one offline page).") var format: TraceFormat = .ndjson
    @Option(help: "The viewer's directory, for --format html (default: ./Public).") var publicDir: String?
    @Flag(help: "Print only the run's summary as JSON, not the events.") var summaryOnly = false

    func run() throws {
        guard let definition = Catalog.experiment(experiment) else {
            throw ValidationError("unknown experiment \"\(experiment)\"; known: \(Catalog.ids.joined(separator: ", "))")
        }
        let object = try parseParams(params)
        let resolved: Parameters
        do { resolved = try definition.resolve(.object(object)) } catch { throw ValidationError(error.detail) }
        let execution = ExperimentRun(id: "cli", experiment: definition, params: resolved)
        let createdAt = Timestamp.now()
        let streaming = output == nil && format == .ndjson && !summaryOnly
        let terminal = isatty(2) == 1
        var progressShown = UInt64(0)
        func progress(_ text: String, final: Bool) {
            let line = terminal ? "\r\u{1B}[K" + text + (final ? "\n" : "") : (final ? text + "\n" : "")
            guard !line.isEmpty else { return }
            _ = Array(line.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        }
        execution.start()
        var next = 0
        var lines: [UInt8] = []
        while true {
            // The recorder's encoded lines, as a stream reads them: nothing decoded or re-encoded
            // (and with --summary-only nothing copied), so following the run costs it little.
            let batch = execution.recorder.readEncoded(from: next, limit: 4096)
            if !batch.isEmpty {
                next += batch.count
                if streaming {
                    batch.shared.withUnsafeBytes { bytes in
                        var offset = 0
                        while offset < bytes.count {
                            let written = write(1, bytes.baseAddress! + offset, bytes.count - offset)
                            if written <= 0 { break }
                            offset += written
                        }
                    }
                } else if !summaryOnly {
                    lines += batch.bytes
                }
            } else if batch.finished {
                break
            } else {
                let now = UInt64(execution.recorder.elapsedMicros)
                if terminal, now - progressShown > 100_000 {
                    progressShown = now
                    progress("\(experiment): running, \(next) events, \(now / 1000) ms", final: false)
                }
                usleep(2_000)
            }
        }
        let outcome = execution.wait()
        let verdict = outcome.summary["verdict"]?.stringValue ?? ""
        progress("\(experiment): \(outcome.status.rawValue), \(next) events — \(verdict)", final: true)
        if summaryOnly {
            print(JSONValue.object(["status": .string(outcome.status.rawValue), "summary": .object(outcome.summary)]).jsonString)
            return
        }
        guard !streaming else { return }
        let snapshot = RunSnapshot(id: "cli", experiment: definition.id, params: resolved.values, status: outcome.status,
                                   createdAt: createdAt, endedAt: Timestamp.now(), summary: outcome.summary,
                                   eventCount: next, bytes: lines.count)
        try writeAll(try render(format, snapshot: snapshot, lines: lines, publicDir: publicDir), to: output)
    }
}

struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the runs in the store, newest first.")
    @OptionGroup var store: StoreOptions
    @Flag(help: "Print them as JSON, as GET /api/runs does.") var json = false

    func run() throws {
        let runs = try store.open().list()
        if json {
            print(JSONValue.array(runs.map(\.json)).jsonString)
            return
        }
        for run in runs {
            let pin = run.pinned ? " pinned" : ""
            let title = run.title.map { " “\($0)”" } ?? ""
            print("\(run.id)  \(run.createdAt)  \(run.status.rawValue.padding(12))  \(run.experiment)\(title)  \(run.eventCount) events\(pin)")
        }
    }
}

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Record an NDJSON trace (a file, or - for standard input) as a run in the store.")
    @OptionGroup var store: StoreOptions
    @Argument(help: "The NDJSON trace.") var file: String

    func run() throws {
        let store = try store.open()
        let id = Playground.newID()
        let trace: TraceImport
        do { trace = try TraceImport.read(try readWhole(file), id: id, createdAt: Timestamp.now()) } catch let problem as Problem {
            throw ValidationError("\(file): \(problem.detail)")
        }
        try store.insert(trace.snapshot)
        try store.append(id, lines: trace.lines, count: trace.count)
        try store.update(trace.snapshot)
        try store.enforceRetention()
        print(id)
    }
}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a stored run (by id) or an NDJSON trace file as Chrome Trace Event Format (Perfetto), one offline HTML page, or NDJSON.")
    @OptionGroup var store: StoreOptions
    @Option(help: "chrome (Perfetto), html (one offline page), or ndjson.") var format: TraceFormat = .chrome
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?
    @Option(help: "The viewer's directory, for --format html (default: ./Public).") var publicDir: String?
    @Argument(help: "A run id in the store, or an NDJSON trace file (- for standard input).") var source: String

    func run() throws {
        var info = stat()
        if source == "-" || stat(source, &info) == 0 {
            let trace: TraceImport
            do { trace = try TraceImport.read(try readWhole(source), id: "export", createdAt: Timestamp.now()) } catch let problem as Problem {
                throw ValidationError("\(source): \(problem.detail)")
            }
            try writeAll(try render(format, snapshot: trace.snapshot, lines: trace.lines, publicDir: publicDir), to: output)
            return
        }
        let store = try store.open()
        guard let run = try store.snapshot(source) else {
            throw ValidationError("\(source) is neither a file nor a run in the store (see `interleave runs`)")
        }
        let cursor = try store.events(source, from: 0)
        var lines: [UInt8] = []
        while let chunk = try cursor.next(maxBytes: 1 << 20) { lines += chunk.bytes }
        try writeAll(try render(format, snapshot: run, lines: lines, notes: try store.notes(source), publicDir: publicDir), to: output)
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
