import JSON

/// An actor on the timeline (a thread, a process, a task): the name every event it
/// emits carries. Lanes are cheap values; make one per actor.
public struct Lane: Sendable {
    public enum Kind: String, Sendable {
        case main, thread, process, task, coroutine
    }

    public let name: String
    /// `name`, interned for the tracer's fast path.
    public let id: TraceName
    public let kind: Kind
    public let recorder: TraceRecorder

    public init(_ name: String, kind: Kind, recorder: TraceRecorder) {
        self.name = name
        self.id = TraceName(name)
        self.kind = kind
        self.recorder = recorder
    }

    /// The fast path: a typed payload of up to three fields, no allocation, no lock.
    @discardableResult @inline(__always)
    public func emit(_ type: TraceName, flow: Int? = nil, _ fields: TraceFields = TraceFields()) -> Int? {
        recorder.emit(type, lane: id, flow: flow, fields)
    }

    @discardableResult
    public func emit(_ type: String, flow: Int? = nil, _ fields: JSONObject = [:]) -> Int? {
        recorder.emit(type, lane: name, flow: flow, fields)
    }

    /// `log {message}`: what the Python original would `print`.
    public func log(_ message: String) { emit("log", ["message": .string(message)]) }

    /// `counter {name, value}`: a value over time (queue depth, permits, a shared counter).
    public func counter(_ name: String, _ value: Int) {
        emit("counter", ["name": .string(name), "value": .int(value)])
    }

    public func start() { emit("lane.start", ["kind": .string(kind.rawValue)]) }
    public func end() { emit("lane.end") }
}
