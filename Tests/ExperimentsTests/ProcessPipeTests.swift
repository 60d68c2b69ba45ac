import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessPipeTests {
        @Test func oneConsumerGetsEveryMessageWholeThenEOF() throws {
            let (outcome, events) = try ProcessRuns.run("pipe", ["consumers": 1, "items": 10])
            #expect(outcome.status == .completed)
            #expect(outcome.summary["whole"] == 10 && outcome.summary["torn"] == 0 && outcome.summary["missing"] == 0)
            let eofs = ProcessRuns.events(events, "pipe.eof")
            #expect(eofs.count == 1 && eofs[0].pid != getpid())
            let close = events.first { ($0.fields["message"]?.stringValue ?? "").contains("producer closes") }!
            #expect(close.seq < eofs[0].seq)
            for send in ProcessRuns.events(events, "pipe.send") {
                let recv = events.first { $0.type == "pipe.recv" && $0.flow == send.flow }
                #expect(recv != nil && recv!.pid != send.pid && send.seq < recv!.seq)
            }
        }

        @Test func withTheLockEveryMessageArrivesWholeExactlyOnceAndEveryConsumerSeesEOF() throws {
            let (outcome, events) = try ProcessRuns.run("pipe", ["consumers": 3, "items": 40, "lock": true])
            #expect(outcome.summary["whole"] == 40 && outcome.summary["torn"] == 0)
            #expect(outcome.summary["duplicates"] == 0 && outcome.summary["missing"] == 0)
            #expect(outcome.summary["eofSeen"] == 3)
            #expect(ProcessRuns.events(events, "pipe.eof").count == 3)
            let lockPids = Set(events.filter { $0.type == "lock.acquire" }.map(\.pid))
            #expect(lockPids.count == 3)
        }

        @Test func withoutALockConsumersRaceForBytesNoneLostNoneDoubled() throws {
            let (outcome, events) = try ProcessRuns.run("pipe", ["consumers": 2, "items": 200])
            #expect(outcome.status == .completed)
            // The pipe hands every byte to exactly one reader…
            #expect(outcome.summary["bytesReceived"] == outcome.summary["bytesSent"])
            #expect(outcome.summary["eofSeen"] == 2)
            // …but messages are split between the racing readers.
            #expect(outcome.summary["torn"]!.intValue! > 0)
            #expect(events.contains { $0.type == "pipe.recv" && $0.fields["torn"] == true })
        }
    }
}
