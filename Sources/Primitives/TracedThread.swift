import CSystem
import Glibc
import Synchronization

/// A real, joinable POSIX thread. Foundation's `Thread` cannot be joined, and a run
/// must join every thread it started before it may say it has ended.
public final class TracedThread: Sendable {
    public let name: String
    private let handle: Mutex<pthread_t?>
    private let tidBox = Atomic<Int32>(0)
    private let joined = Mutex(false)
    /// In a controlled run: how a lane joining this thread waits for it (a scheduling
    /// point that is eligible once this thread's lane has ended).
    private let joinGate = Mutex<(@Sendable () -> Void)?>(nil)

    public func setJoinGate(_ gate: @escaping @Sendable () -> Void) { joinGate.withLock { $0 = gate } }

    /// The kernel thread id, once the thread has started running.
    public var tid: Int32 { tidBox.load(ordering: .acquiring) }

    private final class Start: @unchecked Sendable {
        let body: @Sendable () -> Void
        let thread: TracedThread
        init(body: @escaping @Sendable () -> Void, thread: TracedThread) {
            self.body = body
            self.thread = thread
        }
    }

    /// Starts `body` on a new thread named `name` (the kernel keeps 15 bytes of it).
    /// `detached` threads release their resources on exit and cannot be joined.
    public init(name: String, detached: Bool = false, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.handle = Mutex(nil)
        let start = Unmanaged.passRetained(Start(body: body, thread: self)).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        if detached { pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED)) }
        var thread = pthread_t()
        let result = pthread_create(&thread, &attributes, { raw in
            let start = Unmanaged<Start>.fromOpaque(raw!).takeRetainedValue()
            start.thread.tidBox.store(interleave_tid(), ordering: .releasing)
            interleave_set_thread_name(start.thread.name)
            start.body()
            return nil
        }, start)
        pthread_attr_destroy(&attributes)
        precondition(result == 0, "pthread_create failed: \(result)")
        if !detached { handle.withLock { $0 = thread } }
        if detached { joined.withLock { $0 = true } }
    }

    /// Waits for the thread to finish. Safe to call more than once, from any thread
    /// but its own.
    public func join() {
        joinGate.withLock { $0 }?()
        let thread: pthread_t? = joined.withLock { joined in
            if joined { return nil }
            joined = true
            return handle.withLock { $0 }
        }
        if let thread { pthread_join(thread, nil) }
    }
}
