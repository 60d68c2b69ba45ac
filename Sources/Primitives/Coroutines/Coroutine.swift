import CSystem
import Glibc

/// Stackful coroutines that take turns on the one OS thread that created their
/// `CoroutineHost` — real stack switching (makecontext/swapcontext in
/// `coroutine.c`), as greenlet switches CPython frames: a coroutine can be suspended
/// at any call depth and resumed exactly there, and no other thread is involved.
///
/// None of these types is `Sendable`: a coroutine's stack belongs to the thread
/// that runs it, and switching to it from another thread would be undefined.
public final class CoroutineHost {
    /// The host thread's own context: where `suspend()` returns to.
    fileprivate let context: OpaquePointer
    /// The coroutine running now; nil while the host thread itself runs.
    public fileprivate(set) var current: Coroutine?
    /// Coroutines created and not yet finished, so `finishAll` can unwind them.
    fileprivate var live: [ObjectIdentifier: Coroutine] = [:]
    /// Switches made, host included.
    public fileprivate(set) var switches = 0

    public init() {
        context = interleave_coro_current_thread()
    }

    deinit {
        interleave_coro_destroy(context)
    }

    /// Runs `coroutine` until it suspends, switches back to the host or finishes.
    public func resume(_ coroutine: Coroutine) {
        precondition(current == nil, "resume is for the host thread; coroutines use switchTo")
        guard !coroutine.isFinished else { return }
        current = coroutine
        switches += 1
        interleave_coro_switch(context, coroutine.handle)
        current = nil
    }

    /// Resumes every unfinished coroutine with `reason` pending, so each one's next
    /// `suspend` throws it and its stack unwinds normally (Swift releases what its
    /// frames hold). What greenlet does with GreenletExit when a greenlet is collected.
    public func finishAll(throwing reason: any Error) {
        var rounds = 0
        while let next = live.values.first(where: { !$0.isFinished }), rounds < 10_000 {
            next.pendingError = reason
            resume(next)
            rounds += 1
        }
    }
}

/// One coroutine: a function with its own stack. Create it, then `host.resume` it
/// or `switchTo` it from another coroutine.
public final class Coroutine {
    public let name: String
    fileprivate let handle: OpaquePointer
    private let host: CoroutineHost
    private var body: (() throws -> Void)?
    /// What the body threw, if it threw.
    public private(set) var error: (any Error)?
    /// Thrown out of this coroutine's next `suspend`/`switchTo` when it is resumed
    /// (cancellation, GreenletExit).
    fileprivate var pendingError: (any Error)?
    public private(set) var started = false

    /// 256 KiB: Swift frames are larger than C's, and tracing formats JSON on the
    /// coroutine's own stack. 64 coroutines cost 16 MiB of address space, touched lazily.
    public static let stackSize = 256 * 1024

    public init(_ name: String, host: CoroutineHost, body: @escaping () throws -> Void) {
        self.name = name
        self.host = host
        self.body = body
        let raw = interleave_coro_create(Coroutine.stackSize, { argument in
            // Runs on the new stack, the first time the coroutine is switched to.
            let coroutine = Unmanaged<Coroutine>.fromOpaque(argument!).takeUnretainedValue()
            coroutine.runBody()
        }, nil, host.context)
        guard let raw else { fatalError("coroutine stack: \(String(cString: strerror(errno)))") }
        handle = raw
        // The C side keeps an unretained pointer back; `host.live` keeps us alive
        // until the body has returned.
        interleave_coro_set_arg(handle, Unmanaged.passUnretained(self).toOpaque())
        host.live[ObjectIdentifier(self)] = self
    }

    deinit {
        interleave_coro_destroy(handle)
    }

    public var isFinished: Bool { interleave_coro_finished(handle) != 0 }

    private func runBody() {
        started = true
        do {
            if let pendingError { throw pendingError }
            try body?()
        } catch {
            self.error = error
        }
        body = nil
        host.live[ObjectIdentifier(self)] = nil
        host.current = nil
        // Returning hands control to the host (the coroutine's parent), for good.
    }

    /// From inside this coroutine: back to the host thread until resumed. Throws
    /// what the host asked to unwind with (`finishAll`).
    public func suspend() throws {
        precondition(host.current === self, "suspend from outside \(name)")
        host.switches += 1
        interleave_coro_switch(handle, host.context)
        try takePendingError()
    }

    /// From inside this coroutine: straight to `other` (greenlet's `switch()`), no
    /// host in between. Returns when something switches back to this coroutine.
    public func switchTo(_ other: Coroutine) throws {
        precondition(host.current === self, "switchTo from outside \(name)")
        precondition(!other.isFinished, "\(other.name) has finished")
        host.current = other
        host.switches += 1
        interleave_coro_switch(handle, other.handle)
        host.current = self
        try takePendingError()
    }

    private func takePendingError() throws {
        if let error = pendingError {
            pendingError = nil
            throw error
        }
    }
}
