import JSON
@testable import Primitives
import Testing
import Tracing

/// The sched sampler reads the trace's encoded lines, not decoded events: it finds each
/// event's type and lane, and a wait's few fields, in the canonical line itself.
@Suite struct SchedSamplerLineTests {
    /// Every line the recorder encodes, fast path and slow, each as its own bytes.
    func lines(_ emit: (TraceRecorder) -> Void) -> [[UInt8]] {
        let recorder = TraceRecorder()
        emit(recorder)
        recorder.finish()
        let batch = recorder.readEncoded(from: 0, limit: 1000)
        let bytes = batch.bytes
        var start = 0
        return batch.lineEnds.map { end in
            defer { start = end }
            return Array(bytes[start..<(end - 1)])
        }
    }

    func typeAndLane(_ line: [UInt8]) -> (String, String)? {
        line.withUnsafeBytes { raw in
            EventLine.typeAndLane(raw).map { (String(decoding: $0.0, as: UTF8.self), String(decoding: $0.1, as: UTF8.self)) }
        }
    }

    @Test func findsTypeAndLaneOfEveryCanonicalLine() {
        let encoded = lines { recorder in
            recorder.emit(TraceName("task.start"), lane: TraceName("worker-1"), flow: 7, TraceFields(TraceName("task"), .int(3)))
            recorder.emit("lock.wait", lane: "thread-2", ["lock": "a", "heldBy": "main"])
            recorder.emit("io.begin", lane: "main", ["op": "sleep"])
            recorder.emit("barrier.wait", lane: "w 3", ["last": true, "round": 1])
            recorder.emit("queue.full", lane: "p", ["waiting": false])
            recorder.emit("log", lane: "odd \"lane\"", ["message": "x"])
        }
        #expect(typeAndLane(encoded[0])! == ("task.start", "worker-1"))
        #expect(typeAndLane(encoded[1])! == ("lock.wait", "thread-2"))
        #expect(typeAndLane(encoded[2])! == ("io.begin", "main"))
        #expect(typeAndLane(encoded[3])! == ("barrier.wait", "w 3"))
        // A lane with an escape is left to the full parse.
        #expect(typeAndLane(encoded[5]) == nil)
        encoded[2].withUnsafeBytes { #expect(EventLine.string($0, after: #","op":""#) == "sleep") }
        encoded[3].withUnsafeBytes { #expect(EventLine.contains($0, #","last":true"#)) }
        encoded[4].withUnsafeBytes { #expect(!EventLine.contains($0, #","waiting":true"#)) }
        // A field's pattern is not found inside a string value (its quotes are escaped there).
        let tricky = lines { $0.emit("io.begin", lane: "main", ["what": ",\"op\":\"sleep\"", "op": "connect"]) }
        tricky[0].withUnsafeBytes { #expect(EventLine.string($0, after: #","op":""#) == "connect") }
        #expect(typeAndLane(Array("not json".utf8)) == nil)
    }
}
