import HTTPServer
import JSON
import Primitives
import Synchronization
import Tracing

/// A run's events as a live HTTP body: the history from `from` first, then each new
/// batch as it is recorded, then the end of the stream when the run ends. While idle
/// it sends a heartbeat every `heartbeatMs`, which keeps proxies from timing out and
/// makes a vanished client show up as a failed write.
final class EventStream: StreamSource {
    private let recorder: TraceRecorder
    private let encoding: EventEncoding
    private let heartbeatMs: Int

    private struct State {
        var next: Int
        var heartbeatDue = false
        var timer: Int?
        var closed = false
    }

    private let state: Mutex<State>

    init(recorder: TraceRecorder, encoding: EventEncoding, from: Int, heartbeatMs: Int) {
        self.recorder = recorder
        self.encoding = encoding
        self.heartbeatMs = heartbeatMs
        self.state = Mutex(State(next: max(from, 0)))
    }

    func next(wake: @escaping @Sendable () -> Void) -> StreamChunk {
        let (from, heartbeat) = state.withLock { state in
            let heartbeat = state.heartbeatDue
            state.heartbeatDue = false
            if let timer = state.timer { Scheduler.shared.cancel(timer) }
            state.timer = nil
            return (state.next, heartbeat)
        }
        // One wake-up for whichever comes first: new events or the heartbeat.
        let once = Once(wake)
        // The recorder encodes each event once; every stream copies those bytes.
        let batch = recorder.readEncoded(from: from, limit: 4096, maxBytes: 1 << 18, onMore: { once.fire() })
        if !batch.isEmpty {
            state.withLock { $0.next = batch.from + batch.count }
            return .data(encoding.frame(batch))
        }
        if batch.finished { return .end }
        if heartbeat { return .data(encoding.heartbeat) }
        let timer = Scheduler.shared.after(ms: heartbeatMs) { [weak self] in
            self?.state.withLock { $0.heartbeatDue = true }
            once.fire()
        }
        let closed = state.withLock { state in
            state.timer = timer
            return state.closed
        }
        if closed { Scheduler.shared.cancel(timer) }
        return .wait
    }

    func close() {
        let timer = state.withLock { state in
            state.closed = true
            return state.timer
        }
        if let timer { Scheduler.shared.cancel(timer) }
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
