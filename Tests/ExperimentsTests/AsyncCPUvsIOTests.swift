import Experiments
import Foundation
import JSON
import Testing
import Tracing

/// cpu-vs-io: the emulated GIL. Speed is never asserted (the machine is shared);
/// what is asserted are facts the GIL makes true by construction — under one GIL no
/// two threads compute at once, so threads cannot beat sequential CPU work — and
/// what separate processes make possible: each its own GIL, computing side by side.
extension ProcessExperimentTests {
    @Suite struct AsyncCPUvsIOTests {
        /// The GIL's holders in seq order: acquire and release strictly alternate
        /// (never two holders), and each release is by the lane that acquired.
        func holdsAlternate(_ events: [TraceEvent], pid: Int32) -> Bool {
            var holder: String?
            for event in events where event.pid == pid {
                switch event.type {
                case "gil.acquire":
                    if holder != nil { return false }
                    holder = event.lane
                case "gil.release":
                    if holder != event.lane { return false }
                    holder = nil
                default: break
                }
            }
            return holder == nil
        }

        @Test func underTheGILNoTwoThreadsEverComputeAtOnce() throws {
            let (outcome, events) = try ProcessRuns.run("cpu-vs-io", ["tasks": 4, "taskMs": 20, "workers": 2])
            #expect(outcome.status == .completed)
            #expect(holdsAlternate(events, pid: getpid()))
            let threadHolds = events.filter { $0.type == "gil.acquire" && $0.lane.hasPrefix("thread-") }
            #expect(Set(threadHolds.map(\.lane)) == ["thread-1", "thread-2"])
            // Computing needs the GIL, so the compute intervals never overlap: the CPU
            // work of the threads phase is serial, whatever the wall clock says.
            #expect(outcome.summary["peakParallelCompute"] == 1)
            #expect(outcome.summary["parallelComputeMs"]?.doubleValue == 0)
            // Every drop request is answered by the holder's next release (at its next
            // check, or because it finished), which carries the request's flow.
            for request in events.of("gil.drop-request") {
                let answer = events.first { $0.seq > request.seq && $0.type == "gil.release" && $0.pid == request.pid }
                #expect(answer != nil && answer?.flow == request.flow && answer?.lane == request.string("holder"))
            }
            #expect(!events.of("insight").isEmpty && events.everyLaneEnded)
        }

        @Test func processesHaveAGILEachAndComputeSideBySide() throws {
            let (outcome, events) = try ProcessRuns.run("cpu-vs-io", ["backend": "processes", "tasks": 2, "taskMs": 200, "workers": 2])
            #expect(outcome.status == .completed)
            let childPids = Set(events.filter { $0.type == "gil.acquire" && $0.pid != getpid() }.map(\.pid))
            #expect(childPids.count == 2)
            for pid in childPids { #expect(holdsAlternate(events, pid: pid)) }
            // Nobody ever waits for a GIL in a one-thread process.
            #expect(!events.contains { $0.type == "gil.wait" && $0.pid != getpid() })
            // Both children hold their own GIL at the same moment: compute can overlap.
            #expect((outcome.summary["peakParallelCompute"]?.intValue ?? 0) >= 2)
            let pids = ProcessRuns.spawnedPids(events)
            #expect(pids.count == 2 && ProcessRuns.children().allSatisfy { !pids.contains($0.pid) })
        }

        @Test func sleepingThreadsReleaseTheGILAroundTheirSleeps() throws {
            let (outcome, events) = try ProcessRuns.run("cpu-vs-io", ["workload": "io", "tasks": 2, "taskMs": 20, "workers": 2])
            #expect(outcome.status == .completed)
            // Every sleep on a thread is bracketed by a release for blocking IO and a take.
            for begin in events.filter({ $0.type == "io.begin" && $0.lane.hasPrefix("thread-") }) {
                let before = events.last { $0.seq < begin.seq && $0.lane == begin.lane && $0.type.hasPrefix("gil.") }
                #expect(before?.type == "gil.release" && before?.string("reason") == "blocking IO")
            }
            // ...and after it the thread takes the GIL back (waiting if someone else has it)
            // before it does anything else, so no sleeping thread ever holds the GIL.
            for end in events.filter({ $0.type == "io.end" && $0.lane.hasPrefix("thread-") }) {
                let after = events.first { $0.seq > end.seq && $0.lane == end.lane && $0.type != "sched.state" }
                #expect(after?.type == "gil.acquire" || after?.type == "gil.wait")
            }
        }

        @Test func theVerdictIsComputedFromTheMeasuredFigures() throws {
            let (outcome, _) = try ProcessRuns.run("cpu-vs-io", ["backend": "async", "workload": "io", "tasks": 2, "taskMs": 20])
            let summary = outcome.summary
            let speedup = try #require(summary["speedup"]?.doubleValue)
            let sequential = try #require(summary["sequentialMs"]?.doubleValue)
            let backend = try #require(summary["backendMs"]?.doubleValue)
            #expect(abs(speedup - sequential / backend) < 0.01)
            #expect(summary["verdict"]?.stringValue?.contains("\(Int(backend.rounded())) ms") == true)
        }

        @Test func aCancelledRunLeavesNoThreadChildOrZombie() throws {
            // Each is stopped once its concurrent part is under way (for cpu-vs-io, after
            // its short sequential phase: a child's or a thread's task has started).
            let concurrentStarted: @Sendable ([TraceEvent]) -> Bool = { events in
                events.contains { $0.type == "task.start" && ($0.pid != getpid() || $0.lane.hasPrefix("thread-")) }
            }
            let waiting: @Sendable ([TraceEvent]) -> Bool = { events in events.contains { $0.type == "io.begin" && $0.lane != "main" } }
            let runs: [(String, JSONValue, @Sendable ([TraceEvent]) -> Bool)] = [
                ("cpu-vs-io", ["backend": "processes", "tasks": 2, "taskMs": 100], concurrentStarted),
                ("cpu-vs-io", ["backend": "threads", "tasks": 2, "taskMs": 100], concurrentStarted),
                ("async-gather", ["tasks": 8, "steps": 100, "maxStepMs": 5000], waiting),
                ("coroutines", ["tasks": 4, "steps": 100, "stepMs": 2000], waiting),
                ("coroutines", ["tasks": 4, "steps": 100, "stepMs": 2000, "blocking": true], waiting),
                ("coroutines", ["style": "greenlet", "tasks": 4, "steps": 100, "stepMs": 2000], waiting),
                ("coroutines", ["style": "generator", "tasks": 4, "steps": 100, "stepMs": 2000], waiting),
            ]
            for (id, params, ready) in runs {
                let (outcome, events) = try ProcessRuns.stop(id, params, reason: .cancelled, when: ready)
                let context = "\(id) \(params.jsonString)"
                #expect(outcome.status == .cancelled, "\(context)")
                #expect(events.last?.type == "run.end", "\(context)")
                // Every lane of this process ended (a killed child's lane ends with its process.exit).
                let here = events.filter { $0.pid == getpid() }
                #expect(Set(here.of("lane.start").map(\.lane)) == Set(here.of("lane.end").map(\.lane)), "\(context)")
                #expect(events.of("process.exit").count == ProcessRuns.spawnedPids(events).count, "\(context)")
                // No child of ours is left, running or as a zombie (other suites' servers may be).
                let pids = ProcessRuns.spawnedPids(events)
                #expect(ProcessRuns.eventually { ProcessRuns.children().allSatisfy { !pids.contains($0.pid) } }, "\(context)")
                for pid in pids { #expect(!ProcessRuns.isRunning(pid), "\(context)") }
            }
        }

        @Test func aRunPastItsDeadlineUnwindsItsCoroutinesAndChildren() throws {
            for (id, params) in [("coroutines", ["stepMs": 2000] as JSONValue), ("async-gather", ["maxStepMs": 5000]),
                                 ("cpu-vs-io", ["taskMs": 5000])] {
                let (outcome, events) = try ProcessRuns.run(id, params, deadlineMs: 300)
                #expect(outcome.status == .timedOut, "\(id)")
                #expect(Set(events.of("lane.start").map(\.lane)) == Set(events.of("lane.end").map(\.lane)), "\(id)")
                let pids = ProcessRuns.spawnedPids(events)
                #expect(ProcessRuns.eventually { ProcessRuns.children().allSatisfy { !pids.contains($0.pid) } }, "\(id)")
            }
        }
    }
}
