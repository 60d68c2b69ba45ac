import ArgumentParser
import Experiments
import Glibc
import JSON
import Logging
import Playground
import Primitives
import HTTPServer
import Store
import Tracing

@main
struct Interleave: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A concurrency playground: real threads, processes and locks, traced live.",
        subcommands: [Serve.self, Run.self, List.self, Runs.self, Import.self, Export.self, Bench.self, BenchStore.self, BenchStream.self, ExploreCommand.self],
        defaultSubcommand: Serve.self
    )

    static func main() {
        // `interleave worker …` is the child side of process experiments: dispatched
        // before argument parsing so it stays out of --help. A child inherits the
        // server's blocked signal mask through posix_spawn; give it the default back.
        if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "worker" {
            var all = sigset_t()
            sigfillset(&all)
            pthread_sigmask(SIG_UNBLOCK, &all, nil)
            Glibc.exit(WorkerCommand.main(Array(CommandLine.arguments.dropFirst(2))))
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Writes straight to standard output, unbuffered, so a parent reading a pipe sees
/// each line as soon as it is written.
func writeOut(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes.withUnsafeMutableBytes { write(1, $0.baseAddress! + offset, $0.count - offset) }
        if written <= 0 { return }
        offset += written
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve the API and the viewer.")

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on; 0 picks a free one.") var port = 8080
    @Option(help: "Directory of the run store (default: $XDG_DATA_HOME/interleave, else ~/.local/share/interleave).")
    var dataDir: String?
    @Flag(help: "Keep runs in memory only, as if there were no disk.") var noStore = false
    @Option(help: "Finished, unpinned runs kept before the oldest are evicted.") var retainRuns: Int?
    @Option(help: "Megabytes of traces kept before the oldest finished, unpinned runs are evicted (default: 2048 on disk, 512 in memory).")
    var retainMb: Int?
    @Option(help: "Directory of the viewer's static files (default: ./Public).") var publicDir: String?
    @Option(help: "Runs allowed at once; more get 429.") var maxRuns = 4
    @Option(help: "Milliseconds a run may take before it ends as timedOut.") var runDeadlineMs = 60_000
    @Option(help: "Milliseconds a schedule=step run waits for its next step before it ends as timedOut.")
    var stepIdleMs = 600_000
    @Option(help: "Milliseconds between heartbeats on idle event streams.") var heartbeatMs = 15_000
    @Flag(inversion: .prefixedNo, help: "Refuse (400) a run whose estimated duration reaches the run deadline.")
    var refuseLongRuns = true
    @Option(help: "Require `Authorization: Bearer <token>` on /api/* (default: $INTERLEAVE_TOKEN). Needed to listen on a non-loopback address.")
    var token: String?
    @Option(help: "Open connections before the oldest idle one is closed to make room for a new one.")
    var connectionLimit = 1000
    @Option(help: "The same limit per client address.") var perAddressLimit = 256
    @Option(help: "Milliseconds a connection has to send a request's complete headers (bytes trickled in do not extend it).")
    var headerTimeoutMs = 10_000
    @Option(help: "Least severe log level shown: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"
    @Option(help: "Log line format: text or json (one JSON object per line).") var logFormat = "text"
    @Flag(help: "Stop gracefully when standard input closes: a supervisor (or a test) that dies takes the server with it.")
    var exitOnStdinClose = false

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535 (got \(port))") }
        guard (1...64).contains(maxRuns) else { throw ValidationError("--max-runs must be between 1 and 64 (got \(maxRuns))") }
        guard (100...3_600_000).contains(stepIdleMs) else {
            throw ValidationError("--step-idle-ms must be between 100 and 3600000 (got \(stepIdleMs))")
        }
        guard (100...3_600_000).contains(runDeadlineMs) else {
            throw ValidationError("--run-deadline-ms must be between 100 and 3600000 (got \(runDeadlineMs))")
        }
        guard (50...600_000).contains(heartbeatMs) else {
            throw ValidationError("--heartbeat-ms must be between 50 and 600000 (got \(heartbeatMs))")
        }
        guard (16...10_000).contains(connectionLimit) else {
            throw ValidationError("--connection-limit must be between 16 and 10000 (got \(connectionLimit))")
        }
        guard (1...10_000).contains(perAddressLimit) else {
            throw ValidationError("--per-address-limit must be between 1 and 10000 (got \(perAddressLimit))")
        }
        guard (100...600_000).contains(headerTimeoutMs) else {
            throw ValidationError("--header-timeout-ms must be between 100 and 600000 (got \(headerTimeoutMs))")
        }
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical (got \(logLevel))")
        }
        guard LineLogHandler.Format(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format must be text or json (got \(logFormat))")
        }
        if let token = resolvedToken, token.count < 8 || token.contains(where: { $0.isWhitespace }) {
            throw ValidationError("--token must be at least 8 characters without spaces")
        }
        if resolvedToken == nil, !SecurityConfiguration.isLoopback(host) {
            throw ValidationError("refusing to listen on \(host) without a token: anyone who can reach it could run experiments on this machine; start with --token <secret> (or set INTERLEAVE_TOKEN), or listen on 127.0.0.1")
        }
        if let retainRuns, !(1...1_000_000).contains(retainRuns) {
            throw ValidationError("--retain-runs must be between 1 and 1000000 (got \(retainRuns))")
        }
        if let retainMb, !(1...1_048_576).contains(retainMb) {
            throw ValidationError("--retain-mb must be between 1 and 1048576 (got \(retainMb))")
        }
        if noStore, dataDir != nil { throw ValidationError("--no-store and --data-dir exclude each other") }
    }

    /// `--token`, else `$INTERLEAVE_TOKEN`; empty counts as none.
    var resolvedToken: String? {
        let value = token ?? getenv("INTERLEAVE_TOKEN").map { String(cString: $0) }
        return value?.isEmpty == false ? value : nil
    }

    func run() throws {
        // Signals are taken synchronously below with sigwait; block them before any
        // other thread exists so every thread inherits the mask.
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)
        signal(SIGPIPE, SIG_IGN)

        let level = Logger.Level(rawValue: logLevel) ?? .info
        let format = LineLogHandler.Format(rawValue: logFormat) ?? .text
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: level, format: format) }

        let store: any RunStore
        if noStore {
            store = MemoryRunStore(retention: retention(.memory))
        } else {
            let directory = dataDir ?? DataDirectory.default
            do {
                store = try DiskRunStore(directory: try DataDirectory.create(directory), retention: retention(.disk))
            } catch {
                throw ValidationError("cannot use the store in \(directory): \(error)")
            }
        }
        let publicDirectory = publicDir ?? "Public"
        var http = ServerConfiguration()
        http.host = host
        http.port = port
        http.connectionLimit = connectionLimit
        http.perAddressLimit = perAddressLimit
        http.headerTimeoutMs = headerTimeoutMs
        var playground = PlaygroundConfiguration()
        playground.maxRuns = maxRuns
        playground.runDeadlineMs = runDeadlineMs
        playground.stepIdleTimeoutMs = stepIdleMs
        playground.refuseLongRuns = refuseLongRuns
        playground.heartbeatMs = heartbeatMs
        let security = SecurityConfiguration(token: resolvedToken,
                                             allowedHosts: SecurityConfiguration.hosts(servedOn: host))
        let app = App(http: http, playground: playground, publicDirectory: publicDirectory, security: security, store: store)
        do {
            try app.start()
        } catch {
            throw ValidationError(error.description)
        }
        let shownHost = host.contains(":") ? "[\(host)]" : host
        writeOut("Interleave listening on http://\(shownHost):\(app.port)\n")

        if exitOnStdinClose {
            // Read until EOF, then stop the same way SIGTERM does.
            _ = TracedThread(name: "stdin-watch", detached: true) {
                var byte: UInt8 = 0
                while read(0, &byte, 1) > 0 {}
                kill(getpid(), SIGTERM)
            }
        }
        var received: Int32 = 0
        sigwait(&stopSignals, &received)
        writeOut("Received signal \(received); stopping: cancelling runs, closing streams\n")
        app.stop()
    }
}

extension Serve {
    private func retention(_ base: RetentionPolicy) -> RetentionPolicy {
        RetentionPolicy(maxRuns: retainRuns ?? base.maxRuns, maxBytes: retainMb.map { $0 << 20 } ?? base.maxBytes)
    }
}

/// Where the store lives unless `--data-dir` says otherwise (XDG base directories).
enum DataDirectory {
    static var `default`: String {
        if let xdg = getenv("XDG_DATA_HOME").map({ String(cString: $0) }), xdg.hasPrefix("/") { return xdg + "/interleave" }
        let home = getenv("HOME").map { String(cString: $0) } ?? "."
        return home + "/.local/share/interleave"
    }

    /// Creates the directory and its missing parents (`mkdir -p`); returns it.
    static func create(_ path: String) throws -> String {
        var built = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            built += "/" + part
            if mkdir(built, 0o755) != 0, errno != EEXIST {
                throw ValidationError("cannot create \(built): \(String(cString: strerror(errno)))")
            }
        }
        return path
    }
}

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the experiments.")
    @Flag(help: "Print the catalog as JSON.") var json = false

    func run() {
        if json {
            print(JSONValue.array(Catalog.all.map(\.json)).jsonString)
            return
        }
        for experiment in Catalog.all {
            let id = experiment.id + String(repeating: " ", count: max(1, 26 - experiment.id.count))
            print("\(id) \(experiment.title) — \(experiment.summary)")
        }
    }
}

