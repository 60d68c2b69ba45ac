import CSystem
import Glibc
import Synchronization

/// A socket call that failed, with its errno in words.
public struct NetError: Error, Sendable, CustomStringConvertible {
    public let call: String
    public let code: Int32

    public init(_ call: String, code: Int32 = errno) {
        self.call = call
        self.code = code
    }

    public var description: String { "\(call): \(String(cString: strerror(code)))" }
}

/// A descriptor that becomes readable, for good, the moment the run stops. Every
/// socket wait of a run polls it beside the socket, so cancel, the deadline and
/// shutdown wake a thread blocked in accept, recv or epoll_wait at once: no thread
/// of a run is ever left in a socket call.
public final class StopWaker: Sendable {
    public let fd: Int32
    public let control: RunControl
    private let token = Mutex<Int?>(nil)

    public init(control: RunControl) throws {
        let fd = eventfd(0, Int32(EFD_CLOEXEC) | Int32(EFD_NONBLOCK))
        guard fd >= 0 else { throw NetError("eventfd") }
        self.fd = fd
        self.control = control
        // Weak: a stop that runs its handlers after this waker is gone must not
        // write into a descriptor number that now belongs to someone else.
        let registered = control.onStop { [weak self] _ in self?.fire() }
        token.withLock { $0 = registered }
    }

    deinit {
        control.removeOnStop(token.withLock { $0 })
        close(fd)
    }

    private func fire() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    /// Blocks until `fd` has one of `events` (true), `timeoutMs` passes (false; -1
    /// waits for ever), or the run stops (throws).
    @discardableResult
    public func wait(_ fd: Int32, for events: Int16, timeoutMs: Int32 = -1) throws(RunInterrupted) -> Bool {
        var fds = [pollfd(fd: fd, events: events, revents: 0), pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)]
        while true {
            try control.check()
            let ready = poll(&fds, 2, timeoutMs)
            if ready < 0 && errno == EINTR { continue }
            try control.check()
            return ready > 0 && fds[0].revents != 0
        }
    }
}

/// A non-blocking socket on 127.0.0.1 that owns its descriptor (closed once, by
/// `close()` or when the last reference goes). Its calls block the way Python's
/// do — accept, recv, sendall — but wait in poll(2) beside a `StopWaker`, so a
/// stopped run interrupts them. In a worker process, where the parent ends a run by
/// killing the process group, the waker is nil and the waits are plain polls.
public final class Socket: Sendable {
    public let fd: Int32
    private let isOpen = Atomic<Bool>(true)

    /// Takes ownership of `fd` and makes it non-blocking.
    public init(adopting fd: Int32) {
        self.fd = fd
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }

    deinit { close() }

    public func close() {
        if isOpen.exchange(false, ordering: .acquiringAndReleasing) { Glibc.close(fd) }
    }

    private static func make(_ type: Int32) throws -> Socket {
        let fd = socket(AF_INET, type | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw NetError("socket") }
        return Socket(adopting: fd)
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    private func bindLoopback() throws {
        var address = Self.loopback(port: 0)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw NetError("bind 127.0.0.1:0") }
    }

    /// A TCP listener on 127.0.0.1 and an ephemeral port the kernel picks.
    public static func listenTCP(backlog: Int32 = 1024) throws -> Socket {
        let socket = try make(Int32(SOCK_STREAM.rawValue))
        var one: Int32 = 1
        setsockopt(socket.fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        try socket.bindLoopback()
        guard listen(socket.fd, backlog) == 0 else { throw NetError("listen") }
        return socket
    }

    /// A UDP socket bound to 127.0.0.1 and an ephemeral port.
    public static func udp(receiveBuffer: Int32? = nil) throws -> Socket {
        let socket = try make(Int32(SOCK_DGRAM.rawValue))
        if var size = receiveBuffer {
            setsockopt(socket.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        try socket.bindLoopback()
        return socket
    }

    /// Connects to 127.0.0.1:`port` (traced by the caller as `connect`).
    public static func connectTCP(port: Int, waker: StopWaker?, noDelay: Bool = true) throws -> Socket {
        let socket = try make(Int32(SOCK_STREAM.rawValue))
        if noDelay { socket.setNoDelay() }
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if result != 0 {
            guard errno == EINPROGRESS else { throw NetError("connect 127.0.0.1:\(port)") }
            try socket.waitReady(Int16(POLLOUT), waker)
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(socket.fd, SOL_SOCKET, SO_ERROR, &error, &length)
            guard error == 0 else { throw NetError("connect 127.0.0.1:\(port)", code: error) }
        }
        return socket
    }

    /// Starts connecting to 127.0.0.1:`port` without waiting (event loops): the
    /// socket is writable once connected; then `connectError` says how it went.
    public static func startConnectTCP(port: Int) throws -> Socket {
        let socket = try make(Int32(SOCK_STREAM.rawValue))
        socket.setNoDelay()
        var address = loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket.fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 || errno == EINPROGRESS else { throw NetError("connect 127.0.0.1:\(port)") }
        return socket
    }

    /// SO_ERROR: 0 once a started connect has succeeded.
    public var connectError: Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
        return error
    }

    /// Turns Nagle's algorithm off: a 64-byte request must not wait for an ACK.
    public func setNoDelay() {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// The port this socket is bound to.
    public var localPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// The peer's port (the other end of a loopback connection).
    public var peerPort: Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Waits until the socket is ready for `events`; with no waker, a plain poll.
    public func waitReady(_ events: Int16, _ waker: StopWaker?) throws {
        if let waker {
            try waker.wait(fd, for: events)
            return
        }
        var entry = pollfd(fd: fd, events: events, revents: 0)
        while poll(&entry, 1, -1) < 0 {
            guard errno == EINTR else { throw NetError("poll") }
        }
    }

    /// `accept()`: blocks until a connection arrives; the new socket is non-blocking.
    public func accept(_ waker: StopWaker?, noDelay: Bool = true) throws -> Socket {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                let socket = Socket(adopting: client)
                if noDelay { socket.setNoDelay() }
                return socket
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK: try waitReady(Int16(POLLIN), waker)
            case EINTR, ECONNABORTED: continue
            default: throw NetError("accept")
            }
        }
    }

    /// Accepts one connection if one is waiting, else nil (for event loops).
    public func acceptNow(noDelay: Bool = true) throws -> Socket? {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                let socket = Socket(adopting: client)
                if noDelay { socket.setNoDelay() }
                return socket
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK: return nil
            case EINTR, ECONNABORTED: continue
            default: throw NetError("accept")
            }
        }
    }

    /// `sendall()`: every byte, waiting for room when the send buffer is full.
    public func sendAll(_ bytes: [UInt8], _ waker: StopWaker?) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent > 0 {
                offset += sent
                continue
            }
            switch errno {
            case EAGAIN, EWOULDBLOCK: try waitReady(Int16(POLLOUT), waker)
            case EINTR: continue
            default: throw NetError("send")
            }
        }
    }

    /// Sends what fits now without waiting; returns the count (event loops).
    public func sendNow(_ bytes: ArraySlice<UInt8>) throws -> Int {
        while true {
            let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent >= 0 { return sent }
            switch errno {
            case EAGAIN, EWOULDBLOCK: return 0
            case EINTR: continue
            default: throw NetError("send")
            }
        }
    }

    /// `recv(max)`: waits for data; an empty array means the peer closed (EOF).
    public func receive(max: Int, _ waker: StopWaker?) throws -> [UInt8] {
        while true {
            if let bytes = try receiveNow(max: max) { return bytes }
            try waitReady(Int16(POLLIN), waker)
        }
    }

    /// What is there now: nil when nothing is (EAGAIN), empty at EOF.
    public func receiveNow(max: Int) throws -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count >= 0 { return Array(buffer[..<count]) }
            switch errno {
            case EAGAIN, EWOULDBLOCK: return nil
            case EINTR: continue
            case ECONNRESET: return []
            default: throw NetError("recv")
            }
        }
    }

    /// Exactly `count` bytes, or nil if the peer closed first.
    public func receiveExactly(_ count: Int, _ waker: StopWaker?) throws -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count)
        while bytes.count < count {
            let chunk = try receive(max: count - bytes.count, waker)
            if chunk.isEmpty { return nil }
            bytes += chunk
        }
        return bytes
    }

    /// `sendto()` a datagram to 127.0.0.1:`port`.
    public func send(datagram bytes: [UInt8], toPort port: Int) throws {
        var address = Self.loopback(port: port)
        while true {
            let sent = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { to in
                    bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), to, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            if sent >= 0 { return }
            guard errno == EINTR || errno == EAGAIN else { throw NetError("sendto") }
            if errno == EAGAIN { try waitReady(Int16(POLLOUT), nil) }
        }
    }

    /// `recvfrom()`: one datagram and the port it came from (its address is 127.0.0.1).
    public func receiveDatagram(max: Int, _ waker: StopWaker?) throws -> (bytes: [UInt8], port: Int) {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let count = withUnsafeMutablePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { from in
                    buffer.withUnsafeMutableBytes { recvfrom(fd, $0.baseAddress, $0.count, 0, from, &length) }
                }
            }
            if count >= 0 { return (Array(buffer[..<count]), Int(UInt16(bigEndian: address.sin_port))) }
            switch errno {
            case EAGAIN, EWOULDBLOCK: try waitReady(Int16(POLLIN), waker)
            case EINTR: continue
            default: throw NetError("recvfrom")
            }
        }
    }
}
