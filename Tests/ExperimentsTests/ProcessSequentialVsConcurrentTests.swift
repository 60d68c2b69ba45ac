import Experiments
import Foundation
import JSON
import Testing
import Tracing

extension ProcessExperimentTests {
    @Suite struct ProcessSequentialVsConcurrentTests {
        /// The span of a lane's sleeps: first io.begin to last io.end.
        func span(_ events: [TraceEvent], lanePrefix: String) -> ClosedRange<Int64>? {
            let sleeps = events.filter { $0.lane.hasPrefix(lanePrefix) && ($0.type == "io.begin" || $0.type == "io.end") }
            guard let first = sleeps.first, let last = sleeps.last else { return nil }
            return first.ts...last.ts
        }

        @Test func theSameTwoJobsOverlapAsThreadsAndAsProcessesButNotInSequence() throws {
            let (outcome, events) = try ProcessRuns.run("sequential-vs-concurrent", ["taskMs": 50, "steps": 2])
            #expect(outcome.status == .completed)
            // One after another: at least 2 jobs × 2 steps × 50 ms.
            #expect(outcome.summary["sequentialMs"]!.doubleValue! >= 200)
            // Side by side: the two threads' sleeps overlap in time (a thread starts in
            // microseconds, far inside a 100 ms job).
            let threadA = span(events, lanePrefix: "thread-a"), threadB = span(events, lanePrefix: "thread-b")
            #expect(threadA != nil && threadB != nil && threadA!.overlaps(threadB!))
            // Two processes usually overlap too, but each start is an exec that a loaded
            // machine can delay past the other's whole job: what must hold is that the
            // summary and the insight say what this trace shows.
            let processA = span(events, lanePrefix: "process-a"), processB = span(events, lanePrefix: "process-b")
            #expect(processA != nil && processB != nil)
            if let processA, let processB {
                let overlapMs = Double(min(processA.upperBound, processB.upperBound) - max(processA.lowerBound, processB.lowerBound)) / 1000
                #expect(abs(outcome.summary["processesOverlapMs"]!.doubleValue! - max(overlapMs, 0)) < 0.11)
                let insight = events.first { $0.type == "insight" && ($0.fields["text"]?.stringValue ?? "").hasPrefix("The same two jobs") }
                let text = insight?.fields["text"]?.stringValue ?? ""
                #expect(text.contains(overlapMs > 0 ? "as processes they overlapped for" : "as processes they did not overlap"), "\(text)")
            }
            // The process jobs run in their own pids, the threads in the server's.
            let jobPids = Set(events.filter { $0.type == "log" && $0.lane.hasPrefix("process-") }.map(\.pid))
            #expect(jobPids.count == 2 && !jobPids.contains(getpid()))
            #expect(events.filter { $0.lane.hasPrefix("thread-") }.allSatisfy { $0.pid == getpid() })
        }
    }
}
