import JSON
import Testing
@testable import Tracing

/// The encoded log is the one copy of a run's lines that every subscriber reads: reads
/// must hand out exactly the lines asked for, never split one, and stay valid however
/// much is appended after them.
@Suite struct EncodedLogTests {
    private static func line(_ seq: Int, padding: Int = 0) -> [UInt8] {
        Array("{\"seq\":\(seq),\"pad\":\"\(String(repeating: "x", count: padding))\"}\n".utf8)
    }

    private static func append(_ log: inout EncodedLog, _ lines: [[UInt8]]) {
        log.append { line in
            for bytes in lines { line { $0.bytes.append(contentsOf: bytes) } }
        }
    }

    @Test func readsReturnExactlyTheLinesAskedForAcrossSegments() {
        var log = EncodedLog()
        // ~1 KiB lines: a 1 MiB segment holds about a thousand, so 3,000 span three or four.
        let lines = (0..<3_000).map { Self.line($0, padding: 1_000) }
        Self.append(&log, Array(lines[0..<1_234]))
        Self.append(&log, Array(lines[1_234...]))
        #expect(log.count == 3_000)
        #expect(log.byteCount == lines.reduce(0) { $0 + $1.count })
        var seq = 0
        var shortReads = 0
        while seq < log.count {
            let (bytes, ends) = log.read(from: seq, limit: 700, maxBytes: 1 << 30)
            #expect(!ends.isEmpty && ends.count <= 700)
            #expect(bytes.array == Array(lines[seq..<(seq + ends.count)].joined()), "lines \(seq)..< \(seq + ends.count)")
            #expect(ends.last == bytes.count)
            seq += ends.count
            if ends.count < 700, seq < 3_000 { shortReads += 1 }
        }
        #expect(shortReads >= 2, "a read stops where its segment ends: lines are never split across segments")
        #expect(log.read(from: 3_000, limit: 10, maxBytes: 100).lineEnds.isEmpty)
    }

    @Test func maxBytesBoundsAReadButAlwaysGivesOneLine() {
        var log = EncodedLog()
        Self.append(&log, (0..<10).map { Self.line($0, padding: 100) })
        let one = log.read(from: 3, limit: 10, maxBytes: 1)
        #expect(one.lineEnds.count == 1 && one.bytes.array == Self.line(3, padding: 100))
        let some = log.read(from: 0, limit: 10, maxBytes: 3 * Self.line(0, padding: 100).count)
        #expect(some.lineEnds.count == 3)
    }

    @Test func aLineLargerThanASegmentGetsOneOfItsOwn() {
        var log = EncodedLog()
        let big = Self.line(1, padding: EncodedLog.segmentBytes + 10)
        Self.append(&log, [Self.line(0), big, Self.line(2)])
        #expect(log.read(from: 0, limit: 10, maxBytes: .max).bytes.array == Self.line(0))
        #expect(log.read(from: 1, limit: 10, maxBytes: .max).bytes.array == big)
        #expect(log.read(from: 2, limit: 10, maxBytes: .max).bytes.array == Self.line(2))
    }

    @Test func bytesHandedOutStayTheSameWhileMoreIsAppended() {
        var log = EncodedLog()
        Self.append(&log, [Self.line(0), Self.line(1)])
        let early = log.read(from: 0, limit: 10, maxBytes: .max).bytes
        let copy = early.array
        for round in 0..<50 { Self.append(&log, (0..<100).map { Self.line(2 + round * 100 + $0, padding: 300) }) }
        #expect(early.array == copy)
        #expect(log.count == 5_002)
    }

    @Test func everyReaderOfALineSharesOneCopyOfIt() {
        var log = EncodedLog()
        Self.append(&log, (0..<5).map { Self.line($0) })
        let first = log.read(from: 1, limit: 2, maxBytes: .max).bytes
        let second = log.read(from: 1, limit: 2, maxBytes: .max).bytes
        let a = first.withUnsafeBytes { $0.baseAddress }, b = second.withUnsafeBytes { $0.baseAddress }
        #expect(a != nil && a == b, "two reads of the same lines point at the same memory")
    }
}
