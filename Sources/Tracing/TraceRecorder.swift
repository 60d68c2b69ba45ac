// Tracing API (see also /work/notes/issue-15.md, "Tracing API"):
//   emit(type, lane:, flow:, fields) -> seq?   record an event from the calling thread
//   merge(event) -> seq?                        record an event another process traced
//   read(from:limit:onMore:)                    events as values, from a seq on
//   readEncoded(from:limit:maxBytes:onMore:)    the same events as their canonical NDJSON
//                                               lines, encoded once per run and shared by
//                                               every reader (streams, the disk store)
//   finish(), cost, count, dropped, events
// Every event carries `cpu`, the CPU the emitting thread was on.
import CSystem
import Glibc
import JSON
import Synchronization

/// The trace of one run. Any number of threads emit into it at once; each event
/// gets the next `seq` and a `ts` that never goes backwards, under one short lock.
/// Subscribers read the history from any point and are woken when more arrives.
public final class TraceRecorder: Sendable {
    /// Monotonic nanoseconds at the start of the run: `ts` is measured from here.
    public let startNs: UInt64
    /// Events past this are counted as dropped instead of stored, so a runaway
    /// experiment cannot exhaust the server's memory.
    public let capacity: Int

    private struct State {
        var events: [TraceEvent] = []
        var lastTs: Int64 = 0
        var dropped = 0
        var finished = false
        var waiters: [@Sendable () -> Void] = []
        var wakeScheduled = false
    }

    private let state = Mutex(State())
    /// The canonical lines of `state.events[0..<encoded.count]`, each encoded once.
    private let encoded = Mutex(EncodedLog())
    private let costNs = Atomic<UInt64>(0)
    private let flowCounter = Atomic<Int>(0)
    private let processID = getpid()

    /// Hands subscriber wake-ups to another thread (nil: wake them inline).
    public typealias WakeDelivery = @Sendable (@escaping @Sendable () -> Void) -> Void
    private let deliverWake: WakeDelivery?

    /// With `deliverWake`, an emit that finds subscribers waiting does not wake them
    /// itself — that could mean hundreds of connection resumes on the traced thread —
    /// but asks `deliverWake` to, once per batch: emits while a wake-up is pending
    /// cost nothing extra.
    public init(startNs: UInt64 = interleave_monotonic_ns(), capacity: Int = 500_000,
                deliverWake: WakeDelivery? = nil) {
        self.startNs = startNs
        self.capacity = capacity
        self.deliverWake = deliverWake
    }

    /// A fresh id to put on both ends of a hand-off (`flow`).
    public func nextFlow() -> Int { flowCounter.add(1, ordering: .relaxed).newValue }

    /// Records an event from the calling thread; returns its `seq`, or nil once the
    /// trace is finished or full.
    @discardableResult
    public func emit(_ type: String, lane: String, flow: Int? = nil, _ fields: JSONObject = [:]) -> Int? {
        let entered = interleave_monotonic_ns()
        let tid = interleave_tid()
        let cpu = interleave_cpu()
        let elapsed = Int64(entered &- startNs) / 1000
        return store(entered: entered) { seq, lastTs in
            TraceEvent(seq: seq, ts: max(elapsed, lastTs), type: type, lane: lane,
                       pid: processID, tid: tid, cpu: cpu, flow: flow, fields: fields)
        }
    }

    /// Records an event that another process traced (its own pid, tid and ts on the
    /// shared monotonic clock). It gets this run's next `seq`; its `ts` is raised to
    /// the last one recorded if it arrived late, so `ts` stays non-decreasing.
    @discardableResult
    public func merge(_ event: TraceEvent) -> Int? {
        let entered = interleave_monotonic_ns()
        return store(entered: entered) { seq, lastTs in
            var copy = event
            copy.seq = seq
            copy.ts = max(event.ts, lastTs)
            return copy
        }
    }

    private func store(entered: UInt64, _ make: (Int, Int64) -> TraceEvent) -> Int? {
        let (seq, wake): (Int?, [@Sendable () -> Void]) = state.withLock { state in
            guard !state.finished else { return (nil, []) }
            guard state.events.count < capacity else {
                state.dropped += 1
                return (nil, [])
            }
            let event = make(state.events.count, state.lastTs)
            state.lastTs = event.ts
            state.events.append(event)
            guard !state.waiters.isEmpty else { return (event.seq, []) }
            if deliverWake != nil {
                if state.wakeScheduled { return (event.seq, []) }
                state.wakeScheduled = true
                return (event.seq, [{ [self] in wakeWaiters() }])
            }
            let wake = state.waiters
            state.waiters.removeAll(keepingCapacity: true)
            return (event.seq, wake)
        }
        if let deliverWake, let first = wake.first { deliverWake(first) } else { for waiter in wake { waiter() } }
        costNs.add(interleave_monotonic_ns() &- entered, ordering: .relaxed)
        return seq
    }

    private func wakeWaiters() {
        let wake = state.withLock { state in
            state.wakeScheduled = false
            let wake = state.waiters
            state.waiters.removeAll(keepingCapacity: true)
            return wake
        }
        for waiter in wake { waiter() }
    }

    /// No more events will be accepted; every subscriber is woken to see the end.
    public func finish() {
        let wake = state.withLock { state in
            state.finished = true
            let wake = state.waiters
            state.waiters.removeAll()
            return wake
        }
        for waiter in wake { waiter() }
    }

    public var isFinished: Bool { state.withLock { $0.finished } }
    public var count: Int { state.withLock { $0.events.count } }
    public var dropped: Int { state.withLock { $0.dropped } }
    public var events: [TraceEvent] { state.withLock { $0.events } }

    /// Microseconds since the run started, for summaries.
    public var elapsedMicros: Int64 { Int64(interleave_monotonic_ns() &- startNs) / 1000 }

    /// What the tracer cost the run: `{events, dropped, nsPerEvent}`.
    public var cost: JSONValue {
        let (count, dropped) = state.withLock { ($0.events.count, $0.dropped) }
        let total = costNs.load(ordering: .relaxed)
        let perEvent = count + dropped > 0 ? Double(total) / Double(count + dropped) : 0
        return ["events": .int(count), "dropped": .int(dropped), "nsPerEvent": .double((perEvent * 10).rounded() / 10)]
    }

    /// Up to `limit` events from `seq` on as their canonical NDJSON lines (and about
    /// `maxBytes` of them, at least one line), and whether the trace has ended after
    /// them. Each event is encoded once per run; every reader gets copies of the same
    /// bytes. If there are none yet and the trace has not ended, `onMore` (when given)
    /// is called once as soon as there are — possibly right away, from this thread.
    public func readEncoded(from seq: Int, limit: Int, maxBytes: Int = 1 << 18,
                            onMore: (@Sendable () -> Void)? = nil) -> EncodedEvents {
        let from = max(seq, 0)
        let (batch, fireNow): (EncodedEvents, Bool) = encoded.withLock { log in
            let (fresh, finished, total) = state.withLock { state in
                let fresh = log.count < state.events.count ? Array(state.events[log.count...]) : []
                return (fresh, state.finished, state.events.count)
            }
            if !fresh.isEmpty {
                log.append { line in
                    for event in fresh {
                        line { writer in
                            event.write(to: &writer)
                            writer.bytes.append(0x0A)
                        }
                    }
                }
            }
            let (bytes, ends) = log.read(from: from, limit: limit, maxBytes: maxBytes)
            var fireNow = false
            if ends.isEmpty, !finished, let onMore {
                // Register under the state lock so no emit slips between check and wait.
                fireNow = !state.withLock { state in
                    guard state.events.count == total, !state.finished else { return false }
                    state.waiters.append(onMore)
                    return true
                }
            }
            return (EncodedEvents(from: from, bytes: bytes, lineEnds: ends,
                                  finished: finished && from + ends.count >= total), fireNow)
        }
        // Outside the lock: the callback may read again.
        if fireNow { onMore?() }
        return batch
    }

    /// Up to `limit` events from `seq` on, and whether the trace has ended after them.
    /// If there are none yet and it has not ended, `onMore` (when given) is called
    /// once as soon as there are — possibly right away, from this thread.
    public func read(from seq: Int, limit: Int, onMore: (@Sendable () -> Void)? = nil)
        -> (events: ArraySlice<TraceEvent>, finished: Bool)
    {
        state.withLock { state in
            let start = min(max(seq, 0), state.events.count)
            let end = min(start + limit, state.events.count)
            let slice = state.events[start..<end]
            if slice.isEmpty, !state.finished, let onMore { state.waiters.append(onMore) }
            return (slice, state.finished && end == state.events.count)
        }
    }
}
