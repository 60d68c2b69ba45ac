import CSystem
import Glibc
import JSON
import Synchronization
import Tracing

/// The child's side of tracing: each event becomes one binary frame on fd 3 (see
/// `TraceWire`), stamped with this process's pid, the calling thread's tid and cpu and
/// nanoseconds since the run's start on the shared monotonic clock. The parent merges
/// the frames into the run's trace. Frames under PIPE_BUF are written whole by one write(2).
///
/// Inside `batched`, frames are gathered and written a batch at a time (at most 32 KB
/// or 2 ms of events per write, and all of them when the batch ends), so a worker
/// running many short tasks costs one write(2) per batch instead of one per event;
/// each event keeps the ts it was stamped with when it happened.
public final class WorkerTrace: Sendable {
    public let startNs: UInt64
    public let fd: Int32
    private struct Batch {
        var depth = 0
        /// Frames not yet written.
        var wire = TraceWireWriter()
        var firstNs: UInt64 = 0
    }
    private let writeLock = Mutex(Batch())
    private let processID = getpid()
    static let batchBytes = 32 * 1024
    static let batchNs: UInt64 = 2_000_000

    public init(startNs: UInt64, fd: Int32 = 3) {
        self.startNs = startNs
        self.fd = fd
    }

    /// `atNs` stamps the event with a moment captured earlier (e.g. inside a lock),
    /// so hand-offs between processes keep their causal order.
    public func emit(_ type: String, lane: String, flow: Int? = nil, atNs: UInt64? = nil, _ fields: JSONObject = [:]) {
        let ns = Int64(bitPattern: (atNs ?? interleave_monotonic_ns()) &- startNs)
        let (tid, cpu) = (interleave_tid(), interleave_cpu())
        addFrames { $0.event(ns: ns, pid: processID, tid: tid, cpu: cpu, type: type, lane: lane, flow: flow, fields: fields) }
    }

    /// A control message for the parent (`{"ctl": …}`), not part of the trace.
    public func send(_ message: JSONObject) {
        addFrames { $0.control(message) }
    }

    /// Runs `body` with this process's lines batched (see the type's note); nests.
    public func batched<T>(_ body: () throws -> T) rethrows -> T {
        writeLock.withLock { $0.depth += 1 }
        defer {
            writeLock.withLock { batch in
                batch.depth -= 1
                if batch.depth == 0 { flush(&batch) }
            }
        }
        return try body()
    }

    /// Writes what the current batch holds now (call before blocking, so the parent
    /// sees the events that led up to the wait while it lasts).
    public func flushBatch() {
        writeLock.withLock { flush(&$0) }
    }

    /// Adds frames with `body` (names first, when new), then writes them unless batching.
    private func addFrames(_ body: (inout TraceWireWriter) -> Void) {
        writeLock.withLock { batch in
            let wasEmpty = batch.wire.bytes.isEmpty
            body(&batch.wire)
            guard batch.depth > 0 else { return flush(&batch) }
            let now = interleave_monotonic_ns()
            if wasEmpty { batch.firstNs = now }
            if batch.wire.bytes.count >= Self.batchBytes || now &- batch.firstNs >= Self.batchNs { flush(&batch) }
        }
    }

    private func flush(_ batch: inout Batch) {
        guard !batch.wire.bytes.isEmpty else { return }
        writeAll(batch.wire.bytes)
        batch.wire.bytes.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 && errno == EINTR { continue }
            // The parent is gone: nobody can see this process any more.
            if written <= 0 { _exit(3) }
            offset += written
        }
    }
}

/// A lane inside a worker process: the same calls as `Lane`, written to the parent.
public struct WorkerLane: Sendable {
    public let name: String
    public let trace: WorkerTrace

    public init(_ name: String, trace: WorkerTrace) {
        self.name = name
        self.trace = trace
    }

    public func emit(_ type: String, flow: Int? = nil, atNs: UInt64? = nil, _ fields: JSONObject = [:]) {
        trace.emit(type, lane: name, flow: flow, atNs: atNs, fields)
    }

    public func log(_ message: String) { emit("log", ["message": .string(message)]) }
    public func counter(_ name: String, _ value: Int) { emit("counter", ["name": .string(name), "value": .int(value)]) }
    public func start(kind: Lane.Kind = .process) { emit("lane.start", ["kind": .string(kind.rawValue)]) }
    public func end() { emit("lane.end") }
}
