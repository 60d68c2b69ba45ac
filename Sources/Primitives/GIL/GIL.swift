import CSystem
import Glibc
import JSON
import Synchronization

/// An emulation of CPython's global interpreter lock (Python/ceval_gil.c), one per
/// process, with its rules:
/// - a thread must hold it to run Python code (`compute`);
/// - a thread that wants it waits on a condition for the switch interval (5 ms);
///   if the wait times out and no switch happened meanwhile, it sets the drop
///   request (`gil_drop_request`);
/// - the holder checks the request between bytecodes (here: every small chunk of
///   work) and drops the GIL; with FORCE_SWITCHING it then waits until another
///   thread has taken it, so it cannot grab it straight back;
/// - it is released around blocking IO (Py_BEGIN_ALLOW_THREADS) and taken back after.
///
/// It is not CPython's code and runs no bytecode: it applies the same rules to
/// threads that burn calibrated CPU work, and traces every step as `gil.wait`,
/// `gil.drop-request`, `gil.acquire` and `gil.release {gil, reason}` on the lane of
/// the thread concerned, so the holder can be drawn as a track of its own.
///
/// `@unchecked Sendable`: the mutable state is only touched with `monitor` locked;
/// the drop request is an atomic, read without the lock as CPython's eval_breaker is.
public final class GIL: @unchecked Sendable {
    /// A thread as the GIL knows it (CPython's PyThreadState): an id and how it traces.
    public struct ThreadState: Sendable {
        public let id: Int
        public let lane: String
        /// Emits one event on this thread's lane: (type, flow, fields) -> seq.
        public let emit: @Sendable (String, Int?, JSONObject) -> Int?

        public init(id: Int, lane: String, emit: @escaping @Sendable (String, Int?, JSONObject) -> Int?) {
            self.id = id
            self.lane = lane
            self.emit = emit
        }
    }

    public enum ReleaseReason: String, Sendable {
        /// Another thread asked (the drop request) and the interval had passed.
        case dropRequest = "drop request"
        /// Py_BEGIN_ALLOW_THREADS around a blocking call.
        case blockingIO = "blocking IO"
        /// The thread finished.
        case done
    }

    /// `gil` on every event: which process's GIL.
    public let name: String
    /// sys.getswitchinterval(): 5 ms by default.
    public let intervalNs: UInt64
    private let monitor: Monitor
    private let flows: (@Sendable () -> Int?)?
    private let dropRequest = Atomic<Bool>(false)

    // Guarded by `monitor`.
    private var locked = false
    private var holder: ThreadState?
    private var lastHolder = -1
    private var switchNumber = 0
    private var waiting = 0
    private var requestFlow: Int?
    private var waitNs: [Int: UInt64] = [:]
    private var dropRequests = 0

    public init(name: String, control: RunControl, intervalMs: Double = 5, flows: (@Sendable () -> Int?)? = nil) {
        self.name = name
        self.intervalNs = UInt64(intervalMs * 1e6)
        self.monitor = Monitor(control: control)
        self.flows = flows
    }

    /// take_gil: blocks until `thread` holds the GIL.
    public func take(_ thread: ThreadState) throws(RunInterrupted) {
        try monitor.withLock { () throws(RunInterrupted) in
            var waitStart: UInt64?
            if locked {
                waitStart = interleave_monotonic_ns()
                waiting += 1
                _ = thread.emit("gil.wait", nil, ["gil": .string(name), "holder": .string(holder?.lane ?? "")])
            }
            defer { if waitStart != nil { waiting -= 1 } }
            while locked {
                let saved = switchNumber
                let signalled = try monitor.wait(deadlineNs: interleave_monotonic_ns() + intervalNs)
                // Timed out, still locked, and nobody switched meanwhile: ask the holder to drop it.
                if !signalled, locked, switchNumber == saved, !dropRequest.load(ordering: .relaxed) {
                    dropRequest.store(true, ordering: .relaxed)
                    dropRequests += 1
                    requestFlow = flows?()
                    _ = thread.emit("gil.drop-request", requestFlow,
                                    ["gil": .string(name), "holder": .string(holder?.lane ?? "")])
                }
            }
            locked = true
            holder = thread
            lastHolder = thread.id
            switchNumber += 1
            if let waitStart { waitNs[thread.id, default: 0] += interleave_monotonic_ns() - waitStart }
            // The one that asked now holds it: the request is spent.
            dropRequest.store(false, ordering: .relaxed)
            requestFlow = nil
            var fields: JSONObject = ["gil": .string(name), "switch": .int(switchNumber)]
            if let waitStart { fields["waitedUs"] = .int(Int((interleave_monotonic_ns() - waitStart) / 1000)) }
            _ = thread.emit("gil.acquire", nil, fields)
            // FORCE_SWITCHING's switch_cond: wake a dropper waiting for someone else to take it.
            monitor.broadcast()
        }
    }

    /// drop_gil: `thread` lets go. After a drop request (FORCE_SWITCHING) it waits
    /// until another thread has taken the GIL, so the one that asked gets it.
    public func drop(_ thread: ThreadState, _ reason: ReleaseReason) throws(RunInterrupted) {
        try monitor.withLock { () throws(RunInterrupted) in
            precondition(holder?.id == thread.id, "\(thread.lane) drops a GIL it does not hold")
            locked = false
            holder = nil
            // Whatever made it let go, a pending request is answered by this release.
            let flow = dropRequest.load(ordering: .relaxed) ? requestFlow : nil
            _ = thread.emit("gil.release", flow, ["gil": .string(name), "reason": .string(reason.rawValue)])
            monitor.broadcast()
            if reason == .dropRequest {
                while lastHolder == thread.id && waiting > 0 { try monitor.wait() }
            }
        }
    }

    /// The eval loop: runs `iterations` of `work` holding the GIL, checking the drop
    /// request between chunks of about 50 µs (CPython checks its eval breaker
    /// between bytecodes), dropping and re-taking the GIL when asked.
    /// Call with the GIL held.
    public func compute(_ thread: ThreadState, work: CPUWork, iterations: Int, control: RunControl)
        throws(RunInterrupted)
    {
        let chunk = max(work.iterationsPerMs / 20, 1)
        var left = iterations
        while left > 0 {
            let step = min(chunk, left)
            work.run(step)
            left -= step
            try control.check()
            if dropRequest.load(ordering: .relaxed) {
                try drop(thread, .dropRequest)
                try take(thread)
            }
        }
    }

    /// Milliseconds `thread` spent waiting for the GIL so far.
    public func waitMs(of threadID: Int) -> Double {
        monitor.withLock { Double(waitNs[threadID] ?? 0) / 1e6 }
    }

    /// Milliseconds all threads spent waiting for the GIL.
    public var totalWaitMs: Double { monitor.withLock { Double(waitNs.values.reduce(0, +)) / 1e6 } }
    /// Times the GIL changed hands (acquisitions).
    public var switches: Int { monitor.withLock { switchNumber } }
    /// Drop requests set by waiting threads.
    public var requests: Int { monitor.withLock { dropRequests } }
}
