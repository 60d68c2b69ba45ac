import Experiments
import Glibc
import HTTPServer
import JSON
import Logging
import Metrics
import Prometheus
import Synchronization
import Tracing

/// Logs and metrics: one structured log line per request and per run transition
/// (swift-log), and Prometheus metrics (swift-metrics with swift-prometheus) at `GET /metrics`.
public enum Observability {
    /// The registry `/metrics` shows; swift-metrics is bootstrapped onto it once per process.
    public static let registry = PrometheusCollectorRegistry()
    private static let bootstrap: Bool = {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
        ]
        MetricsSystem.bootstrap(factory)
        return true
    }()

    /// Idempotent; `App` calls it.
    public static func bootstrapMetrics() { _ = bootstrap }

    static let logger = Logger(label: "interleave")

    private static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// After each request: a log line and the request metrics. `route` is the matched
    /// pattern (bounded cardinality), never the raw path.
    static func request(_ request: Request, status: Int, route: String, durationNs: UInt64) {
        let method = methods.contains(request.method) ? request.method : "other"
        Counter(label: "interleave_http_requests_total",
                dimensions: [("route", route), ("method", method), ("status", String(status))]).increment()
        Metrics.Timer(label: "interleave_http_request_duration_seconds", dimensions: [("route", route), ("method", method)])
            .recordNanoseconds(Int64(durationNs))
        logger.info("request", metadata: [
            "method": .string(String(request.method.prefix(16))), "path": .string(clip(request.path)),
            "status": .stringConvertible(status),
            "ms": .stringConvertible((Double(durationNs) / 1e4).rounded() / 100),
        ])
    }

    /// A cached static file answered by the fast path (200 or 304), same metrics as
    /// `request` under the route "static". Its log line is at `debug`: at the default
    /// level a page load's dozen asset fetches do not each write a line (and a line costs
    /// more than serving the file); `--log-level debug` shows them. Every other request —
    /// errors, refusals, API calls, files too large to cache — still logs at `info`.
    static func staticServed(_ request: QuickRequest, status: Int, durationNs: UInt64) {
        StaticMetrics.shared.record(head: request.isHead, notModified: status == 304, durationNs: durationNs)
        logger.debug("request", metadata: [
            "method": .string(request.method), "path": .string(clip(request.path)),
            "status": .stringConvertible(status),
            "ms": .stringConvertible((Double(durationNs) / 1e4).rounded() / 100),
        ])
    }

    static func runStarted(_ record: LiveRun) {
        Counter(label: "interleave_runs_started_total", dimensions: [("experiment", record.experiment)]).increment()
        logger.info("run", metadata: [
            "run": .string(record.id), "experiment": .string(record.experiment), "status": "running",
        ])
    }

    static func runEnded(_ record: LiveRun, status: String, summary: JSONObject) {
        Counter(label: "interleave_runs_total", dimensions: [("experiment", record.experiment), ("status", status)])
            .increment()
        let tracer = summary["tracer"]?.objectValue
        let events = tracer?["events"]?.intValue ?? record.recorder.count
        let dropped = tracer?["dropped"]?.intValue ?? 0
        Counter(label: "interleave_events_recorded_total").increment(by: max(events, 0))
        Counter(label: "interleave_events_dropped_total").increment(by: max(dropped, 0))
        var metadata: Logger.Metadata = [
            "run": .string(record.id), "experiment": .string(record.experiment), "status": .string(status),
            "events": .stringConvertible(events),
        ]
        if let ms = summary["durationMs"] { metadata["ms"] = .string(ms.jsonString) }
        if dropped > 0 { metadata["dropped"] = .stringConvertible(dropped) }
        logger.info("run", metadata: metadata)
    }

    /// The Prometheus text: the registry plus gauges read now (live runs and streams,
    /// the process's threads, fds and resident memory from /proc).
    static func scrape(liveRuns: Int, liveStreams: Int, heldRuns: Int = 0) -> [UInt8] {
        Gauge(label: "interleave_runs_live").record(liveRuns)
        Gauge(label: "interleave_runs_in_memory").record(heldRuns)
        Gauge(label: "interleave_streams_live").record(liveStreams)
        let process = ProcessFacts.read()
        Gauge(label: "process_threads").record(process.threads)
        Gauge(label: "process_open_fds").record(process.fds)
        Gauge(label: "process_resident_memory_bytes").record(process.rssBytes)
        let malloc = Memory.usage()
        Gauge(label: "process_malloc_bytes", dimensions: [("state", "held")]).record(malloc.system)
        Gauge(label: "process_malloc_bytes", dimensions: [("state", "in_use")]).record(malloc.inUse)
        Gauge(label: "interleave_tracer_spare_chunk_bytes").record(TracerMemory.spareChunks * TracerMemory.chunkBytes)
        return registry.emitToBuffer()
    }

    static func clip(_ text: String) -> String {
        // The usual path: short and printable, kept as is without a pass per character.
        if text.utf8.count <= 200, !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return text }
        return String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) }.prefix(200))
    }
}

/// The fast path's metrics, made once: `Counter(label:dimensions:)` looks its handler
/// up in the factory (a lock and a dictionary) every time it is called.
private final class StaticMetrics: @unchecked Sendable {
    // Immutable after init; the handlers behind them are thread-safe.
    static let shared = StaticMetrics()
    private let counters: [Metrics.Counter]  // [GET 200, GET 304, HEAD 200, HEAD 304]
    private let timers: [Metrics.Timer]  // [GET, HEAD]

    private init() {
        counters = [("GET", "200"), ("GET", "304"), ("HEAD", "200"), ("HEAD", "304")].map { method, status in
            Metrics.Counter(label: "interleave_http_requests_total",
                    dimensions: [("route", "static"), ("method", method), ("status", status)])
        }
        timers = ["GET", "HEAD"].map {
            Metrics.Timer(label: "interleave_http_request_duration_seconds", dimensions: [("route", "static"), ("method", $0)])
        }
    }

    func record(head: Bool, notModified: Bool, durationNs: UInt64) {
        counters[(head ? 2 : 0) + (notModified ? 1 : 0)].increment()
        timers[head ? 1 : 0].recordNanoseconds(Int64(durationNs))
    }
}

/// Threads, open fds and resident memory of this process, from /proc/self.
struct ProcessFacts {
    var threads = 0
    var fds = 0
    var rssBytes = 0

    static func read() -> ProcessFacts {
        var facts = ProcessFacts()
        facts.threads = count(entriesOf: "/proc/self/task")
        facts.fds = count(entriesOf: "/proc/self/fd") - 1  // the directory being read
        if let statm = contents(of: "/proc/self/statm") {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Int(fields[1]) { facts.rssBytes = pages * Int(sysconf(Int32(_SC_PAGESIZE))) }
        }
        return facts
    }

    private static func count(entriesOf path: String) -> Int {
        guard let directory = opendir(path) else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { count += 1 }
        }
        return count
    }

    private static func contents(of path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }
}

/// swift-log lines on standard error: `logfmt`-style text by default, or one JSON
/// object per line (`--log-format json`). Writes are single `write(2)` calls, so lines
/// from different threads never interleave.
public struct LineLogHandler: LogHandler {
    public enum Format: String, Sendable { case text, json }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let format: Format
    private let label: String

    public init(label: String, level: Logger.Level, format: Format) {
        self.label = label
        self.logLevel = level
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var bytes = line(event)
        bytes.append(0x0A)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// One line, without its newline. The text format is built straight into bytes (a
    /// request line is written at every request: no dictionary merge, sort or string
    /// interpolation unless the event needs it).
    func line(_ event: LogEvent) -> [UInt8] {
        let entries = entries(event)
        switch format {
        case .json:
            var object: JSONObject = ["ts": .string(Self.timestamp()), "level": .string(event.level.rawValue),
                                      "msg": .string(event.message.description)]
            for (key, value) in entries {
                let text = value.description
                if Self.numericKeys.contains(key), let integer = Int(text) {
                    object[key] = .int(integer)
                } else if Self.numericKeys.contains(key), let number = Double(text) {
                    object[key] = .double(number)
                } else {
                    object[key] = .string(text)
                }
            }
            return Array(JSONValue.object(object).jsonString.utf8)
        case .text:
            var bytes: [UInt8] = []
            bytes.reserveCapacity(128)
            Self.appendTimestamp(to: &bytes)
            bytes.append(0x20)
            bytes.append(contentsOf: event.level.rawValue.utf8)
            bytes.append(0x20)
            bytes.append(contentsOf: event.message.description.utf8)
            for (key, value) in entries {
                bytes.append(0x20)
                bytes.append(contentsOf: key.utf8)
                bytes.append(UInt8(ascii: "="))
                let text = value.description
                if text.isEmpty || text.utf8.contains(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\"") }) {
                    bytes.append(contentsOf: JSONValue.string(text).jsonString.utf8)
                } else {
                    bytes.append(contentsOf: text.utf8)
                }
            }
            return bytes
        }
    }

    /// The line's fields in order: the leading keys first, then the others sorted.
    private func entries(_ event: LogEvent) -> [(String, Logger.Metadata.Value)] {
        let merged: Logger.Metadata
        if let own = event.metadata, !own.isEmpty {
            merged = metadata.isEmpty ? own : metadata.merging(own) { $1 }
        } else {
            merged = metadata
        }
        var entries: [(String, Logger.Metadata.Value)] = []
        entries.reserveCapacity(merged.count)
        for key in Self.leading {
            if let value = merged[key] { entries.append((key, value)) }
        }
        if entries.count < merged.count {
            for key in merged.keys.filter({ !Self.leading.contains($0) }).sorted() { entries.append((key, merged[key]!)) }
        }
        return entries
    }

    /// Keys shown first, in this order: a request line reads method, path, status, ms.
    private static let leading = ["method", "path", "status", "ms", "run", "experiment"]
    private static let numericKeys: Set<String> = ["status", "ms", "events", "dropped"]

    /// `2026-11-23T15:08:56.123Z` (UTC, milliseconds).
    static func timestamp() -> String {
        var bytes: [UInt8] = []
        appendTimestamp(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    static func appendTimestamp(to bytes: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = now.tv_sec
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int, _ width: Int, then separator: UInt8) {
            var divisor = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
            bytes.append(separator)
        }
        digits(Int(parts.tm_year) + 1900, 4, then: UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2, then: UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2, then: UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2, then: UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2, then: UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2, then: UInt8(ascii: "."))
        digits(Int(now.tv_nsec / 1_000_000), 3, then: UInt8(ascii: "Z"))
    }
}
