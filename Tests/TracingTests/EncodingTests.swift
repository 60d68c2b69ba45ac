import JSON
import Testing
import Tracing

@Suite struct EncodingTests {
    let event = TraceEvent(seq: 7, ts: 1234, type: "queue.put", lane: "thread-1", pid: 42, tid: 43, flow: 9,
                           fields: ["queue": "q", "item": "a\"b\n", "size": 2])

    @Test func ndjsonIsOneObjectPerLineEnvelopeFirst() {
        let text = String(decoding: EventEncoding.ndjson.encode([event, event]), as: UTF8.self)
        let line = #"{"seq":7,"ts":1234,"type":"queue.put","lane":"thread-1","pid":42,"tid":43,"flow":9,"queue":"q","item":"a\"b\n","size":2}"#
        #expect(text == line + "\n" + line + "\n")
    }

    @Test func sseFramesCarryTheSeqAsId() {
        let text = String(decoding: EventEncoding.sse.encode([event]), as: UTF8.self)
        #expect(text.hasPrefix("id: 7\ndata: {\"seq\":7,"))
        #expect(text.hasSuffix("}\n\n"))
        #expect(text.split(separator: "\n").count == 2)
    }

    @Test func eventsRoundTripThroughJSON() throws {
        let line = String(decoding: EventEncoding.ndjson.encode([event]), as: UTF8.self)
        let parsed = try JSONParser.parse(String(line.dropLast()))
        #expect(TraceEvent(json: parsed) == event)
    }
}
