import CSystem
import Glibc

/// An epoll instance: descriptors registered once with a token, then each wait
/// returns only the ready ones — the kernel keeps the ready list as events arrive,
/// so a wait does not walk the idle descriptors (select and poll do, every call).
/// Owned by one thread at a time (an event loop), hence `@unchecked Sendable`:
/// the kernel object is thread-safe, this wrapper holds only its fd and a buffer.
public final class Epoll: @unchecked Sendable {
    public let fd: Int32
    private var buffer: [epoll_event]

    public init(capacity: Int = 256) throws {
        fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw NetError("epoll_create1") }
        buffer = Array(repeating: epoll_event(), count: max(capacity, 1))
    }

    deinit { close(fd) }

    public static let readable = EPOLLIN.rawValue
    public static let writable = EPOLLOUT.rawValue

    public func add(_ descriptor: Int32, events: UInt32 = Epoll.readable, token: UInt64) throws {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        guard epoll_ctl(fd, EPOLL_CTL_ADD, descriptor, &event) == 0 else { throw NetError("epoll_ctl ADD") }
    }

    public func modify(_ descriptor: Int32, events: UInt32, token: UInt64) throws {
        var event = epoll_event()
        event.events = events
        event.data.u64 = token
        guard epoll_ctl(fd, EPOLL_CTL_MOD, descriptor, &event) == 0 else { throw NetError("epoll_ctl MOD") }
    }

    public func remove(_ descriptor: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(fd, EPOLL_CTL_DEL, descriptor, &event)
    }

    /// One epoll_wait: the tokens and event bits of what is ready (empty on timeout).
    public func wait(timeoutMs: Int32) throws -> [(token: UInt64, events: UInt32)] {
        while true {
            let count = epoll_wait(fd, &buffer, Int32(buffer.count), timeoutMs)
            if count >= 0 { return (0..<Int(count)).map { (buffer[$0].data.u64, buffer[$0].events) } }
            guard errno == EINTR else { throw NetError("epoll_wait") }
        }
    }
}

/// The other system calls the socket experiments make, each a thin wrapper.
public enum NetSystem {
    /// FD_SETSIZE (1024 on Linux): select cannot watch a descriptor numbered at or above it.
    public static var fdSetSize: Int { Int(interleave_fd_setsize()) }

    /// One select(2) for readability: (how many are ready, index of the first); the
    /// count is -1 with `errno` EINVAL when a descriptor is at or above FD_SETSIZE.
    public static func selectReadable(_ fds: [Int32], timeoutMs: Int32) -> (ready: Int, first: Int) {
        var first: Int32 = -1
        while true {
            let ready = fds.withUnsafeBufferPointer {
                interleave_select_read($0.baseAddress, Int32($0.count), timeoutMs, &first)
            }
            if ready < 0 && errno == EINTR { continue }
            return (Int(ready), Int(first))
        }
    }

    /// One poll(2) over `entries` (revents filled in); returns how many are ready.
    public static func poll(_ entries: inout [pollfd], timeoutMs: Int32) -> Int {
        while true {
            let ready = Glibc.poll(&entries, nfds_t(entries.count), timeoutMs)
            if ready < 0 && errno == EINTR { continue }
            return Int(ready)
        }
    }

    /// Makes sure `needed` descriptors fit under RLIMIT_NOFILE, raising the soft
    /// limit to the hard one if it must. Returns the soft limit after trying (-1:
    /// unlimited).
    public static func ensureDescriptorLimit(_ needed: Int) -> (soft: Int, hard: Int) {
        var soft = 0, hard = 0
        _ = interleave_raise_nofile(needed, &soft, &hard)
        return (soft, hard)
    }

    /// Descriptors this process has open now (entries of /proc/self/fd).
    public static func openDescriptorCount() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return -1 }
        defer { closedir(directory) }
        var count = 0
        while let entry = readdir(directory) {
            if entry.pointee.d_name.0 != 0x2E { count += 1 }  // skip . and ..
        }
        return count - 1  // the directory stream's own descriptor
    }

    /// CPU time the calling thread has used, in nanoseconds.
    public static func threadCPUNanoseconds() -> UInt64 { interleave_thread_cpu_ns() }

    /// Sends `fd` over the AF_UNIX socket `channel` with a message (SCM_RIGHTS).
    public static func sendDescriptor(_ fd: Int32, over channel: Int32, message: [UInt8]) throws {
        let sent = message.withUnsafeBytes { interleave_send_fd(channel, fd, $0.baseAddress, $0.count) }
        guard sent == message.count else { throw NetError("sendmsg SCM_RIGHTS") }
    }

    /// Receives a message and the descriptor that came with it (-1 if none); an
    /// empty message means the channel closed.
    public static func receiveDescriptor(over channel: Int32, max: Int = 256) throws -> (message: [UInt8], fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: max)
        var fd: Int32 = -1
        let count = buffer.withUnsafeMutableBytes { interleave_recv_fd(channel, $0.baseAddress, $0.count, &fd) }
        guard count >= 0 else { throw NetError("recvmsg SCM_RIGHTS") }
        return (Array(buffer[..<count]), fd)
    }
}
