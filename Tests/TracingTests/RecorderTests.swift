import JSON
import Synchronization
import Testing
@testable import Tracing
import Foundation

@Suite struct RecorderTests {
    @Test func eightConcurrentWritersGetGaplessSeqOrderedTsAndLoseNothing() {
        let recorder = TraceRecorder()
        let writers = 8, perWriter = 5_000
        let threads = (0..<writers).map { writer in
            Thread {
                for i in 0..<perWriter {
                    recorder.emit("counter", lane: "thread-\(writer)", ["name": "i", "value": .int(i)])
                }
            }
        }
        let done = Atomic<Int>(0)
        for thread in threads { thread.start() }
        // Foundation threads cannot be joined: wait on the recorder's own count.
        while recorder.count < writers * perWriter { Thread.sleep(forTimeInterval: 0.001) }
        _ = done
        let events = recorder.events
        #expect(events.count == writers * perWriter)
        #expect(events.map(\.seq) == Array(0..<events.count))
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.ts <= $1.ts })
        for writer in 0..<writers {
            let values = events.filter { $0.lane == "thread-\(writer)" }.compactMap { $0.fields["value"]?.intValue }
            #expect(values == Array(0..<perWriter), "writer \(writer)'s events kept their order")
        }
        #expect(Set(events.map(\.tid)).count == writers)
        #expect(recorder.cost["dropped"] == 0)
    }

    @Test func capacityCountsDroppedEvents() {
        let recorder = TraceRecorder(capacity: 10)
        for _ in 0..<15 { recorder.emit("log", lane: "main") }
        #expect(recorder.count == 10)
        #expect(recorder.cost["dropped"] == 5)
    }

    @Test func aLateReaderGetsTheHistoryThenIsWokenForMore() {
        let recorder = TraceRecorder()
        for i in 0..<3 { recorder.emit("log", lane: "main", ["message": .string("\(i)")]) }
        let history = recorder.read(from: 0, limit: 100)
        #expect(history.events.map(\.seq) == [0, 1, 2])
        #expect(!history.finished)
        let woken = Atomic<Int>(0)
        let empty = recorder.read(from: 3, limit: 100, onMore: { woken.add(1, ordering: .relaxed) })
        #expect(empty.events.isEmpty)
        #expect(woken.load(ordering: .relaxed) == 0)
        recorder.emit("log", lane: "main")
        #expect(woken.load(ordering: .relaxed) == 1)
        recorder.finish()
        #expect(recorder.read(from: 4, limit: 100).finished)
        #expect(recorder.emit("log", lane: "main") == nil, "a finished trace accepts nothing")
    }

    @Test func deferredWakeUpsAreCoalescedOffTheEmittingThread() {
        let handedOver = Mutex<[@Sendable () -> Void]>([])
        let recorder = TraceRecorder(deliverWake: { wake in handedOver.withLock { $0.append(wake) } })
        let woken = Atomic<Int>(0)
        _ = recorder.read(from: 0, limit: 10, onMore: { woken.add(1, ordering: .relaxed) })
        for _ in 0..<5 { recorder.emit("log", lane: "main") }
        #expect(woken.load(ordering: .relaxed) == 0, "the emitting thread woke nobody itself")
        #expect(handedOver.withLock { $0.count } == 1, "five emits, one hand-off")
        handedOver.withLock { $0 }.first?()
        #expect(woken.load(ordering: .relaxed) == 1)
        // A subscriber that waits again gets a fresh hand-off on the next emit.
        _ = recorder.read(from: 5, limit: 10, onMore: { woken.add(1, ordering: .relaxed) })
        recorder.emit("log", lane: "main")
        #expect(handedOver.withLock { $0.count } == 2)
    }

    @Test func encodedLinesAreTheEventsCanonicalNDJSONWithTheirCPU() {
        let recorder = TraceRecorder()
        for i in 0..<50 { recorder.emit("counter", lane: "main", ["name": "i", "value": .int(i)]) }
        let whole = recorder.readEncoded(from: 0, limit: 1000)
        #expect(whole.count == 50)
        #expect(whole.bytes == EventEncoding.ndjson.encode(recorder.events), "byte-identical to encoding the events")
        #expect(recorder.events.allSatisfy { $0.cpu != nil }, "every event says which CPU emitted it")
        // A later, partial read returns the same bytes for the same seqs.
        let part = recorder.readEncoded(from: 10, limit: 5)
        #expect(part.from == 10 && part.count == 5)
        #expect(part.bytes == Array(whole.bytes[whole.lineEnds[9]..<whole.lineEnds[14]]))
        #expect(EventEncoding.sse.frame(part) == EventEncoding.sse.encode(recorder.events[10..<15]))
    }

    @Test func readEncodedWaitsThenWakesAndReportsTheEnd() {
        let recorder = TraceRecorder()
        recorder.emit("log", lane: "main")
        let woken = Atomic<Int>(0)
        let empty = recorder.readEncoded(from: 1, limit: 10, onMore: { woken.add(1, ordering: .relaxed) })
        #expect(empty.isEmpty && !empty.finished)
        recorder.emit("log", lane: "main")
        #expect(woken.load(ordering: .relaxed) == 1)
        recorder.finish()
        let rest = recorder.readEncoded(from: 1, limit: 10)
        #expect(rest.count == 1 && rest.finished)
    }

    /// Seq 0 and 2...4 emitted by this thread on lane thread-b, seq 1 by writer A on
    /// thread-a, which is held between taking its ticket and publishing — as if preempted —
    /// until `resume` is signalled.
    private func recorderWithAHeldWriter() -> (recorder: TraceRecorder, resume: Handshake) {
        let paused = Handshake(), resume = Handshake()
        let recorder = TraceRecorder(afterTicket: { seq in
            guard seq == 1 else { return }
            paused.signal()
            resume.wait()
        })
        let type = TraceName("step"), laneA = TraceName("thread-a"), laneB = TraceName("thread-b")
        let n = TraceName("n")
        recorder.emit(type, lane: laneB, TraceFields(n, .int(0)))
        let writerA = Thread { recorder.emit(type, lane: laneA, TraceFields(n, .int(1))) }
        writerA.start()
        paused.wait()
        for i in 2...4 { recorder.emit(type, lane: laneB, TraceFields(n, .int(i))) }
        return (recorder, resume)
    }

    @Test func aWriterPreemptedBetweenTicketAndPublishHoldsLaterEventsBackUntilItResumes() {
        // Writer A takes seq 1 and is held right there — as if preempted — while this
        // thread emits seqs 2...4 from its own buffer. Readers must see 0 only, then,
        // once A resumes, 1...4: gapless, ts non-decreasing, each seq exactly once.
        let (recorder, resume) = recorderWithAHeldWriter()

        let held = recorder.readEncoded(from: 0, limit: 100)
        #expect(held.count == 1, "seq 1 is not published, so 2...4 wait behind it")
        let woken = Atomic<Int>(0)
        let empty = recorder.readEncoded(from: 1, limit: 100, onMore: { woken.add(1, ordering: .relaxed) })
        #expect(empty.isEmpty)
        #expect(woken.load(ordering: .relaxed) == 0)

        resume.signal()
        while recorder.count < 5 { Thread.sleep(forTimeInterval: 0.001) }
        #expect(woken.load(ordering: .relaxed) == 1, "the resumed writer woke the waiting reader")
        let events = recorder.events
        #expect(events.map(\.seq) == [0, 1, 2, 3, 4])
        #expect(events.map { $0.fields["n"] } == (0...4).map { JSONValue.int($0) })
        #expect(events.map(\.lane) == ["thread-b", "thread-a", "thread-b", "thread-b", "thread-b"])
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.ts <= $1.ts })
        #expect(Set(events.map(\.tid)).count == 2)
    }

    @Test func eventsReadWhileAWriterIsHeldWaitForItAndMissNothing() {
        // Writer A takes seq 1 and is held; this thread publishes 2...4. A reader of
        // `events` (as a run reading its own trace) must get all of 0...4, so it waits for A:
        // it is started before A is let go and can only return once A has published.
        let (recorder, resume) = recorderWithAHeldWriter()
        let reading = Handshake()
        let seen = Mutex<[Int]?>(nil)
        let reader = Thread {
            reading.signal()
            let seqs = recorder.events.map(\.seq)
            seen.withLock { $0 = seqs }
        }
        reader.start()
        reading.wait()
        resume.signal()
        while seen.withLock({ $0 }) == nil { Thread.sleep(forTimeInterval: 0.001) }
        #expect(seen.withLock { $0 } == [0, 1, 2, 3, 4])
    }

    @Test func aRecordIsOneCacheLineAndKeepsItsNsCPUAndSeq() {
        #expect(MemoryLayout<Record>.size == 64 && MemoryLayout<Record>.stride == 64)
        let fields = TraceFields(TraceName("a"), .int(-5), TraceName("b"), .bool(true), TraceName("c"), .name(TraceName("d")))
        for (ns, cpu) in [(Int64(0), Int32(0)), (123_456_789_012, 3), (-4_000, -1), (1 << 46, 65_534)] {
            let record = Record(seq: 2_000_000_000, ns: ns, cpu: cpu, type: 7, lane: 9, flow: Record.noFlow, fields: fields)
            #expect(record.ns == ns && record.cpu == (cpu == 65_534 ? -2 : cpu) && record.seq == 2_000_000_000)
            #expect(record.fields.object == fields.object && record.type == 7 && record.lane == 9)
        }
    }

    @Test func writersCrossingChunksWhileReadersMergeLoseNothing() {
        // Four writers each fill several record chunks while a reader merges as they go,
        // so chunks are read, recycled and taken again under the writers' feet.
        let recorder = TraceRecorder()
        let writers = 4, perWriter = RecordChunks.records * 3 + 17
        let type = TraceName("counter"), value = TraceName("value")
        let lanes = (0..<writers).map { TraceName("thread-\($0)") }
        let threads = (0..<writers).map { writer in
            Thread { for i in 0..<perWriter { recorder.emit(type, lane: lanes[writer], TraceFields(value, .int(i))) } }
        }
        for thread in threads { thread.start() }
        var next = 0
        while next < writers * perWriter {
            let batch = recorder.readEncoded(from: next, limit: 1000)
            next += batch.count
            if batch.isEmpty { sched_yield() }
        }
        recorder.finish()
        let events = recorder.events
        #expect(events.map(\.seq) == Array(0..<(writers * perWriter)))
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.ts <= $1.ts })
        for writer in 0..<writers {
            let values = events.filter { $0.lane == "thread-\(writer)" }.compactMap { $0.fields["value"]?.intValue }
            #expect(values == Array(0..<perWriter))
        }
    }

    @Test func costMedianIsInterpolatedAcrossTheClocksStep() {
        var counts = [Int](repeating: 0, count: CostHistogram.buckets)
        // A clock ticking in 10 ns steps: 60 readings of 30 and 40 of 40 — a typical 34 ns.
        counts[30] = 60
        counts[40] = 40
        #expect(abs(CostHistogram.median(counts) - 33.3) < 0.1)
        counts = [Int](repeating: 0, count: CostHistogram.buckets)
        counts[35] = 1
        #expect(CostHistogram.median(counts) == 35, "a 1 ns clock: one reading is its own median")
        #expect(CostHistogram.median([Int](repeating: 0, count: CostHistogram.buckets)) == 0)
    }

    @Test func typedEventsEncodeExactlyAsTheirJSONObjectTwins() {
        let recorder = TraceRecorder()
        let lane = Lane("worker-1", kind: .thread, recorder: recorder)
        lane.emit(TraceName("lock.acquire"), flow: 7, TraceFields(TraceName("lock"), .name(TraceName("fork-1")),
                                                                 TraceName("depth"), .int(2), TraceName("held"), .bool(true)))
        lane.emit("lock.acquire", flow: 7, ["lock": "fork-1", "depth": 2, "held": true])
        let events = recorder.events
        #expect(events.count == 2)
        var typed = events[0], object = events[1]
        typed.seq = 0; object.seq = 0; typed.ts = 0; object.ts = 0
        #expect(typed == object)
        let lines = recorder.readEncoded(from: 0, limit: 2).lines.map { String(decoding: $0, as: UTF8.self) }
        #expect(lines[0].replacingOccurrences(of: #""seq":0"#, with: #""seq":1"#).split(separator: ",").dropFirst(2)
                == lines[1].split(separator: ",").dropFirst(2))
    }

    /// Typed lines are written in place into the log, in room reserved from their names'
    /// lengths: long, escaped names and extreme integers still make exactly the line their
    /// decoded value encodes to.
    @Test func typedLinesWithLongNamesAndExtremeIntegersAreTheirValuesLines() {
        let recorder = TraceRecorder()
        let long = TraceName(String(repeating: "é\"\\\u{01}", count: 3_000))
        let type = TraceName("t" + String(repeating: "x", count: 5_000))
        for flow in [Int.min + 1, -1, 0, Int.max] {
            recorder.emit(type, lane: long, flow: flow,
                          TraceFields(long, .name(long), TraceName("min"), .int(Int.min), TraceName("max"), .int(Int.max)))
            recorder.emit(TraceName("b"), lane: TraceName("l"), TraceFields(TraceName("n"), .null, long, .bool(false)))
        }
        let events = recorder.events
        #expect(events.count == 8)
        #expect(recorder.readEncoded(from: 0, limit: 100, maxBytes: .max).bytes == EventEncoding.ndjson.encode(events))
        #expect(events[0].fields["min"] == .int(Int.min) && events[0].flow == Int.min + 1 && events[6].flow == Int.max)
    }
}

/// A one-shot handshake between two threads (no sleeps).
final class Handshake: @unchecked Sendable {
    private let condition = NSCondition()
    private let state = Mutex(false)
    func signal() {
        condition.lock()
        state.withLock { $0 = true }
        condition.signal()
        condition.unlock()
    }
    func wait() {
        condition.lock()
        while !state.withLock({ $0 }) { condition.wait() }
        condition.unlock()
    }
}
