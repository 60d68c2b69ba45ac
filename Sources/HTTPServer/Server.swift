import CMicroHTTPD
import Glibc
import Synchronization

/// Settings of the HTTP server; every field has a default.
public struct ServerConfiguration: Sendable {
    /// Address to listen on (`127.0.0.1`, `localhost`, `::1`, `0.0.0.0`).
    public var host = "127.0.0.1"
    /// Port; 0 picks a free one (read it back from `Server.port`).
    public var port = 8080
    /// Largest request body accepted; larger ones get 413.
    public var maxBodyBytes = 64 * 1024
    /// Exact paths that take larger bodies (a trace to import), with their limit.
    public var largeBodies: [String: Int] = [:]

    func bodyLimit(_ path: String) -> Int { largeBodies[path] ?? maxBodyBytes }
    /// libmicrohttpd's polling threads. Streams are suspended while idle, so a few
    /// threads serve hundreds of live viewers.
    public var threads = 2
    /// Open connections before a new one makes room by closing the oldest idle one
    /// (one waiting for its request headers); refused only if none is idle.
    public var connectionLimit = 1000
    /// The same, per client address: one address cannot fill the server.
    public var perAddressLimit = 256
    /// Seconds an idle (not suspended) connection may stay open (libmicrohttpd's own
    /// timeout; every byte resets it, so it only catches silent connections).
    public var connectionTimeout = 30
    /// A connection must deliver a request's complete headers within this many
    /// milliseconds of opening (or of its previous response): bytes trickled in do
    /// not extend it.
    public var headerTimeoutMs = 10_000
    /// A request's body must be complete within this many milliseconds of its headers.
    public var bodyTimeoutMs = 30_000
    /// libmicrohttpd's memory pool per connection: request headers, and the write buffer
    /// of a streamed response (half of it at most per chunk). libmicrohttpd zeroes the
    /// whole pool before each keep-alive request, so it is a cost per request too: at
    /// 256 KiB that `memset` took a third of the time of serving a small static file.
    public var connectionMemoryBytes = 64 * 1024
    /// How often suspended streams are checked for a client that has gone.
    public var vanishedCheckMs = 1_000
    /// libmicrohttpd's own messages (a client that hung up, a malformed request).
    public var log: (@Sendable (String) -> Void)?
    /// Asked first for every GET or HEAD without a body, with its headers only: a
    /// prepared answer (a cached static file) is queued at once, without building a
    /// `Request` or calling `handler`; nil sends the request the usual way.
    public var quick: (@Sendable (QuickRequest) -> QuickAnswer?)?

    public init() {}
}

public struct ServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

/// libmicrohttpd behind a small Swift surface: `start`, `port`, `stop`.
///
/// Daemon mode: an internal polling thread pool with epoll and suspend/resume. A
/// streaming connection that has nothing to send is suspended (it holds no thread and
/// costs one epoll entry) and resumed when its source wakes it, so hundreds of viewers
/// can follow runs at once on `threads` threads.
///
/// Availability: every connection is tracked from accept to close. A new connection
/// past the per-address or total limit closes the oldest idle one (waiting for
/// headers) to make room; a watchdog thread closes connections whose headers or body
/// are late (a trickle of bytes does not extend the deadline) and ends suspended
/// streams whose client has hung up.
///
/// This file is the only place that touches C: `OpaquePointer`s, `Unmanaged`, and
/// capture-free callbacks that recover Swift objects with `fromOpaque`.
public final class Server: @unchecked Sendable {
    public let configuration: ServerConfiguration
    private let handler: @Sendable (Request) -> Response
    // Guarded by `lock`; the daemon pointer is only touched in start/stop.
    private let lock = Mutex<State>(State())
    private struct State {
        var daemon: OpaquePointer?
        var listenSocket: Int32 = -1
        var port = 0
        var streams: [ObjectIdentifier: StreamConnection] = [:]
        var stopping = false
        var watchdog: pthread_t?
    }
    fileprivate let connections = Mutex(ConnectionTable())
    /// Where the shim sends libmicrohttpd's log lines; lives as long as the server.
    private let logTarget: UnsafeMutablePointer<interleave_log_target>
    private let watchdogStop = Atomic<Bool>(false)
    /// `stop` has begun (the same as `State.stopping`, readable without the lock).
    private let stoppingFlag = Atomic<Bool>(false)

    public init(configuration: ServerConfiguration, handler: @escaping @Sendable (Request) -> Response) {
        self.configuration = configuration
        self.handler = handler
        logTarget = .allocate(capacity: 1)
        logTarget.initialize(to: interleave_log_target(sink: Trampolines.log, context: nil))
        logTarget.pointee.context = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        logTarget.deallocate()
    }

    /// The port actually bound (useful with port 0).
    public var port: Int { lock.withLock { $0.port } }

    public func start() throws(ServerError) {
        let (socket, port) = try Self.listen(host: configuration.host, port: configuration.port)
        let flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue
            | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_USE_ERROR_LOG.rawValue
        let context = Unmanaged.passUnretained(self).toOpaque()
        let contextBits = Int(bitPattern: context)
        // libmicrohttpd's own hard limit sits well above ours: the accept policy keeps
        // the count at `connectionLimit` by closing idle connections, and each pool
        // thread gets a share of the hard limit.
        let hardLimit = (configuration.connectionLimit + 64) * max(configuration.threads, 1)
        var options = [
            // First, so that every message, even about the options below, goes there.
            MHD_OptionItem(option: .EXTERNAL_LOGGER, value: unsafeBitCast(interleave_mhd_log_callback(), to: Int.self),
                           ptr_value: UnsafeMutableRawPointer(logTarget)),
            MHD_OptionItem(option: .LISTEN_SOCKET, value: Int(socket), ptr_value: nil),
            MHD_OptionItem(option: .THREAD_POOL_SIZE, value: max(configuration.threads, 1), ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_LIMIT, value: hardLimit, ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: configuration.connectionTimeout, ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_MEMORY_LIMIT, value: configuration.connectionMemoryBytes, ptr_value: nil),
            MHD_OptionItem(option: .UNESCAPE_CALLBACK, value: unsafeBitCast(Trampolines.unescape, to: Int.self), ptr_value: nil),
            MHD_OptionItem(option: .URI_LOG_CALLBACK, value: unsafeBitCast(Trampolines.uriLog, to: Int.self), ptr_value: context),
            MHD_OptionItem(option: .NOTIFY_CONNECTION, value: unsafeBitCast(Trampolines.notifyConnection, to: Int.self), ptr_value: context),
            MHD_OptionItem(option: .END, value: 0, ptr_value: nil),
        ]
        _ = contextBits
        // The daemon keeps an unretained pointer to self; `stop` ends the daemon before self can go.
        let daemon = options.withUnsafeMutableBufferPointer { buffer in
            interleave_mhd_start(UInt32(flags), 0, Trampolines.acceptPolicy, context, Trampolines.access, context,
                                 Trampolines.completed, context, buffer.baseAddress)
        }
        guard let daemon else {
            close(socket)
            throw ServerError(description: "libmicrohttpd could not start on \(configuration.host):\(port)")
        }
        // OpaquePointer is not Sendable; smuggle it into the lock as a bit pattern.
        let daemonBits = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(daemon)))
        var thread = pthread_t()
        let started = pthread_create(&thread, nil, Trampolines.watchdog, context) == 0
        lock.withLock {
            $0.daemon = OpaquePointer(bitPattern: daemonBits)
            $0.listenSocket = socket
            $0.port = port
            $0.watchdog = started ? thread : nil
        }
    }

    /// Ends every live stream, stops accepting, and stops the daemon.
    public func stop() {
        let daemon: OpaquePointer? = lock.withLock { state in
            guard !state.stopping else { return nil }
            state.stopping = true
            stoppingFlag.store(true, ordering: .releasing)
            return state.daemon
        }
        guard let daemon else { return }
        let socket = MHD_quiesce_daemon(daemon)
        // libmicrohttpd panics (abort) if MHD_stop_daemon finds a suspended connection,
        // and closing a stream early cuts its last events off. So end every stream
        // (each is resumed and sends what it has, then its end), and wait until all are
        // gone — bounded, re-ending any that registered meanwhile.
        for _ in 0..<500 {
            let streams = lock.withLock { Array($0.streams.values) }
            if streams.isEmpty { break }
            for stream in streams { stream.finishForShutdown() }
            usleep(10_000)
        }
        // The watchdog resumes connections and shuts sockets down: it must be gone first.
        watchdogStop.store(true, ordering: .releasing)
        if let watchdog = lock.withLock({ $0.watchdog }) { pthread_join(watchdog, nil) }
        MHD_stop_daemon(daemon)
        if socket >= 0 { close(socket) }
        lock.withLock { $0.daemon = nil }
    }

    var isStopping: Bool { stoppingFlag.load(ordering: .acquiring) }

    fileprivate func register(_ stream: StreamConnection) {
        let stopping = lock.withLock { state in
            state.streams[ObjectIdentifier(stream)] = stream
            return state.stopping
        }
        // A stream that starts while the server stops must never suspend.
        if stopping { stream.finishForShutdown() }
    }

    fileprivate func unregister(_ stream: StreamConnection) {
        _ = lock.withLock { $0.streams.removeValue(forKey: ObjectIdentifier(stream)) }
    }

    /// Number of live streaming responses (for tests and health).
    public var streamCount: Int { lock.withLock { $0.streams.count } }

    /// Open connections (for tests and metrics).
    public var connectionCount: Int { connections.withLock { $0.counted } }

    // MARK: Watchdog

    /// Runs on its own thread until `stop`: closes connections past their header or
    /// body deadline, and ends suspended streams whose client has gone.
    fileprivate func watch() {
        var lastStreamCheck: UInt64 = 0
        while !watchdogStop.load(ordering: .acquiring) {
            usleep(100_000)
            let now = Self.nowNs()
            let headerNs = UInt64(max(configuration.headerTimeoutMs, 1)) * 1_000_000
            let bodyNs = UInt64(max(configuration.bodyTimeoutMs, 1)) * 1_000_000
            connections.withLock { table in
                for tracked in table.byConnection.values where !tracked.evicted {
                    switch tracked.phase {
                    case .idle where now &- tracked.since > headerNs, .receiving where now &- tracked.since > bodyNs:
                        table.evict(tracked)
                    default:
                        break
                    }
                }
            }
            if now &- lastStreamCheck >= UInt64(max(configuration.vanishedCheckMs, 10)) * 1_000_000 {
                lastStreamCheck = now
                for stream in lock.withLock({ Array($0.streams.values) }) { stream.endIfClientVanished() }
            }
        }
    }

    static func nowNs() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    // MARK: Request handling (called on libmicrohttpd's threads)

    /// The fast path, on the first call for a request (headers only): a GET or HEAD
    /// with no body that `configuration.quick` answers from a prepared response. Anything
    /// else — a body announced, a NUL in the request line, the server stopping, or no
    /// prepared answer — returns nil and takes the full path (screening, routing).
    /// The answer is queued on the next call: queued now, before the (empty) body was
    /// read, libmicrohttpd would close the connection after it — no keep-alive.
    fileprivate func answerQuickly(connection: OpaquePointer, url: UnsafePointer<CChar>, version: UnsafePointer<CChar>?,
                                   method: UnsafePointer<CChar>, state: RequestState) -> QuickAnswer? {
        guard let quick = configuration.quick, !stoppingFlag.load(ordering: .acquiring) else { return nil }
        let isHead: Bool
        if strcmp(method, "GET") == 0 {
            isHead = false
        } else if strcmp(method, "HEAD") == 0 {
            isHead = true
        } else {
            return nil
        }
        if MHD_lookup_connection_value(connection, .HEADER_KIND, "Content-Length") != nil
            || MHD_lookup_connection_value(connection, .HEADER_KIND, "Transfer-Encoding") != nil {
            return nil
        }
        if let version, version.pointee != 0, let rawLength = state.rawURILength,
           UnsafeRawPointer(version) != UnsafeRawPointer(url) + rawLength + 1 {
            return nil
        }
        return quick(QuickRequest(connection: connection, path: String(cString: url), isHead: isHead))
    }

    /// The last call of a request `answerQuickly` answered.
    fileprivate func queueQuick(_ answer: QuickAnswer, on connection: OpaquePointer) -> MHD_Result {
        let key = ConnectionTable.key(connection)
        connections.withLock { $0.setPhase(key, .responding) }
        return MHD_queue_response(connection, UInt32(answer.status), answer.body.prepared)
    }

    /// First call for a request, headers only: refuse what must not be read on.
    /// Answering now (with `Connection: close`) means the body is never read, so no
    /// smuggled second request and no waiting for a body that will be refused.
    fileprivate func screen(connection: OpaquePointer, url: UnsafePointer<CChar>, version: UnsafePointer<CChar>?,
                            method: UnsafePointer<CChar>, state: RequestState) -> MHD_Result? {
        let key = ConnectionTable.key(connection)
        connections.withLock { $0.setPhase(key, .receiving) }
        // A raw NUL in the request line ends the URL early ("/index.html\0.js"): the
        // version then does not start right after the URL's end.
        if let version, version.pointee != 0, let rawLength = state.rawURILength,
           UnsafeRawPointer(version) != UnsafeRawPointer(url) + rawLength + 1 {
            return refuse(connection, Problem.badRequest("the request line contains a NUL byte", slug: "malformed-request"))
        }
        let headers = Self.valueList(connection, .HEADER_KIND)
        let lengths = headers.filter { $0.0.lowercased() == "content-length" }.map { $0.1.trimmingCharacters() }
        let encodings = headers.filter { $0.0.lowercased() == "transfer-encoding" }.map { $0.1.trimmingCharacters().lowercased() }
        if Set(lengths).count > 1 {
            return refuse(connection, Problem.badRequest("the request has conflicting Content-Length headers",
                                                         slug: "malformed-request", extra: ["field": "Content-Length"]))
        }
        if !lengths.isEmpty, !encodings.isEmpty {
            return refuse(connection, Problem.badRequest("the request has both Content-Length and Transfer-Encoding",
                                                         slug: "malformed-request", extra: ["field": "Transfer-Encoding"]))
        }
        if !encodings.isEmpty, encodings != ["chunked"] {
            return refuse(connection, Problem(status: 501, title: "Transfer-Encoding not supported",
                                              detail: "Transfer-Encoding \"\(encodings.joined(separator: ", ").prefix(60))\" is not supported; send Content-Length or chunked",
                                              slug: "unsupported-transfer-encoding", extra: ["field": "Transfer-Encoding"]))
        }
        let limit = configuration.bodyLimit(String(cString: url))
        state.limit = limit
        if let length = lengths.first, let bytes = UInt64(length), bytes > UInt64(limit) {
            return refuse(connection, Self.tooLarge(limit))
        }
        _ = method
        return nil
    }

    private func refuse(_ connection: OpaquePointer, _ problem: Problem) -> MHD_Result {
        var response = problem.response
        response.headers.append(("Connection", "close"))
        return queue(response, on: connection)
    }

    static func tooLarge(_ limit: Int) -> Problem {
        Problem(status: 413, title: "Request body too large",
                detail: "the request body must be at most \(limit) bytes", slug: "body-too-large")
    }

    fileprivate func handle(connection: OpaquePointer, url: String, method: String, state: RequestState) -> MHD_Result {
        let request = Request(method: method, path: url, query: Self.values(connection, .GET_ARGUMENT_KIND),
                              headers: Self.values(connection, .HEADER_KIND), body: state.body)
        let response: Response
        if state.tooLarge {
            response = Self.tooLarge(state.limit ?? configuration.maxBodyBytes).response
        } else if isStopping {
            response = Problem(status: 503, title: "Shutting down", detail: "the server is stopping",
                               slug: "shutting-down").response
        } else {
            response = handler(request)
        }
        return queue(response, on: connection)
    }

    private func queue(_ response: Response, on connection: OpaquePointer) -> MHD_Result {
        let key = ConnectionTable.key(connection)
        connections.withLock { $0.setPhase(key, .responding) }
        var mhdResponse: OpaquePointer?
        var headersAdded = false  // and the reference is the body's own, not ours to destroy
        switch response.body {
        case .bytes(let bytes):
            mhdResponse = bytes.withUnsafeBytes { buffer in
                MHD_create_response_from_buffer(buffer.count, UnsafeMutableRawPointer(mutating: buffer.baseAddress),
                                                MHD_ResponseMemoryMode(rawValue: 2)!)
            }
        case .shared(let body):
            mhdResponse = body.prepared
            headersAdded = mhdResponse != nil
        case .file(let file):
            mhdResponse = file.take().flatMap { MHD_create_response_from_fd(Int(file.size), $0) }
        case .stream(let source):
            let stream = StreamConnection(connection: connection, source: source, server: self)
            register(stream)
            let retained = Unmanaged.passRetained(stream).toOpaque()
            mhdResponse = MHD_create_response_from_callback(UInt64.max, 16 * 1024, Trampolines.read, retained,
                                                            Trampolines.free)
            if mhdResponse == nil {
                Unmanaged<StreamConnection>.fromOpaque(retained).release()
                unregister(stream)
            }
        }
        guard let mhdResponse else { return .NO }
        if !headersAdded {
            for (name, value) in response.headers { MHD_add_response_header(mhdResponse, name, value) }
        }
        let result = MHD_queue_response(connection, UInt32(response.status), mhdResponse)
        if !headersAdded { MHD_destroy_response(mhdResponse) }
        return result
    }

    private static func values(_ connection: OpaquePointer, _ kind: MHD_ValueKind) -> [String: String] {
        let collector = ValueCollector()
        let context = Unmanaged.passUnretained(collector).toOpaque()
        withExtendedLifetime(collector) {
            _ = MHD_get_connection_values(connection, kind, Trampolines.collect, context)
        }
        return collector.values
    }

    /// Every header in order, duplicates included.
    private static func valueList(_ connection: OpaquePointer, _ kind: MHD_ValueKind) -> [(String, String)] {
        let collector = ValueCollector()
        let context = Unmanaged.passUnretained(collector).toOpaque()
        withExtendedLifetime(collector) {
            _ = MHD_get_connection_values(connection, kind, Trampolines.collectList, context)
        }
        return collector.list
    }

    // MARK: Connections

    /// Accept policy: make room past a limit by closing the oldest idle connection
    /// (of the same address first); refuse only when every connection is busy.
    fileprivate func admit(_ address: String) -> Bool {
        connections.withLock { table in
            if table.perAddress[address, default: 0] >= configuration.perAddressLimit {
                guard let victim = table.oldestIdle(address: address) else { return false }
                table.evict(victim)
            }
            if table.counted >= configuration.connectionLimit {
                guard let victim = table.oldestIdle(address: nil) else { return false }
                table.evict(victim)
            }
            return true
        }
    }

    fileprivate func connectionStarted(_ connection: OpaquePointer) {
        let fd = interleave_connection_fd(connection)
        let address = Self.addressText(interleave_connection_address(connection))
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(connection)))
        connections.withLock { $0.add(key: key, fd: fd, address: address, now: Self.nowNs()) }
    }

    fileprivate func requestCompleted(_ connection: OpaquePointer) {
        let key = ConnectionTable.key(connection)
        connections.withLock { $0.setPhase(key, .idle) }
    }

    fileprivate func connectionClosed(_ connection: OpaquePointer) {
        let key = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(connection)))
        connections.withLock { $0.remove(key: key) }
    }

    static func addressText(_ address: UnsafePointer<sockaddr>?) -> String {
        guard let address else { return "?" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { inet in
                var raw = inet.pointee.sin_addr
                _ = inet_ntop(AF_INET, &raw, &text, socklen_t(text.count))
            }
        case AF_INET6:
            address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { inet in
                var raw = inet.pointee.sin6_addr
                _ = inet_ntop(AF_INET6, &raw, &text, socklen_t(text.count))
            }
        default:
            return "?"
        }
        return String(cString: text)
    }

    // MARK: Listening socket

    /// Binds and listens ourselves, so `port: 0` works and the bound port can be read back.
    private static func listen(host: String, port: Int) throws(ServerError) -> (Int32, Int) {
        guard (0...65535).contains(port) else { throw ServerError(description: "port must be between 0 and 65535 (got \(port))") }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let lookupHost = host == "localhost" ? "127.0.0.1" : host
        guard getaddrinfo(lookupHost, String(port), &hints, &list) == 0, let first = list else {
            throw ServerError(description: "cannot resolve host \(host)")
        }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError(description: "socket() failed: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw ServerError(description: "cannot listen on \(host):\(port): \(message)")
        }
        // Room for a burst of connections (a class opening the viewer at once): a full
        // accept queue drops SYNs, and the client retries only after 1, 3, 7… seconds.
        // The kernel caps it at net.core.somaxconn.
        guard Glibc.listen(fd, 4096) == 0 else {
            close(fd)
            throw ServerError(description: "listen() failed on \(host):\(port)")
        }
        var address = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard bound == 0 else { close(fd); throw ServerError(description: "getsockname() failed") }
        let family = address.ss_family
        let boundPort: UInt16 = withUnsafePointer(to: &address) { pointer in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        return (fd, Int(boundPort))
    }
}

/// Per-request state: created when the request line is read (the URI log callback),
/// then the body gathered across upload chunks.
final class RequestState {
    var body: [UInt8] = []
    var tooLarge = false
    /// This request's body limit (its path may allow more than the default).
    var limit: Int?
    var headersSeen = false
    /// Length of the raw URI as a C string, before libmicrohttpd touched it.
    var rawURILength: Int?
    /// The fast path's answer, found with the headers, queued on the last call.
    var quick: QuickAnswer?
}

final class ValueCollector {
    var values: [String: String] = [:]
    var list: [(String, String)] = []
}

/// Every open connection, from accept to close: its socket, client address and what
/// it is doing, so the accept policy and the watchdog can close idle ones.
struct ConnectionTable {
    enum Phase { case idle, receiving, responding }

    final class Tracked {
        let key: UInt
        let fd: Int32
        let address: String
        var phase = Phase.idle
        var since: UInt64
        var evicted = false
        init(key: UInt, fd: Int32, address: String, since: UInt64) {
            self.key = key
            self.fd = fd
            self.address = address
            self.since = since
        }
    }

    var byConnection: [UInt: Tracked] = [:]
    var perAddress: [String: Int] = [:]
    /// Connections not yet evicted.
    var counted = 0

    mutating func add(key: UInt, fd: Int32, address: String, now: UInt64) {
        byConnection[key] = Tracked(key: key, fd: fd, address: address, since: now)
        perAddress[address, default: 0] += 1
        counted += 1
    }

    mutating func remove(key: UInt) {
        guard let tracked = byConnection.removeValue(forKey: key) else { return }
        if !tracked.evicted { uncount(tracked) }
    }

    static func key(_ connection: OpaquePointer) -> UInt {
        UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(connection)))
    }

    mutating func setPhase(_ key: UInt, _ phase: Phase) {
        guard let tracked = byConnection[key] else { return }
        tracked.phase = phase
        tracked.since = Server.nowNs()
    }

    func oldestIdle(address: String?) -> Tracked? {
        var oldest: Tracked?
        for tracked in byConnection.values where !tracked.evicted && tracked.phase == .idle {
            if let address, tracked.address != address { continue }
            if oldest == nil || tracked.since < oldest!.since { oldest = tracked }
        }
        return oldest
    }

    /// Shuts the socket down: libmicrohttpd sees the end of input and closes the
    /// connection itself. Safe under the table's lock: the close notification (which
    /// takes the same lock) comes before libmicrohttpd closes the fd, so the fd is
    /// still this connection's.
    mutating func evict(_ tracked: Tracked) {
        guard !tracked.evicted else { return }
        tracked.evicted = true
        uncount(tracked)
        if tracked.fd >= 0 { shutdown(tracked.fd, Int32(SHUT_RDWR)) }
    }

    private mutating func uncount(_ tracked: Tracked) {
        counted -= 1
        let left = perAddress[tracked.address, default: 1] - 1
        perAddress[tracked.address] = left > 0 ? left : nil
    }
}

/// Bytes answered many times with the same headers (a cached static file, or its 304):
/// libmicrohttpd's response is built once — headers included — and every request queues
/// that same reference-counted response, with no copy and no allocation. libmicrohttpd
/// frees it when the last reference goes, so a replaced cache entry never pulls memory
/// from under a send.
public final class SharedBody: @unchecked Sendable {
    /// Immutable after init; libmicrohttpd's responses may be queued from many threads.
    fileprivate let prepared: OpaquePointer?
    public let count: Int
    public let headers: [(String, String)]

    public init(_ bytes: [UInt8], headers: [(String, String)]) {
        count = bytes.count
        self.headers = headers
        let buffer = malloc(max(bytes.count, 1))!
        bytes.withUnsafeBytes { if let base = $0.baseAddress { buffer.copyMemory(from: base, byteCount: $0.count) } }
        let response = MHD_create_response_from_buffer_with_free_callback(bytes.count, buffer, { free($0) })
        if let response {
            for (name, value) in headers { MHD_add_response_header(response, name, value) }
        } else {
            free(buffer)
        }
        prepared = response
    }

    deinit {
        if let prepared { MHD_destroy_response(prepared) }
    }
}

/// A GET or HEAD seen with its headers only (see `ServerConfiguration.quick`).
public struct QuickRequest {
    fileprivate let connection: OpaquePointer
    /// The decoded path, as `Request.path`.
    public let path: String
    public let isHead: Bool

    public var method: String { isHead ? "HEAD" : "GET" }

    /// A request header (the name in any case), read only when asked for.
    public func header(_ name: String) -> String? {
        MHD_lookup_connection_value(connection, .HEADER_KIND, name).map { String(cString: $0) }
    }
}

/// A prepared answer for the fast path: a status and a response built once.
public struct QuickAnswer: Sendable {
    public let status: Int
    public let body: SharedBody

    public init(status: Int, body: SharedBody) {
        self.status = status
        self.body = body
    }
}

/// An open file sent by the kernel (`sendfile`): libmicrohttpd closes it when done.
public final class FileBody: @unchecked Sendable {
    private let fd = Mutex<Int32>(-1)
    public let size: UInt64

    /// Takes ownership of `fd`.
    public init(fd: Int32, size: UInt64) {
        self.fd.withLock { $0 = fd }
        self.size = size
    }

    /// Hands the fd over once.
    fileprivate func take() -> Int32? {
        fd.withLock { fd in
            defer { fd = -1 }
            return fd >= 0 ? fd : nil
        }
    }

    deinit {
        if let fd = take() { close(fd) }
    }
}

extension String {
    /// Without spaces and tabs at either end.
    func trimmingCharacters() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = scalars.lastIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        return String(scalars[first...last])
    }
}

/// One streaming response. libmicrohttpd pulls bytes from `fill`; when the source has
/// none, the connection is suspended and `wake` resumes it. `suspended`,
/// `wakePending` and `closed` live under one lock: suspending or resuming twice, or
/// resuming after the connection is gone, is undefined behaviour in libmicrohttpd.
final class StreamConnection: @unchecked Sendable {
    private let connection: OpaquePointer
    private let source: any StreamSource
    private weak var server: Server?
    /// The connection's socket, read while it is suspended (libmicrohttpd cannot close
    /// a suspended connection, so the fd stays this connection's).
    private let fd: Int32
    private struct State {
        var pending: any StreamBytes = [UInt8]()
        var offset = 0
        var suspended = false
        var wakePending = false
        var closed = false
        var ending = false
        /// The client hung up: the next `fill` aborts the response.
        var vanished = false
    }

    private let state = Mutex(State())
    static let maxCopy = 64 * 1024

    init(connection: OpaquePointer, source: any StreamSource, server: Server) {
        self.connection = connection
        self.source = source
        self.server = server
        self.fd = interleave_connection_fd(connection)
    }

    /// Copies up to `max` bytes into `buffer`; returns the count, -1 at the end, or
    /// -2 to abort (the client has gone).
    func fill(_ buffer: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        if state.withLock({ $0.vanished }) { return -2 }  // MHD_CONTENT_READER_END_WITH_ERROR
        while true {
            let copied: Int? = state.withLock { state in
                if state.offset < state.pending.count {
                    // At most `maxCopy` a call: libmicrohttpd offers a chunked response its
                    // whole write buffer (up to the connection's memory limit), and every page
                    // touched there stays resident while the stream lives.
                    let count = min(max, Self.maxCopy, state.pending.count - state.offset)
                    state.pending.withUnsafeBytes { bytes in
                        UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + state.offset, byteCount: count)
                    }
                    state.offset += count
                    if state.offset == state.pending.count {
                        // Sent: let go of it (shared bytes stay alive only while needed).
                        state.pending = [UInt8]()
                        state.offset = 0
                    }
                    return count
                }
                return nil
            }
            if let copied { return copied }
            switch source.next(wake: { [self] in wake() }) {
            case .data(let bytes):
                state.withLock {
                    $0.pending = bytes
                    $0.offset = 0
                }
            case .shared(let bytes):
                state.withLock {
                    $0.pending = bytes
                    $0.offset = 0
                }
            case .end:
                return -1  // MHD_CONTENT_READER_END_OF_STREAM
            case .wait:
                return state.withLock { state in
                    if state.ending { return -1 }
                    if state.wakePending {
                        // Woken between `next` and here: try again on the next call.
                        state.wakePending = false
                        return 0
                    }
                    state.suspended = true
                    MHD_suspend_connection(connection)
                    return 0
                }
            }
        }
    }

    func wake() {
        state.withLock { state in
            guard !state.closed else { return }
            if state.suspended {
                state.suspended = false
                MHD_resume_connection(connection)
            } else {
                state.wakePending = true
            }
        }
    }

    /// A suspended stream is invisible to libmicrohttpd's polling, so a client that
    /// hung up would hold its socket until the next event or heartbeat. Called by the
    /// watchdog: if the peer has closed (or reset) the socket, resume the connection
    /// so `fill` aborts it. Checked under the lock, while the fd is surely ours.
    func endIfClientVanished() {
        state.withLock { state in
            guard state.suspended, !state.closed, fd >= 0 else { return }
            let rdhup: Int16 = 0x2000  // POLLRDHUP (Linux): the peer closed its end
            var probe = pollfd(fd: fd, events: rdhup, revents: 0)
            guard poll(&probe, 1, 0) == 1, probe.revents & (rdhup | Int16(POLLHUP) | Int16(POLLERR)) != 0 else { return }
            state.vanished = true
            state.suspended = false
            MHD_resume_connection(connection)
        }
    }

    /// Server shutdown: end the stream after what is buffered, and resume it so it can.
    func finishForShutdown() {
        state.withLock { $0.ending = true }
        wake()
    }

    /// The response is being destroyed: the connection is finished or gone.
    func closed() {
        state.withLock { $0.closed = true }
        source.close()
        server?.unregister(self)
    }
}

/// Capture-free C callbacks. Each recovers its Swift object from the `cls` pointer.
enum Trampolines {
    static let access: MHD_AccessHandlerCallback = { cls, connection, url, method, version, uploadData, uploadSize, requestContext in
        guard let cls, let connection, let url, let method, let uploadSize, let requestContext else { return .NO }
        let server = Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue()
        let state: RequestState
        if let raw = requestContext.pointee {
            state = Unmanaged<RequestState>.fromOpaque(raw).takeUnretainedValue()
        } else {
            // No URI-log state (should not happen): make one; it is released in `completed`.
            state = RequestState()
            requestContext.pointee = Unmanaged.passRetained(state).toOpaque()
        }
        if !state.headersSeen {
            // First call: headers only.
            state.headersSeen = true
            if let answer = server.answerQuickly(connection: connection, url: url, version: version, method: method,
                                                 state: state) {
                state.quick = answer
                return .YES
            }
            if let refused = server.screen(connection: connection, url: url, version: version, method: method, state: state) {
                return refused
            }
            return .YES
        }
        if let answer = state.quick {
            // No body was announced, so this is the last call (a stray byte would be the next request).
            uploadSize.pointee = 0
            return server.queueQuick(answer, on: connection)
        }
        if uploadSize.pointee > 0 {
            let count = uploadSize.pointee
            if !state.tooLarge, let uploadData {
                if state.body.count + count > state.limit ?? server.configuration.maxBodyBytes {
                    state.tooLarge = true
                    state.body = []
                } else {
                    uploadData.withMemoryRebound(to: UInt8.self, capacity: count) {
                        state.body.append(contentsOf: UnsafeBufferPointer(start: $0, count: count))
                    }
                }
            }
            uploadSize.pointee = 0
            return .YES
        }
        return server.handle(connection: connection, url: String(cString: url), method: String(cString: method), state: state)
    }

    static let completed: MHD_RequestCompletedCallback = { cls, connection, requestContext, _ in
        if let cls, let connection {
            // Waiting for the next request's headers from now on.
            Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue().requestCompleted(connection)
        }
        guard let requestContext, let raw = requestContext.pointee else { return }
        Unmanaged<RequestState>.fromOpaque(raw).release()
        requestContext.pointee = nil
    }

    /// Called with the raw request line's URI before libmicrohttpd splits or decodes it;
    /// its result becomes the request's context (released in `completed`).
    static let uriLog: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?, OpaquePointer?) -> UnsafeMutableRawPointer? = { _, uri, _ in
        let state = RequestState()
        if let uri { state.rawURILength = strlen(uri) }
        return Unmanaged.passRetained(state).toOpaque()
    }

    static let acceptPolicy: MHD_AcceptPolicyCallback = { cls, address, _ in
        guard let cls else { return .YES }
        let server = Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue()
        return server.admit(Server.addressText(address)) ? .YES : .NO
    }

    static let notifyConnection: MHD_NotifyConnectionCallback = { cls, connection, _, code in
        guard let cls, let connection else { return }
        let server = Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue()
        if code.rawValue == 0 {  // MHD_CONNECTION_NOTIFY_STARTED
            server.connectionStarted(connection)
        } else {
            server.connectionClosed(connection)
        }
    }

    /// libmicrohttpd's messages (formatted by the shim) go to the configured log, not stderr.
    static let log: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void = { cls, message in
        guard let cls, let message else { return }
        let server = Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue()
        guard let sink = server.configuration.log else { return }
        var text = String(cString: message)
        while text.last == "\n" { text.removeLast() }
        sink(text)
    }

    static let watchdog: @convention(c) (UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? = { cls in
        guard let cls else { return nil }
        Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue().watch()
        return nil
    }

    static let read: MHD_ContentReaderCallback = { cls, _, buffer, max in
        guard let cls, let buffer else { return -2 }
        let stream = Unmanaged<StreamConnection>.fromOpaque(cls).takeUnretainedValue()
        return stream.fill(buffer, max: max)
    }

    static let free: MHD_ContentReaderFreeCallback = { cls in
        guard let cls else { return }
        let stream = Unmanaged<StreamConnection>.fromOpaque(cls).takeRetainedValue()
        stream.closed()
    }

    /// Percent-decoding in place, as libmicrohttpd's own, except that `%00` stays
    /// encoded: decoded, the NUL would cut the C string short and `/index.html%00.js`
    /// would be served as `/index.html`. Left encoded, the static handler refuses it.
    static let unescape: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafeMutablePointer<CChar>?) -> Int = { _, _, text in
        guard let text else { return 0 }
        func hex(_ c: CChar) -> UInt8? {
            switch UInt8(bitPattern: c) {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt8(bitPattern: c) - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt8(bitPattern: c) - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt8(bitPattern: c) - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var read = 0, write = 0
        while text[read] != 0 {
            if text[read] == CChar(UInt8(ascii: "%")), text[read + 1] != 0, text[read + 2] != 0,
               let high = hex(text[read + 1]), let low = hex(text[read + 2]), high | low != 0 {
                text[write] = CChar(bitPattern: high << 4 | low)
                read += 3
            } else {
                text[write] = text[read]
                read += 1
            }
            write += 1
        }
        text[write] = 0
        return write
    }

    static let collectList: MHD_KeyValueIterator = { cls, _, key, value in
        guard let cls, let key else { return .YES }
        let collector = Unmanaged<ValueCollector>.fromOpaque(cls).takeUnretainedValue()
        collector.list.append((String(cString: key), value.map { String(cString: $0) } ?? ""))
        return .YES
    }

    static let collect: MHD_KeyValueIterator = { cls, _, key, value in
        guard let cls, let key else { return .YES }
        let collector = Unmanaged<ValueCollector>.fromOpaque(cls).takeUnretainedValue()
        collector.values[String(cString: key)] = value.map { String(cString: $0) } ?? ""
        return .YES
    }
}
