import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    /// `framing: messages`: length-prefixed frames, as Python's Pipe sends them.
    @Suite struct ProcessPipeFramingTests {
        @Test(arguments: [(1, false), (3, true)])
        func aLoneReaderOrALockedOneGetsEveryFrameWhole(consumers: Int, lock: Bool) throws {
            let (outcome, events) = try ProcessRuns.run("pipe", ["framing": "messages", "consumers": .int(consumers),
                                                                 "lock": .bool(lock), "items": 50])
            #expect(outcome.status == .completed)
            #expect(outcome.summary["whole"] == 50 && outcome.summary["corrupt"] == 0 && outcome.summary["missing"] == 0)
            #expect(outcome.summary["bytesReceived"] == outcome.summary["bytesSent"])
            #expect(events.filter { $0.type == "pipe.eof" }.count == consumers)
            #expect(events.contains { $0.type == "insight" })
        }

        /// Unlocked racing readers: whatever happened is what is reported.
        @Test func racingReadersReportTheFramesTheyCorrupted() throws {
            let (outcome, events) = try ProcessRuns.run("pipe", ["framing": "messages", "consumers": 2, "items": 50])
            #expect(outcome.status == .completed)
            let corrupt = events.filter { $0.type == "pipe.recv" && $0.fields["corrupt"] == true }
            #expect(corrupt.count == outcome.summary["corrupt"]!.intValue!)
            let whole = outcome.summary["whole"]!.intValue!
            #expect(whole + outcome.summary["missing"]!.intValue! == 50)
            let verdict = outcome.summary["verdict"]!.stringValue!
            if corrupt.isEmpty {
                #expect(verdict.contains("nothing prevented it"))
            } else {
                #expect(verdict.contains("\(corrupt.count) corrupted frame") && verdict.contains("\(whole) of 50"))
                #expect(events.contains { $0.type == "insight" && $0.fields["refs"]?.arrayValue?.contains(.int(corrupt[0].seq)) == true })
            }
        }
    }
}
