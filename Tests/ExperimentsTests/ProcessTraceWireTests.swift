import Experiments
import Foundation
import JSON
@testable import Primitives
import Testing
import Tracing

extension ProcessExperimentTests {
    /// The child → parent trace path (`TraceWire`): binary frames from the child, merged
    /// by the parent in batches with each event's own pid, tid, cpu and ts.
    @Suite struct ProcessTraceWireTests {
        /// Frames written by a child's `TraceWireWriter`: typed, text, a reference (JSON)
        /// event and a control message, each name sent once before its first use.
        static func frames() -> [UInt8] {
            var writer = TraceWireWriter()
            for value in 0..<40 {
                var fields: JSONObject = ["value": .int(value), "even": .bool(value % 2 == 0)]
                if value % 3 == 0 { fields["note"] = .string("note \"\(value)\" ✓") }
                if value % 7 == 0 { fields["none"] = .null }
                writer.event(ns: Int64(value) * 1_500, pid: 4242, tid: 4243 + Int32(value % 2), cpu: Int32(value % 2),
                             type: value % 5 == 0 ? "tick" : "counter", lane: "worker-1 (pid 4242)",
                             flow: value % 4 == 0 ? value : nil, fields: fields)
            }
            writer.event(ns: 70_000, pid: 4242, tid: 4243, cpu: -1, type: "var.write", lane: "worker-1 (pid 4242)", flow: nil,
                         fields: ["name": "x", "refKey": "k1"])
            writer.control(["ctl": "results", "tasks": [1, 2]])
            return writer.bytes
        }

        /// What a reader hands over from `bytes` fed in pieces of `step` bytes.
        static func read(_ bytes: [UInt8], step: Int, recorder: TraceRecorder) -> [String] {
            var reader = TraceWireReader(pid: 4242, recorder: recorder)
            var got: [String] = []
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + step)
                bytes[offset..<end].withUnsafeBytes { chunk in
                    reader.read(chunk) { frame in
                        switch frame {
                        case .event(let event, let text):
                            got.append("event \(event.ts) \(event.tid) \(event.cpu) \(event.type) \(event.flow ?? -1) "
                                       + "\(event.fields.isEmpty) \(String(decoding: text, as: UTF8.self))")
                        case .json(let event): got.append("json \(event.type) \(event.fields["refKey"]?.stringValue ?? "")")
                        case .control(let object): got.append("control \(JSONValue.object(object).jsonString)")
                        }
                    }
                }
                offset = end
            }
            #expect(!reader.broken)
            return got
        }

        @Test func framesArriveWholeInOrderHoweverThePipeSplitsThem() {
            let recorder = TraceRecorder()
            let bytes = Self.frames()
            let whole = Self.read(bytes, step: bytes.count, recorder: recorder)
            #expect(whole.count == 42)
            #expect(whole[1] == "event 1 4244 1 counter -1 false ", "typed fields, no text")
            #expect(whole[3].contains(#"true ,"value":3,"even":false,"note":"note \"3\" "#), "\(whole[3])")
            #expect(whole[40] == "json var.write k1")
            #expect(whole[41] == #"control {"ctl":"results","tasks":[1,2]}"#)
            for step in [1, 2, 3, 5, 7, 64, 4096] {
                #expect(Self.read(bytes, step: step, recorder: recorder) == whole, "pieces of \(step) bytes")
            }
        }

        @Test func aFrameCutShortByAChildsDeathIsDroppedAndNothingBeforeItIsLost() {
            let recorder = TraceRecorder()
            let bytes = Self.frames()
            let whole = Self.read(bytes, step: bytes.count, recorder: recorder)
            // The last frame (the control message) cut at every byte: the 41 before it arrive.
            var lastStart = 0, offset = 0
            while offset < bytes.count {
                lastStart = offset
                offset += Int(bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) })
            }
            for cut in lastStart..<bytes.count {
                #expect(Self.read(Array(bytes[..<cut]), step: 13, recorder: recorder) == Array(whole.prefix(41)))
            }
        }

        @Test func mergedBatchesDecodeToTheirLinesAndKeepTheirOwnPidTidCpuAndTs() throws {
            let recorder = TraceRecorder()
            var reader = TraceWireReader(pid: 4242, recorder: recorder)
            var events: [MergedEvent] = []
            var text: [UInt8] = []
            let bytes = Self.frames()
            bytes.withUnsafeBytes { chunk in
                reader.read(chunk) { frame in
                    guard case .event(var event, let fieldText) = frame else { return }
                    event.text = text.count..<(text.count + fieldText.count)
                    text += fieldText
                    events.append(event)
                }
            }
            recorder.emit("log", lane: "main")
            recorder.merge(MergeBatch(events: Array(events.prefix(25)), text: text))
            recorder.emit("log", lane: "main")
            recorder.merge(MergeBatch(events: Array(events.dropFirst(25)), text: text))
            recorder.finish()
            // Read as a follower does (no values kept) before anyone asks for `events`.
            let followed = Array(recorder.read(from: 10, limit: 5).events)
            let merged = recorder.events
            #expect(merged.map(\.seq) == Array(0..<42))
            #expect(zip(merged, merged.dropFirst()).allSatisfy { $0.ts <= $1.ts })
            let child = merged.filter { $0.pid == 4242 }
            #expect(child.map { $0.fields["value"]?.intValue } == (0..<40).map { Int?($0) })
            for (value, event) in child.enumerated() {
                #expect(event.lane == "worker-1 (pid 4242)")
                #expect(event.tid == 4243 + Int32(value % 2))
                #expect(event.cpu == Int32(value % 2))
                #expect(event.flow == (value % 4 == 0 ? value : nil))
                #expect(event.type == (value % 5 == 0 ? "tick" : "counter"))
                #expect(event.fields["note"]?.stringValue == (value % 3 == 0 ? "note \"\(value)\" ✓" : nil))
                #expect(event.fields["even"]?.boolValue == (value % 2 == 0))
            }
            // The values decode exactly to the lines every stream sends, and `read` agrees.
            let lines = recorder.readEncoded(from: 0, limit: 100)
            #expect(lines.bytes == EventEncoding.ndjson.encode(merged))
            #expect(lines.lines.map { TraceEvent(json: try! JSONParser.parse(Array($0))) } == merged.map { Optional($0) })
            #expect(followed == Array(merged[10..<15]))
            #expect(Array(recorder.read(from: 10, limit: 5).events) == Array(merged[10..<15]))
        }

        /// A real child: every event of each of its threads arrives with its pid, its
        /// thread's tid and in order; killed while it writes, what arrived is a gapless
        /// prefix of each thread's events and the pipe is closed and the child reaped.
        @Test(arguments: [false, true])
        func aChildsEventsArriveInOrderNoneLostEvenWhenItIsKilledMidWrite(kill killed: Bool) throws {
            let recorder = TraceRecorder()
            let control = RunControl()
            let supervisor = try ProcessSupervisor(recorder: recorder, control: control)
            let main = Lane("main", kind: .main, recorder: recorder)
            let count = killed ? 50_000_000 : 20_000
            let child = try supervisor.spawn(name: "burst", kind: "trace-burst",
                                             arguments: ["--count", String(count), "--threads", "2"], from: main)
            if killed {
                #expect(ProcessRuns.eventually(within: 20) { recorder.count > 5_000 })
                supervisor.kill(child, SIGKILL, from: main)
            }
            supervisor.shutdown(on: main)
            recorder.finish()
            let events = recorder.events.filter { $0.pid == child.pid && $0.type == "counter" }
            #expect(killed ? events.count > 2_000 : events.count == 2 * count)
            let tids = Set(events.map(\.tid))
            #expect(tids.count == 2 && tids.contains(child.pid), "the main thread's tid is the pid; the other has its own")
            for thread in 0..<2 {
                let mine = events.filter { $0.fields["thread"]?.intValue == thread }
                #expect(Set(mine.map(\.tid)).count == 1, "one thread, one tid")
                #expect(mine.map { $0.fields["value"]?.intValue } == (0..<mine.count).map { Int?($0) }, "a gapless prefix, in order")
                #expect(mine.allSatisfy { ($0.fields["note"] != nil) == ($0.fields["value"]!.intValue! % 2 == 1) })
                if !killed { #expect(mine.count == count) }
            }
            #expect(events.allSatisfy { $0.lane == child.lane })
            let all = recorder.events
            #expect(all.map(\.seq) == Array(0..<all.count))
            #expect(zip(all, all.dropFirst()).allSatisfy { $0.ts <= $1.ts })
            let exit = all.first { $0.type == "process.exit" }
            #expect(killed ? exit?.fields["signal"] == "SIGKILL" : exit?.fields["exitCode"] == 0)
            #expect(!ProcessRuns.isRunning(child.pid))
        }
    }
}
