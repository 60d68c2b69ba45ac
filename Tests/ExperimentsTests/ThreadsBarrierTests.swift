import Experiments
import JSON
import Testing
import Tracing

@Suite struct ThreadsBarrierTests {
    @Test func nobodyPassesARoundBeforeTheLastPartyArrives() throws {
        let (outcome, events) = try runThreadsExperiment("barrier", ["parties": 4, "rounds": 3, "workMs": 2])
        #expect(outcome.status == .completed)
        for round in 0..<3 {
            let waits = events.of("barrier.wait").filter { $0.int("round") == round }
            let passes = events.of("barrier.pass").filter { $0.int("round") == round }
            #expect(waits.count == 4 && passes.count == 4)
            let lastWait = waits.map(\.seq).max()!
            #expect(passes.allSatisfy { $0.seq > lastWait })
            let last = waits.first { $0.fields["last"] == true }
            #expect(last?.seq == lastWait && passes.allSatisfy { $0.flow == last?.flow })
        }
    }
}
