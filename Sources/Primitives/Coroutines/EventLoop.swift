import CSystem
import Glibc
import Tracing

/// An event loop on the calling OS thread, as asyncio's (or gevent's hub): coroutines
/// run one at a time until they wait; the loop keeps a FIFO ready queue and a list
/// of timers, and when nothing is ready it blocks in a real `epoll_wait` on a
/// `timerfd` armed for the earliest timer (plus an `eventfd` the run's stop writes
/// to, so a cancelled run never sleeps on). Its own waits are `io.begin/io.end
/// {op: "epoll_wait"}` on its lane, its ready-queue length a `counter`.
public final class EventLoop {
    public let host = CoroutineHost()
    public let lane: Lane
    public let control: RunControl
    private let epollFd: Int32
    private let timerFd: Int32
    private let wakeFd: Int32
    private var stopToken: Int?

    private var ready: [Coroutine] = []
    private struct Timer {
        let deadlineNs: UInt64
        let order: Int
        let coroutine: Coroutine
    }
    private var timers: [Timer] = []
    private var timerOrder = 0
    private var blocked: [(coroutine: Coroutine, until: () -> Bool)] = []
    private var lastReadyCount = -1
    /// `epoll_wait` calls the loop made.
    public private(set) var epollWaits = 0
    /// Time the loop spent blocked in `epoll_wait`, in nanoseconds.
    public private(set) var idleNs: UInt64 = 0
    /// What the ready queue held at most.
    public private(set) var peakReady = 0
    /// Called on the loop just before it switches to a coroutine (to trace the hand-off).
    public var willResume: ((Coroutine) -> Void)?
    /// Called around the loop's blocking epoll_wait (CPython releases its GIL there).
    public var aroundWait: (before: () throws -> Void, after: () throws -> Void)?

    public struct SetupError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(lane: Lane, control: RunControl) throws(SetupError) {
        self.lane = lane
        self.control = control
        let epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        let timer = timerfd_create(CLOCK_MONOTONIC, Int32(TFD_CLOEXEC | TFD_NONBLOCK))
        let wake = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard epoll >= 0, timer >= 0, wake >= 0 else {
            let reason = String(cString: strerror(errno))
            for fd in [epoll, timer, wake] where fd >= 0 { close(fd) }
            throw SetupError(description: "event loop: \(reason)")
        }
        for fd in [timer, wake] {
            var event = epoll_event()
            event.events = EPOLLIN.rawValue
            event.data.fd = fd
            epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event)
        }
        epollFd = epoll
        timerFd = timer
        wakeFd = wake
        // eventfd writes are async-signal-safe and need no lock: any thread may stop the run.
        stopToken = control.onStop { _ in
            var one: UInt64 = 1
            _ = write(wake, &one, 8)
        }
    }

    deinit {
        control.removeOnStop(stopToken)
        close(epollFd)
        close(timerFd)
        close(wakeFd)
    }

    /// Schedules `coroutine` to run (asyncio.create_task, gevent.spawn).
    public func schedule(_ coroutine: Coroutine) {
        ready.append(coroutine)
        noteReady()
    }

    /// From inside a coroutine: suspend it for `ms` milliseconds, the loop running
    /// others meanwhile (asyncio.sleep, gevent.sleep).
    public func sleep(ms: Int) throws {
        let me = try currentCoroutine()
        timerOrder += 1
        timers.append(Timer(deadlineNs: Monitor.deadline(afterMs: ms), order: timerOrder, coroutine: me))
        try me.suspend()
    }

    /// From inside a coroutine: suspend it until `condition` holds (awaiting a task,
    /// gather, join). The loop re-checks conditions after every step.
    public func wait(until condition: @escaping () -> Bool) throws {
        if condition() { return }
        let me = try currentCoroutine()
        blocked.append((me, condition))
        try me.suspend()
    }

    private func currentCoroutine() throws -> Coroutine {
        guard let me = host.current else { preconditionFailure("EventLoop waits are for coroutines") }
        return me
    }

    public struct Stalled: Error, CustomStringConvertible {
        public let description = "every coroutine waits and no timer is set: nothing can ever run again"
    }

    /// Runs until `done()` holds. A stopped run unwinds every coroutine (each one's
    /// wait throws `RunInterrupted`) and then throws it here.
    public func run(until done: () -> Bool) throws {
        while !done() {
            if let reason = control.stopReason {
                abandon(RunInterrupted(reason))
                throw RunInterrupted(reason)
            }
            wakeBlocked()
            if !ready.isEmpty {
                let next = ready.removeFirst()
                noteReady()
                willResume?(next)
                host.resume(next)
                continue
            }
            moveDueTimers()
            if !ready.isEmpty { continue }
            guard let earliest = timers.min(by: { $0.deadlineNs < $1.deadlineNs }) else {
                if done() { break }
                abandon(Stalled())
                throw Stalled()
            }
            try waitForKernel(until: earliest.deadlineNs)
        }
    }

    /// Unwinds every unfinished coroutine, e.g. after a stop.
    public func abandon(_ error: any Error) {
        ready.removeAll()
        timers.removeAll()
        blocked.removeAll()
        host.finishAll(throwing: error)
    }

    private func wakeBlocked() {
        guard !blocked.isEmpty else { return }
        var still: [(coroutine: Coroutine, until: () -> Bool)] = []
        for entry in blocked {
            if entry.until() { ready.append(entry.coroutine) } else { still.append(entry) }
        }
        if still.count != blocked.count {
            blocked = still
            noteReady()
        }
    }

    private func moveDueTimers() {
        let now = interleave_monotonic_ns()
        let due = timers.filter { $0.deadlineNs <= now }.sorted { ($0.deadlineNs, $0.order) < ($1.deadlineNs, $1.order) }
        guard !due.isEmpty else { return }
        timers.removeAll { $0.deadlineNs <= now }
        ready += due.map(\.coroutine)
        noteReady()
    }

    /// Blocks in epoll_wait until the timerfd (armed for `deadlineNs`) or the stop
    /// eventfd fires.
    private func waitForKernel(until deadlineNs: UInt64) throws {
        var spec = itimerspec()
        spec.it_value = timespec(tv_sec: Int(deadlineNs / 1_000_000_000), tv_nsec: Int(deadlineNs % 1_000_000_000))
        timerfd_settime(timerFd, Int32(TFD_TIMER_ABSTIME), &spec, nil)
        lane.emit("io.begin", ["op": "epoll_wait", "fds": ["timerfd", "eventfd"],
                               "timeoutMs": .double(Double(deadlineNs &- min(deadlineNs, interleave_monotonic_ns())) / 1e6)])
        try aroundWait?.before()
        let start = interleave_monotonic_ns()
        var events = [epoll_event](repeating: epoll_event(), count: 2)
        var count: Int32
        repeat {
            count = epoll_wait(epollFd, &events, 2, -1)
        } while count < 0 && errno == EINTR
        idleNs += interleave_monotonic_ns() - start
        epollWaits += 1
        var fired: [String] = []
        var drain: UInt64 = 0
        for index in 0..<max(Int(count), 0) {
            if events[index].data.fd == timerFd {
                _ = read(timerFd, &drain, 8)
                fired.append("timerfd")
            } else {
                fired.append("eventfd")
            }
        }
        lane.emit("io.end", ["op": "epoll_wait", "ready": .array(fired.map { .string($0) })])
        try aroundWait?.after()
    }

    private func noteReady() {
        peakReady = max(peakReady, ready.count)
        guard ready.count != lastReadyCount else { return }
        lastReadyCount = ready.count
        lane.counter("ready queue", ready.count)
    }
}
