import Experiments
import JSON
import Testing
import Tracing

/// Serialized: two runs of real-time jobs pinned to the same CPU would take turns with
/// each other and spoil each other's order.
@Suite(.serialized) struct OSSchedulingTests {
    static let jobs = "0:120,10:60,20:20,30:40"

    /// Jobs in the order their task.end appears in the trace.
    func completionOrder(_ policy: String) throws -> (RunOutcome, [String]) {
        let (outcome, events) = try runThreadsExperiment("scheduling", ["policy": .string(policy), "jobs": .string(Self.jobs)])
        #expect(outcome.status == .completed)
        #expect(events.everyLaneEnded)
        #expect(!events.of("insight").isEmpty)
        let order = events.of("task.end").map(\.lane)
        #expect(outcome.summary["completionOrder"]?.arrayValue?.compactMap(\.stringValue) == order)
        return (outcome, order)
    }

    @Test func fcfsRunsJobsInArrivalOrderToCompletion() throws {
        let (outcome, order) = try completionOrder("fcfs")
        #expect(order == ["job-1", "job-2", "job-3", "job-4"])
        // Run to completion: no job starts before the one ahead of it has ended.
        let jobs = try #require(outcome.summary["jobs"]?.arrayValue)
        let spans = jobs.compactMap { ($0["startMs"]?.doubleValue ?? 0, $0["completionMs"]?.doubleValue ?? 0) }
        for (a, b) in zip(spans, spans.dropFirst()) { #expect(b.0 >= a.1 - 0.5) }
    }

    @Test func sjfRunsTheShortestWaitingJobNext() throws {
        // job-1 has the CPU alone at first; then job-3 (20), job-4 (40), job-2 (60).
        let (_, order) = try completionOrder("sjf")
        #expect(order == ["job-1", "job-3", "job-4", "job-2"])
    }

    @Test func rrTakesTheCpuAwayAndJobsAlternate() throws {
        // The longest job arrived first but finishes last: it was preempted at the end of
        // its slice and the others ran in between.
        let (outcome, order) = try completionOrder("rr")
        #expect(order.last == "job-1" && order.first != "job-1")
        if outcome.summary["emulated"] == false { #expect((outcome.summary["rrSliceMs"]?.doubleValue ?? 0) > 0) }
    }

    @Test func mlfqIsALabelledEmulation() throws {
        let (outcome, order) = try completionOrder("mlfq")
        #expect(outcome.summary["emulated"] == true)
        #expect(outcome.summary["emulation"]?.stringValue?.contains("emulated") == true)
        #expect(order.last == "job-1")
    }

    @Test(arguments: ["", "0:10,abc", "0:0", "0:401", "3000:10", "0:300,0:300,0:301", "1:1,1:1,1:1,1:1,1:1,1:1,1:1,1:1,1:1"])
    func badJobListsAreRefusedNamingTheForm(_ jobs: String) throws {
        let experiment = try #require(Catalog.experiment("scheduling"))
        #expect(throws: ParameterError.self) { try experiment.resolve(["jobs": .string(jobs)]) }
        do { _ = try experiment.resolve(["jobs": .string(jobs)]) } catch {
            #expect(error.parameter == "jobs" && error.detail.contains("arrivalMs:burstMs"))
        }
    }
}
