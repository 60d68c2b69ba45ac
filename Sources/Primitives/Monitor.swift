import CSystem
import Glibc

/// A mutex with a condition variable (on the monotonic clock) whose waits end when
/// the owning run stops. Every traced primitive that blocks (locks, events,
/// semaphores, queues, sleeps) is built on one, so cancellation, deadlines and
/// deadlock recovery can always release a blocked thread.
///
/// Unsafe on purpose: it owns raw pthread objects, which must not move in memory,
/// so they live in heap allocations freed in `deinit`. All access goes through
/// `withLock` and `wait`, so the `@unchecked Sendable` is sound.
public final class Monitor: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>
    public let control: RunControl
    /// Set when the run's threads follow a controlled schedule: then a wait parks the
    /// waiting lane with the schedule instead of on the condition variable, and a
    /// signal makes the lanes waiting here eligible again (see `ScheduleController`).
    private let schedule: ScheduleController?
    private var stopToken: Int?

    /// `controlled: false` keeps this monitor's waits real even in a controlled run (the
    /// schedule's own monitor, which controlled threads park on).
    public init(control: RunControl, controlled: Bool = true) {
        self.control = control
        self.schedule = controlled ? control.schedule : nil
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        // Wake every waiter when the run stops; they then see the stop and throw.
        // Weak, not unowned: RunControl.stop calls the handlers it took out of its
        // table after letting go of its lock, so a monitor may be deinitialised (a
        // sleep that just ended) while its handler is about to run.
        stopToken = control.onStop { [weak self] _ in self?.lockAndBroadcast() }
    }

    deinit {
        control.removeOnStop(stopToken)
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    public func withLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Call with the lock held (inside `withLock`). Blocks until signalled, until the
    /// monotonic `deadlineNs` passes (returns false), or until the run stops (throws).
    /// Like any condition wait it may return spuriously: wait in a predicate loop.
    @discardableResult
    public func wait(deadlineNs: UInt64? = nil) throws(RunInterrupted) -> Bool {
        try control.check()
        if let schedule, let lane = schedule.currentLane() {
            let woken = try schedule.block(lane, on: ObjectIdentifier(self), timed: deadlineNs != nil,
                                           unlock: { pthread_mutex_unlock(mutex) },
                                           relock: { pthread_mutex_lock(mutex) })
            try control.check()
            return woken
        }
        if let deadlineNs {
            if interleave_monotonic_ns() >= deadlineNs { return false }
            var spec = timespec(tv_sec: Int(deadlineNs / 1_000_000_000), tv_nsec: Int(deadlineNs % 1_000_000_000))
            let result = pthread_cond_timedwait(condition, mutex, &spec)
            try control.check()
            return result != ETIMEDOUT
        }
        pthread_cond_wait(condition, mutex)
        try control.check()
        return true
    }

    /// Waits (lock held) until `predicate` is true; false if the deadline passed first.
    public func wait(until predicate: () -> Bool, deadlineNs: UInt64? = nil) throws(RunInterrupted) -> Bool {
        while !predicate() {
            if try !wait(deadlineNs: deadlineNs), !predicate() { return false }
        }
        return true
    }

    /// Wakes one waiter. Call with the lock held (inside `withLock`).
    public func signal() {
        schedule?.wake(ObjectIdentifier(self))
        pthread_cond_signal(condition)
    }

    /// Wakes every waiter. Call with the lock held (inside `withLock`).
    public func broadcast() {
        schedule?.wake(ObjectIdentifier(self))
        pthread_cond_broadcast(condition)
    }

    /// Takes the lock and wakes every waiter, for callers outside `withLock`.
    public func lockAndBroadcast() {
        pthread_mutex_lock(mutex)
        schedule?.wake(ObjectIdentifier(self))
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Deadline `ms` milliseconds from now on the monotonic clock.
    public static func deadline(afterMs ms: Int) -> UInt64 {
        interleave_monotonic_ns() + UInt64(max(ms, 0)) * 1_000_000
    }
}
