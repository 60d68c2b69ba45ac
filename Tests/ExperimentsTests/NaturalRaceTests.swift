import Experiments
import Foundation
import JSON
import Testing
import Tracing

/// `interleaving: forced | natural`. Forced loses the most on every run by construction;
/// natural loses whatever this run's scheduling made it lose, and says so. Natural runs
/// cannot be predicted, so the tests check that what is reported is what happened: the
/// marked writes, the summary's figures and the verdict agree with each other.
@Suite struct NaturalRaceTests {
    @Test func forcedRaceConditionLosesTheMaximumAndMarksEveryOverwrite() throws {
        let (outcome, events) = try runThreadsExperiment("race-condition", ["workers": 4, "increments": 5, "tracedRounds": 5])
        #expect(outcome.summary["lost"] == 15)
        #expect(outcome.summary["interleaving"] == "forced")
        let writes = events.of("var.write")
        #expect(writes.count == 20 && events.of("var.read").count == 20)
        // Each round: the first write lands, the other three overwrite the one before.
        let marked = writes.filter { $0.fields["lost"] == true }
        #expect(marked.count == 15)
        for write in marked {
            let target = try #require(write.int("overwrote"))
            let overwritten = try #require(events.first { $0.seq == target })
            #expect(overwritten.type == "var.write" && overwritten.lane != write.lane && overwritten.seq < write.seq)
        }
        #expect(outcome.summary["verdict"]!.stringValue!.contains("forced interleaving"))
        let insight = try #require(events.of("insight").first { $0.string("kind") == "problem" })
        #expect(insight.fields["refs"]!.arrayValue!.contains(.int(marked[0].seq)))
    }

    @Test(arguments: [1, 2, 3])
    func naturalRaceConditionReportsWhatHappened(_ attempt: Int) throws {
        let (outcome, events) = try runThreadsExperiment("race-condition", [
            "workers": 4, "increments": 200, "tracedRounds": 200, "interleaving": "natural",
        ])
        #expect(outcome.status == .completed)
        let lost = outcome.summary["lost"]!.intValue!
        #expect(lost == 800 - outcome.summary["final"]!.intValue!)
        let marked = events.of("var.write").filter { $0.fields["lost"] == true }
        #expect(marked.count == outcome.summary["overwrites"]!.intValue!)
        #expect((lost > 0) == !marked.isEmpty)
        let verdict = outcome.summary["verdict"]!.stringValue!
        #expect(verdict.contains("natural interleaving") && verdict.contains("this run"))
        #expect(lost == 0 ? verdict.contains("lost no update") : verdict.contains("lost \(lost) of 800"))
        #expect(!events.of("insight").isEmpty)
    }
}

extension ProcessExperimentTests {
    @Suite struct SharedMemoryInterleavingTests {
        @Test(arguments: ["forced", "natural"])
        func sharedMemoryMarksLostWritesAcrossProcesses(_ interleaving: String) throws {
            let (outcome, events) = try ProcessRuns.run("shared-memory", [
                "processes": 4, "decrements": 20, "interleaving": .string(interleaving),
            ])
            #expect(outcome.status == .completed)
            let lost = outcome.summary["lost"]!.intValue!
            let marked = events.filter { $0.type == "var.write" && $0.fields["lost"] == true }
            #expect(events.filter { $0.type == "var.write" }.count == 80)
            #expect(marked.count == outcome.summary["overwrites"]!.intValue!)
            #expect((lost > 0) == !marked.isEmpty)
            if interleaving == "forced" { #expect(lost == 60) }
            // Every resolved `overwrote` names another process's earlier write.
            for write in marked {
                guard let target = write.fields["overwrote"]?.intValue else { continue }
                let overwritten = try #require(events.first { $0.seq == target })
                #expect(overwritten.type == "var.write" && overwritten.seq < write.seq)
            }
            let verdict = outcome.summary["verdict"]!.stringValue!
            #expect(lost == 0 || verdict.contains("\(interleaving) interleaving"))
            #expect(lost == 0 || verdict.contains("lost \(lost) of 80"))
            #expect(!events.filter { $0.type == "insight" }.isEmpty)
        }
    }
}
