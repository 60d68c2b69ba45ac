import CSystem
import HTTPServer
import JSON
import Primitives
import Synchronization
import Tracing

/// A run's events as a live HTTP body: the history from `from` first, then each new
/// batch as it is recorded, then the end of the stream when the run ends. While idle
/// it sends a heartbeat every `heartbeatMs`, which keeps proxies from timing out and
/// makes a vanished client show up as a failed write.
///
/// NDJSON streams send the recorder's encoded lines themselves: every subscriber of a
/// run is handed the same bytes (a reference into the run's encoded log), so a
/// thousand subscribers cost one encoding and one copy of the trace. SSE frames each
/// line with its `id:`, which is per stream. A stream that has caught up waits on the
/// run's `LiveFeed`, which wakes every waiting subscriber together.
public final class EventStream: StreamSource {
    private let feed: LiveFeed
    private var recorder: TraceRecorder { feed.recorder }
    private let encoding: EventEncoding
    private let heartbeatNs: UInt64

    private struct State {
        var next: Int
        var heartbeatDue = false
        /// The wake-up handed to the recorder while this stream waits; the heartbeat
        /// fires it too (whichever comes first wins, the other finds it spent).
        var waiting: Once?
        var lastSentNs: UInt64
        var registered = false
        var closed = false
        /// The last batch read everything there was: the stream is at the live edge.
        var live = false
    }

    private let state: Mutex<State>

    public init(feed: LiveFeed, encoding: EventEncoding, from: Int, heartbeatMs: Int) {
        self.feed = feed
        self.encoding = encoding
        self.heartbeatNs = UInt64(max(heartbeatMs, 1)) * 1_000_000
        self.state = Mutex(State(next: max(from, 0), lastSentNs: interleave_monotonic_ns()))
        feed.join()
    }

    public func next(wake: @escaping @Sendable () -> Void) -> StreamChunk {
        let (from, heartbeat, live, lastSentNs) = state.withLock { state in
            let heartbeat = state.heartbeatDue
            state.heartbeatDue = false
            state.waiting = nil
            defer { state.live = false }
            return (state.next, heartbeat, state.live, state.lastSentNs)
        }
        // At the live edge, a stream that sent less than a round ago waits for the next round
        // instead of sending the few lines that trickled in since. With many subscribers on an
        // idle machine, libmicrohttpd's workers would otherwise cycle through every connection
        // as fast as they can, a few lines a send, and spend both cores on the send path (the
        // bench client beside them starves). Under load a cycle takes longer than a round anyway:
        // then this never waits, and each send carries all that came in meanwhile.
        if live, !heartbeat, let pace = feed.pace, interleave_monotonic_ns() &- lastSentNs < pace {
            return waitForMore(from: from, wake: wake)
        }
        let batch = recorder.readEncoded(from: from, limit: Self.batchLimit, maxBytes: Self.batchBytes)
        if !batch.isEmpty {
            state.withLock {
                $0.next = batch.from + batch.count
                $0.lastSentNs = interleave_monotonic_ns()
                // Everything there was (well inside both limits), and the trace goes on.
                $0.live = batch.count < Self.batchLimit && batch.byteCount < Self.batchBytes / 2 && !batch.finished
            }
            switch encoding {
            case .ndjson: return .shared(SharedLines(bytes: batch.shared))
            case .sse: return .data(encoding.frame(batch))
            }
        }
        if batch.finished { return .end }
        if heartbeat {
            state.withLock { $0.lastSentNs = interleave_monotonic_ns() }
            return .data(encoding.heartbeat)
        }
        return waitForMore(from: from, wake: wake)
    }

    static let batchLimit = 4096
    static let batchBytes = 1 << 18

    /// Waits on the feed for events from `from` on: one wake-up for whichever comes first, the
    /// feed's next round or the heartbeat.
    private func waitForMore(from: Int, wake: @escaping @Sendable () -> Void) -> StreamChunk {
        let once = Once(wake)
        let register = state.withLock { state in
            guard !state.closed else { return false }
            state.waiting = once
            defer { state.registered = true }
            return !state.registered
        }
        if register { Heartbeats.shared.add(self, everyNs: heartbeatNs) }
        feed.wait(ObjectIdentifier(self), from: from, once)
        return .wait
    }

    /// From the heartbeat timer: a stream that has waited `heartbeatMs` since it last
    /// sent anything is woken to send a heartbeat.
    fileprivate func beatIfIdle(now: UInt64) {
        let wake: Once? = state.withLock { state in
            guard let waiting = state.waiting, now &- state.lastSentNs >= heartbeatNs else { return nil }
            state.waiting = nil
            state.heartbeatDue = true
            return waiting
        }
        wake?.fire()
    }

    deinit { close() }

    public func close() {
        let wasOpen = state.withLock { state in
            defer { state.closed = true }
            state.waiting = nil
            return !state.closed
        }
        guard wasOpen else { return }
        Heartbeats.shared.remove(self)
        feed.leave(ObjectIdentifier(self))
    }
}

/// Everyone following one live run. A subscriber that has read everything waits here,
/// not on the recorder: the feed holds one wake-up from the recorder for all of them
/// and, when events arrive, wakes every waiting subscriber at once — one round.
///
/// Rounds are paced by the number of subscribers: each round costs every subscriber a
/// resume, a read and a send, so with a thousand of them rounds come at most every
/// ~15 ms (bigger batches, far fewer sends); one viewer is woken as soon as the
/// recorder hands over (within its 2 ms).
public final class LiveFeed: Sendable {
    public let recorder: TraceRecorder
    /// Time between the starts of two rounds, per subscriber.
    static let paceNsPerSubscriber: UInt64 = 15_000
    static let maxPaceNs: UInt64 = 25_000_000

    private struct State {
        var subscribers = 0
        var waiting: [ObjectIdentifier: Once] = [:]
        /// A wake-up from the recorder is registered for events past `armedAt`.
        var armed = false
        var armedAt = 0
        var roundScheduled = false
        var lastRoundNs: UInt64 = 0
    }

    private let state = Mutex(State())

    public init(recorder: TraceRecorder) { self.recorder = recorder }

    func join() { state.withLock { $0.subscribers += 1 } }

    /// The time between rounds when it is a millisecond or more (many subscribers), else nil.
    var pace: UInt64? {
        let pace = state.withLock { min(UInt64($0.subscribers) * Self.paceNsPerSubscriber, Self.maxPaceNs) }
        return pace >= 1_000_000 ? pace : nil
    }

    func leave(_ subscriber: ObjectIdentifier) {
        state.withLock { state in
            state.subscribers -= 1
            state.waiting[subscriber] = nil
        }
    }

    /// `subscriber` has read every event before `seq` and found no more: `wake` it with
    /// the next round after more arrive (or the trace ends).
    func wait(_ subscriber: ObjectIdentifier, from seq: Int, _ wake: Once) {
        let arm: Bool = state.withLock { state in
            state.waiting[subscriber] = wake
            // Armed at this seq or before: any later event starts the round this one is in.
            // Armed later (another subscriber got further, or asked from beyond the end): the
            // events in between may exist already, so look from here too.
            if state.armed, state.armedAt <= seq { return false }
            state.armedAt = state.armed ? min(state.armedAt, seq) : seq
            state.armed = true
            return true
        }
        guard arm else { return }
        // Registers the recorder's wake-up, unless there is more already.
        let more = recorder.readEncoded(from: seq, limit: 1, maxBytes: 1, onMore: { [weak self] in self?.arrived() })
        if !more.isEmpty || more.finished { arrived() }
    }

    /// The recorder has more (or has ended): start a round, paced.
    private func arrived() {
        let delayNs: UInt64? = state.withLock { state in
            guard !state.roundScheduled else { return nil }
            state.roundScheduled = true
            let pace = min(UInt64(state.subscribers) * Self.paceNsPerSubscriber, Self.maxPaceNs)
            let now = interleave_monotonic_ns()
            let due = state.lastRoundNs + pace
            return due > now ? due - now : 0
        }
        guard let delayNs else { return }
        if delayNs < 1_000_000 {
            round()
        } else {
            Scheduler.shared.after(ms: Int(delayNs / 1_000_000)) { [self] in round() }
        }
    }

    /// Wakes every waiting subscriber; the first to wait again arms the next round.
    private func round() {
        let waiting: [Once] = state.withLock { state in
            state.roundScheduled = false
            state.armed = false
            state.lastRoundNs = interleave_monotonic_ns()
            defer { state.waiting.removeAll(keepingCapacity: true) }
            return Array(state.waiting.values)
        }
        for wake in waiting { wake.fire() }
    }
}

/// A batch of a run's encoded lines, handed to the connection as they are.
private struct SharedLines: StreamBytes {
    let bytes: EncodedBytes
    var count: Int { bytes.count }
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes(body)
    }
}

/// One timer for the heartbeats of every waiting stream. A stream waiting for events
/// holds no timer of its own: with a thousand subscribers, arming and cancelling a
/// timer each time one waits would cost more than sending the events.
private final class Heartbeats: Sendable {
    static let shared = Heartbeats()

    private struct Entry {
        weak var stream: EventStream?
        let everyNs: UInt64
    }

    private struct State {
        var streams: [ObjectIdentifier: Entry] = [:]
        var ticking = false
    }

    private let state = Mutex(State())

    func add(_ stream: EventStream, everyNs: UInt64) {
        let start = state.withLock { state in
            state.streams[ObjectIdentifier(stream)] = Entry(stream: stream, everyNs: everyNs)
            defer { state.ticking = true }
            return !state.ticking
        }
        if start { schedule() }
    }

    func remove(_ stream: EventStream) {
        _ = state.withLock { $0.streams.removeValue(forKey: ObjectIdentifier(stream)) }
    }

    /// Ticks at a quarter of the shortest interval (so a heartbeat comes at most a
    /// quarter late) while any stream is registered.
    private func schedule() {
        let tickMs: Int? = state.withLock { state in
            guard let shortest = state.streams.values.map(\.everyNs).min() else {
                state.ticking = false
                return nil
            }
            return max(Int(shortest / 4_000_000), 5)
        }
        if let tickMs { Scheduler.shared.after(ms: tickMs) { [self] in tick() } }
    }

    private func tick() {
        let streams: [EventStream] = state.withLock { state in
            state.streams = state.streams.filter { $0.value.stream != nil }
            return state.streams.values.compactMap(\.stream)
        }
        let now = interleave_monotonic_ns()
        for stream in streams { stream.beatIfIdle(now: now) }
        schedule()
    }
}

/// Calls its action at most once, however many times it is fired.
final class Once: Sendable {
    private let action: Mutex<(@Sendable () -> Void)?>
    init(_ action: @escaping @Sendable () -> Void) { self.action = Mutex(action) }
    func fire() {
        let action = self.action.withLock { action in
            defer { action = nil }
            return action
        }
        action?()
    }
}
