import CSystem
import Glibc
import JSON
import Synchronization
import Tracing

/// The child's side of tracing: each event becomes one NDJSON line on fd 3, stamped
/// with this process's pid, the calling thread's tid and microseconds since the
/// run's start on the shared monotonic clock. The parent merges the lines into the
/// run's trace. Lines under PIPE_BUF are written whole by one write(2).
public final class WorkerTrace: Sendable {
    public let startNs: UInt64
    public let fd: Int32
    private let writeLock = Mutex(())
    private let processID = getpid()

    public init(startNs: UInt64, fd: Int32 = 3) {
        self.startNs = startNs
        self.fd = fd
    }

    /// `atNs` stamps the event with a moment captured earlier (e.g. inside a lock),
    /// so hand-offs between processes keep their causal order.
    public func emit(_ type: String, lane: String, flow: Int? = nil, atNs: UInt64? = nil, _ fields: JSONObject = [:]) {
        let ts = Int64((atNs ?? interleave_monotonic_ns()) &- startNs) / 1000
        let event = TraceEvent(seq: 0, ts: ts, type: type, lane: lane, pid: processID, tid: interleave_tid(), cpu: interleave_cpu(),
                               flow: flow, fields: fields)
        writeLine(EventEncoding.ndjson.encode([event]))
    }

    /// A control message for the parent (`{"ctl": …}`), not part of the trace.
    public func send(_ message: JSONObject) {
        var writer = JSONWriter(capacity: 128)
        writer.write(.object(message))
        writer.bytes.append(0x0A)
        writeLine(writer.bytes)
    }

    private func writeLine(_ bytes: [UInt8]) {
        writeLock.withLock { _ in
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
