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
    /// libmicrohttpd's polling threads. Streams are suspended while idle, so a few
    /// threads serve hundreds of live viewers.
    public var threads = 2
    public var connectionLimit = 1000
    /// Seconds an idle (not suspended) connection may stay open.
    public var connectionTimeout = 30

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
    }

    public init(configuration: ServerConfiguration, handler: @escaping @Sendable (Request) -> Response) {
        self.configuration = configuration
        self.handler = handler
    }

    /// The port actually bound (useful with port 0).
    public var port: Int { lock.withLock { $0.port } }

    public func start() throws(ServerError) {
        let (socket, port) = try Self.listen(host: configuration.host, port: configuration.port)
        let flags = MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue
            | MHD_ALLOW_SUSPEND_RESUME.rawValue | MHD_USE_ERROR_LOG.rawValue
        var options = [
            MHD_OptionItem(option: .LISTEN_SOCKET, value: Int(socket), ptr_value: nil),
            MHD_OptionItem(option: .THREAD_POOL_SIZE, value: max(configuration.threads, 1), ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_LIMIT, value: configuration.connectionLimit, ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_TIMEOUT, value: configuration.connectionTimeout, ptr_value: nil),
            MHD_OptionItem(option: .CONNECTION_MEMORY_LIMIT, value: 256 * 1024, ptr_value: nil),
            MHD_OptionItem(option: .UNESCAPE_CALLBACK, value: unsafeBitCast(Trampolines.unescape, to: Int.self), ptr_value: nil),
            MHD_OptionItem(option: .END, value: 0, ptr_value: nil),
        ]
        // The daemon keeps an unretained pointer to self; `stop` ends the daemon before self can go.
        let context = Unmanaged.passUnretained(self).toOpaque()
        let daemon = options.withUnsafeMutableBufferPointer { buffer in
            interleave_mhd_start(UInt32(flags), 0, Trampolines.access, context, Trampolines.completed, context,
                                 buffer.baseAddress)
        }
        guard let daemon else {
            close(socket)
            throw ServerError(description: "libmicrohttpd could not start on \(configuration.host):\(port)")
        }
        // OpaquePointer is not Sendable; smuggle it into the lock as a bit pattern.
        let daemonBits = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(daemon)))
        lock.withLock {
            $0.daemon = OpaquePointer(bitPattern: daemonBits)
            $0.listenSocket = socket
            $0.port = port
        }
    }

    /// Ends every live stream, stops accepting, and stops the daemon.
    public func stop() {
        let daemon: OpaquePointer? = lock.withLock { state in
            guard !state.stopping else { return nil }
            state.stopping = true
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
        MHD_stop_daemon(daemon)
        if socket >= 0 { close(socket) }
        lock.withLock { $0.daemon = nil }
    }

    var isStopping: Bool { lock.withLock { $0.stopping } }

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

    // MARK: Request handling (called on libmicrohttpd's threads)

    fileprivate func handle(connection: OpaquePointer, url: String, method: String, state: RequestState) -> MHD_Result {
        let request = Request(method: method, path: url, query: Self.values(connection, .GET_ARGUMENT_KIND),
                              headers: Self.values(connection, .HEADER_KIND), body: state.body)
        let response: Response
        if state.tooLarge {
            response = Problem(status: 413, title: "Request body too large",
                               detail: "the request body must be at most \(configuration.maxBodyBytes) bytes",
                               slug: "body-too-large").response
        } else if isStopping {
            response = Problem(status: 503, title: "Shutting down", detail: "the server is stopping",
                               slug: "shutting-down").response
        } else {
            response = handler(request)
        }
        return queue(response, on: connection, method: method)
    }

    private func queue(_ response: Response, on connection: OpaquePointer, method: String) -> MHD_Result {
        let mhdResponse: OpaquePointer?
        switch response.body {
        case .bytes(let bytes):
            mhdResponse = bytes.withUnsafeBytes { buffer in
                MHD_create_response_from_buffer(buffer.count, UnsafeMutableRawPointer(mutating: buffer.baseAddress),
                                                MHD_ResponseMemoryMode(rawValue: 2)!)
            }
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
        for (name, value) in response.headers { MHD_add_response_header(mhdResponse, name, value) }
        let result = MHD_queue_response(connection, UInt32(response.status), mhdResponse)
        MHD_destroy_response(mhdResponse)
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
        guard Glibc.listen(fd, 512) == 0 else {
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

/// Per-request state: the body gathered across upload chunks.
final class RequestState {
    var body: [UInt8] = []
    var tooLarge = false
}

final class ValueCollector {
    var values: [String: String] = [:]
}

/// One streaming response. libmicrohttpd pulls bytes from `fill`; when the source has
/// none, the connection is suspended and `wake` resumes it. `suspended`,
/// `wakePending` and `closed` live under one lock: suspending or resuming twice, or
/// resuming after the connection is gone, is undefined behaviour in libmicrohttpd.
final class StreamConnection: @unchecked Sendable {
    private let connection: OpaquePointer
    private let source: any StreamSource
    private weak var server: Server?
    private struct State {
        var pending: [UInt8] = []
        var offset = 0
        var suspended = false
        var wakePending = false
        var closed = false
        var ending = false
    }

    private let state = Mutex(State())

    init(connection: OpaquePointer, source: any StreamSource, server: Server) {
        self.connection = connection
        self.source = source
        self.server = server
    }

    /// Copies up to `max` bytes into `buffer`; returns the count, or -1 at the end.
    func fill(_ buffer: UnsafeMutablePointer<CChar>, max: Int) -> Int {
        while true {
            let copied: Int? = state.withLock { state in
                if state.offset < state.pending.count {
                    let count = min(max, state.pending.count - state.offset)
                    state.pending.withUnsafeBytes { bytes in
                        UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + state.offset, byteCount: count)
                    }
                    state.offset += count
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
    static let access: MHD_AccessHandlerCallback = { cls, connection, url, method, _, uploadData, uploadSize, requestContext in
        guard let cls, let connection, let url, let method, let uploadSize, let requestContext else { return .NO }
        let server = Unmanaged<Server>.fromOpaque(cls).takeUnretainedValue()
        guard let raw = requestContext.pointee else {
            // First call: headers only. Allocate the state; it is released in `completed`.
            requestContext.pointee = Unmanaged.passRetained(RequestState()).toOpaque()
            return .YES
        }
        let state = Unmanaged<RequestState>.fromOpaque(raw).takeUnretainedValue()
        if uploadSize.pointee > 0 {
            let count = uploadSize.pointee
            if !state.tooLarge, let uploadData {
                if state.body.count + count > server.configuration.maxBodyBytes {
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

    static let completed: MHD_RequestCompletedCallback = { _, _, requestContext, _ in
        guard let requestContext, let raw = requestContext.pointee else { return }
        Unmanaged<RequestState>.fromOpaque(raw).release()
        requestContext.pointee = nil
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

    static let collect: MHD_KeyValueIterator = { cls, _, key, value in
        guard let cls, let key else { return .YES }
        let collector = Unmanaged<ValueCollector>.fromOpaque(cls).takeUnretainedValue()
        collector.values[String(cString: key)] = value.map { String(cString: $0) } ?? ""
        return .YES
    }
}
